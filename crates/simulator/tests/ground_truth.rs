//! Core bugs the ground-truth checker found, each pinned by a scripted scenario that fails without
//! its fix, and checks that the checker's own record tells the truth in plain cases.

use steward_maintenance::action::OperatorAction as Op;
use steward_maintenance::io::HwmonEvent;
use steward_simulator::{request, Fault, Scenario, SimConfig, Simulation};

/// A critical sensor power-cycles a host held in the MNFA pool. Its heartbeat is stopped for the
/// power cycle and never clears, so before the fix the core kept counting it toward MNFA after the
/// network came back: MNFA never ended and every pooled host stayed out of service
/// (`legal_steady_state_after_quiescence` with MNFA active). Found by this seed of the tier once
/// critical sensor readings joined the fault mix; the interleaving is too fine to script.
#[test]
fn sensor_power_cycle_of_a_pooled_host_does_not_hold_mnfa_forever() {
    let cfg = SimConfig::for_seed(71, 12);
    if let Err(v) = Simulation::new(cfg).and_then(|s| s.run()) {
        panic!("{v}");
    }
}

/// A parked host (auto-recovery disabled after failed go-enabled tests) gets a critical sensor
/// power cycle. Before the fix it rested unlocked-disabled-offline forever afterwards (nothing
/// moves a parked host, and the power cycle left the boot's availability behind); it must go back
/// to failed, as parking left it.
#[test]
fn power_cycle_of_a_parked_host_leaves_it_failed() {
    let mut s = Scenario::new(4)
        .locked("worker-0")
        .at(
            1.0,
            Fault::GoEnabledFailure {
                host: "worker-0".into(),
                times: 10,
            },
        )
        .at(2.0, request("worker-0", Op::Unlock));
    s.run_until(200.0).unwrap_or_else(|v| panic!("{v}"));
    assert!(
        s.record("worker-0").ar_disabled.is_some(),
        "worker-0 must be parked: {}",
        s.state("worker-0")
    );
    s.add(
        201.0,
        Fault::Sensor {
            host: "worker-0".into(),
            event: HwmonEvent::PowerCycle,
        },
    );
    s.run_until(600.0).unwrap_or_else(|v| panic!("{v}"));
    s.settle(600.0).unwrap_or_else(|v| panic!("{v}"));
    assert_eq!(s.state("worker-0"), "unlocked-disabled-failed");
}

/// A host fails one go-enabled test during graceful recovery and hangs. Before the fix every
/// retry of the enable read the failure flag of the last report, sent before the hang, as a new
/// failure, and the host was parked for one real failure (`auto_recovery_threshold`). The timing
/// is too fine to script; this seed of the tier found it (controller-1 at t=879 s) and pins it.
#[test]
fn a_stale_failure_report_does_not_count_again() {
    let cfg = SimConfig::for_seed(706, 7);
    if let Err(v) = Simulation::new(cfg).and_then(|s| s.run()) {
        panic!("{v}");
    }
}

/// The operator's lock is what the checker calls locked, and a lock that completes has sent
/// `Locked` to the node.
#[test]
fn a_completed_lock_reaches_the_node() {
    let mut s = Scenario::new(3).at(5.0, request("worker-0", Op::Lock));
    s.run_until(60.0).unwrap_or_else(|v| panic!("{v}"));
    let truth = &s.world().checker.truth;
    assert_eq!(
        truth.admin_intent("worker-0"),
        Some(steward_maintenance::state::AdminState::Locked)
    );
    assert!(truth.locked_sent("worker-0"));
    assert!(s.world().node("worker-0").unwrap().disk.volatile_flag);
}

/// The real agent reports alive every period; a report it sent with the last test's failure flag,
/// just before a new go-enabled request reached it, arrived after the request. Before the fix the
/// core counted it as the new test failing and parked worker-134 after two real failures
/// (`auto_recovery_threshold`); now result flags are not taken until the node acknowledged the
/// request. Found by this seed of the large tier; the timing is too fine to script.
#[test]
fn a_report_crossing_the_test_request_is_not_a_failure() {
    let cfg = SimConfig::for_seed(1_000_018, 1000);
    if let Err(v) = Simulation::new(cfg).and_then(|s| s.run()) {
        panic!("{v}");
    }
}

/// A host held in the MNFA pool reports a failed go-enabled run of its own (its agent tests at
/// start, here after a crash). Before the fix the core failed it but kept it pooled with its
/// heartbeat stopped: its heartbeat never cleared, MNFA never ended and the host rested failed
/// (`legal_steady_state_after_quiescence`). Now the node's own failure report takes it out of the
/// pool. Found by this seed of the large tier.
#[test]
fn a_pooled_host_reporting_its_own_failure_does_not_hold_mnfa_forever() {
    let cfg = SimConfig::for_seed(1_000_012, 1000);
    if let Err(v) = Simulation::new(cfg).and_then(|s| s.run()) {
        panic!("{v}");
    }
}

/// The same failure report from a pooled host, with MNFA ending meanwhile: before the fix the host
/// was gracefully recovered at MNFA's end without a test, then failed and rebooted for the same
/// flag (`multi_node_outage_spared`). The checker now also counts a failed run the node reported
/// unasked toward the auto-recovery threshold, as the core does. Found by this seed of the large
/// tier.
#[test]
fn a_pooled_host_reporting_its_own_failure_is_taken_over_not_spared() {
    let cfg = SimConfig::for_seed(1_000_004, 1000);
    if let Err(v) = Simulation::new(cfg).and_then(|s| s.run()) {
        panic!("{v}");
    }
}
