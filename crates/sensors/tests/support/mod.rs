//! A small rig around `SensorMonitor`: reads at the audit interval, drains every effect, and keeps
//! the runtime's view (active alarms, degrade bit, requests, logs) to assert on.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use steward_maintenance::{HwmonEvent, Instant};
use steward_sensors::{
    AlarmSeverity, BmcStatus, Effect, MonitorConfig, ReadFailure, Reading, ReadingKind,
    SensorAlarmChange, SensorAlarmId, SensorLog, SensorMonitor,
};

pub const HOST: &str = "worker-1";

pub fn temp(name: &str, value: f64, status: BmcStatus) -> Reading {
    let mut r = Reading::new(name, ReadingKind::Temperature, Some(value), status);
    r.unit = Some("C".into());
    r
}

pub fn fan(name: &str, rpm: f64, status: BmcStatus) -> Reading {
    let mut r = Reading::new(name, ReadingKind::Fan, Some(rpm), status);
    r.unit = Some("RPM".into());
    r
}

/// A small server: two temperatures, two fans, a voltage and a power supply, all ok.
pub fn healthy() -> Vec<Reading> {
    let mut v = vec![
        temp("CPU1 Temp", 45.0, BmcStatus::Ok),
        temp("Inlet Temp", 22.0, BmcStatus::Ok),
        fan("FAN1", 5400.0, BmcStatus::Ok),
        fan("FAN2", 5300.0, BmcStatus::Ok),
    ];
    let mut volt = Reading::new("12V", ReadingKind::Voltage, Some(12.1), BmcStatus::Ok);
    volt.unit = Some("V".into());
    v.push(volt);
    v.push(Reading::new(
        "PSU1 Status",
        ReadingKind::Discrete,
        None,
        BmcStatus::Ok,
    ));
    v
}

/// `healthy()` with one sensor's status replaced.
pub fn with(name: &str, status: BmcStatus) -> Vec<Reading> {
    healthy()
        .into_iter()
        .map(|mut r| {
            if r.name == name {
                r.status = status.clone();
            }
            r
        })
        .collect()
}

/// `healthy()` without one sensor.
pub fn without(name: &str) -> Vec<Reading> {
    healthy().into_iter().filter(|r| r.name != name).collect()
}

pub struct Rig {
    pub m: SensorMonitor,
    pub now: Instant,
    /// The runtime's alarm table: (id, entity) → severity.
    pub alarms: BTreeMap<(SensorAlarmId, String), AlarmSeverity>,
    pub raises: Vec<(SensorAlarmId, String, AlarmSeverity)>,
    pub clears: Vec<(SensorAlarmId, String)>,
    pub degraded: bool,
    pub degrade_events: Vec<bool>,
    pub requests: Vec<HwmonEvent>,
    pub logs: Vec<SensorLog>,
    pub persists: usize,
}

impl Rig {
    pub fn new() -> Rig {
        Rig::with_config(MonitorConfig::default())
    }

    pub fn with_config(cfg: MonitorConfig) -> Rig {
        let now = Instant::from_millis(1_000);
        Rig::from_monitor(SensorMonitor::new(HOST, cfg, now), now)
    }

    pub fn from_monitor(m: SensorMonitor, now: Instant) -> Rig {
        let mut rig = Rig {
            m,
            now,
            alarms: BTreeMap::new(),
            raises: vec![],
            clears: vec![],
            degraded: false,
            degrade_events: vec![],
            requests: vec![],
            logs: vec![],
            persists: 0,
        };
        rig.drain();
        rig
    }

    /// Advance to the next due read and hand in `readings`.
    pub fn read(&mut self, readings: &[Reading]) {
        self.advance_to_due();
        self.m.handle_reading(self.now, readings);
        self.drain();
    }

    pub fn fail(&mut self, failure: ReadFailure) {
        if failure == ReadFailure::All {
            self.advance_to_due();
        }
        self.m.handle_read_failure(self.now, failure);
        self.drain();
    }

    pub fn advance_to_due(&mut self) {
        if let Some(due) = self.m.poll_timeout() {
            if due > self.now {
                self.now = due;
            }
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
    }

    pub fn drain(&mut self) {
        while let Some(e) = self.m.poll_effect() {
            match e {
                Effect::Alarm(SensorAlarmChange::Raise(a)) => {
                    self.alarms.insert((a.id, a.entity.clone()), a.severity);
                    self.raises.push((a.id, a.entity, a.severity));
                }
                Effect::Alarm(SensorAlarmChange::Clear { id, entity, .. }) => {
                    self.alarms.remove(&(id, entity.clone()));
                    self.clears.push((id, entity));
                }
                Effect::Hwmon(HwmonEvent::DegradeSet) => {
                    self.degraded = true;
                    self.degrade_events.push(true);
                }
                Effect::Hwmon(HwmonEvent::DegradeClear) => {
                    self.degraded = false;
                    self.degrade_events.push(false);
                }
                Effect::Hwmon(req) => self.requests.push(req),
                Effect::Log(l) => self.logs.push(l),
                Effect::PersistModel => self.persists += 1,
            }
        }
    }

    pub fn sensor_alarm(&self, name: &str) -> Option<AlarmSeverity> {
        self.alarms
            .get(&(SensorAlarmId::OutOfTolerance, entity(name)))
            .copied()
    }

    pub fn logs_containing(&self, text: &str) -> usize {
        self.logs.iter().filter(|l| l.text.contains(text)).count()
    }

    pub fn take_logs(&mut self) -> Vec<SensorLog> {
        std::mem::take(&mut self.logs)
    }
}

pub fn entity(name: &str) -> String {
    format!("host={HOST}.sensor={name}")
}

/// A rig that has learned `healthy()` and read it twice (everything ok and enabled).
pub fn learned() -> Rig {
    let mut rig = Rig::new();
    rig.read(&healthy());
    rig.read(&healthy());
    rig
}
