//! Severities, how a BMC status maps onto one, and the operator's thresholds.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::ConfigError;
use crate::reading::BmcStatus;

/// A sensor's severity, as shown in its `status` field.
///
/// Ordered by badness for "worst of" merges: `Offline` < `Ok` < `Minor` < `Major` < `Critical`. An
/// offline sensor has no reading at all, so any real reading of the same name wins over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Offline,
    Ok,
    Minor,
    Major,
    Critical,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Offline => "offline",
            Severity::Ok => "ok",
            Severity::Minor => "minor",
            Severity::Major => "major",
            Severity::Critical => "critical",
        }
    }

    /// Minor, major or critical: a reading that calls for the group's action.
    pub const fn is_fault(self) -> bool {
        matches!(self, Severity::Minor | Severity::Major | Severity::Critical)
    }

    /// The severity a BMC status stands for.
    ///
    /// As in StarlingX, a crossed *non-critical* threshold is already **major**: minor is reserved for
    /// statuses nobody understands and for sensors that went missing. Non-recoverable is critical.
    pub fn from_bmc(status: &BmcStatus) -> Severity {
        match status {
            BmcStatus::Ok => Severity::Ok,
            BmcStatus::NonCritical => Severity::Major,
            BmcStatus::Critical | BmcStatus::NonRecoverable => Severity::Critical,
            BmcStatus::Unavailable => Severity::Offline,
            BmcStatus::Unknown(_) => Severity::Minor,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds an operator sets on a sensor or a group, in the sensor's unit. Evaluated only for sensors
/// whose BMC reports no thresholds of its own (see the crate docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub lower_critical: Option<f64>,
    pub lower_major: Option<f64>,
    pub lower_minor: Option<f64>,
    pub upper_minor: Option<f64>,
    pub upper_major: Option<f64>,
    pub upper_critical: Option<f64>,
}

impl Thresholds {
    pub fn is_empty(&self) -> bool {
        *self == Thresholds::default()
    }

    /// Every threshold finite, and the set ordered: lower critical ≤ lower major ≤ lower minor <
    /// upper minor ≤ upper major ≤ upper critical, for those given.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ordered = [
            ("t_critical_lower", self.lower_critical),
            ("t_major_lower", self.lower_major),
            ("t_minor_lower", self.lower_minor),
            ("t_minor_upper", self.upper_minor),
            ("t_major_upper", self.upper_major),
            ("t_critical_upper", self.upper_critical),
        ];
        let mut previous: Option<(&str, f64)> = None;
        for (i, (name, t)) in ordered.iter().enumerate() {
            let Some(t) = *t else { continue };
            if !t.is_finite() {
                return Err(ConfigError::Threshold(format!("{name} is not a number")));
            }
            if let Some((pname, p)) = previous {
                // Lower and upper bounds may not meet: a value cannot be both too low and too high.
                let strict = i >= 3 && ordered[..3].iter().any(|(n, _)| *n == pname);
                if t < p || (strict && t <= p) {
                    return Err(ConfigError::Threshold(format!(
                        "{name} ({t}) must be above {pname} ({p})"
                    )));
                }
            }
            previous = Some((name, t));
        }
        Ok(())
    }

    /// The severity `value` reaches against these thresholds: at or beyond a bound counts.
    pub fn classify(&self, value: f64) -> Severity {
        let above = |t: Option<f64>| t.is_some_and(|t| value >= t);
        let below = |t: Option<f64>| t.is_some_and(|t| value <= t);
        if above(self.upper_critical) || below(self.lower_critical) {
            Severity::Critical
        } else if above(self.upper_major) || below(self.lower_major) {
            Severity::Major
        } else if above(self.upper_minor) || below(self.lower_minor) {
            Severity::Minor
        } else {
            Severity::Ok
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bmc_status_maps_like_starlingx() {
        assert_eq!(Severity::from_bmc(&BmcStatus::Ok), Severity::Ok);
        assert_eq!(Severity::from_bmc(&BmcStatus::NonCritical), Severity::Major);
        assert_eq!(Severity::from_bmc(&BmcStatus::Critical), Severity::Critical);
        assert_eq!(
            Severity::from_bmc(&BmcStatus::NonRecoverable),
            Severity::Critical
        );
        assert_eq!(
            Severity::from_bmc(&BmcStatus::Unavailable),
            Severity::Offline
        );
        assert_eq!(
            Severity::from_bmc(&BmcStatus::Unknown("0x0280".into())),
            Severity::Minor
        );
        assert_eq!(BmcStatus::parse("ucr"), BmcStatus::Critical);
        assert_eq!(BmcStatus::parse(" ns "), BmcStatus::Unavailable);
        assert_eq!(BmcStatus::parse("lnc"), BmcStatus::NonCritical);
    }

    #[test]
    fn thresholds_classify_and_validate() {
        let t = Thresholds {
            lower_critical: Some(5.0),
            upper_minor: Some(70.0),
            upper_major: Some(80.0),
            upper_critical: Some(90.0),
            ..Thresholds::default()
        };
        t.validate().unwrap();
        assert_eq!(t.classify(50.0), Severity::Ok);
        assert_eq!(t.classify(70.0), Severity::Minor);
        assert_eq!(t.classify(85.0), Severity::Major);
        assert_eq!(t.classify(95.0), Severity::Critical);
        assert_eq!(t.classify(1.0), Severity::Critical);

        let unordered = Thresholds {
            upper_major: Some(90.0),
            upper_critical: Some(80.0),
            ..Thresholds::default()
        };
        assert!(unordered.validate().is_err());
        let meeting = Thresholds {
            lower_minor: Some(10.0),
            upper_minor: Some(10.0),
            ..Thresholds::default()
        };
        assert!(meeting.validate().is_err());
        let nan = Thresholds {
            upper_minor: Some(f64::NAN),
            ..Thresholds::default()
        };
        assert!(nan.validate().is_err());
    }
}
