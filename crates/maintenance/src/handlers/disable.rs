//! Disable handler (reference: mtc-fsm.md §2.6): lock and force-lock.
//!
//! Stop heartbeat, stop host services on the node (failures are only logged), for force-lock reboot
//! the host through a reset progression, then write locked-disabled, set the node's lock flags and raise
//! the lock alarm 200.001.

use super::reset_progression::RpStatus;
use super::{HostRt, Stage};
use crate::action::{Action, ActionOutcome};
use crate::alarm::{AlarmId, LogId, Severity};
use crate::core::Maintenance;
use crate::io::*;
use crate::state::*;
use crate::task;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DisableStage {
    Start,
    ServicesWait,
    ForceLockReset,
    TaskStateUpdate,
}

impl Maintenance {
    pub(crate) fn disable_handler(&mut self, h: &mut HostRt) {
        let stage = match h.stage {
            Stage::Disable(s) => s,
            _ => {
                h.stage = Stage::Disable(DisableStage::Start);
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
                    h.deadline2 = Some(now + t.command_ack_timeout.0);
                    h.timer = Some(now + t.command_ack_timeout.0 + t.host_services_timeout.0);
                    h.stage = Stage::Disable(DisableStage::ServicesWait);
                    return;
                }
                h.stage = Stage::Disable(DisableStage::ForceLockReset);
                self.disable_handler(h)
            }
            DisableStage::ServicesWait => {
                // No acknowledgement: the node never got the command (it may be rebooting); the
                // reference treats that as a failed stop, which is only logged.
                let unacked = !h.cmd_acked && h.deadline2.is_some_and(|d| now >= d);
                if unacked {
                    self.log(
                        &name,
                        LogId::Command,
                        format!("{name} stop host services not acknowledged"),
                    );
                    h.deadline2 = None;
                    h.timer = None;
                    h.stage = Stage::Disable(DisableStage::ForceLockReset);
                    return self.disable_handler(h);
                }
                if !h.cmd_acked {
                    h.timer = h.deadline2.min(h.timer);
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
                if result.is_some() || h.timer_rang(now) {
                    if result.is_none() {
                        self.log(
                            &name,
                            LogId::Command,
                            format!("{name} stop host services timed out"),
                        );
                    }
                    h.timer = None;
                    h.stage = Stage::Disable(DisableStage::ForceLockReset);
                    self.disable_handler(h);
                }
            }
            DisableStage::ForceLockReset => {
                // Only an operator's force-lock reboots the host; an auto-corrected lock never does.
                let reboot = force
                    && h.rec.action_id.is_some()
                    && !matches!(
                        h.rec.states.avail,
                        Availability::Offline | Availability::PowerOff
                    );
                if !reboot {
                    h.stage = Stage::Disable(DisableStage::TaskStateUpdate);
                    return self.disable_handler(h);
                }
                if h.resetprog.is_none() {
                    self.set_task(h, task::FORCE_LOCK_RESET);
                    self.start_reset_progression(h, 2, false);
                    h.deadline2 = Some(now + self.reset_progression_budget(h));
                }
                let overall = h.deadline2.is_some_and(|d| now >= d);
                match self.step_reset_progression(h) {
                    RpStatus::Running if !overall => {}
                    status => {
                        if status != RpStatus::Passed {
                            self.set_task(h, task::REBOOT_RESET_TIMEOUT);
                        }
                        h.resetprog = None;
                        h.deadline2 = None;
                        h.stage = Stage::Disable(DisableStage::TaskStateUpdate);
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
                // A simplex controller locked on itself stays enabled (§1.4 row 19).
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
                h.timer = None;
                h.powercycle = Default::default();
                self.ar_enable(h);
                self.set_task(h, "");
                self.end_action(h, ActionOutcome::Completed);
            }
        }
    }
}
