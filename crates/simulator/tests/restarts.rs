//! Controller restarts in simulation: the controller writes every step through the real write-ahead
//! step into a store the world can fault, and a restart rebuilds the core with `restore` from what
//! is durable, in a new session. The restart invariants are checked at every restart and at the end.

use steward_agent::FlagFile;
use steward_maintenance::action::OperatorAction as Op;
use steward_simulator::store::StorageFault;
use steward_simulator::{request, Fault, Invariant, Scenario};

fn ok<T>(s: &Scenario, r: Result<T, steward_simulator::Violation>) -> T {
    r.unwrap_or_else(|v| panic!("{v}\n--- trace ---\n{}", s.trace()))
}

#[test]
fn a_restart_in_the_middle_of_a_lock_still_ends_the_action() {
    let mut s = Scenario::new(4)
        .at(5.0, request("worker-0", Op::Lock))
        .at(5.05, Fault::ControllerCrash);
    let r = s.run_until(200.0);
    ok(&s, r);
    assert_eq!(s.world().stats.controller_restarts, 1);
    let r = s.settle(300.0);
    ok(&s, r);
}

#[test]
fn every_storage_fault_restarts_from_the_store_and_settles() {
    for fault in [
        StorageFault::CrashBeforeCommit,
        StorageFault::CrashAfterCommit,
        StorageFault::FailedWrite,
    ] {
        let mut s = Scenario::new(5)
            .locked("worker-1")
            .at(4.9, Fault::Storage(fault))
            .at(5.0, request("worker-0", Op::Lock))
            .at(30.0, Fault::Storage(fault))
            .at(30.0, request("worker-1", Op::Unlock));
        let r = s.run_until(400.0);
        ok(&s, r);
        assert_eq!(s.world().stats.controller_restarts, 2, "{fault:?}");
        // The lock's step was struck: the controller died before answering the operator.
        let lock = &s.requests()[0];
        assert!(!lock.answered, "{fault:?}: {lock:?}");
        let r = s.settle(600.0);
        ok(&s, r);
    }
}

/// The bug a process test once found: a restarted controller numbers its commands from 1 again,
/// and an agent that remembered those ids from the old session acked its commands without acting.
/// The real agent forgets the ids of an old session; an agent without that reset is caught by the
/// node-side invariant (the flags do not follow the LOCKED the node accepted).
#[test]
fn an_unlock_sent_after_a_restart_is_carried_out() {
    // The old session's LOCKED commands and the new session's UNLOCKED carry the same ids.
    let build = || {
        Scenario::new(3)
            .at(10.0, request("worker-0", Op::Lock))
            .at(150.0, Fault::ControllerCrash)
            .at(160.0, request("worker-0", Op::Unlock))
    };
    let mut s = build();
    let r = s.run_until(400.0);
    ok(&s, r);
    let d = &s.world().node("worker-0").unwrap().disk;
    assert!(!d.volatile_flag && !d.backup_flag, "{d:?}\n{}", s.trace());
    assert_eq!(s.state("worker-0"), "unlocked-enabled-available");

    let mut s = build();
    let r = s.run_until(0.0);
    ok(&s, r);
    s.world_mut().agent_session_reset = false;
    let v = s
        .run_until(400.0)
        .err()
        .unwrap_or_else(|| panic!("an agent keeping old-session ids went unnoticed"));
    assert_eq!(v.invariant, Invariant::LockFlagsFollowConfirmedState, "{v}");
}

#[test]
fn restarts_and_tampering_together_settle() {
    let mut s = Scenario::new(6)
        .at(5.0, request("worker-0", Op::Lock))
        .at(6.0, Fault::Storage(StorageFault::FailedWrite))
        .at(
            7.0,
            Fault::TamperFlag {
                host: "worker-1".into(),
                file: FlagFile::Volatile,
                present: true,
            },
        )
        .at(8.0, Fault::Crash("worker-2".into()))
        .at(9.0, Fault::ControllerCrash)
        .at(60.0, request("worker-0", Op::Unlock));
    let r = s.run_until(300.0);
    ok(&s, r);
    let r = s.settle(600.0);
    ok(&s, r);
}
