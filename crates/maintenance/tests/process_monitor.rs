//! What the node's process monitor reports does to a host (docs/node-supervision.md#escalation):
//! minor → alarm 200.006 minor only; major → 200.006 major and degraded; critical → failed and
//! recovered; a monitor that stopped answering (`pmond`) → 200.006 major and degraded.

mod support;

use steward_maintenance::alarm::{AlarmChange, AlarmId, Severity};
use steward_maintenance::state::*;
use steward_maintenance::*;
use support::{cfg, secs, Harness};

fn cluster() -> Harness {
    let mut h = Harness::with_config(SystemType::Standard, cfg());
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.add("worker-0", true, true);
    h.settle();
    h
}

fn pmon(h: &mut Harness, process: &str, event: PmonEvent) {
    h.event(Event::Pmon {
        host: "worker-0".into(),
        process: process.into(),
        event,
    });
}

fn severity(h: &Harness) -> Option<Severity> {
    h.core.alarms().severity(AlarmId::Process, "worker-0")
}

#[test]
fn a_minor_process_failure_raises_the_alarm_only() {
    let mut h = cluster();
    pmon(&mut h, "ntpd", PmonEvent::Minor);
    h.advance(secs(10));
    assert_eq!(severity(&h), Some(Severity::Minor));
    assert_eq!(h.states("worker-0"), "unlocked-enabled-available");
    pmon(&mut h, "ntpd", PmonEvent::Clear);
    assert_eq!(severity(&h), None);
}

#[test]
fn a_major_failure_degrades_until_every_major_process_recovered() {
    let mut h = cluster();
    pmon(&mut h, "ntpd", PmonEvent::Minor);
    pmon(&mut h, "collectd", PmonEvent::Major);
    h.advance(secs(1));
    assert_eq!(severity(&h), Some(Severity::Major));
    assert_eq!(h.states("worker-0"), "unlocked-enabled-degraded");
    let reason = h
        .effects
        .iter()
        .rev()
        .find_map(|e| match e {
            Effect::Alarm(AlarmChange::Raise(a)) if a.id == AlarmId::Process => {
                Some(a.reason.clone())
            }
            _ => None,
        })
        .unwrap();
    assert!(
        reason.contains("process=collectd (major)") && reason.contains("process=ntpd (minor)"),
        "{reason}"
    );
    pmon(&mut h, "collectd", PmonEvent::Clear);
    h.advance(secs(1));
    assert_eq!(severity(&h), Some(Severity::Minor), "ntpd is still failed");
    assert_eq!(h.states("worker-0"), "unlocked-enabled-available");
    assert_eq!(h.raised("worker-0", AlarmId::Process), 3);
}

#[test]
fn a_critical_failure_fails_and_recovers_the_host_once() {
    let mut h = cluster();
    h.node("worker-0").goenabled_passes = true;
    pmon(&mut h, "sm", PmonEvent::Critical);
    assert_eq!(h.states("worker-0"), "unlocked-disabled-failed");
    assert_eq!(severity(&h), Some(Severity::Critical));
    // The report repeated changes nothing more.
    pmon(&mut h, "sm", PmonEvent::Critical);
    // The host reboots: its monitor starts over, so what it reported before is gone.
    h.until(secs(600), |h| {
        h.states("worker-0") == "unlocked-enabled-available"
    })
    .expect("recovered");
    assert_eq!(severity(&h), None, "cleared by the new boot");
}

#[test]
fn a_silent_process_monitor_degrades_until_it_answers_again() {
    let mut h = cluster();
    pmon(&mut h, PMOND, PmonEvent::Major);
    assert_eq!(h.states("worker-0"), "unlocked-enabled-degraded");
    assert_eq!(severity(&h), Some(Severity::Major));
    pmon(&mut h, PMOND, PmonEvent::Clear);
    assert_eq!(h.states("worker-0"), "unlocked-enabled-available");
}

#[test]
fn a_locked_host_raises_the_alarm_without_degrade() {
    let mut h = cluster();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.until(secs(120), |h| {
        h.states("worker-0") == "locked-disabled-online"
    })
    .expect("locked");
    pmon(&mut h, "collectd", PmonEvent::Major);
    assert_eq!(severity(&h), Some(Severity::Major));
    assert_eq!(h.states("worker-0"), "locked-disabled-online");
}

#[test]
fn a_restarted_controller_clears_a_stored_alarm_when_the_node_repeats_all_is_well() {
    let mut h = cluster();
    pmon(&mut h, "collectd", PmonEvent::Major);
    assert_eq!(h.states("worker-0"), "unlocked-enabled-degraded");
    // The controller restarts: records and alarms from the store, nothing of the processes.
    let records: Vec<_> = ["controller-0", "controller-1", "worker-0"]
        .iter()
        .map(|n| h.core.host(n).unwrap().clone())
        .collect();
    let alarms: Vec<_> = h
        .core
        .alarms()
        .iter()
        .map(|(id, host, sev)| (id, host.to_string(), sev))
        .collect();
    let mut fresh = Harness::new(SystemType::Standard);
    fresh.core.restore(h.now, records, alarms, 1);
    assert_eq!(
        fresh.core.alarms().severity(AlarmId::Process, "worker-0"),
        Some(Severity::Major)
    );
    // The process recovered meanwhile; the node's periodic repeat says so.
    fresh.event(Event::Pmon {
        host: "worker-0".into(),
        process: "collectd".into(),
        event: PmonEvent::Clear,
    });
    assert_eq!(
        fresh.core.alarms().severity(AlarmId::Process, "worker-0"),
        None
    );
    assert!(!fresh
        .core
        .host("worker-0")
        .unwrap()
        .degrade
        .has(DegradeMask::PMON));
}
