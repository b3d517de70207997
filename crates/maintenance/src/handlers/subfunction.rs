//! Subfunction enable (docs/handlers.md#subfunction-enable): the worker side of an all-in-one
//! controller, after its main function is enabled.

use super::{HostRt, Stage};
use crate::action::ActionOutcome;
use crate::alarm::{AlarmId, Severity};
use crate::core::Maintenance;
use crate::host::ArCause;
use crate::io::*;
use crate::state::*;
use crate::task;
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SubfStage {
    Start,
    ConfigWait {
        deadline: Instant,
    },
    GoEnabledWait {
        deadline: Instant,
    },
    /// `lost` is set when heartbeat is lost during the soak.
    HeartbeatSoak {
        deadline: Instant,
        lost: bool,
    },
    StateChange,
}

impl SubfStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            SubfStage::Start | SubfStage::StateChange => None,
            SubfStage::ConfigWait { deadline }
            | SubfStage::GoEnabledWait { deadline }
            | SubfStage::HeartbeatSoak { deadline, .. } => Some(deadline),
        }
    }
}

impl Maintenance {
    pub(crate) fn subf_handler(&mut self, h: &mut HostRt) {
        if h.rec.ar_disabled.is_some() {
            return;
        }
        let stage = match h.stage {
            Stage::Subf(s) => s,
            _ => {
                h.set_stage(Stage::Subf(SubfStage::Start));
                SubfStage::Start
            }
        };
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        let name = h.name().to_string();
        match stage {
            SubfStage::Start => {
                self.set_task(h, task::ENABLING_WORKER);
                h.set_stage(Stage::Subf(SubfStage::ConfigWait {
                    deadline: now + t.worker_config_timeout.0,
                }));
                self.subf_handler(h)
            }
            SubfStage::ConfigWait { .. } => {
                let f = h.alive.flags;
                if f.not_healthy {
                    self.raise(&name, AlarmId::Config, Severity::Critical);
                    self.set_task(h, task::WORKER_CONFIG_FAILED);
                    return self.subf_failed(h, ArCause::Config);
                }
                if f.subf_configured {
                    self.clear(&name, AlarmId::Config);
                    h.subf_goenabled = None;
                    h.forget_subf_test_flags();
                    self.send(
                        h,
                        NodeCommand::SubfGoEnabled,
                        vec![Network::Mgmt],
                        Cause::Routine,
                    );
                    h.set_stage(Stage::Subf(SubfStage::GoEnabledWait {
                        deadline: now + t.goenabled_timeout.0 + std::time::Duration::from_secs(3),
                    }));
                    return;
                }
                if h.due(now) {
                    self.set_task(h, task::WORKER_CONFIG_TIMEOUT);
                    self.subf_failed(h, ArCause::Config);
                }
            }
            SubfStage::GoEnabledWait { .. } => {
                let f = h.alive.flags;
                let r = h.subf_goenabled.take();
                if matches!(r, Some((false, _))) || f.subf_goenable_failed {
                    self.set_task(h, task::WORKER_INTEST_FAILED);
                    return self.subf_failed(h, ArCause::GoEnable);
                }
                if matches!(r, Some((true, _))) || f.subf_goenabled {
                    self.clear(&name, AlarmId::Enable);
                    self.clear(&name, AlarmId::ComputeFunction);
                    if self.is_self(h) || !self.heartbeat_enabled() {
                        h.set_stage(Stage::Subf(SubfStage::StateChange));
                        return self.subf_handler(h);
                    }
                    self.heartbeat(h, HeartbeatControl::Start);
                    h.set_stage(Stage::Subf(SubfStage::HeartbeatSoak {
                        deadline: now + t.heartbeat_soak.0,
                        lost: false,
                    }));
                    return;
                }
                if h.due(now) {
                    self.set_task(h, task::WORKER_INTEST_TIMEOUT);
                    self.subf_failed(h, ArCause::GoEnable);
                }
            }
            SubfStage::HeartbeatSoak { deadline, lost } => {
                if lost {
                    // Counted once: if the stage outlives the failure, the loss is not seen again.
                    let lost = false;
                    h.set_stage(Stage::Subf(SubfStage::HeartbeatSoak { deadline, lost }));
                    return self.subf_failed(h, ArCause::Heartbeat);
                }
                if h.due(now) {
                    h.set_stage(Stage::Subf(SubfStage::StateChange));
                    self.subf_handler(h);
                }
            }
            SubfStage::StateChange => {
                self.set_subf(h, OperState::Enabled, Availability::Available);
                let avail = if h.rec.degrade.is_empty() {
                    Availability::Available
                } else {
                    Availability::Degraded
                };
                self.set_oper_avail(h, OperState::Enabled, avail);
                self.clear(&name, AlarmId::ComputeFunction);
                self.set_task(h, "");
                self.ar_enable(h);
                self.end_action(h, ActionOutcome::Completed);
            }
        }
    }

    /// The worker side failed: the main function stays in service, degraded; 200.013 is raised
    /// and a full enable is forced (unless it is the active controller, which only degrades).
    fn subf_failed(&mut self, h: &mut HostRt, cause: ArCause) {
        let name = h.name().to_string();
        // The worker-side wait is over: its deadline no longer wakes the host.
        h.spend_deadline();
        self.set_subf(h, OperState::Disabled, Availability::Failed);
        h.rec.degrade.set(DegradeMask::SUBF);
        self.raise(&name, AlarmId::ComputeFunction, Severity::Critical);
        self.set_oper_avail(h, OperState::Enabled, Availability::Degraded);
        let reason = h.rec.task.clone();
        if !self.ar_manage(h, cause) {
            return;
        }
        self.end_action(h, ActionOutcome::Failed { reason });
        if !self.is_self(h) {
            self.force_full_enable(h, "worker subfunction failed");
        }
    }
}
