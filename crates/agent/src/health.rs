//! The node's configuration health as the runtime observes it (docs/node-supervision.md#flags):
//! marker files a configuration system writes, and a disk-encryption check. Unset markers keep
//! the agent's old answer (configured and healthy), so a node without a configuration system
//! still enables.
//!
//! Only configuration feeds these flags. The process, link and filesystem monitors never do: a
//! crashed daemon must not look like a configuration failure, which the controller answers with
//! alarm 200.011 and a forced reboot.

/// What the runtime found, for the health flags of the alive reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigHealth {
    /// The initial configuration completed (`configured`).
    pub configured: bool,
    /// The configuration reported a failure (`not_healthy`).
    pub failed: bool,
    /// The configuration reported a pass (`healthy`).
    pub passed: bool,
    /// The worker subfunction's configuration completed (`subf_configured`).
    pub subf_configured: bool,
    /// The encrypted volume check failed (`luks_failed`).
    pub luks_failed: bool,
}

impl Default for ConfigHealth {
    /// Nothing to observe: configured, healthy, nothing failed.
    fn default() -> Self {
        ConfigHealth {
            configured: true,
            failed: false,
            passed: true,
            subf_configured: true,
            luks_failed: false,
        }
    }
}
