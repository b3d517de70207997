//! Hosts' integer ids (what sysinv's clients address hosts by): given at add in order, kept across
//! controller restarts, never given again after a delete, and given at start to hosts stored
//! before ids existed. A controller over a shared in-memory store with silent links: ids are the
//! controller's bookkeeping, no host needs to answer.

use std::sync::Arc;
use std::time::Duration;
use steward_controller::links::{BmcLink, HeartbeatLink, NodeLink, SwactLink};
use steward_controller::*;
use steward_maintenance::config::Config;
use steward_maintenance::host::{HostRecord, HostSpec};
use steward_maintenance::state::{Personality, SystemType};
use steward_maintenance::SystemConfig;
use steward_store::typed::{keys, TypedStore};
use steward_store::{Expect, MemStore, Retention, SecretBox, Store};

struct Silent;

impl NodeLink for Silent {
    fn send(
        &mut self,
        _: &str,
        _: steward_maintenance::CommandId,
        _: steward_maintenance::io::NodeCommand,
        _: &[steward_maintenance::ProtocolNetwork],
    ) {
    }
}

impl BmcLink for Silent {
    fn submit(
        &mut self,
        _: &str,
        _: steward_maintenance::io::BmcRequestId,
        _: steward_maintenance::io::BmcOp,
    ) {
    }
}

impl HeartbeatLink for Silent {
    fn control(&mut self, _: Option<&str>, _: steward_maintenance::io::HeartbeatControl) {}
}

impl SwactLink for Silent {
    fn swact(&mut self, _: &str) {}
}

fn start(store: &Arc<dyn Store>) -> ControllerHandle {
    let cfg = ControllerConfig::new(
        // Scaled: the delete's timers run in real time here.
        Config::default().scaled(50),
        SystemConfig {
            system_type: SystemType::Standard,
            own_host: "controller-0".into(),
            controller_uptime: Duration::from_secs(86_400),
        },
    );
    let links = Links {
        node: Box::new(Silent),
        bmc: Box::new(Silent),
        heartbeat: Box::new(Silent),
        swact: Box::new(Silent),
    };
    let (handle, _events, _task) =
        spawn(cfg, store.clone(), SecretBox::from_key([3; 32]), links).unwrap();
    handle
}

fn spec(name: &str, n: u32) -> HostSpec {
    HostSpec {
        name: name.into(),
        uuid: format!("00000000-0000-4000-8000-{n:012}"),
        personality: Personality::Worker,
        mgmt_ip: None,
        mgmt_mac: None,
        pxeboot_ip: None,
        cluster_ip: None,
        bmc: None,
        install: Default::default(),
    }
}

async fn id_of(handle: &ControllerHandle, name: &str) -> u64 {
    handle
        .host_entry(name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no {name}"))
        .identity
        .id
}

#[tokio::test]
async fn ids_are_given_in_order_kept_across_restarts_and_never_reused() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    // A host stored before ids existed: it gets one when the controller starts.
    let old = HostRecord::new_install(spec("worker-old", 9), SystemType::Standard);
    TypedStore::new(store.clone(), SecretBox::from_key([3; 32]), 0)
        .put_host(&old, Expect::Absent)
        .unwrap();

    let handle = start(&store);
    assert_eq!(id_of(&handle, "worker-old").await, 1);
    for (i, name) in ["worker-0", "worker-1"].iter().enumerate() {
        handle
            .add_host(HostRecord::new_install(
                spec(name, i as u32),
                SystemType::Standard,
            ))
            .await
            .unwrap();
    }
    assert_eq!(id_of(&handle, "worker-0").await, 2);
    assert_eq!(id_of(&handle, "worker-1").await, 3);
    // Addressed by id as by name and uuid.
    let by_id = handle.host("3").await.unwrap().unwrap();
    assert_eq!(by_id.name(), "worker-1");
    assert!(handle.host("99").await.unwrap().is_none());
    let before = handle.host_entry("worker-1").await.unwrap().unwrap();
    assert!(before.identity.created_at_ms > 0);
    assert!(before.identity.updated_at_ms >= before.identity.created_at_ms);
    handle.shutdown().await.unwrap();

    // A restarted controller shows the same ids and times.
    let handle = start(&store);
    let after = handle.host_entry("3").await.unwrap().unwrap();
    assert_eq!(after.record.name(), "worker-1");
    assert_eq!(after.identity.created_at_ms, before.identity.created_at_ms);
    assert_eq!(id_of(&handle, "worker-old").await, 1);

    // Delete worker-1 (locked, never installed: the delete completes at once) and add it again:
    // a new id, 3 is not given out again.
    let del = handle
        .request("worker-1", steward_maintenance::OperatorAction::Delete)
        .await
        .unwrap();
    handle
        .wait(del, Duration::from_millis(10), |_| {})
        .await
        .unwrap();
    assert!(handle.host("worker-1").await.unwrap().is_none());
    assert!(store.get(&keys::host_id("worker-1")).unwrap().is_none());
    handle
        .add_host(HostRecord::new_install(
            spec("worker-1", 7),
            SystemType::Standard,
        ))
        .await
        .unwrap();
    assert_eq!(id_of(&handle, "worker-1").await, 4);
    handle.shutdown().await.unwrap();
    let handle = start(&store);
    handle
        .add_host(HostRecord::new_install(
            spec("worker-2", 8),
            SystemType::Standard,
        ))
        .await
        .unwrap();
    assert_eq!(id_of(&handle, "worker-2").await, 5);
}
