//! BMC-driven handlers (reference: mtc-fsm.md §2.9 reset, §2.10 power, §2.11 powercycle) and the power
//! sub-FSM they share: query before acting (some servers fail a redundant power command), act, and
//! count the action done only when the BMC reads back the goal state; bounded retries.

use super::{HostRt, Stage};
use crate::action::{Action, ActionOutcome};
use crate::alarm::{AlarmId, LogId, Severity};
use crate::core::Maintenance;
use crate::io::*;
use crate::state::*;
use crate::task;
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PfStage {
    Query,
    QueryWait,
    ActWait,
    RetryWait,
}

/// Result of a power sub-FSM step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PfStatus {
    Running,
    Done,
    Failed(String),
}

/// Power on or off through the BMC with read-back and retries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PowerFsm {
    on: bool,
    stage: PfStage,
    deadline: Instant,
    attempts: u32,
}

impl PowerFsm {
    pub fn new(on: bool, now: Instant) -> Self {
        PowerFsm {
            on,
            stage: PfStage::Query,
            deadline: now,
            attempts: 0,
        }
    }
}

impl Maintenance {
    /// Advance the power sub-FSM stored in `h.power_fsm`.
    pub(crate) fn step_power(&mut self, h: &mut HostRt) -> PfStatus {
        let Some(mut f) = h.power_fsm else {
            return PfStatus::Failed("no power action".into());
        };
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        let max = self.cfg.thresholds.power_action_retries;
        let goal = if f.on {
            PowerState::On
        } else {
            PowerState::Off
        };
        if !h.rec.bmc_provisioned() {
            h.power_fsm = None;
            return PfStatus::Failed("BMC is not provisioned".into());
        }
        loop {
            match f.stage {
                PfStage::Query => {
                    if !h.rec.bmc_accessible {
                        f.attempts += 1;
                        if f.attempts > max {
                            h.power_fsm = None;
                            return PfStatus::Failed("BMC is not accessible".into());
                        }
                        f.stage = PfStage::RetryWait;
                        f.deadline = now + t.bmc_inaccessible_retry_wait.0;
                        break;
                    }
                    self.bmc(h, BmcOp::PowerStatus);
                    f.stage = PfStage::QueryWait;
                    f.deadline = now + t.bmc_query_timeout.0;
                    break;
                }
                PfStage::QueryWait => {
                    match h.take_bmc() {
                        Some(BmcOutcome::Done(p)) if p == goal => {
                            h.power_fsm = None;
                            return PfStatus::Done;
                        }
                        Some(BmcOutcome::Done(_)) => {
                            // Query errors count as "not in goal state": act.
                            let op = if f.on {
                                BmcOp::PowerOn
                            } else {
                                BmcOp::PowerOff
                            };
                            self.bmc(h, op);
                            f.stage = PfStage::ActWait;
                            f.deadline = now + t.bmc_action_timeout.0;
                            break;
                        }
                        Some(BmcOutcome::Failed(_)) => {}
                        None if now < f.deadline => break,
                        None => {}
                    }
                    if let Some(failed) =
                        self.power_retry(h, &mut f, "could not query power state".into())
                    {
                        return failed;
                    }
                    break;
                }
                PfStage::ActWait => {
                    match h.take_bmc() {
                        Some(BmcOutcome::Done(p)) if p == goal => {
                            h.power_fsm = None;
                            return PfStatus::Done;
                        }
                        Some(_) => {}
                        None if now < f.deadline => break,
                        None => {}
                    }
                    let why = format!(
                        "power {} not confirmed by the BMC",
                        if f.on { "on" } else { "off" }
                    );
                    if let Some(failed) = self.power_retry(h, &mut f, why) {
                        return failed;
                    }
                    break;
                }
                PfStage::RetryWait => {
                    if now < f.deadline {
                        break;
                    }
                    f.stage = PfStage::Query;
                    continue;
                }
            }
        }
        h.timer = Some(f.deadline);
        h.power_fsm = Some(f);
        PfStatus::Running
    }

    /// One attempt failed: wait and try again, or give up with `why` once the budget is spent.
    fn power_retry(&mut self, h: &mut HostRt, f: &mut PowerFsm, why: String) -> Option<PfStatus> {
        let max = self.cfg.thresholds.power_action_retries;
        f.attempts += 1;
        if f.attempts > max {
            h.power_fsm = None;
            return Some(PfStatus::Failed(why));
        }
        let t = &self.cfg.timeouts;
        let wait = if f.on {
            t.power_on_retry_wait.0
        } else {
            t.power_off_retry_wait.0
        };
        f.stage = PfStage::RetryWait;
        f.deadline = self.now + wait;
        if matches!(h.rec.action, Action::PowerOn | Action::PowerOff) {
            let text = task::power_retrying(f.on, f.attempts, max);
            self.set_task(h, &text);
        }
        None
    }

    /// Power handler (§2.10): operator power-on / power-off, and the automatic power-on of an unlocked
    /// host found powered off.
    pub(crate) fn power_handler(&mut self, h: &mut HostRt) {
        let on = h.rec.action == Action::PowerOn;
        let now = self.now;
        if let Stage::Power(PowerStage::Start) = h.stage {
            self.set_task(
                h,
                if on {
                    task::POWER_ON_REQUESTED
                } else {
                    task::POWER_OFF_REQUESTED
                },
            );
            if !on {
                self.heartbeat(h, HeartbeatControl::Stop);
            }
            h.power_fsm = Some(PowerFsm::new(on, now));
            h.stage = Stage::Power(PowerStage::Running);
        }
        match self.step_power(h) {
            PfStatus::Running => {
                let busy = if on {
                    task::POWERING_ON
                } else {
                    task::POWERING_OFF
                };
                if !h.rec.task.contains("retrying") {
                    self.set_task(h, busy);
                }
            }
            PfStatus::Done => {
                h.timer = None;
                let name = h.name().to_string();
                if on {
                    h.powered_on_at = Some(now);
                    // The operator powered it on: a permanent critical-sensor power-down is over.
                    h.powercycle = Default::default();
                    h.online_hits = 0;
                    if h.rec.states.avail == Availability::PowerOff {
                        self.set_avail(h, Availability::Offline);
                    }
                    self.log(&name, LogId::StateChange, format!("{name} powered on"));
                } else {
                    h.offline_audit = None;
                    self.set_avail(h, Availability::PowerOff);
                }
                let text = if on {
                    task::POWER_ON_COMPLETED
                } else {
                    task::POWER_OFF_COMPLETED
                };
                self.ar_enable(h);
                self.end_with_task(h, text, ActionOutcome::Completed);
            }
            PfStatus::Failed(why) => {
                h.timer = None;
                let base = if on {
                    task::POWER_ON_FAILED
                } else {
                    task::POWER_OFF_FAILED
                };
                let text = format!("{base} - {why}");
                self.end_with_task(h, &text.clone(), ActionOutcome::Failed { reason: text });
            }
        }
    }

    /// Reset handler (§2.9): BMC reset of a powered host, done when it went offline or rebooted.
    pub(crate) fn reset_handler(&mut self, h: &mut HostRt) {
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        let max = self.cfg.thresholds.reset_action_retries;
        let stage = match h.stage {
            Stage::Reset(s) => s,
            _ => ResetStage::Start,
        };
        match stage {
            ResetStage::Start => {
                if !h.rec.bmc_provisioned() {
                    return self.reset_fail(h, task::RESET_FAILED_NOT_PROVISIONED);
                }
                self.set_task(h, task::RESET_REQUESTED);
                h.retries = 0;
                h.boot_id_before = h.alive.boot_id;
                h.stage = Stage::Reset(ResetStage::Query);
                self.reset_handler(h)
            }
            ResetStage::Query => {
                if !h.rec.bmc_accessible {
                    return self.reset_retry(h, true);
                }
                self.bmc(h, BmcOp::PowerStatus);
                h.timer = Some(now + t.bmc_query_timeout.0);
                h.stage = Stage::Reset(ResetStage::QueryWait);
            }
            ResetStage::QueryWait => match h.take_bmc() {
                Some(BmcOutcome::Done(PowerState::Off)) => {
                    self.set_avail(h, Availability::PowerOff);
                    let text = format!("Reset Failed - {} is powered off", h.name());
                    self.reset_fail(h, &text);
                }
                Some(BmcOutcome::Done(_)) => {
                    self.heartbeat(h, HeartbeatControl::Stop);
                    self.bmc(h, BmcOp::PowerReset);
                    h.timer = Some(now + t.bmc_action_timeout.0);
                    h.stage = Stage::Reset(ResetStage::ActWait);
                }
                Some(BmcOutcome::Failed(_)) => self.reset_retry(h, false),
                None if h.timer_rang(now) => self.reset_retry(h, false),
                None => {}
            },
            ResetStage::ActWait => match h.take_bmc() {
                Some(BmcOutcome::Done(_)) => {
                    self.set_task(h, task::RESET_WAIT_OFFLINE);
                    self.start_offline_audit(h);
                    h.timer = Some(now + t.reset_offline_timeout.0);
                    h.stage = Stage::Reset(ResetStage::OfflineWait);
                }
                Some(BmcOutcome::Failed(_)) => self.reset_retry(h, false),
                None if h.timer_rang(now) => self.reset_retry(h, false),
                None => {}
            },
            ResetStage::OfflineWait => {
                let down = matches!(
                    h.rec.states.avail,
                    Availability::Offline | Availability::PowerOff
                );
                if down || h.rebooted_since_request() {
                    h.timer = None;
                    self.end_with_task(h, task::RESET_COMPLETED, ActionOutcome::Completed);
                } else if h.timer_rang(now) {
                    self.reset_fail(h, "Reset Failed");
                }
            }
            ResetStage::RetryWait => {
                if h.timer_rang(now) {
                    h.stage = Stage::Reset(ResetStage::Query);
                    self.mark_dirty(h.name());
                }
            }
        }
        let _ = max;
    }

    fn reset_retry(&mut self, h: &mut HostRt, inaccessible: bool) {
        let max = self.cfg.thresholds.reset_action_retries;
        h.retries += 1;
        if h.retries > max {
            let text = if inaccessible {
                task::RESET_FAILED_NOT_ACCESSIBLE
            } else {
                "Reset Failed"
            };
            return self.reset_fail(h, text);
        }
        let text = if inaccessible {
            format!(
                "Reset Failed - BMC not accessible, retry {} of {max}",
                h.retries
            )
        } else {
            task::reset_retrying(h.retries, max)
        };
        self.set_task(h, &text);
        let t = &self.cfg.timeouts;
        let wait = if inaccessible {
            t.bmc_inaccessible_retry_wait.0
        } else {
            t.command_ack_timeout.0
        };
        h.timer = Some(self.now + wait);
        h.stage = Stage::Reset(ResetStage::RetryWait);
    }

    fn reset_fail(&mut self, h: &mut HostRt, text: &str) {
        h.timer = None;
        self.end_with_task(
            h,
            text,
            ActionOutcome::Failed {
                reason: text.to_string(),
            },
        );
    }

    /// Powercycle handler (§2.11): a critical sensor asks for the host to be power-cycled; after
    /// `powercycle_max_attempts` it is powered down for good.
    pub(crate) fn powercycle_handler(&mut self, h: &mut HostRt) {
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        let name = h.name().to_string();
        let stage = match h.stage {
            Stage::PowerCycle(s) => s,
            _ => PcStage::Start,
        };
        match stage {
            PcStage::Start => {
                if !h.bmc_usable() {
                    return self.powercycle_fail(h, "BMC not accessible");
                }
                if h.unlocked() {
                    self.raise(&name, AlarmId::Enable, Severity::Critical);
                    self.set_oper_avail(h, OperState::Disabled, Availability::Failed);
                }
                h.powercycle.attempts += 1;
                h.powercycle.monitor_until = None;
                self.heartbeat(h, HeartbeatControl::Stop);
                if h.powercycle.attempts > self.cfg.thresholds.powercycle_max_attempts {
                    self.set_task(h, task::CRITICAL_POWER_DOWN);
                    h.powercycle.blocked = true;
                } else {
                    let text = task::powercycle(h.powercycle.attempts, "due to critical sensor");
                    self.set_task(h, &text);
                }
                h.power_fsm = Some(PowerFsm::new(false, now));
                h.stage = Stage::PowerCycle(PcStage::PowerOff);
                self.powercycle_handler(h)
            }
            PcStage::PowerOff => match self.step_power(h) {
                PfStatus::Running => {}
                PfStatus::Failed(why) => self.powercycle_fail(h, &why),
                PfStatus::Done => {
                    self.set_avail(h, Availability::PowerOff);
                    if h.powercycle.blocked {
                        // Permanent power-down. On an unlocked host the action stays set so nothing
                        // auto-recovers it until the operator locks it; a locked host is simply done.
                        h.timer = None;
                        if h.unlocked() {
                            h.stage = Stage::PowerCycle(PcStage::Blocked);
                        } else {
                            let text = h.rec.task.clone();
                            self.end_action(h, ActionOutcome::Completed);
                            self.set_task(h, &text);
                        }
                        return;
                    }
                    let mins = t.powercycle_cooloff.0.as_secs().div_ceil(60);
                    let text = task::powercycle(
                        h.powercycle.attempts,
                        &format!("power-on in {mins} minute(s)"),
                    );
                    self.set_task(h, &text);
                    h.timer = Some(now + t.powercycle_cooloff.0);
                    h.stage = Stage::PowerCycle(PcStage::Cooloff);
                }
            },
            PcStage::Cooloff => {
                if h.timer_rang(now) {
                    let text = task::powercycle(h.powercycle.attempts, "power-on host");
                    self.set_task(h, &text);
                    h.boot_id_before = h.alive.boot_id;
                    h.power_fsm = Some(PowerFsm::new(true, now));
                    h.stage = Stage::PowerCycle(PcStage::PowerOn);
                    self.powercycle_handler(h);
                }
            }
            PcStage::PowerOn => match self.step_power(h) {
                PfStatus::Running => {}
                PfStatus::Failed(why) => self.powercycle_fail(h, &why),
                PfStatus::Done => {
                    h.powered_on_at = Some(now);
                    self.set_avail(h, Availability::Offline);
                    let text = task::powercycle(h.powercycle.attempts, "host is booting");
                    self.set_task(h, &text);
                    h.timer = Some(now + t.power_on_online_timeout.0);
                    h.stage = Stage::PowerCycle(PcStage::OnlineWait);
                }
            },
            PcStage::OnlineWait => {
                if h.rebooted_since_request() {
                    let mins = t.powercycle_holdoff.0.as_secs().div_ceil(60);
                    let text = task::powercycle(
                        h.powercycle.attempts,
                        &format!("recovery in {mins} minute(s)"),
                    );
                    self.set_task(h, &text);
                    h.timer = Some(now + t.powercycle_holdoff.0);
                    h.stage = Stage::PowerCycle(PcStage::Holdoff);
                } else if h.timer_rang(now) {
                    self.powercycle_fail(h, "host did not come online");
                }
            }
            PcStage::Holdoff => {
                if h.timer_rang(now) {
                    h.timer = None;
                    self.set_task(h, "");
                    h.powercycle.monitor_until = Some(now + t.powercycle_recovery_monitor.0);
                    self.end_action(h, ActionOutcome::Completed);
                    self.powercycle_rest(h);
                }
            }
            PcStage::Blocked => {} // waits for the operator's lock, which replaces this action
        }
    }

    fn powercycle_fail(&mut self, h: &mut HostRt, why: &str) {
        h.timer = None;
        let text = task::powercycle(h.powercycle.attempts, "failed");
        self.set_task(h, &text);
        h.powercycle.monitor_until =
            Some(self.now + self.cfg.timeouts.powercycle_recovery_monitor.0);
        self.end_action(
            h,
            ActionOutcome::Failed {
                reason: why.to_string(),
            },
        );
        if h.unlocked() && h.rec.ar_disabled.is_some() {
            self.powercycle_rest(h); // parked: back to failed, see below
        }
    }

    /// Where a host rests after a power cycle: a locked host online; an unlocked host whose
    /// auto-recovery is parked back in failed, as parking left it (nothing else moves it until the
    /// operator locks and unlocks it, so a boot's offline or online would stay forever); any other
    /// unlocked host is taken up by the enable handler.
    fn powercycle_rest(&mut self, h: &mut HostRt) {
        if h.locked() {
            self.set_avail(h, Availability::Online);
        } else if h.rec.ar_disabled.is_some() {
            self.set_oper_avail(h, OperState::Disabled, Availability::Failed);
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PowerStage {
    Start,
    Running,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResetStage {
    Start,
    Query,
    QueryWait,
    ActWait,
    OfflineWait,
    RetryWait,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PcStage {
    Start,
    PowerOff,
    Cooloff,
    PowerOn,
    OnlineWait,
    Holdoff,
    Blocked,
}
