//! The etcd store against the in-memory reference store: any sequence of puts, deletes, appends,
//! batches, epoch changes and reconnects gives the same results and the same final state, up to the
//! numbering of revisions (etcd's are sparse: each real revision is mapped to the model's as the
//! two commit).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use steward_store::{Committed, Expect, MemStore, Op, Retention, Store, StoreError, Versioned};
use steward_store_etcd::{EtcdOptions, EtcdStore};
use steward_testpeers::etcd::EtcdPeer;

#[derive(Clone, Debug)]
enum Step {
    /// (0: put, 1: delete, 2: append to `j/`, 3: append to `e/`), key, value, expectation.
    Txn(Vec<(u8, u8, u8, ExpectGen)>),
    Acquire(u64),
    Epoch(u64),
    Reconnect,
}

#[derive(Clone, Copy, Debug)]
enum ExpectGen {
    Any,
    Absent,
    Rev(u64),
    Current,
}

fn step() -> impl Strategy<Value = Step> {
    let expect = prop_oneof![
        Just(ExpectGen::Any),
        Just(ExpectGen::Absent),
        (0u64..12).prop_map(ExpectGen::Rev),
        Just(ExpectGen::Current),
        Just(ExpectGen::Current),
    ];
    prop_oneof![
        8 => prop::collection::vec((0u8..4, any::<u8>(), any::<u8>(), expect), 0..5)
            .prop_map(Step::Txn),
        1 => (0u64..4).prop_map(Step::Acquire),
        1 => (0u64..4).prop_map(Step::Epoch),
        1 => Just(Step::Reconnect),
    ]
}

/// A revision neither store ever commits at (the same number in both).
const NEVER: u64 = u64::MAX / 2;

/// Real (etcd) revision → model revision, learnt from commits.
#[derive(Default)]
struct Revs(BTreeMap<u64, u64>);

impl Revs {
    fn to_model(&self, real: u64) -> u64 {
        if real == 0 || real == NEVER {
            return real;
        }
        *self.0.get(&real).unwrap_or(&(u64::MAX - real))
    }

    fn to_real(&self, model: u64) -> u64 {
        if model == 0 {
            return 0;
        }
        self.0
            .iter()
            .find(|(_, m)| **m == model)
            .map(|(r, _)| *r)
            // A revision the model never committed at: one no real key carries either.
            .unwrap_or(NEVER)
    }

    /// `r` with real revisions in the model's numbering. A conflict may name the revision the
    /// failed batch was to commit at (a key it wrote earlier): never committed, so unmapped; it is
    /// the model's next revision, `pending`.
    fn result(
        &self,
        r: Result<Committed, StoreError>,
        pending: u64,
    ) -> Result<Committed, StoreError> {
        let newest = self.0.keys().next_back().copied().unwrap_or(0);
        let current_to_model = |r: u64| {
            if r > newest && !self.0.contains_key(&r) {
                pending
            } else {
                self.to_model(r)
            }
        };
        match r {
            Ok(c) => Ok(Committed {
                revision: self.to_model(c.revision),
                seqs: c.seqs,
            }),
            Err(StoreError::Conflict {
                key,
                expected,
                current,
            }) => Err(StoreError::Conflict {
                key,
                expected: match expected {
                    Expect::Revision(r) => Expect::Revision(self.to_model(r)),
                    other => other,
                },
                current: current.map(current_to_model),
            }),
            Err(e) => Err(e),
        }
    }
}

fn state(s: &dyn Store, to_model: impl Fn(u64) -> u64) -> (Vec<(String, Versioned)>, u64, u64) {
    let list = s
        .list("")
        .unwrap()
        .into_iter()
        .map(|(k, v)| {
            (
                k,
                Versioned {
                    revision: to_model(v.revision),
                    value: v.value,
                },
            )
        })
        .collect();
    (list, s.epoch().unwrap(), to_model(s.revision().unwrap()))
}

fn run_case(endpoints: &[String], prefix: &str, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let retention = Retention::uniform(3).with("j/", 2);
    let connect = || {
        EtcdStore::connect(
            endpoints,
            EtcdOptions {
                prefix: prefix.to_owned(),
                retention: retention.clone(),
                ..EtcdOptions::default()
            },
        )
        .unwrap()
    };
    let model = MemStore::new(retention.clone());
    let mut real = connect();
    let mut revs = Revs::default();
    let mut epoch = 0u64;
    for step in steps {
        let (m, r) = match &step {
            Step::Txn(ops) => {
                let model_rev = model.revision().unwrap();
                let (mut model_ops, mut real_ops) = (Vec::new(), Vec::new());
                for (kind, k, v, e) in ops {
                    let key = format!("k/{}", k % 6);
                    let expect = match e {
                        ExpectGen::Any => Expect::Any,
                        ExpectGen::Absent => Expect::Absent,
                        // The batch's own future revision is predicted differently by the two
                        // (documented): keep generated revisions to ones already committed.
                        ExpectGen::Rev(r) if *r > model_rev => Expect::Revision(NEVER),
                        ExpectGen::Rev(r) => Expect::Revision(*r),
                        ExpectGen::Current => match model.get(&key).unwrap() {
                            Some(v) => Expect::Revision(v.revision),
                            None => Expect::Absent,
                        },
                    };
                    let real_expect = match expect {
                        Expect::Revision(r) if r != NEVER => Expect::Revision(revs.to_real(r)),
                        other => other,
                    };
                    let (m_op, r_op) = match kind {
                        0 => (
                            Op::Put {
                                key: key.clone(),
                                value: vec![*v],
                                expect,
                            },
                            Op::Put {
                                key,
                                value: vec![*v],
                                expect: real_expect,
                            },
                        ),
                        1 => (
                            Op::Delete {
                                key: key.clone(),
                                expect,
                            },
                            Op::Delete {
                                key,
                                expect: real_expect,
                            },
                        ),
                        _ => {
                            let prefix = if *kind == 2 { "j/" } else { "e/" };
                            let op = Op::Append {
                                prefix: prefix.into(),
                                value: vec![*v],
                            };
                            (op.clone(), op)
                        }
                    };
                    model_ops.push(m_op);
                    real_ops.push(r_op);
                }
                let m = model.txn(&model_ops, epoch);
                let r = real.txn(&real_ops, epoch);
                if let (Ok(mc), Ok(rc)) = (&m, &r) {
                    if !model_ops.is_empty() {
                        revs.0.insert(rc.revision, mc.revision);
                    }
                }
                (m, revs.result(r, model_rev + 1))
            }
            Step::Acquire(d) => {
                let e = epoch + d;
                let m = model.acquire_epoch(e).map(|_| Committed::default());
                let r = real.acquire_epoch(e).map(|_| Committed::default());
                if m.is_ok() {
                    epoch = e;
                }
                (m, r)
            }
            Step::Epoch(e) => {
                epoch = *e;
                continue;
            }
            Step::Reconnect => {
                drop(real);
                real = connect();
                continue;
            }
        };
        prop_assert_eq!(m, r, "step {:?}", step);
        prop_assert_eq!(
            state(&model, |r| r),
            state(&real, |r| revs.to_model(r)),
            "after {:?}",
            step
        );
    }
    Ok(())
}

#[test]
fn etcd_store_matches_the_model() {
    let peer = EtcdPeer::start();
    let endpoints = peer.endpoints();
    let mut runner = TestRunner::new(Config {
        cases: 64,
        ..Config::default()
    });
    let case = AtomicU32::new(0);
    runner
        .run(&prop::collection::vec(step(), 1..30), |steps| {
            let n = case.fetch_add(1, Ordering::Relaxed);
            run_case(&endpoints, &format!("/model-{n}/"), steps)
        })
        .unwrap();
}
