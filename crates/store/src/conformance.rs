//! The behaviour every [`Store`] implementation must show, as functions a backend's test suite calls
//! on a fresh, empty store (feature `conformance`; this crate runs them on [`crate::MemStore`] and
//! [`crate::RedbStore`], `steward-store-etcd` on its etcd store).
//!
//! What a backend may differ in is stated by [`Revisions`]: the embedded stores count revisions
//! densely from 0 (+1 per write), etcd's revision is cluster-wide, so a store's revisions there only
//! promise what the trait promises: every write raises the revision, a revision is never reused.
//! Each check takes `&dyn Store` so that the caller keeps whatever the store needs alive (a
//! temp dir, an etcd process).

use crate::typed::TypedStore;
use crate::{log_seq, Committed, Expect, Op, Retention, Store, StoreError, Versioned};
use steward_maintenance::alarm::{Alarm, AlarmId, CustomerLog, LogId, Severity};
use steward_maintenance::host::HostRecord;
use steward_maintenance::{Action, ActionId, JournalEntry};

/// How a backend's revisions advance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revisions {
    /// A new store is at revision 0 and every committed write raises it by exactly one.
    Dense,
    /// Every committed write raises the revision and nothing else promised: another writer to the
    /// same backend (another prefix, a lease key) may raise it in between.
    Increasing,
}

impl Revisions {
    /// Assert that a write committed after one at `prev` got the revision `next`.
    pub fn after(self, prev: u64, next: u64) {
        assert!(next > prev, "revision {next} does not follow {prev}");
        if self == Revisions::Dense {
            assert_eq!(next, prev + 1, "a dense store raises the revision by one");
        }
    }
}

/// The [`Retention`] [`append_sequences_and_retention`] needs its store opened with.
pub fn append_retention() -> Retention {
    Retention::uniform(100).with("events/", 3)
}

fn put(k: &str, v: &str, expect: Expect) -> Op {
    Op::Put {
        key: k.into(),
        value: v.as_bytes().to_vec(),
        expect,
    }
}

/// Compare-and-swap on `Absent` and `Revision`, failed writes leave no trace, revisions of deleted
/// and re-created keys are fresh.
pub fn cas_absent_and_revision(s: &dyn Store, revs: Revisions) {
    let r0 = s.revision().unwrap();
    if revs == Revisions::Dense {
        assert_eq!(r0, 0);
    }
    let r1 = s.put("hosts/a", b"1", Expect::Absent, 0).unwrap();
    revs.after(r0, r1);
    assert_eq!(
        s.put("hosts/a", b"2", Expect::Absent, 0),
        Err(StoreError::Conflict {
            key: "hosts/a".into(),
            expected: Expect::Absent,
            current: Some(r1)
        })
    );
    assert_eq!(
        s.put("hosts/a", b"2", Expect::Revision(r1 + 1000), 0),
        Err(StoreError::Conflict {
            key: "hosts/a".into(),
            expected: Expect::Revision(r1 + 1000),
            current: Some(r1)
        })
    );
    assert!(matches!(
        s.put("hosts/b", b"2", Expect::Revision(r1), 0),
        Err(StoreError::Conflict { current: None, .. })
    ));
    let r2 = s.put("hosts/a", b"2", Expect::Revision(r1), 0).unwrap();
    revs.after(r1, r2);
    assert_eq!(
        s.get("hosts/a").unwrap(),
        Some(Versioned {
            revision: r2,
            value: b"2".to_vec()
        })
    );
    // Failed writes did not move the revision.
    assert_eq!(s.revision().unwrap(), r2);
    assert!(matches!(
        s.delete("hosts/a", Expect::Revision(r1), 0),
        Err(StoreError::Conflict { .. })
    ));
    let r3 = s.delete("hosts/a", Expect::Revision(r2), 0).unwrap();
    revs.after(r2, r3);
    assert_eq!(s.get("hosts/a").unwrap(), None);
    // Deleting an absent key with Any commits; with Revision it conflicts.
    let r4 = s.delete("hosts/a", Expect::Any, 0).unwrap();
    revs.after(r3, r4);
    assert_eq!(s.revision().unwrap(), r4);
    assert!(s.delete("hosts/a", Expect::Revision(r2), 0).is_err());
    // Re-created keys get a fresh revision, never an old one.
    let r5 = s.put("hosts/a", b"3", Expect::Absent, 0).unwrap();
    revs.after(r4, r5);
    assert!(matches!(
        s.put("", b"x", Expect::Any, 0),
        Err(StoreError::InvalidKey(_))
    ));
    assert!(matches!(
        s.put("a\0b", b"x", Expect::Any, 0),
        Err(StoreError::InvalidKey(_))
    ));
    assert_eq!(s.revision().unwrap(), r5);
}

/// `list` returns exactly the keys under the prefix, in byte order.
pub fn list_is_ordered_and_prefix_bounded(s: &dyn Store) {
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
    let all = s.list("").unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].0, "bmc/a");
    assert_eq!(all[0].1.value, b"bmc/a");
    assert!(s.list("zz").unwrap().is_empty());
}

/// The epoch only rises; older writers are `Fenced`, writers ahead of it `EpochAhead`, and a
/// refused write changes nothing.
pub fn fencing(s: &dyn Store) {
    assert_eq!(s.epoch().unwrap(), 0);
    s.put("k", b"0", Expect::Any, 0).unwrap();
    let before = s.revision().unwrap();
    s.acquire_epoch(3).unwrap();
    assert_eq!(s.epoch().unwrap(), 3);
    // Acquiring is bookkeeping, not a write of the key space.
    assert_eq!(s.revision().unwrap(), before);
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
    assert!(s.list("events/").unwrap().is_empty());
    assert_eq!(s.revision().unwrap(), before);
    s.put("k", b"new", Expect::Any, 3).unwrap();
    assert_eq!(s.get("k").unwrap().unwrap().value, b"new");
}

/// A batch commits all its ops at one revision or none of them; ops see the ones before them.
pub fn txn_is_all_or_nothing(s: &dyn Store) {
    let r = s.put("hosts/a", b"a0", Expect::Any, 0).unwrap();
    let ops = vec![
        put("hosts/a", "a1", Expect::Revision(r)),
        put("alarms/200.004/a", "alarm", Expect::Any),
        Op::Append {
            prefix: "journal/".into(),
            value: b"j".to_vec(),
        },
        put("hosts/b", "b1", Expect::Revision(r + 1000)),
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
    assert!(done.revision > r);
    assert_eq!(done.seqs, vec![1]);
    for (_, v) in s.list("").unwrap() {
        assert!(v.revision <= done.revision);
    }
    assert_eq!(
        s.get("alarms/200.004/a").unwrap().unwrap().revision,
        done.revision
    );
    assert_eq!(s.get("hosts/a").unwrap().unwrap().revision, done.revision);
    assert_eq!(s.revision().unwrap(), done.revision);

    // Ops see the ones before them in the same batch. `x` written earlier in the batch carries the
    // revision the batch commits at: the next one, as nothing else writes to the backend here.
    let next = done.revision + 1;
    let seq = vec![
        put("x", "1", Expect::Absent),
        put("x", "2", Expect::Revision(next)),
        Op::Delete {
            key: "x".into(),
            expect: Expect::Revision(next),
        },
        put("x", "3", Expect::Absent),
    ];
    let committed = s.txn(&seq, 0).unwrap();
    assert_eq!(committed.revision, next);
    assert_eq!(s.get("x").unwrap().unwrap().value, b"3");
    // An expectation on a key the batch deleted sees it absent.
    let gone = vec![
        Op::Delete {
            key: "x".into(),
            expect: Expect::Any,
        },
        put("x", "4", Expect::Revision(next)),
    ];
    assert!(matches!(
        s.txn(&gone, 0),
        Err(StoreError::Conflict { current: None, .. })
    ));
    assert_eq!(s.get("x").unwrap().unwrap().value, b"3");

    // An empty batch commits nothing.
    assert_eq!(s.txn(&[], 0).unwrap().revision, next);
    assert_eq!(s.revision().unwrap(), next);
}

/// Logs: sequence numbers from 1 per prefix, never reused; retention trims the oldest in the same
/// commit. The store must be opened with [`append_retention`].
pub fn append_sequences_and_retention(s: &dyn Store) {
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
    let done = s.txn(&ops, 0).unwrap();
    assert_eq!(done.seqs, vec![6, 7]);
    let events = s.list("events/").unwrap();
    let seqs: Vec<_> = events
        .iter()
        .map(|(k, _)| log_seq("events/", k).unwrap())
        .collect();
    assert_eq!(seqs, [5, 6, 7]);
    assert_eq!(events[2].1.revision, done.revision);
    // Sequence numbers are not reused after entries are deleted by hand.
    for (k, _) in s.list("events/").unwrap() {
        s.delete(&k, Expect::Any, 0).unwrap();
    }
    assert_eq!(s.append("events/", b"e8", 0).unwrap(), 8);
    // Many appends in one batch (more than the bound) keep only the newest.
    let many: Vec<Op> = (0..10u8)
        .map(|i| Op::Append {
            prefix: "events/".into(),
            value: vec![i],
        })
        .collect();
    assert_eq!(s.txn(&many, 0).unwrap().seqs, (9..=18).collect::<Vec<_>>());
    let seqs: Vec<_> = s
        .list("events/")
        .unwrap()
        .iter()
        .map(|(k, _)| log_seq("events/", k).unwrap())
        .collect();
    assert_eq!(seqs, [16, 17, 18]);
    assert_eq!(s.list("journal/").unwrap().len(), 1);
}

/// Every check above, each on a fresh store from `fresh` (opened with the retention it is given).
pub fn all(fresh: &dyn Fn(Retention) -> Box<dyn Store>, revs: Revisions) {
    cas_absent_and_revision(&*fresh(Retention::default()), revs);
    list_is_ordered_and_prefix_bounded(&*fresh(Retention::default()));
    fencing(&*fresh(Retention::default()));
    txn_is_all_or_nothing(&*fresh(Retention::default()));
    append_sequences_and_retention(&*fresh(append_retention()));
}

/// One core step through the typed layer, as the controller commits it for an accepted lock: claim
/// an action id, write `host` expecting `expect`, raise its locked alarm ([`locked_alarm`]), log
/// the command and journal its acceptance — one batch.
pub fn typed_lock_step(
    t: &TypedStore,
    host: &HostRecord,
    expect: Expect,
) -> (ActionId, Result<Committed, StoreError>) {
    let name = host.spec.name.clone();
    let mut b = t.batch();
    let id = b.claim_action_id().unwrap();
    b.put_host(host, expect).unwrap();
    b.raise_alarm(&locked_alarm(&name)).unwrap();
    b.event(
        1_000,
        &CustomerLog {
            id: LogId::Command,
            host: name.clone(),
            text: "lock".into(),
            critical: false,
        },
    )
    .unwrap();
    b.journal(
        1_000,
        &JournalEntry::Accepted {
            id,
            host: name,
            action: Action::Lock,
        },
    )
    .unwrap();
    (id, b.commit())
}

/// The locked alarm of `host` that [`typed_lock_step`] raises.
pub fn locked_alarm(host: &str) -> Alarm {
    let (reason, repair) = AlarmId::Locked.text(host);
    Alarm {
        id: AlarmId::Locked,
        host: host.into(),
        severity: Severity::Major,
        reason,
        repair: repair.into(),
    }
}

/// A core step commits together or not at all, on a typed store without hosts, alarms, events or
/// journal: with a stale host revision nothing of it lands (the action id included); with the
/// right one all of it does. `host` is written first. Returns the step's action id and commit.
pub fn typed_step_commits_together_or_not_at_all(
    t: &TypedStore,
    host: &HostRecord,
) -> (ActionId, Committed) {
    let name = host.spec.name.as_str();
    let rev = t.put_host(host, Expect::Absent).unwrap();
    let (_, stale) = typed_lock_step(t, host, Expect::Revision(rev + 100));
    assert!(matches!(stale, Err(StoreError::Conflict { .. })));
    assert!(t.alarms().unwrap().is_empty());
    assert!(t.events().unwrap().is_empty());
    assert!(t.journal().unwrap().is_empty());
    assert_eq!(t.peek_action_id().unwrap(), ActionId(1));

    let (id, done) = typed_lock_step(t, host, Expect::Revision(rev));
    let committed = done.unwrap();
    assert_eq!(id, ActionId(1));
    assert_eq!(t.peek_action_id().unwrap(), ActionId(2));
    assert_eq!(t.host(name).unwrap().unwrap().1, committed.revision);
    assert_eq!(t.alarms().unwrap(), vec![locked_alarm(name)]);
    assert_eq!(t.events().unwrap().len(), 1);
    assert_eq!(t.journal().unwrap().len(), 1);
    (id, committed)
}
