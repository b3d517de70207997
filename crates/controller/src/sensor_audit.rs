//! The hardware sensor audit (docs/sensors.md): one [`SensorMonitor`] per host with a provisioned BMC,
//! read through the BMC link every audit interval, its decisions made durable before anything acts on
//! them.
//!
//! The actor owns a [`SensorAudit`] next to the core. Each step:
//!
//! 1. a due host's read goes to the BMC link ([`crate::links::BmcLink::read_sensors`]); the BMC workers
//!    queue it at audit priority behind power actions, spaced like every other operation on that BMC;
//! 2. the answer comes back as a [`SensorReply`] and goes into the host's monitor;
//! 3. [`SensorAudit::drain`] writes the monitors' alarm changes (200.007/014/015), customer logs and
//!    models to the store in one transaction, and only then publishes those alarms and logs to the
//!    live feed ([`crate::feed`]) and hands the hardware-monitor events (degrade,
//!    critical-sensor reset or power-cycle) to the core as `Event::Hwmon`, whose handlers own the
//!    cool-off, hold-off and attempt limits.
//!
//! At start the stored models and sensor alarms are loaded and every monitor is restored from them, so a
//! restarted controller neither raises again nor clears an alarm that is still true, and clears the ones
//! its model no longer justifies.

use crate::feed::{Feed, FeedItem};
use crate::persist::Caches;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;
use steward_maintenance::alarm::{CustomerLog, LogId};
use steward_maintenance::{Event, HwmonEvent, Instant, Maintenance};
use steward_sensors::{
    AlarmSeverity, Effect, MonitorConfig, ReadFailure, Reading, SensorAlarm, SensorAlarmChange,
    SensorAlarmId, SensorModel, SensorMonitor,
};
use steward_store::typed::{unix_ms_now, TypedStore};
use steward_store::{Expect, Op, StoreError};
use tokio::sync::mpsc;

/// Store prefix of the persisted sensor models: `sensors/<host>` → [`StoredModel`].
pub const SENSOR_MODELS: &str = "sensors/";
/// Store prefix of the active sensor alarms: `sensoralarms/<id>/<entity>` → [`StoredSensorAlarm`].
pub const SENSOR_ALARMS: &str = "sensoralarms/";

fn model_key(host: &str) -> String {
    format!("{SENSOR_MODELS}{host}")
}

fn alarm_key(id: SensorAlarmId, entity: &str) -> String {
    format!("{SENSOR_ALARMS}{}/{entity}", id.code())
}

/// Reads a push event asks for: one to see the change, one to confirm it (the debounce).
const PUSH_READS: u8 = 2;

/// Settings of the sensor audit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SensorAuditConfig {
    /// The audit interval a host starts with (`audit_interval_group`, default 120 s, at least 10 s;
    /// operators change it per host through the API).
    pub audit_interval: Duration,
    /// Delay of a newly provisioned BMC's first read, so the BMC workers have its access first.
    pub first_read_delay: Duration,
    /// Samples kept per sensor (the reading history).
    pub history_len: usize,
    /// Whether reset and power-cycle may be chosen (false on a simplex system).
    pub destructive_actions_allowed: bool,
}

impl Default for SensorAuditConfig {
    fn default() -> Self {
        let m = MonitorConfig::default();
        SensorAuditConfig {
            audit_interval: m.audit_interval,
            first_read_delay: Duration::from_secs(5),
            history_len: m.history_len,
            destructive_actions_allowed: m.destructive_actions_allowed,
        }
    }
}

impl SensorAuditConfig {
    fn monitor(&self) -> MonitorConfig {
        MonitorConfig {
            audit_interval: self.audit_interval,
            history_len: self.history_len,
            destructive_actions_allowed: self.destructive_actions_allowed,
            ..MonitorConfig::default()
        }
    }
}

/// A persisted model with the last values read (what the API shows after a restart until the next
/// read). Written whenever the model changes; between changes the latest values live in memory.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StoredModel {
    pub model: SensorModel,
    /// The last value of each sensor when the model was written.
    #[serde(default)]
    pub values: BTreeMap<String, f64>,
    /// Wall-clock time of the last read (ms since the epoch), 0 if none.
    #[serde(default)]
    pub read_at_ms: u64,
}

/// An active sensor alarm as stored and shown (`/v1/alarms`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredSensorAlarm {
    pub alarm: SensorAlarm,
    pub raised_at_ms: u64,
}

/// The answer to one sensor read, from the BMC link.
#[derive(Debug)]
pub struct SensorReply {
    pub host: String,
    /// The read's number ([`crate::links::BmcLink::read_sensors`]): an answer for a read the audit no
    /// longer waits for (the BMC was re-provisioned meanwhile) is dropped.
    pub read: u64,
    /// The readings, or why the whole read failed.
    pub result: Result<Vec<Reading>, String>,
    /// Sensor events the BMC's IPMI event log (SEL) gained since the previous read, as text: each
    /// becomes a customer log, and any asks for a confirming read at once.
    pub sel: Vec<String>,
}

/// Where BMC links deliver sensor readings. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SensorReplies(pub(crate) mpsc::Sender<SensorReply>);

impl SensorReplies {
    /// A sender and its receiving end.
    pub fn channel(capacity: usize) -> (SensorReplies, mpsc::Receiver<SensorReply>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (SensorReplies(tx), rx)
    }

    /// Deliver a reply; waits while the controller is busy.
    pub async fn send(&self, reply: SensorReply) -> bool {
        self.0.send(reply).await.is_ok()
    }
}

pub(crate) struct HostSensors {
    pub monitor: SensorMonitor,
    /// Where the host sits in the due set.
    scheduled: Option<Instant>,
    /// The read in flight, if any.
    in_flight: Option<u64>,
    /// No read before this (a newly provisioned BMC).
    not_before: Instant,
    /// Wall-clock time of the last completed read (ms), 0 if none.
    pub read_at_ms: u64,
    /// Reads still owed to a push event ([`SensorAudit::read_now`]): started as soon as the BMC's
    /// spacing allows, ahead of the periodic schedule.
    owed: u8,
    /// The host is leaving the audit; `true`: its model is forgotten too (host deleted).
    retiring: Option<bool>,
}

/// Every host's sensor monitor and the schedule of their reads.
pub(crate) struct SensorAudit {
    cfg: SensorAuditConfig,
    pub hosts: BTreeMap<String, HostSensors>,
    due: BTreeSet<(Instant, String)>,
    /// Hosts whose monitor may have effects to drain.
    dirty: BTreeSet<String>,
    /// The durable active sensor alarms, by (id, entity).
    pub alarms: BTreeMap<(SensorAlarmId, String), StoredSensorAlarm>,
    /// Models stored for hosts not (yet) monitored: used once, when the host's monitor starts.
    stored: HashMap<String, StoredModel>,
    /// Alarm clears for hosts without a monitor, waiting for the next drain.
    orphans: Vec<SensorAlarmChange>,
    /// Stored models of hosts without a monitor to delete at the next drain.
    forgotten: Vec<String>,
    replies: SensorReplies,
    next_read: u64,
    /// Customer logs of new SEL entries, written at the next drain.
    sel_logs: Vec<CustomerLog>,
}

impl SensorAudit {
    /// Load the stored models and sensor alarms. Monitors start with [`SensorAudit::sync`].
    pub fn load(
        cfg: SensorAuditConfig,
        store: &TypedStore,
        replies: SensorReplies,
    ) -> Result<SensorAudit, StoreError> {
        let mut stored = HashMap::new();
        for (key, v) in store.store().list(SENSOR_MODELS)? {
            let host = key.trim_start_matches(SENSOR_MODELS).to_string();
            let model: StoredModel = decode(&key, &v.value)?;
            stored.insert(host, model);
        }
        let mut alarms = BTreeMap::new();
        for (key, v) in store.store().list(SENSOR_ALARMS)? {
            let a: StoredSensorAlarm = decode(&key, &v.value)?;
            alarms.insert((a.alarm.id, a.alarm.entity.clone()), a);
        }
        Ok(SensorAudit {
            cfg,
            hosts: BTreeMap::new(),
            due: BTreeSet::new(),
            dirty: BTreeSet::new(),
            alarms,
            stored,
            orphans: Vec::new(),
            forgotten: Vec::new(),
            replies,
            next_read: 1,
            sel_logs: Vec::new(),
        })
    }

    /// Start monitors for hosts with a BMC that have none, and retire those of hosts that lost their
    /// BMC or are gone. `hosts`: every host known to the core, with whether its BMC is provisioned.
    pub fn sync<'a>(&mut self, now: Instant, hosts: impl Iterator<Item = (&'a str, bool)>) {
        let mut known = BTreeSet::new();
        for (name, has_bmc) in hosts {
            known.insert(name);
            if has_bmc && !self.hosts.contains_key(name) {
                self.start_host(now, name);
            } else if !has_bmc {
                self.retire(name, false);
            }
        }
        let gone: Vec<String> = self
            .hosts
            .keys()
            .filter(|h| !known.contains(h.as_str()))
            .cloned()
            .collect();
        for h in gone {
            self.retire(&h, true);
        }
        // Models kept for hosts that no longer exist (deleted while unmonitored, or before a restart).
        let stale_models: Vec<String> = self
            .stored
            .keys()
            .filter(|h| !known.contains(h.as_str()))
            .cloned()
            .collect();
        for h in stale_models {
            self.retire(&h, true);
        }
        // Alarms of hosts that have no monitor (stored before a restart, the host since deleted or
        // deprovisioned) are stale: a monitor started for a host reconciles its own.
        let stale: Vec<(SensorAlarmId, String, String)> = self
            .alarms
            .iter()
            .filter(|(_, a)| !self.hosts.contains_key(&a.alarm.host))
            .map(|((id, e), a)| (*id, e.clone(), a.alarm.host.clone()))
            .collect();
        for (id, entity, host) in stale {
            self.orphans
                .push(SensorAlarmChange::Clear { id, host, entity });
        }
    }

    fn start_host(&mut self, now: Instant, name: &str) {
        let monitor = match self.stored.remove(name) {
            Some(stored) => {
                let active: Vec<(SensorAlarmId, String, AlarmSeverity)> = self
                    .alarms
                    .values()
                    .filter(|a| a.alarm.host == name)
                    .map(|a| (a.alarm.id, a.alarm.entity.clone(), a.alarm.severity))
                    .collect();
                SensorMonitor::restore(name, self.cfg.monitor(), stored.model, &active, now)
            }
            None => {
                // Alarms stored without a model (written, then the model lost): the new monitor does
                // not know them; clear them so nothing stays raised that no one will clear.
                let orphans: Vec<(SensorAlarmId, String)> = self
                    .alarms
                    .values()
                    .filter(|a| a.alarm.host == name)
                    .map(|a| (a.alarm.id, a.alarm.entity.clone()))
                    .collect();
                for (id, entity) in orphans {
                    self.orphans.push(SensorAlarmChange::Clear {
                        id,
                        host: name.to_string(),
                        entity,
                    });
                }
                SensorMonitor::new(name, self.cfg.monitor(), now)
            }
        };
        self.hosts.insert(
            name.to_string(),
            HostSensors {
                monitor,
                scheduled: None,
                in_flight: None,
                not_before: now + self.cfg.first_read_delay,
                read_at_ms: 0,
                owed: 0,
                retiring: None,
            },
        );
        self.touch(name);
    }

    fn retire(&mut self, name: &str, forget_model: bool) {
        let Some(h) = self.hosts.get_mut(name) else {
            if forget_model && self.stored.remove(name).is_some() {
                self.forgotten.push(name.to_string());
            }
            return;
        };
        h.monitor.stop();
        h.retiring = Some(forget_model || h.retiring == Some(true));
        if let Some(at) = h.scheduled.take() {
            self.due.remove(&(at, name.to_string()));
        }
        self.dirty.insert(name.to_string());
    }

    /// The monitor of `host` was handed something: drain it at the end of the step.
    pub fn touch(&mut self, host: &str) {
        self.dirty.insert(host.to_string());
    }

    /// Something told us `host`'s sensors changed (a BMC's push event): read them now, and once more
    /// after that, since a change is accepted only when two reads agree (the periodic audit keeps its
    /// own schedule; this only adds reads). The reads go through the BMC link like every other, so
    /// the BMC's spacing still holds; a read already in flight started before the news and does not
    /// count. Returns false when `host` is not monitored.
    pub fn read_now(&mut self, now: Instant, host: &str) -> bool {
        let Some(h) = self.hosts.get_mut(host) else {
            return false;
        };
        if h.retiring.is_some() {
            return false;
        }
        h.owed = PUSH_READS;
        self.reschedule(now, host);
        true
    }

    /// When the next read is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.due.first().map(|(at, _)| *at)
    }

    /// Start every read that is due: each goes to `read` with its number.
    pub fn start_due_reads(
        &mut self,
        now: Instant,
        mut read: impl FnMut(&str, u64, SensorReplies),
    ) {
        while let Some((at, host)) = self.due.first().cloned() {
            if at > now {
                break;
            }
            self.due.remove(&(at, host.clone()));
            let Some(h) = self.hosts.get_mut(&host) else {
                continue;
            };
            h.scheduled = None;
            h.owed = h.owed.saturating_sub(1);
            let n = self.next_read;
            self.next_read += 1;
            h.in_flight = Some(n);
            read(&host, n, self.replies.clone());
        }
    }

    /// A read's answer: into the host's monitor.
    pub fn handle_reply(&mut self, now: Instant, reply: SensorReply) {
        let Some(h) = self.hosts.get_mut(&reply.host) else {
            return;
        };
        if h.in_flight != Some(reply.read) || h.retiring.is_some() {
            return;
        }
        h.in_flight = None;
        h.read_at_ms = unix_ms_now();
        if !reply.sel.is_empty() {
            // The BMC saw sensor events between two audits: read again now to confirm what it saw.
            h.owed = PUSH_READS.saturating_sub(1).max(h.owed);
            for entry in &reply.sel {
                self.sel_logs.push(CustomerLog {
                    id: LogId::Sensor,
                    host: reply.host.clone(),
                    text: format!("{}: BMC event log: {entry}", reply.host),
                    critical: false,
                });
            }
        }
        match reply.result {
            Ok(readings) => h.monitor.handle_reading(now, &readings),
            Err(why) => {
                tracing::debug!(host = %reply.host, "sensor read failed: {why}");
                h.monitor.handle_read_failure(now, ReadFailure::All);
            }
        }
        self.dirty.insert(reply.host);
    }

    /// Persist every pending decision of the touched monitors in one transaction, publish the
    /// alarms and logs it made durable to the live feed, then hand their hardware-monitor events to
    /// the core. Returns whether the core was given anything (its effects then need flushing too).
    pub fn drain(
        &mut self,
        now: Instant,
        core: &mut Maintenance,
        store: &TypedStore,
        caches: &mut Caches,
        feed: &Feed,
    ) -> Result<bool, StoreError> {
        if self.dirty.is_empty()
            && self.orphans.is_empty()
            && self.forgotten.is_empty()
            && self.sel_logs.is_empty()
        {
            return Ok(false);
        }
        let at_ms = unix_ms_now();
        let mut batch = store.batch();
        let mut alarm_changes: Vec<SensorAlarmChange> = std::mem::take(&mut self.orphans);
        let mut logs = std::mem::take(&mut self.sel_logs);
        let mut hwmon: Vec<(String, HwmonEvent)> = Vec::new();
        let mut models: Vec<String> = Vec::new();
        let dirty = std::mem::take(&mut self.dirty);
        for host in &dirty {
            let Some(h) = self.hosts.get_mut(host) else {
                continue;
            };
            while let Some(effect) = h.monitor.poll_effect() {
                match effect {
                    Effect::Alarm(change) => alarm_changes.push(change),
                    Effect::Log(l) => logs.push(CustomerLog {
                        id: log_id(l.id),
                        host: l.host,
                        text: l.text,
                        critical: l.severity == steward_sensors::LogSeverity::Critical,
                    }),
                    Effect::Hwmon(ev) => hwmon.push((host.clone(), ev)),
                    Effect::PersistModel => models.push(host.clone()),
                }
            }
        }
        let mut raised = Vec::new();
        let mut cleared = Vec::new();
        for change in alarm_changes {
            match change {
                SensorAlarmChange::Raise(alarm) => {
                    let key = (alarm.id, alarm.entity.clone());
                    let raised_at_ms = self.alarms.get(&key).map_or(at_ms, |a| a.raised_at_ms);
                    let stored = StoredSensorAlarm {
                        alarm,
                        raised_at_ms,
                    };
                    batch.op(Op::Put {
                        key: alarm_key(key.0, &key.1),
                        value: encode(&stored),
                        expect: Expect::Any,
                    });
                    raised.push((key, stored));
                }
                SensorAlarmChange::Clear { id, entity, .. } => {
                    batch.op(Op::Delete {
                        key: alarm_key(id, &entity),
                        expect: Expect::Any,
                    });
                    cleared.push((id, entity));
                }
            }
        }
        for log in &logs {
            batch.event(at_ms, log)?;
        }
        let retired: Vec<(String, bool)> = dirty
            .iter()
            .filter_map(|h| Some((h.clone(), self.hosts.get(h)?.retiring?)))
            .collect();
        // A host leaving the audit with its model kept (BMC deprovisioned) writes it once more, so
        // a later provisioning restores its settings and statuses.
        for (host, forget) in &retired {
            if !forget && !models.contains(host) {
                models.push(host.clone());
            }
        }
        let mut kept = Vec::new();
        for host in &models {
            let Some(h) = self.hosts.get(host) else {
                continue;
            };
            if h.retiring == Some(true) {
                continue;
            }
            let stored = stored_model(h);
            batch.op(Op::Put {
                key: model_key(host),
                value: encode(&stored),
                expect: Expect::Any,
            });
            if h.retiring.is_some() {
                kept.push((host.clone(), stored));
            }
        }
        let forgotten = std::mem::take(&mut self.forgotten);
        let forget = retired
            .iter()
            .filter(|(_, forget)| *forget)
            .map(|(h, _)| h)
            .chain(&forgotten);
        for host in forget {
            batch.op(Op::Delete {
                key: model_key(host),
                expect: Expect::Any,
            });
        }
        if !batch.is_empty() {
            batch.commit()?;
        }
        // Durable: now the caches, the feed and the core may see it.
        let mut published = Vec::with_capacity(raised.len() + cleared.len() + logs.len());
        for (key, stored) in raised {
            published.push(FeedItem::SensorAlarmRaised(stored.clone()));
            self.alarms.insert(key, stored);
        }
        for (id, entity) in cleared {
            // A clear of an alarm that was never raised (an orphan already gone) is no news.
            if let Some(was) = self.alarms.remove(&(id, entity.clone())) {
                published.push(FeedItem::SensorAlarmCleared {
                    id,
                    host: was.alarm.host,
                    entity,
                });
            }
        }
        for log in logs {
            let stamped = steward_store::typed::Stamped { at_ms, entry: log };
            published.push(FeedItem::Event(stamped.clone()));
            caches.push_event(stamped);
        }
        if !published.is_empty() {
            feed.publish(published);
        }
        for (host, _) in &retired {
            self.hosts.remove(host);
        }
        for (host, stored) in kept {
            self.stored.insert(host, stored);
        }
        let fed = !hwmon.is_empty();
        for (host, event) in hwmon {
            if core.host(&host).is_some() {
                tracing::info!(%host, ?event, "hardware monitor event");
                core.handle_event(now, Event::Hwmon { host, event });
            }
        }
        for host in &dirty {
            self.reschedule(now, host);
        }
        Ok(fed)
    }

    /// Put `host` in the due set at its monitor's next read, or now when a push event is owed reads
    /// (not while a read is in flight).
    fn reschedule(&mut self, now: Instant, host: &str) {
        let Some(h) = self.hosts.get_mut(host) else {
            return;
        };
        let next = match (h.in_flight, h.monitor.poll_timeout()) {
            (None, Some(t)) if h.owed > 0 => Some(t.min(now).max(h.not_before)),
            (None, Some(t)) => Some(t.max(h.not_before)),
            _ => None,
        };
        if h.scheduled == next {
            return;
        }
        if let Some(old) = h.scheduled.take() {
            self.due.remove(&(old, host.to_string()));
        }
        if let Some(t) = next {
            self.due.insert((t, host.to_string()));
            h.scheduled = Some(t);
        }
    }
}

/// What is persisted of a host's monitor.
fn stored_model(h: &HostSensors) -> StoredModel {
    StoredModel {
        model: h.monitor.model(),
        values: h
            .monitor
            .sensors()
            .filter_map(|s| {
                let v = crate::sensor_handle::last_value(&h.monitor, &s.name)?;
                Some((s.name.clone(), v))
            })
            .collect(),
        read_at_ms: h.read_at_ms,
    }
}

/// The customer-log id of a sensor log.
fn log_id(id: SensorAlarmId) -> LogId {
    match id {
        SensorAlarmId::OutOfTolerance => LogId::Sensor,
        SensorAlarmId::Configuration => LogId::SensorProfile,
        SensorAlarmId::GroupReadFailure => LogId::SensorGroup,
    }
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Plain data records: serializing cannot fail.
    serde_json::to_vec(v).unwrap_or_default()
}

fn decode<T: serde::de::DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// The BMC layer's normalized reading as the sensor policy takes it.
pub fn reading_of(r: &steward_bmc::SensorReading) -> Reading {
    use steward_bmc::{SensorKind as K, SensorStatus as S};
    use steward_sensors::{BmcStatus, BmcThresholds, ReadingKind};
    let kind = match r.kind {
        K::Temperature => ReadingKind::Temperature,
        K::Fan => ReadingKind::Fan,
        K::Voltage => ReadingKind::Voltage,
        K::Current => ReadingKind::Current,
        K::Power => ReadingKind::Power,
        K::Discrete => ReadingKind::Discrete,
        K::Other => ReadingKind::Other,
    };
    let status = match r.status {
        S::Ok => BmcStatus::Ok,
        S::NonCritical => BmcStatus::NonCritical,
        S::Critical => BmcStatus::Critical,
        S::NonRecoverable => BmcStatus::NonRecoverable,
        S::Unavailable => BmcStatus::Unavailable,
    };
    let t = &r.thresholds;
    Reading {
        name: r.name.clone(),
        kind,
        value: r.value,
        unit: r.unit.clone(),
        status,
        thresholds: BmcThresholds {
            lower_non_recoverable: t.lower_non_recoverable,
            lower_critical: t.lower_critical,
            lower_non_critical: t.lower_non_critical,
            upper_non_critical: t.upper_non_critical,
            upper_critical: t.upper_critical,
            upper_non_recoverable: t.upper_non_recoverable,
        },
    }
}
