//! The named invariants and the checker that watches every effect the core emits.
//!
//! Step invariants are checked as effects are drained (right after each core call); quiescence
//! invariants after faults are healed and the cluster settled. A failure is a typed [`Violation`] naming
//! the invariant, the simulated time, the host and what was seen.

use crate::truth::Truth;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use steward_maintenance::action::{Action, ActionId, ActionOutcome, JournalEntry, OperatorAction};
use steward_maintenance::alarm::{AlarmChange, AlarmId, Severity};
use steward_maintenance::dispatch::is_legal_steady_state;
use steward_maintenance::host::ArCause;
use steward_maintenance::state::{AdminState, Availability, OperState};
use steward_maintenance::{BmcOp, Cause, Effect, Instant, Maintenance, NodeCommand, RequestError};

/// The simulator's invariants (ARCHITECTURE.md, "Testing"), by name. Each judges from the
/// simulator's own record ([`Truth`]): what the operator had accepted, what the simulator injected,
/// what crossed the simulated wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// No automatic reboot/reset/power-off/wipe of a host the operator last locked.
    NoAutoDestructionOfLockedOrPooled,
    /// While the simulator holds at least `mnfa_threshold` in-service hosts out on one network at
    /// once, nothing automatic destroys them; once the outage ends, none that is back is reset or
    /// rebooted for it.
    MultiNodeOutageSpared,
    /// A destructive effect's cause is true: `Operator` matches an accepted request of that host and
    /// kind, `CriticalSensor` follows a critical reading the simulator injected, `AutoRecovery` targets
    /// a host the simulator gave trouble since it was last in service.
    CauseMatchesGroundTruth,
    /// A host is parked (auto-recovery disabled) only after more go-enabled test failures than the
    /// configured threshold, counted from what the simulated nodes reported.
    AutoRecoveryThreshold,
    /// An accepted lock that completes has put a `Locked` command on the wire to its host.
    LockReachesNode,
    /// Pulse-level and event-level heartbeat, given the same fault script, lose the same hosts.
    HeartbeatModelsAgree,
    /// The active controller is never acted on destructively, except an operator's lazy reboot.
    ActiveControllerSelfProtection,
    /// Every accepted request is journaled as accepted and ends exactly once.
    ActionsJournaledAndEnded,
    /// After healing and settling, every host rests in a legal steady state with no action.
    LegalSteadyStateAfterQuiescence,
    /// Alarms are raised once and cleared once, and match the host states after settling.
    AlarmRaisedOnceClearedOnce,
    /// The administrative state changes only because the operator asked.
    AdminStateOnlyByOperator,
    /// Simulated time keeps moving: the core does not ask for a timeout it then leaves pending
    /// (a livelock would hang a real controller's event loop).
    DeadlinesMakeProgress,
    /// One audit period after a change, a node's lock flag files match the admin state it last
    /// accepted ([`crate::checks::node_side`]).
    LockFlagsFollowConfirmedState,
    /// A node that last accepted "locked" has its volatile lock flag once its agent is up again.
    LockedHostBootsLocked,
    /// A destructive command runs at most once per controller session and command id.
    CommandRunsOncePerSession,
    /// An acknowledged operator request is durably journaled ([`crate::checks::restart`]).
    NoAcknowledgedChangeLost,
    /// Every durably accepted action durably ends, across controller restarts.
    ActionsEndAcrossRestarts,
    /// After settling, the store holds what the core holds (alarms, host records).
    DurableStateMatchesCore,
    /// Controller pair: every step that acts comes from the lease server's live holder at that
    /// instant ([`crate::pair`]).
    OneActiveAtATime,
    /// Controller pair: no failure alarm or automatic reboot/reset, soon after a takeover, of a host
    /// that was in service at the takeover and untroubled since ([`crate::pair`]).
    NoFalseFailureAcrossTakeover,
    /// Reinstall: nothing destructive in its name against a host the operator left unlocked
    /// ([`crate::checks::reinstall`]).
    ReinstallOnlyLockedHosts,
    /// Reinstall: every accepted one ends within the sum of its stages' timeouts.
    ReinstallEndsInTime,
    /// Reinstall: a completed one booted a fresh install and left the virtual CD empty; a failed
    /// one logged a critical 200.022 with a reason and left the host locked, powered off and ejected.
    ReinstallOutcomeMatchesMachine,
    /// Pxeboot: 200.003 is raised only when a host's pxeboot reports stopped, is raised when they
    /// stop for long while the host is otherwise up, and is cleared once they resume
    /// ([`crate::checks::pxeboot`]).
    PxebootAlarmFollowsReports,
}

impl Invariant {
    pub const ALL: [Invariant; 24] = [
        Invariant::NoAutoDestructionOfLockedOrPooled,
        Invariant::MultiNodeOutageSpared,
        Invariant::CauseMatchesGroundTruth,
        Invariant::AutoRecoveryThreshold,
        Invariant::LockReachesNode,
        Invariant::HeartbeatModelsAgree,
        Invariant::ActiveControllerSelfProtection,
        Invariant::ActionsJournaledAndEnded,
        Invariant::LegalSteadyStateAfterQuiescence,
        Invariant::AlarmRaisedOnceClearedOnce,
        Invariant::AdminStateOnlyByOperator,
        Invariant::DeadlinesMakeProgress,
        Invariant::LockFlagsFollowConfirmedState,
        Invariant::LockedHostBootsLocked,
        Invariant::CommandRunsOncePerSession,
        Invariant::NoAcknowledgedChangeLost,
        Invariant::ActionsEndAcrossRestarts,
        Invariant::DurableStateMatchesCore,
        Invariant::OneActiveAtATime,
        Invariant::NoFalseFailureAcrossTakeover,
        Invariant::ReinstallOnlyLockedHosts,
        Invariant::ReinstallEndsInTime,
        Invariant::ReinstallOutcomeMatchesMachine,
        Invariant::PxebootAlarmFollowsReports,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Invariant::NoAutoDestructionOfLockedOrPooled => {
                "no_auto_destruction_of_locked_or_pooled"
            }
            Invariant::ActiveControllerSelfProtection => "active_controller_self_protection",
            Invariant::ActionsJournaledAndEnded => "actions_journaled_and_ended",
            Invariant::LegalSteadyStateAfterQuiescence => "legal_steady_state_after_quiescence",
            Invariant::AlarmRaisedOnceClearedOnce => "alarm_raised_once_cleared_once",
            Invariant::AdminStateOnlyByOperator => "admin_state_only_by_operator",
            Invariant::DeadlinesMakeProgress => "deadlines_make_progress",
            Invariant::MultiNodeOutageSpared => "multi_node_outage_spared",
            Invariant::CauseMatchesGroundTruth => "cause_matches_ground_truth",
            Invariant::AutoRecoveryThreshold => "auto_recovery_threshold",
            Invariant::LockReachesNode => "lock_reaches_node",
            Invariant::HeartbeatModelsAgree => "heartbeat_models_agree",
            Invariant::LockFlagsFollowConfirmedState => "lock_flags_follow_confirmed_state",
            Invariant::LockedHostBootsLocked => "locked_host_boots_locked",
            Invariant::CommandRunsOncePerSession => "command_runs_once_per_session",
            Invariant::NoAcknowledgedChangeLost => "no_acknowledged_change_lost",
            Invariant::ActionsEndAcrossRestarts => "actions_end_across_restarts",
            Invariant::DurableStateMatchesCore => "durable_state_matches_core",
            Invariant::OneActiveAtATime => "one_active_at_a_time",
            Invariant::NoFalseFailureAcrossTakeover => "no_false_failure_across_takeover",
            Invariant::ReinstallOnlyLockedHosts => "reinstall_only_locked_hosts",
            Invariant::ReinstallEndsInTime => "reinstall_ends_in_time",
            Invariant::ReinstallOutcomeMatchesMachine => "reinstall_outcome_matches_machine",
            Invariant::PxebootAlarmFollowsReports => "pxeboot_alarm_follows_reports",
        }
    }
}

/// Whether an accepted operator action of this kind may reboot, reset, power off or wipe its host.
fn operator_may(action: OperatorAction, command: Option<NodeCommand>, op: Option<BmcOp>) -> bool {
    use OperatorAction as A;
    let reboot = matches!(command, Some(NodeCommand::Reboot | NodeCommand::LazyReboot));
    let wipe = command == Some(NodeCommand::WipeDisk);
    let reset = op == Some(BmcOp::PowerReset);
    let off = op == Some(BmcOp::PowerOff);
    match action {
        // Unlock, force-lock and reboot go through the reset progression: reboot, then BMC reset.
        A::Unlock | A::ForceLock | A::Reboot => reboot || reset,
        A::Reset => reset,
        A::PowerOff => off,
        // Reinstall: wipe through the agent, or power off, netboot once and power on.
        A::Reinstall => wipe || reboot || reset || off,
        A::Delete => wipe,
        A::Lock | A::Swact | A::ForceSwact | A::PowerOn => false,
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken invariant.
#[derive(Clone, Debug)]
pub struct Violation {
    pub invariant: Invariant,
    pub at: Instant,
    pub host: Option<String>,
    pub description: String,
    /// One line that replays the run (filled in by the runner).
    pub replay: Option<String>,
    /// The last interesting things that happened (requests, faults, state changes, destructive effects).
    pub trace: Vec<String>,
}

impl Violation {
    pub fn new(
        invariant: Invariant,
        at: Instant,
        host: Option<&str>,
        description: impl Into<String>,
    ) -> Self {
        Violation {
            invariant,
            at,
            host: host.map(str::to_string),
            description: description.into(),
            replay: None,
            trace: Vec::new(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invariant {} violated at t={}ms host={}: {}",
            self.invariant,
            self.at.as_millis(),
            self.host.as_deref().unwrap_or("-"),
            self.description
        )?;
        if !self.trace.is_empty() {
            writeln!(f, "\nlast events:")?;
            for line in &self.trace {
                writeln!(f, "  {line}")?;
            }
        }
        if let Some(r) = &self.replay {
            write!(f, "\nreplay: {r}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// One destructive effect seen, for logs and scenario assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destructive {
    pub at: Instant,
    pub host: String,
    pub what: String,
    pub cause: Cause,
}

/// Watches effects and requests; holds what the invariants need to remember.
#[derive(Debug)]
pub struct Checker {
    /// The simulator's own record of what is true; every invariant judges from it.
    pub truth: Truth,
    /// Auto-recovery parking last seen per host (to judge the moment it happens).
    parked: BTreeMap<String, bool>,
    /// Admin state last seen per host.
    admin: BTreeMap<String, AdminState>,
    /// Admin state the operator asked for with an accepted request, not yet reached.
    allowed_admin: BTreeMap<String, AdminState>,
    accepted_by_request: BTreeMap<ActionId, (String, OperatorAction, Instant)>,
    journal_accepted: BTreeSet<ActionId>,
    journal_ended: BTreeSet<ActionId>,
    /// Active alarms as the effects told us.
    alarms: BTreeMap<(AlarmId, String), Severity>,
    removed: BTreeSet<String>,
    pub destructive: Vec<Destructive>,
    pub journal: Vec<JournalEntry>,
}

impl Checker {
    pub fn new(truth: Truth) -> Checker {
        Checker {
            truth,
            parked: BTreeMap::new(),
            admin: BTreeMap::new(),
            allowed_admin: BTreeMap::new(),
            accepted_by_request: BTreeMap::new(),
            journal_accepted: BTreeSet::new(),
            journal_ended: BTreeSet::new(),
            alarms: BTreeMap::new(),
            removed: BTreeSet::new(),
            destructive: Vec::new(),
            journal: Vec::new(),
        }
    }

    /// Remember a host's starting admin state.
    pub fn host_added(&mut self, host: &str, admin: AdminState) {
        self.admin.insert(host.to_string(), admin);
        self.removed.remove(host);
    }

    /// Call after `request()` returned, before draining its effects.
    pub fn on_request(
        &mut self,
        now: Instant,
        host: &str,
        action: OperatorAction,
        r: &Result<ActionId, RequestError>,
    ) {
        let Ok(id) = r else { return };
        self.truth.request_accepted(now, host, action, *id);
        self.accepted_by_request
            .insert(*id, (host.to_string(), action, now));
        match action {
            OperatorAction::Lock | OperatorAction::ForceLock => {
                self.allowed_admin
                    .insert(host.to_string(), AdminState::Locked);
            }
            OperatorAction::Unlock => {
                self.allowed_admin
                    .insert(host.to_string(), AdminState::Unlocked);
            }
            _ => {}
        }
    }

    /// Call after the effects of an accepted request were drained.
    pub fn after_request(
        &self,
        now: Instant,
        host: &str,
        r: &Result<ActionId, RequestError>,
    ) -> Result<(), Violation> {
        if let Ok(id) = r {
            if !self.journal_accepted.contains(id) {
                return Err(Violation::new(
                    Invariant::ActionsJournaledAndEnded,
                    now,
                    Some(host),
                    format!("request returned {id} but no Journal::Accepted {{ id: {id} }} effect followed"),
                ));
            }
        }
        Ok(())
    }

    /// Check one effect against the step invariants. `core` is the state right after the call that
    /// produced it.
    pub fn on_effect(
        &mut self,
        core: &Maintenance,
        now: Instant,
        e: &Effect,
    ) -> Result<(), Violation> {
        let verdict = self.judge_effect(core, now, e);
        self.truth.effect(now, e);
        verdict
    }

    fn judge_effect(
        &mut self,
        core: &Maintenance,
        now: Instant,
        e: &Effect,
    ) -> Result<(), Violation> {
        match e {
            Effect::Send {
                host,
                command,
                cause,
                ..
            } if command.is_destructive() => self.destructive_effect(
                core,
                now,
                host,
                format!("{command:?}"),
                *cause,
                Some(*command),
                None,
            ),
            Effect::Bmc {
                host, op, cause, ..
            } if op.is_destructive() => self.destructive_effect(
                core,
                now,
                host,
                format!("bmc {op:?}"),
                *cause,
                None,
                Some(op.clone()),
            ),
            Effect::Alarm(change) => self.alarm(now, change),
            Effect::Journal(entry) => {
                self.journal.push(entry.clone());
                self.journal_entry(now, entry)?;
                self.lock_reached_node(now, entry)
            }
            Effect::HostChanged { host } => {
                self.host_changed(core, now, host)?;
                self.parking(core, now, host)
            }
            Effect::HostRemoved { host } => {
                self.removed.insert(host.clone());
                self.admin.remove(host);
                self.allowed_admin.remove(host);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn destructive_effect(
        &mut self,
        core: &Maintenance,
        now: Instant,
        host: &str,
        what: String,
        cause: Cause,
        command: Option<NodeCommand>,
        op: Option<BmcOp>,
    ) -> Result<(), Violation> {
        self.destructive.push(Destructive {
            at: now,
            host: host.to_string(),
            what: what.clone(),
            cause,
        });
        // What the core thinks of the host, for the report only; never for the verdict.
        let seen = || {
            core.host(host)
                .map(|r| {
                    format!(
                        "core shows states {}, action {}, task '{}'",
                        r.states, r.action, r.task
                    )
                })
                .unwrap_or_default()
        };
        let truth = &self.truth;
        if host == truth.cfg.own_host {
            let lazy_by_operator =
                command == Some(NodeCommand::LazyReboot) && matches!(cause, Cause::Operator { .. });
            if !lazy_by_operator {
                return Err(Violation::new(
                    Invariant::ActiveControllerSelfProtection,
                    now,
                    Some(host),
                    format!("{what} with cause {cause:?} against the active controller itself"),
                ));
            }
        }
        match cause {
            Cause::Operator { action } => {
                let Some(req) = truth.requests.get(&action) else {
                    return Err(Violation::new(
                        Invariant::CauseMatchesGroundTruth,
                        now,
                        Some(host),
                        format!("{what} labelled as operator action {action}, which the operator never had accepted ({})", seen()),
                    ));
                };
                if req.ended() {
                    // Resuming an action the durable journal says is over repeats what the
                    // operator asked for once (issue: no destructive effect beyond the journal).
                    return Err(Violation::new(
                        Invariant::CauseMatchesGroundTruth,
                        now,
                        Some(host),
                        format!(
                            "{what} labelled as operator action {action}, which had already ended in the journal ({})",
                            seen()
                        ),
                    ));
                }
                if req.host != host || !operator_may(req.action, command, op) {
                    return Err(Violation::new(
                        Invariant::CauseMatchesGroundTruth,
                        now,
                        Some(host),
                        format!(
                            "{what} labelled as operator action {action}, but that was {} of {} accepted at t={}ms ({})",
                            req.action,
                            req.host,
                            req.at.as_millis(),
                            seen()
                        ),
                    ));
                }
            }
            Cause::CriticalSensor => {
                if truth.sensor_reading(host, now).is_none() {
                    return Err(Violation::new(
                        Invariant::CauseMatchesGroundTruth,
                        now,
                        Some(host),
                        format!("{what} labelled as a critical sensor's, but the simulator injected no critical reading for this host since it was last in service ({})", seen()),
                    ));
                }
            }
            Cause::AutoRecovery => {
                if truth.admin_intent(host) == Some(AdminState::Locked) {
                    return Err(Violation::new(
                        Invariant::NoAutoDestructionOfLockedOrPooled,
                        now,
                        Some(host),
                        format!(
                            "automatic {what} against a host the operator locked ({}{})",
                            if truth.lock_pending(host) {
                                "lock under way; "
                            } else {
                                ""
                            },
                            seen()
                        ),
                    ));
                }
                if let Some(ep) = truth.held(host, now) {
                    return Err(Violation::new(
                        Invariant::MultiNodeOutageSpared,
                        now,
                        Some(host),
                        format!(
                            "automatic {what} against a host out in a multi-node outage on the {:?} network since t={}ms ({} hosts held: {:?}; out per network {:?}; {})",
                            ep.network,
                            ep.since.as_millis(),
                            ep.protected.len(),
                            ep.protected.iter().take(8).collect::<Vec<_>>(),
                            truth.counted(),
                            seen()
                        ),
                    ));
                }
                if let Some(end) = truth.spared(host) {
                    return Err(Violation::new(
                        Invariant::MultiNodeOutageSpared,
                        now,
                        Some(host),
                        format!(
                            "automatic {what} against a host back from a multi-node outage that ended at t={}ms, with no trouble since ({})",
                            end.as_millis(),
                            seen()
                        ),
                    ));
                }
                if !truth.troubled(host, now) {
                    return Err(Violation::new(
                        Invariant::CauseMatchesGroundTruth,
                        now,
                        Some(host),
                        format!(
                            "automatic {what} against a host the simulator gave no trouble since it was last in service (last trouble {:?}; {})",
                            truth.last_trouble(host).map(Instant::as_millis),
                            seen()
                        ),
                    ));
                }
            }
            Cause::Routine => {
                return Err(Violation::new(
                    Invariant::CauseMatchesGroundTruth,
                    now,
                    Some(host),
                    format!("{what} labelled routine ({})", seen()),
                ));
            }
        }
        Ok(())
    }

    /// A completed lock must have put `Locked` on the wire to its host.
    fn lock_reached_node(&self, now: Instant, entry: &JournalEntry) -> Result<(), Violation> {
        let JournalEntry::Ended {
            id,
            host,
            outcome: ActionOutcome::Completed,
        } = entry
        else {
            return Ok(());
        };
        let Some(req) = self.truth.requests.get(id) else {
            return Ok(());
        };
        if matches!(req.action, OperatorAction::Lock | OperatorAction::ForceLock)
            && !self.truth.locked_sent(host)
        {
            return Err(Violation::new(
                Invariant::LockReachesNode,
                now,
                Some(host),
                format!(
                    "{} accepted as {id} at t={}ms completed, but no Locked command was sent to the node since",
                    req.action,
                    req.at.as_millis()
                ),
            ));
        }
        Ok(())
    }

    /// The moment the core parks a host for failed go-enabled tests, the simulated nodes must have
    /// failed more tests than the threshold allows.
    fn parking(&mut self, core: &Maintenance, now: Instant, host: &str) -> Result<(), Violation> {
        let Some(rec) = core.host(host) else {
            return Ok(());
        };
        let parked = rec.ar_disabled.is_some();
        let was = self
            .parked
            .insert(host.to_string(), parked)
            .unwrap_or(false);
        if !parked || was || rec.ar_disabled != Some(ArCause::GoEnable) {
            return Ok(());
        }
        let failed = self.truth.failed_tests(host, now);
        let threshold = self.truth.cfg.ar_goenable_threshold;
        if failed <= threshold {
            return Err(Violation::new(
                Invariant::AutoRecoveryThreshold,
                now,
                Some(host),
                format!(
                    "parked after {failed} failed go-enabled tests; the threshold {threshold} allows {threshold} before parking ({})",
                    self.truth.tests_report(host)
                ),
            ));
        }
        Ok(())
    }

    fn alarm(&mut self, now: Instant, change: &AlarmChange) -> Result<(), Violation> {
        match change {
            AlarmChange::Raise(a) => {
                let key = (a.id, a.host.clone());
                if self.alarms.get(&key) == Some(&a.severity) {
                    return Err(Violation::new(
                        Invariant::AlarmRaisedOnceClearedOnce,
                        now,
                        Some(&a.host),
                        format!(
                            "alarm {} raised again at the same severity {:?}",
                            a.id, a.severity
                        ),
                    ));
                }
                self.alarms.insert(key, a.severity);
            }
            AlarmChange::Clear { id, host } => {
                if self.alarms.remove(&(*id, host.clone())).is_none() {
                    return Err(Violation::new(
                        Invariant::AlarmRaisedOnceClearedOnce,
                        now,
                        Some(host),
                        format!("alarm {id} cleared but it was not active"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn journal_entry(&mut self, now: Instant, entry: &JournalEntry) -> Result<(), Violation> {
        match entry {
            JournalEntry::Accepted { id, host, .. } => {
                if !self.journal_accepted.insert(*id) {
                    return Err(Violation::new(
                        Invariant::ActionsJournaledAndEnded,
                        now,
                        Some(host),
                        format!("action {id} journaled as accepted twice"),
                    ));
                }
            }
            JournalEntry::Ended { id, host, outcome } => {
                if !self.journal_accepted.contains(id) {
                    return Err(Violation::new(
                        Invariant::ActionsJournaledAndEnded,
                        now,
                        Some(host),
                        format!("action {id} ended ({outcome:?}) but was never accepted"),
                    ));
                }
                if !self.journal_ended.insert(*id) {
                    return Err(Violation::new(
                        Invariant::ActionsJournaledAndEnded,
                        now,
                        Some(host),
                        format!("action {id} ended twice (second: {outcome:?})"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn host_changed(
        &mut self,
        core: &Maintenance,
        now: Instant,
        host: &str,
    ) -> Result<(), Violation> {
        let Some(rec) = core.host(host) else {
            return Ok(());
        };
        let new = rec.states.admin;
        match self.admin.get(host).copied() {
            None => {
                self.admin.insert(host.to_string(), new);
            }
            Some(old) if old != new => {
                if self.allowed_admin.get(host) == Some(&new) {
                    self.allowed_admin.remove(host);
                    self.admin.insert(host.to_string(), new);
                } else {
                    return Err(Violation::new(
                        Invariant::AdminStateOnlyByOperator,
                        now,
                        Some(host),
                        format!(
                            "admin state changed {old} -> {new} without an accepted operator request \
                             (states {}, action {}, task '{}')",
                            rec.states, rec.action, rec.task
                        ),
                    ));
                }
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The controller restarted from its store: what the effects showed but never became durable
    /// is forgotten, and the checker goes on from the durable alarms, journal and admin states the
    /// restored core starts from.
    pub fn controller_restarted(
        &mut self,
        alarms: impl IntoIterator<Item = (AlarmId, String, Severity)>,
        journal: &[JournalEntry],
        admin: impl IntoIterator<Item = (String, AdminState, bool)>,
        now: Instant,
    ) {
        self.alarms = alarms.into_iter().map(|(id, h, s)| ((id, h), s)).collect();
        self.journal_accepted.clear();
        self.journal_ended.clear();
        for entry in journal {
            match entry {
                JournalEntry::Accepted { id, .. } => self.journal_accepted.insert(*id),
                JournalEntry::Ended { id, .. } => self.journal_ended.insert(*id),
            };
        }
        let durable = &self.journal_accepted;
        self.accepted_by_request
            .retain(|id, _| durable.contains(id));
        self.admin.clear();
        for (host, state, parked) in admin {
            // A host the store holds parked was parked (and judged) before the restart: the new
            // process restoring it is not a new parking decision (seed 424/5 with restarts).
            self.parked.insert(host.clone(), parked);
            self.admin.insert(host, state);
        }
        // A delete whose step was never durable did not happen: the host is back.
        self.removed.retain(|h| !self.admin.contains_key(h));
        self.truth.controller_restarted(
            now,
            durable,
            &self.journal_ended,
            self.admin.keys().map(String::as_str),
        );
        // A lock or unlock the operator had accepted durably and that has not ended is resumed by
        // the new process: it may still change the admin state (simulator seed 909/10 with
        // restarts: the permission had been used by a later force-lock that was never durable).
        self.allowed_admin.clear();
        for (id, (host, action, _)) in &self.accepted_by_request {
            if self.journal_ended.contains(id) {
                continue;
            }
            let target = match action {
                OperatorAction::Lock | OperatorAction::ForceLock => AdminState::Locked,
                OperatorAction::Unlock => AdminState::Unlocked,
                _ => continue,
            };
            self.allowed_admin.insert(host.clone(), target);
        }
    }

    /// Active alarms as the effects told us.
    pub fn active_alarms(&self) -> impl Iterator<Item = (AlarmId, &str, Severity)> {
        self.alarms.iter().map(|((id, h), s)| (*id, h.as_str(), *s))
    }

    /// The quiescence invariants: call after faults were healed and the cluster settled.
    pub fn at_quiescence(&self, core: &Maintenance, now: Instant) -> Result<(), Violation> {
        let system = core.system().system_type;
        // Admin states seen by HostChanged must match the records (catches a missed HostChanged).
        for rec in core.hosts() {
            let name = rec.name();
            if let Some(seen) = self.admin.get(name) {
                if *seen != rec.states.admin {
                    return Err(Violation::new(
                        Invariant::AdminStateOnlyByOperator,
                        now,
                        Some(name),
                        format!(
                            "admin state is {} but the last HostChanged showed {seen}",
                            rec.states.admin
                        ),
                    ));
                }
            }
        }
        // Every action has ended: the admin state is the one the operator last asked for.
        for rec in core.hosts() {
            let name = rec.name();
            if let Some(intent) = self.truth.admin_intent(name) {
                if intent != rec.states.admin {
                    return Err(Violation::new(
                        Invariant::AdminStateOnlyByOperator,
                        now,
                        Some(name),
                        format!(
                            "after settling the host is {} but the operator last asked for {intent}",
                            rec.states
                        ),
                    ));
                }
            }
        }
        for (id, (host, action, at)) in &self.accepted_by_request {
            if !self.journal_ended.contains(id) {
                let state = core
                    .host(host)
                    .map(|r| {
                        format!(
                            "states {}, action {}, task '{}'",
                            r.states, r.action, r.task
                        )
                    })
                    .unwrap_or_else(|| "host removed".into());
                return Err(Violation::new(
                    Invariant::ActionsJournaledAndEnded,
                    now,
                    Some(host),
                    format!(
                        "{action} accepted as {id} at t={}ms never ended in the journal ({state})",
                        at.as_millis()
                    ),
                ));
            }
        }
        for rec in core.hosts() {
            let name = rec.name();
            let ar = rec.ar_disabled.is_some();
            if rec.action != Action::None || !is_legal_steady_state(rec.states, system, ar) {
                return Err(Violation::new(
                    Invariant::LegalSteadyStateAfterQuiescence,
                    now,
                    Some(name),
                    format!(
                        "after settling: states {}, action {}, ar_disabled {:?}, task '{}' (mnfa active {}, in pool {})",
                        rec.states,
                        rec.action,
                        rec.ar_disabled,
                        rec.task,
                        core.mnfa_active(),
                        core.in_mnfa_pool(name)
                    ),
                ));
            }
        }
        for rec in core.hosts() {
            let name = rec.name();
            let s = rec.states;
            let active = |id: AlarmId| self.alarms.contains_key(&(id, name.to_string()));
            let available = s.admin == AdminState::Unlocked
                && s.oper == OperState::Enabled
                && s.avail == Availability::Available;
            if available && active(AlarmId::Enable) {
                return Err(Violation::new(
                    Invariant::AlarmRaisedOnceClearedOnce,
                    now,
                    Some(name),
                    format!("200.004 still active on {s} host"),
                ));
            }
            for hb in [AlarmId::MgmtHeartbeat, AlarmId::ClusterHeartbeat] {
                if available && active(hb) {
                    return Err(Violation::new(
                        Invariant::AlarmRaisedOnceClearedOnce,
                        now,
                        Some(name),
                        format!("heartbeat alarm {hb} still active on {s} host"),
                    ));
                }
            }
            // Locked is what the operator last asked for, not what the core shows.
            let locked = self.truth.admin_intent(name) == Some(AdminState::Locked);
            if locked != active(AlarmId::Locked) {
                return Err(Violation::new(
                    Invariant::AlarmRaisedOnceClearedOnce,
                    now,
                    Some(name),
                    format!(
                        "200.001 active={} but the operator last {} the host (core shows {s})",
                        active(AlarmId::Locked),
                        if locked { "locked" } else { "unlocked" }
                    ),
                ));
            }
        }
        for (id, host) in self.alarms.keys() {
            if self.removed.contains(host) {
                return Err(Violation::new(
                    Invariant::AlarmRaisedOnceClearedOnce,
                    now,
                    Some(host),
                    format!("alarm {id} still active for a deleted host"),
                ));
            }
        }
        // The effects and the core's own book must agree.
        let book: BTreeMap<(AlarmId, String), Severity> = core
            .alarms()
            .iter()
            .map(|(id, h, s)| ((id, h.to_string()), s))
            .collect();
        if book != self.alarms {
            let only_core: Vec<_> = book
                .keys()
                .filter(|k| !self.alarms.contains_key(*k))
                .collect();
            let only_fx: Vec<_> = self
                .alarms
                .keys()
                .filter(|k| !book.contains_key(*k))
                .collect();
            return Err(Violation::new(
                Invariant::AlarmRaisedOnceClearedOnce,
                now,
                None,
                format!("core alarm book and emitted effects disagree: only in core {only_core:?}, only in effects {only_fx:?}"),
            ));
        }
        Ok(())
    }
}
