//! Reinstall by virtual media under the simulator's invariants (docs/handlers.md#reinstall),
//! judged from the simulated machines and BMCs themselves: the host booted from the inserted
//! image comes back as a fresh install; a BMC fault ends the reinstall failed with the host locked,
//! powered off and the image ejected (unless the eject itself is the fault). Every reinstall ends.

use steward_maintenance::action::{ActionOutcome, OperatorAction as Op};
use steward_maintenance::host::InstallState;
use steward_simulator::node::Phase;
use steward_simulator::vmedia::VmediaFault;
use steward_simulator::{request, Fault, Scenario};

const IMAGE: &str = "http://sim-images/installer.iso";

fn ok<T>(s: &Scenario, r: Result<T, steward_simulator::Violation>) -> T {
    r.unwrap_or_else(|v| panic!("{v}\n--- trace ---\n{}", s.trace()))
}

fn reinstall_id(s: &Scenario) -> steward_maintenance::ActionId {
    s.requests()
        .iter()
        .find(|r| r.host == "worker-1" && r.action == Op::Reinstall)
        .and_then(|r| r.result.clone().ok())
        .unwrap_or_else(|| panic!("reinstall not accepted: {:?}", s.requests()))
}

fn scenario(fault: Option<VmediaFault>) -> Scenario {
    let mut s = Scenario::new(4)
        .install_image("worker-1", IMAGE)
        .at(5.0, request("worker-1", Op::Lock));
    if let Some(fault) = fault {
        s = s.at(
            20.0,
            Fault::Vmedia {
                host: "worker-1".into(),
                fault,
            },
        );
    }
    s.at(30.0, request("worker-1", Op::Reinstall))
}

#[test]
fn a_host_booted_from_the_inserted_image_comes_back_as_a_fresh_install() {
    let mut s = scenario(None);
    let before = {
        let r = s.run_until(29.0);
        ok(&s, r);
        s.world().node("worker-1").unwrap().boot_id
    };
    let r = s.run_until(900.0);
    ok(&s, r);
    let id = reinstall_id(&s);
    assert_eq!(
        s.outcome(id),
        Some(&ActionOutcome::Completed),
        "{}",
        s.trace()
    );
    let n = s.world().node("worker-1").unwrap();
    assert_ne!(n.boot_id, before, "a new boot");
    assert_eq!(n.vmedia.image, None, "ejected after the install");
    assert!(!n.vmedia.boot_once, "the one-time override was used");
    assert_eq!(
        s.state("worker-1"),
        "locked-disabled-online",
        "{}",
        s.trace()
    );
    assert_eq!(
        s.record("worker-1").install.state,
        Some(InstallState::Completed)
    );
    let r = s.settle(300.0);
    ok(&s, r);
}

fn failed_cleanly(fault: VmediaFault, why: &str) -> Scenario {
    let mut s = scenario(Some(fault));
    let r = s.run_until(1200.0);
    ok(&s, r);
    let id = reinstall_id(&s);
    match s.outcome(id) {
        Some(ActionOutcome::Failed { reason }) => assert!(reason.contains(why), "{reason}"),
        other => panic!("failed expected, got {other:?}\n{}", s.trace()),
    }
    let n = s.world().node("worker-1").unwrap();
    assert_eq!(n.phase, Phase::Off, "left powered off\n{}", s.trace());
    assert!(
        s.state("worker-1").starts_with("locked-"),
        "{}",
        s.state("worker-1")
    );
    assert_eq!(
        s.record("worker-1").install.state,
        Some(InstallState::Failed)
    );
    s
}

#[test]
fn an_insert_that_never_mounts_fails_locked_powered_off_and_ejected() {
    let s = failed_cleanly(VmediaFault::NeverMounts, "virtual media not mounted");
    assert_eq!(s.world().node("worker-1").unwrap().vmedia.image, None);
}

#[test]
fn a_boot_override_read_back_differently_fails_locked_powered_off_and_ejected() {
    let s = failed_cleanly(
        VmediaFault::OverrideDiffers,
        "one-time boot from virtual CD",
    );
    assert_eq!(s.world().node("worker-1").unwrap().vmedia.image, None);
}

#[test]
fn a_refused_final_eject_completes_the_reinstall_and_leaves_the_image_in() {
    let mut s = Scenario::new(4)
        .install_image("worker-1", IMAGE)
        .at(5.0, request("worker-1", Op::Lock))
        .at(30.0, request("worker-1", Op::Reinstall));
    // Refused from the final eject on: the install itself went through.
    let r = s.run_until(31.0);
    ok(&s, r);
    s = s.at(
        32.0,
        Fault::Vmedia {
            host: "worker-1".into(),
            fault: VmediaFault::EjectRefused,
        },
    );
    let r = s.run_until(1200.0);
    ok(&s, r);
    let id = reinstall_id(&s);
    // The eject before the install found nothing to eject; with the image in, the final eject is
    // refused: completed, and the image (the fault itself) stays.
    assert_eq!(
        s.outcome(id),
        Some(&ActionOutcome::Completed),
        "{}",
        s.trace()
    );
    let n = s.world().node("worker-1").unwrap();
    assert_eq!(n.vmedia.image.as_deref(), Some(IMAGE));
    assert_eq!(n.phase, Phase::Up);
}

#[test]
fn a_refused_power_on_fails_locked_powered_off_and_ejected() {
    let s = failed_cleanly(VmediaFault::PowerOnRefused, "could not power on host");
    assert_eq!(s.world().node("worker-1").unwrap().vmedia.image, None);
}

/// The BMC goes away in the middle of the stages (after the host was powered off): the reinstall
/// fails with the BMC's reason; nothing can be ejected or powered off through it, and the reason says
/// so. The reinstall invariants judge the end (an unreachable BMC excuses the image left in).
#[test]
fn a_bmc_lost_mid_stage_fails_with_a_named_reason() {
    let mut s = scenario(None);
    let r = s.run_until(30.0);
    ok(&s, r);
    // Wait for the power-off to be carried out, then cut the BMC off.
    let mut t = 30.0;
    while s.world().node("worker-1").unwrap().phase != Phase::Off && t < 200.0 {
        t += 0.5;
        let r = s.run_until(t);
        ok(&s, r);
    }
    assert_eq!(s.world().node("worker-1").unwrap().phase, Phase::Off);
    s.add(t + 0.1, Fault::BmcUnreachable("worker-1".into()));
    let r = s.run_until(3000.0);
    ok(&s, r);
    let id = reinstall_id(&s);
    match s.outcome(id) {
        Some(ActionOutcome::Failed { reason }) => {
            assert!(reason.contains("insert failed: unreachable"), "{reason}");
            assert!(reason.contains("power-off failed too"), "{reason}");
        }
        other => panic!("failed expected, got {other:?}\n{}", s.trace()),
    }
    assert!(s.state("worker-1").starts_with("locked-"));
    assert_eq!(s.world().node("worker-1").unwrap().phase, Phase::Off);
    let (_, failed) = s.world().reinstall_checks.judged;
    assert_eq!(failed, 1);
}

/// The installer never boots (the node's fault), so the new install never reports: the reinstall
/// fails at the online timeout, the machine powered off and the image ejected.
#[test]
fn an_install_that_never_reports_fails_at_the_online_timeout() {
    let mut s = Scenario::new(4)
        .install_image("worker-1", IMAGE)
        .at(5.0, request("worker-1", Op::Lock))
        .at(30.0, Fault::BootFailure("worker-1".into()))
        .at(31.0, request("worker-1", Op::Reinstall));
    let r = s.run_until(4000.0);
    ok(&s, r);
    let id = s
        .requests()
        .iter()
        .find(|r| r.action == Op::Reinstall)
        .and_then(|r| r.result.clone().ok())
        .expect("accepted");
    match s.outcome(id) {
        Some(ActionOutcome::Failed { reason }) => {
            assert!(reason.contains("timeout waiting for online"), "{reason}")
        }
        other => panic!("failed expected, got {other:?}\n{}", s.trace()),
    }
    let n = s.world().node("worker-1").unwrap();
    assert_eq!(n.phase, Phase::Off);
    assert_eq!(n.vmedia.image, None);
    assert_eq!(n.installs, 0, "the installer never came up");
}

/// PXE (a BMC, no image) and the agent (no BMC): the machine really comes back as a fresh install,
/// as the simulator's own count of installed boots says.
#[test]
fn pxe_and_agent_reinstalls_boot_a_fresh_install() {
    let mut s = Scenario::new(5)
        .no_bmc("worker-2")
        .at(5.0, request("worker-1", Op::Lock))
        .at(5.0, request("worker-2", Op::Lock))
        .at(30.0, request("worker-1", Op::Reinstall))
        .at(30.0, request("worker-2", Op::Reinstall));
    let r = s.run_until(1500.0);
    ok(&s, r);
    for host in ["worker-1", "worker-2"] {
        let id = s
            .requests()
            .iter()
            .find(|r| r.host == host && r.action == Op::Reinstall)
            .and_then(|r| r.result.clone().ok())
            .expect("accepted");
        assert_eq!(
            s.outcome(id),
            Some(&ActionOutcome::Completed),
            "{host}\n{}",
            s.trace()
        );
        assert_eq!(s.world().node(host).unwrap().installs, 1, "{host}");
    }
    assert_eq!(s.world().reinstall_checks.judged, (2, 0));
}

/// Reinstall is refused for an unlocked host, and nothing is done to it.
#[test]
fn an_unlocked_host_is_never_reinstalled() {
    let mut s = Scenario::new(4)
        .install_image("worker-1", IMAGE)
        .at(30.0, request("worker-1", Op::Reinstall));
    let r = s.run_until(300.0);
    ok(&s, r);
    assert!(s.requests()[0].result.is_err(), "{:?}", s.requests());
    let n = s.world().node("worker-1").unwrap();
    assert_eq!(n.phase, Phase::Up);
    assert_eq!(n.installs, 0);
}
