//! # steward-simhost — simulated machines for the lab and the tests
//!
//! A [`SimHost`] plays one machine:
//!
//! ```text
//!  <dir>/volatile/        wiped at every boot (the agent's lock flag `node_locked` lives here)
//!  <dir>/persistent/      survives reboots (lock flag backup, agent state, boot record `boot.json`)
//!  <dir>/bmc.sock         the lab's control socket: faults and status, one line in, one line out
//! ```
//!
//! While it is powered, booted and not hung, the **real node agent** (`steward-node`) runs on it over
//! real UDP: a reboot aborts the agent and starts a fresh one after the boot delay, exactly as a
//! process dies with its machine. Its power sits behind a **Redfish BMC** on loopback
//! (`steward-simbmc`), so the controller reaches it as it reaches real hardware.
//!
//! Faults: [`SimHost::hang`] (stops answering, power stays on), [`SimHost::crash`] (power loss until a
//! BMC power-on), [`SimHost::heal`], [`SimHost::set_bmc_reachable`].
//!
//! `steward simhost` runs one as its own process; `steward lab` runs many in one process.

mod control;
mod host;
pub mod lab;

pub use control::{control, control_blocking, socket_path};
pub use host::{AgentState, BootRecord, InstallRecord, SimHost, SimHostConfig, Status};
