//! All-in-one systems: the worker subfunction of controllers (docs/handlers.md#subfunction-enable)
//! and the simplex controller that can be locked while it stays in service
//! (docs/lifecycle.md#dispatch-table, row 19).

mod support;

use steward_maintenance::alarm::AlarmId;
use steward_maintenance::state::*;
use steward_maintenance::*;
use support::{secs, Harness};

#[test]
fn aio_duplex_unlock_enables_the_worker_subfunction_after_the_main_function() {
    let mut h = Harness::new(SystemType::AioDuplex);
    h.add("controller-0", true, true);
    h.add("controller-1", false, true);
    h.node("controller-1").flags.subf_configured = true;
    h.settle();
    let id = h.request("controller-1", OperatorAction::Unlock).unwrap();
    h.until(secs(300), |h| {
        h.task("controller-1") == task::ENABLING_WORKER
    })
    .expect("main enabled first");
    assert_eq!(h.action("controller-1"), Action::EnableSubf);
    h.until(secs(300), |h| h.action("controller-1") == Action::None)
        .expect("subfunction enabled");
    let rec = h.core.host("controller-1").unwrap();
    assert_eq!(rec.states.to_string(), "unlocked-enabled-available");
    let subf = rec.subf.expect("AIO controllers have a subfunction");
    assert_eq!(
        (subf.oper, subf.avail),
        (OperState::Enabled, Availability::Available)
    );
    assert_eq!(
        h.sent("controller-1", |c| *c == NodeCommand::SubfGoEnabled),
        1
    );
    assert_eq!(
        h.journal_end(id),
        Some(ActionOutcome::Completed),
        "the unlock ends with the subfunction"
    );
}

#[test]
fn aio_subfunction_config_timeout_degrades_and_raises_200_013() {
    let mut h = Harness::new(SystemType::AioDuplex);
    h.add("controller-0", true, true);
    h.add("controller-1", false, true);
    h.settle();
    h.request("controller-1", OperatorAction::Unlock).unwrap();
    h.until(secs(300), |h| {
        h.task("controller-1") == task::ENABLING_WORKER
    })
    .expect("main enabled");
    // The worker configuration never completes: 840 s later the subfunction fails.
    let t = h
        .until(secs(900), |h| {
            h.alarm("controller-1", AlarmId::ComputeFunction)
        })
        .expect("200.013");
    assert!((839..=842).contains(&t.as_secs()), "{t:?}");
    let subf = h.core.host("controller-1").unwrap().subf.unwrap();
    assert_eq!(subf.avail, Availability::Failed);
}

#[test]
fn aio_simplex_controller_locks_into_locked_enabled_available() {
    let mut h = Harness::new(SystemType::AioSimplex);
    h.add("controller-0", true, true);
    h.settle();
    let id = h.request("controller-0", OperatorAction::Lock).unwrap();
    h.until(secs(60), |h| h.action("controller-0") == Action::None)
        .expect("locked");
    assert_eq!(h.journal_end(id), Some(ActionOutcome::Completed));
    assert_eq!(h.states("controller-0"), "locked-enabled-available");
    assert!(h.alarm("controller-0", AlarmId::Locked));
    // Unlocking itself is a graceful self-reboot, never a reset.
    h.request("controller-0", OperatorAction::Unlock).unwrap();
    assert_eq!(h.task("controller-0"), task::SELF_UNLOCK);
    assert_eq!(h.sent("controller-0", |c| *c == NodeCommand::LazyReboot), 1);
    assert_eq!(h.sent("controller-0", |c| *c == NodeCommand::Reboot), 0);
    assert_eq!(h.bmc_ops("controller-0", BmcOp::PowerReset), 0);
}
