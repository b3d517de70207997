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

    /// True for errors that mean wrong credentials.
    pub fn is_auth(&self) -> bool {
        matches!(self, BmcError::AuthFailed { .. })
    }
}
