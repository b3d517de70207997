//! # steward-heartbeat-udp — heartbeat pulses over UDP
//!
//! The controller's side of the heartbeat: the tokio driver of the sans-IO
//! [`steward_heartbeat::Monitor`]. The node's side, the pulse responder, is
//! `steward_node::pulse_responder` (it lives with the node agent so that the agent links no
//! controller crate). Wire format and keys: `steward-protocol` (`Message::Pulse`,
//! `Message::PulseReply`, the cluster-wide pulse key).
//!
//! ```text
//!  controller                                             node h
//!  HeartbeatService ── Pulse{round, flags} ──────────────▶ Responder
//!   (one socket per network;  sealed once per round          (one socket per network; verifies
//!    with the pulse key, sent unicast to every monitored      with the pulse key, answers at once
//!    host every period)                                       with its own key)
//!                  ◀── PulseReply{round, health flags} ──
//!   Monitor.on_reply → on_tick → Event::Heartbeat{host, network, Loss|…} → the controller core
//! ```
//!
//! ## Controller side: [`HeartbeatService`]
//!
//! [`HeartbeatService::spawn`] binds one socket per network and runs one task: every period it
//! first drains *every* reply already queued on the sockets (the Monitor's requirement: a starved
//! controller whose socket buffer holds answers must not accuse the hosts that sent them), then
//! closes the round (`on_tick`), seals the next pulse once per network and sends it to every
//! monitored host (`sendmmsg`, one syscall per batch of 64 hosts), draining replies between batches
//! so the receive buffer does not overflow at thousands of hosts. Events go to a [`Sink`]: the controller's `EventSender` (through
//! an ordered forwarder, so a busy controller never stalls the pulse loop) or a callback.
//!
//! The returned [`HeartbeatHandle`] implements the controller's `HeartbeatLink`:
//! `Start`/`Stop` per host, `Backoff` (MNFA: period × 4, thresholds unchanged,
//! docs/heartbeat.md#mnfa-backoff) and `Recover`. Hosts are addressed with
//! [`HeartbeatHandle::set_peer`] / [`HeartbeatHandle::remove_peer`]; a started host is monitored on
//! every network it has a peer address on. [`HeartbeatHandle::stats`] counts pulses, replies, drops
//! per reason and late rounds.
//!
//! ## Node side: `steward_node::pulse_responder::Responder`
//!
//! Binds the node's heartbeat socket(s) and answers every authenticated, fresh pulse at once with
//! the echoed round and the node's health flags, signed with the node's own key.
//!
//! ## Hostile input
//!
//! The service (and the responder on its side) drops malformed, unauthenticated, replayed and wrong-source datagrams and count them
//! per reason ([`steward_protocol::Drop`], plus `wrong_network` and `unexpected_kind` here); a
//! datagram is never trusted before the MAC, and nothing on the receive path can panic on input.
//!
//! ## Time
//!
//! Monotonic only: the Monitor's clock is milliseconds of `tokio::time::Instant` since the service
//! started. The session of each sender's frames comes from the wall clock (the protocol's rule for
//! telling runs apart), never used for timing.
//!
//! ## Not (yet) here
//!
//! Multicast pulses (the config has no multicast group yet: the lab is loopback, where unicast is
//! what there is) and the node's health flags reaching the core (they are counted, not forwarded).
//!
//! ## A standby controller pulses too
//!
//! The standby of a controller pair runs a second service under its own name, with a callback
//! sink that acts on nothing; [`HeartbeatHandle::observed`] reads what it saw, and the new active's
//! service starts from it ([`HeartbeatSeed`], docs/controller-pair.md).

mod pulse_link;
mod service;
mod socket;

pub use pulse_link::PulseLink;
pub use service::{
    HeartbeatHandle, HeartbeatSeed, HeartbeatService, HeartbeatStats, HostSeen, Notice,
    ServiceConfig, Sink,
};

use std::net::SocketAddr;

/// Errors starting a heartbeat service.
#[derive(Debug, thiserror::Error)]
pub enum HeartbeatUdpError {
    #[error("cannot bind the heartbeat socket on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid heartbeat configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Protocol(#[from] steward_protocol::EncodeError),
}

/// Milliseconds of monotonic time since `base`, as the Monitor's clock.
fn mono_ms(base: tokio::time::Instant, now: tokio::time::Instant) -> u64 {
    now.saturating_duration_since(base).as_millis() as u64
}

/// A session for a new sender run: wall-clock microseconds (the protocol's rule for telling runs
/// apart; not used for timing), strictly increasing within this process too.
fn fresh_session() -> u64 {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    steward_protocol::claim_session(wall, &LAST)
}
