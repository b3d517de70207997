//! `steward-bmc` against `sushy-static` (PyPI sushy-tools) serving mockup trees written
//! here: a BMC with a manager LogService (the Redfish side of `sel()`), legacy
//! Thermal/Power sensors with thresholds and health, and a pre-1.0 Redfish service that
//! dynamic learning must not pick.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use steward_bmc::{Bmc, BmcError, BmcProtocol, SensorKind, SensorStatus};
use support::{put, require_sushy_static, Sushy};

const V1: &str = "/redfish/v1";

fn link(rel: &str) -> serde_json::Value {
    json!({ "@odata.id": format!("{V1}/{rel}") })
}

fn collection(root: &Path, rel: &str, members: &[&str]) {
    let m: Vec<_> = members.iter().map(|r| link(r)).collect();
    put(
        root,
        rel,
        json!({"@odata.id": format!("{V1}/{rel}"), "Members@odata.count": m.len(), "Members": m}),
    );
}

fn write_tree(root: &Path, version: &str) {
    put(
        root,
        "",
        json!({"@odata.id": "/redfish/v1/", "RedfishVersion": version, "Vendor": "HPE",
               "Systems": link("Systems"), "Managers": link("Managers"), "Chassis": link("Chassis")}),
    );
    collection(root, "Systems", &["Systems/1"]);
    put(
        root,
        "Systems/1",
        json!({"Id": "1", "Manufacturer": "HPE", "Model": "ProLiant DL360 Gen10", "PowerState": "On",
               "SerialNumber": "CZ1234",
               "Actions": {"#ComputerSystem.Reset": {"target": format!("{V1}/Systems/1/Actions/ComputerSystem.Reset"),
                   "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "GracefulShutdown", "ForceRestart"]}},
               "Boot": {"BootSourceOverrideTarget": "None", "BootSourceOverrideEnabled": "Disabled"}}),
    );
    collection(root, "Managers", &["Managers/1"]);
    put(
        root,
        "Managers/1",
        json!({"Id": "1", "FirmwareVersion": "iLO 5 v2.72", "Model": "iLO 5", "ManagerType": "BMC",
               "LogServices": link("Managers/1/LogServices")}),
    );
    collection(
        root,
        "Managers/1/LogServices",
        &["Managers/1/LogServices/IEL"],
    );
    put(
        root,
        "Managers/1/LogServices/IEL",
        json!({"Id": "IEL", "Entries": link("Managers/1/LogServices/IEL/Entries")}),
    );
    // One expanded member, one bare link (fetched by the client).
    put(
        root,
        "Managers/1/LogServices/IEL/Entries",
        json!({"Members@odata.count": 2, "Members": [
            {"@odata.id": format!("{V1}/Managers/1/LogServices/IEL/Entries/1"), "Id": "1",
             "Created": "2026-11-20T10:00:00Z", "Severity": "OK", "Message": "Server power restored."},
            link("Managers/1/LogServices/IEL/Entries/2")]}),
    );
    put(
        root,
        "Managers/1/LogServices/IEL/Entries/2",
        json!({"Id": "2", "Created": "2026-11-21T11:00:00Z", "Severity": "Critical",
               "Message": "Fan 3 failed."}),
    );
    collection(root, "Chassis", &["Chassis/1"]);
    put(
        root,
        "Chassis/1",
        json!({"Id": "1", "Thermal": link("Chassis/1/Thermal"), "Power": link("Chassis/1/Power")}),
    );
    put(
        root,
        "Chassis/1/Thermal",
        json!({"Temperatures": [
                  {"MemberId": "0", "Name": "01-Inlet Ambient", "ReadingCelsius": 21,
                   "UpperThresholdCritical": 42, "UpperThresholdFatal": 46, "Status": {"Health": "OK", "State": "Enabled"}},
                  {"MemberId": "1", "Name": "02-CPU 1", "ReadingCelsius": null, "Status": {"State": "Absent"}}],
               "Fans": [{"MemberId": "0", "FanName": "Fan 1", "Reading": 23, "ReadingUnits": "Percent",
                         "Status": {"Health": "OK", "State": "Enabled"}}]}),
    );
    put(
        root,
        "Chassis/1/Power",
        json!({"Voltages": [{"Name": "12V", "ReadingVolts": 12.1, "UpperThresholdCritical": 13.2,
                             "LowerThresholdCritical": 10.8, "LowerThresholdNonRecoverable": 10.0,
                             "Status": {"Health": "OK", "State": "Enabled"}},
                            {"Name": "5V", "ReadingVolts": 4.2, "LowerThresholdCritical": 4.5,
                             "Status": {"State": "Enabled"}}]}),
    );
}

fn tree(version: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    write_tree(d.path(), version);
    d
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manager_log_service_and_sensors_normalized() {
    if !require_sushy_static() {
        return;
    }
    let peer = Sushy::start_static(tree("1.6.0"));
    let mut bmc = Bmc::connect(support::sushy_config(&peer, BmcProtocol::Dynamic))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", peer.log_tail()));
    assert_eq!(bmc.protocol(), BmcProtocol::Redfish);
    let info = bmc.info().await.expect("info");
    assert_eq!(info.manufacturer.as_deref(), Some("HPE"));
    assert_eq!(info.model.as_deref(), Some("ProLiant DL360 Gen10"));
    assert_eq!(info.firmware.as_deref(), Some("iLO 5 v2.72"));
    assert_eq!(info.serial_number.as_deref(), Some("CZ1234"));

    let sel = bmc.sel().await.expect("log entries");
    assert_eq!(sel.len(), 2, "{sel:?}");
    assert_eq!(sel[0].message, "Server power restored.");
    assert_eq!(sel[1].id, "2");
    assert_eq!(sel[1].severity.as_deref(), Some("Critical"));
    assert_eq!(sel[1].timestamp.as_deref(), Some("2026-11-21T11:00:00Z"));

    let s = bmc.sensors().await.expect("sensors");
    let get = |n: &str| {
        s.iter()
            .find(|r| r.name == n)
            .unwrap_or_else(|| panic!("{n}: {s:?}"))
    };
    let inlet = get("01-Inlet Ambient");
    assert_eq!(
        (inlet.kind, inlet.value, inlet.unit.as_deref(), inlet.status),
        (
            SensorKind::Temperature,
            Some(21.0),
            Some("C"),
            SensorStatus::Ok
        )
    );
    assert_eq!(inlet.thresholds.upper_critical, Some(42.0));
    assert_eq!(inlet.thresholds.upper_non_recoverable, Some(46.0));
    assert_eq!(get("02-CPU 1").status, SensorStatus::Unavailable);
    let fan = get("Fan 1");
    assert_eq!(
        (fan.kind, fan.unit.as_deref()),
        (SensorKind::Fan, Some("%"))
    );
    let v12 = get("12V");
    assert_eq!(
        (v12.kind, v12.unit.as_deref()),
        (SensorKind::Voltage, Some("V"))
    );
    assert_eq!(v12.thresholds.lower_non_recoverable, Some(10.0));
    // No Health from the BMC: status comes from the thresholds.
    assert_eq!(get("5V").status, SensorStatus::Critical);
    bmc.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pre_1_0_redfish_is_not_learned() {
    if !require_sushy_static() {
        return;
    }
    let peer = Sushy::start_static(tree("0.9.5"));
    // Explicit Redfish still works (the operator asked for it)...
    let bmc = Bmc::connect(support::sushy_config(&peer, BmcProtocol::Redfish))
        .await
        .expect("explicit redfish");
    assert_eq!(bmc.protocol(), BmcProtocol::Redfish);
    bmc.close().await.unwrap();
    // ...but learning picks IPMI, which nothing answers here: a typed IPMI error.
    let mut cfg = support::sushy_config(&peer, BmcProtocol::Dynamic);
    cfg.ipmi_timeout = Duration::from_millis(200);
    cfg.ipmi_retries = 0;
    match Bmc::connect(cfg).await {
        Err(e @ BmcError::NoProtocol { .. }) => {
            let m = e.to_string();
            assert!(m.contains("RedfishVersion 0.9.5, below 1.0"), "{m}");
            assert!(m.contains("IPMI (RMCP+) on UDP"), "{m}");
            assert!(m.contains("use --protocol redfish to use it anyway"), "{m}");
        }
        other => panic!("expected both attempts listed, got {other:?}"),
    }
}
