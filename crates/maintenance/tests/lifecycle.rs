//! Scenario tests of the handlers, one per stage path an operator sees (docs/handlers.md).

mod support;

use steward_maintenance::alarm::AlarmId;
use steward_maintenance::state::*;
use steward_maintenance::*;
use support::{secs, Harness};

fn cluster() -> Harness {
    let mut h = Harness::new(SystemType::Standard);
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.add("worker-0", true, true);
    h.settle();
    h
}

#[test]
fn add_brings_in_service_hosts_through_the_heartbeat_soak() {
    let h = cluster();
    for n in ["controller-0", "controller-1", "worker-0"] {
        assert_eq!(h.states(n), "unlocked-enabled-available");
        assert_eq!(h.action(n), Action::None);
    }
    assert!(h.effects.iter().any(|e| matches!(e,
        Effect::Heartbeat { host: Some(n), control: HeartbeatControl::Start } if n == "worker-0")));
    // The active controller does not heartbeat itself.
    assert!(!h.effects.iter().any(|e| matches!(e,
        Effect::Heartbeat { host: Some(n), control: HeartbeatControl::Start } if n == "controller-0")));
}

#[test]
fn lock_disables_services_sets_flags_and_raises_the_lock_alarm() {
    let mut h = cluster();
    let id = h.request("worker-0", OperatorAction::Lock).unwrap();
    assert_eq!(h.task("worker-0"), task::DISABLING_SERVICES);
    assert_eq!(h.sent("worker-0", |c| *c == NodeCommand::StopServices), 1);
    h.advance(secs(5));
    assert_eq!(h.states("worker-0"), "locked-disabled-online");
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert!(h.alarm("worker-0", AlarmId::Locked));
    assert!(
        h.node("worker-0").locked_flag,
        "the node was told to set its lock flags"
    );
    assert_eq!(
        h.sent("worker-0", |c| c.is_destructive()),
        0,
        "a plain lock never reboots"
    );
}

#[test]
fn unlock_reboots_tests_soaks_and_enables() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    let id = h.request("worker-0", OperatorAction::Unlock).unwrap();
    assert!(
        !h.alarm("worker-0", AlarmId::Locked),
        "200.001 clears on the unlock action"
    );
    assert!(
        !h.node("worker-0").locked_flag,
        "flags removed with the admin state change, before the reboot"
    );
    assert_eq!(h.sent("worker-0", |c| *c == NodeCommand::Reboot), 1);
    // Reboot takes 30 s; go-enabled 5 s; soak 11 s.
    let took = h
        .until(secs(120), |h| {
            h.states("worker-0") == "unlocked-enabled-available"
        })
        .expect("enabled");
    assert!(took >= secs(30 + 5 + 11), "{took:?}");
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert_eq!(h.task("worker-0"), "");
}

#[test]
fn unlock_waits_for_the_new_boot_not_a_stale_report() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    h.node("worker-0").boot_delay = secs(200);
    h.request("worker-0", OperatorAction::Unlock).unwrap();
    // Reports from the old boot id (the node is down, but a late datagram arrives) do not count.
    h.advance(secs(60));
    assert_ne!(h.task("worker-0"), task::TESTING);
    assert_eq!(h.sent("worker-0", |c| *c == NodeCommand::MainGoEnabled), 0);
    h.until(secs(400), |h| {
        h.states("worker-0") == "unlocked-enabled-available"
    })
    .expect("enabled after boot");
}

#[test]
fn force_lock_reboots_the_host_for_the_operator() {
    let mut h = cluster();
    let id = h.request("worker-0", OperatorAction::ForceLock).unwrap();
    h.until(secs(120), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert!(h.states("worker-0").starts_with("locked-disabled"));
    let reboot_cause = h.effects.iter().find_map(|e| match e {
        Effect::Send {
            host,
            command: NodeCommand::Reboot,
            cause,
            ..
        } if host == "worker-0" => Some(*cause),
        _ => None,
    });
    assert_eq!(reboot_cause, Some(Cause::Operator { action: id }));
}

#[test]
fn lock_of_the_active_controller_is_refused_with_the_reason() {
    let mut h = cluster();
    let e = h.request("controller-0", OperatorAction::Lock).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("Cannot lock the active controller"),
        "{e}"
    );
    assert_eq!(h.states("controller-0"), "unlocked-enabled-available");
    let e = h.request("nope", OperatorAction::Lock).unwrap_err();
    assert!(matches!(e, RequestError::UnknownHost(_)));
}

#[test]
fn power_off_and_on_of_a_locked_host() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    let off = h.request("worker-0", OperatorAction::PowerOff).unwrap();
    h.until(secs(60), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(h.journal_end(off), Some(ActionOutcome::Completed));
    assert_eq!(h.states("worker-0"), "locked-disabled-power-off");
    assert_eq!(h.task("worker-0"), task::POWER_OFF_COMPLETED);
    assert_eq!(
        h.bmc_ops("worker-0", BmcOp::PowerStatus),
        1,
        "query before acting"
    );
    h.advance(secs(31));
    assert_eq!(
        h.task("worker-0"),
        "",
        "outcome line held for task_display only"
    );
    // Stays off: no automatic power-on of a locked host.
    h.advance(secs(120));
    assert_eq!(h.states("worker-0"), "locked-disabled-power-off");
    let on = h.request("worker-0", OperatorAction::PowerOn).unwrap();
    h.until(secs(120), |h| {
        h.states("worker-0") == "locked-disabled-online"
    })
    .unwrap();
    assert_eq!(h.journal_end(on), Some(ActionOutcome::Completed));
}

#[test]
fn reset_of_a_locked_host_through_its_bmc() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    let id = h.request("worker-0", OperatorAction::Reset).unwrap();
    assert_eq!(h.task("worker-0"), task::RESET_REQUESTED);
    h.until(secs(200), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert_eq!(h.bmc_ops("worker-0", BmcOp::PowerReset), 1);
    h.until(secs(60), |h| {
        h.states("worker-0") == "locked-disabled-online"
    })
    .unwrap();
}

#[test]
fn reboot_of_a_locked_host() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    let boot = h.node("worker-0").boot_id;
    let id = h.request("worker-0", OperatorAction::Reboot).unwrap();
    h.until(secs(200), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    h.until(secs(120), |h| {
        h.states("worker-0") == "locked-disabled-online"
    })
    .unwrap();
    assert_ne!(h.node("worker-0").boot_id, boot);
}

#[test]
fn reinstall_with_bmc_powers_off_netboots_and_waits_for_the_new_install() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    let id = h.request("worker-0", OperatorAction::Reinstall).unwrap();
    assert_eq!(h.task("worker-0"), task::REINSTALL_POWERING_OFF);
    h.until(secs(600), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert_eq!(h.task("worker-0"), task::REINSTALL_SUCCEEDED);
    for op in [BmcOp::PowerOff, BmcOp::NetbootOnce, BmcOp::PowerOn] {
        assert_eq!(h.bmc_ops("worker-0", op.clone()), 1, "{op:?}");
    }
}

#[test]
fn reinstall_without_bmc_wipes_the_disk() {
    let mut h = Harness::new(SystemType::Standard);
    h.add("controller-0", true, true);
    h.add("worker-1", false, false);
    h.settle();
    let id = h.request("worker-1", OperatorAction::Reinstall).unwrap();
    h.until(secs(600), |h| h.action("worker-1") == Action::None)
        .unwrap();
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert_eq!(h.sent("worker-1", |c| *c == NodeCommand::WipeDisk), 1);
}

#[test]
fn delete_wipes_clears_alarms_and_removes() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    assert!(h.alarm("worker-0", AlarmId::Locked));
    let id = h.request("worker-0", OperatorAction::Delete).unwrap();
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert!(h.core.host("worker-0").is_none());
    assert!(!h.alarm("worker-0", AlarmId::Locked));
    assert!(h
        .effects
        .iter()
        .any(|e| matches!(e, Effect::HostRemoved { host } if host == "worker-0")));
}

#[test]
fn swact_hands_over_to_the_enabled_standby() {
    let mut h = cluster();
    let id = h.request("controller-0", OperatorAction::Swact).unwrap();
    assert!(h
        .effects
        .iter()
        .any(|e| matches!(e, Effect::Swact { to } if to == "controller-1")));
    // Everything else waits while the swact runs.
    let e = h.request("worker-0", OperatorAction::Lock).unwrap_err();
    assert!(e.to_string().contains("swact is in progress"), "{e}");
    h.event(Event::SwactResult { completed: true });
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert_eq!(h.task("controller-0"), task::SWACT_COMPLETE);
    assert!(h.request("worker-0", OperatorAction::Lock).is_ok());
}

#[test]
fn lock_supersedes_a_running_unlock_and_the_journal_says_so() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    let unlock = h.request("worker-0", OperatorAction::Unlock).unwrap();
    h.advance(secs(3));
    let lock = h.request("worker-0", OperatorAction::Lock).unwrap();
    assert_eq!(
        h.journal_end(unlock),
        Some(ActionOutcome::SupersededBy { action: lock })
    );
    h.until(secs(120), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(h.journal_end(lock), Some(ActionOutcome::Completed));
    assert!(h.states("worker-0").starts_with("locked-disabled"));
}

#[test]
fn lock_flags_are_corrected_from_alive_reports() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    // Someone removed the flags on the locked host: the next report brings them back.
    h.node("worker-0").locked_flag = false;
    h.advance(secs(6));
    assert!(h.node("worker-0").locked_flag);
    // A stray flag on an unlocked host is removed.
    h.node("controller-1").locked_flag = true;
    h.advance(secs(6));
    assert!(!h.node("controller-1").locked_flag);
}

#[test]
fn unlock_right_after_power_on_waits_for_the_new_boot() {
    // Found in the lab: a report from before the power-off was taken for the new boot, go-enabled
    // went to a host still booting, and the unlock failed with an in-test timeout.
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    h.request("worker-0", OperatorAction::PowerOff).unwrap();
    h.until(secs(60), |h| h.action("worker-0") == Action::None)
        .unwrap();
    h.request("worker-0", OperatorAction::PowerOn).unwrap();
    h.until(secs(60), |h| h.action("worker-0") == Action::None)
        .unwrap();
    let id = h.request("worker-0", OperatorAction::Unlock).unwrap();
    h.until(secs(300), |h| h.action("worker-0") == Action::None)
        .unwrap();
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert_eq!(h.states("worker-0"), "unlocked-enabled-available");
    assert_eq!(
        h.sent("worker-0", |c| *c == NodeCommand::Reboot),
        0,
        "freshly powered on: no reboot"
    );
}
