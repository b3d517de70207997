//! Semantics tests, run against both implementations.

use super::*;

/// Run `check` on a fresh MemStore and a fresh RedbStore.
fn both(retention: Retention, check: impl Fn(&dyn Store)) {
    check(&MemStore::new(retention.clone()));
    let dir = tempfile::tempdir().unwrap();
    check(&RedbStore::open(dir.path(), retention).unwrap());
}

fn put(k: &str, v: &str, expect: Expect) -> Op {
    Op::Put {
        key: k.into(),
        value: v.as_bytes().to_vec(),
        expect,
    }
}

#[test]
fn cas_absent_and_revision() {
    both(Retention::default(), |s| {
        assert_eq!(s.revision().unwrap(), 0);
        let r1 = s.put("hosts/a", b"1", Expect::Absent, 0).unwrap();
        assert_eq!(r1, 1);
        assert_eq!(
            s.put("hosts/a", b"2", Expect::Absent, 0),
            Err(StoreError::Conflict {
                key: "hosts/a".into(),
                expected: Expect::Absent,
                current: Some(1)
            })
        );
        assert!(matches!(
            s.put("hosts/a", b"2", Expect::Revision(7), 0),
            Err(StoreError::Conflict {
                current: Some(1),
                ..
            })
        ));
        assert!(matches!(
            s.put("hosts/b", b"2", Expect::Revision(1), 0),
            Err(StoreError::Conflict { current: None, .. })
        ));
        let r2 = s.put("hosts/a", b"2", Expect::Revision(r1), 0).unwrap();
        assert_eq!(r2, 2);
        assert_eq!(
            s.get("hosts/a").unwrap(),
            Some(Versioned {
                revision: 2,
                value: b"2".to_vec()
            })
        );
        // Failed writes did not move the revision.
        assert_eq!(s.revision().unwrap(), 2);
        assert!(matches!(
            s.delete("hosts/a", Expect::Revision(1), 0),
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(s.delete("hosts/a", Expect::Revision(2), 0).unwrap(), 3);
        assert_eq!(s.get("hosts/a").unwrap(), None);
        // Deleting an absent key with Any commits; with Revision it conflicts.
        assert_eq!(s.delete("hosts/a", Expect::Any, 0).unwrap(), 4);
        assert!(s.delete("hosts/a", Expect::Revision(2), 0).is_err());
        // Re-created keys get a fresh revision, never an old one.
        assert_eq!(s.put("hosts/a", b"3", Expect::Absent, 0).unwrap(), 5);
        assert!(matches!(
            s.put("", b"x", Expect::Any, 0),
            Err(StoreError::InvalidKey(_))
        ));
    });
}

#[test]
fn list_is_ordered_and_prefix_bounded() {
    both(Retention::default(), |s| {
        for k in ["hosts/c", "hosts/a", "hostsx", "bmc/a", "hosts/b", "i"] {
            s.put(k, k.as_bytes(), Expect::Any, 0).unwrap();
        }
        let keys: Vec<_> = s
            .list("hosts/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["hosts/a", "hosts/b", "hosts/c"]);
        assert_eq!(s.list("").unwrap().len(), 6);
        assert!(s.list("zz").unwrap().is_empty());
    });
}

#[test]
fn fencing() {
    both(Retention::default(), |s| {
        assert_eq!(s.epoch().unwrap(), 0);
        s.put("k", b"0", Expect::Any, 0).unwrap();
        s.acquire_epoch(3).unwrap();
        assert_eq!(s.epoch().unwrap(), 3);
        // Acquire must increase.
        assert_eq!(
            s.acquire_epoch(3),
            Err(StoreError::Fenced {
                epoch: 3,
                current_epoch: 3
            })
        );
        assert!(matches!(s.acquire_epoch(2), Err(StoreError::Fenced { .. })));
        // Lower refused, equal allowed, higher (not acquired) refused.
        assert_eq!(
            s.put("k", b"old", Expect::Any, 0),
            Err(StoreError::Fenced {
                epoch: 0,
                current_epoch: 3
            })
        );
        assert!(matches!(
            s.append("events/", b"old", 2),
            Err(StoreError::Fenced { .. })
        ));
        assert!(matches!(s.txn(&[], 1), Err(StoreError::Fenced { .. })));
        assert_eq!(
            s.put("k", b"x", Expect::Any, 4),
            Err(StoreError::EpochAhead {
                epoch: 4,
                current_epoch: 3
            })
        );
        assert_eq!(s.get("k").unwrap().unwrap().value, b"0");
        s.put("k", b"new", Expect::Any, 3).unwrap();
        assert_eq!(s.get("k").unwrap().unwrap().value, b"new");
    });
}

#[test]
fn txn_is_all_or_nothing() {
    both(Retention::default(), |s| {
        let r = s.put("hosts/a", b"a0", Expect::Any, 0).unwrap();
        let ops = vec![
            put("hosts/a", "a1", Expect::Revision(r)),
            put("alarms/200.004/a", "alarm", Expect::Any),
            Op::Append {
                prefix: "journal/".into(),
                value: b"j".to_vec(),
            },
            put("hosts/b", "b1", Expect::Revision(99)),
        ];
        assert!(matches!(
            s.txn(&ops, 0),
            Err(StoreError::Conflict { ref key, .. }) if key == "hosts/b"
        ));
        assert_eq!(s.get("hosts/a").unwrap().unwrap().value, b"a0");
        assert_eq!(s.get("alarms/200.004/a").unwrap(), None);
        assert!(s.list("journal/").unwrap().is_empty());
        assert_eq!(s.revision().unwrap(), r);

        // Without the bad op it commits, all at one revision, and the log's sequence was not consumed
        // by the aborted attempt.
        let done = s.txn(&ops[..3], 0).unwrap();
        assert_eq!(done.revision, r + 1);
        assert_eq!(done.seqs, vec![1]);
        for (_, v) in s.list("").unwrap() {
            assert!(v.revision <= r + 1);
        }
        assert_eq!(s.get("alarms/200.004/a").unwrap().unwrap().revision, r + 1);

        // Ops see the ones before them in the same batch.
        let seq = vec![
            put("x", "1", Expect::Absent),
            put("x", "2", Expect::Revision(r + 2)),
            Op::Delete {
                key: "x".into(),
                expect: Expect::Revision(r + 2),
            },
            put("x", "3", Expect::Absent),
        ];
        let done = s.txn(&seq, 0).unwrap();
        assert_eq!(done.revision, r + 2);
        assert_eq!(s.get("x").unwrap().unwrap().value, b"3");

        // An empty batch commits nothing.
        assert_eq!(s.txn(&[], 0).unwrap().revision, r + 2);
        assert_eq!(s.revision().unwrap(), r + 2);
    });
}

#[test]
fn append_sequences_and_retention() {
    let retention = Retention::uniform(100).with("events/", 3);
    both(retention, |s| {
        for i in 1..=5u64 {
            assert_eq!(
                s.append("events/", format!("e{i}").as_bytes(), 0).unwrap(),
                i
            );
        }
        assert_eq!(s.append("journal/", b"j1", 0).unwrap(), 1);
        let events = s.list("events/").unwrap();
        let seqs: Vec<_> = events
            .iter()
            .map(|(k, _)| log_seq("events/", k).unwrap())
            .collect();
        assert_eq!(seqs, [3, 4, 5]);
        assert_eq!(events[0].0, "events/00000000000000000003");
        assert_eq!(events[2].1.value, b"e5");
        // Two appends in one txn trim within the same commit.
        let ops = vec![
            Op::Append {
                prefix: "events/".into(),
                value: b"e6".to_vec(),
            },
            Op::Append {
                prefix: "events/".into(),
                value: b"e7".to_vec(),
            },
        ];
        assert_eq!(s.txn(&ops, 0).unwrap().seqs, vec![6, 7]);
        let seqs: Vec<_> = s
            .list("events/")
            .unwrap()
            .iter()
            .map(|(k, _)| log_seq("events/", k).unwrap())
            .collect();
        assert_eq!(seqs, [5, 6, 7]);
        // Sequence numbers are not reused after entries are deleted by hand.
        for (k, _) in s.list("events/").unwrap() {
            s.delete(&k, Expect::Any, 0).unwrap();
        }
        assert_eq!(s.append("events/", b"e8", 0).unwrap(), 8);
    });
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
