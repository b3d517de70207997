//! The typed layer the controller uses (hosts, alarms, events, journal, sealed BMC credentials) on
//! the etcd store: a core step commits together or not at all, and no BMC password reaches etcd in
//! the clear.

mod common;

use std::sync::Arc;

use etcd_client::{Client, GetOptions};
use steward_maintenance::host::{HostRecord, HostSpec};
use steward_maintenance::state::{Personality, SystemType};
use steward_store::conformance;
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
    let (_, committed) = conformance::typed_step_commits_together_or_not_at_all(&t, &r);
    let secret = "s3cret-BMC-passw0rd";
    t.put_bmc(
        "worker-0",
        &BmcCredential {
            username: "root".into(),
            password: Password::new(secret),
        },
    )
    .unwrap();

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
    let (_, fenced) = conformance::typed_lock_step(&t, &r, Expect::Revision(committed.revision));
    assert!(matches!(fenced, Err(StoreError::Fenced { .. })));
}
