//! `steward-bmc-redfish`: a thin native async Redfish client for steward's BMC access.
//!
//! It speaks just enough Redfish for node maintenance — discovery, power, boot override,
//! secure boot, sensors, virtual media — and keeps vendor differences in one data table.
//!
//! # Module map
//!
//! | module | what it holds |
//! |---|---|
//! | [`client`] | transport and session: endpoint parsing (https, or http for loopback peers), TLS choice (`insecure`), SessionService login with basic fallback, one re-login on 401, logout on [`RedfishClient::close`], `OData-Version`, ETag/If-Match PATCH, retries with backoff on 409/5xx, System/Manager/Chassis discovery |
//! | [`systems`] | `PowerState`, `ResetType`, high-level [`PowerAction`] → ResetType choice, reset, power-cycle fallback, boot override, manager info |
//! | [`sensors`] | new-style `Sensors` collection and legacy `Thermal`/`Power`, normalized to [`SensorReading`] |
//! | [`secure_boot`] | UEFI `SecureBoot` resource: read `SecureBootEnable`/`SecureBootCurrentBoot`/`SecureBootMode`, enable or disable (applies at the next reset), read-back |
//! | [`virtual_media`] | CD/DVD slot discovery, InsertMedia/EjectMedia (with PATCH fallback), read-back |
//! | [`events`] | Redfish push: EventService subscribe/unsubscribe, and [`EventReceiver`], which turns the events BMCs POST into rate-limited "read this host's sensors now" triggers |
//! | [`quirks`] | vendor quirk table keyed by manufacturer, model and firmware range |
//! | [`error`] | [`RedfishError`]: messages name the problem and the fix |
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), steward_bmc_redfish::RedfishError> {
//! use steward_bmc_redfish::{ClientConfig, PowerAction, RedfishClient};
//! let mut cfg = ClientConfig::new("https://10.0.0.5", "root", "secret");
//! cfg.insecure = true; // self-signed BMC certificate
//! let bmc = RedfishClient::connect(cfg).await?;
//! println!("{:?}", bmc.power_state().await?);
//! bmc.power(PowerAction::On).await?;
//! bmc.close().await?;
//! # Ok(()) }
//! ```
//!
//! Credentials never appear in `Debug` output or logs; no BMC reply can cause a panic.

pub mod client;
pub mod error;
pub mod events;
mod json;
pub mod quirks;
pub mod secure_boot;
pub mod sensors;
pub mod systems;
pub mod virtual_media;

pub use client::{
    AuthKind, AuthMode, ClientConfig, Credentials, RedfishClient, ServiceRoot, Topology,
};
pub use error::{RedfishError, Result};
pub use events::{EventReceiver, ReadTrigger, ReceiverConfig, ReceiverStats, Subscription};
pub use quirks::{Quirks, VmediaLocation};
pub use secure_boot::SecureBootState;
pub use sensors::{SensorKind, SensorReading, SensorSet, SensorSource, Thresholds};
pub use systems::{
    choose_reset_type, BootEnabled, BootMode, BootOverride, BootSettings, BootTarget, ManagerInfo,
    PowerAction, PowerState, ResetType, SystemInfo,
};
pub use virtual_media::VirtualMediaSlot;
