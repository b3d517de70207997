//! Semantics tests, run against both implementations: the shared behaviour lives in
//! [`crate::conformance`] (which other backends run too), the rest is specific to the embedded store.

use super::*;

/// Run `check` on a fresh MemStore and a fresh RedbStore.
fn both(retention: Retention, check: impl Fn(&dyn Store)) {
    check(&MemStore::new(retention.clone()));
    let dir = tempfile::tempdir().unwrap();
    check(&RedbStore::open(dir.path(), retention).unwrap());
}

#[test]
fn cas_absent_and_revision() {
    both(Retention::default(), |s| {
        conformance::cas_absent_and_revision(s, conformance::Revisions::Dense)
    });
}

#[test]
fn list_is_ordered_and_prefix_bounded() {
    both(
        Retention::default(),
        conformance::list_is_ordered_and_prefix_bounded,
    );
}

#[test]
fn fencing() {
    both(Retention::default(), conformance::fencing);
}

#[test]
fn txn_is_all_or_nothing() {
    both(Retention::default(), conformance::txn_is_all_or_nothing);
}

#[test]
fn append_sequences_and_retention() {
    both(
        conformance::append_retention(),
        conformance::append_sequences_and_retention,
    );
}

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention::uniform(2);
    {
        let s = RedbStore::open(dir.path(), retention.clone()).unwrap();
        s.acquire_epoch(5).unwrap();
        s.put("hosts/a", b"a", Expect::Absent, 5).unwrap();
        for i in 0..3 {
            s.append("journal/", &[i], 5).unwrap();
        }
        s.delete("hosts/gone", Expect::Any, 5).unwrap();
    }
    let s = RedbStore::open(dir.path(), retention).unwrap();
    assert_eq!(s.epoch().unwrap(), 5);
    assert_eq!(s.revision().unwrap(), 5);
    assert_eq!(s.get("hosts/a").unwrap().unwrap().revision, 1);
    assert_eq!(s.list("journal/").unwrap().len(), 2);
    assert_eq!(s.append("journal/", b"x", 5).unwrap(), 4);
    assert!(matches!(
        s.put("hosts/a", b"b", Expect::Any, 4),
        Err(StoreError::Fenced { .. })
    ));
}

#[test]
fn second_open_of_a_data_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = RedbStore::open(dir.path(), Retention::default()).unwrap();
    let e = RedbStore::open(dir.path(), Retention::default()).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("another steward controller is using this data dir"),
        "{msg}"
    );
    assert!(msg.contains(DB_FILE), "{msg}");
}

#[test]
fn open_error_names_the_file_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    // A data dir that is a file: creation fails with the path in the message.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let e = RedbStore::open(&file, Retention::default()).unwrap_err();
    assert!(e.to_string().contains("not-a-dir"), "{e}");
    assert!(e.to_string().contains("--data-dir"), "{e}");
    // A store file that is not a redb file.
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::write(bad.join(DB_FILE), vec![0x55u8; 8192]).unwrap();
    let e = RedbStore::open(&bad, Retention::default()).unwrap_err();
    assert!(e.to_string().contains(DB_FILE), "{e}");
}

mod model {
    //! The embedded store against the in-memory model: any sequence of ops gives the same results and
    //! the same final state, across reopens.
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Put(u8, u8, ExpectGen),
        Delete(u8, ExpectGen),
        Append(bool, u8),
        /// (0: put, 1: delete, 2: append to `j/`), key, value, expectation.
        Txn(Vec<(u8, u8, u8, ExpectGen)>),
        Acquire(u64),
        Epoch(u64),
        Reopen,
    }

    #[derive(Clone, Copy, Debug)]
    enum ExpectGen {
        Any,
        Absent,
        Rev(u64),
        /// The key's current revision, as a well-behaved caller would pass.
        Current,
    }

    fn key(k: u8) -> String {
        format!("k/{}", k % 6)
    }

    fn expect(s: &dyn Store, k: &str, e: ExpectGen) -> Expect {
        match e {
            ExpectGen::Any => Expect::Any,
            ExpectGen::Absent => Expect::Absent,
            ExpectGen::Rev(r) => Expect::Revision(r),
            ExpectGen::Current => match s.get(k).unwrap() {
                Some(v) => Expect::Revision(v.revision),
                None => Expect::Absent,
            },
        }
    }

    fn expect_gen() -> impl Strategy<Value = ExpectGen> {
        prop_oneof![
            Just(ExpectGen::Any),
            Just(ExpectGen::Absent),
            (0u64..12).prop_map(ExpectGen::Rev),
            Just(ExpectGen::Current),
            Just(ExpectGen::Current),
        ]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (any::<u8>(), any::<u8>(), expect_gen()).prop_map(|(k, v, e)| Step::Put(k, v, e)),
            2 => (any::<u8>(), expect_gen()).prop_map(|(k, e)| Step::Delete(k, e)),
            2 => (any::<bool>(), any::<u8>()).prop_map(|(j, v)| Step::Append(j, v)),
            2 => prop::collection::vec((0u8..3, any::<u8>(), any::<u8>(), expect_gen()), 0..5)
                .prop_map(Step::Txn),
            1 => (0u64..4).prop_map(Step::Acquire),
            1 => (0u64..4).prop_map(Step::Epoch),
            1 => Just(Step::Reopen),
        ]
    }

    fn state(s: &dyn Store) -> (Vec<(String, Versioned)>, u64, u64) {
        (
            s.list("").unwrap(),
            s.epoch().unwrap(),
            s.revision().unwrap(),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        #[test]
        fn redb_matches_the_model(steps in prop::collection::vec(step(), 1..40)) {
            let retention = Retention::uniform(3).with("j/", 2);
            let model = MemStore::new(retention.clone());
            let dir = tempfile::tempdir().unwrap();
            let mut real = RedbStore::open(dir.path(), retention.clone()).unwrap();
            let mut epoch = 0u64;
            for step in steps {
                let (m, r): (Result<Committed, StoreError>, Result<Committed, StoreError>) = match &step {
                    Step::Put(k, v, e) => {
                        let k = key(*k);
                        let x = expect(&model, &k, *e);
                        let f = |s: &dyn Store| s.put(&k, &[*v], x, epoch).map(|revision| Committed { revision, seqs: vec![] });
                        (f(&model), f(&real))
                    }
                    Step::Delete(k, e) => {
                        let k = key(*k);
                        let x = expect(&model, &k, *e);
                        let f = |s: &dyn Store| s.delete(&k, x, epoch).map(|revision| Committed { revision, seqs: vec![] });
                        (f(&model), f(&real))
                    }
                    Step::Append(j, v) => {
                        let p = if *j { "j/" } else { "e/" };
                        let f = |s: &dyn Store| s.append(p, &[*v], epoch).map(|seq| Committed { revision: 0, seqs: vec![seq] });
                        (f(&model), f(&real))
                    }
                    Step::Txn(ops) => {
                        let ops: Vec<Op> = ops.iter().map(|(kind, k, v, e)| {
                            let key = key(*k);
                            let expect = expect(&model, &key, *e);
                            match kind {
                                0 => Op::Put { key, value: vec![*v], expect },
                                1 => Op::Delete { key, expect },
                                _ => Op::Append { prefix: "j/".into(), value: vec![*v] },
                            }
                        }).collect();
                        (model.txn(&ops, epoch), real.txn(&ops, epoch))
                    }
                    Step::Acquire(d) => {
                        let e = epoch + d;
                        let f = |s: &dyn Store| s.acquire_epoch(e).map(|_| Committed::default());
                        let (m, r) = (f(&model), f(&real));
                        if m.is_ok() { epoch = e; }
                        (m, r)
                    }
                    Step::Epoch(e) => {
                        // Write as a stale or future writer from now on.
                        epoch = *e;
                        continue;
                    }
                    Step::Reopen => {
                        drop(real);
                        real = RedbStore::open(dir.path(), retention.clone()).unwrap();
                        (Ok(Committed::default()), Ok(Committed::default()))
                    }
                };
                prop_assert_eq!(m, r, "step {:?}", step);
                prop_assert_eq!(state(&model), state(&real), "after {:?}", step);
            }
        }
    }
}

#[cfg(unix)]
#[test]
fn store_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStore::open(dir.path(), Retention::default()).unwrap();
    let mode = std::fs::metadata(s.path()).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
