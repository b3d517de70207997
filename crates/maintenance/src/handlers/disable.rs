//! Disable handler (docs/handlers.md#disable): lock and force-lock.
//!
//! Stop heartbeat, stop host services on the node (failures are only logged), for force-lock reboot
//! the host through a reset progression, then write locked-disabled, set the node's lock flags and raise
//! the lock alarm 200.001.

use super::reset_progression::{ResetProg, RpStatus};
use super::{HostRt, Stage};
use crate::action::{Action, ActionOutcome};
use crate::alarm::{AlarmId, LogId, Severity};
use crate::core::Maintenance;
use crate::io::*;
use crate::state::*;
use crate::task;
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DisableStage {
    Start,
    /// Stop-services sent: to be acknowledged by `ack_by` (`command_ack_timeout` after sending)
    /// and answered by `deadline` (`command_ack_timeout` + `host_services_timeout` after sending).
    /// The stage wakes the host at `ack_by` until it has seen the acknowledgement (`acked`), then
    /// at `deadline`; nothing else moves either time.
    ServicesWait {
        ack_by: Instant,
        deadline: Instant,
        acked: bool,
    },
    /// Force-lock reboot: the reset progression `rp` (started on entry) within the `overall`
    /// budget (checked at each step of the progression; it does not wake the host by itself).
    ForceLockReset {
        rp: Option<ResetProg>,
        overall: Option<Instant>,
    },
    TaskStateUpdate,
}

impl DisableStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            DisableStage::Start | DisableStage::TaskStateUpdate => None,
            DisableStage::ServicesWait {
                ack_by,
                deadline,
                acked,
            } => Some(if acked { deadline } else { ack_by }),
            DisableStage::ForceLockReset { rp, .. } => rp.map(|r| r.deadline()),
        }
    }
}

/// Entering the force-lock reboot: no progression yet.
const FORCE_LOCK_RESET: DisableStage = DisableStage::ForceLockReset {
    rp: None,
    overall: None,
};

impl Maintenance {
    pub(crate) fn disable_handler(&mut self, h: &mut HostRt) {
        let stage = match h.stage {
            Stage::Disable(s) => s,
            _ => {
                h.set_stage(Stage::Disable(DisableStage::Start));
                DisableStage::Start
            }
        };
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        let name = h.name().to_string();
        let force = h.rec.action == Action::ForceLock;
        match stage {
            DisableStage::Start => {
                h.clear_pending_io();
                h.offline_audit = None;
                h.rec.degrade.clear_all_but_hwmon();
                h.forcing_full_enable = false;
                // The admin state turns locked when the lock is done (TASK_STATE_UPDATE); a force-lock
                // takes the host out of service at once.
                if force {
                    let was_in_service = h.rec.states.oper == OperState::Enabled;
                    let mut s = h.rec.states;
                    s.oper = OperState::Disabled;
                    if !matches!(s.avail, Availability::PowerOff | Availability::Offline) {
                        s.avail = if was_in_service {
                            Availability::Online
                        } else {
                            Availability::Offline
                        };
                    }
                    self.write_states(h, s);
                }
                if h.rec.spec.personality == Personality::Controller {
                    self.set_task(h, task::DISABLING_CONTROLLER);
                } else {
                    self.set_task(h, task::DISABLING_SERVICES);
                }
                self.heartbeat(h, HeartbeatControl::Stop);
                self.heartbeat_fresh_start(h);
                let reachable = h
                    .alive
                    .last
                    .is_some_and(|l| now.since(l) < t.alive_period.0 * 3);
                if reachable
                    && !matches!(
                        h.rec.states.avail,
                        Availability::Offline | Availability::PowerOff
                    )
                {
                    self.send(
                        h,
                        NodeCommand::StopServices,
                        vec![Network::Mgmt],
                        Cause::Routine,
                    );
                    h.services = None;
                    h.set_stage(Stage::Disable(DisableStage::ServicesWait {
                        ack_by: now + t.command_ack_timeout.0,
                        deadline: now + t.command_ack_timeout.0 + t.host_services_timeout.0,
                        acked: false,
                    }));
                    return;
                }
                h.set_stage(Stage::Disable(FORCE_LOCK_RESET));
                self.disable_handler(h)
            }
            DisableStage::ServicesWait {
                ack_by,
                deadline,
                acked,
            } => {
                // No acknowledgement: the node never got the command (it may be rebooting); the
                // StarlingX treats that as a failed stop, which is only logged.
                let unacked = !h.cmd_acked && now >= ack_by;
                if unacked {
                    self.log(
                        &name,
                        LogId::Command,
                        format!("{name} stop host services not acknowledged"),
                    );
                    h.set_stage(Stage::Disable(FORCE_LOCK_RESET));
                    return self.disable_handler(h);
                }
                if h.cmd_acked && !acked {
                    // Acknowledged: now wait for the result, up to the services deadline.
                    h.set_stage(Stage::Disable(DisableStage::ServicesWait {
                        ack_by,
                        deadline,
                        acked: true,
                    }));
                }
                let result = h.services.take();
                if let Some((passed, detail)) = &result {
                    if !passed {
                        self.log(
                            &name,
                            LogId::Command,
                            format!("{name} stop host services failed: {detail}"),
                        );
                    }
                }
                if result.is_some() || h.due(now) {
                    if result.is_none() {
                        self.log(
                            &name,
                            LogId::Command,
                            format!("{name} stop host services timed out"),
                        );
                    }
                    h.set_stage(Stage::Disable(FORCE_LOCK_RESET));
                    self.disable_handler(h);
                }
            }
            DisableStage::ForceLockReset {
                mut rp,
                mut overall,
            } => {
                // Only an operator's force-lock reboots the host; an auto-corrected lock never does.
                let reboot = force
                    && h.rec.action_id.is_some()
                    && !matches!(
                        h.rec.states.avail,
                        Availability::Offline | Availability::PowerOff
                    );
                if !reboot {
                    h.set_stage(Stage::Disable(DisableStage::TaskStateUpdate));
                    return self.disable_handler(h);
                }
                if rp.is_none() {
                    self.set_task(h, task::FORCE_LOCK_RESET);
                    rp = Some(self.start_reset_progression(h, 2, false));
                    overall = Some(now + self.reset_progression_budget(h));
                }
                let over = overall.is_some_and(|d| now >= d);
                match self.step_reset_progression(h, &mut rp) {
                    RpStatus::Running if !over => {
                        h.set_stage(Stage::Disable(DisableStage::ForceLockReset { rp, overall }));
                    }
                    status => {
                        if status != RpStatus::Passed {
                            self.set_task(h, task::REBOOT_RESET_TIMEOUT);
                        }
                        h.set_stage(Stage::Disable(DisableStage::TaskStateUpdate));
                        self.disable_handler(h);
                    }
                }
            }
            DisableStage::TaskStateUpdate => {
                let persist = self.system.system_type != SystemType::AioSimplex;
                if !cfg!(mutation = "lock-without-locked-command") {
                    self.notify(h, NodeCommand::Locked { persist }, h.networks());
                }
                let heard = h
                    .alive
                    .last
                    .is_some_and(|l| now.since(l) < t.alive_period.0 * 3);
                let avail = match h.rec.states.avail {
                    Availability::PowerOff => Availability::PowerOff,
                    Availability::Offline | Availability::Failed => Availability::Offline,
                    _ if heard => Availability::Online,
                    _ => Availability::Offline,
                };
                // A simplex controller locked on itself stays enabled
                // (docs/lifecycle.md#dispatch-table, row 19).
                let simplex_self =
                    self.system.system_type == SystemType::AioSimplex && self.is_self(h);
                let (oper, avail) = if simplex_self {
                    (OperState::Enabled, Availability::Available)
                } else {
                    (OperState::Disabled, avail)
                };
                self.write_states(h, HostStates::new(AdminState::Locked, oper, avail));
                if !simplex_self {
                    self.set_subf(h, OperState::Disabled, avail);
                }
                self.raise(&name, AlarmId::Locked, Severity::Warning);
                self.clear(&name, AlarmId::Enable);
                self.clear(&name, AlarmId::ComputeFunction);
                h.powercycle = Default::default();
                self.ar_enable(h);
                self.set_task(h, "");
                self.end_action(h, ActionOutcome::Completed);
            }
        }
    }
}
