//! The reset progression (docs/handlers.md#reset-progression) and the reboot handler
//! (docs/handlers.md#reboot).
//!
//! A reset progression asks the node to reboot on every network, escalates to a BMC reset after
//! `reboot_tries_before_bmc` unanswered tries and the kdump grace `bmc_reset_delay`, and finishes when
//! the host is seen offline or, better, comes back with a new boot id. Enable, reboot and force-lock
//! share it: each keeps its progression inside its own stage (`Option<ResetProg>`, `None` once the
//! progression ended) and steps it with [`Maintenance::step_reset_progression`].

use super::{HostRt, Stage};
use crate::action::ActionOutcome;
use crate::core::Maintenance;
use crate::io::*;
use crate::state::Availability;
use crate::task;
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RpStage {
    Reboot,
    AckWait,
    BmcDelay,
    BmcWait,
    OfflineCheck,
}

/// Result of one step of a running progression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RpStatus {
    Running,
    Passed,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResetProg {
    stage: RpStage,
    deadline: Instant,
    /// The boot id when the progression started: a report from another boot means it rebooted.
    boot_before: Option<u64>,
    /// Extra whole progressions allowed after the first.
    retries_allowed: u32,
    progression: u32,
    reboot_tries: u32,
    /// Whether to show progress in the task line.
    task_updates: bool,
}

/// Unanswered reboots before the whole progression restarts (offline check,
/// docs/handlers.md#reset-progression).
const REBOOT_TRIES_PER_PROGRESSION: u32 = 7;

impl ResetProg {
    fn new(
        now: Instant,
        boot_before: Option<u64>,
        retries_allowed: u32,
        task_updates: bool,
    ) -> Self {
        ResetProg {
            stage: RpStage::Reboot,
            deadline: now,
            boot_before,
            retries_allowed,
            progression: 0,
            reboot_tries: 0,
            task_updates,
        }
    }

    /// When the running progression needs its next step.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    pub fn boot_before(&self) -> Option<u64> {
        self.boot_before
    }
}

impl Maintenance {
    /// Start a reset progression on `h`, for the caller to keep in its stage. The boot id at this
    /// moment tells later whether it rebooted.
    pub(crate) fn start_reset_progression(
        &mut self,
        h: &mut HostRt,
        retries: u32,
        task_updates: bool,
    ) -> ResetProg {
        let rp = ResetProg::new(self.now, h.alive.boot_id, retries, task_updates);
        if task_updates {
            self.set_task(h, task::REBOOT_REQUEST);
        }
        self.start_offline_audit(h);
        rp
    }

    /// Advance the progression in `slot` (the caller's stage data). While it runs, its next
    /// deadline is `ResetProg::deadline`; once it passed or failed, `slot` is emptied.
    pub(crate) fn step_reset_progression(
        &mut self,
        h: &mut HostRt,
        slot: &mut Option<ResetProg>,
    ) -> RpStatus {
        let Some(mut rp) = *slot else {
            return RpStatus::Failed;
        };
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        // The host came back from a fresh boot: whatever stage we are in, the reboot happened.
        if h.rebooted_since(rp.boot_before) && h.alive.last.is_some() {
            *slot = None;
            return RpStatus::Passed;
        }
        loop {
            match rp.stage {
                RpStage::Reboot => {
                    let cause = self.cause(h);
                    let nets = h.reboot_networks();
                    self.send(h, NodeCommand::Reboot, nets, cause);
                    rp.stage = RpStage::AckWait;
                    rp.deadline = now + t.command_ack_timeout.0;
                }
                RpStage::AckWait => {
                    if h.cmd_acked {
                        h.cmd_acked = false;
                        if rp.task_updates {
                            self.set_task(h, task::REBOOTING);
                        }
                        rp.reboot_tries += 1;
                        rp.stage = RpStage::OfflineCheck;
                        rp.deadline = now + self.offline_window() * 3;
                        if h.offline_audit.is_none() {
                            self.start_offline_audit(h);
                        }
                        continue;
                    }
                    if now < rp.deadline {
                        break;
                    }
                    if rp.task_updates && rp.reboot_tries == 0 {
                        self.set_task(h, task::REBOOT_FAILED);
                    }
                    rp.reboot_tries += 1;
                    if rp.reboot_tries >= self.cfg.thresholds.reboot_tries_before_bmc {
                        // Escalate: give kdump its grace, then reset through the BMC.
                        let used = t.command_ack_timeout.0 * rp.reboot_tries;
                        rp.stage = RpStage::BmcDelay;
                        rp.deadline = now + t.bmc_reset_delay.0.saturating_sub(used);
                        continue;
                    }
                    rp.stage = RpStage::Reboot;
                    continue;
                }
                RpStage::BmcDelay => {
                    if now < rp.deadline {
                        break;
                    }
                    if h.bmc_usable() {
                        if rp.task_updates {
                            self.set_task(h, task::RESET_REQUEST);
                        }
                        self.bmc(h, BmcOp::PowerReset);
                        rp.stage = RpStage::BmcWait;
                        rp.deadline = now + t.bmc_action_timeout.0;
                    } else {
                        rp.stage = RpStage::OfflineCheck;
                        rp.deadline = now + self.offline_window() * 3;
                    }
                    break;
                }
                RpStage::BmcWait => {
                    if let Some(out) = h.take_bmc() {
                        if rp.task_updates {
                            let text = match out {
                                BmcOutcome::Done(_) => task::RESETTING,
                                BmcOutcome::Failed(_) => "Reset Failed",
                            };
                            self.set_task(h, text);
                        }
                    } else if now < rp.deadline {
                        break;
                    }
                    rp.stage = RpStage::OfflineCheck;
                    rp.deadline = now + self.offline_window() * 3;
                    if h.offline_audit.is_none() {
                        self.start_offline_audit(h);
                    }
                    break;
                }
                RpStage::OfflineCheck => {
                    if matches!(
                        h.rec.states.avail,
                        Availability::Offline | Availability::PowerOff
                    ) {
                        *slot = None;
                        return RpStatus::Passed;
                    }
                    if now < rp.deadline {
                        break;
                    }
                    if rp.reboot_tries < REBOOT_TRIES_PER_PROGRESSION {
                        rp.stage = RpStage::Reboot;
                        continue;
                    }
                    rp.progression += 1;
                    if rp.progression > rp.retries_allowed {
                        *slot = None;
                        return RpStatus::Failed;
                    }
                    rp.reboot_tries = 0;
                    rp.stage = RpStage::Reboot;
                    continue;
                }
            }
        }
        *slot = Some(rp);
        RpStatus::Running
    }

    /// Reboot handler (docs/handlers.md#reboot): a locked host (or the simplex controller itself)
    /// is rebooted.
    pub(crate) fn reboot_handler(&mut self, h: &mut HostRt) {
        let Stage::Reboot(stage) = h.stage else {
            h.set_stage(Stage::Reboot(RebootStage::Start));
            return self.reboot_handler(h);
        };
        let now = self.now;
        match stage {
            RebootStage::Start => {
                h.clear_pending_io();
                if self.is_self(h) {
                    self.set_task(h, task::SELF_REBOOT_STANDBY);
                    let cause = self.cause(h);
                    self.send(
                        h,
                        NodeCommand::LazyReboot,
                        vec![crate::state::Network::Mgmt],
                        cause,
                    );
                    self.end_action(h, ActionOutcome::Completed);
                    return;
                }
                self.set_task(h, task::REBOOTING_RESETTING_HOST);
                let rp = self.start_reset_progression(h, 0, false);
                h.set_stage(Stage::Reboot(RebootStage::Wait {
                    rp: Some(rp),
                    overall: now + self.reset_progression_budget(h),
                    retries: 0,
                }));
                self.reboot_handler(h)
            }
            RebootStage::Wait {
                mut rp,
                overall,
                mut retries,
            } => {
                let over = now >= overall;
                match self.step_reset_progression(h, &mut rp) {
                    RpStatus::Running if !over => {
                        h.set_stage(Stage::Reboot(RebootStage::Wait {
                            rp,
                            overall,
                            retries,
                        }));
                    }
                    RpStatus::Passed => {
                        self.set_task(h, "");
                        self.end_action(h, ActionOutcome::Completed);
                    }
                    _ => {
                        retries += 1;
                        let max = self.cfg.thresholds.reboot_action_retries;
                        if retries < max && !over {
                            let text = task::reboot_retrying(retries, max);
                            self.set_task(h, &text);
                            let mut rp = Some(self.start_reset_progression(h, 0, false));
                            self.step_reset_progression(h, &mut rp);
                            h.set_stage(Stage::Reboot(RebootStage::Wait {
                                rp,
                                overall,
                                retries,
                            }));
                        } else {
                            let reason = task::REBOOT_FAILED_TRY_ONLINE.into();
                            let failed = ActionOutcome::Failed { reason };
                            self.end_with_task(h, task::REBOOT_FAILED_TRY_ONLINE, failed);
                        }
                    }
                }
            }
        }
    }

    /// Overall budget of one reset progression (docs/handlers.md#reset-progression).
    pub(crate) fn reset_progression_budget(&self, h: &HostRt) -> std::time::Duration {
        let t = &self.cfg.timeouts;
        let bmc = if h.rec.bmc_provisioned() {
            t.bmc_action_timeout.0
        } else {
            Default::default()
        };
        (t.command_ack_timeout.0 * 2
            + bmc
            + t.command_ack_timeout.0 * 2
            + t.bmc_reset_delay.0
            + self.offline_window() * 3)
            * (self.cfg.thresholds.reboot_tries_before_bmc + 2)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RebootStage {
    Start,
    /// A reset progression runs (`rp`), within the `overall` budget (checked at each step, it
    /// does not wake the host by itself); `retries` counts whole progressions that failed.
    Wait {
        rp: Option<ResetProg>,
        overall: Instant,
        retries: u32,
    },
}

impl RebootStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            RebootStage::Start => None,
            RebootStage::Wait { rp, .. } => rp.map(|r| r.deadline()),
        }
    }
}
