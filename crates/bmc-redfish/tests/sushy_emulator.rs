//! Integration tests against a real `sushy-emulator --fake` (PyPI sushy-tools) on loopback.
//! Each test owns its emulator (the fake driver keeps state in memory per process).

mod common;

use std::time::Duration;

use steward_bmc_redfish::{
    AuthKind, AuthMode, BootEnabled, BootMode, BootOverride, BootTarget, ClientConfig, PowerAction,
    PowerState, RedfishClient, RedfishError, ResetType,
};

/// Fake-driver power changes land after a random 1–11 s; be generous on a shared machine.
const POWER_WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(500);

fn config(url: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(url, "admin", "password");
    cfg.retry_base_delay = Duration::from_millis(200);
    cfg
}

async fn connect(url: &str) -> RedfishClient {
    RedfishClient::connect(config(url))
        .await
        .expect("connect to sushy-emulator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_and_manager_info() {
    let Some(peer) = common::sushy_emulator("") else {
        return;
    };
    let bmc = connect(&peer.url()).await;
    assert_eq!(bmc.service_root().redfish_version.as_deref(), Some("1.5.0"));
    let topo = bmc.topology().clone();
    assert!(topo.system.starts_with("/redfish/v1/Systems/"), "{topo:?}");
    assert!(topo.manager.is_some(), "{topo:?}");
    assert!(!topo.chassis.is_empty(), "{topo:?}");
    assert_eq!(topo.manufacturer.as_deref(), Some("Sushy Emulator"));
    // No SessionService on sushy-emulator: auto mode falls back to basic.
    assert_eq!(bmc.auth_kind().await, AuthKind::Basic);
    assert!(bmc.quirks().no_sessions && bmc.quirks().boot_once_reads_continuous);
    let mgr = bmc.manager_info().await.expect("manager");
    assert_eq!(mgr.firmware_version.as_deref(), Some("1.00"));
    assert_eq!(mgr.model.as_deref(), Some("Joo Janta 200"));
    assert_eq!(mgr.manager_type.as_deref(), Some("BMC"));
    let sys = bmc.system().await.expect("system");
    assert_eq!(sys.power_state, Some(PowerState::Off));
    assert!(sys
        .reset_allowed
        .as_ref()
        .is_some_and(|a| a.iter().any(|v| v == "ForceOff")));
    // Picking the system by Id works too.
    let id = sys.id.clone().expect("system Id");
    let mut cfg = config(&peer.url());
    cfg.system_id = Some(id);
    let again = RedfishClient::connect(cfg).await.expect("connect by id");
    assert_eq!(again.topology().system, topo.system);
    let mut cfg = config(&peer.url());
    cfg.system_id = Some("no-such-system".into());
    assert!(matches!(
        RedfishClient::connect(cfg).await,
        Err(RedfishError::NotFound { .. })
    ));
    // Legacy Thermal is the only sensor shape sushy-emulator serves.
    let sensors = bmc.sensors(None).await.expect("sensors");
    assert_eq!(
        sensors.source,
        steward_bmc_redfish::SensorSource::LegacyThermalPower
    );
    let cpu = sensors
        .readings
        .iter()
        .find(|r| r.name == "CPU Temp")
        .expect("CPU Temp");
    assert_eq!(cpu.reading, Some(41.0));
    assert!(sensors
        .readings
        .iter()
        .any(|r| r.kind == steward_bmc_redfish::SensorKind::Fan));
    bmc.close().await.expect("close");
    again.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_on_off_reset_cycle_with_read_back() {
    let Some(peer) = common::sushy_emulator("") else {
        return;
    };
    let bmc = connect(&peer.url()).await;
    assert_eq!(bmc.power_state().await.expect("state"), PowerState::Off);

    assert_eq!(bmc.power(PowerAction::On).await.expect("on"), ResetType::On);
    bmc.wait_power_state(PowerState::On, POWER_WAIT, POLL)
        .await
        .expect("reads back On");

    assert_eq!(
        bmc.power(PowerAction::OffForced).await.expect("off"),
        ResetType::ForceOff
    );
    bmc.wait_power_state(PowerState::Off, POWER_WAIT, POLL)
        .await
        .expect("reads back Off");

    bmc.reset(ResetType::On).await.expect("raw On");
    bmc.wait_power_state(PowerState::On, POWER_WAIT, POLL)
        .await
        .expect("On again");

    assert_eq!(
        bmc.power(PowerAction::Reset).await.expect("reset"),
        ResetType::ForceRestart
    );
    bmc.wait_power_state(PowerState::On, POWER_WAIT, POLL)
        .await
        .expect("On after restart");

    // The fake driver does not offer PowerCycle: typed error naming the fix and the allowed list.
    match bmc.power(PowerAction::Cycle).await {
        Err(e @ RedfishError::PowerCycleUnsupported { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("power off followed by power on") && msg.contains("ForceOff"),
                "{msg}"
            );
        }
        other => panic!("expected PowerCycleUnsupported, got {other:?}"),
    }
    match bmc.reset(ResetType::PowerCycle).await {
        Err(RedfishError::Unsupported { allowed, .. }) => {
            assert!(allowed.contains(&"On".to_owned()))
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    let used_fallback = bmc
        .power_cycle_with_fallback(POWER_WAIT, POLL)
        .await
        .expect("cycle via off+on");
    assert!(used_fallback);
    assert_eq!(bmc.power_state().await.expect("state"), PowerState::On);
    bmc.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_override_set_and_read_back() {
    let Some(peer) = common::sushy_emulator("") else {
        return;
    };
    let bmc = connect(&peer.url()).await;
    let before = bmc.boot_settings().await.expect("boot");
    assert_eq!(before.target, Some(BootTarget::Hdd));

    let back = bmc
        .set_boot_override(&BootOverride {
            target: BootTarget::Pxe,
            enabled: BootEnabled::Once,
            mode: None,
        })
        .await
        .expect("pxe once");
    assert_eq!(back.target, Some(BootTarget::Pxe));
    // sushy fake driver quirk: Once reads back as Continuous (accepted via the quirk table).
    assert!(matches!(
        back.enabled,
        Some(BootEnabled::Once | BootEnabled::Continuous)
    ));

    let back = bmc
        .set_boot_override(&BootOverride {
            target: BootTarget::Cd,
            enabled: BootEnabled::Continuous,
            mode: Some(BootMode::Uefi),
        })
        .await
        .expect("cd continuous uefi");
    assert_eq!(back.target, Some(BootTarget::Cd));
    assert_eq!(back.enabled, Some(BootEnabled::Continuous));
    assert_eq!(back.mode, Some(BootMode::Uefi));

    // BiosSetup is not in sushy's BootSourceOverrideTarget@Redfish.AllowableValues.
    match bmc
        .set_boot_override(&BootOverride {
            target: BootTarget::BiosSetup,
            enabled: BootEnabled::Once,
            mode: None,
        })
        .await
    {
        Err(RedfishError::Unsupported { allowed, .. }) => {
            assert!(allowed.contains(&"Pxe".to_owned()))
        }
        other => panic!("expected Unsupported, got {other:?}"),
    }
    assert_eq!(
        bmc.boot_settings().await.expect("boot").target,
        Some(BootTarget::Cd)
    );
    bmc.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn virtual_media_insert_eject_with_read_back() {
    let Some(peer) = common::sushy_emulator("") else {
        return;
    };
    let image_port = common::serve_image(vec![0u8; 4096]);
    let image = format!("http://127.0.0.1:{image_port}/steward-install.iso");
    let bmc = connect(&peer.url()).await;

    let slots = bmc.cd_slots().await.expect("cd slots");
    assert_eq!(slots[0].id.as_deref(), Some("Cd"), "{slots:?}");
    assert!(!slots[0].has_media());

    let slot = bmc
        .insert_media(&image, true)
        .await
        .unwrap_or_else(|e| panic!("insert: {e}\n{}", peer.log_tail()));
    assert_eq!(slot.inserted, Some(true));
    assert_eq!(slot.image.as_deref(), Some(image.as_str()));
    assert_eq!(slot.write_protected, Some(true));
    let status = bmc.cd_media_status().await.expect("status");
    assert!(status.has_media());
    assert_eq!(status.image_name.as_deref(), Some("steward-install.iso"));

    // Re-inserting ejects the stale image first.
    let again = bmc.insert_media(&image, false).await.expect("re-insert");
    assert_eq!(again.write_protected, Some(false));

    bmc.eject_media().await.expect("eject");
    let status = bmc.cd_media_status().await.expect("status");
    assert_eq!(status.inserted, Some(false));
    assert_eq!(status.image, None);
    bmc.close().await.expect("close");
}

/// bcrypt("password") for user admin; sushy-emulator accepts only bcrypt htpasswd entries.
const HTPASSWD: &str = "admin:$2b$05$UTgW.YI0Fl2r70qS7V7NoOrNx5UxfpGlUteQHNEGQrn3D3YHravdm\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_file_and_wrong_credentials() {
    let dir = common::TempDir::new("htpasswd");
    let auth = dir.path().join("htpasswd");
    std::fs::write(&auth, HTPASSWD).expect("write htpasswd");
    let conf = format!(
        "SUSHY_EMULATOR_AUTH_FILE = {:?}\n",
        auth.display().to_string()
    );
    let Some(peer) = common::sushy_emulator(&conf) else {
        return;
    };

    let bmc = connect(&peer.url()).await;
    assert_eq!(bmc.auth_kind().await, AuthKind::Basic);
    assert_eq!(
        bmc.power_state().await.expect("state with basic auth"),
        PowerState::Off
    );
    bmc.close().await.expect("close");

    let mut bad = config(&peer.url());
    bad.credentials = steward_bmc_redfish::Credentials::new("admin", "wrong-password");
    match RedfishClient::connect(bad).await {
        Err(e @ RedfishError::AuthFailed { status: 401, .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("bm_username/bm_password"), "{msg}");
            assert!(!msg.contains("wrong-password"), "{msg}");
        }
        other => panic!("expected AuthFailed, got {other:?}"),
    }

    // Session auth demanded from a service without SessionService: typed error, not a hang.
    let mut session_only = config(&peer.url());
    session_only.auth = AuthMode::Session;
    assert!(matches!(
        RedfishClient::connect(session_only).await,
        Err(RedfishError::NotFound { .. })
    ));
}

#[tokio::test]
async fn unreachable_and_tls_errors_are_typed() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port());
    let port = port.expect("port");
    let mut cfg = config(&format!("http://127.0.0.1:{port}"));
    cfg.connect_timeout = Duration::from_secs(5);
    match RedfishClient::connect(cfg).await {
        Err(e @ RedfishError::Unreachable { .. }) => {
            assert!(e.to_string().contains("bm_ip"), "{e}")
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    // Plain http to a non-loopback address is refused before any traffic.
    let cfg = config("http://192.0.2.10");
    assert!(matches!(
        RedfishClient::connect(cfg).await,
        Err(RedfishError::InvalidAddress { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn self_signed_tls_needs_insecure() {
    let dir = common::TempDir::new("tls");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !made {
        if std::env::var_os("CI").is_some() {
            panic!("openssl CLI needed to make a self-signed certificate: apt-get install openssl");
        }
        common::loud_skip("openssl not available for the self-signed TLS test");
        return;
    }
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let Some(peer) =
        common::sushy_emulator_with("", &["--ssl-certificate", &c, "--ssl-key", &k], true)
    else {
        return;
    };
    let url = format!("https://127.0.0.1:{}", peer.port);
    match RedfishClient::connect(config(&url)).await {
        Err(e @ RedfishError::Tls { .. }) => assert!(e.to_string().contains("--insecure"), "{e}"),
        other => panic!("expected Tls, got {other:?}"),
    }
    let mut cfg = config(&url);
    cfg.insecure = true;
    let bmc = RedfishClient::connect(cfg)
        .await
        .unwrap_or_else(|e| panic!("insecure connect: {e}\n{}", peer.log_tail()));
    assert_eq!(
        bmc.power_state().await.expect("state over https"),
        PowerState::Off
    );
    bmc.close().await.expect("close");
}

/// sushy-emulator's fake driver keeps a secure-boot flag per system and reports the running
/// boot from the same flag (a real BMC changes `SecureBootCurrentBoot` only at the next reset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_boot_query_enable_disable() {
    let Some(peer) = common::sushy_emulator("") else {
        return;
    };
    let bmc = connect(&peer.url()).await;
    let before = bmc.secure_boot().await.expect("secure boot");
    assert_eq!(before.enabled, Some(false), "{before:?}");
    assert_eq!(before.current_boot.as_deref(), Some("Disabled"));
    assert_eq!(before.mode.as_deref(), Some("DeployedMode"));
    assert!(before.odata_id.ends_with("/SecureBoot"), "{before:?}");

    let on = bmc
        .set_secure_boot(true)
        .await
        .unwrap_or_else(|e| panic!("enable: {e}\n{}", peer.log_tail()));
    assert_eq!(on.enabled, Some(true));
    assert_eq!(bmc.secure_boot().await.expect("read").enabled, Some(true));

    let off = bmc.set_secure_boot(false).await.expect("disable");
    assert_eq!(off.enabled, Some(false));
    assert_eq!(off.current_enabled(), Some(false));
    bmc.close().await.expect("close");
}

/// `SUSHY_EMULATOR_FEATURE_SET = "vmedia"` links SecureBoot but answers 404: a clear NotFound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_boot_absent_is_not_found() {
    let Some(peer) = common::sushy_emulator("SUSHY_EMULATOR_FEATURE_SET = \"vmedia\"") else {
        return;
    };
    let bmc = connect(&peer.url()).await;
    match bmc.secure_boot().await {
        Err(e @ RedfishError::NotFound { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("SecureBoot"), "{msg}");
            assert!(msg.contains(&peer.url()), "names the BMC: {msg}");
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    bmc.close().await.expect("close");
}
