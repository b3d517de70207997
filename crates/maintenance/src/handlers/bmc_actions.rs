//! BMC-driven handlers (docs/handlers.md#reset, #power, #power-cycle) and the power sub-FSM they
//! share: query before acting (some servers fail a redundant power command), act, and
//! count the action done only when the BMC reads back the goal state; bounded retries. Each handler
//! keeps its sub-FSM inside its own stage (`Option<PowerFsm>`, `None` once it finished).

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

    /// When the sub-FSM needs its next step.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl Maintenance {
    /// Advance the power sub-FSM in `slot` (the caller's stage data). While it runs, its next
    /// deadline is `PowerFsm::deadline`; once done or failed, `slot` is emptied.
    pub(crate) fn step_power(&mut self, h: &mut HostRt, slot: &mut Option<PowerFsm>) -> PfStatus {
        let Some(mut f) = *slot else {
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
            *slot = None;
            return PfStatus::Failed("BMC is not provisioned".into());
        }
        loop {
            match f.stage {
                PfStage::Query => {
                    if !h.rec.bmc_accessible {
                        f.attempts += 1;
                        if f.attempts > max {
                            *slot = None;
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
                            *slot = None;
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
                        self.power_retry(h, &mut f, slot, "could not query power state".into())
                    {
                        return failed;
                    }
                    break;
                }
                PfStage::ActWait => {
                    match h.take_bmc() {
                        Some(BmcOutcome::Done(p)) if p == goal => {
                            *slot = None;
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
                    if let Some(failed) = self.power_retry(h, &mut f, slot, why) {
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
        *slot = Some(f);
        PfStatus::Running
    }

    /// One attempt failed: wait and try again, or give up with `why` once the budget is spent.
    fn power_retry(
        &mut self,
        h: &mut HostRt,
        f: &mut PowerFsm,
        slot: &mut Option<PowerFsm>,
        why: String,
    ) -> Option<PfStatus> {
        let max = self.cfg.thresholds.power_action_retries;
        f.attempts += 1;
        if f.attempts > max {
            *slot = None;
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

    /// Power handler (docs/handlers.md#power): operator power-on / power-off, and the automatic
    /// power-on of an unlocked host found powered off.
    pub(crate) fn power_handler(&mut self, h: &mut HostRt) {
        let on = h.rec.action == Action::PowerOn;
        let now = self.now;
        let mut fsm = match h.stage {
            Stage::Power(PowerStage::Start) => {
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
                Some(PowerFsm::new(on, now))
            }
            Stage::Power(PowerStage::Running { fsm }) => fsm,
            _ => None,
        };
        let status = self.step_power(h, &mut fsm);
        h.set_stage(Stage::Power(PowerStage::Running { fsm }));
        match status {
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

    /// Reset handler (docs/handlers.md#reset): BMC reset of a powered host, done when it went
    /// offline or rebooted.
    pub(crate) fn reset_handler(&mut self, h: &mut HostRt) {
        let now = self.now;
        let t = self.cfg.timeouts.clone();
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
                let attempt = ResetAttempt {
                    retries: 0,
                    boot_before: h.alive.boot_id,
                };
                h.set_stage(Stage::Reset(ResetStage::Query(attempt)));
                self.reset_handler(h)
            }
            ResetStage::Query(attempt) => {
                if !h.rec.bmc_accessible {
                    return self.reset_retry(h, attempt, true);
                }
                self.bmc(h, BmcOp::PowerStatus);
                h.set_stage(Stage::Reset(ResetStage::QueryWait {
                    attempt,
                    deadline: now + t.bmc_query_timeout.0,
                }));
            }
            ResetStage::QueryWait { attempt, .. } => match h.take_bmc() {
                Some(BmcOutcome::Done(PowerState::Off)) => {
                    self.set_avail(h, Availability::PowerOff);
                    let text = format!("Reset Failed - {} is powered off", h.name());
                    self.reset_fail(h, &text);
                }
                Some(BmcOutcome::Done(_)) => {
                    self.heartbeat(h, HeartbeatControl::Stop);
                    self.bmc(h, BmcOp::PowerReset);
                    h.set_stage(Stage::Reset(ResetStage::ActWait {
                        attempt,
                        deadline: now + t.bmc_action_timeout.0,
                    }));
                }
                Some(BmcOutcome::Failed(_)) => self.reset_retry(h, attempt, false),
                None if h.due(now) => self.reset_retry(h, attempt, false),
                None => {}
            },
            ResetStage::ActWait { attempt, .. } => match h.take_bmc() {
                Some(BmcOutcome::Done(_)) => {
                    self.set_task(h, task::RESET_WAIT_OFFLINE);
                    self.start_offline_audit(h);
                    h.set_stage(Stage::Reset(ResetStage::OfflineWait {
                        boot_before: attempt.boot_before,
                        deadline: now + t.reset_offline_timeout.0,
                    }));
                }
                Some(BmcOutcome::Failed(_)) => self.reset_retry(h, attempt, false),
                None if h.due(now) => self.reset_retry(h, attempt, false),
                None => {}
            },
            ResetStage::OfflineWait { boot_before, .. } => {
                let down = matches!(
                    h.rec.states.avail,
                    Availability::Offline | Availability::PowerOff
                );
                if down || h.rebooted_since(boot_before) {
                    self.end_with_task(h, task::RESET_COMPLETED, ActionOutcome::Completed);
                } else if h.due(now) {
                    self.reset_fail(h, "Reset Failed");
                }
            }
            ResetStage::RetryWait { attempt, .. } => {
                if h.due(now) {
                    h.set_stage(Stage::Reset(ResetStage::Query(attempt)));
                    self.mark_dirty(h.name());
                }
            }
        }
    }

    fn reset_retry(&mut self, h: &mut HostRt, mut attempt: ResetAttempt, inaccessible: bool) {
        let max = self.cfg.thresholds.reset_action_retries;
        attempt.retries += 1;
        if attempt.retries > max {
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
                attempt.retries
            )
        } else {
            task::reset_retrying(attempt.retries, max)
        };
        self.set_task(h, &text);
        let t = &self.cfg.timeouts;
        let wait = if inaccessible {
            t.bmc_inaccessible_retry_wait.0
        } else {
            t.command_ack_timeout.0
        };
        h.set_stage(Stage::Reset(ResetStage::RetryWait {
            attempt,
            deadline: self.now + wait,
        }));
    }

    fn reset_fail(&mut self, h: &mut HostRt, text: &str) {
        self.end_with_task(
            h,
            text,
            ActionOutcome::Failed {
                reason: text.to_string(),
            },
        );
    }

    /// Powercycle handler (docs/handlers.md#power-cycle): a critical sensor asks for the host to be
    /// power-cycled; after `powercycle_max_attempts` it is powered down for good.
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
                let fsm = Some(PowerFsm::new(false, now));
                h.set_stage(Stage::PowerCycle(PcStage::PowerOff { fsm }));
                self.powercycle_handler(h)
            }
            PcStage::PowerOff { mut fsm } => match self.step_power(h, &mut fsm) {
                PfStatus::Running => h.set_stage(Stage::PowerCycle(PcStage::PowerOff { fsm })),
                PfStatus::Failed(why) => self.powercycle_fail(h, &why),
                PfStatus::Done => {
                    self.set_avail(h, Availability::PowerOff);
                    if h.powercycle.blocked {
                        // Permanent power-down. On an unlocked host the action stays set so nothing
                        // auto-recovers it until the operator locks it; a locked host is simply done.
                        if h.unlocked() {
                            h.set_stage(Stage::PowerCycle(PcStage::Blocked));
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
                    h.set_stage(Stage::PowerCycle(PcStage::Cooloff {
                        deadline: now + t.powercycle_cooloff.0,
                    }));
                }
            },
            PcStage::Cooloff { .. } => {
                if h.due(now) {
                    let text = task::powercycle(h.powercycle.attempts, "power-on host");
                    self.set_task(h, &text);
                    h.set_stage(Stage::PowerCycle(PcStage::PowerOn {
                        fsm: Some(PowerFsm::new(true, now)),
                        boot_before: h.alive.boot_id,
                    }));
                    self.powercycle_handler(h);
                }
            }
            PcStage::PowerOn {
                mut fsm,
                boot_before,
            } => match self.step_power(h, &mut fsm) {
                PfStatus::Running => {
                    h.set_stage(Stage::PowerCycle(PcStage::PowerOn { fsm, boot_before }));
                }
                PfStatus::Failed(why) => self.powercycle_fail(h, &why),
                PfStatus::Done => {
                    h.powered_on_at = Some(now);
                    self.set_avail(h, Availability::Offline);
                    let text = task::powercycle(h.powercycle.attempts, "host is booting");
                    self.set_task(h, &text);
                    h.set_stage(Stage::PowerCycle(PcStage::OnlineWait {
                        boot_before,
                        deadline: now + t.power_on_online_timeout.0,
                    }));
                }
            },
            PcStage::OnlineWait { boot_before, .. } => {
                if h.rebooted_since(boot_before) {
                    let mins = t.powercycle_holdoff.0.as_secs().div_ceil(60);
                    let text = task::powercycle(
                        h.powercycle.attempts,
                        &format!("recovery in {mins} minute(s)"),
                    );
                    self.set_task(h, &text);
                    h.set_stage(Stage::PowerCycle(PcStage::Holdoff {
                        deadline: now + t.powercycle_holdoff.0,
                    }));
                } else if h.due(now) {
                    self.powercycle_fail(h, "host did not come online");
                }
            }
            PcStage::Holdoff { .. } => {
                if h.due(now) {
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
    Running { fsm: Option<PowerFsm> },
}

impl PowerStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            PowerStage::Start => None,
            PowerStage::Running { fsm } => fsm.map(|f| f.deadline()),
        }
    }
}

/// What a reset attempt carries from stage to stage: the retries spent so far and the boot id
/// before the reset (a report from another boot means it rebooted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResetAttempt {
    retries: u32,
    boot_before: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResetStage {
    Start,
    Query(ResetAttempt),
    QueryWait {
        attempt: ResetAttempt,
        deadline: Instant,
    },
    ActWait {
        attempt: ResetAttempt,
        deadline: Instant,
    },
    OfflineWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
    RetryWait {
        attempt: ResetAttempt,
        deadline: Instant,
    },
}

impl ResetStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            ResetStage::Start | ResetStage::Query(_) => None,
            ResetStage::QueryWait { deadline, .. }
            | ResetStage::ActWait { deadline, .. }
            | ResetStage::OfflineWait { deadline, .. }
            | ResetStage::RetryWait { deadline, .. } => Some(deadline),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PcStage {
    Start,
    PowerOff {
        fsm: Option<PowerFsm>,
    },
    Cooloff {
        deadline: Instant,
    },
    /// `boot_before`: the boot id when power-on was asked for.
    PowerOn {
        fsm: Option<PowerFsm>,
        boot_before: Option<u64>,
    },
    OnlineWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
    Holdoff {
        deadline: Instant,
    },
    Blocked,
}

impl PcStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            PcStage::Start | PcStage::Blocked => None,
            PcStage::PowerOff { fsm } | PcStage::PowerOn { fsm, .. } => fsm.map(|f| f.deadline()),
            PcStage::Cooloff { deadline }
            | PcStage::OnlineWait { deadline, .. }
            | PcStage::Holdoff { deadline } => Some(deadline),
        }
    }
}
