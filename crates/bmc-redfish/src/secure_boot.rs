//! UEFI secure boot: the ComputerSystem's `SecureBoot` resource. Read `SecureBootEnable` (what
//! the firmware will enforce from the next boot on), `SecureBootCurrentBoot` (what this boot
//! runs with) and `SecureBootMode`; change `SecureBootEnable` with a PATCH, verified by read-back.
//!
//! Redfish applies a `SecureBootEnable` change at the next reset of the system, so right after
//! a change `enabled` and `current_boot` may disagree; callers say so to the operator.

use serde_json::{json, Value};
use tracing::info;

use crate::client::RedfishClient;
use crate::error::{RedfishError, Result};
use crate::json::{bool_at, link, string_at};

/// The `SecureBoot` resource as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecureBootState {
    pub odata_id: String,
    /// `SecureBootEnable`: enforced from the next boot on.
    pub enabled: Option<bool>,
    /// `SecureBootCurrentBoot`: `Enabled`, `Disabled` (or `Unknown`) for the running boot.
    pub current_boot: Option<String>,
    /// `SecureBootMode`: `SetupMode`, `UserMode`, `AuditMode`, `DeployedMode`.
    pub mode: Option<String>,
}

impl SecureBootState {
    /// Parse a SecureBoot document.
    pub fn from_json(odata_id: &str, v: &Value) -> Self {
        Self {
            odata_id: odata_id.to_owned(),
            enabled: bool_at(v, "/SecureBootEnable"),
            current_boot: string_at(v, "/SecureBootCurrentBoot"),
            mode: string_at(v, "/SecureBootMode"),
        }
    }

    /// The running boot's state as a bool, when the BMC says.
    pub fn current_enabled(&self) -> Option<bool> {
        match self.current_boot.as_deref() {
            Some("Enabled") => Some(true),
            Some("Disabled") => Some(false),
            _ => None,
        }
    }

    /// A change is waiting for the next reset: the setting and the running boot disagree.
    pub fn pending_reset(&self) -> bool {
        matches!((self.enabled, self.current_enabled()), (Some(e), Some(c)) if e != c)
    }
}

impl RedfishClient {
    /// The System's `SecureBoot` link; `NotFound` when the BMC has none (legacy BIOS systems,
    /// older firmware).
    async fn secure_boot_path(&self) -> Result<String> {
        let sys = self.get(&self.topology.system).await?.body;
        link(&sys, "SecureBoot").ok_or_else(|| self.no_secure_boot(&self.topology.system))
    }

    fn no_secure_boot(&self, path: &str) -> RedfishError {
        RedfishError::NotFound {
            what: "SecureBoot resource (this system publishes no UEFI secure boot settings)".into(),
            url: self
                .url_for(path)
                .map(|u| u.to_string())
                .unwrap_or_else(|_| path.to_owned()),
        }
    }

    /// GET the resource; a 404 on a linked SecureBoot (some services link it but disable the
    /// feature) is the same "not offered" as a missing link.
    async fn read_secure_boot(&self, path: &str) -> Result<SecureBootState> {
        match self.get(path).await {
            Ok(r) => Ok(SecureBootState::from_json(path, &r.body)),
            Err(RedfishError::Http { status: 404, .. }) => Err(self.no_secure_boot(path)),
            Err(e) => Err(e),
        }
    }

    /// Read the secure boot state.
    pub async fn secure_boot(&self) -> Result<SecureBootState> {
        let path = self.secure_boot_path().await?;
        self.read_secure_boot(&path).await
    }

    /// Set `SecureBootEnable` (takes effect at the next reset) and read it back.
    pub async fn set_secure_boot(&self, enable: bool) -> Result<SecureBootState> {
        let path = self.secure_boot_path().await?;
        // Read first: a missing resource is NotFound, not an HTTP error on the PATCH.
        self.read_secure_boot(&path).await?;
        info!(resource = %path, enable, "secure boot");
        self.patch(&path, &json!({ "SecureBootEnable": enable }))
            .await?;
        let back = self.read_secure_boot(&path).await?;
        if back.enabled != Some(enable) {
            return Err(self.not_applied(format!(
                "{path} reads back SecureBootEnable={:?} after setting it to {enable}",
                back.enabled
            )));
        }
        Ok(back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_pending() {
        let v = json!({"SecureBootEnable": true, "SecureBootCurrentBoot": "Disabled",
                       "SecureBootMode": "DeployedMode"});
        let s = SecureBootState::from_json("/sb", &v);
        assert_eq!(s.enabled, Some(true));
        assert_eq!(s.current_enabled(), Some(false));
        assert_eq!(s.mode.as_deref(), Some("DeployedMode"));
        assert!(s.pending_reset());
        let v = json!({"SecureBootEnable": false, "SecureBootCurrentBoot": "Disabled"});
        assert!(!SecureBootState::from_json("/sb", &v).pending_reset());
        let unknown =
            SecureBootState::from_json("/sb", &json!({"SecureBootCurrentBoot": "Unknown"}));
        assert_eq!(unknown.current_enabled(), None);
        assert!(!unknown.pending_reset());
    }
}
