//! The etcd store under the faults a controller pair meets: a deposed writer (epoch and lease
//! fence), two writers racing, etcd gone, a member lost, the quorum lost and regained. All on real
//! etcd processes.

mod common;

use std::time::Duration;

use etcd_client::{Client, PutOptions};
use steward_store::{Expect, Op, Retention, Store, StoreError};
use steward_store_etcd::{EtcdOptions, EtcdStore};
use steward_testpeers::etcd::{EtcdCluster, EtcdPeer};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Grant a lease and put `key` under it, as a controller taking the leadership does.
fn hold(endpoints: &[String], key: &str) -> i64 {
    runtime().block_on(async {
        let mut c = Client::connect(endpoints, None).await.unwrap();
        let lease = c.lease_grant(30, None).await.unwrap().id();
        c.put(key, "me", Some(PutOptions::new().with_lease(lease)))
            .await
            .unwrap();
        lease
    })
}

fn revoke(endpoints: &[String], lease: i64) {
    runtime().block_on(async {
        let mut c = Client::connect(endpoints, None).await.unwrap();
        c.lease_revoke(lease).await.unwrap();
    })
}

fn store_with_timeout(endpoints: &[String], timeout: Duration) -> EtcdStore {
    let opts = EtcdOptions {
        prefix: "/faults/".into(),
        timeout,
        ..EtcdOptions::default()
    };
    EtcdStore::connect(endpoints, opts).unwrap()
}

#[test]
fn a_writer_whose_lease_is_gone_is_fenced_even_with_the_current_epoch() {
    let peer = EtcdPeer::start();
    let eps = peer.endpoints();
    let lease_a = hold(&eps, "/leader");
    let a = common::store_on(&eps, Retention::default()).with_fence("/leader", lease_a);
    a.acquire_epoch(1).unwrap();
    a.put("hosts/x", b"by a", Expect::Absent, 1).unwrap();
    a.append("events/", b"a", 1).unwrap();

    // A's lease ends (expiry or revoke); B takes the leader key with its own lease.
    revoke(&eps, lease_a);
    let refused = a.put("hosts/x", b"late a", Expect::Any, 1);
    assert!(
        matches!(refused, Err(StoreError::Fenced { epoch: 1, .. })),
        "{refused:?}"
    );
    assert!(matches!(
        a.append("events/", b"late", 1),
        Err(StoreError::Fenced { .. })
    ));
    assert!(matches!(a.acquire_epoch(2), Err(StoreError::Fenced { .. })));
    let lease_b = hold(&eps, "/leader");
    // A still fails: the key is held, but not by A's lease.
    assert!(matches!(
        a.put("hosts/x", b"late a", Expect::Any, 1),
        Err(StoreError::Fenced { .. })
    ));
    let b = a.clone().with_fence("/leader", lease_b);
    b.acquire_epoch(2).unwrap();
    b.put("hosts/x", b"by b", Expect::Any, 2).unwrap();
    assert_eq!(b.get("hosts/x").unwrap().unwrap().value, b"by b");
    assert_eq!(b.list("events/").unwrap().len(), 1);
    // Without the fence, the epoch alone still fences A.
    let unfenced = common::store_on(&eps, Retention::default());
    unfenced.acquire_epoch(5).unwrap();
    assert!(matches!(
        unfenced.put("k", b"v", Expect::Any, 4),
        Err(StoreError::Fenced {
            epoch: 4,
            current_epoch: 5
        })
    ));
}

#[test]
fn racing_writers_of_one_store_never_share_a_sequence_or_lose_an_update() {
    let peer = EtcdPeer::start();
    let eps = peer.endpoints();
    let first = store_with_timeout(&eps, Duration::from_secs(20));
    first.put("counter", b"0", Expect::Absent, 0).unwrap();
    let threads: Vec<_> = (0..3)
        .map(|_| {
            let s = store_with_timeout(&eps, Duration::from_secs(20));
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for _ in 0..20 {
                    seqs.push(s.append("journal/", b"j", 0).unwrap());
                    // A read-modify-write increment with CAS: a lost update would show in the sum.
                    loop {
                        let cur = s.get("counter").unwrap().unwrap();
                        let n: u64 = String::from_utf8(cur.value).unwrap().parse().unwrap();
                        let next = (n + 1).to_string();
                        match s.put(
                            "counter",
                            next.as_bytes(),
                            Expect::Revision(cur.revision),
                            0,
                        ) {
                            Ok(_) => break,
                            Err(StoreError::Conflict { .. }) => continue,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                seqs
            })
        })
        .collect();
    let mut all: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=60).collect::<Vec<_>>());
    assert_eq!(first.get("counter").unwrap().unwrap().value, b"60");
    assert_eq!(first.list("journal/").unwrap().len(), 60);
}

#[test]
fn etcd_gone_is_a_backend_error_naming_it_and_the_store_recovers() {
    let mut peer = EtcdPeer::start();
    let eps = peer.endpoints();
    let s = store_with_timeout(&eps, Duration::from_secs(2));
    s.put("k", b"1", Expect::Absent, 0).unwrap();
    peer.kill();
    for attempt in [
        s.put("k", b"2", Expect::Any, 0).map(|_| ()),
        s.get("k").map(|_| ()),
        s.list("").map(|_| ()),
        s.acquire_epoch(1),
    ] {
        match attempt {
            Err(StoreError::Backend(msg)) => assert!(msg.contains(&eps[0]), "{msg}"),
            other => panic!("expected a backend error, got {other:?}"),
        }
    }
    // A store cannot be opened on a dead etcd either; the message names it.
    let e = EtcdStore::connect(
        &eps,
        EtcdOptions {
            timeout: Duration::from_secs(1),
            ..EtcdOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(&e, StoreError::Open(m) if m.contains(&eps[0])),
        "{e}"
    );
    peer.restart();
    // The same store handle works again once etcd is back (the client reconnects).
    let mut back = None;
    for _ in 0..50 {
        match s.get("k") {
            Ok(v) => {
                back = v;
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    assert_eq!(back.unwrap().value, b"1");
    s.put("k", b"3", Expect::Any, 0).unwrap();
}

#[test]
fn three_members_survive_a_member_loss_and_refuse_writes_without_quorum() {
    let mut cluster = EtcdCluster::start(3);
    let eps = cluster.endpoints();
    let s = store_with_timeout(&eps, Duration::from_secs(3));
    s.acquire_epoch(1).unwrap();
    s.put("hosts/a", b"1", Expect::Absent, 1).unwrap();

    // One member lost (whichever it is, leader or not): two of three keep a quorum.
    // The store moves on from the dead member by itself.
    cluster.kill_member(0);
    cluster.wait_healthy();
    let r = s.put("hosts/b", b"1", Expect::Absent, 1).unwrap();
    assert_eq!(s.get("hosts/b").unwrap().unwrap().revision, r);
    s.append("events/", b"still writing", 1).unwrap();

    // A second member lost: no quorum, no leader; writes fail with a clear backend error and
    // nothing is written.
    cluster.kill_member(1);
    let refused = s.put("hosts/c", b"1", Expect::Absent, 1);
    match &refused {
        Err(StoreError::Backend(msg)) => assert!(msg.contains("etcd at"), "{msg}"),
        other => panic!("expected a backend error without quorum, got {other:?}"),
    }
    assert!(s.append("events/", b"lost", 1).is_err());

    // Quorum back: writes resume, the refused ones left no trace.
    cluster.restart_member(1);
    cluster.wait_healthy();
    s.put("hosts/d", b"1", Expect::Absent, 1).unwrap();
    assert_eq!(s.get("hosts/c").unwrap(), None);
    let events = s.list("events/").unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.value, b"still writing");
    cluster.restart_member(0);
    cluster.wait_healthy();
    let keys: Vec<_> = s
        .list("hosts/")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["hosts/a", "hosts/b", "hosts/d"]);
}

#[test]
fn large_lists_are_read_in_pages_and_a_lowered_bound_trims_the_backlog_at_once() {
    let peer = EtcdPeer::start();
    let eps = peer.endpoints();
    let s = common::store_on(&eps, Retention::default());
    for batch in 0..12 {
        let ops: Vec<Op> = (0..100)
            .map(|i| Op::Put {
                key: format!("hosts/h{:05}", batch * 100 + i),
                value: vec![1],
                expect: Expect::Absent,
            })
            .collect();
        s.txn(&ops, 0).unwrap();
    }
    let hosts = s.list("hosts/").unwrap();
    assert_eq!(hosts.len(), 1200);
    assert!(hosts.windows(2).all(|w| w[0].0 < w[1].0));

    // 40 events under a bound of 100, then the bound lowered to 3 (a store reopened with a new
    // retention): the next append trims 38 entries in its own commit, and keeps keys outside the log.
    let opts = |max| EtcdOptions {
        prefix: s.prefix().to_owned(),
        retention: Retention::default().with("events/", max),
        ..EtcdOptions::default()
    };
    let wide = EtcdStore::connect(&eps, opts(100)).unwrap();
    for i in 0..40u8 {
        wide.append("events/", &[i], 0).unwrap();
    }
    wide.put("events/note", b"not a log entry", Expect::Any, 0)
        .unwrap();
    let narrow = EtcdStore::connect(&eps, opts(3)).unwrap();
    let kept_by_name = steward_store::log_key("events/", 39);
    let ops = vec![
        Op::Put {
            key: kept_by_name.clone(),
            value: b"rewritten".to_vec(),
            expect: Expect::Any,
        },
        Op::Append {
            prefix: "events/".into(),
            value: vec![40],
        },
    ];
    assert_eq!(narrow.txn(&ops, 0).unwrap().seqs, [41]);
    let left: Vec<_> = narrow
        .list("events/")
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k, v.value))
        .collect();
    assert_eq!(
        left,
        [
            (steward_store::log_key("events/", 39), b"rewritten".to_vec()),
            (steward_store::log_key("events/", 40), vec![39]),
            (steward_store::log_key("events/", 41), vec![40]),
            ("events/note".to_owned(), b"not a log entry".to_vec()),
        ]
    );
}

#[test]
fn the_sync_store_can_be_called_from_inside_a_tokio_task() {
    // The controller actor calls the store from a task: neither a current-thread nor a
    // multi-thread runtime may panic ("cannot start a runtime from within a runtime") or deadlock.
    let peer = EtcdPeer::start();
    let s = common::store_on(&peer.endpoints(), Retention::default());
    runtime().block_on(async {
        s.put("a", b"1", Expect::Absent, 0).unwrap();
        let s2 = s.clone();
        tokio::spawn(async move { s2.append("events/", b"e", 0).unwrap() })
            .await
            .unwrap();
    });
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s2 = s.clone();
    let task = multi.spawn(async move { s2.append("events/", b"e", 0).unwrap() });
    let seq = multi.block_on(task).unwrap();
    assert_eq!(seq, 2);
    assert_eq!(s.get("a").unwrap().unwrap().value, b"1");
}
