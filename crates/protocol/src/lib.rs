//! steward controller ↔ node protocol (docs/protocol.md), sans-IO: encode, decode, seal, verify. No
//! sockets.
//!
//! The message *set* follows StarlingX maintenance (docs/protocol.md#messages: alive reports,
//! commands, acks, go-enabled / host-services results, monitor events, inventory); the framing is
//! our own: versioned, big-endian, length-checked, authenticated.
//!
//! # API in one breath
//!
//! - Send: [`Sealer::seal`] (sender name, direction, session; one sequence counter per network).
//! - Receive: [`Verifier::controller`] / [`Verifier::node`], [`Verifier::allow`] each peer's
//!   addresses per network, then [`Verifier::accept`] → [`Accepted`] or [`Drop`] (counted in
//!   [`DropCounters`], logged through a [`RateLimitedLog`]).
//! - The message values themselves ([`Message`], [`Alive`], [`Command`] …, and the `ProtocolNetwork`,
//!   `NodeCommand`, `CommandId`, `NodeFlags` and `NodeSettings` they carry) live in
//!   `steward-types` and are re-exported here. This crate links no controller code: turning an
//!   [`Accepted`] message into the core's event is `steward_maintenance::node_message::to_event`.
//! - Unverified parsing (fuzzed): [`decode`].
//!
//! # Wire format (version 1)
//!
//! One UDP datagram = one frame, at most [`MAX_DATAGRAM`] = 1,400 bytes. All integers big-endian.
//!
//! | offset | size | field | notes |
//! |---|---|---|---|
//! | 0 | 4 | magic | `"STWD"` |
//! | 4 | 1 | version | 1; anything else → [`Drop::UnknownVersion`] |
//! | 5 | 1 | kind | 1 Alive, 2 Command, 3 Ack, 4 Event, 5 Inventory, 6 Pulse, 7 PulseReply |
//! | 6 | 1 | flags | none defined in v1; must be 0 |
//! | 7 | 1 | direction | 1 node→controller, 2 controller→node; must match the kind (Command and Pulse controller→node, the rest node→controller) |
//! | 8 | 1 | network | 0 mgmt, 1 cluster, 2 pxeboot (alive reports, commands and acks only; never pulses) |
//! | 9 | 1 | hostname length | 1..=64 |
//! | 10 | n | sender hostname | ASCII `[A-Za-z0-9._-]` |
//! | 10+n | 8 | session | sender's session, strictly increasing across sender restarts |
//! | 18+n | 8 | epoch | controller→node: controller epoch; node→controller: highest epoch the node accepted |
//! | 26+n | 8 | sequence | per sender, per network, per session |
//! | 34+n | 2 | body length | ≤ [`MAX_BODY`], must equal the bytes up to the MAC |
//! | 36+n | b | body | per kind, below; must be consumed exactly |
//! | 36+n+b | 16 | MAC | HMAC-SHA256 over bytes `0 .. 36+n+b`, truncated to 16 bytes |
//!
//! 16-byte (128-bit) tags, as IPsec's HMAC-SHA-256-128 (RFC 4868): forging one blind takes 2^128
//! tries and every bad tag is counted; the full 32 bytes would only cost datagram space.
//!
//! Bodies (strings are UTF-8 with a length prefix: `str8` = u8 length, `str16` = u16 length; bools
//! are one byte, 0 or 1, anything else is malformed):
//!
//! | kind | body |
//! |---|---|
//! | Alive | boot id u64, uptime ms u64, [`NodeFlags`](steward_types::NodeFlags) bitfield u16 (bit 0 configured … bit 13 subf_services_failed, bit 14 pxeboot_alive, see [`flags_to_bits`]), lock flags u8 (bit 0 volatile, bit 1 persistent), main go-enabled u8, subf go-enabled u8 ([`TestState`]), agent version str8 ≤ 32 |
//! | Command | command id u64, code u16 (StarlingX numbers: 2 reboot, 3 wipedisk, 6 request alive, 9 main goenabled, 10 subf goenabled, 13 locked, 14 stop services, 20 lazy reboot, 24 unlocked), args bytes16 ≤ 64 (locked: one byte `persist`). An unknown code decodes to [`WireCommand::Unsupported`]; a known code with bad args is malformed |
//! | Ack | command id u64, result u8 (0 ok, 1 unsupported, 2 failed + reason str16 ≤ 256) |
//! | Event | type u8: 1 go-enabled (subfunction bool, passed bool, detail str16 ≤ 256); 2 host services (passed bool, detail str16); 3 monitor (code u16, payload bytes16 ≤ 256: 1 process (name str8, severity u8), 2 link (network u8 0 mgmt/1 cluster/2 oam, interface str8, ports down u8, ports u8; down ≤ ports), 3 filesystem (mount str8 ≤ 128, state u8 0 ok/1 inodes low/2 space low/3 read-only/4 missing), other codes kept as [`MonitorEvent::Unknown`]) |
//! | Pulse | round u64, pulse flags u16 ([`PulseFlags`]: bit 0 backoff; other bits kept, ignored) — body exactly [`PULSE_BODY`] = 10 bytes |
//! | PulseReply | echoed round u64, health flags u16 ([`HealthFlags`]: bit 0 pmon healthy, bit 1 locked, bit 2 stall; other bits kept, ignored) — body exactly 10 bytes |
//! | Inventory | sockets u16, cores u16, threads u16, cpu model str8 ≤ 64, memory total MiB u64, available MiB u64, disk count u8 ≤ 8 × (device str8 ≤ 32, size MiB u64, rotational bool, serial str8 ≤ 32), port count u8 ≤ 8 × (name str8 ≤ 32, MAC 6 bytes, speed Mb/s u32, link up bool) |
//!
//! Every message within its field bounds fits in one datagram with the longest hostname. A pulse or
//! pulse reply is 36 + n + 10 + 16 bytes: 62 + n, at most 126.
//!
//! The heartbeat's round (the Pulse body) is not the header sequence: the header sequence feeds the
//! replay window of the sender, the round is the monitor's (`steward-heartbeat`) and is echoed. A
//! heartbeat sender uses its own socket and its own [`Sealer`], and the node answers pulses with its
//! own [`Verifier`], so the heartbeat's sequence space never collides with the command channel's.
//!
//! # Key hierarchy
//!
//! ```text
//! ClusterSecret (≥ 32 bytes; controllers only)
//!  ├─ node key(h)       = HKDF-SHA256(salt = none, ikm = secret, info = "steward node key v1" ‖ h)
//!  │                      node h signs its messages with it; the controller verifies with it
//!  ├─ controller key(h) = HKDF-SHA256(salt = none, ikm = secret, info = "steward controller key v1" ‖ h)
//!  │                      the controllers sign messages *to node h* with it; node h verifies with it
//!  └─ pulse key         = HKDF-SHA256(salt = none, ikm = secret, info = "steward pulse key v1")
//!                         cluster-wide: the controllers sign heartbeat pulses with it; every node
//!                         verifies pulses with it, and nothing else
//! ```
//!
//! **Pulses and the pulse key (decision).** Pulses are authenticated on the same framing, but a
//! multicast pulse (and a unicast pulse sealed once per round for thousands of hosts) cannot carry
//! a MAC per recipient, so pulses are signed with one cluster-wide *pulse key*
//! ([`ClusterSecret::pulse_key`]) that every node holds for verifying pulses only. The node's
//! verifier ([`Verifier::with_pulse_key`]) accepts a Pulse only with the pulse key and a Command
//! only with its controller key. What a compromised node can do with it: forge pulses, which only
//! elicit answers (harmless; answers are rate-bound by the pulses the attacker sends). What it
//! cannot: forge a command (per-recipient controller key), or answer for another node — replies are
//! signed with each node's own key, so a dead host cannot be kept "alive" by a neighbour.
//!
//! Node h is provisioned with [`NodeKeys`] (both of its keys) plus the pulse key, and never sees
//! the cluster secret.
//! The controller key is per recipient on purpose: HMAC is symmetric, so a single cluster-wide
//! controller key held by every node for verification would let any compromised node forge the
//! controller's commands to every other node. With these keys a compromised node h can sign only
//! as itself, and "as the controller" only towards itself. The two labels differ before the
//! hostname starts, so no hostname makes one label's info equal the other's (the pulse label, too,
//! differs from both at byte 8). Keys are zeroized on
//! drop and print as `<redacted>`.
//!
//! # What the receiver checks, in order ([`Verifier::accept`])
//!
//! Cheap checks before the MAC, the MAC before any state change:
//!
//! 1. size ≤ 1,400 ([`Drop::TooLarge`]); magic and minimum length ([`Drop::Malformed`]); version
//!    ([`Drop::UnknownVersion`]); every header field, length and code, and the whole body
//!    ([`Drop::Malformed`]) — [`decode`], no keys, no state, fuzzed;
//! 2. direction matches the receiver's role ([`Drop::Malformed`]);
//! 3. sender registered ([`Drop::UnknownSender`]);
//! 4. source address is one registered for that sender *on the network the frame names*
//!    ([`Drop::WrongSource`]);
//! 5. MAC, constant time, with the sender's key — for a Pulse at a node, the pulse key and only it
//!    ([`Drop::BadMac`]);
//! 6. node role only: epoch ≥ highest epoch accepted so far ([`Drop::StaleEpoch`]); for a
//!    pulse, ≥ the highest epoch *that sender* has pulsed with (pulses are fenced per sender and
//!    never raise the node-wide floor, so the standby of a controller pair keeps being answered);
//! 7. replay window of (sender, network) ([`Drop::Replayed`]);
//! 8. only now: commit the replay window and the epoch high-water mark.
//!
//! Each drop is counted per reason ([`DropCounters`]) and logged through a [`RateLimitedLog`]
//! (default 10 lines a minute, the next line reports how many were suppressed).
//!
//! # Replay protection and restarts
//!
//! Per (sender, network) the receiver keeps the sender's session, the highest sequence seen and a
//! 64-bit bitmap of the sequences below it (IPsec's sliding window): a sequence above the top is
//! fresh, one within 64 below it is fresh once (reordering tolerated), older ones are dropped.
//!
//! A restarted sender starts its sequences again, so every frame carries a **session**: a frame
//! with a *higher* session than the recorded one is accepted whatever its sequence and starts a
//! new window; a *lower* session is a replay of an earlier run and is dropped. Senders must pick a
//! session strictly greater than any earlier run's: `max(wall clock µs at start, persisted last
//! session + 1)` ([`next_session`]), persisted before the first frame is sent. (The node's boot id in Alive is a
//! different thing — it tells the core that a reboot happened; a restart of the agent alone also
//! needs a new session.) Limits: a receiver that restarts has no windows and accepts the first
//! frame of each sender's current or an older session (frames captured earlier can be replayed to
//! it once each, until the sender's current session is seen); the epoch and window high-water marks
//! can be restored with [`Verifier::raise_epoch`]; [`Verifier::reset_replay`] is the operator's
//! way out if a sender lost its session high-water mark.
//!
//! # Controller epoch
//!
//! Every controller→node frame carries the sending controller's epoch. A node accepts a frame only
//! if its epoch is ≥ the highest it has accepted, so once a new active controller (higher epoch)
//! has spoken, a deposed one is fenced. Node→controller frames carry the node's highest accepted
//! epoch, so a deposed controller can notice.
//!
mod keys;
mod verify;
mod wire;

pub use keys::{
    hkdf_sha256, ClusterSecret, KeyError, MacKey, NodeKeys, CONTROLLER_KEY_LABEL, MAX_SECRET_LEN,
    MIN_SECRET_LEN, NODE_KEY_LABEL, PULSE_KEY_LABEL,
};
pub use verify::{
    claim_session, next_session, seal_frame, Accepted, Drop, DropCounters, RateLimitedLog,
    ReplayWindow, Sealer, Verifier, REPLAY_WINDOW,
};
pub use wire::{
    command_code, decode, flags_from_bits, flags_to_bits, kind, monitor_code, valid_hostname, Ack,
    AckResult, Alive, Command, CpuSummary, DecodeError, Direction, Disk, EncodeError, Frame,
    FsState, Header, HealthFlags, Inventory, LinkNetwork, MemorySummary, Message, MonitorEvent,
    Network, NodeEvent, Parsed, Port, ProtocolNetwork, Pulse, PulseFlags, PulseReply, Severity,
    TestState, WireCommand, FIXED_HEADER, MAGIC, MAX_AGENT_VERSION, MAX_BODY, MAX_DETAIL,
    MAX_HEADER, MAX_HOSTNAME, MAX_INVENTORY_ITEMS, MAX_MOUNT, MAX_NAME, MAX_UNKNOWN_PAYLOAD,
    PULSE_BODY, VERSION,
};

/// Largest datagram sent or accepted.
pub const MAX_DATAGRAM: usize = 1400;
/// Length of the truncated HMAC-SHA256 tag.
pub const MAC_LEN: usize = 16;
/// UDP port node agents listen on.
pub const DEFAULT_NODE_PORT: u16 = 2101;
/// UDP port controllers listen on (alive reports, acks and events go there).
pub const DEFAULT_CONTROLLER_PORT: u16 = 2102;
/// UDP port node agents answer heartbeat pulses on.
pub const DEFAULT_HEARTBEAT_NODE_PORT: u16 = 2103;
/// UDP port controllers send pulses from and take replies on.
pub const DEFAULT_HEARTBEAT_CONTROLLER_PORT: u16 = 2104;

#[cfg(test)]
mod tests;
