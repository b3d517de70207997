//! # steward-simhost — simulated machines for the lab and the tests
//!
//! A [`SimHost`] plays one machine as a set of tokio tasks:
//!
//! ```text
//!  <dir>/volatile/        wiped at every boot (lock flag `node_locked` lives here)
//!  <dir>/persistent/      survives reboots (lock flag backup `node_locked`, boot record `boot.json`)
//!  <dir>/bmc.sock         the simulated BMC's control socket: one line in, one line out
//! ```
//!
//! Power is driven by its simulated BMC (in process: [`SimHost::power_on`] and friends; from another
//! process: the control socket, see [`control`]). While powered and booted, a minimal in-process node
//! agent speaks the core's message set: an alive report every `alive_period`, acks, reboot, wipe, the lock
//! flags, go-enabled tests and service stops.
//!
//! Faults: [`SimHost::hang`] (stops answering, power stays on), [`SimHost::crash`] (power loss until a
//! BMC power-on), [`SimHost::heal`].
//!
//! A [`SimCluster`] holds many hosts and implements the controller's links (`NodeLink`, `BmcLink`,
//! `HeartbeatLink`, `SwactLink`), so a `steward-controller` can drive them in process.

mod cluster;
mod control;
mod host;

pub use cluster::SimCluster;
pub use control::{control, control_blocking, socket_path};
pub use host::{AgentState, BootRecord, SimHost, SimHostConfig, Status};
