//! # steward-sensors — hardware sensor policy, sans-IO
//!
//! One [`SensorMonitor`] per host turns what the host's BMC reports about its temperatures, fans,
//! voltages, currents and power supplies into alarms, customer logs, the host's hardware degrade bit and,
//! for critical sensors, reset or power-cycle requests for the maintenance core. The behaviour is
//! described in `docs/sensors.md`; this is the short version.
//!
//! ## Shape
//!
//! As quinn-proto: no I/O, no clock, no threads. The runtime reads the BMC when
//! [`SensorMonitor::poll_timeout`] is due and hands the result in with the time:
//!
//! ```
//! use steward_maintenance::Instant;
//! use steward_sensors::{BmcStatus, Effect, MonitorConfig, Reading, ReadingKind, SensorMonitor};
//!
//! let now = Instant::from_millis(0);
//! let mut m = SensorMonitor::new("worker-1", MonitorConfig::default(), now);
//! let readings = vec![Reading::new("CPU1 Temp", ReadingKind::Temperature, Some(41.0), BmcStatus::Ok)];
//! m.handle_reading(now, &readings);     // or handle_read_failure(now, ReadFailure::All)
//! while let Some(effect) = m.poll_effect() {
//!     match effect {
//!         Effect::Alarm(_) | Effect::Log(_) => {}  // to the alarm store / event log
//!         Effect::Hwmon(_) => {}                   // Event::Hwmon for the core
//!         Effect::PersistModel => {}               // store m.model()
//!     }
//! }
//! assert!(m.poll_timeout().is_some());  // the next read, one audit interval on
//! ```
//!
//! Operator changes come in through [`SensorMonitor::handle_config`]; a restarted controller rebuilds
//! the monitor with [`SensorMonitor::restore`] from the persisted [`SensorModel`] and its stored alarms.
//!
//! ## Model
//!
//! The first good read learns every sensor (name, unit, analog or discrete, the BMC's thresholds) into
//! canned groups by kind, unit or name ([`GroupKind`]: temperature, fans, voltage, current, power,
//! usage). The model carries the operator's settings and each sensor's accepted status. It is learned
//! again on request, or when the BMC shows new sensor names on two reads in a row; settings of sensors
//! and groups still present survive.
//!
//! ## Rules
//!
//! - **Severity** from the BMC status: ok → ok, non-critical → major, critical and non-recoverable →
//!   critical, unavailable → offline, anything unrecognised → minor. Where the BMC reports no thresholds,
//!   operator [`Thresholds`] (sensor, else group) can make a reading worse.
//! - **Debounce**: a status changes only when two reads in a row agree. A single differing read is logged
//!   as a transient; changing on consecutive reads is logged once as flapping.
//! - **Missing sensor**: absent from a read → offline reading; absent three reads in a row → minor
//!   reading (both debounced).
//! - **Actions** per group and severity, overridable per sensor ([`Actions`], defaults minor `ignore`,
//!   major `log`, critical `alarm`; critical may also `reset` or `power-cycle`). Alarm 200.007 at the
//!   reading's severity for alarm/reset/power-cycle; major and critical alarms degrade the host, minor
//!   never does, and neither do `ignore` and `log`. Suppression (sensor or group) monitors but acts on
//!   nothing.
//! - **Critical requests**: at most one reset or power-cycle request per critical episode of a sensor
//!   (an episode ends when its accepted status leaves critical). With the debounce this keeps one
//!   sensor's requests at least four reads apart; the core's cool-off, hold-off and attempt limit bound
//!   the rest (the reset-storm argument is in `docs/sensors.md#critical-actions-and-reset-storms`).
//! - **Read failures**: 200.014 (`host=H.sensor=profile`, minor) while no model can be learned; 200.015
//!   (`host=H.sensorgroup=G`, major) per group whose read failed, cleared by its next good read.
//! - **Audit interval**: one per host, default 120 s, minimum 10 s.
//!
//! ## Bounds
//!
//! At most [`MAX_SENSORS`] sensors; a ring of readings per sensor ([`History`]); pending effects coalesced
//! per alarm entity and kind, customer logs capped. Malformed input (empty or duplicate names, NaN values,
//! unknown statuses, bad settings) is counted or refused with a [`ConfigError`], never a panic.

pub mod effect;
pub mod error;
pub mod history;
pub mod model;
pub mod monitor;
pub mod reading;
pub mod severity;

pub use effect::{
    AlarmSeverity, Effect, LogSeverity, SensorAlarm, SensorAlarmChange, SensorAlarmId, SensorLog,
};
pub use error::ConfigError;
pub use history::{History, Sample};
pub use model::{
    Action, ActionOverrides, Actions, DataType, GroupKind, GroupRecord, GroupState, SensorModel,
    SensorRecord, SensorState,
};
pub use monitor::{
    ConfigChange, MonitorConfig, MonitorStats, ReadFailure, SensorMonitor, DEFAULT_AUDIT_INTERVAL,
    MAX_AUDIT_INTERVAL, MAX_SENSORS, MIN_AUDIT_INTERVAL,
};
pub use reading::{BmcStatus, BmcThresholds, Reading, ReadingKind};
pub use severity::{Severity, Thresholds};
