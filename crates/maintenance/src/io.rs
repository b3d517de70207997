//! What goes into the core ([`Event`]) and what comes out ([`Effect`]).
//!
//! Drivers translate packets, BMC replies and heartbeat accounting into events, and carry effects out:
//! send a command to a node, call a BMC, start heartbeat, raise an alarm, persist a host, journal an action.

use crate::action::{ActionId, JournalEntry};
use crate::alarm::{AlarmChange, CustomerLog};
use crate::state::{Network, PowerState};
use serde::{Deserialize, Serialize};
use std::time::Duration;

// The command and flag values travel to and from node agents, so they live in `steward-types`,
// which the agent links without the core; re-exported so `steward_maintenance::…` paths keep working.
pub use steward_types::{
    CommandId, FsState, LinkNetwork, NodeCommand, NodeFlags, NodeSettings, ProtocolNetwork,
    SettingField,
};

/// Identity of one BMC request, echoed in its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BmcRequestId(pub u64);

/// One alive report from a node agent, received on one network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliveReport {
    pub host: String,
    pub network: ProtocolNetwork,
    /// Changes on every boot; how the core knows a reboot really happened.
    pub boot_id: u64,
    pub uptime: Duration,
    pub flags: NodeFlags,
}

/// Heartbeat accounting results for one host on one network (docs/heartbeat.md#events).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeartbeatEvent {
    MinorSet,
    MinorClear,
    DegradeSet,
    DegradeClear,
    Loss,
    /// Pulses answered again after a loss.
    LossClear,
}

/// Which pulses went unanswered behind a heartbeat event: what an operator needs to judge a loss
/// ("10 pulses in a row, the last answered one was N") and what a test checks the thresholds with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PulseTally {
    /// Consecutive rounds counted as missed. Rounds voided because the controller itself ran late
    /// are not counted, so this can be less than `round - last_answered`.
    pub misses: u32,
    /// The round (pulse sequence number) whose close raised the event: the last one missed.
    pub round: u64,
    /// The last round the host answered on this network since its monitoring (re)started.
    pub last_answered: Option<u64>,
}

/// The process name under which the controller reports a node whose process monitor stopped
/// answering (no monitor flag in its heartbeat answers, docs/node-supervision.md#pmond).
pub const PMOND: &str = "pmond";

/// Process monitor severities that reach the core (docs/node-supervision.md#escalation): minor
/// raises alarm 200.006 only, major also degrades the host, critical fails and recovers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PmonEvent {
    Clear,
    Minor,
    Major,
    Critical,
}

/// Hardware monitor events that reach the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HwmonEvent {
    DegradeSet,
    DegradeClear,
    /// A critical sensor asks for a reset.
    Reset,
    /// A critical sensor asks for a power cycle.
    PowerCycle,
}

/// A BMC operation the core asks for. Power operations complete only when the BMC reads back the
/// target state; the driver reports failure otherwise. Every operation answers with the power
/// state read afterwards ([`BmcOutcome::Done`]) or a failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BmcOp {
    PowerStatus,
    PowerOn,
    PowerOff,
    PowerReset,
    /// Next boot from the network (reinstall), once.
    NetbootOnce,
    /// Eject whatever virtual media is inserted; done once every CD slot reads back empty.
    EjectMedia,
    /// Insert `image` into the virtual CD. Done means the BMC accepted the request; it may mount
    /// the image later (or never): [`BmcOp::VerifyMedia`] reads it back.
    InsertMedia {
        image: String,
    },
    /// Read the virtual CD back: done only if it holds `image`, inserted.
    VerifyMedia {
        image: String,
    },
    /// Next boot from the virtual CD, once, in the system's boot mode (UEFI or legacy); done only
    /// if the override reads back as asked.
    BootOnceVirtualCd,
}

impl BmcOp {
    pub fn is_destructive(&self) -> bool {
        matches!(self, BmcOp::PowerOff | BmcOp::PowerReset)
    }

    /// The operation's name without its data (metrics labels, logs: never the image URL).
    pub fn name(&self) -> &'static str {
        match self {
            BmcOp::PowerStatus => "power-status",
            BmcOp::PowerOn => "power-on",
            BmcOp::PowerOff => "power-off",
            BmcOp::PowerReset => "power-reset",
            BmcOp::NetbootOnce => "netboot-once",
            BmcOp::EjectMedia => "eject-media",
            BmcOp::InsertMedia { .. } => "insert-media",
            BmcOp::VerifyMedia { .. } => "verify-media",
            BmcOp::BootOnceVirtualCd => "boot-once-virtual-cd",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BmcOutcome {
    /// The operation was done; the power state read back afterwards.
    Done(PowerState),
    Failed(String),
}

/// Why a destructive effect happens. The simulator's safety invariants are checked against this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "cause")]
pub enum Cause {
    /// The operator asked for it (or for an action that needs it, like unlock's reboot).
    Operator { action: ActionId },
    /// Automatic recovery of a failed unlocked host.
    AutoRecovery,
    /// A critical sensor asked for it.
    CriticalSensor,
    /// Not destructive.
    Routine,
}

/// Heartbeat monitoring control for one host or all.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeartbeatControl {
    /// Start counting misses for this host (after a soak starts).
    Start,
    /// Stop counting (host going down on purpose).
    Stop,
    /// Slow pulses down cluster-wide (MNFA entered).
    Backoff,
    /// Back to normal pulses (MNFA left).
    Recover,
}

/// Inputs to the core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Event {
    Alive(AliveReport),
    CommandAck {
        host: String,
        command: CommandId,
        network: ProtocolNetwork,
    },
    GoEnabled {
        host: String,
        subfunction: bool,
        passed: bool,
        detail: String,
    },
    HostServices {
        host: String,
        passed: bool,
        detail: String,
    },
    Heartbeat {
        host: String,
        network: Network,
        event: HeartbeatEvent,
        /// The misses behind a minor, degrade or loss event, when the accounting knows them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tally: Option<PulseTally>,
    },
    Bmc {
        host: String,
        request: BmcRequestId,
        outcome: BmcOutcome,
    },
    BmcAccess {
        host: String,
        accessible: bool,
    },
    Pmon {
        host: String,
        /// The process the node's monitor reports on (`pmond`: the monitor itself, judged by the
        /// controller from the heartbeat answers).
        #[serde(default)]
        process: String,
        event: PmonEvent,
    },
    Hwmon {
        host: String,
        event: HwmonEvent,
    },
    /// The node's link monitor reports the interface of one network: `down` of its `ports`
    /// physical ports are down (docs/node-monitoring.md#links).
    Link {
        host: String,
        network: LinkNetwork,
        interface: String,
        down: u8,
        ports: u8,
    },
    /// The node's filesystem monitor reports one mount point (docs/node-monitoring.md#filesystems).
    Filesystem {
        host: String,
        mount: String,
        state: FsState,
    },
    /// The runtime reports whether the standby controller took over after a swact request.
    SwactResult {
        completed: bool,
    },
}

impl Event {
    pub fn host(&self) -> Option<&str> {
        match self {
            Event::Alive(a) => Some(&a.host),
            Event::CommandAck { host, .. }
            | Event::GoEnabled { host, .. }
            | Event::HostServices { host, .. }
            | Event::Heartbeat { host, .. }
            | Event::Bmc { host, .. }
            | Event::BmcAccess { host, .. }
            | Event::Pmon { host, .. }
            | Event::Hwmon { host, .. }
            | Event::Link { host, .. }
            | Event::Filesystem { host, .. } => Some(host),
            Event::SwactResult { .. } => None,
        }
    }
}

/// Outputs of the core, in the order they must be carried out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "effect")]
pub enum Effect {
    /// Send a command to a node on the given networks.
    Send {
        host: String,
        id: CommandId,
        command: NodeCommand,
        networks: Vec<ProtocolNetwork>,
        cause: Cause,
    },
    /// Ask the host's BMC for something; the result comes back as [`Event::Bmc`].
    Bmc {
        host: String,
        id: BmcRequestId,
        op: BmcOp,
        cause: Cause,
    },
    /// Start or stop heartbeat monitoring of a host (`host` None: cluster-wide control).
    Heartbeat {
        host: Option<String>,
        control: HeartbeatControl,
    },
    Alarm(AlarmChange),
    Log(CustomerLog),
    /// The host's record changed: persist it (read it back with `Maintenance::host`).
    HostChanged {
        host: String,
    },
    HostRemoved {
        host: String,
    },
    Journal(JournalEntry),
    /// Hand the active role to the standby controller.
    Swact {
        to: String,
    },
}
