//! The controller's real BMC link against a real Redfish peer (`sushy-emulator --fake`): an operator
//! power-off and power-on of a locked host go through the core's power handler, the BMC workers and the
//! emulator, and complete only when the emulator reads back the target state. The access audit makes
//! the BMC accessible (no 200.010).

use std::sync::Arc;
use std::time::Duration;
use steward_bmc::scheduler::SchedulerConfig;
use steward_controller::bmc_workers::{BmcWorkerConfig, BmcWorkers};
use steward_controller::links::*;
use steward_controller::*;
use steward_maintenance::config::Config;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::io::*;
use steward_maintenance::state::*;
use steward_maintenance::{ActionOutcome, OperatorAction, SystemConfig};
use steward_store::{MemStore, Retention, SecretBox, Store};

struct Quiet;
impl NodeLink for Quiet {
    fn send(&mut self, _: &str, _: CommandId, _: NodeCommand, _: &[Network]) {}
}
impl HeartbeatLink for Quiet {
    fn control(&mut self, _: Option<&str>, _: HeartbeatControl) {}
}
impl SwactLink for Quiet {
    fn swact(&mut self, _: &str) {}
}

/// The events channel exists only once the controller runs; the BMC link needs it at construction.
struct LateBmc(Arc<std::sync::Mutex<Option<BmcWorkers>>>);
impl BmcLink for LateBmc {
    fn submit(&mut self, host: &str, id: BmcRequestId, op: BmcOp) {
        if let Some(w) = self.0.lock().unwrap().as_mut() {
            w.submit(host, id, op)
        }
    }
    fn provision(&mut self, host: &str, access: Option<BmcAccess>) {
        if let Some(w) = self.0.lock().unwrap().as_mut() {
            w.provision(host, access)
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_off_and_on_through_redfish_with_read_back() {
    if !steward_testpeers::require_sushy() {
        return;
    }
    let peer = steward_testpeers::Sushy::start();
    let mut cfg = Config::default().scaled(10);
    cfg.timeouts.host_add_delay.0 = Duration::from_millis(100);
    // sushy applies power changes 1–11 s after the request; give the core room for retries.
    cfg.timeouts.power_off_retry_wait.0 = Duration::from_secs(2);
    let system = SystemConfig {
        system_type: SystemType::Standard,
        own_host: "controller-0".into(),
        controller_uptime: Duration::from_secs(86_400),
    };
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let slot = Arc::new(std::sync::Mutex::new(None));
    let links = Links {
        node: Box::new(Quiet),
        bmc: Box::new(LateBmc(slot.clone())),
        heartbeat: Box::new(Quiet),
        swact: Box::new(Quiet),
    };
    let (handle, events, _task) = spawn(
        ControllerConfig::new(cfg, system),
        store,
        SecretBox::from_key([3; 32]),
        links,
    )
    .unwrap();
    // Timers are scaled 10× down, so are the gaps between operations on one BMC.
    let wcfg = BmcWorkerConfig {
        audit_period: Duration::from_secs(5),
        scheduler: SchedulerConfig {
            gap: Duration::from_millis(500),
            max_concurrent: 8,
        },
        ..Default::default()
    };
    *slot.lock().unwrap() = Some(BmcWorkers::start(wcfg, events));

    let spec = HostSpec {
        name: "worker-0".into(),
        uuid: "00000000-0000-0000-0000-000000000010".into(),
        personality: Personality::Worker,
        mgmt_ip: Some("192.0.2.10".into()),
        mgmt_mac: None,
        cluster_ip: None,
        bmc: None,
    };
    handle
        .add_host(HostRecord::new_install(spec, SystemType::Standard))
        .await
        .unwrap();
    let bmc = BmcSpec {
        protocol: BmcProtocol::Dynamic,
        address: peer.address(),
        username: "admin".into(),
    };
    handle
        .set_bmc_credentials("worker-0", bmc, "password".into())
        .await
        .unwrap();

    // The access audit reaches the emulator.
    for _ in 0..300 {
        if handle
            .host("worker-0")
            .await
            .unwrap()
            .unwrap()
            .bmc_accessible
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        handle
            .host("worker-0")
            .await
            .unwrap()
            .unwrap()
            .bmc_accessible,
        "{}",
        peer.log_tail()
    );

    let off = handle
        .request("worker-0", OperatorAction::PowerOff)
        .await
        .unwrap();
    let outcome = handle
        .wait(off, Duration::from_millis(200), |_| {})
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::Completed, "{outcome:?}");
    let rec = handle.host("worker-0").await.unwrap().unwrap();
    assert_eq!(rec.states.avail, Availability::PowerOff);
    assert_eq!(rec.power, PowerState::Off);

    let on = handle
        .request("worker-0", OperatorAction::PowerOn)
        .await
        .unwrap();
    let outcome = handle
        .wait(on, Duration::from_millis(200), |_| {})
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::Completed, "{outcome:?}");
    assert_eq!(
        handle.host("worker-0").await.unwrap().unwrap().power,
        PowerState::On
    );
    assert!(handle
        .alarms()
        .await
        .unwrap()
        .iter()
        .all(|a| a.id.code() != "200.010"));
}
