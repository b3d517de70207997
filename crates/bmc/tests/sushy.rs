//! `steward-bmc` against a real `sushy-emulator --fake` (PyPI sushy-tools).
//! The fake driver applies power changes after a random 1–11 s, so every power action
//! here really waits for the read-back. No wall-clock assertions.

mod support;

use steward_bmc::{
    Bmc, BmcError, BmcProtocol, BootTarget, PowerAction, PowerState, SensorKind, SensorStatus,
};
use support::{require_sushy, Sushy};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_learns_redfish_info_sensors_sel_bootdev() {
    if !require_sushy() {
        return;
    }
    let peer = Sushy::start();
    let mut bmc = Bmc::connect(support::sushy_config(&peer, BmcProtocol::Dynamic))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", peer.log_tail()));
    assert_eq!(bmc.protocol(), BmcProtocol::Redfish);
    let info = bmc.info().await.expect("info");
    assert_eq!(info.protocol, Some(BmcProtocol::Redfish));
    assert_eq!(info.manufacturer.as_deref(), Some("Sushy Emulator"));
    assert_eq!(info.firmware.as_deref(), Some("1.00"));
    assert_eq!(info.protocol_version.as_deref(), Some("1.5.0"));

    let s = bmc.sensors().await.expect("sensors");
    let cpu = s.iter().find(|r| r.name == "CPU Temp").expect("CPU Temp");
    assert_eq!(cpu.kind, SensorKind::Temperature);
    assert_eq!(cpu.value, Some(41.0));
    assert_eq!(cpu.unit.as_deref(), Some("C"));
    assert_eq!(cpu.status, SensorStatus::Ok);
    assert!(s.iter().any(|r| r.kind == SensorKind::Fan), "{s:?}");

    // sushy-emulator publishes no LogService: typed Unsupported naming the fix.
    match bmc.sel().await {
        Err(e @ BmcError::Unsupported { .. }) => {
            assert!(e.to_string().contains("LogService"), "{e}")
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    bmc.set_boot_device(BootTarget::Pxe, true)
        .await
        .expect("pxe once");
    bmc.set_boot_device(BootTarget::Disk, false)
        .await
        .expect("disk");
    bmc.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_actions_read_back() {
    if !require_sushy() {
        return;
    }
    let peer = Sushy::start();
    let mut bmc = Bmc::connect(support::sushy_config(&peer, BmcProtocol::Redfish))
        .await
        .expect("connect");
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::Off);
    assert_eq!(bmc.power(PowerAction::On).await.unwrap(), PowerState::On);
    assert_eq!(bmc.power(PowerAction::Off).await.unwrap(), PowerState::Off);
    assert_eq!(bmc.power(PowerAction::On).await.unwrap(), PowerState::On);
    // ForceRestart: the fake goes Off at once and On later; done only when On reads back.
    assert_eq!(bmc.power(PowerAction::Reset).await.unwrap(), PowerState::On);
    // No PowerCycle in the fake's ResetType list: off + on fallback.
    assert_eq!(bmc.power(PowerAction::Cycle).await.unwrap(), PowerState::On);
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::On);
    bmc.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_scheme_is_not_redfish() {
    if !require_sushy() {
        return;
    }
    let peer = Sushy::start();
    // Explicit Redfish over https to a plain-http peer: a typed, non-panicking error.
    let cfg = support::config(
        &format!("https://127.0.0.1:{}", peer.port),
        BmcProtocol::Redfish,
    );
    assert!(Bmc::connect(cfg).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_boot_status_enable_disable() {
    if !require_sushy() {
        return;
    }
    let peer = Sushy::start();
    let mut bmc = Bmc::connect(support::sushy_config(&peer, BmcProtocol::Dynamic))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", peer.log_tail()));
    let before = bmc.secure_boot().await.expect("status");
    assert_eq!(before.enabled, Some(false));
    assert_eq!(before.current_boot, Some(false));
    assert_eq!(before.mode.as_deref(), Some("DeployedMode"));
    let on = bmc.set_secure_boot(true).await.expect("enable");
    assert_eq!(on.enabled, Some(true));
    assert_eq!(bmc.secure_boot().await.expect("status").enabled, Some(true));
    let off = bmc.set_secure_boot(false).await.expect("disable");
    assert_eq!(off.enabled, Some(false));
    assert!(!off.pending_reset());
    bmc.close().await.expect("close");
}
