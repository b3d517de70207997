//! Scenarios of the real node agent inside the simulation: what it keeps on its disk across boots
//! and tampering, and what it reports to the core. The node-side invariants are checked all along.

use steward_agent::FlagFile;
use steward_maintenance::action::OperatorAction as Op;
use steward_maintenance::state::SystemType;
use steward_simulator::{request, Fault, Scenario};

fn ok<T>(s: &Scenario, r: Result<T, steward_simulator::Violation>) -> T {
    r.unwrap_or_else(|v| panic!("{v}\n--- trace ---\n{}", s.trace()))
}

/// Bug found by running the real agent: it never reported the worker subfunction as configured,
/// so an unlocked AIO controller waited for its worker configuration until the timeout and never
/// finished enabling.
#[test]
fn aio_controller_unlock_enables_its_worker_subfunction() {
    let mut s = Scenario::new(2)
        .system(SystemType::AioDuplex)
        .at(10.0, request("controller-1", Op::Lock))
        .at(60.0, request("controller-1", Op::Unlock));
    let r = s.run_until(400.0);
    ok(&s, r);
    assert_eq!(
        s.state("controller-1"),
        "unlocked-enabled-available",
        "{}",
        s.trace()
    );
    assert_eq!(
        s.record("controller-1").action,
        steward_maintenance::action::Action::None,
        "{}",
        s.trace()
    );
    let r = s.settle(300.0);
    ok(&s, r);
}

#[test]
fn tampered_lock_flags_are_put_back_by_the_agent() {
    let mut s = Scenario::new(4)
        .at(5.0, request("worker-0", Op::Lock))
        .at(
            60.0,
            Fault::TamperFlag {
                host: "worker-0".into(),
                file: FlagFile::Volatile,
                present: false,
            },
        )
        .at(
            61.0,
            Fault::TamperFlag {
                host: "worker-1".into(),
                file: FlagFile::Backup,
                present: true,
            },
        );
    let r = s.run_until(60.0);
    ok(&s, r);
    assert!(!s.world().node("worker-0").unwrap().disk.volatile_flag);
    let r = s.run_until(70.0);
    ok(&s, r);
    let w0 = &s.world().node("worker-0").unwrap().disk;
    assert!(w0.volatile_flag && w0.backup_flag, "{w0:?}");
    let w1 = &s.world().node("worker-1").unwrap().disk;
    assert!(!w1.volatile_flag && !w1.backup_flag, "{w1:?}");
    let r = s.settle(120.0);
    ok(&s, r);
}

#[test]
fn a_locked_host_comes_back_locked_after_a_power_loss() {
    let mut s = Scenario::new(3)
        .at(5.0, request("worker-0", Op::Lock))
        .at(60.0, Fault::Crash("worker-0".into()))
        .at(70.0, Fault::Heal("worker-0".into()));
    let r = s.run_until(65.0);
    ok(&s, r);
    let d = &s.world().node("worker-0").unwrap().disk;
    assert!(
        !d.volatile_flag && d.backup_flag,
        "power loss wipes the tmpfs: {d:?}"
    );
    let r = s.run_until(200.0);
    ok(&s, r);
    let d = &s.world().node("worker-0").unwrap().disk;
    assert!(d.volatile_flag && d.backup_flag, "{d:?}");
    let r = s.settle(120.0);
    ok(&s, r);
}
