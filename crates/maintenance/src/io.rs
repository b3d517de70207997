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

/// One optional timing of [`NodeSettings`]: its name (the API's JSON key) and accepted range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingField {
    pub name: &'static str,
    pub min: u32,
    pub max: u32,
    pub unit: &'static str,
}

impl NodeSettings {
    /// Every optional timing, in order: the one list the validation, the API's PATCH and the CLI
    /// work from.
    pub const FIELDS: [SettingField; 5] = [
        // Below 100 ms an agent would flood its controllers; above a minute a controller cannot
        // tell a slow agent from a gone one within its own audits.
        SettingField {
            name: "alive_period_ms",
            min: 100,
            max: 60_000,
            unit: "ms",
        },
        // The flag pair must be corrected within 5 s of tampering (reference test plan).
        SettingField {
            name: "flag_audit_period_ms",
            min: 100,
            max: 5_000,
            unit: "ms",
        },
        SettingField {
            name: "inventory_period_s",
            min: 10,
            max: 86_400,
            unit: "s",
        },
        SettingField {
            name: "goenabled_timeout_s",
            min: 1,
            max: 3_600,
            unit: "s",
        },
        SettingField {
            name: "services_timeout_s",
            min: 1,
            max: 3_600,
            unit: "s",
        },
    ];

    /// The timing called `name` (None: no such field).
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Option<u32>> {
        Some(match name {
            "alive_period_ms" => &mut self.alive_period_ms,
            "flag_audit_period_ms" => &mut self.flag_audit_period_ms,
            "inventory_period_s" => &mut self.inventory_period_s,
            "goenabled_timeout_s" => &mut self.goenabled_timeout_s,
            "services_timeout_s" => &mut self.services_timeout_s,
            _ => return None,
        })
    }

    /// Every timing with its value, in [`Self::FIELDS`] order.
    fn values(&self) -> impl Iterator<Item = (SettingField, Option<u32>)> + '_ {
        // Read through `field_mut` on a copy (the type is `Copy`): one name-to-field match, not two.
        let mut copy = *self;
        Self::FIELDS
            .into_iter()
            .map(move |f| (f, copy.field_mut(f.name).and_then(|v| *v)))
    }

    /// Check every field against its range; the message names the field and the range.
    pub fn validate(&self) -> Result<(), String> {
        for (f, value) in self.values() {
            if let Some(v) = value {
                if !(f.min..=f.max).contains(&v) {
                    return Err(format!(
                        "{} = {v} is out of range: it must be {}..={} {}",
                        f.name, f.min, f.max, f.unit
                    ));
                }
            }
        }
        Ok(())
    }

    /// The fields that are set, as `name=value` pairs (logs and the CLI).
    pub fn describe(&self) -> String {
        let set: Vec<String> = self
            .values()
            .filter_map(|(f, v)| v.map(|v| format!("{}={v}", f.name)))
            .collect();
        if set.is_empty() {
            "(all node defaults)".to_string()
        } else {
            set.join(" ")
        }
    }

    /// The timing called `name`; an unknown name is refused, naming the known ones.
    pub fn field(name: &str) -> Result<SettingField, String> {
        Self::FIELDS
            .into_iter()
            .find(|f| f.name == name)
            .ok_or_else(|| {
                format!(
                    "unknown node setting '{name}'; known: {}",
                    Self::FIELDS.map(|f| f.name).join(", ")
                )
            })
    }
}
