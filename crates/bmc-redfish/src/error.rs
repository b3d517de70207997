//! Typed errors. Every message names the problem and, where there is one, the fix,
//! because these strings end up in operator-facing alarms and CLI output.

use std::time::Duration;

/// Everything that can go wrong talking to a Redfish BMC.
#[derive(Debug, thiserror::Error)]
pub enum RedfishError {
    /// The BMC rejected the credentials (401/403 on login or on a request after one re-login).
    #[error(
        "authentication to BMC at {url} failed (HTTP {status}): check bm_username/bm_password"
    )]
    AuthFailed { url: String, status: u16 },

    /// TCP connect failed, connection reset, DNS failure and the like.
    #[error("BMC at {url} is unreachable ({detail}): check bm_ip, the network path and that the BMC's Redfish service is enabled")]
    Unreachable { url: String, detail: String },

    /// The TLS handshake failed, most often a self-signed BMC certificate.
    #[error("TLS handshake with BMC at {url} failed ({detail}): if the BMC uses a self-signed certificate, use --insecure")]
    Tls { url: String, detail: String },

    /// A request did not complete within the configured timeout.
    #[error("request {method} {url} timed out after {timeout:?}: the BMC may be busy; raise the request timeout or retry later")]
    Timeout {
        method: String,
        url: String,
        timeout: Duration,
    },

    /// The BMC does not offer the requested value for an action or property.
    #[error("{what} '{requested}' is not supported by this BMC; allowed values: [{}]", allowed.join(", "))]
    Unsupported {
        what: String,
        requested: String,
        allowed: Vec<String>,
    },

    /// PowerCycle is not among the allowed ResetType values; the caller should sequence off + on itself.
    #[error("power cycle is not supported by this BMC (allowed ResetType values: [{}]): use power off followed by power on", allowed.join(", "))]
    PowerCycleUnsupported { allowed: Vec<String> },

    /// A resource the operation needs is absent (no Systems member, no CD virtual media slot, ...).
    #[error("{what} not found at {url}")]
    NotFound { what: String, url: String },

    /// The BMC answered with JSON we cannot interpret.
    #[error("unexpected JSON from {url}: {detail}")]
    UnexpectedShape { url: String, detail: String },

    /// Any other non-success HTTP status (after retries, where retries apply).
    #[error("{method} {url} failed with HTTP {status}: {message}")]
    Http {
        method: String,
        url: String,
        status: u16,
        message: String,
    },

    /// The configured address is unusable.
    #[error("invalid BMC address '{address}': {detail}")]
    InvalidAddress { address: String, detail: String },

    /// Something was read back after a change and did not match.
    /// `bmc` is the BMC's base URL, so a fleet-wide log line says which BMC misbehaved.
    #[error("BMC at {bmc} did not apply the change: {detail}")]
    NotApplied { bmc: String, detail: String },

    /// Waiting for a state (e.g. a power state) ran out of time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    WaitTimeout { what: String, timeout: Duration },

    /// The HTTP client could not be built (bad TLS configuration and the like).
    #[error("cannot build HTTP client: {0}")]
    Client(String),
}

impl RedfishError {
    /// True for errors a caller may reasonably retry later (BMC busy or unreachable).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::Timeout { .. } | Self::WaitTimeout { .. } => true,
            Self::Http { status, .. } => *status == 409 || *status >= 500,
            _ => false,
        }
    }
}

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, RedfishError>;
