//! What goes into the core ([`Event`]) and what comes out ([`Effect`]).
//!
//! Drivers translate packets, BMC replies and heartbeat accounting into events, and carry effects out:
//! send a command to a node, call a BMC, start heartbeat, raise an alarm, persist a host, journal an action.

use crate::action::{ActionId, JournalEntry};
use crate::alarm::{AlarmChange, CustomerLog};
use crate::state::{Network, PowerState};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Identity of one command sent to a node, echoed in its acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CommandId(pub u64);

/// Identity of one BMC request, echoed in its result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BmcRequestId(pub u64);

/// Health flags a node reports in every alive report (reference: mtc-fsm.md §3.5).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFlags {
    pub configured: bool,
    pub not_healthy: bool,
    pub healthy: bool,
    pub locked: bool,
    pub subf_configured: bool,
    pub main_goenabled: bool,
    pub subf_goenabled: bool,
    pub sm_degraded: bool,
    pub luks_failed: bool,
    pub sm_unhealthy: bool,
    pub main_goenable_failed: bool,
    pub subf_goenable_failed: bool,
    pub main_services_failed: bool,
    pub subf_services_failed: bool,
}

/// One alive report from a node agent, received on one network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliveReport {
    pub host: String,
    pub network: Network,
    /// Changes on every boot; how the core knows a reboot really happened.
    pub boot_id: u64,
    pub uptime: Duration,
    pub flags: NodeFlags,
}

/// Heartbeat accounting results for one host on one network (reference: mtc-fsm.md §5.1).
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

/// Process monitor severities that reach the core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PmonEvent {
    Clear,
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
/// target state; the driver reports failure otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BmcOp {
    PowerStatus,
    PowerOn,
    PowerOff,
    PowerReset,
    /// Next boot from the network (reinstall), once.
    NetbootOnce,
}

impl BmcOp {
    pub fn is_destructive(self) -> bool {
        matches!(self, BmcOp::PowerOff | BmcOp::PowerReset)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BmcOutcome {
    /// The operation was done; the power state read back afterwards.
    Done(PowerState),
    Failed(String),
}

/// Commands the controller sends to node agents (reference: mtc-fsm.md §3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeCommand {
    Reboot,
    /// Reboot after draining, used by the active controller on itself.
    LazyReboot,
    WipeDisk,
    /// Write both lock flags (`persist` = also the non-volatile backup).
    Locked {
        persist: bool,
    },
    Unlocked,
    RequestAlive,
    MainGoEnabled,
    SubfGoEnabled,
    StopServices,
}

impl NodeCommand {
    pub fn is_destructive(self) -> bool {
        matches!(
            self,
            NodeCommand::Reboot | NodeCommand::LazyReboot | NodeCommand::WipeDisk
        )
    }
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
        network: Network,
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
        event: PmonEvent,
    },
    Hwmon {
        host: String,
        event: HwmonEvent,
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
            | Event::Hwmon { host, .. } => Some(host),
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
        networks: Vec<Network>,
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

/// Node settings a controller pushes to every node agent ("config push"; reference mtc-fsm.md §3.4
/// MSG_INFO, redesigned: no credentials travel, only the agent's own timings).
///
/// Every timing is optional: `None` keeps the value of the node's own configuration, so an operator
/// changes only what they mean to. `generation` orders pushes: an agent applies a push only when its
/// generation is newer than the one it holds, so a late duplicate can never roll settings back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// 0 = never set by an operator (nothing is pushed).
    #[serde(default)]
    pub generation: u64,
    /// Alive report period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alive_period_ms: Option<u32>,
    /// Lock-flag audit period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_audit_period_ms: Option<u32>,
    /// Inventory re-send period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_period_s: Option<u32>,
    /// Per go-enabled script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goenabled_timeout_s: Option<u32>,
    /// Per host-services script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services_timeout_s: Option<u32>,
}

impl NodeSettings {
    /// The accepted range of every field: (name, value, min, max, unit).
    fn fields(&self) -> [(&'static str, Option<u32>, u32, u32, &'static str); 5] {
        [
            // Below 100 ms an agent would flood its controllers; above a minute a controller
            // cannot tell a slow agent from a gone one within its own audits.
            ("alive_period_ms", self.alive_period_ms, 100, 60_000, "ms"),
            // The flag pair must be corrected within 5 s of tampering (reference test plan).
            (
                "flag_audit_period_ms",
                self.flag_audit_period_ms,
                100,
                5_000,
                "ms",
            ),
            (
                "inventory_period_s",
                self.inventory_period_s,
                10,
                86_400,
                "s",
            ),
            (
                "goenabled_timeout_s",
                self.goenabled_timeout_s,
                1,
                3_600,
                "s",
            ),
            ("services_timeout_s", self.services_timeout_s, 1, 3_600, "s"),
        ]
    }

    /// Check every field against its range; the message names the field and the range.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value, min, max, unit) in self.fields() {
            if let Some(v) = value {
                if !(min..=max).contains(&v) {
                    return Err(format!(
                        "{name} = {v} is out of range: it must be {min}..={max} {unit}"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The fields that are set, as `name=value` pairs (logs and the CLI).
    pub fn describe(&self) -> String {
        let set: Vec<String> = self
            .fields()
            .iter()
            .filter_map(|(name, v, _, _, _)| v.map(|v| format!("{name}={v}")))
            .collect();
        if set.is_empty() {
            "(all node defaults)".to_string()
        } else {
            set.join(" ")
        }
    }
}
