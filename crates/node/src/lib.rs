//! # steward-node — the node agent daemon (`steward node`, or the `steward-node` binary)
//!
//! The thin tokio driver around the sans-IO [`steward_agent::Agent`]: it owns the sockets, the
//! clock, the files and the child processes, and carries out the agent's effects in order.
//!
//! ```text
//!   UDP mgmt ─┐                          ┌─► seal (Sealer) ─► UDP to each controller
//!   UDP clstr ┴► Verifier::accept ─► Agent ├─► lock flag files, node-state.json
//!   timer (alive 5 s, audit 1 s) ───►      ├─► scripts (goenabled.d, services.d)
//!   script results ─────────────────►      └─► Machine::reboot / wipe_disk / inventory
//! ```
//!
//! - One UDP socket per network, bound to the configured address; the [`steward_protocol::Verifier`]
//!   accepts controller frames only from the configured controllers' IPs on that network. Every
//!   datagram that fails verification is dropped, counted ([`NodeStats`]) and logged
//!   rate-limited; nothing a peer sends can stop the loop.
//! - `<state_dir>/node-state.json` (non-volatile, written atomically) keeps the session
//!   high-water mark (a restarted agent signs with a greater session, chosen with
//!   [`steward_protocol::next_session`] and persisted before the first frame), the admin state
//!   the controller last confirmed, and the highest controller epoch accepted.
//! - Aborting the agent at any point is safe: every file is written atomically or is an empty
//!   flag, and scripts are killed with the task (`kill_on_drop`). A simulated machine "reboots"
//!   by aborting the agent and spawning a fresh one.
//!
//! ## Module map
//!
//! - [`cli`]: the command line of both entry points (`steward node` and `steward-node`).
//! - [`config`]: [`NodeConfig`], [`NodeNetwork`], [`ControllerPeer`], default ports.
//! - [`machine`]: the [`Machine`] trait and [`LinuxMachine`] (/proc, /sys, reboot command).
//! - [`keyfile`]: the node's key file (JSON, hex, mode 0600, atomic).
//! - [`state`]: the non-volatile agent state file.
//! - [`scripts`]: running a script directory in parallel with timeouts.
//! - [`pulse_responder`]: answers the controllers' heartbeat pulses (the controller's side is
//!   `steward-heartbeat-udp`).
//! - [`links`], [`fsmon`], [`monitors`]: the link monitor's sysfs resolution and rtnetlink
//!   subscription, the filesystem sampler, and the task that runs both monitors' policies
//!   (docs/node-monitoring.md).
//! - [`status`]: the local status socket (`steward node status`).
//! - [`health`]: the configuration health flags from marker files and a LUKS check.
//! - [`pmon`]: the process monitor's runtime (pidfds, commands) around `steward-process-policy`.
//! - [`watchdog`]: the host watchdog (pets the hardware watchdog; stops on quorum loss).
//! - [`safety`]: going down with safety nets: the failsafe SysRq reboot, the active controller's
//!   lazy reboot and pre-reboot hook, the install disk wipe ([`wipe`]: the reads and writes
//!   around `steward_agent::disklabels`).
//! - [`collect`]: the node's part of a support bundle (`steward node collect`).
//! - [`systemd`]: `READY=1` and watchdog pings for `Type=notify` units (nothing outside systemd).
//! - `runtime`: [`spawn`], [`NodeHandle`], [`NodeStats`].

pub mod cli;
pub mod collect;
pub mod config;
pub mod fsmon;
pub mod health;
pub mod keyfile;
pub mod links;
pub mod machine;
pub mod monitors;
pub mod pmon;
pub mod pulse_responder;
mod runtime;
pub mod safety;
pub mod scripts;
pub mod state;
pub mod status;
pub mod systemd;
pub mod watchdog;
pub mod wipe;

pub use config::{
    ControllerPeer, NodeConfig, NodeNetwork, PxebootNetwork, DEFAULT_CONTROLLER_PORT,
    DEFAULT_NODE_PORT,
};
pub use keyfile::KeyFileError;
pub use machine::{BootInfo, LinuxMachine, Machine};
pub use runtime::{spawn, NodeHandle, NodeStats};
pub use state::NodeState;
pub use steward_agent::LockState;
pub use steward_protocol::NodeKeys;
pub use steward_types::{Network, ProtocolNetwork};
