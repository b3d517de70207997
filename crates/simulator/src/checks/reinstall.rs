//! Reinstall invariants (docs/handlers.md#reinstall), judged from the simulated machines and BMCs:
//! whether the machine really booted a fresh install, whether it is powered, what its virtual CD
//! holds, what the simulated BMC carried out, and the operator's own record of the host's lock.
//! The core's view of its reinstall (stage, install state, task) is never asked.
//!
//! - `reinstall_only_locked_hosts`: no power-off, reset, reboot, wipe or one-time boot in the name
//!   of a reinstall against a host the operator did not leave locked.
//! - `reinstall_ends_in_time`: every accepted reinstall ends within the sum of the timeouts of its
//!   stages ([`bound`]), counted from its acceptance or from the last controller restart (which
//!   starts it over).
//! - `reinstall_outcome_matches_machine`: completed ⇒ the machine booted a fresh install since the
//!   request and its virtual CD is empty (unless the simulated BMC refuses the eject or cannot be
//!   reached); failed ⇒ a critical 200.022 log "reinstall failed: REASON" with a reason, the host
//!   still locked and, once the BMC had begun since the reinstall (re)started, the machine powered
//!   off (unless the reason is that powering off failed) and the virtual CD empty (unless the reason
//!   names the eject).

use crate::invariants::{Invariant, Violation};
use std::collections::BTreeMap;
use std::time::Duration;
use steward_maintenance::action::{ActionId, ActionOutcome};
use steward_maintenance::alarm::LogId;
use steward_maintenance::task::REINSTALL_FAILED;
use steward_maintenance::{BmcOp, Cause, Config, Effect, Instant, NodeCommand};

/// What the simulator knows of one machine at the moment it is judged.
#[derive(Clone, Debug)]
pub struct Machine {
    pub powered: bool,
    /// Fresh installs booted so far ([`crate::node::SimNode::installs`]).
    pub installs: u64,
    /// The virtual CD's image, if any.
    pub image: Option<String>,
    /// The simulated BMC refuses ejects now, or cannot be reached.
    pub eject_impossible: bool,
}

/// One accepted reinstall not yet ended.
#[derive(Clone, Debug)]
struct Open {
    host: String,
    accepted: Instant,
    /// The deadline clock starts here: acceptance, or the last controller restart.
    clock: Instant,
    installs_before: u64,
    /// The simulated BMC carried out a power or media operation for it.
    bmc_acted: bool,
    /// A critical 200.022 "reinstall failed: REASON" log for the host, since acceptance.
    failed_log: Option<String>,
}

/// The longest a reinstall may run: every stage's timeout, each power stage's whole retry budget,
/// the online wait, and the add delay a restarted controller begins with. A bound, not a forecast:
/// a reinstall takes one path through these.
pub fn bound(cfg: &Config) -> Duration {
    let t = &cfg.timeouts;
    let retries = cfg.thresholds.power_action_retries + 1;
    let power = (t.bmc_query_timeout.0
        + t.bmc_action_timeout.0
        + t.power_on_retry_wait.0.max(t.power_off_retry_wait.0)
        + t.bmc_inaccessible_retry_wait.0)
        * retries;
    let boot = t.controller_boot_timeout.0.max(t.worker_boot_timeout.0);
    t.host_add_delay.0
        + t.reinstall_bmc_access_wait.0
        + t.command_ack_timeout.0
        // eject before, insert, each verify read, boot override, eject after, clean-up eject
        + t.reinstall_media_timeout.0 * 6
        + t.reinstall_mount_timeout.0
        + t.reinstall_mount_poll.0
        + t.bmc_query_timeout.0
        // power off, power on, clean-up power off
        + power * 3
        + boot
        + t.node_reinstall_timeout.0
}

/// The reinstall checker.
#[derive(Clone, Debug)]
pub struct ReinstallChecker {
    bound: Duration,
    open: BTreeMap<ActionId, Open>,
    /// Reinstalls judged so far (completed, failed).
    pub judged: (u64, u64),
}

impl ReinstallChecker {
    pub fn new(cfg: &Config) -> Self {
        ReinstallChecker {
            bound: bound(cfg),
            open: BTreeMap::new(),
            judged: (0, 0),
        }
    }

    /// The operator's reinstall was accepted.
    pub fn accepted(&mut self, id: ActionId, host: &str, now: Instant, installs: u64) {
        self.open.insert(
            id,
            Open {
                host: host.to_string(),
                accepted: now,
                clock: now,
                installs_before: installs,
                bmc_acted: false,
                failed_log: None,
            },
        );
    }

    /// The simulated BMC of `host` carried out `op` (reachable, not refused).
    pub fn bmc_carried_out(&mut self, host: &str, op: &BmcOp) {
        if *op == BmcOp::PowerStatus {
            return;
        }
        for o in self.open.values_mut().filter(|o| o.host == host) {
            o.bmc_acted = true;
        }
    }

    /// The controller restarted: a reinstall whose acceptance was not durable is gone; the others
    /// start over (the restored core runs them again from the beginning), and so does what the BMC
    /// did for them: a restarted reinstall that fails before its BMC acts (no BMC access) has
    /// nothing to clean up, whatever the interrupted one left.
    pub fn controller_restarted(
        &mut self,
        now: Instant,
        durably_accepted: impl Fn(ActionId) -> bool,
    ) {
        self.open.retain(|id, _| durably_accepted(*id));
        for o in self.open.values_mut() {
            o.clock = now;
            o.bmc_acted = false;
        }
    }

    /// An effect the core emitted. `locked`: the operator's last accepted lock state of the
    /// effect's host is locked; `machine`: the simulated machine of a host.
    pub fn on_effect(
        &mut self,
        now: Instant,
        e: &Effect,
        locked: impl Fn(&str) -> bool,
        machine: impl Fn(&str) -> Option<Machine>,
    ) -> Result<(), Violation> {
        match e {
            Effect::Bmc {
                host,
                op,
                cause: Cause::Operator { action },
                ..
            } if self.open.contains_key(action)
                && matches!(
                    op,
                    BmcOp::PowerOff
                        | BmcOp::PowerReset
                        | BmcOp::PowerOn
                        | BmcOp::NetbootOnce
                        | BmcOp::BootOnceVirtualCd
                ) =>
            {
                self.only_locked(now, host, &format!("BMC {op:?}"), &locked)
            }
            Effect::Send {
                host,
                command,
                cause: Cause::Operator { action },
                ..
            } if self.open.contains_key(action)
                && matches!(
                    command,
                    NodeCommand::WipeDisk | NodeCommand::Reboot | NodeCommand::LazyReboot
                ) =>
            {
                self.only_locked(now, host, &format!("{command:?}"), &locked)
            }
            Effect::Log(l) if l.id == LogId::StateChange && l.critical => {
                if let Some(reason) = l.text.split("reinstall failed: ").nth(1) {
                    for o in self.open.values_mut().filter(|o| o.host == l.host) {
                        o.failed_log = Some(reason.to_string());
                    }
                }
                Ok(())
            }
            Effect::Journal(steward_maintenance::action::JournalEntry::Ended {
                id,
                outcome,
                ..
            }) => {
                let Some(o) = self.open.remove(id) else {
                    return Ok(());
                };
                let Some(m) = machine(&o.host) else {
                    return Ok(());
                };
                self.judge(now, &o, outcome, locked(&o.host), &m)
            }
            _ => Ok(()),
        }
    }

    fn only_locked(
        &self,
        now: Instant,
        host: &str,
        what: &str,
        locked: &impl Fn(&str) -> bool,
    ) -> Result<(), Violation> {
        if locked(host) {
            return Ok(());
        }
        Err(Violation::new(
            Invariant::ReinstallOnlyLockedHosts,
            now,
            Some(host),
            format!("{what} for a reinstall of a host the operator left unlocked"),
        ))
    }

    fn judge(
        &mut self,
        now: Instant,
        o: &Open,
        outcome: &ActionOutcome,
        locked: bool,
        m: &Machine,
    ) -> Result<(), Violation> {
        let bad = |what: String| {
            Err(Violation::new(
                Invariant::ReinstallOutcomeMatchesMachine,
                now,
                Some(&o.host),
                format!(
                    "reinstall accepted at t={}ms ended {outcome:?}: {what}",
                    o.accepted.as_millis()
                ),
            ))
        };
        match outcome {
            ActionOutcome::Completed => {
                self.judged.0 += 1;
                if m.installs <= o.installs_before {
                    return bad("the machine never booted a fresh install".into());
                }
                if let Some(image) = &m.image {
                    if !m.eject_impossible {
                        return bad(format!("image {image} left in the virtual CD"));
                    }
                }
            }
            // Ended before it ran again: after a controller restart the reinstall waits behind the
            // add, and an unlock accepted meanwhile makes the core drop it ("host is unlocked").
            // Nothing was done to the machine for it since; the unlock's own invariants hold.
            ActionOutcome::Failed { reason } if !reason.starts_with(REINSTALL_FAILED) => {}
            ActionOutcome::Failed { reason } => {
                self.judged.1 += 1;
                let Some(logged) = o.failed_log.as_deref().filter(|r| !r.trim().is_empty()) else {
                    return bad("no critical 200.022 'reinstall failed: REASON' log".into());
                };
                if !locked {
                    return bad("the host is no longer locked".into());
                }
                let power_failed =
                    logged.contains("could not power off") || logged.contains("power-off failed");
                if o.bmc_acted && m.powered && !power_failed {
                    return bad(format!(
                        "the machine is left powered on (reason: {logged}; {reason})"
                    ));
                }
                if let Some(image) = m.image.as_ref().filter(|_| o.bmc_acted) {
                    if !logged.contains("eject") {
                        return bad(format!(
                            "image {image} left in the virtual CD (reason: {logged})"
                        ));
                    }
                }
            }
            // Another operator action took the host over: its own invariants judge what follows.
            ActionOutcome::SupersededBy { .. } => {}
        }
        Ok(())
    }

    /// Every open reinstall is within its bound at `now`.
    pub fn check_deadlines(&self, now: Instant) -> Result<(), Violation> {
        for (id, o) in &self.open {
            if now.since(o.clock) > self.bound {
                return Err(Violation::new(
                    Invariant::ReinstallEndsInTime,
                    now,
                    Some(&o.host),
                    format!(
                        "reinstall {id} accepted at t={}ms has not ended {} s after t={}ms \
                         (the sum of its stages' timeouts)",
                        o.accepted.as_millis(),
                        self.bound.as_secs(),
                        o.clock.as_millis()
                    ),
                ));
            }
        }
        Ok(())
    }
}
