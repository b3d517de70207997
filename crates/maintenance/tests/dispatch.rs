//! The dispatch table (docs/lifecycle.md#dispatch-table), row by row, and the row-23
//! auto-correction (docs/lifecycle.md#auto-correction).

use steward_maintenance::action::Action;
use steward_maintenance::dispatch::{
    auto_correction, dispatch, is_legal_steady_state, DispatchInput, Route,
};
use steward_maintenance::state::{AdminState::*, Availability as Av, OperState::*, *};

fn d(action: Action, admin: AdminState, oper: OperState, avail: Av) -> (Route, u8, bool, bool) {
    d_sys(action, admin, oper, avail, SystemType::Standard, true)
}

fn d_sys(
    action: Action,
    admin: AdminState,
    oper: OperState,
    avail: Av,
    system: SystemType,
    pc_idle: bool,
) -> (Route, u8, bool, bool) {
    let r = dispatch(&DispatchInput {
        action,
        states: HostStates::new(admin, oper, avail),
        system,
        ar_disabled: false,
        powercycle_idle: pc_idle,
    });
    (r.route, r.row, r.insv_test, r.oos_test)
}

#[test]
fn rows_1_to_8() {
    assert_eq!(
        d(Action::Delete, Unlocked, Enabled, Av::Available).0,
        Route::Delete
    );
    // Row 3 (insv) runs beside row 4 (add) for an in-service host.
    assert_eq!(
        d(Action::Add, Unlocked, Enabled, Av::Available),
        (Route::Add, 4, true, false)
    );
    assert_eq!(
        d(Action::None, Unlocked, Enabled, Av::Available),
        (Route::Idle, 5, true, true)
    );
    assert_eq!(
        d(Action::None, Unlocked, Enabled, Av::Degraded),
        (Route::Idle, 5, true, true)
    );
    assert_eq!(
        d(Action::PowerCycle, Locked, Disabled, Av::Online).0,
        Route::PowerCycle
    );
    // Row 7: reset runs regardless of admin state, with the oos audit beside it.
    assert_eq!(
        d(Action::Reset, Unlocked, Disabled, Av::Failed),
        (Route::Reset, 7, false, true)
    );
    assert_eq!(d(Action::Reboot, Unlocked, Disabled, Av::Failed).1, 8);
}

#[test]
fn rows_9_to_16() {
    assert_eq!(
        d(Action::None, Unlocked, Enabled, Av::Failed),
        (Route::Enable, 9, false, false)
    );
    assert_eq!(d(Action::Enable, Unlocked, Disabled, Av::Online).1, 9);
    for avail in [Av::Offline, Av::Online, Av::OffDuty, Av::PowerOff] {
        assert_eq!(
            d(Action::None, Locked, Disabled, avail),
            (Route::Idle, 10, false, true)
        );
    }
    assert_eq!(
        d(Action::Recover, Unlocked, Disabled, Av::Failed),
        (Route::Recovery, 11, false, false)
    );
    assert_eq!(
        d(Action::None, Unlocked, Enabled, Av::Offline).0,
        Route::Recovery
    );
    for avail in [Av::Failed, Av::InTest, Av::Offline, Av::Online] {
        assert_eq!(
            d(Action::None, Unlocked, Disabled, avail),
            (Route::Enable, 12, false, false)
        );
    }
    assert_eq!(
        d(Action::None, Unlocked, Disabled, Av::PowerOff),
        (Route::AutoPowerOn, 13, false, false)
    );
    assert_eq!(
        d(Action::Unlock, Locked, Disabled, Av::Online),
        (Route::Enable, 14, false, false)
    );
    assert_eq!(d(Action::EnableSubf, Unlocked, Enabled, Av::Degraded).1, 15);
    assert_eq!(
        d(Action::Lock, Unlocked, Enabled, Av::Degraded).0,
        Route::Disable
    );
    assert_eq!(d(Action::ForceLock, Unlocked, Disabled, Av::Failed).1, 16);
}

#[test]
fn rows_17_to_23() {
    assert_eq!(
        d(Action::PowerOff, Unlocked, Disabled, Av::Failed),
        (Route::RejectOnUnlocked, 17, false, false)
    );
    assert_eq!(d(Action::Reinstall, Unlocked, Disabled, Av::Online).1, 17);
    assert_eq!(
        d(Action::Reinstall, Locked, Disabled, Av::Online),
        (Route::Reinstall, 18, false, false)
    );
    assert_eq!(
        d_sys(
            Action::None,
            Locked,
            Enabled,
            Av::Available,
            SystemType::AioSimplex,
            true
        ),
        (Route::Idle, 19, true, true)
    );
    assert_eq!(
        d(Action::PowerOn, Locked, Disabled, Av::PowerOff),
        (Route::Power, 20, false, true)
    );
    assert_eq!(d(Action::PowerOff, Locked, Disabled, Av::Online).1, 20);
    assert_eq!(
        d(Action::Swact, Unlocked, Enabled, Av::Available).0,
        Route::Swact
    );
    assert_eq!(
        d(Action::ForceSwact, Unlocked, Enabled, Av::Available).1,
        21
    );
    // Row 22 is shadowed by row 5 for in-service hosts (as in StarlingX's table); row 23 catches
    // the rest.
    assert_eq!(
        d(Action::None, Locked, Enabled, Av::Available),
        (Route::AutoCorrect, 23, false, false)
    );
}

#[test]
fn errata_9_13_extra_row_23_states() {
    // unlocked-disabled-power-off while the power-cycle recovery is not idle
    assert_eq!(
        d_sys(
            Action::None,
            Unlocked,
            Disabled,
            Av::PowerOff,
            SystemType::Standard,
            false
        )
        .1,
        23
    );
    assert_eq!(d(Action::None, Locked, Disabled, Av::Failed).1, 23);
    assert_eq!(d(Action::None, Locked, Disabled, Av::InTest).1, 23);
    assert_eq!(d(Action::None, Unlocked, Enabled, Av::InTest).1, 23);
}

#[test]
fn auto_correction_targets() {
    let (s, a) = auto_correction(Unlocked);
    assert_eq!(
        (s.to_string().as_str(), a),
        ("unlocked-disabled-online", Action::Unlock)
    );
    let (s, a) = auto_correction(Locked);
    assert_eq!(
        (s.to_string().as_str(), a),
        ("locked-disabled-offline", Action::ForceLock)
    );
}

#[test]
fn every_dispatch_of_a_steady_state_is_quiet() {
    // A host in a legal steady state with no action is never routed to a handler that acts on it.
    for &admin in AdminState::ALL {
        for &oper in OperState::ALL {
            for &avail in Av::ALL {
                for &system in SystemType::ALL {
                    let s = HostStates::new(admin, oper, avail);
                    if is_legal_steady_state(s, system, false) {
                        let r = dispatch(&DispatchInput {
                            action: Action::None,
                            states: s,
                            system,
                            ar_disabled: false,
                            powercycle_idle: true,
                        });
                        assert_eq!(
                            r.route,
                            Route::Idle,
                            "{s} on {system} routed to {:?} (row {})",
                            r.route,
                            r.row
                        );
                    }
                }
            }
        }
    }
}
