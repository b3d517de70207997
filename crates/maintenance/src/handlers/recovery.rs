//! Graceful recovery (docs/recovery.md#graceful-recovery): a host that lost heartbeat is given the
//! chance to come back without a second reboot; if it stays silent it is rebooted through its agent
//! and, after the kdump grace, reset through its BMC. During dead office recovery nothing is
//! rebooted or reset: powered-off hosts are powered on and the rest are waited for.

use super::{HostRt, Stage};
use crate::action::{Action, ActionOutcome};
use crate::alarm::{AlarmId, Severity};
use crate::config::HeartbeatFailureAction;
use crate::core::Maintenance;
use crate::io::*;
use crate::state::*;
use crate::task;
use crate::time::Instant;

/// `boot_before` in every stage is the boot id when the recovery started: a report from another
/// boot means the host rebooted meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecoveryStage {
    Start,
    /// Waiting for any alive report newer than the `alive_mark`-th.
    AliveWait {
        boot_before: Option<u64>,
        alive_mark: u64,
        deadline: Instant,
    },
    Setup {
        boot_before: Option<u64>,
    },
    PowerQueryWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
    ResetSendWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
    ResetRecvWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
    PowerOnWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
    RebootedAliveWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
    GoEnabledWait {
        deadline: Instant,
    },
    HeartbeatSoak {
        deadline: Instant,
    },
}

impl RecoveryStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            RecoveryStage::Start | RecoveryStage::Setup { .. } => None,
            RecoveryStage::AliveWait { deadline, .. }
            | RecoveryStage::PowerQueryWait { deadline, .. }
            | RecoveryStage::ResetSendWait { deadline, .. }
            | RecoveryStage::ResetRecvWait { deadline, .. }
            | RecoveryStage::PowerOnWait { deadline, .. }
            | RecoveryStage::RebootedAliveWait { deadline, .. }
            | RecoveryStage::GoEnabledWait { deadline }
            | RecoveryStage::HeartbeatSoak { deadline } => Some(deadline),
        }
    }
}

impl Maintenance {
    pub(crate) fn recovery_handler(&mut self, h: &mut HostRt) {
        let stage = match h.stage {
            Stage::Recovery(s) => s,
            _ => {
                if h.rec.action != Action::Recover {
                    self.set_action(h, Action::Recover, None);
                }
                RecoveryStage::Start
            }
        };
        let name = h.name().to_string();
        // Pooled hosts wait for MNFA to end; nothing destructive happens to them meanwhile.
        if self.mnfa.active && self.mnfa.pool.contains(&name) && !cfg!(mutation = "skip-mnfa") {
            return;
        }
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        match stage {
            RecoveryStage::Start => {
                if self.cfg.policy.heartbeat_failure_action != HeartbeatFailureAction::Fail {
                    self.set_task(h, "");
                    return self.end_action(h, ActionOutcome::Completed);
                }
                h.clear_pending_io();
                self.heartbeat(h, HeartbeatControl::Stop);
                h.graceful_count += 1;
                if h.graceful_count > self.cfg.thresholds.max_fast_enables {
                    h.graceful_count = 0;
                    h.mnfa_token = false;
                    h.dor_recovery = false;
                    return self.force_full_enable(h, "too many graceful recoveries in a row");
                }
                let text = if h.graceful_count > 1 {
                    task::GRACEFUL_RECOVERY_RETRY
                } else {
                    task::GRACEFUL_RECOVERY
                };
                self.set_task(h, text);
                // A recovery that starts during dead office recovery keeps its rules to the end, even
                // if the DOR window closes meanwhile (its failure counts as a check-in,
                // docs/recovery.md#dead-office-recovery).
                h.dor_recovery |= self.dor.is_some();
                let boot_before = h.alive.boot_id;
                let alive_mark = h.alive.count;
                self.start_offline_audit(h);
                // The node answers an alive request on every network, so the window is the period plus
                // the configured margin (StarlingX waited only 5 s for a 5 s period;
                // docs/differences.md#the-node-answers-alive-requests-on-every-network).
                h.set_stage(Stage::Recovery(RecoveryStage::AliveWait {
                    boot_before,
                    alive_mark,
                    deadline: now + t.loc_recovery_timeout.0 + t.alive_period.0,
                }));
            }
            RecoveryStage::AliveWait {
                boot_before,
                alive_mark,
                ..
            } => {
                if h.alive.count > alive_mark {
                    let f = h.alive.flags;
                    if !f.configured || f.not_healthy {
                        self.raise(&name, AlarmId::Config, Severity::Critical);
                        return self
                            .force_full_enable(h, "configuration failure found during recovery");
                    }
                    // The boot id answers "did it reboot?" exactly, where StarlingX guesses from
                    // the uptime (docs/differences.md#boot-id-instead-of-uptime-guesses).
                    let rebooted = h.rebooted_since(boot_before);
                    h.offline_audit = None;
                    if !rebooted {
                        // It never went down: restart heartbeat, no tests, no service impact.
                        return self.recovery_soak(h);
                    }
                    self.set_avail(h, Availability::InTest);
                    self.raise(&name, AlarmId::Enable, Severity::Critical);
                    return self.recovery_goenabled(h);
                }
                if h.due(now) {
                    // Loss of communication: the host is failed, then rebooted.
                    let avail = if h.rec.states.avail == Availability::PowerOff {
                        Availability::PowerOff
                    } else {
                        Availability::Failed
                    };
                    self.set_oper_avail(h, OperState::Disabled, avail);
                    if h.is_aio_controller(self.system.system_type) {
                        self.set_subf(h, OperState::Disabled, Availability::Failed);
                    }
                    self.raise(&name, AlarmId::Enable, Severity::Critical);
                    h.rec.degrade.clear_all_but_hwmon();
                    h.set_stage(Stage::Recovery(RecoveryStage::Setup { boot_before }));
                    self.recovery_handler(h);
                }
            }
            RecoveryStage::Setup { boot_before } => {
                self.set_task(h, task::GRACEFUL_RECOVERY_WAIT);
                h.rec.uptime = Default::default();
                let dor = h.dor_recovery || self.dor.is_some();
                let powered_off = h.rec.power == PowerState::Off;
                if !dor && !powered_off {
                    let cause = self.cause(h);
                    let nets = h.reboot_networks();
                    self.send(h, NodeCommand::Reboot, nets, cause);
                    if h.bmc_usable() {
                        self.bmc(h, BmcOp::PowerStatus);
                        h.set_stage(Stage::Recovery(RecoveryStage::PowerQueryWait {
                            boot_before,
                            deadline: now + t.bmc_query_timeout.0,
                        }));
                        return;
                    }
                } else if h.bmc_usable() {
                    // Dead office recovery or powered off: power on, never reboot or reset.
                    self.bmc(h, BmcOp::PowerOn);
                    h.set_stage(Stage::Recovery(RecoveryStage::PowerOnWait {
                        boot_before,
                        deadline: now + t.bmc_action_timeout.0,
                    }));
                    return;
                }
                h.set_stage(Stage::Recovery(RecoveryStage::RebootedAliveWait {
                    boot_before,
                    deadline: now + self.boot_timeout(h),
                }));
            }
            RecoveryStage::PowerQueryWait { boot_before, .. } => {
                if let Some(out) = h.take_bmc() {
                    match out {
                        BmcOutcome::Done(PowerState::Off) => {
                            self.bmc(h, BmcOp::PowerOn);
                            h.set_stage(Stage::Recovery(RecoveryStage::PowerOnWait {
                                boot_before,
                                deadline: now + t.bmc_action_timeout.0,
                            }));
                        }
                        _ => {
                            // Powered (or unknown): give kdump its grace before the BMC reset.
                            h.set_stage(Stage::Recovery(RecoveryStage::ResetSendWait {
                                boot_before,
                                deadline: now + t.bmc_reset_delay.0,
                            }));
                        }
                    }
                } else if h.due(now) {
                    h.set_stage(Stage::Recovery(RecoveryStage::ResetSendWait {
                        boot_before,
                        deadline: now + t.bmc_reset_delay.0,
                    }));
                }
            }
            RecoveryStage::ResetSendWait { boot_before, .. } => {
                // The host answered the reboot (ack or a report from a fresh boot): no BMC reset.
                if h.cmd_acked || h.rebooted_since(boot_before) {
                    h.set_stage(Stage::Recovery(RecoveryStage::RebootedAliveWait {
                        boot_before,
                        deadline: now + self.boot_timeout(h),
                    }));
                    return self.recovery_handler(h);
                }
                if h.due(now) {
                    if h.bmc_usable() {
                        self.bmc(h, BmcOp::PowerReset);
                        h.set_stage(Stage::Recovery(RecoveryStage::ResetRecvWait {
                            boot_before,
                            deadline: now + t.bmc_action_timeout.0,
                        }));
                    } else {
                        h.set_stage(Stage::Recovery(RecoveryStage::RebootedAliveWait {
                            boot_before,
                            deadline: now + self.boot_timeout(h),
                        }));
                    }
                }
            }
            RecoveryStage::ResetRecvWait { boot_before, .. }
            | RecoveryStage::PowerOnWait { boot_before, .. } => {
                let done = h.take_bmc().is_some();
                if done || h.due(now) {
                    if matches!(stage, RecoveryStage::PowerOnWait { .. }) {
                        h.powered_on_at = Some(now);
                    }
                    h.set_stage(Stage::Recovery(RecoveryStage::RebootedAliveWait {
                        boot_before,
                        deadline: now + self.boot_timeout(h),
                    }));
                }
            }
            RecoveryStage::RebootedAliveWait { boot_before, .. } => {
                if h.rebooted_since(boot_before) {
                    let f = h.alive.flags;
                    if !f.configured || f.not_healthy {
                        return self
                            .force_full_enable(h, "configuration failure after recovery reboot");
                    }
                    self.set_oper_avail(h, OperState::Disabled, Availability::InTest);
                    return self.recovery_goenabled(h);
                }
                if h.due(now) {
                    self.set_task(h, task::GRACEFUL_RECOVERY_FAILED);
                    self.force_full_enable(h, task::GRACEFUL_RECOVERY_FAILED);
                }
            }
            RecoveryStage::GoEnabledWait { .. } => {
                let f = h.alive.flags;
                let r = h.goenabled.take();
                if matches!(r, Some((false, _))) || f.main_goenable_failed || f.not_healthy {
                    return self.force_full_enable(h, "go-enabled tests failed during recovery");
                }
                if matches!(r, Some((true, _))) || f.main_goenabled {
                    return self.recovery_soak(h);
                }
                if h.due(now) {
                    self.force_full_enable(h, "go-enabled tests timed out during recovery");
                }
            }
            RecoveryStage::HeartbeatSoak { .. } => {
                if h.due(now) {
                    self.set_task(h, task::GRACEFULLY_RECOVERED);
                    let avail = if h.rec.degrade.is_empty() {
                        Availability::Available
                    } else {
                        Availability::Degraded
                    };
                    self.set_oper_avail(h, OperState::Enabled, avail);
                    if let Some(sf) = h.rec.subf {
                        if sf.oper == OperState::Disabled {
                            self.set_subf(h, OperState::Enabled, Availability::Available);
                        }
                    }
                    self.clear(&name, AlarmId::Enable);
                    h.graceful_count = 0;
                    h.mnfa_token = false;
                    h.dor_recovery = false;
                    self.dor_host_recovered(&name);
                    self.end_with_task(h, task::GRACEFULLY_RECOVERED, ActionOutcome::Completed);
                }
            }
        }
    }

    fn recovery_goenabled(&mut self, h: &mut HostRt) {
        h.goenabled = None;
        h.forget_main_test_flags();
        self.send(
            h,
            NodeCommand::MainGoEnabled,
            vec![Network::Mgmt],
            Cause::Routine,
        );
        h.set_stage(Stage::Recovery(RecoveryStage::GoEnabledWait {
            deadline: self.now
                + self.cfg.timeouts.goenabled_timeout.0
                + std::time::Duration::from_secs(3),
        }));
    }

    fn recovery_soak(&mut self, h: &mut HostRt) {
        if self.heartbeat_enabled() {
            self.heartbeat(h, HeartbeatControl::Start);
        }
        h.set_stage(Stage::Recovery(RecoveryStage::HeartbeatSoak {
            deadline: self.now + self.cfg.timeouts.heartbeat_soak.0,
        }));
    }
}
