//! The typed layer over the embedded store: records round-trip, a core step commits atomically, and
//! BMC passwords never reach the disk in the clear.

use std::sync::Arc;
use steward_maintenance::alarm::{Alarm, AlarmId, Severity};
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::state::{Personality, SystemType};
use steward_maintenance::{Action, ActionId, ActionOutcome, JournalEntry};
use steward_store::conformance;
use steward_store::typed::{keys, BmcCredential, Stamped, TypedStore};
use steward_store::{
    Expect, MemStore, Password, RedbStore, Retention, SecretBox, Store, StoreError, DB_FILE,
};

fn record(name: &str) -> HostRecord {
    HostRecord::new_install(
        HostSpec {
            name: name.into(),
            uuid: format!("uuid-{name}"),
            personality: Personality::Worker,
            mgmt_ip: Some("192.168.204.10".into()),
            mgmt_mac: None,
            pxeboot_ip: None,
            cluster_ip: None,
            bmc: Some(BmcSpec {
                protocol: BmcProtocol::Dynamic,
                address: "10.0.0.10".into(),
                username: "root".into(),
            }),
            install: Default::default(),
        },
        SystemType::Standard,
    )
}

fn alarm(id: AlarmId, host: &str) -> Alarm {
    let (reason, repair) = id.text(host);
    Alarm {
        id,
        host: host.into(),
        severity: Severity::Major,
        reason,
        repair: repair.into(),
    }
}

fn open(dir: &std::path::Path) -> TypedStore {
    let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir, Retention::default()).unwrap());
    TypedStore::new(store, SecretBox::load_or_create(dir).unwrap(), 0)
}

#[test]
fn host_records_round_trip_with_cas() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path());
    let mut r = record("worker-0");
    let rev = t.put_host(&r, Expect::Absent).unwrap();
    assert_eq!(t.host("worker-0").unwrap(), Some((r.clone(), rev)));
    r.task = "Enabling".into();
    assert!(matches!(
        t.put_host(&r, Expect::Absent),
        Err(StoreError::Conflict { .. })
    ));
    let rev2 = t.put_host(&r, Expect::Revision(rev)).unwrap();
    t.put_host(&record("worker-1"), Expect::Absent).unwrap();
    let names: Vec<_> = t
        .hosts()
        .unwrap()
        .into_iter()
        .map(|(h, _)| h.spec.name)
        .collect();
    assert_eq!(names, ["worker-0", "worker-1"]);
    drop(t);
    let t = open(dir.path());
    assert_eq!(t.host("worker-0").unwrap(), Some((r, rev2)));
}

#[test]
fn a_core_step_commits_together_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path());
    let (id, _) = conformance::typed_step_commits_together_or_not_at_all(&t, &record("worker-0"));
    assert_eq!(t.events().unwrap()[0].0, 1);
    assert_eq!(
        t.journal().unwrap(),
        vec![(
            1,
            Stamped {
                at_ms: 1_000,
                entry: JournalEntry::Accepted {
                    id,
                    host: "worker-0".into(),
                    action: Action::Lock
                }
            }
        )]
    );

    let mut b = t.batch();
    b.clear_alarm(AlarmId::Locked, "worker-0");
    b.journal(
        2_000,
        &JournalEntry::Ended {
            id,
            host: "worker-0".into(),
            outcome: ActionOutcome::Completed,
        },
    )
    .unwrap();
    b.commit().unwrap();
    assert!(t.alarm(AlarmId::Locked, "worker-0").unwrap().is_none());
    assert_eq!(t.journal().unwrap().len(), 2);
}

#[test]
fn action_ids_are_unique_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path());
    assert_eq!(t.allocate_action_id().unwrap(), ActionId(1));
    assert_eq!(t.allocate_action_id().unwrap(), ActionId(2));
    drop(t);
    let t = open(dir.path());
    assert_eq!(t.allocate_action_id().unwrap(), ActionId(3));
}

#[test]
fn concurrent_action_id_allocation_never_duplicates() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    let ids = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            let t = TypedStore::new(store.clone(), SecretBox::from_key([1; 32]), 0);
            let ids = &ids;
            s.spawn(move || {
                for _ in 0..50 {
                    let id = t.allocate_action_id().unwrap();
                    ids.lock().unwrap().push(id.0);
                }
            });
        }
    });
    let mut ids = ids.into_inner().unwrap();
    ids.sort();
    assert_eq!(ids, (1..=200).collect::<Vec<_>>());
}

#[test]
fn remove_host_takes_its_bmc_and_alarms_along() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path());
    for h in ["a", "b"] {
        let mut b = t.batch();
        b.put_host(&record(h), Expect::Absent).unwrap();
        b.raise_alarm(&alarm(AlarmId::Enable, h)).unwrap();
        b.raise_alarm(&alarm(AlarmId::BmcAccess, h)).unwrap();
        b.put_bmc(
            h,
            &BmcCredential {
                username: "root".into(),
                password: Password::new("pw"),
            },
        )
        .unwrap();
        b.commit().unwrap();
    }
    t.remove_host("a", Expect::Any).unwrap();
    assert!(t.host("a").unwrap().is_none());
    assert!(t.bmc("a").unwrap().is_none());
    let hosts: Vec<_> = t.alarms().unwrap().into_iter().map(|a| a.host).collect();
    assert_eq!(hosts, ["b", "b"]);
    assert!(t.bmc("b").unwrap().is_some());
}

#[test]
fn stale_writer_is_fenced_through_the_typed_layer() {
    let store: Arc<dyn Store> = Arc::new(MemStore::default());
    store.acquire_epoch(1).unwrap();
    let old = TypedStore::new(store.clone(), SecretBox::from_key([1; 32]), 1);
    old.put_host(&record("a"), Expect::Absent).unwrap();
    store.acquire_epoch(2).unwrap();
    let new = TypedStore::new(store.clone(), SecretBox::from_key([1; 32]), 2);
    assert!(matches!(
        old.put_host(&record("a"), Expect::Any),
        Err(StoreError::Fenced {
            epoch: 1,
            current_epoch: 2
        })
    ));
    assert!(matches!(
        old.allocate_action_id(),
        Err(StoreError::Fenced { .. })
    ));
    new.put_host(&record("a"), Expect::Any).unwrap();
}

#[test]
fn bmc_password_is_encrypted_at_rest() {
    const PASSWORD: &str = "Sup3r-S3cret-BMC-pa55word";
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path());
    let cred = BmcCredential {
        username: "admin".into(),
        password: Password::new(PASSWORD),
    };
    assert!(!format!("{cred:?}").contains(PASSWORD));
    // Several writes so the file holds old pages too.
    for _ in 0..3 {
        t.put_bmc("worker-0", &cred).unwrap();
    }
    assert_eq!(t.bmc("worker-0").unwrap(), Some(cred.clone()));

    // The stored JSON carries no plaintext.
    let raw = t.store().get(&keys::bmc("worker-0")).unwrap().unwrap();
    let json = String::from_utf8(raw.value).unwrap();
    assert!(
        json.contains("admin") && json.contains("ciphertext"),
        "{json}"
    );
    assert!(!json.contains(PASSWORD), "{json}");
    drop(t);

    // Nor does any byte of the database file.
    let bytes = std::fs::read(dir.path().join(DB_FILE)).unwrap();
    assert!(
        bytes.windows(b"admin".len()).any(|w| w == b"admin"),
        "the scan must see plaintext fields"
    );
    assert!(!bytes
        .windows(PASSWORD.len())
        .any(|w| w == PASSWORD.as_bytes()));

    // Reopened with the same key file, the password is back; with another key it is not.
    let t = open(dir.path());
    assert_eq!(
        t.bmc("worker-0").unwrap().unwrap().password.expose(),
        PASSWORD
    );
    drop(t);
    let store: Arc<dyn Store> =
        Arc::new(RedbStore::open(dir.path(), Retention::default()).unwrap());
    let wrong = TypedStore::new(store, SecretBox::from_key([9; 32]), 0);
    assert!(matches!(
        wrong.bmc("worker-0"),
        Err(StoreError::Decrypt { .. })
    ));
}

#[test]
fn a_lost_key_file_is_reported_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let t = open(dir.path());
    assert_eq!(t.verify_bmc_secrets().unwrap(), 0);
    let cred = BmcCredential {
        username: "admin".into(),
        password: Password::new("pw"),
    };
    t.put_bmc("worker-0", &cred).unwrap();
    assert_eq!(t.verify_bmc_secrets().unwrap(), 1);
    drop(t);
    std::fs::remove_file(dir.path().join(steward_store::KEY_FILE)).unwrap();
    let t = open(dir.path());
    let e = t.verify_bmc_secrets().unwrap_err();
    assert!(e.to_string().contains("bmc/worker-0"), "{e}");
    assert!(e.to_string().contains("secret.key"), "{e}");
}
