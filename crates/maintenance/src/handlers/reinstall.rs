//! Reinstall handler (docs/handlers.md#reinstall): locked hosts only, by one of three methods.
//!
//! - virtual media (Redfish): eject, power off, insert the image, wait until the BMC reads it back
//!   mounted, one-time boot from the virtual CD, power on, wait for the fresh install, eject;
//! - PXE (any BMC): power off, one-time network boot, power on, wait for the fresh install;
//! - agent (no BMC needed): the node wipes its disk and reboots into the network installer.
//!
//! Each stage shows in the task line and in the record's install progress (sysinv's
//! `install_state` / `install_state_info`). A failure after the BMC stages began cleans up before
//! the action ends: media ejected (virtual media), host powered off, left locked; then the critical
//! log "reinstall failed: REASON".

use super::bmc_actions::{PfStatus, PowerFsm};
use super::{HostRt, Stage};
use crate::action::ActionOutcome;
use crate::alarm::LogId;
use crate::config::InstallDefaults;
use crate::core::Maintenance;
use crate::host::{BmcProtocol, HostSpec, InstallMethod, InstallProgress, InstallState};
use crate::io::*;
use crate::state::*;
use crate::task;
use crate::time::Instant;

/// What a reinstall was started with; carried by every stage. `boot_before` is the boot id when
/// the reinstall started: the fresh install reports from another boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    boot_before: Option<u64>,
    method: InstallMethod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReinstallStage {
    Start,
    AccessWait {
        plan: Plan,
        deadline: Instant,
    },
    /// Virtual media: eject what a previous use left inserted.
    EjectBefore {
        plan: Plan,
        deadline: Instant,
    },
    PowerOff {
        plan: Plan,
        fsm: Option<PowerFsm>,
    },
    InsertMedia {
        plan: Plan,
        deadline: Instant,
    },
    /// Read the virtual CD back until it holds the image, up to `until`. `asked`: a read is in
    /// flight (`deadline` bounds it); otherwise `deadline` is the next read.
    VerifyMedia {
        plan: Plan,
        until: Instant,
        asked: bool,
        deadline: Instant,
    },
    BootOverride {
        plan: Plan,
        deadline: Instant,
    },
    NetbootWait {
        plan: Plan,
        deadline: Instant,
    },
    PowerOn {
        plan: Plan,
        fsm: Option<PowerFsm>,
    },
    WipeAckWait {
        plan: Plan,
        deadline: Instant,
    },
    OnlineWait {
        plan: Plan,
        deadline: Instant,
    },
    /// Virtual media: the new install reported; eject the image.
    EjectAfter {
        plan: Plan,
        deadline: Instant,
    },
    /// Failed: eject the image (virtual media), then power off. The reason is in the record's
    /// install progress.
    CleanupEject {
        plan: Plan,
        deadline: Instant,
        /// Power off afterwards (not when powering off was what failed).
        power_off: bool,
    },
    CleanupPowerOff {
        plan: Plan,
        fsm: Option<PowerFsm>,
    },
}

impl ReinstallStage {
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match *self {
            ReinstallStage::Start => None,
            ReinstallStage::PowerOff { fsm, .. }
            | ReinstallStage::PowerOn { fsm, .. }
            | ReinstallStage::CleanupPowerOff { fsm, .. } => fsm.map(|f| f.deadline()),
            ReinstallStage::AccessWait { deadline, .. }
            | ReinstallStage::EjectBefore { deadline, .. }
            | ReinstallStage::InsertMedia { deadline, .. }
            | ReinstallStage::VerifyMedia { deadline, .. }
            | ReinstallStage::BootOverride { deadline, .. }
            | ReinstallStage::NetbootWait { deadline, .. }
            | ReinstallStage::WipeAckWait { deadline, .. }
            | ReinstallStage::OnlineWait { deadline, .. }
            | ReinstallStage::EjectAfter { deadline, .. }
            | ReinstallStage::CleanupEject { deadline, .. } => Some(deadline),
        }
    }

    /// The stages that need the BMC.
    fn uses_bmc(&self) -> bool {
        !matches!(
            self,
            ReinstallStage::Start
                | ReinstallStage::AccessWait { .. }
                | ReinstallStage::WipeAckWait { .. }
                | ReinstallStage::OnlineWait { .. }
        )
    }
}

/// The method and image a reinstall of `spec` uses: the host's own settings, else the configured
/// defaults by BMC protocol (docs/handlers.md#reinstall). An error says why the host cannot be
/// reinstalled as configured.
pub fn install_plan(
    spec: &HostSpec,
    defaults: &InstallDefaults,
) -> Result<(InstallMethod, Option<String>), String> {
    let image = spec
        .install
        .image
        .clone()
        .or_else(|| (!defaults.image.is_empty()).then(|| defaults.image.clone()));
    let protocol = spec.bmc.as_ref().map(|b| b.protocol);
    let method = match (spec.install.method, protocol) {
        (Some(m), _) => m,
        (None, None) => InstallMethod::Agent,
        (None, Some(BmcProtocol::Ipmi)) => defaults.ipmi_method,
        (None, Some(_)) => match defaults.redfish_method {
            InstallMethod::VirtualMedia if image.is_none() => InstallMethod::Pxe,
            m => m,
        },
    };
    match (method, protocol) {
        (InstallMethod::VirtualMedia | InstallMethod::Pxe, None) => {
            return Err(format!(
                "install_method {} needs a BMC; provision one or use install_method agent",
                method.as_str()
            ))
        }
        (InstallMethod::VirtualMedia, Some(BmcProtocol::Ipmi)) => {
            return Err("install_method virtual-media needs a Redfish BMC (IPMI has no virtual media); use pxe".into())
        }
        (InstallMethod::VirtualMedia, _) if image.is_none() => {
            return Err("install_method virtual-media needs an install_image URL; set the host's install_image (or install.image in the configuration)".into())
        }
        _ => {}
    }
    Ok((method, image))
}

impl Maintenance {
    pub(crate) fn reinstall_handler(&mut self, h: &mut HostRt) {
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        let stage = match h.stage {
            Stage::Reinstall(s) => s,
            _ => ReinstallStage::Start,
        };
        // A BMC that disappears mid-install cannot be trusted with the rest of it (nor with the
        // clean-up).
        if h.rec.spec.bmc.is_none() && stage.uses_bmc() {
            return self.reinstall_end_failed(h, "BMC connectivity lost");
        }
        match stage {
            ReinstallStage::Start => {
                let (method, _) = match install_plan(&h.rec.spec, &self.cfg.install) {
                    Ok(p) => p,
                    // Admission checked this; the host's settings changed since.
                    Err(why) => return self.reinstall_end_failed(h, &why),
                };
                let plan = Plan {
                    boot_before: h.alive.boot_id,
                    method,
                };
                self.set_task(h, task::REINSTALLING);
                self.heartbeat(h, HeartbeatControl::Stop);
                if method == InstallMethod::Agent {
                    self.install_progress(h, InstallState::Preinstall, "wiping disk");
                    self.set_task(h, task::REINSTALL_WIPING);
                    let cause = self.cause(h);
                    self.send(h, NodeCommand::WipeDisk, vec![Network::Mgmt], cause);
                    h.set_stage(Stage::Reinstall(ReinstallStage::WipeAckWait {
                        plan,
                        deadline: now + t.command_ack_timeout.0,
                    }));
                    return;
                }
                self.install_progress(h, InstallState::Preinstall, "waiting for BMC access");
                h.set_stage(Stage::Reinstall(ReinstallStage::AccessWait {
                    plan,
                    deadline: now + t.reinstall_bmc_access_wait.0,
                }));
                self.reinstall_handler(h)
            }
            ReinstallStage::AccessWait { plan, .. } => {
                if h.rec.bmc_accessible {
                    if plan.method == InstallMethod::VirtualMedia {
                        self.reinstall_step(h, task::REINSTALL_EJECTING, "ejecting virtual media");
                        self.bmc(h, BmcOp::EjectMedia);
                        h.set_stage(Stage::Reinstall(ReinstallStage::EjectBefore {
                            plan,
                            deadline: now + t.reinstall_media_timeout.0,
                        }));
                    } else {
                        self.reinstall_power_off(h, plan);
                    }
                    return;
                }
                self.set_task(h, task::REINSTALL_WAIT_BMC);
                if h.due(now) {
                    // Nothing was done to the host yet: nothing to clean up.
                    self.reinstall_end_failed(h, "timeout waiting BMC access");
                }
            }
            ReinstallStage::EjectBefore { plan, .. } => match h.take_bmc() {
                Some(BmcOutcome::Done(_)) => self.reinstall_power_off(h, plan),
                Some(BmcOutcome::Failed(e)) => {
                    self.reinstall_fail(h, plan, &format!("virtual media eject failed: {e}"))
                }
                None if h.due(now) => {
                    self.reinstall_fail(h, plan, "no answer to the virtual media eject")
                }
                None => {}
            },
            ReinstallStage::PowerOff { plan, mut fsm } => match self.step_power(h, &mut fsm) {
                PfStatus::Running => {
                    h.set_stage(Stage::Reinstall(ReinstallStage::PowerOff { plan, fsm }));
                }
                PfStatus::Failed(e) => self.reinstall_fail_inner(
                    h,
                    plan,
                    &format!("could not power off host: {e}"),
                    false,
                ),
                PfStatus::Done => {
                    self.set_avail(h, Availability::PowerOff);
                    match plan.method {
                        InstallMethod::VirtualMedia => {
                            let image = install_plan(&h.rec.spec, &self.cfg.install)
                                .ok()
                                .and_then(|(_, image)| image);
                            let Some(image) = image else {
                                return self.reinstall_fail(h, plan, "install_image was removed");
                            };
                            self.reinstall_step(
                                h,
                                task::REINSTALL_INSERTING,
                                "inserting the install image",
                            );
                            self.bmc(h, BmcOp::InsertMedia { image });
                            h.set_stage(Stage::Reinstall(ReinstallStage::InsertMedia {
                                plan,
                                deadline: now + t.reinstall_media_timeout.0,
                            }));
                        }
                        _ => {
                            self.reinstall_step(
                                h,
                                task::REINSTALL_NETBOOT,
                                "setting one-time network boot",
                            );
                            self.bmc(h, BmcOp::NetbootOnce);
                            h.set_stage(Stage::Reinstall(ReinstallStage::NetbootWait {
                                plan,
                                deadline: now + t.bmc_query_timeout.0,
                            }));
                        }
                    }
                }
            },
            ReinstallStage::InsertMedia { plan, .. } => match h.take_bmc() {
                Some(BmcOutcome::Done(_)) => {
                    self.reinstall_step(
                        h,
                        task::REINSTALL_MOUNT_WAIT,
                        "waiting for the BMC to mount the image",
                    );
                    h.set_stage(Stage::Reinstall(ReinstallStage::VerifyMedia {
                        plan,
                        until: now + t.reinstall_mount_timeout.0,
                        asked: false,
                        deadline: now,
                    }));
                    self.reinstall_handler(h)
                }
                Some(BmcOutcome::Failed(e)) => {
                    self.reinstall_fail(h, plan, &format!("virtual media insert failed: {e}"))
                }
                None if h.due(now) => {
                    self.reinstall_fail(h, plan, "no answer to the virtual media insert")
                }
                None => {}
            },
            ReinstallStage::VerifyMedia {
                plan, until, asked, ..
            } => self.reinstall_verify_media(h, plan, until, asked),
            ReinstallStage::BootOverride { plan, .. } => match h.take_bmc() {
                Some(BmcOutcome::Done(_)) => self.reinstall_power_on(h, plan),
                Some(BmcOutcome::Failed(e)) => self.reinstall_fail(
                    h,
                    plan,
                    &format!("one-time boot from virtual CD failed: {e}"),
                ),
                None if h.due(now) => {
                    self.reinstall_fail(h, plan, "no answer to the one-time boot request")
                }
                None => {}
            },
            ReinstallStage::NetbootWait { plan, .. } => match h.take_bmc() {
                Some(BmcOutcome::Done(_)) => self.reinstall_power_on(h, plan),
                Some(BmcOutcome::Failed(e)) => {
                    self.reinstall_fail(h, plan, &format!("netboot request: {e}"))
                }
                None if h.due(now) => self.reinstall_fail(h, plan, "netboot request"),
                None => {}
            },
            ReinstallStage::PowerOn { plan, mut fsm } => match self.step_power(h, &mut fsm) {
                PfStatus::Running => {
                    h.set_stage(Stage::Reinstall(ReinstallStage::PowerOn { plan, fsm }));
                }
                PfStatus::Failed(e) => {
                    self.reinstall_fail(h, plan, &format!("could not power on host: {e}"))
                }
                PfStatus::Done => {
                    h.powered_on_at = Some(now);
                    self.set_avail(h, Availability::Offline);
                    // The install is the boot after this power-on: a boot reported since the start
                    // (the host back from an earlier reset before the power-off) is not it.
                    let plan = Plan {
                        boot_before: h.alive.boot_id,
                        ..plan
                    };
                    self.reinstall_online_wait(h, plan);
                }
            },
            ReinstallStage::WipeAckWait { plan, .. } => {
                if h.cmd_acked {
                    self.start_offline_audit(h);
                    self.reinstall_online_wait(h, plan);
                } else if h.due(now) {
                    self.reinstall_fail(h, plan, "no acknowledgement of the wipe disk command");
                }
            }
            ReinstallStage::OnlineWait { plan, .. } => {
                if h.rebooted_since(plan.boot_before) {
                    self.set_avail(h, Availability::Online);
                    if plan.method == InstallMethod::VirtualMedia {
                        self.install_progress(h, InstallState::Postinstall, "ejecting the image");
                        self.set_task(h, task::REINSTALL_EJECT_AFTER);
                        self.bmc(h, BmcOp::EjectMedia);
                        h.set_stage(Stage::Reinstall(ReinstallStage::EjectAfter {
                            plan,
                            deadline: now + t.reinstall_media_timeout.0,
                        }));
                    } else {
                        self.reinstall_succeeded(h, None);
                    }
                } else if h.due(now) {
                    self.reinstall_fail(h, plan, "timeout waiting for online");
                }
            }
            ReinstallStage::EjectAfter { .. } => match h.take_bmc() {
                Some(BmcOutcome::Done(_)) => self.reinstall_succeeded(h, None),
                // The host runs its new install: powering it off for a stuck image would undo
                // the work. The operator is told to eject it.
                Some(BmcOutcome::Failed(e)) => self.reinstall_succeeded(h, Some(e)),
                None if h.due(now) => {
                    self.reinstall_succeeded(h, Some("no answer from the BMC".into()))
                }
                None => {}
            },
            ReinstallStage::CleanupEject {
                plan, power_off, ..
            } => {
                let note = match h.take_bmc() {
                    Some(BmcOutcome::Done(_)) => None,
                    Some(BmcOutcome::Failed(e)) => Some(format!("media eject failed too: {e}")),
                    None if h.due(now) => {
                        Some("media eject failed too: no answer from the BMC".to_string())
                    }
                    None => return,
                };
                if let Some(note) = note {
                    self.append_install_info(h, &note);
                }
                if power_off {
                    self.reinstall_cleanup_power_off(h, plan);
                } else {
                    let why = h.rec.install.info.clone();
                    self.reinstall_end_failed(h, &why);
                }
            }
            ReinstallStage::CleanupPowerOff { plan, mut fsm } => {
                match self.step_power(h, &mut fsm) {
                    PfStatus::Running => {
                        h.set_stage(Stage::Reinstall(ReinstallStage::CleanupPowerOff {
                            plan,
                            fsm,
                        }));
                    }
                    PfStatus::Failed(e) => {
                        self.append_install_info(h, &format!("power-off failed too: {e}"));
                        let why = h.rec.install.info.clone();
                        self.reinstall_end_failed(h, &why);
                    }
                    PfStatus::Done => {
                        self.set_avail(h, Availability::PowerOff);
                        let why = h.rec.install.info.clone();
                        self.reinstall_end_failed(h, &why);
                    }
                }
            }
        }
    }

    fn reinstall_verify_media(&mut self, h: &mut HostRt, plan: Plan, until: Instant, asked: bool) {
        let now = self.now;
        let t = self.cfg.timeouts.clone();
        let again = |asked, deadline| {
            Stage::Reinstall(ReinstallStage::VerifyMedia {
                plan,
                until,
                asked,
                deadline,
            })
        };
        if !asked {
            if !h.due(now) {
                return;
            }
            let image = install_plan(&h.rec.spec, &self.cfg.install)
                .ok()
                .and_then(|(_, image)| image);
            let Some(image) = image else {
                return self.reinstall_fail(h, plan, "install_image was removed");
            };
            self.bmc(h, BmcOp::VerifyMedia { image });
            h.set_stage(again(true, now + t.reinstall_media_timeout.0));
            return;
        }
        let last = match h.take_bmc() {
            Some(BmcOutcome::Done(_)) => {
                self.reinstall_step(
                    h,
                    task::REINSTALL_BOOT_OVERRIDE,
                    "setting one-time boot from virtual CD",
                );
                self.bmc(h, BmcOp::BootOnceVirtualCd);
                h.set_stage(Stage::Reinstall(ReinstallStage::BootOverride {
                    plan,
                    deadline: now + t.reinstall_media_timeout.0,
                }));
                return;
            }
            Some(BmcOutcome::Failed(e)) => e,
            None if h.due(now) => "no answer from the BMC".to_string(),
            None => return,
        };
        if now >= until {
            let waited = t.reinstall_mount_timeout.0.as_secs_f64();
            return self.reinstall_fail(
                h,
                plan,
                &format!("virtual media not mounted after {waited}s: {last}"),
            );
        }
        self.install_progress(
            h,
            InstallState::Preinstall,
            &format!("waiting for the BMC to mount the image: {last}"),
        );
        h.set_stage(again(false, (now + t.reinstall_mount_poll.0).min(until)));
    }

    /// One BMC stage begins: the task line and the install progress say which.
    fn reinstall_step(&mut self, h: &mut HostRt, task_line: &str, info: &str) {
        self.set_task(h, task_line);
        self.install_progress(h, InstallState::Preinstall, info);
    }

    fn reinstall_power_off(&mut self, h: &mut HostRt, plan: Plan) {
        self.reinstall_step(h, task::REINSTALL_POWERING_OFF, "powering off");
        h.set_stage(Stage::Reinstall(ReinstallStage::PowerOff {
            plan,
            fsm: Some(PowerFsm::new(false, self.now)),
        }));
        self.reinstall_handler(h)
    }

    fn reinstall_power_on(&mut self, h: &mut HostRt, plan: Plan) {
        self.set_task(h, task::REINSTALL_POWERING_ON);
        self.install_progress(h, InstallState::Booting, "powering on into the installer");
        h.set_stage(Stage::Reinstall(ReinstallStage::PowerOn {
            plan,
            fsm: Some(PowerFsm::new(true, self.now)),
        }));
        self.reinstall_handler(h)
    }

    fn reinstall_online_wait(&mut self, h: &mut HostRt, plan: Plan) {
        self.set_task(h, task::REINSTALL_INSTALLING);
        self.install_progress(
            h,
            InstallState::Installing,
            "waiting for the new install to report",
        );
        let deadline = self.now + self.boot_timeout(h) + self.cfg.timeouts.node_reinstall_timeout.0;
        h.set_stage(Stage::Reinstall(ReinstallStage::OnlineWait {
            plan,
            deadline,
        }));
    }

    fn install_progress(&mut self, h: &mut HostRt, state: InstallState, info: &str) {
        let new = InstallProgress {
            state: Some(state),
            info: info.to_string(),
        };
        if h.rec.install != new {
            h.rec.install = new;
            let name = h.name().to_string();
            self.changed(&name);
        }
    }

    fn append_install_info(&mut self, h: &mut HostRt, note: &str) {
        let info = format!("{}; {note}", h.rec.install.info);
        self.install_progress(h, InstallState::Failed, &info);
    }

    fn reinstall_succeeded(&mut self, h: &mut HostRt, eject_error: Option<String>) {
        let name = h.name().to_string();
        let (info, text) = match &eject_error {
            None => (
                String::new(),
                format!("{name} reinstall completed successfully"),
            ),
            Some(e) => (
                format!("virtual media eject failed: {e}; eject it through the BMC"),
                format!("{name} reinstall completed successfully; virtual media eject failed: {e}"),
            ),
        };
        self.log(&name, LogId::StateChange, text);
        self.install_progress(h, InstallState::Completed, &info);
        self.end_with_task(h, task::REINSTALL_SUCCEEDED, ActionOutcome::Completed);
    }

    /// The reinstall failed at a stage after BMC access: clean up (eject, power off) before the
    /// action ends. Without BMC stages (agent method) it ends at once.
    fn reinstall_fail(&mut self, h: &mut HostRt, plan: Plan, why: &str) {
        self.reinstall_fail_inner(h, plan, why, true)
    }

    /// As [`Maintenance::reinstall_fail`]; `power_off` false when powering off is what failed.
    fn reinstall_fail_inner(&mut self, h: &mut HostRt, plan: Plan, why: &str, power_off: bool) {
        self.install_progress(h, InstallState::Failed, why);
        match plan.method {
            InstallMethod::Agent => self.reinstall_end_failed(h, why),
            InstallMethod::VirtualMedia if !cfg!(mutation = "vmedia-skips-eject-on-failure") => {
                self.set_task(h, task::REINSTALL_CLEANUP);
                self.bmc(h, BmcOp::EjectMedia);
                h.set_stage(Stage::Reinstall(ReinstallStage::CleanupEject {
                    plan,
                    deadline: self.now + self.cfg.timeouts.reinstall_media_timeout.0,
                    power_off,
                }));
            }
            InstallMethod::VirtualMedia | InstallMethod::Pxe if power_off => {
                self.reinstall_cleanup_power_off(h, plan)
            }
            InstallMethod::VirtualMedia | InstallMethod::Pxe => self.reinstall_end_failed(h, why),
        }
    }

    fn reinstall_cleanup_power_off(&mut self, h: &mut HostRt, plan: Plan) {
        self.set_task(h, task::REINSTALL_CLEANUP);
        h.set_stage(Stage::Reinstall(ReinstallStage::CleanupPowerOff {
            plan,
            fsm: Some(PowerFsm::new(false, self.now)),
        }));
        self.reinstall_handler(h)
    }

    /// End the reinstall failed: the critical log 200.022 "reinstall failed: REASON".
    fn reinstall_end_failed(&mut self, h: &mut HostRt, why: &str) {
        let name = h.name().to_string();
        self.install_progress(h, InstallState::Failed, why);
        self.log(
            &name,
            LogId::StateChange,
            format!("{name} reinstall failed: {why}"),
        );
        let text = task::reinstall_failed(why);
        self.end_with_task(h, &text.clone(), ActionOutcome::Failed { reason: text });
    }
}
