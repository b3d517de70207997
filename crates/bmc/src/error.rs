//! Typed errors. Messages name the problem and the fix: they reach operators via
//! alarms and the CLI. They never contain credentials.

use std::time::Duration;

use steward_bmc_ipmi::IpmiError;
use steward_bmc_redfish::RedfishError;

use crate::types::{BmcProtocol, PowerState};

#[derive(Debug, thiserror::Error)]
pub enum BmcError {
    #[error("authentication to the BMC at {address} ({protocol}) failed: {detail}; check the username and password")]
    AuthFailed {
        address: String,
        protocol: BmcProtocol,
        detail: String,
    },

    #[error("the BMC at {address} ({protocol}) is unreachable: {detail}; check the address and port; is the BMC powered?")]
    Unreachable {
        address: String,
        protocol: BmcProtocol,
        detail: String,
    },

    #[error("{what} is not supported by this BMC ({protocol}){}", hint.as_deref().map(|h| format!(": {h}")).unwrap_or_default())]
    Unsupported {
        what: String,
        protocol: BmcProtocol,
        hint: Option<String>,
    },

    #[error("power {action}: the BMC did not read back '{target}' within {waited:?} (last state seen: {}); the host may be slow to change state, retry or raise the power timeout", last.as_ref().map(|s| s.to_string()).unwrap_or_else(|| "none".into()))]
    PowerTimeout {
        action: String,
        target: PowerState,
        last: Option<PowerState>,
        waited: Duration,
    },

    #[error("invalid BMC configuration: {0}")]
    InvalidConfig(String),

    #[error("IPMI operation failed: {0}")]
    Ipmi(IpmiError),

    #[error("Redfish operation failed: {0}")]
    Redfish(RedfishError),

    #[error("the BMC scheduler is shut down; no more operations are accepted")]
    SchedulerClosed,

    /// Redfish over HTTPS reached a port that answers plain HTTP: the TLS handshake
    /// cannot succeed, and the fix is the `http://` address.
    #[error("TLS handshake with the BMC at {address} failed: the port answers plain HTTP, not HTTPS (a plain-HTTP Redfish service?); use the address {http_address}, e.g. --address {http_address}")]
    PlainHttp {
        address: String,
        http_address: String,
    },

    /// `--protocol dynamic` found no protocol that works: why each attempt failed,
    /// and the most likely fix.
    #[error("no protocol worked for the BMC at {address} (--protocol dynamic tried each in turn): {}; fix: {fix}", attempts_text(.attempts))]
    NoProtocol {
        address: String,
        attempts: Vec<ProtocolAttempt>,
        fix: String,
    },
}

/// One protocol tried by `--protocol dynamic`, and why it was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolAttempt {
    pub protocol: BmcProtocol,
    /// Where it was tried: `https://10.0.0.5:8000`, `UDP 10.0.0.5:623`.
    pub endpoint: String,
    pub why: String,
}

impl std::fmt::Display for ProtocolAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.protocol {
            BmcProtocol::Redfish => "Redfish over",
            BmcProtocol::Ipmi => "IPMI (RMCP+) on",
            BmcProtocol::Dynamic => "dynamic at",
        };
        write!(f, "{name} {}: {}", self.endpoint, self.why)
    }
}

fn attempts_text(a: &[ProtocolAttempt]) -> String {
    a.iter()
        .enumerate()
        .map(|(i, a)| format!("({}) {a}", i + 1))
        .collect::<Vec<_>>()
        .join("; ")
}

pub type Result<T, E = BmcError> = std::result::Result<T, E>;

impl BmcError {
    pub(crate) fn from_ipmi(address: &str, e: IpmiError) -> BmcError {
        let protocol = BmcProtocol::Ipmi;
        match e {
            IpmiError::Auth(_) => BmcError::AuthFailed {
                address: address.into(),
                protocol,
                detail: e.to_string(),
            },
            IpmiError::SessionRejected(s) if matches!(s.0, 0x0D | 0x09 | 0x0A) => {
                BmcError::AuthFailed {
                    address: address.into(),
                    protocol,
                    detail: e.to_string(),
                }
            }
            IpmiError::Timeout { .. } | IpmiError::Io(_) => BmcError::Unreachable {
                address: address.into(),
                protocol,
                detail: e.to_string(),
            },
            IpmiError::NoCipherSuite { .. }
            | IpmiError::AlgorithmsRefused { .. }
            | IpmiError::NoIpmi20 => BmcError::Unsupported {
                what: "IPMI 2.0 lanplus with cipher suite 3 or 17".into(),
                protocol,
                hint: Some(format!("{e}; try --protocol redfish")),
            },
            other => BmcError::Ipmi(other),
        }
    }

    pub(crate) fn from_redfish(address: &str, e: RedfishError) -> BmcError {
        let protocol = BmcProtocol::Redfish;
        match e {
            RedfishError::AuthFailed { .. } => BmcError::AuthFailed {
                address: address.into(),
                protocol,
                detail: e.to_string(),
            },
            RedfishError::Unreachable { .. } => BmcError::Unreachable {
                address: address.into(),
                protocol,
                detail: e.to_string(),
            },
            RedfishError::Unsupported { .. } | RedfishError::PowerCycleUnsupported { .. } => {
                BmcError::Unsupported {
                    what: "the requested operation".into(),
                    protocol,
                    hint: Some(e.to_string()),
                }
            }
            other => BmcError::Redfish(other),
        }
    }

    /// The cause without the address and generic advice, for lists of attempts.
    pub(crate) fn short_detail(&self) -> String {
        match self {
            BmcError::Unreachable { detail, .. } | BmcError::AuthFailed { detail, .. } => {
                detail.clone()
            }
            BmcError::Unsupported { what, hint, .. } => match hint {
                Some(h) => format!("{what} not supported: {h}"),
                None => format!("{what} not supported"),
            },
            // The fix is stated once, after the list of attempts.
            BmcError::PlainHttp { .. } => {
                "TLS handshake failed: the port answers plain HTTP, not HTTPS \
                 (a plain-HTTP Redfish service?)"
                    .into()
            }
            other => other.to_string(),
        }
    }

    /// True for errors that mean wrong credentials.
    pub fn is_auth(&self) -> bool {
        matches!(self, BmcError::AuthFailed { .. })
    }
}
