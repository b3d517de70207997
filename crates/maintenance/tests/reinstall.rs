//! Reinstall by virtual media, PXE and the agent (docs/handlers.md#reinstall): the stage order, the
//! progress in the task line and in the install state, the timeouts, and the clean-up of every
//! failure (media ejected, host powered off, left locked, critical log "reinstall failed: …").

mod support;

use steward_maintenance::alarm::LogId;
use steward_maintenance::host::{BmcProtocol, HostSpec, InstallMethod, InstallSpec, InstallState};
use steward_maintenance::state::*;
use steward_maintenance::*;
use support::*;

const IMAGE: &str = "http://images.example/steward-installer.iso";

fn spec(name: &str, protocol: BmcProtocol, install: InstallSpec) -> HostSpec {
    let mut s = Harness::spec(name, true);
    if let Some(b) = s.bmc.as_mut() {
        b.protocol = protocol;
    }
    s.install = install;
    s
}

fn vm_install() -> InstallSpec {
    InstallSpec {
        image: Some(IMAGE.into()),
        method: None,
    }
}

/// A standard system with worker-0 as given, locked.
fn locked(worker: HostSpec) -> Harness {
    let mut h = Harness::new(SystemType::Standard);
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.add_spec(worker, true);
    h.settle();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    assert_eq!(h.states("worker-0"), "locked-disabled-online");
    h
}

/// The BMC operations sent for `host`, in order, by kind.
fn bmc_kinds(h: &Harness, host: &str) -> Vec<&'static str> {
    h.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Bmc { host: n, op, .. } if n == host => Some(match op {
                BmcOp::PowerStatus => "status",
                BmcOp::PowerOn => "on",
                BmcOp::PowerOff => "off",
                BmcOp::PowerReset => "reset",
                BmcOp::NetbootOnce => "netboot",
                BmcOp::EjectMedia => "eject",
                BmcOp::InsertMedia { .. } => "insert",
                BmcOp::VerifyMedia { .. } => "verify",
                BmcOp::BootOnceVirtualCd => "boot-cd",
            }),
            _ => None,
        })
        .filter(|k| *k != "status")
        .collect()
}

/// Every distinct task line worker-0 showed, in order.
fn tasks_seen(h: &mut Harness, limit: std::time::Duration) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    let mut install: Vec<String> = Vec::new();
    let _ = h.until(limit, |h| {
        let t = h.task("worker-0");
        if seen.last() != Some(&t) {
            seen.push(t);
        }
        if let Some(s) = h.core.host("worker-0").and_then(|r| r.install.state) {
            let s = s.as_str().to_string();
            if install.last() != Some(&s) {
                install.push(s);
            }
        }
        h.action("worker-0") == Action::None
    });
    seen.extend(install.into_iter().map(|s| format!("install_state={s}")));
    seen
}

fn failure_log(h: &Harness) -> Option<(bool, String)> {
    h.effects.iter().find_map(|e| match e {
        Effect::Log(l) if l.host == "worker-0" && l.text.contains("reinstall failed") => {
            assert_eq!(l.id, LogId::StateChange, "200.022");
            Some((l.critical, l.text.clone()))
        }
        _ => None,
    })
}

#[test]
fn virtual_media_reinstall_runs_every_stage_in_order_and_ejects_at_the_end() {
    let mut h = locked(spec("worker-0", BmcProtocol::Redfish, vm_install()));
    h.node("worker-0").mount_after_reads = 2;
    let boot = h.node("worker-0").boot_id;
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    let seen = tasks_seen(&mut h, secs(3600));
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert_eq!(
        bmc_kinds(&h, "worker-0"),
        ["eject", "off", "insert", "verify", "verify", "verify", "boot-cd", "on", "eject"]
    );
    for line in [
        task::REINSTALL_EJECTING,
        task::REINSTALL_POWERING_OFF,
        task::REINSTALL_INSERTING,
        task::REINSTALL_MOUNT_WAIT,
        task::REINSTALL_BOOT_OVERRIDE,
        task::REINSTALL_POWERING_ON,
        task::REINSTALL_INSTALLING,
        task::REINSTALL_EJECT_AFTER,
        task::REINSTALL_SUCCEEDED,
        "install_state=preinstall",
        "install_state=booting",
        "install_state=installing",
        "install_state=postinstall",
        "install_state=completed",
    ] {
        assert!(seen.iter().any(|s| s == line), "{line:?} not in {seen:#?}");
    }
    let n = h.node("worker-0").clone();
    assert_ne!(n.boot_id, boot, "a fresh boot");
    assert_eq!(n.media, None, "ejected after the install");
    assert!(n.boot_cd_once);
    assert!(h.effects.iter().any(
        |e| matches!(e, Effect::Bmc { op: BmcOp::InsertMedia { image }, .. } if image == IMAGE)
    ));
    let r = h.core.host("worker-0").unwrap();
    assert_eq!(r.install.state, Some(InstallState::Completed));
    assert_eq!(r.states.admin, AdminState::Locked);
    assert_eq!(failure_log(&h), None);
}

#[test]
fn an_image_that_never_mounts_fails_after_the_mount_timeout_and_cleans_up() {
    let mut cfg = cfg();
    cfg.timeouts.reinstall_mount_timeout.0 = secs(40);
    let mut h = Harness::with_config(SystemType::Standard, cfg);
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.add_spec(spec("worker-0", BmcProtocol::Redfish, vm_install()), true);
    h.settle();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    h.node("worker-0").media_never_mounts = true;
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    h.until(secs(600), |h| h.action("worker-0") == Action::None)
        .unwrap();
    let Some(ActionOutcome::Failed { reason }) = h.journal_end(id) else {
        panic!("failed expected: {:?}", h.journal_end(id));
    };
    assert!(
        reason.contains("virtual media not mounted after 40s"),
        "{reason}"
    );
    let kinds = bmc_kinds(&h, "worker-0");
    // Read back every poll period (5 s, plus the 2 s the scripted BMC takes to answer) until the
    // 40 s mount timeout, then eject; the power-off finds the host already off.
    let verifies = kinds.iter().filter(|k| **k == "verify").count();
    assert!((5..=8).contains(&verifies), "{kinds:?}");
    assert_eq!(&kinds[kinds.len() - 1..], ["eject"], "{kinds:?}");
    assert!(
        !kinds.contains(&"boot-cd") && !kinds.contains(&"on"),
        "{kinds:?}"
    );
    let (severity, text) = failure_log(&h).expect("reinstall failed log");
    assert!(severity, "critical");
    assert!(
        text.starts_with("worker-0 reinstall failed: virtual media not mounted"),
        "{text}"
    );
    let n = h.node("worker-0").clone();
    assert_eq!(n.media, None, "ejected");
    assert_eq!(n.power, PowerState::Off, "left powered off");
    let r = h.core.host("worker-0").unwrap();
    assert_eq!(r.states.admin, AdminState::Locked);
    assert_eq!(r.install.state, Some(InstallState::Failed));
    assert!(r.install.info.contains("not mounted"), "{}", r.install.info);
    assert!(h
        .task("worker-0")
        .starts_with("Reinstall Failed ; virtual media not mounted"));
}

#[test]
fn a_boot_override_that_reads_back_differently_fails_powered_off_and_ejected() {
    let mut h = locked(spec("worker-0", BmcProtocol::Redfish, vm_install()));
    h.node("worker-0").boot_override_differs = true;
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    h.until(secs(600), |h| h.action("worker-0") == Action::None)
        .unwrap();
    let Some(ActionOutcome::Failed { reason }) = h.journal_end(id) else {
        panic!("failed expected");
    };
    assert!(
        reason.contains("one-time boot from virtual CD failed"),
        "{reason}"
    );
    assert!(reason.contains("reads back target Pxe"), "{reason}");
    let kinds = bmc_kinds(&h, "worker-0");
    assert_eq!(
        kinds,
        ["eject", "off", "insert", "verify", "boot-cd", "eject"],
        "already off: the clean-up's power-off finds it off"
    );
    let n = h.node("worker-0").clone();
    assert_eq!((n.media, n.power), (None, PowerState::Off));
    assert_eq!(failure_log(&h).map(|l| l.0), Some(true));
}

#[test]
fn a_refused_eject_fails_the_reinstall_and_still_powers_the_host_off() {
    let mut h = locked(spec("worker-0", BmcProtocol::Redfish, vm_install()));
    h.node("worker-0").media = Some("http://old/stale.iso".into());
    h.node("worker-0").eject_refused = true;
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    h.until(secs(600), |h| h.action("worker-0") == Action::None)
        .unwrap();
    let Some(ActionOutcome::Failed { reason }) = h.journal_end(id) else {
        panic!("failed expected");
    };
    assert!(
        reason.contains("virtual media eject failed: EjectMedia refused"),
        "{reason}"
    );
    assert!(reason.contains("media eject failed too"), "{reason}");
    let n = h.node("worker-0").clone();
    assert_eq!(n.power, PowerState::Off);
    assert_eq!(
        n.media.as_deref(),
        Some("http://old/stale.iso"),
        "the fault itself"
    );
    assert_eq!(bmc_kinds(&h, "worker-0"), ["eject", "eject", "off"]);
}

#[test]
fn ipmi_hosts_boot_pxe_once_with_the_same_progress() {
    let mut h = locked(spec("worker-0", BmcProtocol::Ipmi, vm_install()));
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    let seen = tasks_seen(&mut h, secs(3600));
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert_eq!(bmc_kinds(&h, "worker-0"), ["off", "netboot", "on"]);
    for line in [
        task::REINSTALL_POWERING_OFF,
        task::REINSTALL_NETBOOT,
        task::REINSTALL_POWERING_ON,
        task::REINSTALL_INSTALLING,
        "install_state=preinstall",
        "install_state=booting",
        "install_state=installing",
        "install_state=completed",
    ] {
        assert!(seen.iter().any(|s| s == line), "{line:?} not in {seen:#?}");
    }
}

#[test]
fn redfish_hosts_without_an_image_boot_pxe_and_agent_method_wipes() {
    let mut h = locked(spec(
        "worker-0",
        BmcProtocol::Redfish,
        InstallSpec::default(),
    ));
    h.request("worker-0", OperatorAction::Reinstall).unwrap();
    h.until(secs(3600), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(bmc_kinds(&h, "worker-0"), ["off", "netboot", "on"]);

    let agent = InstallSpec {
        image: None,
        method: Some(InstallMethod::Agent),
    };
    let mut h = locked(spec("worker-0", BmcProtocol::Redfish, agent));
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    let seen = tasks_seen(&mut h, secs(3600));
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert_eq!(bmc_kinds(&h, "worker-0"), Vec::<&str>::new());
    assert_eq!(h.sent("worker-0", |c| *c == NodeCommand::WipeDisk), 1);
    assert!(seen.iter().any(|s| s == task::REINSTALL_WIPING), "{seen:?}");
    assert!(
        seen.iter().any(|s| s == "install_state=completed"),
        "{seen:?}"
    );
}

#[test]
fn a_pxe_reinstall_that_never_reports_is_powered_off() {
    let mut h = locked(spec("worker-0", BmcProtocol::Ipmi, InstallSpec::default()));
    h.node("worker-0").answers = false;
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    // worker boot timeout 720 s + node_reinstall_timeout 2400 s.
    h.until(secs(3400), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(
        h.journal_end(id),
        Some(ActionOutcome::Failed {
            reason: "Reinstall Failed ; timeout waiting for online".into()
        })
    );
    assert_eq!(bmc_kinds(&h, "worker-0"), ["off", "netboot", "on", "off"]);
    assert_eq!(h.node("worker-0").power, PowerState::Off);
    assert_eq!(h.states("worker-0").split('-').next(), Some("locked"));
}

#[test]
fn a_reinstall_that_cannot_work_is_refused_with_the_field_named() {
    let explicit_vm = InstallSpec {
        image: None,
        method: Some(InstallMethod::VirtualMedia),
    };
    let mut h = locked(spec("worker-0", BmcProtocol::Redfish, explicit_vm));
    let e = h
        .request("worker-0", OperatorAction::Reinstall)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs an install_image"), "{e}");

    let vm_on_ipmi = InstallSpec {
        image: Some(IMAGE.into()),
        method: Some(InstallMethod::VirtualMedia),
    };
    let mut h = locked(spec("worker-0", BmcProtocol::Ipmi, vm_on_ipmi));
    let e = h
        .request("worker-0", OperatorAction::Reinstall)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs a Redfish BMC"), "{e}");
    assert_eq!(h.action("worker-0"), Action::None);
}

#[test]
fn the_configured_default_image_makes_redfish_hosts_use_virtual_media() {
    let mut cfg = cfg();
    cfg.install.image = IMAGE.into();
    let mut h = Harness::with_config(SystemType::Standard, cfg);
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.add("worker-0", true, true);
    h.settle();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    h.until(secs(3600), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert!(bmc_kinds(&h, "worker-0").contains(&"insert"));
}

/// The host comes back from a boot of its own (an earlier reset) after the reinstall started and
/// before the BMC powered it off: that boot is not the installer's. Found by the simulator's
/// `reinstall_outcome_matches_machine` (a reinstall "completed" the moment the machine was powered
/// on, with no install booted): the boot to wait for is one after the power-on.
#[test]
fn a_boot_seen_before_the_power_on_is_not_the_new_install() {
    let mut h = locked(spec("worker-0", BmcProtocol::Ipmi, InstallSpec::default()));
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    // The machine reports from another boot before it is powered off.
    h.node("worker-0").boot_id = 7_777;
    h.report("worker-0");
    // The installer never comes up.
    h.until(secs(60), |h| {
        h.node_boot_id("worker-0") == 7_777 && h.bmc_ops("worker-0", BmcOp::PowerOn) == 1
    })
    .unwrap();
    h.node("worker-0").answers = false;
    h.until(secs(3400), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(
        h.journal_end(id),
        Some(ActionOutcome::Failed {
            reason: "Reinstall Failed ; timeout waiting for online".into()
        })
    );
}
