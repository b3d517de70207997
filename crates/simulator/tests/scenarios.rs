//! Scripted scenarios: a timeline of faults and operator requests against a small cluster, then
//! assertions on what the core shows (states, task strings, alarms, journal, destructive effects).
//! The invariants are checked all along.

use steward_maintenance::action::{ActionOutcome, JournalEntry, OperatorAction as Op};
use steward_maintenance::alarm::{AlarmId, Severity};
use steward_maintenance::host::ArCause;
use steward_maintenance::state::Network;
use steward_maintenance::{task, Cause};
use steward_simulator::{request, Fault, Scenario};

fn accepted_id(s: &Scenario, host: &str, action: Op) -> steward_maintenance::ActionId {
    s.requests()
        .iter()
        .find(|r| r.host == host && r.action == action)
        .and_then(|r| r.result.clone().ok())
        .unwrap_or_else(|| {
            panic!(
                "{action} {host} was not accepted: {:?}\n{}",
                s.requests(),
                s.trace()
            )
        })
}

fn ok<T>(s: &Scenario, r: Result<T, steward_simulator::Violation>) -> T {
    r.unwrap_or_else(|v| panic!("{v}\n--- trace ---\n{}", s.trace_or_empty()))
}

trait TraceOrEmpty {
    fn trace_or_empty(&self) -> String;
}
impl TraceOrEmpty for Scenario {
    fn trace_or_empty(&self) -> String {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.trace())).unwrap_or_default()
    }
}

#[test]
fn unlock_of_a_locked_worker_ends_unlocked_enabled_available() {
    let mut s = Scenario::new(4)
        .locked("worker-0")
        .at(5.0, request("worker-0", Op::Unlock));
    let r = s.run_until(4.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-0"),
        "locked-disabled-online",
        "{}",
        s.trace()
    );
    assert_eq!(
        s.alarm(AlarmId::Locked, "worker-0"),
        Some(Severity::Warning)
    );
    let r = s.run_until(200.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-0"),
        "unlocked-enabled-available",
        "{}",
        s.trace()
    );
    assert_eq!(s.task("worker-0"), "");
    assert_eq!(s.alarm(AlarmId::Locked, "worker-0"), None);
    let id = accepted_id(&s, "worker-0", Op::Unlock);
    assert_eq!(s.outcome(id), Some(&ActionOutcome::Completed));
    // The unlock rebooted the host on the operator's behalf, never automatically.
    assert!(s
        .destructive()
        .iter()
        .any(|d| d.host == "worker-0" && d.cause == Cause::Operator { action: id }));
    assert!(!s
        .destructive()
        .iter()
        .any(|d| d.cause == Cause::AutoRecovery));
    let r = s.settle(300.0);
    ok(&s, r);
}

#[test]
fn lock_ends_locked_disabled_online_with_the_lock_alarm() {
    let mut s = Scenario::new(4).at(5.0, request("worker-1", Op::Lock));
    let r = s.run_until(60.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-1"),
        "locked-disabled-online",
        "{}",
        s.trace()
    );
    assert_eq!(
        s.alarm(AlarmId::Locked, "worker-1"),
        Some(Severity::Warning)
    );
    let id = accepted_id(&s, "worker-1", Op::Lock);
    assert_eq!(s.outcome(id), Some(&ActionOutcome::Completed));
    assert!(
        s.destructive().is_empty(),
        "a plain lock reboots nothing: {:?}",
        s.destructive()
    );
    let node = s.world().node("worker-1").unwrap();
    assert!(
        node.disk.volatile_flag && node.disk.backup_flag,
        "the node was told it is locked: both flag files are on its disk"
    );
    let r = s.settle(120.0);
    ok(&s, r);
}

#[test]
fn crash_of_an_unlocked_worker_is_detected_and_recovered() {
    let mut s = Scenario::new(4).at(10.0, Fault::Crash("worker-1".into()));
    let r = s.run_until(9.0);
    ok(&s, r);
    assert_eq!(s.state("worker-1"), "unlocked-enabled-available");
    // Heartbeat loss one second after the crash fails the host.
    let r = s.run_until(12.0);
    ok(&s, r);
    let st = s.states("worker-1");
    assert_eq!(st.oper.as_str(), "disabled", "{}", s.trace());
    assert_eq!(
        s.alarm(AlarmId::MgmtHeartbeat, "worker-1"),
        Some(Severity::Critical)
    );
    // Power is back only through the BMC: recovery must power or reset it.
    let r = s.run_until(400.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-1"),
        "unlocked-enabled-available",
        "{}",
        s.trace()
    );
    assert!(
        s.destructive()
            .iter()
            .any(|d| d.host == "worker-1" && d.cause == Cause::AutoRecovery)
            || s.world()
                .trace()
                .any(|l| l.contains("bmc PowerOn -> worker-1")),
        "recovery went through a reboot, reset or power-on:\n{}",
        s.trace()
    );
    assert_eq!(s.alarm(AlarmId::Enable, "worker-1"), None);
    let r = s.settle(300.0);
    ok(&s, r);
}

#[test]
fn repeated_goenabled_failure_disables_auto_recovery_until_lock_unlock() {
    let mut s = Scenario::new(4)
        .locked("worker-0")
        .at(
            1.0,
            Fault::GoEnabledFailure {
                host: "worker-0".into(),
                times: 100,
            },
        )
        .at(5.0, request("worker-0", Op::Unlock));
    let r = s.run_until(900.0);
    ok(&s, r);
    assert_eq!(s.task("worker-0"), task::AR_GOENABLE, "{}", s.trace());
    assert_eq!(s.record("worker-0").ar_disabled, Some(ArCause::GoEnable));
    assert_eq!(s.state("worker-0"), "unlocked-disabled-failed");
    assert_eq!(
        s.alarm(AlarmId::Enable, "worker-0"),
        Some(Severity::Critical)
    );
    // Nothing more happens to it on its own.
    let reboots = s
        .destructive()
        .iter()
        .filter(|d| d.host == "worker-0")
        .count();
    let r = s.run_until(1200.0);
    ok(&s, r);
    assert_eq!(
        s.destructive()
            .iter()
            .filter(|d| d.host == "worker-0")
            .count(),
        reboots
    );
    // Lock/unlock retries once the fault is gone.
    s.add(1201.0, Fault::Heal("worker-0".into()));
    s.add(1202.0, request("worker-0", Op::Lock));
    s.add(1240.0, request("worker-0", Op::Unlock));
    let r = s.run_until(1500.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-0"),
        "unlocked-enabled-available",
        "{}",
        s.trace()
    );
    assert_eq!(s.record("worker-0").ar_disabled, None);
    let r = s.settle(300.0);
    ok(&s, r);
}

#[test]
fn mgmt_cut_of_all_hosts_enters_mnfa_without_destruction_and_exits_on_heal() {
    let mut s = Scenario::new(8)
        .at(10.0, Fault::CutAll(Network::Mgmt))
        .at(40.0, Fault::RestoreAll(Network::Mgmt));
    let r = s.run_until(30.0);
    ok(&s, r);
    assert!(s.core().mnfa_active(), "{}", s.trace());
    for w in ["controller-1", "worker-0", "worker-5"] {
        assert!(s.core().in_mnfa_pool(w), "{w} pooled");
    }
    assert!(
        !s.destructive()
            .iter()
            .any(|d| d.cause == Cause::AutoRecovery),
        "no reboot storm: {:?}",
        s.destructive()
    );
    let r = s.run_until(120.0);
    ok(&s, r);
    assert!(!s.core().mnfa_active(), "{}", s.trace());
    for w in ["controller-1", "worker-0", "worker-5"] {
        assert_eq!(s.state(w), "unlocked-enabled-available", "{}", s.trace());
        assert_eq!(s.alarm(AlarmId::MgmtHeartbeat, w), None);
    }
    assert!(!s
        .destructive()
        .iter()
        .any(|d| d.cause == Cause::AutoRecovery));
    let r = s.settle(300.0);
    ok(&s, r);
}

#[test]
fn active_controller_refuses_lock_and_journal_records_nothing() {
    let mut s = Scenario::new(3).at(5.0, request("controller-0", Op::Lock));
    let r = s.run_until(10.0);
    ok(&s, r);
    let req = &s.requests()[0];
    assert!(req.result.is_err(), "{:?}", req.result);
    assert!(s
        .journal()
        .iter()
        .all(|e| !matches!(e, JournalEntry::Accepted { host, .. } if host == "controller-0")));
}

#[test]
fn crashed_locked_host_is_left_alone() {
    let mut s = Scenario::new(4)
        .at(5.0, request("worker-0", Op::Lock))
        .at(60.0, Fault::Crash("worker-0".into()));
    let r = s.run_until(300.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-0"),
        "locked-disabled-offline",
        "{}",
        s.trace()
    );
    assert!(
        !s.destructive().iter().any(|d| d.host == "worker-0"),
        "{:?}",
        s.destructive()
    );
    // Power comes back with the operator's power-on (the heal here is the BMC's job).
    s.add(301.0, request("worker-0", Op::PowerOn));
    let r = s.run_until(500.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-0"),
        "locked-disabled-online",
        "{}",
        s.trace()
    );
}

#[test]
fn lock_unlock_rounds_all_end_in_the_journal() {
    let mut s = Scenario::new(6);
    for (i, w) in ["worker-0", "worker-1", "worker-2", "worker-3"]
        .iter()
        .enumerate()
    {
        s.add(5.0 + i as f64, request(w, Op::Lock));
        s.add(60.0 + i as f64, request(w, Op::Unlock));
    }
    let r = s.run_until(400.0);
    ok(&s, r);
    let ended = s
        .journal()
        .iter()
        .filter(|e| matches!(e, JournalEntry::Ended { .. }))
        .count();
    assert_eq!(ended, 8, "{:?}", s.journal());
    let r = s.settle(600.0);
    ok(&s, r);
}

#[test]
fn power_off_then_on_of_a_locked_worker() {
    let mut s = Scenario::new(4)
        .at(5.0, request("worker-0", Op::Lock))
        .at(30.0, request("worker-0", Op::PowerOff));
    let r = s.run_until(120.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-0"),
        "locked-disabled-power-off",
        "{}",
        s.trace()
    );
    assert!(!s.world().node("worker-0").unwrap().powered());
    let off = accepted_id(&s, "worker-0", Op::PowerOff);
    assert_eq!(s.outcome(off), Some(&ActionOutcome::Completed));
    s.add(121.0, request("worker-0", Op::PowerOn));
    let r = s.run_until(300.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-0"),
        "locked-disabled-online",
        "{}",
        s.trace()
    );
    let on = accepted_id(&s, "worker-0", Op::PowerOn);
    assert_eq!(s.outcome(on), Some(&ActionOutcome::Completed));
    let r = s.settle(120.0);
    ok(&s, r);
}

#[test]
fn reinstall_of_a_locked_worker_comes_back_as_a_fresh_install() {
    let mut s = Scenario::new(4)
        .at(5.0, request("worker-1", Op::Lock))
        .at(30.0, request("worker-1", Op::Reinstall));
    let boot_id_before = {
        let r = s.run_until(29.0);
        ok(&s, r);
        s.world().node("worker-1").unwrap().boot_id
    };
    let r = s.run_until(600.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-1"),
        "locked-disabled-online",
        "{}",
        s.trace()
    );
    assert_ne!(
        s.world().node("worker-1").unwrap().boot_id,
        boot_id_before,
        "it rebooted"
    );
    let id = accepted_id(&s, "worker-1", Op::Reinstall);
    assert_eq!(
        s.outcome(id),
        Some(&ActionOutcome::Completed),
        "{}",
        s.trace()
    );
    // The core put the lock flag back on the freshly installed node.
    assert!(
        s.world().node("worker-1").unwrap().disk.volatile_flag,
        "{}",
        s.trace()
    );
    let r = s.settle(300.0);
    ok(&s, r);
}

#[test]
fn unlocked_host_without_bmc_recovers_from_a_hang_once_healed() {
    let mut s = Scenario::new(4)
        .no_bmc("worker-1")
        .at(10.0, Fault::Hang("worker-1".into()))
        .at(100.0, Fault::Heal("worker-1".into()));
    let r = s.run_until(99.0);
    ok(&s, r);
    assert_ne!(
        s.state("worker-1"),
        "unlocked-enabled-available",
        "{}",
        s.trace()
    );
    // Without a BMC nothing can reset it: the core may only send reboots over the network.
    assert!(s
        .destructive()
        .iter()
        .filter(|d| d.host == "worker-1")
        .all(|d| !d.what.starts_with("bmc")));
    let r = s.run_until(400.0);
    ok(&s, r);
    assert_eq!(
        s.state("worker-1"),
        "unlocked-enabled-available",
        "{}",
        s.trace()
    );
    let r = s.settle(300.0);
    ok(&s, r);
}
