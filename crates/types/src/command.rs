//! Commands a controller sends to a node, and the health flags a node reports back.

use serde::{Deserialize, Serialize};

/// Identity of one command sent to a node, echoed in its acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CommandId(pub u64);

/// Commands the controller sends to node agents (docs/protocol.md#commands).
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

/// Health flags a node reports in every alive report (docs/protocol.md#alive-reports).
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
    /// The agent also sends its alive reports on the pxeboot network: the controller then
    /// expects them there and raises 200.003 when they stop (docs/protocol.md#the-pxeboot-network).
    #[serde(default)]
    pub pxeboot_alive: bool,
}
