//! The named invariants and the checker that watches every effect the core emits.
//!
//! Step invariants are checked as effects are drained (right after each core call); quiescence
//! invariants after faults are healed and the cluster settled. A failure is a typed [`Violation`] naming
//! the invariant, the simulated time, the host and what was seen.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use steward_maintenance::action::{Action, ActionId, JournalEntry, OperatorAction};
use steward_maintenance::alarm::{AlarmChange, AlarmId, Severity};
use steward_maintenance::dispatch::is_legal_steady_state;
use steward_maintenance::state::{AdminState, Availability, OperState};
use steward_maintenance::{BmcOp, Cause, Effect, Instant, Maintenance, NodeCommand, RequestError};

/// The invariants of SPEC §6, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Invariant {
    /// No automatic reboot/reset/power-off/wipe of a locked host, or of a pooled host while MNFA is active.
    NoAutoDestructionOfLockedOrPooled,
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
}

impl Invariant {
    pub const ALL: [Invariant; 13] = [
        Invariant::NoAutoDestructionOfLockedOrPooled,
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
            Invariant::LockFlagsFollowConfirmedState => "lock_flags_follow_confirmed_state",
            Invariant::LockedHostBootsLocked => "locked_host_boots_locked",
            Invariant::CommandRunsOncePerSession => "command_runs_once_per_session",
            Invariant::NoAcknowledgedChangeLost => "no_acknowledged_change_lost",
            Invariant::ActionsEndAcrossRestarts => "actions_end_across_restarts",
            Invariant::DurableStateMatchesCore => "durable_state_matches_core",
        }
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
#[derive(Debug, Default)]
pub struct Checker {
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
                Some(*op),
            ),
            Effect::Alarm(change) => self.alarm(now, change),
            Effect::Journal(entry) => {
                self.journal.push(entry.clone());
                self.journal_entry(now, entry)
            }
            Effect::HostChanged { host } => self.host_changed(core, now, host),
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
        _op: Option<BmcOp>,
    ) -> Result<(), Violation> {
        self.destructive.push(Destructive {
            at: now,
            host: host.to_string(),
            what: what.clone(),
            cause,
        });
        if host == core.system().own_host {
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
        if cause == Cause::AutoRecovery {
            let locked = core
                .host(host)
                .map(|r| r.states.admin == AdminState::Locked)
                .unwrap_or(false);
            if locked {
                let rec = core.host(host).expect("checked");
                return Err(Violation::new(
                    Invariant::NoAutoDestructionOfLockedOrPooled,
                    now,
                    Some(host),
                    format!(
                        "automatic {what} against a locked host (states {}, action {}, task '{}')",
                        rec.states, rec.action, rec.task
                    ),
                ));
            }
            if core.mnfa_active() && core.in_mnfa_pool(host) {
                return Err(Violation::new(
                    Invariant::NoAutoDestructionOfLockedOrPooled,
                    now,
                    Some(host),
                    format!(
                        "automatic {what} against a host in the MNFA pool while MNFA is active \
                         (states {}, action {}, task '{}')",
                        core.host(host)
                            .map(|r| r.states.to_string())
                            .unwrap_or_default(),
                        core.host(host)
                            .map(|r| r.action.to_string())
                            .unwrap_or_default(),
                        core.host(host).map(|r| r.task.clone()).unwrap_or_default(),
                    ),
                ));
            }
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
        admin: impl IntoIterator<Item = (String, AdminState)>,
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
        self.admin = admin.into_iter().collect();
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
            let locked = s.admin == AdminState::Locked;
            if locked != active(AlarmId::Locked) {
                return Err(Violation::new(
                    Invariant::AlarmRaisedOnceClearedOnce,
                    now,
                    Some(name),
                    format!("200.001 active={} but host is {s}", active(AlarmId::Locked)),
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
