//! The per-host sensor monitor: readings and `now` in, effects and the next read time out.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use steward_maintenance::{HwmonEvent, Instant};

use crate::effect::{
    AlarmSeverity, Effect, EffectQueue, LogSeverity, SensorAlarm, SensorAlarmChange, SensorAlarmId,
    SensorLog,
};
use crate::error::ConfigError;
use crate::history::{History, Sample, DEFAULT_HISTORY_LEN};
use crate::model::{
    check_actions, Action, ActionOverrides, DataType, GroupKind, GroupRecord, GroupState,
    SensorModel, SensorRecord, SensorState,
};
use crate::reading::{Reading, ReadingKind};
use crate::severity::{Severity, Thresholds};

/// The shortest audit interval an operator may set.
pub const MIN_AUDIT_INTERVAL: Duration = Duration::from_secs(10);
/// The longest audit interval an operator may set (a day).
pub const MAX_AUDIT_INTERVAL: Duration = Duration::from_secs(86_400);
/// StarlingX's default audit interval.
pub const DEFAULT_AUDIT_INTERVAL: Duration = Duration::from_secs(120);
/// Sensors per host; readings beyond this many names are dropped and counted.
pub const MAX_SENSORS: usize = 256;
/// Longest sensor name accepted; longer names are dropped and counted.
pub const MAX_NAME_LEN: usize = 128;

/// Settings of one monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    /// The audit interval a new model starts with (`audit_interval_group`).
    pub audit_interval: Duration,
    /// Samples kept per sensor.
    pub history_len: usize,
    /// Whether reset and power-cycle may be chosen (not on a simplex system).
    pub destructive_actions_allowed: bool,
    /// Consecutive reads a learned sensor may be missing before it counts as minor.
    pub missing_reads_before_minor: u32,
    /// Retry delay while no model could be learned yet (capped by the audit interval).
    pub learn_retry: Duration,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            audit_interval: DEFAULT_AUDIT_INTERVAL,
            history_len: DEFAULT_HISTORY_LEN,
            destructive_actions_allowed: true,
            missing_reads_before_minor: 3,
            learn_retry: Duration::from_secs(30),
        }
    }
}

/// Which part of a read failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFailure {
    /// The whole read failed (BMC unreachable, session refused, nothing parsed). Ends the audit.
    All,
    /// One group's part failed (e.g. Redfish `Thermal` answered 500 while `Power` worked). Report it
    /// before handing the rest of the read to [`SensorMonitor::handle_reading`]; its sensors are then
    /// not counted as missing.
    Group(GroupKind),
}

/// An operator's change (API `PATCH`, relearn `POST`).
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigChange {
    /// Actions of a group; `None` leaves that severity's action unchanged.
    GroupActions {
        group: GroupKind,
        minor: Option<Action>,
        major: Option<Action>,
        critical: Option<Action>,
    },
    GroupSuppress {
        group: GroupKind,
        suppress: bool,
    },
    /// Default operator thresholds for the group's sensors without their own.
    GroupThresholds {
        group: GroupKind,
        thresholds: Thresholds,
    },
    SensorSuppress {
        sensor: String,
        suppress: bool,
    },
    /// Per-sensor overrides of the group's actions.
    SensorActions {
        sensor: String,
        overrides: ActionOverrides,
    },
    SensorThresholds {
        sensor: String,
        thresholds: Thresholds,
    },
    /// `audit_interval_group`, set on any group: one value for the whole host.
    AuditInterval(Duration),
    /// Forget the learned sensor set and learn it again from the next read (configuration of sensors
    /// and groups still present is kept).
    Relearn,
}

/// Counters of input the monitor refused or repaired.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonitorStats {
    pub reads: u64,
    pub read_failures: u64,
    /// Readings without a usable name, beyond [`MAX_SENSORS`], or with an over-long name.
    pub readings_dropped: u64,
    /// Readings of a name already seen in the same read (merged, worst severity kept).
    pub duplicates_merged: u64,
    /// Values that were NaN or infinite (treated as no value).
    pub non_finite_values: u64,
    /// Customer logs dropped because the queue was full.
    pub logs_dropped: u64,
    pub relearns: u64,
}

/// Per-sensor runtime state next to the persisted record.
#[derive(Clone, Debug)]
struct SensorRt {
    rec: SensorRecord,
    /// `host=H.sensor=NAME`, built once.
    entity: String,
    /// Whether the sensor has a status from its own readings (or a restored one). Until then ok and
    /// offline samples are accepted as read.
    seen: bool,
    /// A severity read once that differs from the accepted one, waiting for confirmation.
    pending: Option<Severity>,
    /// Unconfirmed changes in a row; two or more is flapping.
    changes: u32,
    /// Transients since the last quiet read (a read equal to the status with nothing pending); two or
    /// more is flapping.
    transients: u32,
    flapping_logged: bool,
    /// Consecutive reads the sensor was absent from.
    missing: u32,
    last_value: Option<f64>,
    /// The severity a log action was taken for in this episode.
    logged: Option<Severity>,
    /// Whether this sensor asks for the host's degrade.
    degraded: bool,
    /// A reset or power-cycle was requested in the current critical episode.
    requested: bool,
    history: History,
}

impl SensorRt {
    fn new(host: &str, rec: SensorRecord, seen: bool, history_len: usize) -> SensorRt {
        SensorRt {
            entity: sensor_entity(host, &rec.name),
            rec,
            seen,
            pending: None,
            changes: 0,
            transients: 0,
            flapping_logged: false,
            missing: 0,
            last_value: None,
            logged: None,
            degraded: false,
            requested: false,
            history: History::new(history_len),
        }
    }
}

/// One cleaned-up sample per name of a read.
struct CleanReading<'a> {
    reading: &'a Reading,
    value: Option<f64>,
}

/// The sensor monitor of one host. See the crate docs for the rules it keeps.
#[derive(Debug)]
pub struct SensorMonitor {
    host: String,
    cfg: MonitorConfig,
    interval: Duration,
    sensors: BTreeMap<String, SensorRt>,
    groups: BTreeMap<GroupKind, GroupRecord>,
    /// The alarms this monitor believes active.
    alarms: AlarmBook,
    /// The degrade level last told to the core.
    degraded: bool,
    monitoring: bool,
    next_read: Instant,
    last_read: Option<Instant>,
    relearn_requested: bool,
    /// A new sensor set seen once; a second read with the same set relearns.
    pending_set: Option<BTreeSet<String>>,
    failed_this_audit: BTreeSet<GroupKind>,
    effects: EffectQueue,
    stats: MonitorStats,
}

impl SensorMonitor {
    /// A monitor for a host without a model: the first read is due at `now` and learns the model.
    pub fn new(host: &str, cfg: MonitorConfig, now: Instant) -> SensorMonitor {
        let interval = cfg
            .audit_interval
            .clamp(MIN_AUDIT_INTERVAL, MAX_AUDIT_INTERVAL);
        SensorMonitor {
            host: host.to_string(),
            cfg,
            interval,
            sensors: BTreeMap::new(),
            groups: BTreeMap::new(),
            alarms: AlarmBook::default(),
            degraded: false,
            monitoring: true,
            next_read: now,
            last_read: None,
            relearn_requested: false,
            pending_set: None,
            failed_this_audit: BTreeSet::new(),
            effects: EffectQueue::default(),
            stats: MonitorStats::default(),
        }
    }

    /// A monitor restored from its persisted model and the alarms the store holds for this host.
    ///
    /// Sensors keep their persisted status, so a restart neither re-raises nor clears anything that is
    /// still true. The alarms are reconciled at once: an alarm the model no longer justifies (or whose
    /// sensor or group is gone) is cleared, a missing one is raised, and the degrade level is stated.
    pub fn restore(
        host: &str,
        cfg: MonitorConfig,
        model: SensorModel,
        active_alarms: &[(SensorAlarmId, String, AlarmSeverity)],
        now: Instant,
    ) -> SensorMonitor {
        let mut m = SensorMonitor::new(host, cfg, now);
        m.interval = Duration::from_secs(model.audit_interval_secs)
            .clamp(MIN_AUDIT_INTERVAL, MAX_AUDIT_INTERVAL);
        for g in model.groups {
            m.groups.insert(g.kind, g);
        }
        for rec in model.sensors.into_iter().take(MAX_SENSORS) {
            m.groups
                .entry(rec.group)
                .or_insert_with(|| GroupRecord::new(rec.group));
            // A restored offline status says nothing about the hardware: the next ok is taken as read.
            let seen = rec.status != Severity::Offline;
            let rt = SensorRt::new(host, rec, seen, m.cfg.history_len);
            m.sensors.insert(rt.rec.name.clone(), rt);
        }
        for (id, entity, sev) in active_alarms {
            m.alarms.insert(*id, entity, *sev);
        }
        // Restored sensors were logged before the restart if their action is log: do not log again.
        let names: Vec<String> = m.sensors.keys().cloned().collect();
        for name in &names {
            if let Some(rt) = m.sensors.get_mut(name) {
                let group = m.groups.get(&rt.rec.group).cloned();
                if let Some(g) = group {
                    let action = rt
                        .rec
                        .action_overrides
                        .apply(&g.actions)
                        .for_severity(rt.rec.status);
                    if action == Some(Action::Log) {
                        rt.logged = Some(rt.rec.status);
                    }
                    // A destructive request was made before the restart if it is still critical
                    // (and was not suppressed: a suppressed sensor asks when unsuppressed).
                    if rt.rec.status == Severity::Critical
                        && action.is_some_and(|a| a.is_destructive())
                        && !(rt.rec.suppress || g.suppress)
                    {
                        rt.requested = true;
                    }
                }
            }
        }
        // Orphans: alarms for entities this model does not have.
        let wanted: BTreeSet<(SensorAlarmId, String)> = m
            .sensors
            .keys()
            .map(|n| (SensorAlarmId::OutOfTolerance, m.sensor_entity(n)))
            .chain(
                m.groups
                    .keys()
                    .map(|g| (SensorAlarmId::GroupReadFailure, m.group_entity(*g))),
            )
            .chain(std::iter::once((
                SensorAlarmId::Configuration,
                m.profile_entity(),
            )))
            .collect();
        let orphans: Vec<(SensorAlarmId, String)> =
            m.alarms.keys().filter(|k| !wanted.contains(k)).collect();
        for (id, entity) in orphans {
            m.clear_alarm(id, &entity);
        }
        if !m.sensors.is_empty() {
            m.clear_alarm(SensorAlarmId::Configuration, &m.profile_entity());
        }
        let groups: Vec<GroupKind> = m.groups.keys().copied().collect();
        for g in groups {
            m.sync_group_alarm(g);
        }
        m.evaluate_all();
        // State the level once, whatever the core believed before the restart.
        m.effects.degrade(m.degraded);
        m
    }

    // ---- inputs -------------------------------------------------------------------------------------

    /// A completed read of the BMC's sensors.
    pub fn handle_reading(&mut self, now: Instant, readings: &[Reading]) {
        if !self.monitoring {
            return;
        }
        let clean = self.clean(readings);
        if clean.is_empty() {
            // A read that yields nothing usable is a failed read (an empty answer is not "all ok").
            self.handle_read_failure(now, ReadFailure::All);
            return;
        }
        self.stats.reads += 1;
        self.last_read = Some(now);
        self.next_read = now + self.interval;

        if self.sensors.is_empty() {
            self.learn(&clean, "learned");
        } else if self.relearn_requested {
            self.learn(&clean, "relearned on request");
        } else if clean.keys().any(|n| !self.sensors.contains_key(n)) {
            // New names: relearn when the next read shows the same set, so one odd answer from a BMC
            // (or a host read while powering on) does not rebuild the model.
            let names: BTreeSet<String> = clean.keys().cloned().collect();
            if self.pending_set.as_ref() == Some(&names) {
                self.learn(&clean, "relearned: the BMC's sensor set changed");
            } else {
                self.pending_set = Some(names);
            }
        } else {
            self.pending_set = None;
        }

        if self.config_alarm_active() {
            self.clear_alarm(SensorAlarmId::Configuration, &self.profile_entity());
        }
        let failed = std::mem::take(&mut self.failed_this_audit);
        let kinds: Vec<GroupKind> = self.groups.keys().copied().collect();
        for g in kinds {
            if let Some(rec) = self.groups.get_mut(&g) {
                let state = if failed.contains(&g) {
                    GroupState::Failed
                } else {
                    GroupState::Enabled
                };
                if rec.state != state {
                    rec.state = state;
                    self.effects.persist();
                }
            }
            self.sync_group_alarm(g);
        }

        let learned: Vec<String> = self.sensors.keys().cloned().collect();
        for name in learned {
            let Some(group) = self.sensors.get(&name).map(|rt| rt.rec.group) else {
                continue;
            };
            match clean.get(&name) {
                Some(c) => self.apply_sample(now, &name, Some(c)),
                None if failed.contains(&group) => {}
                None => self.apply_sample(now, &name, None),
            }
        }
        self.evaluate_all();
    }

    /// A read that failed, wholly or for one group.
    pub fn handle_read_failure(&mut self, now: Instant, failure: ReadFailure) {
        if !self.monitoring {
            return;
        }
        match failure {
            ReadFailure::All => {
                self.stats.read_failures += 1;
                self.failed_this_audit.clear();
                self.last_read = Some(now);
                if self.sensors.is_empty() {
                    self.raise_alarm(
                        SensorAlarmId::Configuration,
                        self.profile_entity(),
                        AlarmSeverity::Minor,
                        format!(
                            "{}: the sensor model could not be learned: the BMC's sensors could not be read",
                            self.host
                        ),
                    );
                    self.next_read = now + self.cfg.learn_retry.min(self.interval);
                } else {
                    let kinds: Vec<GroupKind> = self.groups.keys().copied().collect();
                    for g in kinds {
                        self.fail_group(g);
                    }
                    self.next_read = now + self.interval;
                }
            }
            ReadFailure::Group(g) => {
                if self.groups.contains_key(&g) {
                    self.failed_this_audit.insert(g);
                    self.fail_group(g);
                }
            }
        }
    }

    /// An operator's change. Action and suppression changes take effect at once (alarms raised or
    /// cleared now); threshold changes with the next read.
    pub fn handle_config(&mut self, now: Instant, change: ConfigChange) -> Result<(), ConfigError> {
        match change {
            ConfigChange::GroupActions {
                group,
                minor,
                major,
                critical,
            } => {
                check_actions(minor, major, critical, self.cfg.destructive_actions_allowed)?;
                let g = self.group_mut(group)?;
                let before = g.actions;
                if let Some(a) = minor {
                    g.actions.minor = a;
                }
                if let Some(a) = major {
                    g.actions.major = a;
                }
                if let Some(a) = critical {
                    g.actions.critical = a;
                }
                let after = g.actions;
                for (sev, b, a) in [
                    ("minor", before.minor, after.minor),
                    ("major", before.major, after.major),
                    ("critical", before.critical, after.critical),
                ] {
                    if a != b {
                        self.group_log(
                            group,
                            format!("{sev} severity level action set to '{a}' (was '{b}')"),
                        );
                    }
                }
            }
            ConfigChange::GroupSuppress { group, suppress } => {
                let g = self.group_mut(group)?;
                if g.suppress != suppress {
                    g.suppress = suppress;
                    let word = if suppress {
                        "suppressed"
                    } else {
                        "unsuppressed"
                    };
                    self.group_log(group, format!("sensor group {word}"));
                }
            }
            ConfigChange::GroupThresholds { group, thresholds } => {
                thresholds.validate()?;
                self.group_mut(group)?.thresholds = thresholds;
            }
            ConfigChange::SensorSuppress { sensor, suppress } => {
                let rt = self.sensor_mut(&sensor)?;
                if rt.rec.suppress != suppress {
                    rt.rec.suppress = suppress;
                    let word = if suppress {
                        "suppressed"
                    } else {
                        "unsuppressed"
                    };
                    self.sensor_log(&sensor, LogSeverity::Clear, format!("sensor {word}"));
                }
            }
            ConfigChange::SensorActions { sensor, overrides } => {
                check_actions(
                    overrides.minor,
                    overrides.major,
                    overrides.critical,
                    self.cfg.destructive_actions_allowed,
                )?;
                self.sensor_mut(&sensor)?.rec.action_overrides = overrides;
            }
            ConfigChange::SensorThresholds { sensor, thresholds } => {
                thresholds.validate()?;
                self.sensor_mut(&sensor)?.rec.thresholds = thresholds;
            }
            ConfigChange::AuditInterval(d) => {
                if d < MIN_AUDIT_INTERVAL {
                    return Err(ConfigError::IntervalTooShort(
                        d.as_secs(),
                        MIN_AUDIT_INTERVAL.as_secs(),
                    ));
                }
                if d > MAX_AUDIT_INTERVAL {
                    return Err(ConfigError::IntervalTooLong(
                        d.as_secs(),
                        MAX_AUDIT_INTERVAL.as_secs(),
                    ));
                }
                if d != self.interval {
                    let text = format!(
                        "audit interval changed from {} s to {} s",
                        self.interval.as_secs(),
                        d.as_secs()
                    );
                    self.interval = d;
                    // The next read moves with the interval, but never into the past.
                    if let Some(last) = self.last_read {
                        self.next_read = (last + d).max(now);
                    }
                    self.effects.log(SensorLog {
                        id: SensorAlarmId::GroupReadFailure,
                        host: self.host.clone(),
                        entity: format!("host={}", self.host),
                        severity: LogSeverity::Clear,
                        text,
                    });
                }
            }
            ConfigChange::Relearn => {
                self.relearn_requested = true;
                self.next_read = now;
                return Ok(());
            }
        }
        self.effects.persist();
        self.evaluate_all();
        Ok(())
    }

    /// Stop monitoring (BMC deprovisioned, host deleted): every alarm of this monitor is cleared and
    /// the degrade dropped. The model is kept; [`SensorMonitor::start`] resumes.
    pub fn stop(&mut self) {
        self.monitoring = false;
        let keys: Vec<(SensorAlarmId, String)> = self.alarms.keys().collect();
        for (id, entity) in keys {
            self.clear_alarm(id, &entity);
        }
        for rt in self.sensors.values_mut() {
            rt.logged = None;
            rt.degraded = false;
            rt.pending = None;
            rt.changes = 0;
        }
        if self.degraded {
            self.degraded = false;
            self.effects.degrade(false);
        }
    }

    /// Resume monitoring; the next read is due at `now`.
    pub fn start(&mut self, now: Instant) {
        if !self.monitoring {
            self.monitoring = true;
            self.next_read = now;
            // Accepted statuses are kept, and so is "already asked": a sensor still in the critical
            // episode it was in before the stop does not ask for a second reset.
            self.evaluate_all();
        }
    }

    /// State the degrade level again (an idempotent sync, e.g. after the core restarted).
    pub fn resync_degrade(&mut self) {
        self.effects.degrade(self.degraded);
    }

    // ---- outputs ------------------------------------------------------------------------------------

    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop()
    }

    /// When the next read is due; `None` while monitoring is stopped. A time in the past means now.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.monitoring.then_some(self.next_read)
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn audit_interval(&self) -> Duration {
        self.interval
    }

    pub fn stats(&self) -> MonitorStats {
        MonitorStats {
            logs_dropped: self.effects.dropped_logs,
            ..self.stats
        }
    }

    /// Effects waiting to be polled.
    pub fn pending_effects(&self) -> usize {
        self.effects.len()
    }

    /// Whether this monitor asks for the host's degrade.
    pub fn is_degraded(&self) -> bool {
        self.degraded
    }

    /// The alarms this monitor believes active.
    pub fn active_alarms(&self) -> impl Iterator<Item = (SensorAlarmId, &str, AlarmSeverity)> {
        self.alarms.iter()
    }

    /// The model as persisted: learned sensors and groups, configuration, accepted statuses.
    pub fn model(&self) -> SensorModel {
        SensorModel {
            audit_interval_secs: self.interval.as_secs(),
            groups: self.groups.values().cloned().collect(),
            sensors: self.sensors.values().map(|rt| rt.rec.clone()).collect(),
        }
    }

    /// Every learned sensor, by name.
    pub fn sensors(&self) -> impl Iterator<Item = &SensorRecord> {
        self.sensors.values().map(|rt| &rt.rec)
    }

    /// Every group of the model.
    pub fn groups(&self) -> impl Iterator<Item = &GroupRecord> {
        self.groups.values()
    }

    pub fn sensor(&self, name: &str) -> Option<&SensorRecord> {
        self.sensors.get(name).map(|rt| &rt.rec)
    }

    pub fn group(&self, kind: GroupKind) -> Option<&GroupRecord> {
        self.groups.get(&kind)
    }

    /// The sensor's recent samples, oldest first.
    pub fn history(&self, name: &str) -> Option<&History> {
        self.sensors.get(name).map(|rt| &rt.history)
    }

    // ---- reading ------------------------------------------------------------------------------------

    /// One sample per usable name: names trimmed, empty and over-long names dropped, duplicates merged
    /// keeping the worst severity, non-finite values removed, at most [`MAX_SENSORS`] names.
    fn clean<'a>(&mut self, readings: &'a [Reading]) -> BTreeMap<String, CleanReading<'a>> {
        let mut out: BTreeMap<String, CleanReading<'a>> = BTreeMap::new();
        for r in readings {
            let name = r.name.trim();
            if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
                self.stats.readings_dropped += 1;
                continue;
            }
            if r.value.is_some_and(|v| !v.is_finite()) {
                self.stats.non_finite_values += 1;
            }
            let candidate = CleanReading {
                reading: r,
                value: r.finite_value(),
            };
            let full = out.len() >= MAX_SENSORS;
            match out.get_mut(name) {
                Some(existing) => {
                    self.stats.duplicates_merged += 1;
                    if Severity::from_bmc(&r.status) > Severity::from_bmc(&existing.reading.status)
                    {
                        *existing = candidate;
                    }
                }
                None if full => self.stats.readings_dropped += 1,
                None => {
                    out.insert(name.to_string(), candidate);
                }
            }
        }
        out
    }

    /// (Re)build the model from a read. Configuration of sensors and groups still present is kept, as
    /// are the runtime states of surviving sensors; sensors gone are dropped with their alarms.
    fn learn(&mut self, clean: &BTreeMap<String, CleanReading<'_>>, how: &str) {
        let relearn = !self.sensors.is_empty();
        if relearn {
            self.stats.relearns += 1;
        }
        self.relearn_requested = false;
        self.pending_set = None;
        let mut old = std::mem::take(&mut self.sensors);
        for (name, c) in clean {
            let group = GroupKind::classify(c.reading);
            self.groups
                .entry(group)
                .or_insert_with(|| GroupRecord::new(group));
            let datatype = if c.reading.kind == ReadingKind::Discrete || c.value.is_none() {
                DataType::Discrete
            } else {
                DataType::Analog
            };
            let rt = match old.remove(name) {
                Some(mut rt) => {
                    rt.rec.group = group;
                    rt.rec.datatype = datatype;
                    rt.rec.unit = c.reading.unit.clone();
                    rt.rec.bmc_thresholds = c.reading.thresholds.finite();
                    rt
                }
                None => SensorRt::new(
                    &self.host,
                    SensorRecord {
                        name: name.clone(),
                        group,
                        datatype,
                        unit: c.reading.unit.clone(),
                        bmc_thresholds: c.reading.thresholds.finite(),
                        state: SensorState::Disabled,
                        status: Severity::Offline,
                        suppress: false,
                        action_overrides: ActionOverrides::default(),
                        thresholds: Thresholds::default(),
                    },
                    false,
                    self.cfg.history_len,
                ),
            };
            self.sensors.insert(name.clone(), rt);
        }
        // Sensors the BMC no longer has: their alarms go with them.
        for name in old.into_keys() {
            let entity = self.sensor_entity(&name);
            self.clear_alarm(SensorAlarmId::OutOfTolerance, &entity);
        }
        // Groups left without sensors go too.
        let used: BTreeSet<GroupKind> = self.sensors.values().map(|rt| rt.rec.group).collect();
        let unused: Vec<GroupKind> = self
            .groups
            .keys()
            .filter(|g| !used.contains(g))
            .copied()
            .collect();
        for g in unused {
            self.groups.remove(&g);
            let entity = self.group_entity(g);
            self.clear_alarm(SensorAlarmId::GroupReadFailure, &entity);
        }
        let text = format!(
            "sensor model {how}: {} sensors in {} groups",
            self.sensors.len(),
            self.groups.len()
        );
        self.effects.log(SensorLog {
            id: SensorAlarmId::Configuration,
            host: self.host.clone(),
            entity: self.profile_entity(),
            severity: LogSeverity::Clear,
            text,
        });
        self.effects.persist();
    }

    /// The severity one reading stands for: the BMC's status, made worse by the operator's thresholds
    /// when the BMC gives none of its own for this sensor.
    fn raw_severity(&self, rt: &SensorRt, c: &CleanReading<'_>) -> Severity {
        let bmc = Severity::from_bmc(&c.reading.status);
        if bmc == Severity::Offline {
            return Severity::Offline;
        }
        let thresholds = if rt.rec.thresholds.is_empty() {
            self.groups
                .get(&rt.rec.group)
                .map(|g| g.thresholds)
                .unwrap_or_default()
        } else {
            rt.rec.thresholds
        };
        match c.value {
            Some(v) if !c.reading.thresholds.any() && !thresholds.is_empty() => {
                bmc.max(thresholds.classify(v))
            }
            _ => bmc,
        }
    }

    /// Run one sensor's sample (or its absence) through the missing-sensor rule and the debounce.
    fn apply_sample(&mut self, now: Instant, name: &str, sample: Option<&CleanReading<'_>>) {
        let missing_limit = self.cfg.missing_reads_before_minor;
        let Some(rt) = self.sensors.get(name) else {
            return;
        };
        let (raw, value) = match sample {
            Some(c) => (self.raw_severity(rt, c), c.value),
            None => {
                // Absent: offline at first; a sensor gone for several reads in a row is a fault of its
                // own (a fan or supply pulled out), so it then counts as minor.
                let missing = rt.missing.saturating_add(1);
                let raw = if missing >= missing_limit {
                    Severity::Minor
                } else {
                    Severity::Offline
                };
                (raw, None)
            }
        };
        let suppressed = self.is_suppressed(name);
        let Some(rt) = self.sensors.get_mut(name) else {
            return;
        };
        let mut persist = false;
        match sample {
            Some(_) => {
                rt.missing = 0;
                if rt.rec.state != SensorState::Enabled {
                    rt.rec.state = SensorState::Enabled;
                    persist = true;
                }
            }
            None => {
                rt.missing = rt.missing.saturating_add(1);
                if rt.rec.state != SensorState::Offline {
                    rt.rec.state = SensorState::Offline;
                    persist = true;
                }
            }
        }
        rt.last_value = value;
        rt.history.push(Sample::new(now, value, raw));

        let mut log: Option<(LogSeverity, String)> = None;
        if !rt.seen {
            // Until a sensor has a status from its readings, ok and offline are taken as read; a fault
            // still needs a second read in a row. A fault followed by ok was a transient.
            if raw.is_fault() && rt.pending != Some(raw) {
                rt.pending = Some(raw);
            } else {
                if let Some(p) = rt.pending.take().filter(|p| *p != raw) {
                    if !suppressed {
                        log = Some((
                            LogSeverity::Warning,
                            format!("transient {p} reading not confirmed; sensor is {raw}"),
                        ));
                    }
                }
                rt.seen = true;
                rt.pending = None;
                if rt.rec.status != raw {
                    rt.rec.status = raw;
                    persist = true;
                }
            }
        } else if raw == rt.rec.status {
            match rt.pending.take() {
                Some(p) if p != Severity::Offline => {
                    // A transient: one differing read, then back. Repeated transients without a quiet
                    // read in between are flapping too (a sensor alternating ok/critical never
                    // changes status, but the operator should hear about it once).
                    rt.transients = rt.transients.saturating_add(1);
                    if rt.changes == 1 && !suppressed {
                        if rt.transients < 2 {
                            log = Some((
                                LogSeverity::Warning,
                                format!("transient {p} reading not confirmed; sensor stays {raw}"),
                            ));
                        } else if !rt.flapping_logged {
                            rt.flapping_logged = true;
                            log = Some((
                                LogSeverity::Warning,
                                format!(
                                    "flapping: {} unconfirmed {p} readings in a short time; sensor stays {raw}",
                                    rt.transients
                                ),
                            ));
                        }
                    }
                }
                Some(_) => {}
                None => {
                    // A quiet read: whatever flapped has settled.
                    rt.transients = 0;
                    rt.flapping_logged = false;
                }
            }
            rt.changes = 0;
        } else if rt.pending == Some(raw) {
            // Confirmed by a second read in a row.
            rt.rec.status = raw;
            rt.pending = None;
            rt.changes = 0;
            rt.transients = 0;
            rt.flapping_logged = false;
            persist = true;
        } else {
            rt.pending = Some(raw);
            rt.changes = rt.changes.saturating_add(1);
            if rt.changes >= 2 && !rt.flapping_logged && !suppressed {
                rt.flapping_logged = true;
                log = Some((
                    LogSeverity::Warning,
                    format!(
                        "flapping: status changed on {} reads in a row (now {raw}); sensor stays {}",
                        rt.changes, rt.rec.status
                    ),
                ));
            }
        }
        if persist {
            self.effects.persist();
        }
        if let Some((severity, text)) = log {
            self.sensor_log(name, severity, text);
        }
    }

    // ---- actions ------------------------------------------------------------------------------------

    fn is_suppressed(&self, name: &str) -> bool {
        self.sensors.get(name).is_some_and(|rt| {
            rt.rec.suppress || self.groups.get(&rt.rec.group).is_some_and(|g| g.suppress)
        })
    }

    /// Bring every sensor's alarm, log, request and degrade in line with its accepted severity, its
    /// action and suppression; then the host's degrade level.
    fn evaluate_all(&mut self) {
        if !self.monitoring {
            return;
        }
        let names: Vec<String> = self.sensors.keys().cloned().collect();
        let mut requests = Vec::new();
        for name in &names {
            requests.extend(self.evaluate(name));
        }
        let degraded = self.sensors.values().any(|rt| rt.degraded);
        if degraded != self.degraded {
            self.degraded = degraded;
            self.effects.degrade(degraded);
        }
        // Requests go last: the runtime records the alarm and the degrade before it acts.
        for req in requests {
            self.effects.request(req);
        }
    }

    /// Returns the reset or power-cycle request this sensor makes now, if any.
    fn evaluate(&mut self, name: &str) -> Option<HwmonEvent> {
        let suppressed = self.is_suppressed(name);
        let rt = self.sensors.get(name)?;
        let group = self.groups.get(&rt.rec.group)?;
        let severity = rt.rec.status;
        let action = rt
            .rec
            .action_overrides
            .apply(&group.actions)
            .for_severity(severity)
            .filter(|_| !suppressed);
        let alarm = action
            .filter(|a| a.alarms())
            .and_then(|_| AlarmSeverity::of(severity));
        let degrade = alarm.is_some() && matches!(severity, Severity::Major | Severity::Critical);
        let log = (action == Some(Action::Log)).then_some(severity);
        let request = match action {
            Some(Action::Reset) => Some(HwmonEvent::Reset),
            Some(Action::PowerCycle) => Some(HwmonEvent::PowerCycle),
            _ => None,
        };
        let previously_logged = rt.logged;
        let active = self.alarms.get(SensorAlarmId::OutOfTolerance, &rt.entity);
        // Texts are built only when something is emitted: this runs for every sensor on every read.
        let value = || describe_value(rt.last_value, rt.rec.unit.as_deref());
        let raise = match alarm {
            Some(sev) if active != Some(sev) => {
                let why = match request {
                    Some(HwmonEvent::Reset) => "; resetting the host",
                    Some(HwmonEvent::PowerCycle) => "; power-cycling the host",
                    _ => "",
                };
                let reason = format!(
                    "{}: sensor '{name}' is {severity}{}{why}",
                    self.host,
                    value()
                );
                Some((rt.entity.clone(), sev, reason))
            }
            _ => None,
        };
        let clear = (alarm.is_none() && active.is_some()).then(|| rt.entity.clone());
        let log_line = if log != previously_logged {
            match log {
                Some(sev) => Some((LogSeverity::of(sev), format!("sensor is {sev}{}", value()))),
                None if severity == Severity::Ok && !suppressed => Some((
                    LogSeverity::Clear,
                    format!("sensor is back to ok{}", value()),
                )),
                None => None,
            }
        } else {
            None
        };
        if let Some((entity, sev, reason)) = raise {
            self.raise_alarm(SensorAlarmId::OutOfTolerance, entity, sev, reason);
        }
        if let Some(entity) = clear {
            self.clear_alarm(SensorAlarmId::OutOfTolerance, &entity);
        }
        if let Some((sev, text)) = log_line {
            self.sensor_log(name, sev, text);
        }
        let mut emit_request = None;
        if let Some(rt) = self.sensors.get_mut(name) {
            rt.logged = log;
            rt.degraded = degrade;
            if severity != Severity::Critical {
                // The critical episode is over: a later one may ask again.
                rt.requested = false;
            } else if let Some(req) = request {
                if !rt.requested {
                    rt.requested = true;
                    emit_request = Some(req);
                }
            }
        }
        emit_request
    }

    fn fail_group(&mut self, g: GroupKind) {
        if let Some(rec) = self.groups.get_mut(&g) {
            if rec.state != GroupState::Failed {
                rec.state = GroupState::Failed;
                self.effects.persist();
            }
        }
        self.sync_group_alarm(g);
    }

    /// 200.015 follows the group's state.
    fn sync_group_alarm(&mut self, g: GroupKind) {
        let entity = self.group_entity(g);
        if self.groups.get(&g).map(|r| r.state) == Some(GroupState::Failed) {
            let reason = format!(
                "{}: sensor group '{}' could not be read",
                self.host,
                g.name()
            );
            self.raise_alarm(
                SensorAlarmId::GroupReadFailure,
                entity,
                AlarmSeverity::Major,
                reason,
            );
        } else {
            self.clear_alarm(SensorAlarmId::GroupReadFailure, &entity);
        }
    }

    // ---- alarm book and logs ------------------------------------------------------------------------

    fn raise_alarm(
        &mut self,
        id: SensorAlarmId,
        entity: String,
        severity: AlarmSeverity,
        reason: String,
    ) {
        if self.alarms.get(id, &entity) == Some(severity) {
            return;
        }
        self.alarms.insert(id, &entity, severity);
        let repair = match id {
            SensorAlarmId::OutOfTolerance => {
                "Check the hardware this sensor watches (cooling, power, airflow); if the reading is wrong, suppress the sensor or change its group's action."
            }
            SensorAlarmId::Configuration => {
                "Check the BMC's address, credentials and that it reports sensors; then ask for a relearn."
            }
            SensorAlarmId::GroupReadFailure => {
                "Check that the BMC is reachable and answers sensor reads; the alarm clears with the next good read."
            }
        };
        self.effects.alarm(SensorAlarmChange::Raise(SensorAlarm {
            id,
            host: self.host.clone(),
            entity,
            severity,
            service_affecting: severity == AlarmSeverity::Critical,
            reason,
            repair: repair.to_string(),
        }));
    }

    fn clear_alarm(&mut self, id: SensorAlarmId, entity: &str) {
        if self.alarms.remove(id, entity) {
            self.effects.alarm(SensorAlarmChange::Clear {
                id,
                host: self.host.clone(),
                entity: entity.to_string(),
            });
        }
    }

    fn sensor_log(&mut self, name: &str, severity: LogSeverity, text: String) {
        self.effects.log(SensorLog {
            id: SensorAlarmId::OutOfTolerance,
            host: self.host.clone(),
            entity: self.sensor_entity(name),
            severity,
            text: format!("{name}: {text}"),
        });
    }

    fn group_log(&mut self, g: GroupKind, text: String) {
        self.effects.log(SensorLog {
            id: SensorAlarmId::GroupReadFailure,
            host: self.host.clone(),
            entity: self.group_entity(g),
            severity: LogSeverity::Clear,
            text: format!("{}: {text}", g.name()),
        });
    }

    fn group_mut(&mut self, g: GroupKind) -> Result<&mut GroupRecord, ConfigError> {
        self.groups
            .get_mut(&g)
            .ok_or_else(|| ConfigError::UnknownGroup(g.name().to_string()))
    }

    fn sensor_mut(&mut self, name: &str) -> Result<&mut SensorRt, ConfigError> {
        self.sensors
            .get_mut(name)
            .ok_or_else(|| ConfigError::UnknownSensor(name.chars().take(MAX_NAME_LEN).collect()))
    }

    /// `host=H.sensor=NAME`.
    pub fn sensor_entity(&self, name: &str) -> String {
        sensor_entity(&self.host, name)
    }

    fn config_alarm_active(&self) -> bool {
        self.alarms
            .by_id
            .get(&SensorAlarmId::Configuration)
            .is_some_and(|m| !m.is_empty())
    }

    /// `host=H.sensorgroup=GROUP`.
    pub fn group_entity(&self, g: GroupKind) -> String {
        format!("host={}.sensorgroup={}", self.host, g.name())
    }

    /// `host=H.sensor=profile` (200.014).
    pub fn profile_entity(&self) -> String {
        format!("host={}.sensor=profile", self.host)
    }
}

/// The active alarms, by id then entity (so a lookup borrows the entity instead of building a key).
#[derive(Debug, Default)]
struct AlarmBook {
    by_id: BTreeMap<SensorAlarmId, BTreeMap<String, AlarmSeverity>>,
}

impl AlarmBook {
    fn get(&self, id: SensorAlarmId, entity: &str) -> Option<AlarmSeverity> {
        self.by_id.get(&id)?.get(entity).copied()
    }

    fn insert(&mut self, id: SensorAlarmId, entity: &str, severity: AlarmSeverity) {
        self.by_id
            .entry(id)
            .or_default()
            .insert(entity.to_string(), severity);
    }

    fn remove(&mut self, id: SensorAlarmId, entity: &str) -> bool {
        self.by_id
            .get_mut(&id)
            .is_some_and(|m| m.remove(entity).is_some())
    }

    fn keys(&self) -> impl Iterator<Item = (SensorAlarmId, String)> + '_ {
        self.iter().map(|(id, e, _)| (id, e.to_string()))
    }

    fn iter(&self) -> impl Iterator<Item = (SensorAlarmId, &str, AlarmSeverity)> {
        self.by_id
            .iter()
            .flat_map(|(id, m)| m.iter().map(move |(e, s)| (*id, e.as_str(), *s)))
    }
}

fn sensor_entity(host: &str, name: &str) -> String {
    format!("host={host}.sensor={name}")
}

fn describe_value(value: Option<f64>, unit: Option<&str>) -> String {
    match (value, unit) {
        (Some(v), Some(u)) => format!(" ({v} {u})"),
        (Some(v), None) => format!(" ({v})"),
        (None, _) => String::new(),
    }
}
