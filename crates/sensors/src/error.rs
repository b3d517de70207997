//! Typed errors for operator configuration.

use thiserror::Error;

/// Why a configuration change was refused. The text is meant for the operator (the API answers 400 or 404
/// with it).
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("no sensor named '{0}' on this host")]
    UnknownSensor(String),
    #[error("no sensor group '{0}' on this host")]
    UnknownGroup(String),
    #[error(
        "invalid action '{0}': use ignore, log or alarm (and reset or power-cycle for critical)"
    )]
    InvalidAction(String),
    #[error("action '{action}' is not allowed for {severity} readings: only critical readings may reset or power-cycle the host")]
    ActionNotAllowed {
        action: &'static str,
        severity: &'static str,
    },
    #[error("action '{0}' is not offered on this system (a simplex system has no other host to keep it in service)")]
    DestructiveDisabled(&'static str),
    #[error("audit interval {0} s is too frequent: the minimum is {1} s")]
    IntervalTooShort(u64, u64),
    #[error("audit interval {0} s is too long: the maximum is {1} s")]
    IntervalTooLong(u64, u64),
    #[error("invalid thresholds: {0}")]
    Threshold(String),
}
