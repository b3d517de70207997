//! The simulated controller's store: an in-memory [`Store`] with a switch that makes the next
//! write fail, so the world can inject storage faults into the write-ahead step.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use steward_store::{log_key, Committed, Op, Store, StoreError, Versioned};

/// A storage fault, armed by [`crate::Fault::Storage`] and struck at the next core step that has
/// something to make durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageFault {
    /// The controller dies before the step's transaction: nothing of the step is durable or done.
    CrashBeforeCommit,
    /// The controller dies right after the commit, before carrying out any of the step's effects.
    CrashAfterCommit,
    /// The transaction fails; the controller stops (fail-stop) and is restarted.
    FailedWrite,
}

/// An in-memory store with the semantics of [`steward_store::MemStore`] (revisions, compare-and-swap, fencing,
/// atomic batches, logs) and write-failure injection. Where `MemStore` copies its whole state for
/// every transaction (the reference model, written for obviousness), this one applies the ops in
/// place and undoes them on a failed expectation, so a simulated controller that journals for
/// simulated hours does not slow down quadratically.
#[derive(Debug, Default)]
pub struct FaultyStore {
    state: Mutex<State>,
    fail_next_write: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    records: BTreeMap<String, Versioned>,
    epoch: u64,
    revision: u64,
    /// Per log prefix: the next sequence number to hand out (the simulator keeps every entry).
    logs: BTreeMap<String, u64>,
}

/// How to take back one applied op.
enum Undo {
    Record(String, Option<Versioned>),
    Log(String, Option<u64>),
}

impl FaultyStore {
    /// The next transaction fails with a backend error and writes nothing.
    pub fn fail_next_write(&self) {
        self.fail_next_write.store(true, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.contains('\0') {
        return Err(StoreError::InvalidKey(key.to_owned()));
    }
    Ok(())
}

fn apply(
    st: &mut State,
    op: &Op,
    revision: u64,
    undo: &mut Vec<Undo>,
    seqs: &mut Vec<u64>,
) -> Result<(), StoreError> {
    match op {
        Op::Put { key, value, expect } => {
            check_key(key)?;
            let current = st.records.get(key).map(|v| v.revision);
            if !expect.holds(current) {
                return Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expect,
                    current,
                });
            }
            let old = st.records.insert(
                key.clone(),
                Versioned {
                    revision,
                    value: value.clone(),
                },
            );
            undo.push(Undo::Record(key.clone(), old));
        }
        Op::Delete { key, expect } => {
            check_key(key)?;
            let current = st.records.get(key).map(|v| v.revision);
            if !expect.holds(current) {
                return Err(StoreError::Conflict {
                    key: key.clone(),
                    expected: *expect,
                    current,
                });
            }
            let old = st.records.remove(key);
            undo.push(Undo::Record(key.clone(), old));
        }
        Op::Append { prefix, value } => {
            if prefix.contains('\0') {
                return Err(StoreError::InvalidKey(prefix.clone()));
            }
            let old_next = st.logs.get(prefix).copied();
            let seq = old_next.unwrap_or(1);
            let key = log_key(prefix, seq);
            let old = st.records.insert(
                key.clone(),
                Versioned {
                    revision,
                    value: value.clone(),
                },
            );
            undo.push(Undo::Record(key, old));
            st.logs.insert(prefix.clone(), seq + 1);
            undo.push(Undo::Log(prefix.clone(), old_next));
            seqs.push(seq);
        }
    }
    Ok(())
}

impl Store for FaultyStore {
    fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        Ok(self.lock().records.get(key).cloned())
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        Ok(self
            .lock()
            .records
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn txn(&self, ops: &[Op], epoch: u64) -> Result<Committed, StoreError> {
        if self.fail_next_write.swap(false, Ordering::Relaxed) {
            return Err(StoreError::Backend("simulated write failure".into()));
        }
        let mut st = self.lock();
        if epoch < st.epoch {
            return Err(StoreError::Fenced {
                epoch,
                current_epoch: st.epoch,
            });
        }
        if epoch > st.epoch {
            return Err(StoreError::EpochAhead {
                epoch,
                current_epoch: st.epoch,
            });
        }
        if ops.is_empty() {
            return Ok(Committed {
                revision: st.revision,
                seqs: vec![],
            });
        }
        let revision = st.revision + 1;
        let mut undo = Vec::new();
        let mut seqs = Vec::new();
        for op in ops {
            if let Err(e) = apply(&mut st, op, revision, &mut undo, &mut seqs) {
                for u in undo.into_iter().rev() {
                    match u {
                        Undo::Record(k, Some(v)) => {
                            st.records.insert(k, v);
                        }
                        Undo::Record(k, None) => {
                            st.records.remove(&k);
                        }
                        Undo::Log(p, Some(n)) => {
                            st.logs.insert(p, n);
                        }
                        Undo::Log(p, None) => {
                            st.logs.remove(&p);
                        }
                    }
                }
                return Err(e);
            }
        }
        st.revision = revision;
        Ok(Committed { revision, seqs })
    }

    fn acquire_epoch(&self, epoch: u64) -> Result<(), StoreError> {
        let mut st = self.lock();
        if epoch <= st.epoch {
            return Err(StoreError::Fenced {
                epoch,
                current_epoch: st.epoch,
            });
        }
        st.epoch = epoch;
        Ok(())
    }

    fn epoch(&self) -> Result<u64, StoreError> {
        Ok(self.lock().epoch)
    }

    fn revision(&self) -> Result<u64, StoreError> {
        Ok(self.lock().revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_store::{Expect, MemStore, Retention};

    /// The same ops, the same answers and the same state as the reference model.
    #[test]
    fn agrees_with_the_reference_store() {
        let model = MemStore::new(Retention::uniform(u64::MAX));
        let fast = FaultyStore::default();
        for s in [&model as &dyn Store, &fast] {
            s.acquire_epoch(1).unwrap();
        }
        let put = |k: &str, e| Op::Put {
            key: k.into(),
            value: k.as_bytes().to_vec(),
            expect: e,
        };
        let app = |p: &str| Op::Append {
            prefix: p.into(),
            value: b"x".to_vec(),
        };
        let batches: Vec<Vec<Op>> = vec![
            vec![put("a", Expect::Absent), app("log/"), app("log/")],
            vec![put("b", Expect::Any), app("log/"), put("a", Expect::Absent)],
            vec![
                Op::Delete {
                    key: "a".into(),
                    expect: Expect::Revision(1),
                },
                app("j/"),
            ],
            vec![put("", Expect::Any)],
            vec![],
        ];
        for ops in &batches {
            assert_eq!(model.txn(ops, 1), fast.txn(ops, 1), "{ops:?}");
            assert_eq!(model.list(""), fast.list(""));
            assert_eq!(model.revision(), fast.revision());
        }
        assert_eq!(model.txn(&[app("j/")], 2), fast.txn(&[app("j/")], 2));
        fast.fail_next_write();
        assert!(matches!(
            fast.txn(&[app("j/")], 1),
            Err(StoreError::Backend(_))
        ));
        assert_eq!(model.list(""), fast.list(""));
    }
}
