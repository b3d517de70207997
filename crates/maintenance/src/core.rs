//! The engine: host table, timers, the per-host pass, and the effect queue.
//!
//! Every host is visited in a *pass* whenever something happened to it (an event) or one of its
//! deadlines came due. A pass runs the always-on handlers (degrade, online/offline audits), then the
//! dispatch (docs/lifecycle.md#dispatch-table) picks the handler that owns the host. Handlers are
//! non-blocking stage machines: they look at what arrived (acks, BMC results, alive reports) and at
//! their timer, and move on.

use crate::action::{ActionId, ActionOutcome, JournalEntry, OperatorAction};
use crate::admission::{self, AdmissionInput, Refusal};
use crate::alarm::{AlarmBook, AlarmChange, AlarmId, CustomerLog, LogId, Severity};
use crate::config::Config;
use crate::handlers::HostRt;
use crate::host::{BmcSpec, HostRecord, InstallSpec};
use crate::io::*;
use crate::state::*;
use crate::time::Instant;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// How many rounds one call of `run_dirty` runs the hosts marked dirty. A host is run again within
/// the call when a pass marks it dirty or enters a stage whose deadline is already due; this bounds
/// both, so no handler can keep one call (or the driver) busy for ever.
const DIRTY_ROUNDS: usize = 16;

/// How long a host cut off by [`DIRTY_ROUNDS`] waits before it is run again.
const RERUN_DELAY: Duration = Duration::from_secs(1);

/// Facts about the cluster the core runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemConfig {
    pub system_type: SystemType,
    /// Hostname of the controller this core runs on (the active controller). It is never disabled,
    /// reset or powered off by its own core.
    pub own_host: String,
    /// How long the controller itself has been up when the core starts: a short uptime means a
    /// whole-site power loss (dead office recovery).
    pub controller_uptime: Duration,
}

/// Why an operator request did not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("host '{0}' not found; `steward host list` shows the known hosts")]
    UnknownHost(String),
    #[error(transparent)]
    Refused(#[from] Refusal),
}

/// Multi-node failure avoidance bookkeeping (docs/recovery.md#mnfa).
#[derive(Clone, Debug, Default)]
pub(crate) struct Mnfa {
    pub active: bool,
    /// Hosts counted per network (minor/degrade/loss seen and not cleared).
    pub counted: [BTreeSet<String>; 2],
    /// Hosts held out of recovery while active.
    pub pool: BTreeSet<String>,
    pub timeout_at: Option<Instant>,
}

/// Dead office recovery bookkeeping (docs/recovery.md#dead-office-recovery).
#[derive(Clone, Debug)]
pub(crate) struct Dor {
    pub until: Instant,
    pub checked_in: BTreeSet<String>,
}

/// The maintenance core. See the crate documentation for how a driver runs it.
pub struct Maintenance {
    pub(crate) cfg: Config,
    pub(crate) system: SystemConfig,
    pub(crate) now: Instant,
    pub(crate) hosts: BTreeMap<String, HostRt>,
    wakeups: BTreeSet<(Instant, String)>,
    effects: VecDeque<Effect>,
    pub(crate) alarms: AlarmBook,
    pub(crate) mnfa: Mnfa,
    pub(crate) dor: Option<Dor>,
    pub(crate) swact_in_progress: bool,
    next_action: u64,
    next_command: u64,
    next_bmc: u64,
    /// Hosts touched by the current call, visited once more before returning.
    dirty: BTreeSet<String>,
}

impl Maintenance {
    /// A core with no hosts yet. `now` is the driver's monotonic time.
    pub fn new(cfg: Config, system: SystemConfig, now: Instant) -> Self {
        let dor = (system.controller_uptime < cfg.timeouts.dor_mode_detect.0).then(|| Dor {
            until: now + cfg.timeouts.dor_mode_timeout.0,
            checked_in: BTreeSet::new(),
        });
        Maintenance {
            cfg,
            system,
            now,
            hosts: BTreeMap::new(),
            wakeups: BTreeSet::new(),
            effects: VecDeque::new(),
            alarms: AlarmBook::default(),
            mnfa: Mnfa::default(),
            dor,
            swact_in_progress: false,
            next_action: 1,
            next_command: 1,
            next_bmc: 1,
            dirty: BTreeSet::new(),
        }
    }

    /// Load the hosts and alarms a previous run left in the store. Each host runs the add handler,
    /// which reconciles its alarms and resumes the action it was doing.
    pub fn restore(
        &mut self,
        now: Instant,
        records: Vec<HostRecord>,
        alarms: Vec<(AlarmId, String, Severity)>,
        next_action_id: u64,
    ) {
        self.now = now;
        self.next_action = self.next_action.max(next_action_id);
        for (id, host, sev) in alarms {
            self.alarms.preload(id, &host, sev);
        }
        if let Some(dor) = self.dor.as_mut() {
            // The timeout grows with the number of hosts to recover
            // (docs/recovery.md#dead-office-recovery).
            let enabled = records
                .iter()
                .filter(|r| r.states.oper == OperState::Enabled)
                .count();
            dor.until = dor.until + Duration::from_secs(enabled as u64);
        }
        for rec in records {
            let name = rec.spec.name.clone();
            let mut h = HostRt::new(rec, now, &self.cfg);
            h.resumed = true;
            self.begin_add(&mut h);
            self.hosts.insert(name.clone(), h);
            self.dirty.insert(name);
        }
        self.run_dirty();
    }

    /// Add a host (operator add or bulk add). It starts with the add handler.
    pub fn add_host(&mut self, now: Instant, rec: HostRecord) -> Result<(), Refusal> {
        self.now = now;
        let existing: Vec<_> = self.hosts.values().map(|h| &h.rec.spec).collect();
        admission::admit_add(&rec.spec, &existing, self.system.system_type)?;
        let name = rec.spec.name.clone();
        let mut h = HostRt::new(rec, now, &self.cfg);
        self.log(&name, LogId::Event, format!("{name} host add"));
        self.begin_add(&mut h);
        self.hosts.insert(name.clone(), h);
        self.effects
            .push_back(Effect::HostChanged { host: name.clone() });
        self.dirty.insert(name);
        self.run_dirty();
        Ok(())
    }

    /// Change or remove a host's BMC provisioning.
    pub fn set_bmc(
        &mut self,
        now: Instant,
        host: &str,
        bmc: Option<BmcSpec>,
    ) -> Result<(), RequestError> {
        self.now = now;
        let h = self
            .hosts
            .get_mut(host)
            .ok_or_else(|| RequestError::UnknownHost(host.into()))?;
        let was = h.rec.spec.bmc.is_some();
        h.rec.spec.bmc = bmc;
        h.rec.bmc_accessible = false;
        h.bmc_alarm_at = Some(now + self.cfg.timeouts.bmc_access_alarm_delay.0);
        let what = match (was, h.rec.spec.bmc.is_some()) {
            (false, true) => "provisioned",
            (true, false) => "deprovisioned",
            _ => "reprovisioned",
        };
        if h.rec.spec.bmc.is_none() {
            let c = self.alarms.clear(AlarmId::BmcAccess, host);
            self.push_alarm(c);
        }
        self.log(
            host,
            LogId::Command,
            format!("{host} board management controller {what}"),
        );
        self.changed(host);
        self.dirty.insert(host.to_string());
        self.run_dirty();
        Ok(())
    }

    /// Change a host's install settings (image URL, method; docs/handlers.md#reinstall). The
    /// caller checked the values; a reinstall in progress keeps the method it started with.
    pub fn set_install(
        &mut self,
        now: Instant,
        host: &str,
        install: InstallSpec,
    ) -> Result<(), RequestError> {
        self.now = now;
        let h = self
            .hosts
            .get_mut(host)
            .ok_or_else(|| RequestError::UnknownHost(host.into()))?;
        if h.rec.spec.install != install {
            h.rec.spec.install = install;
            self.changed(host);
        }
        Ok(())
    }

    /// An operator asks for an action. Accepted actions are journaled and their id returned.
    pub fn request(
        &mut self,
        now: Instant,
        host: &str,
        action: OperatorAction,
    ) -> Result<ActionId, RequestError> {
        self.now = now;
        let h = self
            .hosts
            .get(host)
            .ok_or_else(|| RequestError::UnknownHost(host.into()))?;
        let input = AdmissionInput {
            action,
            states: h.rec.states,
            personality: h.rec.spec.personality,
            system: self.system.system_type,
            is_active_controller: host == self.system.own_host,
            standby_enabled: self.standby_enabled(host),
            in_progress: h.rec.action,
            bmc_provisioned: h.rec.bmc_provisioned(),
            swact_in_progress: self.swact_in_progress,
        };
        admission::admit(&input)?;
        if action == OperatorAction::Reinstall {
            crate::handlers::install_plan(&h.rec.spec, &self.cfg.install)
                .map_err(|why| Refusal(format!("cannot reinstall {host}: {why}")))?;
        }
        let id = ActionId(self.next_action);
        self.next_action += 1;
        self.effects
            .push_back(Effect::Journal(JournalEntry::Accepted {
                id,
                host: host.to_string(),
                action: action.action(),
            }));
        let mut h = self.take(host);
        self.operator_action(&mut h, action, id);
        self.put(h);
        self.run_dirty();
        Ok(id)
    }

    /// Feed one event.
    pub fn handle_event(&mut self, now: Instant, event: Event) {
        self.now = now;
        if let Event::SwactResult { completed } = event {
            self.swact_result(completed);
            self.run_dirty();
            return;
        }
        let Some(name) = event.host().map(str::to_string) else {
            return;
        };
        if !self.hosts.contains_key(&name) {
            // Unknown hosts are the driver's business to count; the core ignores them.
            return;
        }
        let mut h = self.take(&name);
        self.apply_event(&mut h, event);
        self.put(h);
        self.run_dirty();
    }

    /// Run every host whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        while let Some((at, name)) = self.wakeups.first().cloned() {
            if at > now {
                break;
            }
            self.wakeups.remove(&(at, name.clone()));
            if let Some(h) = self.hosts.get_mut(&name) {
                h.scheduled = None;
                self.dirty.insert(name);
            }
        }
        self.global_timers();
        self.run_dirty();
    }

    /// The next time `handle_timeout` must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let host = self.wakeups.first().map(|(t, _)| *t);
        let globals = [self.mnfa.timeout_at, self.dor.as_ref().map(|d| d.until)];
        globals.into_iter().flatten().chain(host).min()
    }

    /// The next effect to carry out, in order.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    pub fn host(&self, name: &str) -> Option<&HostRecord> {
        self.hosts.get(name).map(|h| &h.rec)
    }

    pub fn hosts(&self) -> impl Iterator<Item = &HostRecord> {
        self.hosts.values().map(|h| &h.rec)
    }

    pub fn alarms(&self) -> &AlarmBook {
        &self.alarms
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn system(&self) -> &SystemConfig {
        &self.system
    }

    pub fn mnfa_active(&self) -> bool {
        self.mnfa.active
    }

    pub fn in_mnfa_pool(&self, host: &str) -> bool {
        self.mnfa.active && self.mnfa.pool.contains(host)
    }

    pub fn dor_active(&self) -> bool {
        self.dor.is_some()
    }

    /// The id the next accepted action will get (persisted so ids stay unique across restarts).
    pub fn next_action_id(&self) -> u64 {
        self.next_action
    }

    // ----- internals shared by the handlers -----

    fn take(&mut self, name: &str) -> HostRt {
        let h = self
            .hosts
            .remove(name)
            .expect("caller checked the host exists");
        if let Some(at) = h.scheduled {
            self.wakeups.remove(&(at, name.to_string()));
        }
        h
    }

    fn put(&mut self, mut h: HostRt) {
        let name = h.rec.spec.name.clone();
        if h.removed {
            self.effects.push_back(Effect::HostRemoved { host: name });
            return;
        }
        if let Some(at) = h.next_deadline() {
            let at = at.max(self.now);
            h.scheduled = Some(at);
            self.wakeups.insert((at, name.clone()));
        } else {
            h.scheduled = None;
        }
        self.hosts.insert(name, h);
    }

    /// Visit every host marked dirty until nothing more changes. Bounded: a host that keeps marking
    /// itself dirty is visited at most [`DIRTY_ROUNDS`] times per call.
    fn run_dirty(&mut self) {
        for round in 0..DIRTY_ROUNDS {
            let batch = std::mem::take(&mut self.dirty);
            if batch.is_empty() {
                return;
            }
            for name in batch {
                if !self.hosts.contains_key(&name) {
                    continue;
                }
                let mut h = self.take(&name);
                if h.rerun_at.is_some_and(|t| t <= self.now) {
                    // Cut off by the last call: what it left spent counts again.
                    h.rerun_at = None;
                    h.resume_deadline();
                }
                let generation = h.stage_generation();
                self.pass(&mut h);
                if h.handler_deadline().is_some_and(|t| t <= self.now) {
                    // The generation, not the deadline value, tells a new wait from a stale one: a
                    // wait configured to zero, entered at the instant the last one fired, has the
                    // same deadline and is still new.
                    let entered = h.stage_generation() != generation;
                    if entered && round + 1 < DIRTY_ROUNDS {
                        // Entered with a deadline of "now" (a wait configured to zero): run the
                        // host again.
                        self.dirty.insert(name.clone());
                    } else {
                        // Seen by this pass and left as it was, or still re-armed for "now" after
                        // the last round: a due deadline would make the driver spin, so it stops
                        // counting until the handler enters a new stage (or, when cut off, until
                        // the host is run again a little later).
                        h.spend_deadline();
                        if entered {
                            h.rerun_at = Some(self.now + RERUN_DELAY);
                        }
                    }
                }
                self.put(h);
            }
        }
        // Rounds ran out with hosts still marked dirty: they stay marked (the next call runs
        // them), and a wake-up a little later makes sure there is a next call.
        let left: Vec<String> = self.dirty.iter().cloned().collect();
        for name in left {
            if self.hosts.contains_key(&name) {
                let mut h = self.take(&name);
                h.rerun_at = Some(self.now + RERUN_DELAY);
                self.put(h);
            }
        }
    }

    pub(crate) fn mark_dirty(&mut self, host: &str) {
        self.dirty.insert(host.to_string());
    }

    pub(crate) fn push_alarm(&mut self, change: Option<AlarmChange>) {
        if let Some(c) = change {
            self.effects.push_back(Effect::Alarm(c));
        }
    }

    pub(crate) fn raise(&mut self, host: &str, id: AlarmId, sev: Severity) {
        let c = self.alarms.raise(id, host, sev);
        self.push_alarm(c);
    }

    pub(crate) fn raise_with_reason(
        &mut self,
        host: &str,
        id: AlarmId,
        sev: Severity,
        reason: String,
    ) {
        let c = self.alarms.raise_with_reason(id, host, sev, reason);
        self.push_alarm(c);
    }

    pub(crate) fn clear(&mut self, host: &str, id: AlarmId) {
        let c = self.alarms.clear(id, host);
        self.push_alarm(c);
    }

    pub(crate) fn log(&mut self, host: &str, id: LogId, text: String) {
        let critical = text.contains("reinstall failed");
        self.effects.push_back(Effect::Log(CustomerLog {
            id,
            host: host.to_string(),
            text,
            critical,
        }));
    }

    pub(crate) fn changed(&mut self, host: &str) {
        // Coalesce: one persist per host per burst is enough, the driver reads the latest record.
        let dup = matches!(self.effects.back(), Some(Effect::HostChanged { host: h }) if h == host);
        if !dup {
            self.effects.push_back(Effect::HostChanged {
                host: host.to_string(),
            });
        }
    }

    pub(crate) fn emit(&mut self, e: Effect) {
        self.effects.push_back(e);
    }

    pub(crate) fn new_command_id(&mut self) -> CommandId {
        let id = CommandId(self.next_command);
        self.next_command += 1;
        id
    }

    pub(crate) fn new_bmc_id(&mut self) -> BmcRequestId {
        let id = BmcRequestId(self.next_bmc);
        self.next_bmc += 1;
        id
    }

    pub(crate) fn journal_end(&mut self, host: &str, id: ActionId, outcome: ActionOutcome) {
        #[cfg(mutation = "drop-journal")]
        if matches!(outcome, ActionOutcome::Completed) && id.0 % 7 == 3 {
            return; // deliberate bug: a lost journal write
        }
        self.effects.push_back(Effect::Journal(JournalEntry::Ended {
            id,
            host: host.to_string(),
            outcome,
        }));
    }

    /// Another controller than `host` is unlocked-enabled (in service).
    pub(crate) fn standby_enabled(&self, host: &str) -> bool {
        self.hosts.values().any(|o| {
            o.rec.spec.name != host
                && o.rec.spec.personality == Personality::Controller
                && o.rec.states.in_service()
        })
    }

    pub(crate) fn is_self(&self, h: &HostRt) -> bool {
        h.rec.spec.name == self.system.own_host
    }

    fn global_timers(&mut self) {
        let now = self.now;
        if let Some(at) = self.mnfa.timeout_at {
            if now >= at {
                self.mnfa_exit(true, None);
            }
        }
        if let Some(d) = &self.dor {
            if now >= d.until {
                self.dor_end("timeout");
            }
        }
    }

    pub(crate) fn dor_end(&mut self, why: &str) {
        if self.dor.take().is_some() {
            let own = self.system.own_host.clone();
            self.log(
                &own,
                LogId::Event,
                format!("dead office recovery ended ({why})"),
            );
        }
    }
}
