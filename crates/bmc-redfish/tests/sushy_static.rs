//! Integration tests against `sushy-static` (PyPI sushy-tools) serving mockup trees that the
//! tests write themselves: a Dell-iDRAC-like tree with new-style Sensors, ActionInfo and
//! Manager virtual media, and an HPE-like tree with legacy Thermal/Power.
//!
//! sushy-static answers every POST/PATCH with 204 and changes nothing, which makes it a good
//! peer for "the client verifies by read-back" tests, and it logs request headers, which lets
//! us check OData-Version and If-Match on the wire.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use steward_bmc_redfish::{
    AuthKind, AuthMode, BootEnabled, BootOverride, BootTarget, ClientConfig, PowerAction,
    RedfishClient, RedfishError, ResetType, SensorKind, SensorSource, VmediaLocation,
};

const V1: &str = "/redfish/v1";

fn config(url: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(url, "root", "calvin");
    cfg.retry_base_delay = Duration::from_millis(100);
    cfg
}

fn link(rel: &str) -> serde_json::Value {
    json!({ "@odata.id": format!("{V1}/{rel}") })
}

fn collection(root: &Path, rel: &str, members: &[&str]) {
    let m: Vec<_> = members.iter().map(|r| link(r)).collect();
    common::put(
        root,
        rel,
        json!({"@odata.id": format!("{V1}/{rel}"), "Members@odata.count": m.len(), "Members": m}),
    );
}

/// Dell iDRAC9 (firmware < 6.00.02) shape: vmedia under the Manager, ActionInfo for resets,
/// new-style Sensors collection (one member expanded inline), SessionService advertised.
fn write_dell_tree(root: &Path) {
    let sys = "Systems/System.Embedded.1";
    let mgr = "Managers/iDRAC.Embedded.1";
    let ch = "Chassis/System.Embedded.1";
    common::put(
        root,
        "",
        json!({
            "@odata.id": "/redfish/v1/", "RedfishVersion": "1.11.0", "Vendor": "Dell",
            "Systems": link("Systems"), "Managers": link("Managers"), "Chassis": link("Chassis"),
            "SessionService": link("SessionService"),
            "Links": {"Sessions": link("SessionService/Sessions")}
        }),
    );
    collection(root, "Systems", &[sys]);
    common::put(
        root,
        sys,
        json!({
            "@odata.id": format!("{V1}/{sys}"), "@odata.etag": "W/\"sys-etag-1\"",
            "Id": "System.Embedded.1", "Manufacturer": "Dell Inc.", "Model": "PowerEdge R640",
            "PowerState": "On", "Status": {"Health": "OK", "State": "Enabled"},
            "Boot": {"BootSourceOverrideTarget": "None", "BootSourceOverrideEnabled": "Disabled",
                     "BootSourceOverrideMode": "UEFI",
                     "BootSourceOverrideTarget@Redfish.AllowableValues": ["None", "Pxe", "Cd", "Hdd", "BiosSetup"],
                     "BootSourceOverrideMode@Redfish.AllowableValues": ["UEFI", "Legacy"]},
            "Actions": {"#ComputerSystem.Reset": {
                "target": format!("{V1}/{sys}/Actions/ComputerSystem.Reset"),
                "@Redfish.ActionInfo": format!("{V1}/{sys}/ResetActionInfo")}},
            "Links": {"Chassis": [link(ch)], "ManagedBy": [link(mgr)]}
        }),
    );
    common::put(
        root,
        &format!("{sys}/ResetActionInfo"),
        json!({"Parameters": [{"Name": "ResetType", "Required": true, "DataType": "String",
            "AllowableValues": ["On", "ForceOff", "ForceRestart", "GracefulShutdown", "PushPowerButton", "Nmi", "PowerCycle"]}]}),
    );
    collection(root, "Managers", &[mgr]);
    common::put(
        root,
        mgr,
        json!({"@odata.id": format!("{V1}/{mgr}"), "Id": "iDRAC.Embedded.1", "ManagerType": "BMC",
               "FirmwareVersion": "5.10.50.00", "Model": "14G Monolithic",
               "VirtualMedia": link(&format!("{mgr}/VirtualMedia"))}),
    );
    collection(
        root,
        &format!("{mgr}/VirtualMedia"),
        &[
            &format!("{mgr}/VirtualMedia/RemovableDisk"),
            &format!("{mgr}/VirtualMedia/CD"),
        ],
    );
    common::put(
        root,
        &format!("{mgr}/VirtualMedia/RemovableDisk"),
        json!({"Id": "RemovableDisk", "MediaTypes": ["USBStick"], "Inserted": false}),
    );
    common::put(
        root,
        &format!("{mgr}/VirtualMedia/CD"),
        json!({"Id": "CD", "MediaTypes": ["CD", "DVD"], "Inserted": false, "Image": null,
               "Actions": {
                 "#VirtualMedia.InsertMedia": {"target": format!("{V1}/{mgr}/VirtualMedia/CD/Actions/VirtualMedia.InsertMedia")},
                 "#VirtualMedia.EjectMedia": {"target": format!("{V1}/{mgr}/VirtualMedia/CD/Actions/VirtualMedia.EjectMedia")}}}),
    );
    collection(root, "Chassis", &[ch]);
    common::put(
        root,
        ch,
        json!({"Id": "System.Embedded.1", "Sensors": link(&format!("{ch}/Sensors")),
               "Thermal": link(&format!("{ch}/Thermal"))}),
    );
    // Thermal exists too but must not be used: Sensors wins.
    common::put(
        root,
        &format!("{ch}/Thermal"),
        json!({"Temperatures": [{"Name": "legacy-should-not-appear", "ReadingCelsius": 1}]}),
    );
    let sensors = format!("{ch}/Sensors");
    common::put(
        root,
        &sensors,
        json!({"Members": [
            link(&format!("{sensors}/CPU1Temp")),
            link(&format!("{sensors}/PS1Voltage")),
            link(&format!("{sensors}/PS1InputPower")),
            link(&format!("{sensors}/PS1Current")),
            // Expanded member (services honouring $expand inline the resource).
            {"@odata.id": format!("{V1}/{sensors}/Fan1A"), "Id": "Fan1A", "Name": "System Board Fan1A",
             "ReadingType": "Rotational", "Reading": 5880, "ReadingUnits": "RPM",
             "Status": {"Health": "OK", "State": "Enabled"},
             "Thresholds": {"LowerCritical": {"Reading": 480}, "LowerCaution": {"Reading": 840}}}
        ]}),
    );
    common::put(
        root,
        &format!("{sensors}/CPU1Temp"),
        json!({"Id": "CPU1Temp", "Name": "CPU1 Temp", "ReadingType": "Temperature", "Reading": 39,
               "ReadingUnits": "Cel", "Status": {"Health": "OK", "State": "Enabled"},
               "Thresholds": {"UpperCaution": {"Reading": 88}, "UpperCritical": {"Reading": 93},
                              "UpperFatal": {"Reading": 98, "DwellTime": "PT5S"},
                              "LowerCritical": {"Reading": 3}}}),
    );
    common::put(
        root,
        &format!("{sensors}/PS1Voltage"),
        json!({"Id": "PS1Voltage", "Name": "PS1 Voltage 1", "ReadingType": "Voltage", "Reading": 230.0,
               "ReadingUnits": "V", "Status": {"Health": "Warning", "State": "Enabled"}}),
    );
    common::put(
        root,
        &format!("{sensors}/PS1InputPower"),
        json!({"Id": "PS1InputPower", "Name": "PS1 Input Power", "ReadingType": "Power", "Reading": 312,
               "ReadingUnits": "W"}),
    );
    common::put(
        root,
        &format!("{sensors}/PS1Current"),
        json!({"Id": "PS1Current", "Name": "PS1 Current 1", "ReadingType": "Current", "Reading": 1.4,
               "ReadingUnits": "A", "Status": {"State": "Absent"}}),
    );
}

/// HPE iLO-like shape: no SessionService, inline ResetType list without PowerCycle, an empty
/// Sensors collection, and legacy Thermal + Power.
fn write_hpe_tree(root: &Path) {
    common::put(
        root,
        "",
        json!({"@odata.id": "/redfish/v1/", "RedfishVersion": "1.6.0", "Vendor": "HPE",
               "Systems": link("Systems"), "Managers": link("Managers"), "Chassis": link("Chassis")}),
    );
    collection(root, "Systems", &["Systems/1"]);
    common::put(
        root,
        "Systems/1",
        json!({"Id": "1", "Manufacturer": "HPE", "Model": "ProLiant DL360 Gen10", "PowerState": "Off",
               "Actions": {"#ComputerSystem.Reset": {"target": format!("{V1}/Systems/1/Actions/ComputerSystem.Reset"),
                   "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "GracefulShutdown", "ForceRestart", "Nmi", "PushPowerButton"]}},
               "Boot": {"BootSourceOverrideTarget": "None", "BootSourceOverrideEnabled": "Disabled"},
               "VirtualMedia": link("Systems/1/VirtualMedia")}),
    );
    collection(root, "Systems/1/VirtualMedia", &[]);
    // Managers and Chassis are found through the collections (no Links on the System).
    collection(root, "Managers", &["Managers/1"]);
    common::put(
        root,
        "Managers/1",
        json!({"Id": "1", "FirmwareVersion": "iLO 5 v2.72", "Model": "iLO 5", "ManagerType": "BMC",
               "VirtualMedia": link("Managers/1/VirtualMedia")}),
    );
    collection(
        root,
        "Managers/1/VirtualMedia",
        &["Managers/1/VirtualMedia/2"],
    );
    common::put(
        root,
        "Managers/1/VirtualMedia/2",
        json!({"Id": "2", "MediaTypes": ["CD", "DVD"], "Inserted": true, "Image": "http://old/old.iso",
               "ConnectedVia": "URI"}),
    );
    collection(root, "Chassis", &["Chassis/1"]);
    common::put(
        root,
        "Chassis/1",
        json!({"Id": "1", "Sensors": link("Chassis/1/Sensors"), "Thermal": link("Chassis/1/Thermal"),
               "Power": link("Chassis/1/Power")}),
    );
    collection(root, "Chassis/1/Sensors", &[]);
    common::put(
        root,
        "Chassis/1/Thermal",
        json!({"Temperatures": [
                  {"MemberId": "0", "Name": "01-Inlet Ambient", "ReadingCelsius": 21,
                   "UpperThresholdCritical": 42, "UpperThresholdFatal": 46, "Status": {"Health": "OK", "State": "Enabled"}},
                  {"MemberId": "1", "Name": "02-CPU 1", "ReadingCelsius": null, "Status": {"State": "Absent"}}],
               "Fans": [{"MemberId": "0", "FanName": "Fan 1", "Reading": 23, "ReadingUnits": "Percent",
                         "Status": {"Health": "OK", "State": "Enabled"}}]}),
    );
    common::put(
        root,
        "Chassis/1/Power",
        json!({"Voltages": [{"Name": "12V", "ReadingVolts": 12.1, "UpperThresholdCritical": 13.2,
                             "LowerThresholdCritical": 10.8, "LowerThresholdNonRecoverable": 10.0}],
               "PowerSupplies": [{"MemberId": "0", "LastPowerOutputWatts": 180, "Status": {"Health": "Critical", "State": "Enabled"}}],
               "PowerControl": [{"Name": "System Power Control", "PowerConsumedWatts": 190}]}),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dell_like_tree_new_style_sensors_action_info_and_manager_vmedia() {
    let tree = common::TempDir::new("dell");
    write_dell_tree(tree.path());
    let Some(peer) = common::sushy_static(tree) else {
        return;
    };
    let bmc = RedfishClient::connect(config(&peer.url()))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", peer.log_tail()));

    // SessionService advertised, but sushy-static's 204 carries no X-Auth-Token: basic fallback.
    assert_eq!(bmc.auth_kind().await, AuthKind::Basic);
    assert_eq!(bmc.service_root().vendor.as_deref(), Some("Dell"));
    let topo = bmc.topology();
    assert_eq!(topo.system, "/redfish/v1/Systems/System.Embedded.1");
    assert_eq!(topo.firmware.as_deref(), Some("5.10.50.00"));
    assert_eq!(bmc.quirks().vmedia_location, VmediaLocation::ManagersFirst);
    assert_eq!(bmc.quirks().conflict_retries, 6);

    // ResetType list comes from the ActionInfo resource.
    let allowed = bmc
        .allowed_reset_types()
        .await
        .expect("action info")
        .expect("some list");
    assert!(allowed.contains(&"PowerCycle".to_owned()), "{allowed:?}");
    assert_eq!(
        bmc.power(PowerAction::Cycle).await.expect("cycle"),
        ResetType::PowerCycle
    );
    assert!(matches!(
        bmc.reset(ResetType::ForceOn).await,
        Err(RedfishError::Unsupported { .. })
    ));

    // New-style sensors, including the inline-expanded member; legacy Thermal ignored.
    let set = bmc.sensors(None).await.expect("sensors");
    assert_eq!(set.source, SensorSource::SensorsCollection);
    assert_eq!(set.readings.len(), 5, "{:?}", set.readings);
    assert!(set
        .readings
        .iter()
        .all(|r| r.name != "legacy-should-not-appear"));
    let cpu = set
        .readings
        .iter()
        .find(|r| r.name == "CPU1 Temp")
        .expect("cpu");
    assert_eq!(
        (cpu.kind, cpu.reading, cpu.units.as_deref()),
        (SensorKind::Temperature, Some(39.0), Some("Cel"))
    );
    assert_eq!(cpu.thresholds.upper_noncritical, Some(88.0));
    assert_eq!(cpu.thresholds.upper_critical, Some(93.0));
    assert_eq!(cpu.thresholds.upper_fatal, Some(98.0));
    assert_eq!(cpu.thresholds.lower_critical, Some(3.0));
    let fan = set
        .readings
        .iter()
        .find(|r| r.kind == SensorKind::Fan)
        .expect("fan");
    assert_eq!(
        (fan.reading, fan.thresholds.lower_noncritical),
        (Some(5880.0), Some(840.0))
    );
    let volt = set
        .readings
        .iter()
        .find(|r| r.kind == SensorKind::Voltage)
        .expect("voltage");
    assert_eq!(volt.health.as_deref(), Some("Warning"));
    assert!(set
        .readings
        .iter()
        .any(|r| r.kind == SensorKind::Power && r.reading == Some(312.0)));
    let cur = set
        .readings
        .iter()
        .find(|r| r.kind == SensorKind::Current)
        .expect("current");
    assert_eq!(cur.state.as_deref(), Some("Absent"));
    // By chassis Id too.
    assert_eq!(
        bmc.sensors(Some("System.Embedded.1"))
            .await
            .expect("by id")
            .readings
            .len(),
        5
    );

    // Virtual media found under the Manager (System has none), CD slot chosen over USBStick.
    let slots = bmc.cd_slots().await.expect("slots");
    assert_eq!(slots.len(), 1);
    assert_eq!(
        slots[0].odata_id,
        "/redfish/v1/Managers/iDRAC.Embedded.1/VirtualMedia/CD"
    );
    // sushy-static accepts InsertMedia but never changes state: read-back catches it.
    match bmc.insert_media("http://127.0.0.1:1/x.iso", true).await {
        Err(RedfishError::NotApplied { detail, .. }) => {
            assert!(detail.contains("Inserted"), "{detail}")
        }
        other => panic!("expected NotApplied, got {other:?}"),
    }

    // Boot override PATCH: If-Match from @odata.etag and OData-Version on the wire, then read-back.
    let req = BootOverride {
        target: BootTarget::Pxe,
        enabled: BootEnabled::Once,
        mode: None,
    };
    assert!(matches!(
        bmc.set_boot_override(&req).await,
        Err(RedfishError::NotApplied { .. })
    ));
    // Header names arrive lower-cased (HTTP/1 via hyper); compare case-insensitively.
    let log = std::fs::read_to_string(&peer.log)
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        log.contains("if-match: w/\"sys-etag-1\""),
        "no If-Match in:\n{log}"
    );
    assert!(
        log.contains("odata-version: 4.0"),
        "no OData-Version in:\n{log}"
    );
    assert!(
        log.contains("\"bootsourceoverridetarget\":\"pxe\""),
        "PATCH body not seen:\n{log}"
    );
    let bad = BootOverride {
        target: BootTarget::UsbCd,
        enabled: BootEnabled::Once,
        mode: None,
    };
    assert!(matches!(
        bmc.set_boot_override(&bad).await,
        Err(RedfishError::Unsupported { .. })
    ));
    bmc.close().await.expect("close");

    // Session-only mode: a 204 without a token is a typed protocol error.
    let mut cfg = config(&peer.url());
    cfg.auth = AuthMode::Session;
    match RedfishClient::connect(cfg).await {
        Err(RedfishError::UnexpectedShape { detail, .. }) => {
            assert!(detail.contains("X-Auth-Token"), "{detail}")
        }
        other => panic!("expected UnexpectedShape, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpe_like_tree_legacy_thermal_and_power() {
    let tree = common::TempDir::new("hpe");
    write_hpe_tree(tree.path());
    let Some(peer) = common::sushy_static(tree) else {
        return;
    };
    let bmc = RedfishClient::connect(config(&peer.url()))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", peer.log_tail()));
    assert_eq!(bmc.auth_kind().await, AuthKind::Basic);
    assert_eq!(
        bmc.topology().manager.as_deref(),
        Some("/redfish/v1/Managers/1")
    );
    assert_eq!(
        bmc.topology().chassis,
        vec!["/redfish/v1/Chassis/1".to_owned()]
    );
    assert!(bmc.quirks().eject_needs_empty_body);
    assert_eq!(
        bmc.manager_info()
            .await
            .expect("mgr")
            .firmware_version
            .as_deref(),
        Some("iLO 5 v2.72")
    );

    // Empty Sensors collection: fall back to Thermal + Power.
    let set = bmc.sensors(None).await.expect("sensors");
    assert_eq!(set.source, SensorSource::LegacyThermalPower);
    let names: Vec<_> = set.readings.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "01-Inlet Ambient",
            "02-CPU 1",
            "Fan 1",
            "12V",
            "Power Supply 0",
            "System Power Control"
        ]
    );
    let inlet = &set.readings[0];
    assert_eq!(
        (inlet.reading, inlet.thresholds.upper_fatal),
        (Some(21.0), Some(46.0))
    );
    assert_eq!(set.readings[1].reading, None);
    assert_eq!(set.readings[2].units.as_deref(), Some("%"));
    let v12 = &set.readings[3];
    assert_eq!(
        (v12.kind, v12.thresholds.lower_fatal),
        (SensorKind::Voltage, Some(10.0))
    );
    assert_eq!(set.readings[4].health.as_deref(), Some("Critical"));

    // No PowerCycle in the inline list: typed "use off+on".
    assert!(matches!(
        bmc.power(PowerAction::Cycle).await,
        Err(RedfishError::PowerCycleUnsupported { .. })
    ));

    // System VirtualMedia collection is empty, so the Manager's slot is used; stale media is
    // ejected (POST {} for iLO) before insert, and the static peer's no-op shows in read-back.
    let slots = bmc.cd_slots().await.expect("slots");
    assert_eq!(slots[0].odata_id, "/redfish/v1/Managers/1/VirtualMedia/2");
    assert!(slots[0].has_media());
    // No actions on this slot: eject goes through PATCH; the static peer ignores it.
    assert!(matches!(
        bmc.eject_media().await,
        Err(RedfishError::NotApplied { .. })
    ));
    bmc.close().await.expect("close");
}
