//! Reinstall handler (docs/handlers.md#reinstall): locked hosts only. With a BMC: power off, boot
//! the install media once, power on, wait for the fresh install to report. Without one: ask the
//! node to wipe its disk and reboot into the network installer.

use super::bmc_actions::{PfStatus, PowerFsm};
use super::{HostRt, Stage};
use crate::action::ActionOutcome;
use crate::alarm::LogId;
use crate::core::Maintenance;
use crate::io::*;
use crate::state::*;
use crate::task;
use crate::time::Instant;

/// `boot_before` in every stage is the boot id when the reinstall started: the fresh install
/// reports from another boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReinstallStage {
    Start,
    AccessWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
    PowerOff {
        boot_before: Option<u64>,
        fsm: Option<PowerFsm>,
    },
    NetbootWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
    PowerOn {
        boot_before: Option<u64>,
        fsm: Option<PowerFsm>,
    },
    WipeAckWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
    OnlineWait {
        boot_before: Option<u64>,
        deadline: Instant,
    },
}

impl ReinstallStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            ReinstallStage::Start => None,
            ReinstallStage::PowerOff { fsm, .. } | ReinstallStage::PowerOn { fsm, .. } => {
                fsm.map(|f| f.deadline())
            }
            ReinstallStage::AccessWait { deadline, .. }
            | ReinstallStage::NetbootWait { deadline, .. }
            | ReinstallStage::WipeAckWait { deadline, .. }
            | ReinstallStage::OnlineWait { deadline, .. } => Some(deadline),
        }
    }
}

impl Maintenance {
    pub(crate) fn reinstall_handler(&mut self, h: &mut HostRt) {
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        let stage = match h.stage {
            Stage::Reinstall(s) => s,
            _ => ReinstallStage::Start,
        };
        // A BMC that disappears mid-install cannot be trusted with the rest of it.
        if h.rec.spec.bmc.is_none()
            && matches!(
                stage,
                ReinstallStage::PowerOff { .. }
                    | ReinstallStage::NetbootWait { .. }
                    | ReinstallStage::PowerOn { .. }
            )
        {
            return self.reinstall_fail(h, "BMC connectivity lost");
        }
        match stage {
            ReinstallStage::Start => {
                self.set_task(h, task::REINSTALLING);
                let boot_before = h.alive.boot_id;
                self.heartbeat(h, HeartbeatControl::Stop);
                if h.rec.bmc_provisioned() {
                    h.set_stage(Stage::Reinstall(ReinstallStage::AccessWait {
                        boot_before,
                        deadline: now + t.reinstall_bmc_access_wait.0,
                    }));
                    return self.reinstall_handler(h);
                }
                let cause = self.cause(h);
                self.send(h, NodeCommand::WipeDisk, vec![Network::Mgmt], cause);
                h.set_stage(Stage::Reinstall(ReinstallStage::WipeAckWait {
                    boot_before,
                    deadline: now + t.command_ack_timeout.0,
                }));
            }
            ReinstallStage::AccessWait { boot_before, .. } => {
                if h.rec.bmc_accessible {
                    self.set_task(h, task::REINSTALLING);
                    h.set_stage(Stage::Reinstall(ReinstallStage::PowerOff {
                        boot_before,
                        fsm: Some(PowerFsm::new(false, now)),
                    }));
                    return self.reinstall_handler(h);
                }
                self.set_task(h, task::REINSTALL_WAIT_BMC);
                if h.due(now) {
                    self.reinstall_fail(h, "timeout waiting BMC access");
                }
            }
            ReinstallStage::PowerOff {
                boot_before,
                mut fsm,
            } => match self.step_power(h, &mut fsm) {
                PfStatus::Running => {
                    h.set_stage(Stage::Reinstall(ReinstallStage::PowerOff {
                        boot_before,
                        fsm,
                    }));
                }
                PfStatus::Failed(_) => self.reinstall_fail(h, "could not power off host"),
                PfStatus::Done => {
                    self.set_avail(h, Availability::PowerOff);
                    self.bmc(h, BmcOp::NetbootOnce);
                    h.set_stage(Stage::Reinstall(ReinstallStage::NetbootWait {
                        boot_before,
                        deadline: now + t.bmc_query_timeout.0,
                    }));
                }
            },
            ReinstallStage::NetbootWait { boot_before, .. } => match h.take_bmc() {
                Some(BmcOutcome::Done(_)) => {
                    h.set_stage(Stage::Reinstall(ReinstallStage::PowerOn {
                        boot_before,
                        fsm: Some(PowerFsm::new(true, now)),
                    }));
                    self.reinstall_handler(h);
                }
                Some(BmcOutcome::Failed(_)) => self.reinstall_fail(h, "netboot request"),
                None if h.due(now) => self.reinstall_fail(h, "netboot request"),
                None => {}
            },
            ReinstallStage::PowerOn {
                boot_before,
                mut fsm,
            } => match self.step_power(h, &mut fsm) {
                PfStatus::Running => {
                    h.set_stage(Stage::Reinstall(ReinstallStage::PowerOn {
                        boot_before,
                        fsm,
                    }));
                }
                PfStatus::Failed(_) => self.reinstall_fail(h, "could not power on host"),
                PfStatus::Done => {
                    h.powered_on_at = Some(now);
                    self.set_avail(h, Availability::Offline);
                    h.set_stage(Stage::Reinstall(ReinstallStage::OnlineWait {
                        boot_before,
                        deadline: now + self.boot_timeout(h) + t.node_reinstall_timeout.0,
                    }));
                }
            },
            ReinstallStage::WipeAckWait { boot_before, .. } => {
                if h.cmd_acked {
                    self.start_offline_audit(h);
                    h.set_stage(Stage::Reinstall(ReinstallStage::OnlineWait {
                        boot_before,
                        deadline: now + self.boot_timeout(h) + t.node_reinstall_timeout.0,
                    }));
                } else if h.due(now) {
                    self.reinstall_fail(h, "no acknowledgement of the wipe disk command");
                }
            }
            ReinstallStage::OnlineWait { boot_before, .. } => {
                if h.rebooted_since(boot_before) {
                    let name = h.name().to_string();
                    self.log(
                        &name,
                        LogId::StateChange,
                        format!("{name} reinstall completed successfully"),
                    );
                    self.set_avail(h, Availability::Online);
                    self.end_with_task(h, task::REINSTALL_SUCCEEDED, ActionOutcome::Completed);
                } else if h.due(now) {
                    self.reinstall_fail(h, "timeout waiting for online");
                }
            }
        }
    }

    fn reinstall_fail(&mut self, h: &mut HostRt, why: &str) {
        let name = h.name().to_string();
        self.log(
            &name,
            LogId::StateChange,
            format!("{name} reinstall failed: {why}"),
        );
        let text = task::reinstall_failed(why);
        self.end_with_task(h, &text.clone(), ActionOutcome::Failed { reason: text });
    }
}
