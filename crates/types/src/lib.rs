//! # steward-types — what the controller and the node agent say to each other
//!
//! The values both ends of the controller ↔ node link share, as plain data: which network a message
//! travels on ([`ProtocolNetwork`]; the heartbeat ones are [`Network`]), the commands a controller sends ([`NodeCommand`] with its
//! [`CommandId`], and the pushed [`NodeSettings`]), the health a node reports ([`NodeFlags`]), and
//! the whole message set of the protocol ([`Message`] and its parts).
//!
//! How these travel (framing, byte layout, MACs, keys, replay windows) is `steward-protocol`'s
//! business; what the controller's core makes of them is `steward-maintenance`'s. This crate knows
//! neither, so the node agent can speak the protocol without linking the controller.
//!
//! # Architecture invariant
//!
//! Plain data with serde derives only: no I/O, no clock, no codec, and no dependency on any other
//! steward crate. `scripts/check-boundaries` fails the build if that changes.

mod command;
mod message;
mod network;
mod settings;

pub use command::{CommandId, NodeCommand, NodeFlags};
pub use message::{
    Ack, AckResult, Alive, Command, CpuSummary, Direction, Disk, FsState, HealthFlags, Inventory,
    LinkNetwork, MemorySummary, Message, MonitorEvent, NodeEvent, Port, Pulse, PulseFlags,
    PulseReply, Severity, TestState, WireCommand,
};
pub use network::{Network, ProtocolNetwork};
pub use settings::{NodeSettings, SettingField};
