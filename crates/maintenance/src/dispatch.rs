//! The dispatch table (docs/lifecycle.md#dispatch-table, all 23 rows, and the row-23
//! auto-correction of docs/lifecycle.md#auto-correction).
//!
//! Each pass over a host picks, first match wins, the one handler that owns the host right now. The
//! in-service and out-of-service audits that run *beside* a handler are reported as flags.

use crate::action::Action;
use crate::state::*;

/// What dispatch looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DispatchInput {
    pub action: Action,
    pub states: HostStates,
    pub system: SystemType,
    pub ar_disabled: bool,
    /// The powercycle recovery is idle (no attempts, nothing running).
    pub powercycle_idle: bool,
}

/// The handler chosen for this pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Delete,
    Add,
    PowerCycle,
    Reset,
    Reboot,
    Enable,
    Recovery,
    /// Row 13: an unlocked host that is powered off gets an automatic power-on.
    AutoPowerOn,
    EnableSubf,
    Disable,
    /// Row 17: power-off or reinstall of an unlocked host is dropped.
    RejectOnUnlocked,
    Reinstall,
    Power,
    Swact,
    /// Nothing to do beyond the audits.
    Idle,
    /// Row 23: an unsupported combination is forced to a known one.
    AutoCorrect,
}

/// The routing decision plus the audits that run alongside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dispatch {
    pub route: Route,
    /// Row 3 (and row 19 for a locked simplex controller).
    pub insv_test: bool,
    /// Rows 5, 7, 10, 19, 20.
    pub oos_test: bool,
    /// 1-based row of the table (docs/lifecycle.md#dispatch-table) that matched, for tests and
    /// logs.
    pub row: u8,
}

/// Pick the handler for this pass.
pub fn dispatch(d: &DispatchInput) -> Dispatch {
    use Action as A;
    use AdminState::*;
    use Availability as Av;
    use OperState::*;

    let s = d.states;
    let unlocked = s.admin == Unlocked;
    let locked = s.admin == Locked;
    let ue_in_service = s.in_service();
    let insv = !d.ar_disabled && ue_in_service;
    let r = |route, row, oos| Dispatch {
        route,
        insv_test: insv,
        oos_test: oos,
        row,
    };

    // Row 1 (row 2, the password handler, is not carried: no /etc/shadow watching in steward).
    if d.action == A::Delete {
        return Dispatch {
            route: Route::Delete,
            insv_test: false,
            oos_test: false,
            row: 1,
        };
    }
    if d.action == A::Add {
        return r(Route::Add, 4, false);
    }
    if d.action == A::None && ue_in_service {
        return r(Route::Idle, 5, true);
    }
    if d.action == A::PowerCycle {
        return r(Route::PowerCycle, 6, false);
    }
    if d.action == A::Reset {
        return r(Route::Reset, 7, true);
    }
    if d.action == A::Reboot {
        return r(Route::Reboot, 8, false);
    }
    if (d.action == A::None && unlocked && s.oper == Enabled && s.avail == Av::Failed)
        || d.action == A::Enable
    {
        return r(Route::Enable, 9, false);
    }
    if d.action == A::None
        && locked
        && s.oper == Disabled
        && matches!(
            s.avail,
            Av::Offline | Av::Online | Av::OffDuty | Av::PowerOff
        )
    {
        return r(Route::Idle, 10, true);
    }
    if unlocked && (d.action == A::Recover || (s.oper == Enabled && s.avail == Av::Offline)) {
        return r(Route::Recovery, 11, false);
    }
    if d.action == A::None
        && unlocked
        && s.oper == Disabled
        && matches!(s.avail, Av::Failed | Av::InTest | Av::Offline | Av::Online)
    {
        return r(Route::Enable, 12, false);
    }
    if d.action == A::None && unlocked && s.avail == Av::PowerOff && d.powercycle_idle {
        return r(Route::AutoPowerOn, 13, false);
    }
    if d.action == A::Unlock {
        return r(Route::Enable, 14, false);
    }
    if d.action == A::EnableSubf {
        return r(Route::EnableSubf, 15, false);
    }
    if matches!(d.action, A::Lock | A::ForceLock) {
        return r(Route::Disable, 16, false);
    }
    if unlocked && matches!(d.action, A::PowerOff | A::Reinstall) {
        return r(Route::RejectOnUnlocked, 17, false);
    }
    if d.action == A::Reinstall {
        return r(Route::Reinstall, 18, false);
    }
    if d.system == SystemType::AioSimplex && d.action == A::None && locked {
        return Dispatch {
            route: Route::Idle,
            insv_test: true,
            oos_test: true,
            row: 19,
        };
    }
    if matches!(d.action, A::PowerOff | A::PowerOn) {
        return r(Route::Power, 20, true);
    }
    if matches!(d.action, A::Swact | A::ForceSwact) {
        return r(Route::Swact, 21, false);
    }
    if d.action == A::None && unlocked && s.oper == Enabled && s.avail == Av::Degraded {
        return r(Route::Idle, 22, false);
    }
    r(Route::AutoCorrect, 23, false)
}

/// The state row 23 forces, and the action it starts.
pub fn auto_correction(admin: AdminState) -> (HostStates, Action) {
    match admin {
        AdminState::Unlocked => (
            HostStates::new(
                AdminState::Unlocked,
                OperState::Disabled,
                Availability::Online,
            ),
            Action::Unlock,
        ),
        AdminState::Locked => (
            HostStates::new(
                AdminState::Locked,
                OperState::Disabled,
                Availability::Offline,
            ),
            Action::ForceLock,
        ),
    }
}

/// Steady states a host may rest in once every action has finished
/// (docs/lifecycle.md#legal-steady-states).
pub fn is_legal_steady_state(s: HostStates, system: SystemType, ar_disabled: bool) -> bool {
    use Availability as Av;
    match (s.admin, s.oper) {
        (AdminState::Locked, OperState::Disabled) => {
            matches!(
                s.avail,
                Av::Offline | Av::Online | Av::PowerOff | Av::OffDuty
            )
        }
        (AdminState::Unlocked, OperState::Enabled) => {
            matches!(s.avail, Av::Available | Av::Degraded)
        }
        (AdminState::Locked, OperState::Enabled) => {
            system == SystemType::AioSimplex && s.avail == Av::Available
        }
        (AdminState::Unlocked, OperState::Disabled) => ar_disabled && s.avail == Av::Failed,
    }
}
