//! UEFI secure boot as `steward-bmc` reports it (Redfish only: IPMI has no standard command for
//! it). A change of [`SecureBoot::enabled`] takes effect at the host's next reset, so until then it
//! may differ from [`SecureBoot::current_boot`] ([`SecureBoot::pending_reset`]).

use serde::{Deserialize, Serialize};
use steward_bmc_redfish::SecureBootState;

/// The secure boot state read from a BMC.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecureBoot {
    /// `SecureBootEnable`: enforced from the next boot on.
    pub enabled: Option<bool>,
    /// `SecureBootCurrentBoot`: whether the running boot was verified (`None`: the BMC does not say).
    pub current_boot: Option<bool>,
    /// `SecureBootMode`: `SetupMode`, `UserMode`, `AuditMode` or `DeployedMode`.
    pub mode: Option<String>,
}

impl SecureBoot {
    /// A change waits for the next reset: the setting and the running boot disagree.
    pub fn pending_reset(&self) -> bool {
        matches!((self.enabled, self.current_boot), (Some(e), Some(c)) if e != c)
    }
}

impl From<&SecureBootState> for SecureBoot {
    fn from(s: &SecureBootState) -> Self {
        SecureBoot {
            enabled: s.enabled,
            current_boot: s.current_enabled(),
            mode: s.mode.clone(),
        }
    }
}
