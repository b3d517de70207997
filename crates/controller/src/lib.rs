//! # steward-controller — the maintenance controller runtime
//!
//! Drives the sans-IO core (`steward-maintenance`) with real time and real inputs:
//!
//! ```text
//!  ControllerHandle ──(commands)──►┐
//!  links (node, BMC, heartbeat) ──(events)──► actor: core.handle_*(now, …)
//!                                  │          └─► effects ─► 1. one store txn (hosts, alarms, events,
//!                                  │                            journal, next action id) — write-ahead
//!                                  │                        ─► 2. Send / Bmc / Heartbeat / Swact to links
//!  tokio::time::sleep_until(core.poll_timeout()) ─► core.handle_timeout(now)
//! ```
//!
//! Everything the core decides is persisted before anything is done about it, so a controller killed at
//! any instant restarts into the same state (`Maintenance::restore` from the store) and resumes the
//! interrupted action.
//!
//! Module map: [`handle`] (the API the REST server and CLI use), [`feed`] (numbered committed
//! changes with a replay buffer, for the live stream), [`links`] (how effects reach nodes,
//! BMCs and heartbeat), [`bmc_workers`] (the real BMC link over `steward-bmc`), `actor` (the loop), `persist` (effects to store writes),
//! [`sensor_audit`] (per-host sensor reads, alarms 200.007/014/015, hardware-monitor events for the
//! core), `sensor_handle` (the sensor API of the handle), `secure_boot` (secure boot through the host's BMC, and the state last read) and [`telemetry`] (heartbeat, recovery and
//! BMC figures for `/metrics`).

mod actor;
pub mod bmc_workers;
pub mod feed;
pub mod handle;
pub mod links;
mod persist;
mod secure_boot;
pub mod sensor_audit;
mod sensor_handle;
pub mod telemetry;

pub use actor::{spawn, spawn_with_events, ControllerConfig, StartError};
pub use handle::{ActionStatus, ControllerHandle, HandleError, HostEntry, NodeSettingsPatch};
pub use links::{EventSender, Links};
pub use secure_boot::SecureBootSeen;
pub use sensor_audit::{SensorAuditConfig, SensorReplies, SensorReply};
pub use sensor_handle::{GroupPatch, GroupView, HostSensorsView, SensorPatch, SensorView};
