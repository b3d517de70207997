//! # steward-process-policy — the node's process monitor policy, sans-IO
//!
//! The node agent watches the daemons its host cannot run without (docs/node-supervision.md). This
//! crate decides what happens to them; the runtime in `steward-node` carries it out: it watches
//! each process with a pidfd, runs the start, stop and health commands and sends the reports to the
//! controller.
//!
//! ```text
//!   config files ──► ProcessConfig ──► ProcessMonitor::configure
//!   runtime: running(pid) / died(pid) / start_failed / health(ok) / now ──► ProcessMonitor
//!   ProcessMonitor ──► Effect: Start, Kill, RunHealth, Report(severity|clear), Quorum(lost|restored)
//! ```
//!
//! ## Policy
//!
//! - A process that dies (or whose start fails) is restarted after its `interval`. Each death
//!   counts a failure; a process that stays up for `debounce` is stable again and its count starts
//!   over.
//! - More failures in a row than its `restarts` allow escalate by its severity: one
//!   [`Effect::Report`] (minor: an alarm; major: alarm and degrade; critical: the controller fails
//!   and recovers the host). Restarts go on after the escalation; once the process is stable again
//!   the report is cleared.
//! - A process with a health command is checked every `health_interval` once it has run for its
//!   `startup_delay`; a failed check ends the process ([`Effect::Kill`]) so its death goes through
//!   the same path as a crash.
//! - A `quorum` process that escalates reports quorum lost (the host watchdog stops petting after
//!   its delay), and quorum restored once it is stable again.
//!
//! Time is plain milliseconds since any fixed point the runtime chooses (monotonic).

mod config;
mod monitor;

pub use config::{ConfigError, ProcessConfig, Severity, Target};
pub use monitor::{Effect, Phase, ProcessMonitor, ProcessStatus};
