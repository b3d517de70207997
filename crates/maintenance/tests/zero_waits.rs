//! Every wait that configuration validation lets be zero (the add delay, heartbeat soak, retry
//! intervals, BMC retry waits, the kdump grace, …) must still let a host reach its steady state:
//! a stage entered with a deadline of "now" in the same pass where the previous deadline fired at
//! that very instant is a new wait, not a stale one (docs/handlers.md, "The pass").
//! The harness drives the core as a runtime would (`poll_timeout` / `handle_timeout`) and checks
//! after every timeout call that the core never asks to be woken at or before `now`.

mod support;

use std::time::Duration;
use steward_maintenance::state::*;
use steward_maintenance::*;
use support::{cfg, secs, Harness};

/// Reference timeouts with every wait that validation accepts as zero set to zero. Timeouts on an
/// answer (boot, go-enabled, worker configuration) stay: a zero there is a failure, not a wait.
fn zero_waits() -> Config {
    let mut c = cfg();
    let t = &mut c.timeouts;
    for d in [
        &mut t.host_add_delay,
        &mut t.heartbeat_soak,
        &mut t.bmc_reset_delay,
        &mut t.recovery_delay,
        &mut t.power_on_retry_wait,
        &mut t.power_off_retry_wait,
        &mut t.bmc_inaccessible_retry_wait,
        &mut t.powercycle_cooloff,
        &mut t.powercycle_holdoff,
        &mut t.task_display,
        &mut t.recent_power_on,
    ] {
        d.0 = Duration::ZERO;
    }
    let th = &mut c.thresholds;
    for d in [
        &mut th.ar_config_interval,
        &mut th.ar_goenable_interval,
        &mut th.ar_services_interval,
        &mut th.ar_heartbeat_interval,
        &mut th.ar_luks_interval,
    ] {
        d.0 = Duration::ZERO;
    }
    c.validate().expect("validation accepts zero waits");
    c
}

fn cluster() -> Harness {
    let mut h = Harness::with_config(SystemType::Standard, zero_waits());
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.add("worker-0", true, true);
    h.settle();
    h
}

fn in_service(h: &Harness, name: &str) -> bool {
    h.states(name) == "unlocked-enabled-available" && h.action(name) == Action::None
}

#[test]
fn in_service_hosts_added_with_zero_waits_leave_the_add_handler() {
    let h = cluster();
    for name in ["controller-0", "controller-1", "worker-0"] {
        assert!(
            in_service(&h, name),
            "{name}: {} action {}",
            h.states(name),
            h.action(name)
        );
    }
}

#[test]
fn a_locked_host_added_with_zero_waits_leaves_the_add_handler() {
    let mut h = Harness::with_config(SystemType::Standard, zero_waits());
    h.add("controller-0", true, true);
    h.add("worker-0", false, true);
    h.settle();
    assert_eq!(h.action("worker-0"), Action::None);
}

#[test]
fn lock_and_unlock_complete_with_zero_waits() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.until(secs(60), |h| {
        h.states("worker-0") == "locked-disabled-online" && h.action("worker-0") == Action::None
    })
    .expect("locked");
    h.request("worker-0", OperatorAction::Unlock).unwrap();
    h.until(secs(900), |h| in_service(h, "worker-0"))
        .expect("unlocked back into service");
}

#[test]
fn a_graceful_recovery_completes_with_zero_waits() {
    let mut h = cluster();
    h.heartbeat_loss("worker-0");
    assert_eq!(h.states("worker-0"), "unlocked-disabled-failed");
    h.heartbeat_clear("worker-0");
    h.until(secs(120), |h| in_service(h, "worker-0"))
        .expect("recovered");
}

#[test]
fn a_hung_host_is_reset_and_recovers_with_zero_waits() {
    let mut h = cluster();
    h.hang("worker-0");
    h.heartbeat_loss("worker-0");
    h.until(secs(1800), |h| in_service(h, "worker-0"))
        .expect("reset through its BMC and recovered");
    assert!(h.bmc_ops("worker-0", BmcOp::PowerReset) >= 1);
}

#[test]
fn a_powered_off_host_is_powered_on_and_recovers_with_zero_waits() {
    let mut h = cluster();
    h.crash("worker-0");
    h.heartbeat_loss("worker-0");
    h.until(secs(1800), |h| in_service(h, "worker-0"))
        .expect("powered on and recovered");
}

#[test]
fn a_failed_enable_retries_and_completes_with_zero_waits() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.until(secs(60), |h| h.action("worker-0") == Action::None)
        .expect("locked");
    h.node("worker-0").goenabled_passes = false;
    h.request("worker-0", OperatorAction::Unlock).unwrap();
    h.until(secs(900), |h| h.task("worker-0") == task::TESTING)
        .expect("testing");
    h.until(secs(900), |h| {
        h.states("worker-0") == "unlocked-disabled-failed"
    })
    .expect("go-enabled failed");
    h.node("worker-0").goenabled_passes = true;
    h.until(secs(1800), |h| in_service(h, "worker-0"))
        .expect("the retry enabled the host");
}

#[test]
fn a_long_chain_of_zero_waits_still_ends_without_spinning() {
    // A reset with the BMC inaccessible retries without waiting: more stages than one call runs
    // rounds. The host is cut off after the last round and carries on shortly after, so the reset
    // ends instead of stalling, and the driver never spins.
    let mut h = Harness::with_config(SystemType::Standard, zero_waits());
    h.add("controller-0", true, true);
    h.add("worker-0", false, true);
    h.settle();
    h.event(Event::BmcAccess {
        host: "worker-0".into(),
        accessible: false,
    });
    let id = h.request("worker-0", OperatorAction::Reset).unwrap();
    // Only the core's own wake-ups drive it here, so nothing else picks the host up again.
    let start = h.now;
    while h.action("worker-0") != Action::None {
        let t = h.core.poll_timeout().expect("a wake-up is queued");
        assert!(
            t > h.now,
            "the core asks to be woken at {t:?}, not after now"
        );
        assert!(t.since(start) <= secs(2), "the reset stalled");
        h.now = t;
        h.core.handle_timeout(t);
        h.drain();
    }
    assert!(matches!(
        h.journal_end(id),
        Some(ActionOutcome::Failed { .. })
    ));
}
