//! What the runtime hands in: one sample per sensor, already normalized from IPMI or Redfish.
//!
//! This crate does not depend on the BMC layer; the runtime maps its readings onto [`Reading`].

use serde::{Deserialize, Serialize};

/// What the BMC says a sensor measures, when it says so. Used to pick the sensor's group; a reading
/// without a useful kind is grouped by its unit and name instead.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadingKind {
    Temperature,
    Fan,
    Voltage,
    Current,
    Power,
    /// A power supply's presence/health sensor.
    PowerSupply,
    /// A state sensor without a numeric value (IPMI discrete sensors).
    Discrete,
    /// Utilisation percentages and anything the BMC did not classify.
    #[default]
    Other,
}

/// The BMC's own verdict on a sensor: the worst threshold it says is crossed, or its health word.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BmcStatus {
    Ok,
    /// A non-critical ("caution", "warning") threshold is crossed.
    NonCritical,
    Critical,
    NonRecoverable,
    /// No reading: the sensor is absent, disabled or the host is off.
    Unavailable,
    /// A status the BMC layer could not interpret, verbatim.
    Unknown(String),
}

impl BmcStatus {
    /// Parse the IPMI `sensor list` status column and the usual Redfish health words.
    pub fn parse(s: &str) -> BmcStatus {
        match s.trim().to_ascii_lowercase().as_str() {
            "ok" => BmcStatus::Ok,
            "nc" | "lnc" | "unc" | "warning" | "non-critical" => BmcStatus::NonCritical,
            "cr" | "lcr" | "ucr" | "critical" => BmcStatus::Critical,
            "nr" | "lnr" | "unr" | "nonrecoverable" | "non-recoverable" => {
                BmcStatus::NonRecoverable
            }
            "na" | "ns" | "" | "unavailable" => BmcStatus::Unavailable,
            other => BmcStatus::Unknown(other.chars().take(32).collect()),
        }
    }
}

/// Thresholds as the BMC reports them (IPMI lnr/lcr/lnc/unc/ucr/unr, Redfish Lower/Upper
/// Caution/Critical/Fatal). Informational here: the BMC's [`BmcStatus`] already accounts for them, and
/// their presence decides whether the operator's own thresholds are evaluated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BmcThresholds {
    pub lower_non_recoverable: Option<f64>,
    pub lower_critical: Option<f64>,
    pub lower_non_critical: Option<f64>,
    pub upper_non_critical: Option<f64>,
    pub upper_critical: Option<f64>,
    pub upper_non_recoverable: Option<f64>,
}

impl BmcThresholds {
    /// The same with every non-finite threshold removed (what the model keeps).
    pub fn finite(&self) -> BmcThresholds {
        let f = |t: Option<f64>| t.filter(|v| v.is_finite());
        BmcThresholds {
            lower_non_recoverable: f(self.lower_non_recoverable),
            lower_critical: f(self.lower_critical),
            lower_non_critical: f(self.lower_non_critical),
            upper_non_critical: f(self.upper_non_critical),
            upper_critical: f(self.upper_critical),
            upper_non_recoverable: f(self.upper_non_recoverable),
        }
    }

    /// True when the BMC reports at least one usable (finite) threshold.
    pub fn any(&self) -> bool {
        [
            self.lower_non_recoverable,
            self.lower_critical,
            self.lower_non_critical,
            self.upper_non_critical,
            self.upper_critical,
            self.upper_non_recoverable,
        ]
        .iter()
        .any(|t| t.is_some_and(f64::is_finite))
    }
}

/// One sensor sample from one read of the BMC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The BMC's sensor name: the sensor's identity.
    pub name: String,
    pub kind: ReadingKind,
    /// The value in `unit`; `None` for discrete or unavailable sensors. A non-finite value counts as none.
    pub value: Option<f64>,
    /// Canonical unit (`C`, `RPM`, `V`, `A`, `W`, `%`) or the BMC's own word.
    pub unit: Option<String>,
    pub status: BmcStatus,
    pub thresholds: BmcThresholds,
}

impl Reading {
    /// A reading with a value, no BMC thresholds, and the given status.
    pub fn new(name: &str, kind: ReadingKind, value: Option<f64>, status: BmcStatus) -> Reading {
        Reading {
            name: name.to_string(),
            kind,
            value,
            unit: None,
            status,
            thresholds: BmcThresholds::default(),
        }
    }

    /// The value if it is a real number.
    pub fn finite_value(&self) -> Option<f64> {
        self.value.filter(|v| v.is_finite())
    }
}
