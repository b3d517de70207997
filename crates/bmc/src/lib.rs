//! # steward-bmc
//!
//! One [`Bmc`] interface over the two native clients, `steward-bmc-ipmi` and
//! `steward-bmc-redfish` (docs/bmc.md).
//!
//! - [`BmcProtocol::Dynamic`] learns Redfish when the service root answers with
//!   `RedfishVersion` ≥ 1.0, else IPMI, and remembers the result
//!   ([`Bmc::protocol`]); callers persist it like StarlingX's `mtce_info.bmc_protocol`.
//!   When neither protocol works, [`BmcError::NoProtocol`] lists why each attempt
//!   failed and the likely fix (e.g. `http://ADDR` for a plain-HTTP Redfish service).
//! - [`Bmc::power`] returns only once the BMC **reads back** the target state
//!   (poll interval and timeout in [`BmcConfig`]); power cycle falls back to
//!   off + on when the BMC cannot cycle.
//! - [`Bmc::secure_boot`] / [`Bmc::set_secure_boot`]: UEFI secure boot through Redfish's
//!   `SecureBoot` resource (a change applies at the next reset); IPMI answers `Unsupported`.
//! - Sensors from either protocol are normalized to one [`SensorReading`].
//! - [`scheduler`]: per-BMC serialized, spaced operations, power actions ahead of
//!   audits, a global concurrency bound, results through oneshot channels.
//!
//! Credentials never appear in `Debug` output or logs.

mod bmc;
mod error;
pub mod scheduler;
mod secure_boot;
mod types;

pub use bmc::{Bmc, BmcConfig, BootOverrideState, VirtualMediaStatus};
pub use error::{BmcError, ProtocolAttempt, Result};
pub use secure_boot::SecureBoot;
/// Redfish push (EventService subscriptions and the receiver BMCs POST to), for the controller.
pub use steward_bmc_redfish::events;
pub use types::{
    parse_address, BmcAddress, BmcInfo, BmcProtocol, BootTarget, PowerAction, PowerState,
    SelRecord, SensorKind, SensorReading, SensorStatus, Thresholds,
};
