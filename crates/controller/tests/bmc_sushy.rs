//! The controller's real BMC link against a real Redfish peer (`sushy-emulator --fake`): an operator
//! power-off and power-on of a locked host go through the core's power handler, the BMC workers and the
//! emulator, and complete only when the emulator reads back the target state. The access audit makes
//! the BMC accessible (no 200.010).

use std::sync::Arc;
use std::time::Duration;
use steward_maintenance::config::Config;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord};
use steward_maintenance::state::*;
use steward_maintenance::{ActionOutcome, OperatorAction};
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{machineless_host, LabSpec, TestLab};

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
    // The rig's real controller, node link, heartbeat service and BMC workers (gaps between
    // operations on one BMC scaled 10× down like the timers); no simulated machines: the one host
    // is a record whose BMC is the emulator.
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let spec = LabSpec {
        hosts: Vec::new(),
        scale: 10,
        in_service: false,
        config: Some(cfg),
        ..LabSpec::standard()
    };
    let lab = TestLab::start(store, SecretBox::from_key([3; 32]), spec).await;
    let handle = lab.handle.clone();
    handle
        .add_host(HostRecord::new_install(
            machineless_host("worker-0", 10),
            SystemType::Standard,
        ))
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
    lab.shutdown().await;
}
