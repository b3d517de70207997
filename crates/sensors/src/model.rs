//! The sensor and group model: canned groups, actions, and the records that are persisted.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::ConfigError;
use crate::reading::{BmcThresholds, Reading, ReadingKind};
use crate::severity::{Severity, Thresholds};

/// The canned sensor groups. A host has at most one group of each kind, created when the first read
/// shows a sensor of that kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    Temperature,
    Fan,
    Voltage,
    Current,
    Power,
    Usage,
}

impl GroupKind {
    pub const ALL: [GroupKind; 6] = [
        GroupKind::Temperature,
        GroupKind::Fan,
        GroupKind::Voltage,
        GroupKind::Current,
        GroupKind::Power,
        GroupKind::Usage,
    ];

    /// The group's name (`sensorgroupname`), as operators know it from StarlingX.
    pub const fn name(self) -> &'static str {
        match self {
            GroupKind::Temperature => "server temperature",
            GroupKind::Fan => "server fans",
            GroupKind::Voltage => "server voltage",
            GroupKind::Current => "server current",
            GroupKind::Power => "server power",
            GroupKind::Usage => "server usage",
        }
    }

    /// The `sensortype` of the group and of its sensors.
    pub const fn sensor_type(self) -> &'static str {
        match self {
            GroupKind::Temperature => "temperature",
            GroupKind::Fan => "fan",
            GroupKind::Voltage => "voltage",
            GroupKind::Current => "current",
            GroupKind::Power => "power",
            GroupKind::Usage => "usage",
        }
    }

    /// By group name or sensor type (`server fans` or `fan`).
    pub fn from_name(s: &str) -> Option<GroupKind> {
        let t = s.trim().to_ascii_lowercase();
        GroupKind::ALL
            .into_iter()
            .find(|g| g.name() == t || g.sensor_type() == t)
    }

    /// Which group a reading belongs to: the BMC's kind when it gives a specific one, else the unit,
    /// else words in the name; anything left over is "usage" (utilisation and unclassified sensors).
    pub fn classify(reading: &Reading) -> GroupKind {
        match reading.kind {
            ReadingKind::Temperature => return GroupKind::Temperature,
            ReadingKind::Fan => return GroupKind::Fan,
            ReadingKind::Voltage => return GroupKind::Voltage,
            ReadingKind::Current => return GroupKind::Current,
            ReadingKind::Power | ReadingKind::PowerSupply => return GroupKind::Power,
            ReadingKind::Discrete | ReadingKind::Other => {}
        }
        let unit = reading
            .unit
            .as_deref()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match unit.as_str() {
            "c" | "f" | "degrees c" | "degrees f" | "cel" => return GroupKind::Temperature,
            "rpm" | "cfm" | "% rpm" | "% cfm" => return GroupKind::Fan,
            "v" | "volts" => return GroupKind::Voltage,
            "a" | "amps" => return GroupKind::Current,
            "w" | "watts" | "j" | "joules" => return GroupKind::Power,
            _ => {}
        }
        let name = reading.name.to_ascii_lowercase();
        let has = |w: &str| name.contains(w);
        if has("psu") || has("power supply") || has("redundancy") || has("pwr") {
            GroupKind::Power
        } else if has("thermal") || has("temp") {
            GroupKind::Temperature
        } else if has("fan") {
            GroupKind::Fan
        } else {
            GroupKind::Usage
        }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What to do about a sensor at a given severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Keep the status, do nothing else.
    Ignore,
    /// A customer log (200.007) once per episode, no alarm, no degrade.
    Log,
    /// Alarm 200.007 at the reading's severity; major and critical also degrade the host.
    Alarm,
    /// Critical only: alarm, degrade, and ask the core to reset the host.
    Reset,
    /// Critical only: alarm, degrade, and ask the core to power-cycle the host.
    PowerCycle,
}

impl Action {
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Ignore => "ignore",
            Action::Log => "log",
            Action::Alarm => "alarm",
            Action::Reset => "reset",
            Action::PowerCycle => "power-cycle",
        }
    }

    pub const fn is_destructive(self) -> bool {
        matches!(self, Action::Reset | Action::PowerCycle)
    }

    /// True when the action raises the alarm (and so, for major and critical, degrades).
    pub const fn alarms(self) -> bool {
        matches!(self, Action::Alarm | Action::Reset | Action::PowerCycle)
    }
}

impl FromStr for Action {
    type Err = ConfigError;
    /// Case-insensitive; both `power-cycle` and the API reference's `powercycle` are accepted.
    fn from_str(s: &str) -> Result<Action, ConfigError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ignore" => Ok(Action::Ignore),
            "log" => Ok(Action::Log),
            "alarm" => Ok(Action::Alarm),
            "reset" => Ok(Action::Reset),
            "power-cycle" | "powercycle" => Ok(Action::PowerCycle),
            _ => Err(ConfigError::InvalidAction(s.chars().take(32).collect())),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The action per fault severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actions {
    pub minor: Action,
    pub major: Action,
    pub critical: Action,
}

impl Default for Actions {
    /// StarlingX's defaults: minor ignored, major logged, critical alarmed.
    fn default() -> Self {
        Actions {
            minor: Action::Ignore,
            major: Action::Log,
            critical: Action::Alarm,
        }
    }
}

impl Actions {
    /// The action for a fault severity; `None` for ok and offline.
    pub fn for_severity(&self, s: Severity) -> Option<Action> {
        match s {
            Severity::Minor => Some(self.minor),
            Severity::Major => Some(self.major),
            Severity::Critical => Some(self.critical),
            Severity::Ok | Severity::Offline => None,
        }
    }
}

/// Per-sensor overrides of its group's actions; `None` follows the group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionOverrides {
    pub minor: Option<Action>,
    pub major: Option<Action>,
    pub critical: Option<Action>,
}

impl ActionOverrides {
    pub fn apply(&self, group: &Actions) -> Actions {
        Actions {
            minor: self.minor.unwrap_or(group.minor),
            major: self.major.unwrap_or(group.major),
            critical: self.critical.unwrap_or(group.critical),
        }
    }
}

/// Check that each action is allowed at its severity (reset and power-cycle only for critical, and only
/// where the system offers them).
pub(crate) fn check_actions(
    minor: Option<Action>,
    major: Option<Action>,
    critical: Option<Action>,
    destructive_allowed: bool,
) -> Result<(), ConfigError> {
    for (a, severity) in [(minor, "minor"), (major, "major")] {
        if let Some(a) = a.filter(|a| a.is_destructive()) {
            return Err(ConfigError::ActionNotAllowed {
                action: a.as_str(),
                severity,
            });
        }
    }
    if let Some(a) = critical.filter(|a| a.is_destructive()) {
        if !destructive_allowed {
            return Err(ConfigError::DestructiveDisabled(a.as_str()));
        }
    }
    Ok(())
}

/// A group's state, as the API shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupState {
    /// Learned, not read yet.
    #[default]
    Disabled,
    /// The last read of the group succeeded.
    Enabled,
    /// The last read of the group failed (alarm 200.015).
    Failed,
}

/// A sensor's state, as the API shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorState {
    #[default]
    Disabled,
    /// Present in the last read.
    Enabled,
    /// Missing from the last read.
    Offline,
}

/// `analog` for sensors with a numeric value, `discrete` for state sensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    Analog,
    Discrete,
}

/// A group as persisted and shown: identity plus the operator's configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub kind: GroupKind,
    pub state: GroupState,
    pub suppress: bool,
    pub actions: Actions,
    /// Default operator thresholds for member sensors that have none of their own.
    pub thresholds: Thresholds,
}

impl GroupRecord {
    pub fn new(kind: GroupKind) -> GroupRecord {
        GroupRecord {
            kind,
            state: GroupState::Disabled,
            suppress: false,
            actions: Actions::default(),
            thresholds: Thresholds::default(),
        }
    }
}

/// A sensor as persisted and shown: what was learned, the operator's configuration and the last
/// accepted status (restored at start so a restart does not flap alarms).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensorRecord {
    pub name: String,
    pub group: GroupKind,
    pub datatype: DataType,
    pub unit: Option<String>,
    /// The BMC's thresholds as last learned (shown, not evaluated).
    pub bmc_thresholds: BmcThresholds,
    pub state: SensorState,
    /// The accepted (debounced) severity.
    pub status: Severity,
    pub suppress: bool,
    pub action_overrides: ActionOverrides,
    /// Operator thresholds; evaluated only while the BMC reports none for this sensor.
    pub thresholds: Thresholds,
}

/// The whole model of one host: what the runtime persists and restores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensorModel {
    /// `audit_interval_group`: one value for every group of the host, seconds.
    pub audit_interval_secs: u64,
    pub groups: Vec<GroupRecord>,
    pub sensors: Vec<SensorRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::BmcStatus;

    fn r(name: &str, kind: ReadingKind, unit: Option<&str>) -> Reading {
        let mut r = Reading::new(name, kind, Some(1.0), BmcStatus::Ok);
        r.unit = unit.map(str::to_string);
        r
    }

    #[test]
    fn readings_fall_into_canned_groups() {
        use GroupKind::*;
        assert_eq!(
            GroupKind::classify(&r("CPU Temp", ReadingKind::Temperature, None)),
            Temperature
        );
        assert_eq!(
            GroupKind::classify(&r("x", ReadingKind::Other, Some("RPM"))),
            Fan
        );
        assert_eq!(
            GroupKind::classify(&r("x", ReadingKind::Other, Some("V"))),
            Voltage
        );
        assert_eq!(
            GroupKind::classify(&r("PSU1 Status", ReadingKind::Discrete, None)),
            Power
        );
        assert_eq!(
            GroupKind::classify(&r("PS2", ReadingKind::PowerSupply, None)),
            Power
        );
        assert_eq!(
            GroupKind::classify(&r("MB Thermal Trip", ReadingKind::Discrete, None)),
            Temperature
        );
        assert_eq!(
            GroupKind::classify(&r("CPU Usage", ReadingKind::Other, Some("%"))),
            Usage
        );
        assert_eq!(GroupKind::from_name("server fans"), Some(Fan));
        assert_eq!(GroupKind::from_name("fan"), Some(Fan));
    }

    #[test]
    fn actions_parse_and_check() {
        assert_eq!("PowerCycle".parse::<Action>(), Ok(Action::PowerCycle));
        assert_eq!("power-cycle".parse::<Action>(), Ok(Action::PowerCycle));
        assert!("explode".parse::<Action>().is_err());
        assert!(check_actions(Some(Action::Reset), None, None, true).is_err());
        assert!(check_actions(None, Some(Action::PowerCycle), None, true).is_err());
        assert!(check_actions(None, None, Some(Action::Reset), true).is_ok());
        assert_eq!(
            check_actions(None, None, Some(Action::Reset), false),
            Err(ConfigError::DestructiveDisabled("reset"))
        );
        let d = Actions::default();
        assert_eq!(
            (d.minor, d.major, d.critical),
            (Action::Ignore, Action::Log, Action::Alarm)
        );
    }
}
