//! The sensor audit against a real IPMI peer (OpenIPMI `ipmi_sim` with the lab's four sensors: CPU
//! temperature, a fan, the 12 V rail, a power supply), faults injected through its console: a
//! temperature past its critical threshold raises 200.007 and degrades the host after two reads, the
//! action reset makes the core reset the host through the BMC, the normal value clears both, and a
//! BMC that stops answering raises 200.015 for every group. The controller is the test rig's real
//! one (BMC workers, scheduler, store) in lab mode: a read every 10 s, the shortest interval allowed.

use std::sync::Arc;
use std::time::Duration;
use steward_bmc_ipmi::lab::{IpmiSim, PASS, USER};
use steward_controller::{ControllerHandle, GroupPatch};
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord};
use steward_maintenance::state::{DegradeMask, SystemType};
use steward_sensors::Action;
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{machineless_host, LabSpec, TestLab};

fn require_sim() -> bool {
    steward_testpeers::require("ipmi_sim", "--version", "apt-get install -y openipmi")
}

async fn alarms(h: &ControllerHandle) -> Vec<(String, String, String)> {
    h.sensor_alarms()
        .await
        .unwrap()
        .into_iter()
        .map(|a| {
            (
                a.alarm.id.code().to_string(),
                a.alarm.entity,
                format!("{:?}", a.alarm.severity).to_lowercase(),
            )
        })
        .collect()
}

async fn degraded(h: &ControllerHandle) -> bool {
    h.host("worker-0")
        .await
        .unwrap()
        .unwrap()
        .degrade
        .has(DegradeMask::HWMON)
}

/// Poll until `cond` holds (checked every 250 ms, up to `reads` audit intervals and a margin).
async fn until<F, Fut>(reads: u32, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end =
        tokio::time::Instant::now() + Duration::from_secs(10) * reads + Duration::from_secs(5);
    while tokio::time::Instant::now() < end {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn critical_temperature_on_ipmi_sim_alarms_degrades_resets_and_clears() {
    if !require_sim() {
        return;
    }
    let sim = IpmiSim::start().await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let spec = LabSpec {
        hosts: Vec::new(),
        scale: 10,
        in_service: false,
        ..LabSpec::standard()
    };
    let lab = TestLab::start(store, SecretBox::from_key([3; 32]), spec).await;
    let h = lab.handle.clone();
    h.add_host(HostRecord::new_install(
        machineless_host("worker-0", 10),
        SystemType::Standard,
    ))
    .await
    .unwrap();
    let bmc = BmcSpec {
        protocol: BmcProtocol::Ipmi,
        address: sim.addr.to_string(),
        username: USER.into(),
    };
    h.set_bmc_credentials("worker-0", bmc, PASS.into())
        .await
        .unwrap();

    // The first read learns the SDR's sensors into their groups.
    assert!(
        until(2, || async {
            h.host_sensors("worker-0").await.unwrap().sensors.len() == 4
        })
        .await,
        "{}",
        sim.log()
    );
    let view = h.host_sensors("worker-0").await.unwrap();
    let cpu = view
        .sensors
        .iter()
        .find(|s| s.record.name == "CPUTmp")
        .expect("CPUTmp");
    assert_eq!(cpu.record.status.as_str(), "ok");
    assert_eq!(cpu.value, Some(96.0));
    let mut groups: Vec<&str> = view.groups.iter().map(|g| g.record.kind.name()).collect();
    groups.sort();
    assert_eq!(
        groups,
        [
            "server fans",
            "server power",
            "server temperature",
            "server voltage"
        ]
    );
    assert!(alarms(&h).await.is_empty());

    // 0x98 = 152 °C: past the upper critical threshold (144), below non-recoverable (160).
    let _console = sim.console("sensor_set_value 0x20 0 1 0x98 1").await;
    let raised = until(3, || async { !alarms(&h).await.is_empty() }).await;
    assert!(raised, "no alarm: {:?}", h.host_sensors("worker-0").await);
    assert_eq!(
        alarms(&h).await,
        [(
            "200.007".into(),
            "host=worker-0.sensor=CPUTmp".into(),
            "critical".into()
        )]
    );
    assert!(degraded(&h).await);
    // ipmi_sim logged the threshold crossing in its SEL: the next read finds it and logs it.
    let sel_logged = until(2, || async {
        let events = h.events(100).await.unwrap_or_default();
        events
            .iter()
            .any(|e| format!("{e:?}").contains("BMC event log: "))
    })
    .await;
    assert!(sel_logged, "no SEL entry logged: {:?}", h.events(100).await);

    // Critical temperatures now reset the host: the core's reset handler goes to the BMC.
    let temp = view
        .groups
        .iter()
        .find(|g| g.record.kind.name() == "server temperature")
        .unwrap()
        .uuid
        .clone();
    h.patch_sensor_group(
        &temp,
        GroupPatch {
            critical: Some(Action::Reset),
            ..GroupPatch::default()
        },
    )
    .await
    .unwrap();
    let reset = until(2, || async {
        let calls = std::fs::read_to_string(sim.path().join("calls.log")).unwrap_or_default();
        calls.lines().any(|l| l.contains("reset"))
    })
    .await;
    assert!(
        reset,
        "no reset reached the BMC; calls: {:?}; events: {:?}",
        std::fs::read_to_string(sim.path().join("calls.log")),
        h.events(20).await
    );

    // Back to normal: cleared after two good reads, degrade dropped.
    let _console2 = sim.console("sensor_set_value 0x20 0 1 0x60 0").await;
    assert!(until(3, || async { alarms(&h).await.is_empty() }).await);
    assert!(!degraded(&h).await);

    // The BMC stops answering: every group's read fails (200.015, major); no degrade for that.
    drop(_console);
    drop(_console2);
    drop(sim);
    let failed = until(4, || async {
        let a = alarms(&h).await;
        a.len() == 4
            && a.iter()
                .all(|(id, _, sev)| id == "200.015" && sev == "major")
    })
    .await;
    assert!(failed, "{:?}", alarms(&h).await);
    assert!(!degraded(&h).await);
    lab.shutdown().await;
}
