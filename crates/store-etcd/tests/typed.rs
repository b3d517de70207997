//! The typed layer the controller uses (hosts, alarms, events, journal, sealed BMC credentials) on
//! the etcd store: a core step commits together or not at all, and no BMC password reaches etcd in
//! the clear.

mod common;

use std::sync::Arc;

use etcd_client::{Client, GetOptions};
use steward_maintenance::alarm::{Alarm, AlarmId, CustomerLog, LogId, Severity};
use steward_maintenance::host::{HostRecord, HostSpec};
use steward_maintenance::state::{Personality, SystemType};
use steward_maintenance::{Action, ActionId, JournalEntry};
use steward_store::typed::{BmcCredential, TypedStore};
use steward_store::{Expect, Password, Retention, SecretBox, Store, StoreError};
use steward_testpeers::etcd::EtcdPeer;

fn record(name: &str) -> HostRecord {
    HostRecord::new_install(
        HostSpec {
            name: name.into(),
            uuid: format!("uuid-{name}"),
            personality: Personality::Worker,
            mgmt_ip: Some("192.168.204.10".into()),
            mgmt_mac: None,
            cluster_ip: None,
            pxeboot_ip: None,
            install: Default::default(),
            bmc: None,
        },
        SystemType::Standard,
    )
}

fn alarm(host: &str) -> Alarm {
    let (reason, repair) = AlarmId::Locked.text(host);
    Alarm {
        id: AlarmId::Locked,
        host: host.into(),
        severity: Severity::Major,
        reason,
        repair: repair.into(),
    }
}

/// Every value under `prefix` in etcd, raw.
fn raw_values(endpoints: &[String], prefix: &str) -> Vec<Vec<u8>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = Client::connect(endpoints, None).await.unwrap();
        let resp = c
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .unwrap();
        resp.kvs().iter().map(|kv| kv.value().to_vec()).collect()
    })
}

#[test]
fn a_core_step_on_etcd_commits_together_and_bmc_passwords_stay_sealed() {
    let peer = EtcdPeer::start();
    let eps = peer.endpoints();
    let store = common::store_on(&eps, Retention::default());
    let prefix = store.prefix().to_owned();
    let store: Arc<dyn Store> = Arc::new(store);
    store.acquire_epoch(1).unwrap();
    let t = TypedStore::new(store.clone(), SecretBox::from_key([3; 32]), 1);

    let r = record("worker-0");
    let rev = t.put_host(&r, Expect::Absent).unwrap();
    let secret = "s3cret-BMC-passw0rd";
    t.put_bmc(
        "worker-0",
        &BmcCredential {
            username: "root".into(),
            password: Password::new(secret),
        },
    )
    .unwrap();

    let step = |expect: Expect| {
        let mut b = t.batch();
        let id = b.claim_action_id().unwrap();
        b.put_host(&r, expect).unwrap();
        b.raise_alarm(&alarm("worker-0")).unwrap();
        b.event(
            1_000,
            &CustomerLog {
                id: LogId::Command,
                host: "worker-0".into(),
                text: "lock".into(),
                critical: false,
            },
        )
        .unwrap();
        b.journal(
            1_000,
            &JournalEntry::Accepted {
                id,
                host: "worker-0".into(),
                action: Action::Lock,
            },
        )
        .unwrap();
        (id, b.commit())
    };
    let (_, stale) = step(Expect::Revision(rev + 100));
    assert!(matches!(stale, Err(StoreError::Conflict { .. })));
    assert!(t.alarms().unwrap().is_empty());
    assert!(t.events().unwrap().is_empty());
    assert!(t.journal().unwrap().is_empty());
    assert_eq!(t.peek_action_id().unwrap(), ActionId(1));

    let (id, done) = step(Expect::Revision(rev));
    let committed = done.unwrap();
    assert_eq!(id, ActionId(1));
    assert_eq!(t.peek_action_id().unwrap(), ActionId(2));
    assert_eq!(t.host("worker-0").unwrap().unwrap().1, committed.revision);
    assert_eq!(t.alarms().unwrap(), vec![alarm("worker-0")]);
    assert_eq!(t.events().unwrap().len(), 1);
    assert_eq!(t.journal().unwrap().len(), 1);

    // The password comes back through the secret box, and is nowhere in etcd in the clear.
    assert_eq!(
        t.bmc("worker-0").unwrap().unwrap().password.expose(),
        secret
    );
    assert_eq!(t.verify_bmc_secrets().unwrap(), 1);
    let raw = raw_values(&eps, &prefix);
    assert!(raw.len() > 5);
    assert!(raw
        .iter()
        .all(|v| !v.windows(secret.len()).any(|w| w == secret.as_bytes())));

    // A deposed writer (older epoch) cannot commit a step.
    store.acquire_epoch(2).unwrap();
    let (_, fenced) = step(Expect::Revision(committed.revision));
    assert!(matches!(fenced, Err(StoreError::Fenced { .. })));
}
