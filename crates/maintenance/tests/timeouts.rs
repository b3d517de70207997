//! One scenario per timeout (docs/config.md#timeouts): let it expire and check the outcome. Times
//! use the defaults (`Config::default()`), advanced on a simulated clock.

mod support;

use steward_maintenance::state::*;
use steward_maintenance::*;
use support::{cfg, secs, Harness};

fn locked_worker() -> Harness {
    let mut h = Harness::new(SystemType::Standard);
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.add("worker-0", true, true);
    h.settle();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    assert_eq!(h.states("worker-0"), "locked-disabled-online");
    h
}

fn first_time(h: &mut Harness, limit: u64, pred: impl FnMut(&Harness) -> bool) -> u64 {
    h.until(secs(limit), pred)
        .expect("condition reached")
        .as_secs()
}

#[test]
fn command_ack_timeout_resends_the_reboot() {
    let mut h = locked_worker();
    h.node("worker-0").acks = false;
    h.node("worker-0").reboots_on_command = false;
    h.request("worker-0", OperatorAction::Reboot).unwrap();
    assert_eq!(h.sent("worker-0", |c| *c == NodeCommand::Reboot), 1);
    h.advance(secs(9));
    assert_eq!(h.sent("worker-0", |c| *c == NodeCommand::Reboot), 1);
    h.advance(secs(2));
    assert_eq!(
        h.sent("worker-0", |c| *c == NodeCommand::Reboot),
        2,
        "re-sent after the 10 s ack timeout"
    );
}

#[test]
fn five_unanswered_reboots_then_the_bmc_reset_after_the_kdump_grace() {
    let mut h = locked_worker();
    h.node("worker-0").acks = false;
    h.node("worker-0").reboots_on_command = false;
    h.request("worker-0", OperatorAction::Reboot).unwrap();
    let t = first_time(&mut h, 600, |h| {
        h.bmc_ops("worker-0", BmcOp::PowerReset) > 0
    });
    assert_eq!(h.sent("worker-0", |c| *c == NodeCommand::Reboot), 5);
    // 5 × 10 s of ack timeouts, then bmc_reset_delay (300 s) less the time already spent.
    assert!((295..=305).contains(&t), "BMC reset at {t} s");
}

#[test]
fn offline_audit_declares_offline_after_90_silent_periods() {
    let mut h = locked_worker();
    h.node("worker-0").boot_delay = secs(600);
    h.request("worker-0", OperatorAction::Reboot).unwrap();
    let t = first_time(&mut h, 60, |h| {
        h.states("worker-0") == "locked-disabled-offline"
    });
    assert!((8..=11).contains(&t), "offline after {t} s (100 ms × 90)");
}

#[test]
fn online_audit_takes_three_silent_periods_for_a_locked_host() {
    let mut h = locked_worker();
    h.hang("worker-0");
    let t = first_time(&mut h, 60, |h| {
        h.states("worker-0") == "locked-disabled-offline"
    });
    assert!(
        (14..=28).contains(&t),
        "offline after {t} s (3 × 7 s online period)"
    );
}

#[test]
fn worker_boot_timeout_fails_the_unlock_boot_and_reboots_again() {
    let mut h = locked_worker();
    h.node("worker-0").boot_delay = secs(5000);
    h.request("worker-0", OperatorAction::Unlock).unwrap();
    first_time(&mut h, 100, |h| h.task("worker-0") == task::BOOTING);
    // "Boot Failed, rebooting" is followed at once by the next reset progression's "Reboot Request".
    let t = first_time(&mut h, 1000, |h| {
        h.sent("worker-0", |c| *c == NodeCommand::Reboot) == 2
    });
    assert!(
        (720..=722).contains(&t),
        "boot timeout after {t} s (worker_boot_timeout 720 s)"
    );
    assert!(h.alarm("worker-0", steward_maintenance::alarm::AlarmId::Enable));
}

#[test]
fn goenabled_timeout_is_an_intest_timeout() {
    let mut h = locked_worker();
    h.node("worker-0").goenabled_answers = false;
    h.request("worker-0", OperatorAction::Unlock).unwrap();
    first_time(&mut h, 100, |h| h.task("worker-0") == task::TESTING);
    let t = first_time(&mut h, 700, |h| {
        h.task("worker-0") == task::INTEST_TIMEOUT_REENABLING
    });
    assert!(
        (602..=605).contains(&t),
        "go-enabled timeout after {t} s (600 + 3)"
    );
    assert_eq!(h.states("worker-0"), "unlocked-disabled-failed");
}

#[test]
fn auto_recovery_interval_spaces_the_retries() {
    let mut h = locked_worker();
    h.node("worker-0").goenabled_passes = false;
    h.request("worker-0", OperatorAction::Unlock).unwrap();
    first_time(&mut h, 200, |h| {
        h.task("worker-0") == task::INTEST_FAILED_REENABLING
    });
    let reboots = h.sent("worker-0", |c| *c == NodeCommand::Reboot);
    h.advance(secs(29));
    assert_eq!(
        h.sent("worker-0", |c| *c == NodeCommand::Reboot),
        reboots,
        "waits ar_goenable_interval"
    );
    h.advance(secs(2));
    assert_eq!(
        h.sent("worker-0", |c| *c == NodeCommand::Reboot),
        reboots + 1
    );
}

#[test]
fn heartbeat_soak_loss_fails_the_enable() {
    let mut h = locked_worker();
    h.request("worker-0", OperatorAction::Unlock).unwrap();
    first_time(&mut h, 200, |h| h.task("worker-0") == task::INITIALIZING);
    h.heartbeat_loss("worker-0");
    assert_eq!(h.task("worker-0"), task::ENABLE_HEARTBEAT_FAILURE);
    assert_eq!(h.states("worker-0"), "unlocked-disabled-failed");
}

#[test]
fn heartbeat_soak_lasts_eleven_seconds() {
    let mut h = locked_worker();
    h.request("worker-0", OperatorAction::Unlock).unwrap();
    first_time(&mut h, 200, |h| h.task("worker-0") == task::INITIALIZING);
    let t = first_time(&mut h, 60, |h| {
        h.states("worker-0") == "unlocked-enabled-available"
    });
    assert!((10..=12).contains(&t), "soak {t} s");
}

#[test]
fn host_services_timeout_only_delays_the_lock() {
    let mut h = Harness::new(SystemType::Standard);
    h.add("controller-0", true, true);
    h.add("worker-0", true, true);
    h.settle();
    // The node acknowledges the stop but never reports a result.
    h.node("worker-0").goenabled_answers = false;
    let id = h.request("worker-0", OperatorAction::Lock).unwrap();
    h.effects.retain(|_| true);
    // Drop the scripted HostServices result by making the node silent right after the ack.
    h.advance(std::time::Duration::from_millis(20));
    h.node("worker-0").up = false;
    let t = first_time(&mut h, 400, |h| h.action("worker-0") == Action::None);
    assert!(
        (300..=312).contains(&t),
        "lock finished after {t} s (host_services_timeout 300 s + ack)"
    );
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
}

#[test]
fn recovery_delay_between_failed_reset_progressions() {
    let mut h = locked_worker();
    h.node("worker-0").acks = false;
    h.node("worker-0").reboots_on_command = false;
    h.node("worker-0").bmc_reachable = false;
    h.request("worker-0", OperatorAction::Unlock).unwrap();
    // The progression fails (no ack, no BMC, never offline); 16 s later a new one starts.
    let t = first_time(&mut h, 3000, |h| {
        h.states("worker-0") == "unlocked-disabled-failed"
    });
    let reboots = h.sent("worker-0", |c| *c == NodeCommand::Reboot);
    h.advance(secs(15));
    assert_eq!(
        h.sent("worker-0", |c| *c == NodeCommand::Reboot),
        reboots,
        "pause {t}"
    );
    h.advance(secs(2));
    assert!(h.sent("worker-0", |c| *c == NodeCommand::Reboot) > reboots);
}

#[test]
fn swact_timeout_without_an_answer() {
    let mut h = Harness::new(SystemType::Standard);
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.settle();
    let id = h.request("controller-0", OperatorAction::Swact).unwrap();
    h.advance(secs(119));
    assert_eq!(h.journal_end(id), None);
    h.advance(secs(2));
    assert_eq!(h.task("controller-0"), task::SWACT_TIMEOUT);
    assert!(matches!(
        h.journal_end(id),
        Some(ActionOutcome::Failed { .. })
    ));
}

#[test]
fn power_on_retries_then_fails_when_the_bmc_is_unreachable() {
    let mut h = locked_worker();
    h.request("worker-0", OperatorAction::PowerOff).unwrap();
    h.advance(secs(30));
    h.node("worker-0").bmc_reachable = false;
    let id = h.request("worker-0", OperatorAction::PowerOn).unwrap();
    let t = first_time(&mut h, 600, |h| h.action("worker-0") == Action::None);
    assert!(matches!(
        h.journal_end(id),
        Some(ActionOutcome::Failed { .. })
    ));
    assert!(
        h.task("worker-0").starts_with(task::POWER_ON_FAILED),
        "{}",
        h.task("worker-0")
    );
    // 6 queries (1 + 5 retries) spaced by the 5 s power-on retry wait, after the power-off's one.
    assert_eq!(h.bmc_ops("worker-0", BmcOp::PowerStatus), 1 + 6);
    assert!(t >= 25, "{t}");
}

#[test]
fn reset_fails_when_the_host_never_goes_offline() {
    let mut h = locked_worker();
    h.request("worker-0", OperatorAction::Reset).unwrap();
    // The BMC says "done" but the host keeps running on the same boot (a lying BMC).
    h.advance(std::time::Duration::from_millis(4100));
    h.node("worker-0").up = true;
    h.node("worker-0").boot_at = None;
    let t = first_time(&mut h, 400, |h| h.action("worker-0") == Action::None);
    assert!(
        (150..=160).contains(&t),
        "reset offline timeout after {t} s"
    );
    assert_eq!(h.task("worker-0"), "Reset Failed");
}

#[test]
fn reinstall_gives_up_waiting_for_bmc_access_after_ten_minutes() {
    let mut h = locked_worker();
    h.event(Event::BmcAccess {
        host: "worker-0".into(),
        accessible: false,
    });
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    assert_eq!(h.task("worker-0"), task::REINSTALL_WAIT_BMC);
    let t = first_time(&mut h, 700, |h| h.action("worker-0") == Action::None);
    assert!((600..=602).contains(&t), "{t}");
    assert_eq!(
        h.task("worker-0"),
        "Reinstall Failed ; timeout waiting BMC access"
    );
    assert!(matches!(
        h.journal_end(id),
        Some(ActionOutcome::Failed { .. })
    ));
}

#[test]
fn reinstall_gives_up_waiting_for_the_new_install() {
    let mut h = locked_worker();
    h.node("worker-0").boot_delay = secs(100_000);
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    let t = first_time(&mut h, 4000, |h| h.action("worker-0") == Action::None);
    // worker boot timeout 720 s + node_reinstall_timeout 2400 s.
    assert!((3120..=3140).contains(&t), "{t}");
    assert_eq!(
        h.task("worker-0"),
        "Reinstall Failed ; timeout waiting for online"
    );
    assert!(matches!(
        h.journal_end(id),
        Some(ActionOutcome::Failed { .. })
    ));
}

#[test]
fn dor_window_ends_at_its_timeout() {
    let mut c = cfg();
    c.timeouts.dor_mode_timeout.0 = secs(100);
    let sys = SystemConfig {
        system_type: SystemType::Standard,
        own_host: "controller-0".into(),
        controller_uptime: secs(30),
    };
    let mut h = Harness::with_config(SystemType::Standard, c.clone());
    h.core = Maintenance::new(c, sys, h.now);
    h.add("controller-0", true, true);
    h.add("worker-0", true, true);
    h.node("worker-0").answers = false;
    assert!(h.core.dor_active());
    h.advance(secs(99));
    h.advance(secs(3));
    assert!(!h.core.dor_active());
}

#[test]
fn powercycle_attempt_count_resets_after_the_recovery_monitor() {
    let mut h = locked_worker();
    h.event(Event::Hwmon {
        host: "worker-0".into(),
        event: HwmonEvent::PowerCycle,
    });
    first_time(&mut h, 2000, |h| h.action("worker-0") == Action::None);
    h.advance(secs(901));
    h.event(Event::Hwmon {
        host: "worker-0".into(),
        event: HwmonEvent::PowerCycle,
    });
    assert!(
        h.task("worker-0")
            .starts_with("Critical Event Power-Cycle 1;"),
        "{}",
        h.task("worker-0")
    );
}
