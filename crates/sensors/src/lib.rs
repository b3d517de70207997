//! # steward-sensors — hardware sensor policy, sans-IO
//!
//! (Crate docs: see below.)

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
