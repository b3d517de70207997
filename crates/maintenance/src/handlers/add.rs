//! Add handler (docs/handlers.md#add): runs for every host when the controller
//! starts and for every newly added host. It reconciles alarms with the stored state, restores a parked
//! auto-recovery from the task banner, soaks heartbeat of in-service hosts, then resumes whatever action
//! was queued behind it (an action interrupted by a controller restart).

use super::{HostRt, Stage};
use crate::action::Action;
use crate::alarm::{AlarmId, Severity};
use crate::core::Maintenance;
use crate::host::ArCause;
use crate::io::*;
use crate::state::*;
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddStage {
    /// Waiting `host_add_delay` before reconciling.
    StartDelay {
        deadline: Instant,
    },
    Start,
    /// Heartbeat soak of an in-service host; `lost` is set when heartbeat is lost meanwhile.
    HeartbeatSoak {
        deadline: Instant,
        lost: bool,
    },
}

impl AddStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            AddStage::StartDelay { deadline } | AddStage::HeartbeatSoak { deadline, .. } => {
                Some(deadline)
            }
            AddStage::Start => None,
        }
    }
}

impl Maintenance {
    /// Put `h` into the add handler, queueing the action it had (a restart resumes it afterwards).
    pub(crate) fn begin_add(&mut self, h: &mut HostRt) {
        let (a, id) = (h.rec.action, h.rec.action_id.take());
        if a != Action::None && a != Action::Add {
            h.rec.queued.insert(0, (a, id));
            h.rec.queued.truncate(2);
        }
        h.rec.action = Action::Add;
        h.set_stage(Stage::Add(AddStage::StartDelay {
            deadline: self.now + self.cfg.timeouts.host_add_delay.0,
        }));
    }

    pub(crate) fn add_handler(&mut self, h: &mut HostRt) {
        let now = self.now;
        let name = h.name().to_string();
        let stage = match h.stage {
            Stage::Add(s) => s,
            _ => AddStage::Start,
        };
        match stage {
            AddStage::StartDelay { .. } => {
                if h.due(now) {
                    h.set_stage(Stage::Add(AddStage::Start));
                    self.add_handler(h);
                }
            }
            AddStage::Start => {
                let s = h.rec.states;
                // Alarm reconciliation (docs/handlers.md#add).
                if !(s.admin == AdminState::Unlocked && s.oper == OperState::Disabled) {
                    self.clear(&name, AlarmId::Enable);
                }
                let locked_steady = s.oper == OperState::Disabled
                    || self.system.system_type == SystemType::AioSimplex;
                if s.admin == AdminState::Locked && locked_steady {
                    self.raise(&name, AlarmId::Locked, Severity::Warning);
                } else {
                    self.clear(&name, AlarmId::Locked);
                }
                if h.rec.bmc_provisioned() && self.alarms.is_active(AlarmId::BmcAccess, &name) {
                    // Deliberate difference
                    // (docs/differences.md#bmc-access-alarm-survives-a-controller-restart):
                    // StarlingX clears 200.010 here and re-raises it 2 minutes later if the BMC is
                    // still out. A controller restart proves nothing about the BMC, so an active
                    // alarm stays raised (no flap, no duplicate) and clears only when the BMC is
                    // seen accessible again.
                    h.rec.bmc_accessible = false;
                    h.bmc_alarm_at = None;
                }
                if self.alarms.is_active(AlarmId::Config, &name) {
                    h.rec.degrade.set(DegradeMask::CONFIG);
                }
                // A host parked by the auto-recovery threshold stays parked across restarts.
                if s.admin == AdminState::Unlocked {
                    if let Some(cause) = ArCause::from_banner(&h.rec.task) {
                        h.rec.ar_disabled = Some(cause);
                        if cause == ArCause::Config {
                            self.raise(&name, AlarmId::Config, Severity::Critical);
                        }
                        let self_host = self.is_self(h);
                        let states = if self_host {
                            HostStates::new(
                                AdminState::Unlocked,
                                OperState::Enabled,
                                Availability::Degraded,
                            )
                        } else {
                            HostStates::new(
                                AdminState::Unlocked,
                                OperState::Disabled,
                                Availability::Failed,
                            )
                        };
                        self.write_states(h, states);
                        // What the old process was doing for itself is over; an operator request
                        // accepted (and journaled) meanwhile still runs and ends (simulator seed
                        // 318/19 with restarts: a lock queued behind the add never ended).
                        h.rec.queued.retain(|(_, id)| id.is_some());
                        return self.set_action(h, Action::None, None);
                    }
                }
                if h.rec.ar_disabled.is_none() && !h.rec.task.is_empty() {
                    self.set_task(h, "");
                }
                if s.in_service() && s.avail == Availability::Degraded {
                    // Degrade causes are re-learned from their sources.
                    self.set_avail(h, Availability::Available);
                }
                self.notify(h, NodeCommand::RequestAlive, h.networks());
                let monitored = s.in_service() && !self.is_self(h) && self.heartbeat_enabled();
                if monitored {
                    self.heartbeat(h, HeartbeatControl::Start);
                    h.set_stage(Stage::Add(AddStage::HeartbeatSoak {
                        deadline: now + self.cfg.timeouts.heartbeat_soak.0,
                        lost: false,
                    }));
                    return;
                }
                self.add_done(h);
            }
            AddStage::HeartbeatSoak { lost, .. } => {
                if lost {
                    // Lost during the add soak: graceful recovery takes over.
                    let avail = if h.rec.power == PowerState::Off {
                        Availability::PowerOff
                    } else {
                        Availability::Failed
                    };
                    self.set_oper_avail(h, OperState::Disabled, avail);
                    h.rec
                        .queued
                        .retain(|(a, _)| !matches!(a, Action::Enable | Action::Recover));
                    self.add_done(h);
                    if h.rec.action == Action::None {
                        self.set_action(h, Action::Recover, None);
                    }
                    return;
                }
                if h.due(now) {
                    self.add_done(h);
                }
            }
        }
    }

    fn add_done(&mut self, h: &mut HostRt) {
        let name = h.name().to_string();
        if h.rec.states.in_service() || h.locked() {
            self.dor_host_recovered(&name);
        }
        let aio_dor = self.dor.is_some()
            && h.is_aio_controller(self.system.system_type)
            && h.rec.states.in_service()
            && h.rec.queued.is_empty();
        self.set_action(h, Action::None, None);
        if aio_dor && h.rec.action == Action::None {
            self.set_action(h, Action::EnableSubf, None);
        }
        self.mark_dirty(&name);
    }

    /// A host checked in during dead office recovery (docs/recovery.md#dead-office-recovery).
    pub(crate) fn dor_host_recovered(&mut self, host: &str) {
        if let Some(d) = self.dor.as_mut() {
            d.checked_in.insert(host.to_string());
        }
        self.dor_check_done();
    }

    pub(crate) fn dor_check_done(&mut self) {
        let Some(d) = &self.dor else { return };
        let all = self
            .hosts
            .values()
            .filter(|h| h.unlocked())
            .all(|h| d.checked_in.contains(h.name()));
        if all && !self.hosts.is_empty() {
            self.dor_end("all hosts checked in");
        }
    }
}
