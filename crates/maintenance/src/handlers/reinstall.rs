//! Reinstall handler (reference: mtc-fsm.md §2.12): locked hosts only. With a BMC: power off, boot the
//! install media once, power on, wait for the fresh install to report. Without one: ask the node to
//! wipe its disk and reboot into the network installer.

use super::bmc_actions::{PfStatus, PowerFsm};
use super::{HostRt, Stage};
use crate::action::ActionOutcome;
use crate::alarm::LogId;
use crate::core::Maintenance;
use crate::io::*;
use crate::state::*;
use crate::task;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReinstallStage {
    Start,
    AccessWait,
    PowerOff,
    NetbootWait,
    PowerOn,
    WipeAckWait,
    OnlineWait,
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
                ReinstallStage::PowerOff | ReinstallStage::NetbootWait | ReinstallStage::PowerOn
            )
        {
            return self.reinstall_fail(h, "BMC connectivity lost");
        }
        match stage {
            ReinstallStage::Start => {
                self.set_task(h, task::REINSTALLING);
                h.boot_id_before = h.alive.boot_id;
                self.heartbeat(h, HeartbeatControl::Stop);
                if h.rec.bmc_provisioned() {
                    h.timer = Some(now + t.reinstall_bmc_access_wait.0);
                    h.stage = Stage::Reinstall(ReinstallStage::AccessWait);
                    return self.reinstall_handler(h);
                }
                let cause = self.cause(h);
                self.send(h, NodeCommand::WipeDisk, vec![Network::Mgmt], cause);
                h.timer = Some(now + t.command_ack_timeout.0);
                h.stage = Stage::Reinstall(ReinstallStage::WipeAckWait);
            }
            ReinstallStage::AccessWait => {
                if h.rec.bmc_accessible {
                    self.set_task(h, task::REINSTALLING);
                    h.power_fsm = Some(PowerFsm::new(false, now));
                    h.stage = Stage::Reinstall(ReinstallStage::PowerOff);
                    return self.reinstall_handler(h);
                }
                self.set_task(h, task::REINSTALL_WAIT_BMC);
                if h.timer_rang(now) {
                    self.reinstall_fail(h, "timeout waiting BMC access");
                }
            }
            ReinstallStage::PowerOff => match self.step_power(h) {
                PfStatus::Running => {}
                PfStatus::Failed(_) => self.reinstall_fail(h, "could not power off host"),
                PfStatus::Done => {
                    self.set_avail(h, Availability::PowerOff);
                    self.bmc(h, BmcOp::NetbootOnce);
                    h.timer = Some(now + t.bmc_query_timeout.0);
                    h.stage = Stage::Reinstall(ReinstallStage::NetbootWait);
                }
            },
            ReinstallStage::NetbootWait => match h.take_bmc() {
                Some(BmcOutcome::Done(_)) => {
                    h.power_fsm = Some(PowerFsm::new(true, now));
                    h.stage = Stage::Reinstall(ReinstallStage::PowerOn);
                    self.reinstall_handler(h);
                }
                Some(BmcOutcome::Failed(_)) => self.reinstall_fail(h, "netboot request"),
                None if h.timer_rang(now) => self.reinstall_fail(h, "netboot request"),
                None => {}
            },
            ReinstallStage::PowerOn => match self.step_power(h) {
                PfStatus::Running => {}
                PfStatus::Failed(_) => self.reinstall_fail(h, "could not power on host"),
                PfStatus::Done => {
                    h.powered_on_at = Some(now);
                    self.set_avail(h, Availability::Offline);
                    h.timer = Some(now + self.boot_timeout(h) + t.node_reinstall_timeout.0);
                    h.stage = Stage::Reinstall(ReinstallStage::OnlineWait);
                }
            },
            ReinstallStage::WipeAckWait => {
                if h.cmd_acked {
                    self.start_offline_audit(h);
                    h.timer = Some(now + self.boot_timeout(h) + t.node_reinstall_timeout.0);
                    h.stage = Stage::Reinstall(ReinstallStage::OnlineWait);
                } else if h.timer_rang(now) {
                    self.reinstall_fail(h, "no acknowledgement of the wipe disk command");
                }
            }
            ReinstallStage::OnlineWait => {
                if h.rebooted_since_request() {
                    h.timer = None;
                    let name = h.name().to_string();
                    self.log(
                        &name,
                        LogId::StateChange,
                        format!("{name} reinstall completed successfully"),
                    );
                    self.set_avail(h, Availability::Online);
                    self.end_with_task(h, task::REINSTALL_SUCCEEDED, ActionOutcome::Completed);
                } else if h.timer_rang(now) {
                    self.reinstall_fail(h, "timeout waiting for online");
                }
            }
        }
    }

    fn reinstall_fail(&mut self, h: &mut HostRt, why: &str) {
        h.timer = None;
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
