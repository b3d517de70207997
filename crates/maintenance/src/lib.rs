//! # steward-maintenance — the host maintenance core
//!
//! Every host's maintenance state machine as plain Rust with no I/O: the driver hands in events and the
//! current time, the core hands back effects and the next deadline (the shape of `quinn-proto`).
//!
//! ```text
//!  operator request ──► request() ──► admission ──► journal + action
//!  node/BMC/heartbeat ─► handle_event() ─┐
//!  time passes ───────► handle_timeout() ├─► per-host pass: audits, dispatch, handler stage
//!                                        └─► poll_effect(): Send / Bmc / Heartbeat / Alarm / Log /
//!                                            HostChanged / Journal / Swact      poll_timeout(): next deadline
//! ```
//!
//! The behaviour is described in the repository's `docs/` (docs/lifecycle.md, docs/handlers.md,
//! docs/recovery.md, docs/alarms.md, docs/config.md).
//!
//! Module map:
//! - [`state`]: admin/oper/avail enums with wire strings, degrade mask, networks.
//! - [`action`]: admin actions, action ids and the journal.
//! - [`admission`]: accept or refuse an operator action, with the operator's message.
//! - [`dispatch`]: the dispatch table (docs/lifecycle.md#dispatch-table) as a pure function.
//! - [`config`]: every timeout and threshold, from TOML, validated.
//! - [`alarm`]: alarm ids, customer logs, the raise-once/clear-once alarm book.
//! - [`io`]: events in, effects out.
//! - [`node_message`]: which node agent messages become core events.
//! - [`host`]: host provisioning and the persisted maintenance record.
//! - `core` and `handlers/`: the engine and one module per maintenance handler.
//!
//! Each handler owns its stage data: the stage of the handler that owns a host carries that
//! handler's deadlines, retry counts and sub-machines, and the host's next deadline is derived from
//! it together with a few named shared clocks (audits, BMC access alarm, power-cycle monitor). The
//! `handlers` module documentation says how the deadline is derived and how to add a handler.

pub mod action;
pub mod admission;
pub mod alarm;
pub mod config;
pub mod dispatch;
pub mod host;
pub mod io;
pub mod node_message;
pub mod pxeboot;
pub mod state;
pub mod task;
pub mod time;

mod core;
mod handlers;

pub use crate::core::{Maintenance, RequestError, SystemConfig};
pub use action::{Action, ActionId, ActionOutcome, JournalEntry, OperatorAction};
pub use config::Config;
pub use handlers::install_plan;
pub use io::*;
pub use time::Instant;

/// The deliberate bug this build carries, or `""` for the core as shipped. Set at build time by
/// `STEWARD_MUTATION` (see `build.rs`); the simulator's mutation tests read it to know which invariant
/// must catch the bug, and print it in replay lines.
pub const MUTATION: &str = env!("STEWARD_MUTATION_BUILT");
