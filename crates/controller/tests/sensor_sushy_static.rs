//! The sensor audit against a real Redfish peer, `sushy-static` (PyPI sushy-tools), serving a mockup
//! tree this test writes and rewrites between reads: new-style `Sensors` on one chassis, and the
//! legacy `Thermal`/`Power` shape. A fan whose
//! health turns Critical raises 200.007 after two reads and degrades the host; healthy again clears
//! it; a sensor removed from the collection goes offline. The controller is the test rig's real one
//! in lab mode (a read every 10 s).

use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use steward_controller::ControllerHandle;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord};
use steward_maintenance::state::{DegradeMask, SystemType};
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{machineless_host, LabSpec, TestLab};
use steward_testpeers::{put, require_sushy_static, Sushy};

const V1: &str = "/redfish/v1";

fn link(rel: &str) -> serde_json::Value {
    json!({ "@odata.id": format!("{V1}/{rel}") })
}

fn collection(root: &Path, rel: &str, members: &[String]) {
    let m: Vec<_> = members.iter().map(|r| link(r)).collect();
    put(
        root,
        rel,
        json!({"@odata.id": format!("{V1}/{rel}"), "Members@odata.count": m.len(), "Members": m}),
    );
}

fn write_base(root: &Path) {
    put(
        root,
        "",
        json!({"@odata.id": "/redfish/v1/", "RedfishVersion": "1.15.0",
               "Systems": link("Systems"), "Managers": link("Managers"), "Chassis": link("Chassis")}),
    );
    collection(root, "Systems", &["Systems/1".into()]);
    put(
        root,
        "Systems/1",
        json!({"Id": "1", "PowerState": "On",
               "Actions": {"#ComputerSystem.Reset": {"target": format!("{V1}/Systems/1/Actions/ComputerSystem.Reset"),
                   "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "ForceRestart"]}}}),
    );
    collection(root, "Managers", &[]);
    collection(root, "Chassis", &["Chassis/1".into()]);
    put(
        root,
        "Chassis/1",
        json!({"Id": "1", "Sensors": link("Chassis/1/Sensors")}),
    );
}

/// The chassis' sensors: `(id, name, type, units, reading, health)`.
fn write_sensors(root: &Path, sensors: &[(&str, &str, &str, &str, f64, &str)]) {
    let members: Vec<String> = sensors
        .iter()
        .map(|s| format!("Chassis/1/Sensors/{}", s.0))
        .collect();
    collection(root, "Chassis/1/Sensors", &members);
    for (id, name, kind, units, reading, health) in sensors {
        put(
            root,
            &format!("Chassis/1/Sensors/{id}"),
            json!({"@odata.id": format!("{V1}/Chassis/1/Sensors/{id}"), "Id": id, "Name": name,
                   "ReadingType": kind, "ReadingUnits": units, "Reading": reading,
                   "Status": {"State": "Enabled", "Health": health}}),
        );
    }
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

/// The rig's controller with worker-0 whose Redfish BMC is `peer`; returns once its first read
/// learned `sensors` sensors.
async fn lab_reading(peer: &Sushy, sensors: usize) -> TestLab {
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
        machineless_host("worker-0", 11),
        SystemType::Standard,
    ))
    .await
    .unwrap();
    let bmc = BmcSpec {
        protocol: BmcProtocol::Redfish,
        address: peer.address(),
        username: "admin".into(),
    };
    h.set_bmc_credentials("worker-0", bmc, "password".into())
        .await
        .unwrap();
    assert!(
        until(2, || async {
            h.host_sensors("worker-0").await.unwrap().sensors.len() == sensors
        })
        .await,
        "{:?}\n{}",
        h.host_sensors("worker-0").await,
        peer.log_tail()
    );
    lab
}

/// The legacy shape: `Thermal` (temperatures, fans) and `Power` (voltages), no `Sensors`.
fn write_legacy(root: &Path, volts_12: f64, health_12: &str) {
    put(
        root,
        "Chassis/1",
        json!({"Id": "1", "Thermal": link("Chassis/1/Thermal"), "Power": link("Chassis/1/Power")}),
    );
    put(
        root,
        "Chassis/1/Thermal",
        json!({"Temperatures": [
                  {"MemberId": "0", "Name": "Inlet Ambient", "ReadingCelsius": 22,
                   "UpperThresholdCritical": 42, "Status": {"Health": "OK", "State": "Enabled"}}],
               "Fans": [{"MemberId": "0", "Name": "Fan 1", "Reading": 5400, "ReadingUnits": "RPM",
                         "Status": {"Health": "OK", "State": "Enabled"}}]}),
    );
    put(
        root,
        "Chassis/1/Power",
        json!({"Voltages": [{"MemberId": "0", "Name": "12V", "ReadingVolts": volts_12,
                             "UpperThresholdCritical": 13.2, "LowerThresholdCritical": 10.8,
                             "Status": {"Health": health_12, "State": "Enabled"}}]}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_thermal_and_power_tree_raises_and_clears() {
    if !require_sushy_static() {
        return;
    }
    let tree = tempfile::tempdir().expect("tempdir");
    let root = tree.path().to_path_buf();
    write_base(&root);
    write_legacy(&root, 12.1, "OK");
    let peer = Sushy::start_static(tree);
    let lab = lab_reading(&peer, 3).await;
    let h = lab.handle.clone();
    let view = h.host_sensors("worker-0").await.unwrap();
    let mut groups: Vec<&str> = view.groups.iter().map(|g| g.record.kind.name()).collect();
    groups.sort();
    assert_eq!(
        groups,
        ["server fans", "server temperature", "server voltage"]
    );

    // The 12 V rail sags below its critical threshold: alarm after two reads; restored: cleared.
    write_legacy(&root, 10.5, "Critical");
    assert!(until(3, || async { !alarms(&h).await.is_empty() }).await);
    assert_eq!(
        alarms(&h).await,
        [(
            "200.007".into(),
            "host=worker-0.sensor=12V".into(),
            "critical".into()
        )]
    );
    write_legacy(&root, 12.0, "OK");
    assert!(until(3, || async { alarms(&h).await.is_empty() }).await);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewritten_sensor_tree_raises_and_clears() {
    if !require_sushy_static() {
        return;
    }
    let tree = tempfile::tempdir().expect("tempdir");
    let root = tree.path().to_path_buf();
    write_base(&root);
    let healthy = [
        ("CPU1Temp", "CPU1 Temp", "Temperature", "Cel", 48.0, "OK"),
        ("Fan1", "Fan1", "Rotational", "RPM", 6000.0, "OK"),
        ("PS1", "PS1 Input Power", "Power", "W", 210.0, "OK"),
    ];
    write_sensors(&root, &healthy);
    let peer = Sushy::start_static(tree);
    let lab = lab_reading(&peer, 3).await;
    let h = lab.handle.clone();

    // The fan fails: the BMC says Critical. Two reads later: alarm and degrade.
    let mut failing = healthy;
    failing[1] = ("Fan1", "Fan1", "Rotational", "RPM", 300.0, "Critical");
    write_sensors(&root, &failing);
    assert!(until(3, || async { !alarms(&h).await.is_empty() }).await);
    assert_eq!(
        alarms(&h).await,
        [(
            "200.007".into(),
            "host=worker-0.sensor=Fan1".into(),
            "critical".into()
        )]
    );
    let degraded = |h: ControllerHandle| async move {
        h.host("worker-0")
            .await
            .unwrap()
            .unwrap()
            .degrade
            .has(DegradeMask::HWMON)
    };
    assert!(degraded(h.clone()).await);

    // Replaced: healthy again, the alarm and the degrade clear.
    write_sensors(&root, &healthy);
    assert!(until(3, || async { alarms(&h).await.is_empty() }).await);
    assert!(!degraded(h.clone()).await);

    // The supply is pulled: gone from the collection, the sensor goes offline (two reads).
    write_sensors(&root, &healthy[..2]);
    let offline = until(3, || async {
        let v = h.host_sensors("worker-0").await.unwrap();
        v.sensors
            .iter()
            .any(|s| s.record.name == "PS1 Input Power" && s.record.status.as_str() == "offline")
    })
    .await;
    assert!(offline, "{:?}", h.host_sensors("worker-0").await);
    lab.shutdown().await;
}
