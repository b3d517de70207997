//! How the node goes down once the agent has decided to reboot or wipe: the order of the steps
//! and the safety nets around them (docs/protocol.md#going-down). Pure: the runtime carries the
//! [`Step`]s out in order, with its own clock, processes and files.
//!
//! - **Lazy reboot** of the active controller: the controller that ordered the reboot runs on this
//!   very host, so it gets time to finish (answer the operator, persist its state) and a
//!   pre-reboot hook (e.g. a pod drain) runs first. The reboot waits until `lazy_delay_ms` has
//!   passed since the command, however long the hook took of it. A failed or timed-out hook is
//!   logged and the reboot goes on: a host that was told to reboot must not stay up because a
//!   drain script broke.
//! - **Failsafe**: the reboot command may fail or hang (a wedged init, a stuck unmount before the
//!   agent is stopped). The failsafe is armed *before* the command runs, so a command that never
//!   returns is covered too; when it fires, the kernel is asked to reboot at once (SysRq `b`).
//!   If the host really reboots, the agent dies with it and the failsafe never fires.

/// What the agent ordered ([`crate::Effect::Reboot`] or [`crate::Effect::WipeDisk`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoingDown {
    Reboot,
    /// Wipe the install disks' labels, then the machine's own wipe and reboot.
    WipeDisk,
}

/// The node's configuration of its safety nets, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RebootPolicy {
    /// This host runs the active controller: reboots are lazy.
    pub active_controller: bool,
    /// Least time between the command and the reboot of a lazy reboot.
    pub lazy_delay_ms: u64,
    /// A pre-reboot hook is configured, with this timeout.
    pub hook_timeout_ms: Option<u64>,
    /// The failsafe fires this long after the reboot command starts; None: no failsafe.
    pub failsafe_delay_ms: Option<u64>,
    /// Install disks are configured (their labels are wiped on wipe-disk).
    pub install_disks: bool,
}

/// One step of going down, in the order given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Run the pre-reboot hook, killing it after `timeout_ms`; its failure does not stop what
    /// follows.
    RunHook { timeout_ms: u64 },
    /// Wait until `ms` have passed since the command was received (no wait if they have).
    WaitSinceCommand { ms: u64 },
    /// Erase the partition tables and boot signatures of the configured install disks.
    WipeInstallDisks,
    /// Start the failsafe timer: SysRq reboot after `ms`, unless the host is gone by then.
    ArmFailsafe { ms: u64 },
    /// The machine's reboot (its reboot command).
    Reboot,
    /// The machine's own wipe (its wipe command, if any), then its reboot.
    MachineWipeThenReboot,
}

/// The steps for `what` under `policy`.
pub fn plan(what: GoingDown, policy: &RebootPolicy) -> Vec<Step> {
    let mut steps = Vec::new();
    match what {
        GoingDown::Reboot => {
            if policy.active_controller {
                if let Some(timeout_ms) = policy.hook_timeout_ms {
                    steps.push(Step::RunHook { timeout_ms });
                }
                if policy.lazy_delay_ms > 0 {
                    steps.push(Step::WaitSinceCommand {
                        ms: policy.lazy_delay_ms,
                    });
                }
            }
            if let Some(ms) = policy.failsafe_delay_ms {
                steps.push(Step::ArmFailsafe { ms });
            }
            steps.push(Step::Reboot);
        }
        GoingDown::WipeDisk => {
            // Our own label wipe is a few KiB of writes: it goes before the failsafe, so the
            // failsafe's clock measures only the machine's wipe command and reboot.
            if policy.install_disks {
                steps.push(Step::WipeInstallDisks);
            }
            if let Some(ms) = policy.failsafe_delay_ms {
                steps.push(Step::ArmFailsafe { ms });
            }
            steps.push(Step::MachineWipeThenReboot);
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RebootPolicy {
        RebootPolicy {
            active_controller: false,
            lazy_delay_ms: 15_000,
            hook_timeout_ms: Some(180_000),
            failsafe_delay_ms: Some(120_000),
            install_disks: true,
        }
    }

    #[test]
    fn a_worker_reboots_at_once_with_the_failsafe_armed_first() {
        assert_eq!(
            plan(GoingDown::Reboot, &policy()),
            vec![Step::ArmFailsafe { ms: 120_000 }, Step::Reboot]
        );
    }

    #[test]
    fn the_active_controller_runs_its_hook_then_waits_out_the_lazy_delay() {
        let p = RebootPolicy {
            active_controller: true,
            ..policy()
        };
        assert_eq!(
            plan(GoingDown::Reboot, &p),
            vec![
                Step::RunHook {
                    timeout_ms: 180_000
                },
                Step::WaitSinceCommand { ms: 15_000 },
                Step::ArmFailsafe { ms: 120_000 },
                Step::Reboot
            ]
        );
        let bare = RebootPolicy {
            hook_timeout_ms: None,
            lazy_delay_ms: 0,
            failsafe_delay_ms: None,
            ..p
        };
        assert_eq!(plan(GoingDown::Reboot, &bare), vec![Step::Reboot]);
    }

    #[test]
    fn wipe_disk_wipes_the_install_disks_before_arming_the_failsafe() {
        assert_eq!(
            plan(GoingDown::WipeDisk, &policy()),
            vec![
                Step::WipeInstallDisks,
                Step::ArmFailsafe { ms: 120_000 },
                Step::MachineWipeThenReboot
            ]
        );
        // Never lazy: the controller does not wipe its own host.
        let p = RebootPolicy {
            active_controller: true,
            install_disks: false,
            failsafe_delay_ms: None,
            ..policy()
        };
        assert_eq!(
            plan(GoingDown::WipeDisk, &p),
            vec![Step::MachineWipeThenReboot]
        );
    }
}
