//! Enable handler (docs/handlers.md#enable): unlock, and re-enable of a failed unlocked host.
//!
//! START → reset progression (reboot into a fresh start, unless power was applied moments ago) →
//! wait for an alive report from the *new* boot (boot id, not StarlingX's 20-pass purge:
//! docs/differences.md#boot-id-instead-of-uptime-guesses) →
//! go-enabled tests → heartbeat soak → enabled. Any failure goes to FAILURE, which fails the host,
//! counts the cause toward the auto-recovery threshold and retries after the cause's interval.

use super::reset_progression::{ResetProg, RpStatus};
use super::{HostRt, Stage};
use crate::action::{Action, ActionOutcome};
use crate::alarm::{AlarmId, Severity};
use crate::core::Maintenance;
use crate::host::{ArCause, RebootSent};
use crate::io::*;
use crate::state::*;
use crate::task;
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EnableStage {
    Start,
    /// The reset progression `rp` runs within the `overall` budget (checked at each step of the
    /// progression; it does not wake the host by itself).
    ResetWait {
        rp: Option<ResetProg>,
        overall: Instant,
    },
    RecoveryWait {
        deadline: Instant,
    },
    /// `boot_before`: the boot id a fresh report must differ from (`None`: any report counts).
    IntestStart {
        boot_before: Option<u64>,
    },
    AliveWait {
        boot_before: Option<u64>,
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
    FailureWait {
        deadline: Instant,
    },
}

impl EnableStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            EnableStage::Start | EnableStage::IntestStart { .. } | EnableStage::StateChange => None,
            EnableStage::ResetWait { rp, .. } => rp.map(|r| r.deadline()),
            EnableStage::RecoveryWait { deadline }
            | EnableStage::AliveWait { deadline, .. }
            | EnableStage::GoEnabledWait { deadline }
            | EnableStage::HeartbeatSoak { deadline, .. }
            | EnableStage::FailureWait { deadline } => Some(deadline),
        }
    }
}

impl Maintenance {
    pub(crate) fn enable_handler(&mut self, h: &mut HostRt) {
        if h.rec.ar_disabled.is_some() {
            return; // parked until lock/unlock
        }
        // An automatic re-enable (reboot) waits while multi-node failure avoidance holds the host.
        if h.rec.action_id.is_none() && self.in_mnfa_pool(h.name()) && !cfg!(mutation = "skip-mnfa")
        {
            return;
        }
        let stage = match h.stage {
            Stage::Enable(s) => s,
            _ => {
                h.set_stage(Stage::Enable(EnableStage::Start));
                EnableStage::Start
            }
        };
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        let name = h.name().to_string();
        match stage {
            EnableStage::Start => {
                h.clear_pending_io();
                h.forcing_full_enable = false;
                h.rec.degrade.clear_all_but_hwmon();
                let avail = match h.rec.states.avail {
                    Availability::InTest
                    | Availability::Failed
                    | Availability::Degraded
                    | Availability::Available => {
                        if !self.is_self(h) {
                            self.raise(&name, AlarmId::Enable, Severity::Critical);
                        }
                        Availability::Failed
                    }
                    Availability::OffDuty | Availability::Online => Availability::Online,
                    Availability::PowerOff => Availability::PowerOff,
                    Availability::Offline | Availability::NotInstalled => Availability::Offline,
                };
                if self.is_self(h) {
                    // The active controller unlocking itself: a graceful self reboot, never a reset.
                    if h.rec.action == Action::Unlock {
                        self.set_oper_avail(h, OperState::Disabled, Availability::Offline);
                        self.set_task(h, task::SELF_UNLOCK);
                        let cause = self.cause(h);
                        self.send(h, NodeCommand::LazyReboot, vec![Network::Mgmt], cause);
                        let boot_before = h.alive.boot_id;
                        h.set_stage(Stage::Enable(EnableStage::IntestStart { boot_before }));
                        return self.enable_handler(h);
                    }
                    // Re-enable of the running active controller: no reboot; wait for its next report.
                    let boot_before = None;
                    h.set_stage(Stage::Enable(EnableStage::IntestStart { boot_before }));
                    return self.enable_handler(h);
                }
                self.set_oper_avail(h, OperState::Disabled, avail);
                self.heartbeat(h, HeartbeatControl::Stop);
                let resumed = std::mem::take(&mut h.resumed);
                if let (true, Some(sent), Some(id)) = (resumed, h.rec.reboot_sent, h.rec.action_id)
                {
                    if sent.action == id {
                        // A controller restarted or took over in the middle of this action, after
                        // the earlier one sent its reboot: the host is not rebooted again. A report
                        // from any other boot than the one it was on carries the enable on (it may
                        // have come back already, or still be going down); if none comes within
                        // the boot timeout, the enable fails and its retry reboots as usual.
                        self.set_task(h, task::BOOTING);
                        let boot_before = Some(sent.from_boot);
                        h.set_stage(Stage::Enable(EnableStage::IntestStart { boot_before }));
                        return self.enable_handler(h);
                    }
                }
                let recently_powered = h
                    .powered_on_at
                    .is_some_and(|p| now.since(p) < t.recent_power_on.0);
                if recently_powered {
                    self.set_task(h, task::BOOTING);
                    // Only a report from the boot that power-on started counts, not one from before.
                    let boot_before = h.boot_id_at_power_on;
                    h.set_stage(Stage::Enable(EnableStage::IntestStart { boot_before }));
                    return self.enable_handler(h);
                }
                if avail == Availability::PowerOff && h.bmc_usable() {
                    // A powered-off host is powered on rather than rebooted.
                    let boot_before = h.alive.boot_id;
                    self.bmc(h, BmcOp::PowerOn);
                    self.set_task(h, task::POWERING_ON);
                    h.set_stage(Stage::Enable(EnableStage::IntestStart { boot_before }));
                    return self.enable_handler(h);
                }
                let rp = self.start_reset_progression(h, 0, true);
                if let (Some(action), Some(from_boot)) = (h.rec.action_id, h.alive.boot_id) {
                    h.rec.reboot_sent = Some(RebootSent { action, from_boot });
                    self.changed(&name);
                }
                h.set_stage(Stage::Enable(EnableStage::ResetWait {
                    rp: Some(rp),
                    overall: now + self.reset_progression_budget(h),
                }));
                self.enable_handler(h)
            }
            EnableStage::ResetWait { mut rp, overall } => {
                let over = now >= overall;
                let boot_before = rp.and_then(|r| r.boot_before());
                match self.step_reset_progression(h, &mut rp) {
                    RpStatus::Running if !over => {
                        h.set_stage(Stage::Enable(EnableStage::ResetWait { rp, overall }));
                    }
                    RpStatus::Passed => {
                        self.set_task(h, task::BOOTING);
                        h.set_stage(Stage::Enable(EnableStage::IntestStart { boot_before }));
                        self.enable_handler(h);
                    }
                    _ => {
                        self.set_avail(h, Availability::Failed);
                        h.set_stage(Stage::Enable(EnableStage::RecoveryWait {
                            deadline: now + t.recovery_delay.0,
                        }));
                    }
                }
            }
            EnableStage::RecoveryWait { .. } => {
                if h.due(now) {
                    h.set_stage(Stage::Enable(EnableStage::Start));
                    self.mark_dirty(&name);
                }
            }
            EnableStage::IntestStart { boot_before } => {
                h.rec.uptime = Default::default();
                h.set_stage(Stage::Enable(EnableStage::AliveWait {
                    boot_before,
                    deadline: now + self.boot_timeout(h),
                }));
                self.enable_handler(h)
            }
            EnableStage::AliveWait { boot_before, .. } => {
                let fresh = if self.is_self(h) && h.rec.action != Action::Unlock {
                    h.alive.last.is_some()
                } else {
                    h.rebooted_since(boot_before)
                };
                if fresh {
                    if let Some(b) = h.take_bmc() {
                        let _ = b; // a power-on result; the alive report is what counts
                    }
                    let f = h.alive.flags;
                    if f.luks_failed {
                        self.raise(&name, AlarmId::Luks, Severity::Critical);
                        self.set_task(h, task::CONFIG_FAILED_REENABLING);
                        return self.enable_fail(h, Some(ArCause::Luks));
                    }
                    if !f.configured || f.not_healthy {
                        self.raise(&name, AlarmId::Config, Severity::Critical);
                        self.set_task(h, task::CONFIG_FAILED_REENABLING);
                        return self.enable_fail(h, Some(ArCause::Config));
                    }
                    if h.rec.states.avail != Availability::Online {
                        self.set_avail(h, Availability::Online);
                    }
                    self.send(
                        h,
                        NodeCommand::Unlocked,
                        vec![Network::Mgmt],
                        Cause::Routine,
                    );
                    self.send(
                        h,
                        NodeCommand::MainGoEnabled,
                        vec![Network::Mgmt],
                        Cause::Routine,
                    );
                    h.goenabled = None;
                    h.forget_main_test_flags();
                    self.set_avail(h, Availability::InTest);
                    self.set_task(h, task::TESTING);
                    h.set_stage(Stage::Enable(EnableStage::GoEnabledWait {
                        deadline: now + t.goenabled_timeout.0 + std::time::Duration::from_secs(3),
                    }));
                    return;
                }
                if h.due(now) {
                    self.raise(&name, AlarmId::Enable, Severity::Critical);
                    self.set_avail(h, Availability::Failed);
                    self.set_task(h, task::BOOT_FAILED_REBOOTING);
                    h.set_stage(Stage::Enable(EnableStage::Start));
                    self.mark_dirty(&name);
                }
            }
            EnableStage::GoEnabledWait { .. } => {
                let f = h.alive.flags;
                let result = h.goenabled.take();
                let failed =
                    matches!(result, Some((false, _))) || f.main_goenable_failed || f.not_healthy;
                if failed {
                    self.set_task(h, task::INTEST_FAILED_REENABLING);
                    return self.enable_fail(h, Some(ArCause::GoEnable));
                }
                if f.main_services_failed {
                    self.set_task(h, task::START_SERVICES_FAILED);
                    return self.enable_fail(h, Some(ArCause::HostServices));
                }
                if matches!(result, Some((true, _))) || f.main_goenabled {
                    self.set_task(h, task::INITIALIZING);
                    if self.is_self(h) || !self.heartbeat_enabled() {
                        h.set_stage(Stage::Enable(EnableStage::StateChange));
                        return self.enable_handler(h);
                    }
                    self.heartbeat(h, HeartbeatControl::Start);
                    h.set_stage(Stage::Enable(EnableStage::HeartbeatSoak {
                        deadline: now + t.heartbeat_soak.0,
                        lost: false,
                    }));
                    return;
                }
                if h.due(now) {
                    self.set_task(h, task::INTEST_TIMEOUT_REENABLING);
                    self.enable_fail(h, Some(ArCause::GoEnable));
                }
            }
            EnableStage::HeartbeatSoak { lost, .. } => {
                if lost {
                    self.set_task(h, task::ENABLE_HEARTBEAT_FAILURE);
                    return self.enable_fail(h, Some(ArCause::Heartbeat));
                }
                if h.due(now) {
                    h.ar_counts[ArCause::Heartbeat.index()] = 0;
                    h.set_stage(Stage::Enable(EnableStage::StateChange));
                    self.enable_handler(h);
                }
            }
            EnableStage::StateChange => {
                self.set_task(h, "");
                let avail = if h.rec.degrade.is_empty() {
                    Availability::Available
                } else {
                    Availability::Degraded
                };
                self.set_oper_avail(h, OperState::Enabled, avail);
                self.clear(&name, AlarmId::Enable);
                self.clear(&name, AlarmId::Config);
                h.rec.degrade.clear(DegradeMask::CONFIG);
                h.graceful_count = 0;
                self.ar_enable(h);
                self.dor_host_recovered(&name);
                if h.is_aio_controller(self.system.system_type) {
                    self.set_task(h, task::ENABLING_WORKER);
                    let id = h.rec.action_id;
                    h.rec.action = Action::EnableSubf;
                    h.rec.action_id = id;
                    h.set_stage(Stage::Subf(super::subfunction::SubfStage::Start));
                    self.changed(&name);
                    self.mark_dirty(&name);
                    return;
                }
                self.end_action(h, ActionOutcome::Completed);
            }
            EnableStage::FailureWait { .. } => {
                if h.locked() {
                    h.set_stage(Stage::Idle);
                    self.set_task(h, "");
                    return;
                }
                if h.due(now) {
                    h.set_stage(Stage::Enable(EnableStage::Start));
                    self.mark_dirty(&name);
                }
            }
        }
    }

    /// Count the failure toward its auto-recovery threshold, then enter FAILURE.
    fn enable_fail(&mut self, h: &mut HostRt, cause: Option<ArCause>) {
        if let Some(c) = cause {
            if !self.ar_manage(h, c) {
                h.set_stage(Stage::Idle);
                return;
            }
        }
        self.enable_failure(h);
    }

    /// FAILURE (docs/handlers.md#enable): stop heartbeat, 200.004, fail the host (the active
    /// controller degrades instead), end the operator's unlock as failed, retry after the cause's
    /// interval.
    pub(crate) fn enable_failure(&mut self, h: &mut HostRt) {
        let name = h.name().to_string();
        let reason = if h.rec.task.is_empty() {
            "enable failed".to_string()
        } else {
            h.rec.task.clone()
        };
        self.heartbeat(h, HeartbeatControl::Stop);
        self.raise(&name, AlarmId::Enable, Severity::Critical);
        h.clear_pending_io();
        if h.is_aio_controller(self.system.system_type) {
            self.set_subf(h, OperState::Disabled, Availability::Failed);
        }
        if self.is_self(h) {
            self.set_oper_avail(h, OperState::Enabled, Availability::Degraded);
            self.set_task(h, task::CRITICAL_NO_STANDBY);
            self.end_action(h, ActionOutcome::Failed { reason });
            return;
        }
        self.set_oper_avail(h, OperState::Disabled, Availability::Failed);
        self.end_action(h, ActionOutcome::Failed { reason });
        h.set_stage(Stage::Enable(EnableStage::FailureWait {
            deadline: self.now + self.ar_interval(h.last_ar_cause),
        }));
    }
}
