//! # steward-agent — the node agent's logic, sans-IO
//!
//! What `steward node` decides, with none of the doing: no sockets, files, threads, clocks or
//! tokio. The runtime (`steward-node`) feeds an [`Agent`] the current time (milliseconds of any
//! monotonic clock), verified commands, observations (are the lock flag files there? how did a
//! script run end?) and start-up facts; the agent answers with [`Effect`]s the runtime carries out
//! in order (send this message, write or remove this flag file, persist the admin state, run
//! these scripts, reboot, log this line). Tests drive it with fake time and a fake disk — the
//! same shape as the host maintenance core (quinn-proto vs quinn; ARCHITECTURE.md, "Sans-IO").
//!
//! ```text
//!  Startup ─► Agent::start ─┐            ┌─► Effect::Send { Alive | Ack | Event }
//!  Command ─► handle_command ┤            ├─► Effect::SendInventory
//!  (now, flags) ─► handle_timeout ─► Agent ├─► Effect::SetFlag / PersistLockState
//!  script result ─► script_finished ┘     ├─► Effect::RunScripts (one set at a time)
//!  poll_timeout() ◄── next deadline       └─► Effect::Reboot / WipeDisk / Log
//! ```
//!
//! ## What it owns (docs/protocol.md#commands, #acks-and-idempotency, #lock-flags)
//!
//! - **Idempotency and acks**: a repeated command id gets the same ack again and is not run
//!   again ([`recent`], bounded). Acks are `Ok`, `Unsupported` (unknown code), or `Failed` with a
//!   reason (wipe-disk on a host the controller last confirmed unlocked). An ack goes to the
//!   controller that sent the command, on the network it came on, before any reboot.
//! - **Alive reports**: at once at start, after each command, and every alive period (5 s), on
//!   every configured network: boot id, uptime, health flags, both lock flags, go-enabled states.
//! - **Go-enabled**: one script set runs at a time, others queue (one entry per set); a main pass
//!   younger than 20 minutes answers a request at once; results name the failing scripts
//!   ([`scripts::summarize`]). Host services start after the first main pass of an agent run
//!   when the host is not locked; code 14 stops them.
//! - **The node-locked flag pair** ([`lockflags`]): at start the volatile flag is restored from
//!   the backup *before anything else*; LOCKED{persist} writes the volatile flag (and the backup
//!   if `persist`, else removes it); UNLOCKED removes both; every audit period (1 s) both files
//!   are corrected toward the admin state the controller last confirmed, which is persisted and
//!   survives reboots. With no confirmed state (new install, wiped disk) the host is taken as
//!   locked.
//!
//! ## Module map
//!
//! - [`agent`]: the state machine ([`Agent`], [`Effect`], [`AgentConfig`], [`Startup`]).
//! - [`disklabels`]: MBR, GPT and filesystem signatures of a disk and the byte ranges that erase
//!   them (wipe-disk; the runtime does the reads and writes).
//! - [`reboot`]: the steps of going down: lazy reboot of the active controller (pre-reboot hook,
//!   delay), the failsafe reboot, the install disk wipe.
//! - [`health`]: [`ConfigHealth`], the configuration health flags the runtime observes.
//! - [`lockflags`]: lock states, the flag pair, restore and correction rules.
//! - [`recent`]: the bounded set of recent command ids and their acks.
//! - [`scripts`]: script sets, run ids, folding per-script exits into a pass/fail outcome.

pub mod agent;
pub mod disklabels;
pub mod filesystems;
pub mod health;
pub mod links;
pub mod lockflags;
pub mod reboot;
pub mod recent;
pub mod scripts;

pub use agent::{Agent, AgentConfig, Destination, Effect, Level, Startup};
pub use filesystems::{FsMonitor, FsSample, FsStatus, FsWatch};
pub use health::ConfigHealth;
pub use links::{LinkMonitor, LinkStatus, LinkWatch, PortStatus};
pub use lockflags::{FlagFile, FlagPair, LockState};
pub use reboot::{GoingDown, RebootPolicy, Step};
pub use recent::{RecentCommands, RECENT_COMMANDS};
pub use scripts::{summarize, RunId, RunOutcome, ScriptExit, ScriptSet};
