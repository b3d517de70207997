//! The message set of the controller ↔ node protocol, as values. Encoding them (byte layout, codes,
//! length bounds) is `steward-protocol`'s job; see its crate docs for the wire format.

use crate::{CommandId, NodeCommand, NodeFlags, NodeSettings};
use serde::{Deserialize, Serialize};

/// Who sent a frame. Part of the MAC'd header, so a node's frame can never be taken as the
/// controller's (and the keys differ anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    NodeToController,
    ControllerToNode,
}

/// Every message of protocol version 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Alive(Alive),
    Command(Command),
    Ack(Ack),
    Event(NodeEvent),
    Inventory(Inventory),
    /// Heartbeat pulse, controller → node (signed with the cluster-wide pulse key, see crate docs).
    Pulse(Pulse),
    /// Answer to a pulse, node → controller (signed with the node's own key).
    PulseReply(PulseReply),
}

impl Message {
    /// The direction this message travels in.
    pub fn direction(&self) -> Direction {
        match self {
            Message::Command(_) | Message::Pulse(_) => Direction::ControllerToNode,
            _ => Direction::NodeToController,
        }
    }
}

/// Flags of a pulse (u16 on the wire). Bits this build does not know are kept, not rejected: a
/// newer controller must not make older agents drop its pulses (they would look dead).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PulseFlags(pub u16);

impl PulseFlags {
    /// The controller is in multi-node failure avoidance and pulses slower (informational).
    pub const BACKOFF: u16 = 1 << 0;

    pub fn backoff(self) -> bool {
        self.0 & Self::BACKOFF != 0
    }
    pub fn with_backoff(self, on: bool) -> Self {
        PulseFlags(if on {
            self.0 | Self::BACKOFF
        } else {
            self.0 & !Self::BACKOFF
        })
    }
}

/// Health flags a node reports in every [`PulseReply`] (u16 on the wire). Unknown bits are kept,
/// not rejected, for the same reason as [`PulseFlags`]: an older controller must not take a newer
/// agent's answers as malformed and so declare a healthy host lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct HealthFlags(pub u16);

impl HealthFlags {
    /// The node's process monitor is running (its loop turned within the last seconds; set when
    /// the node runs none). A controller that misses it in 100 answers in a row reports process
    /// `pmond` failed (docs/node-supervision.md#pmond). Escalated processes travel as events, not here.
    pub const PMON_HEALTHY: u16 = 1 << 0;
    /// The node is locked (lock flag file present).
    pub const LOCKED: u16 = 1 << 1;
    /// The agent's own loop detected a stall (it answered late or a monitor is stuck).
    pub const STALL: u16 = 1 << 2;

    pub fn new(pmon_healthy: bool, locked: bool, stall: bool) -> Self {
        HealthFlags(
            (if pmon_healthy { Self::PMON_HEALTHY } else { 0 })
                | (if locked { Self::LOCKED } else { 0 })
                | (if stall { Self::STALL } else { 0 }),
        )
    }
    pub fn pmon_healthy(self) -> bool {
        self.0 & Self::PMON_HEALTHY != 0
    }
    pub fn locked(self) -> bool {
        self.0 & Self::LOCKED != 0
    }
    pub fn stall(self) -> bool {
        self.0 & Self::STALL != 0
    }
}

/// Heartbeat pulse: the controller's round sequence on this network, and its flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pulse {
    /// The monitor's round; the answer must echo it.
    pub round: u64,
    pub flags: PulseFlags,
}

/// A node's answer to a pulse: the echoed round and the node's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PulseReply {
    pub round: u64,
    pub health: HealthFlags,
}

/// State of one go-enabled test set on the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestState {
    NotRun,
    Running,
    Passed,
    Failed,
}

/// Periodic alive report (docs/protocol.md#alive-reports). `flags` are the node's [`NodeFlags`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alive {
    pub boot_id: u64,
    pub uptime_ms: u64,
    pub flags: NodeFlags,
    /// The volatile lock flag file exists.
    pub lock_volatile: bool,
    /// The non-volatile lock flag backup exists.
    pub lock_persistent: bool,
    pub main_goenabled: TestState,
    pub subf_goenabled: TestState,
    /// Generation of the node settings the agent runs with (0: none pushed yet); the controller
    /// re-pushes when it differs from its own.
    pub settings_generation: u64,
    pub agent_version: String,
}

/// A command as carried on the wire. `Unsupported` is a command code this agent does not know:
/// the agent answers it with [`AckResult::Unsupported`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireCommand {
    Known(NodeCommand),
    /// Config push: not a core command, the controller's node link sends it.
    Settings(NodeSettings),
    Unsupported {
        code: u16,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Command {
    pub id: CommandId,
    pub command: WireCommand,
}

impl Command {
    /// The ack an agent owes for a command it cannot carry out, or `None` if it is known.
    pub fn unsupported_ack(&self) -> Option<Ack> {
        match self.command {
            WireCommand::Unsupported { .. } => Some(Ack {
                id: self.id,
                result: AckResult::Unsupported,
            }),
            WireCommand::Known(_) | WireCommand::Settings(_) => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckResult {
    Ok,
    Unsupported,
    Failed(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    pub id: CommandId,
    pub result: AckResult,
}

/// Events a node agent reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    GoEnabled {
        subfunction: bool,
        passed: bool,
        detail: String,
    },
    HostServices {
        passed: bool,
        detail: String,
    },
    Monitor(MonitorEvent),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Clear,
    Minor,
    Major,
    Critical,
}

/// Monitor events. Extensible: a code this build does not know decodes to `Unknown` with its
/// payload kept, so older controllers tolerate newer agents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MonitorEvent {
    /// Process monitor: `process` changed to `severity` (Clear = recovered).
    Process {
        process: String,
        severity: Severity,
    },
    /// Link monitor: the state of the interface carrying `network` (docs/node-monitoring.md#links).
    /// `interface` is the configured name (a bond, a VLAN or a port); `ports` is how many
    /// physical ports it resolves to and `down` how many of them are down. Sent on every change
    /// and repeated periodically, so a restarted controller learns the state again.
    Link {
        network: LinkNetwork,
        interface: String,
        down: u8,
        ports: u8,
    },
    /// Filesystem monitor: the state of one monitored mount point (docs/node-monitoring.md#filesystems).
    /// Sent on every change and repeated periodically, like [`MonitorEvent::Link`].
    Filesystem {
        mount: String,
        state: FsState,
    },
    Unknown {
        code: u16,
        payload: Vec<u8>,
    },
}

/// The networks whose links the node's link monitor watches. Heartbeat runs on management and
/// cluster only ([`crate::Network`]); the OAM network carries operator traffic and has no pulses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkNetwork {
    Mgmt,
    Cluster,
    Oam,
}

impl LinkNetwork {
    pub const ALL: [LinkNetwork; 3] = [LinkNetwork::Mgmt, LinkNetwork::Cluster, LinkNetwork::Oam];

    /// Position in [`LinkNetwork::ALL`], for per-network arrays.
    pub fn index(self) -> usize {
        match self {
            LinkNetwork::Mgmt => 0,
            LinkNetwork::Cluster => 1,
            LinkNetwork::Oam => 2,
        }
    }

    /// The name operators know it by, as in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            LinkNetwork::Mgmt => "mgmt",
            LinkNetwork::Cluster => "cluster",
            LinkNetwork::Oam => "oam",
        }
    }
}

/// What the filesystem monitor found at one mount point. Ordered from healthy to worst, so the
/// worst state of several mounts is their maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FsState {
    Ok,
    /// Free inodes fell below the configured threshold.
    InodesLow,
    /// Free space fell below the configured threshold.
    SpaceLow,
    /// Mounted read-only although configured writable.
    ReadOnly,
    /// Not mounted (the path is not a mount point, or does not exist).
    Missing,
}

impl FsState {
    pub fn is_ok(self) -> bool {
        self == FsState::Ok
    }

    pub fn describe(self) -> &'static str {
        match self {
            FsState::Ok => "ok",
            FsState::InodesLow => "inodes low",
            FsState::SpaceLow => "space low",
            FsState::ReadOnly => "read-only",
            FsState::Missing => "missing",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CpuSummary {
    pub sockets: u16,
    pub cores: u16,
    pub threads: u16,
    pub model: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct MemorySummary {
    pub total_mib: u64,
    pub available_mib: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    pub device: String,
    pub size_mib: u64,
    pub rotational: bool,
    pub serial: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    pub mac: [u8; 6],
    pub speed_mbps: u32,
    pub link_up: bool,
}

/// Inventory summary (the codec bounds the number of disks and ports; see `steward-protocol`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Inventory {
    pub cpus: CpuSummary,
    pub memory: MemorySummary,
    pub disks: Vec<Disk>,
    pub ports: Vec<Port>,
}
