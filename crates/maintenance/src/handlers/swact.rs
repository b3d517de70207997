//! Swact handler (docs/handlers.md#swact): hand the active role to the enabled standby controller.
//! The runtime carries out the hand-over (lease transfer) and reports back; a swact blocks every other
//! action in the cluster while it runs.

use super::{HostRt, Stage};
use crate::action::ActionOutcome;
use crate::core::Maintenance;
use crate::io::Effect;
use crate::state::Personality;
use crate::task;
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SwactStage {
    Start,
    /// Waiting for the runtime's report (`result`, filled in by `swact_result`) until `deadline`.
    Wait {
        deadline: Instant,
        result: Option<bool>,
    },
}

impl SwactStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            SwactStage::Start => None,
            SwactStage::Wait { deadline, .. } => Some(deadline),
        }
    }
}

impl Maintenance {
    pub(crate) fn swact_handler(&mut self, h: &mut HostRt) {
        let now = self.now;
        let stage = match h.stage {
            Stage::Swact(s) => s,
            _ => SwactStage::Start,
        };
        match stage {
            SwactStage::Start => {
                let target = self
                    .hosts
                    .values()
                    .find(|o| {
                        o.rec.spec.personality == Personality::Controller
                            && o.rec.states.in_service()
                    })
                    .map(|o| o.name().to_string());
                let Some(to) = target else {
                    self.end_with_task(
                        h,
                        task::SWACT_FAILED,
                        ActionOutcome::Failed {
                            reason: "no enabled standby controller".into(),
                        },
                    );
                    return;
                };
                self.swact_in_progress = true;
                self.set_task(h, task::SWACT_IN_PROGRESS);
                self.emit(Effect::Swact { to });
                h.set_stage(Stage::Swact(SwactStage::Wait {
                    deadline: now + self.cfg.timeouts.swact_timeout.0,
                    result: None,
                }));
            }
            SwactStage::Wait { result, .. } => {
                let (text, outcome) = match result {
                    Some(true) => (task::SWACT_COMPLETE, ActionOutcome::Completed),
                    Some(false) => (
                        task::SWACT_FAILED,
                        ActionOutcome::Failed {
                            reason: "standby did not take over".into(),
                        },
                    ),
                    None if h.due(now) => (
                        task::SWACT_TIMEOUT,
                        ActionOutcome::Failed {
                            reason: "swact timed out".into(),
                        },
                    ),
                    None => return,
                };
                self.swact_in_progress = false;
                self.end_with_task(h, text, outcome);
            }
        }
    }
}
