//! What the monitor asks the runtime to do, and the bounded queue that holds it until polled.

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use steward_maintenance::HwmonEvent;

use crate::severity::Severity;

/// The sensor alarm ids, in StarlingX's numbering (entity type host).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SensorAlarmId {
    /// 200.007: a sensor reads out of tolerance. Entity `host=H.sensor=NAME`.
    #[serde(rename = "200.007")]
    OutOfTolerance,
    /// 200.014: the sensor model could not be learned or read. Entity `host=H.sensor=profile`; minor.
    #[serde(rename = "200.014")]
    Configuration,
    /// 200.015: a sensor group could not be read. Entity `host=H.sensorgroup=GROUP`; major.
    #[serde(rename = "200.015")]
    GroupReadFailure,
}

impl SensorAlarmId {
    pub const fn code(self) -> &'static str {
        match self {
            SensorAlarmId::OutOfTolerance => "200.007",
            SensorAlarmId::Configuration => "200.014",
            SensorAlarmId::GroupReadFailure => "200.015",
        }
    }
}

/// Alarm severities used by sensor alarms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlarmSeverity {
    Minor,
    Major,
    Critical,
}

impl AlarmSeverity {
    /// The alarm severity for a fault severity; `None` for ok and offline.
    pub fn of(s: Severity) -> Option<AlarmSeverity> {
        match s {
            Severity::Minor => Some(AlarmSeverity::Minor),
            Severity::Major => Some(AlarmSeverity::Major),
            Severity::Critical => Some(AlarmSeverity::Critical),
            Severity::Ok | Severity::Offline => None,
        }
    }
}

/// One alarm, identified by (id, entity).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorAlarm {
    pub id: SensorAlarmId,
    pub host: String,
    /// The full entity instance, e.g. `host=worker-1.sensor=CPU1 Temp`.
    pub entity: String,
    pub severity: AlarmSeverity,
    /// A critical sensor alarm is service-affecting.
    pub service_affecting: bool,
    pub reason: String,
    pub repair: String,
}

/// A change to the active alarm set. A raise of an active alarm replaces its severity.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum SensorAlarmChange {
    Raise(SensorAlarm),
    Clear {
        id: SensorAlarmId,
        host: String,
        entity: String,
    },
}

impl SensorAlarmChange {
    pub fn entity(&self) -> &str {
        match self {
            SensorAlarmChange::Raise(a) => &a.entity,
            SensorAlarmChange::Clear { entity, .. } => entity,
        }
    }
}

/// Severity of a customer log (an event, not an alarm).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSeverity {
    /// An end of a condition, or a configuration change.
    Clear,
    Warning,
    Minor,
    Major,
    Critical,
}

impl LogSeverity {
    pub fn of(s: Severity) -> LogSeverity {
        match s {
            Severity::Minor => LogSeverity::Minor,
            Severity::Major => LogSeverity::Major,
            Severity::Critical => LogSeverity::Critical,
            Severity::Ok | Severity::Offline => LogSeverity::Clear,
        }
    }
}

/// One customer log line (under 200.007 for sensors, 200.015 for groups and configuration).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensorLog {
    pub id: SensorAlarmId,
    pub host: String,
    pub entity: String,
    pub severity: LogSeverity,
    pub text: String,
}

/// An output of the monitor.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Alarm(SensorAlarmChange),
    Log(SensorLog),
    /// For the maintenance core: `DegradeSet` / `DegradeClear` (the host's hardware-monitor degrade
    /// bit), `Reset` / `PowerCycle` (a critical sensor's action; cause critical sensor).
    Hwmon(HwmonEvent),
    /// The model changed (learned, relearned, configured, or a sensor's accepted status changed):
    /// persist [`crate::SensorMonitor::model`].
    PersistModel,
}

/// How many customer logs may wait undrained; later ones are dropped and counted.
pub const MAX_PENDING_LOGS: usize = 512;

/// The outgoing effects. Bounded by construction: state effects are coalesced per key (one pending
/// alarm change per entity, one degrade level, one request per kind, one persist), so their number never
/// exceeds the model's size plus a constant; customer logs are capped at [`MAX_PENDING_LOGS`].
#[derive(Debug, Default)]
pub(crate) struct EffectQueue {
    queue: VecDeque<Effect>,
    logs: usize,
    pub(crate) dropped_logs: u64,
}

impl EffectQueue {
    pub(crate) fn pop(&mut self) -> Option<Effect> {
        let e = self.queue.pop_front()?;
        if matches!(e, Effect::Log(_)) {
            self.logs -= 1;
        }
        Some(e)
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn log(&mut self, log: SensorLog) {
        if self.logs >= MAX_PENDING_LOGS {
            self.dropped_logs += 1;
            return;
        }
        self.logs += 1;
        self.queue.push_back(Effect::Log(log));
    }

    /// A later change to the same alarm replaces a pending one: the runtime only needs the latest.
    pub(crate) fn alarm(&mut self, change: SensorAlarmChange) {
        let pending = self.queue.iter_mut().find(|e| {
            matches!(e, Effect::Alarm(c) if c.entity() == change.entity() && same_id(c, &change))
        });
        match pending {
            Some(slot) => *slot = Effect::Alarm(change),
            None => self.queue.push_back(Effect::Alarm(change)),
        }
    }

    pub(crate) fn degrade(&mut self, set: bool) {
        let event = if set {
            HwmonEvent::DegradeSet
        } else {
            HwmonEvent::DegradeClear
        };
        let pending = self.queue.iter_mut().find(|e| {
            matches!(
                e,
                Effect::Hwmon(HwmonEvent::DegradeSet | HwmonEvent::DegradeClear)
            )
        });
        match pending {
            Some(slot) => *slot = Effect::Hwmon(event),
            None => self.queue.push_back(Effect::Hwmon(event)),
        }
    }

    /// A reset or power-cycle request; one already pending of the same kind absorbs it.
    pub(crate) fn request(&mut self, event: HwmonEvent) {
        if !self.queue.contains(&Effect::Hwmon(event)) {
            self.queue.push_back(Effect::Hwmon(event));
        }
    }

    pub(crate) fn persist(&mut self) {
        if !self.queue.contains(&Effect::PersistModel) {
            self.queue.push_back(Effect::PersistModel);
        }
    }
}

fn same_id(a: &SensorAlarmChange, b: &SensorAlarmChange) -> bool {
    let id = |c: &SensorAlarmChange| match c {
        SensorAlarmChange::Raise(a) => a.id,
        SensorAlarmChange::Clear { id, .. } => *id,
    };
    id(a) == id(b)
}
