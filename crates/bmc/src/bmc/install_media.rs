//! Reinstall through Redfish virtual media (docs/handlers.md#reinstall): eject, insert an image
//! URL, read the virtual CD back, and boot it once. Every step is read back; IPMI has no virtual
//! media and answers "not supported over IPMI" (the core picks PXE for IPMI hosts).

use steward_bmc_redfish as rf;
use tracing::{debug, info};

use super::Bmc;
use crate::error::{BmcError, Result};
use crate::types::BmcProtocol;

/// The virtual CD as read back from the BMC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualMediaStatus {
    /// The VirtualMedia resource read.
    pub slot: String,
    /// The BMC reports the image mounted (`Inserted` true, and connected).
    pub inserted: bool,
    /// The image URL it holds, if any.
    pub image: Option<String>,
}

impl VirtualMediaStatus {
    /// The CD holds `image`, mounted.
    pub fn holds(&self, image: &str) -> bool {
        self.inserted && self.image.as_deref() == Some(image)
    }

    /// The image for messages and logs: any `user:password@` part left out.
    pub fn image_shown(&self) -> String {
        let Some(image) = &self.image else {
            return "none".into();
        };
        match image.split_once("://") {
            Some((scheme, rest)) => {
                let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
                match rest[..end].rsplit_once('@') {
                    Some((_, host)) => format!("{scheme}://{host}{}", &rest[end..]),
                    None => image.clone(),
                }
            }
            None => image.clone(),
        }
    }
}

/// The boot override as read back after [`Bmc::boot_once_virtual_cd`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootOverrideState {
    /// `BootSourceOverrideTarget` (`Cd`).
    pub target: String,
    /// `BootSourceOverrideEnabled` (`Once`, or `Continuous` on BMCs known to show a one-time
    /// override that way).
    pub enabled: String,
    /// `BootSourceOverrideMode` when the BMC shows one: true for UEFI, false for legacy.
    pub uefi: Option<bool>,
}

fn not_over_ipmi(what: &str) -> BmcError {
    BmcError::Unsupported {
        what: what.into(),
        protocol: BmcProtocol::Ipmi,
        hint: Some(
            "virtual media is not supported over IPMI; reinstall this host with install_method pxe"
                .into(),
        ),
    }
}

impl Bmc {
    /// Eject whatever the virtual CD slots hold; done once every slot reads back empty.
    pub async fn eject_virtual_media(&mut self) -> Result<()> {
        if self.is_ipmi() {
            return Err(not_over_ipmi("virtual media eject"));
        }
        let address = self.cfg.address.clone();
        self.redfish()
            .eject_media()
            .await
            .map_err(|e| BmcError::from_redfish(&address, e))
    }

    /// Insert `url` (http or https, reachable by the BMC) into the virtual CD. `Ok` means the BMC
    /// accepted it: a BMC may mount the image only later, or never, so the caller reads it back
    /// with [`Bmc::virtual_media_status`] until it holds the image.
    pub async fn insert_virtual_media(&mut self, url: &str) -> Result<()> {
        if self.is_ipmi() {
            return Err(not_over_ipmi("virtual media insert"));
        }
        let address = self.cfg.address.clone();
        info!(bmc = %address, "virtual media insert");
        match self.redfish().insert_media(url, true).await {
            Ok(_) => Ok(()),
            // Accepted, not (yet) reading back inserted: the mount read-back decides.
            Err(rf::RedfishError::NotApplied { detail, .. }) => {
                debug!(bmc = %address, %detail, "insert accepted, not mounted yet");
                Ok(())
            }
            Err(e) => Err(BmcError::from_redfish(&address, e)),
        }
    }

    /// Read the virtual CD back.
    pub async fn virtual_media_status(&mut self) -> Result<VirtualMediaStatus> {
        if self.is_ipmi() {
            return Err(not_over_ipmi("virtual media status"));
        }
        let address = self.cfg.address.clone();
        let slot = self
            .redfish()
            .cd_media_status()
            .await
            .map_err(|e| BmcError::from_redfish(&address, e))?;
        Ok(VirtualMediaStatus {
            inserted: slot.has_media(),
            image: slot.image.clone(),
            slot: slot.odata_id,
        })
    }

    /// Boot once from the virtual CD. `uefi`: the boot mode to ask for; `None` keeps the mode
    /// the system is in (UEFI or legacy, as the BMC shows it; not sent to BMCs that show none).
    /// The override is read back: a target, one-time setting or mode that differs is an error.
    pub async fn boot_once_virtual_cd(&mut self, uefi: Option<bool>) -> Result<BootOverrideState> {
        if self.is_ipmi() {
            return Err(not_over_ipmi("one-time boot from virtual CD"));
        }
        let address = self.cfg.address.clone();
        let c = self.redfish();
        let err = |e| BmcError::from_redfish(&address, e);
        let mode = match uefi {
            Some(true) => Some(rf::BootMode::Uefi),
            Some(false) => Some(rf::BootMode::Legacy),
            None => c.boot_settings().await.map_err(err)?.mode,
        };
        let req = rf::BootOverride {
            target: rf::BootTarget::Cd,
            enabled: rf::BootEnabled::Once,
            mode,
        };
        // set_boot_override reads back the target and the one-time setting.
        let back = c.set_boot_override(&req).await.map_err(err)?;
        if let (Some(want), Some(got)) = (mode, back.mode) {
            if want != got {
                return Err(BmcError::from_redfish(
                    &address,
                    rf::RedfishError::NotApplied {
                        bmc: address.clone(),
                        detail: format!(
                            "boot override reads back mode {}, wanted {}",
                            got.as_str(),
                            want.as_str()
                        ),
                    },
                ));
            }
        }
        info!(bmc = %address, mode = ?back.mode, "one-time boot from virtual CD set");
        Ok(BootOverrideState {
            target: back
                .target
                .as_ref()
                .map(|t| t.as_str().to_string())
                .unwrap_or_default(),
            enabled: back
                .enabled
                .map(|e| e.as_str().to_string())
                .unwrap_or_default(),
            uefi: back.mode.map(|m| m == rf::BootMode::Uefi),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_image_leaves_out_credentials() {
        let s = |image: &str| VirtualMediaStatus {
            slot: "/x".into(),
            inserted: true,
            image: Some(image.into()),
        };
        assert_eq!(s("http://u:pw@h:8/a.iso").image_shown(), "http://h:8/a.iso");
        assert_eq!(s("http://h/a@b.iso").image_shown(), "http://h/a@b.iso");
        assert!(s("http://h/a.iso").holds("http://h/a.iso"));
        assert!(!s("http://h/a.iso").holds("http://h/b.iso"));
    }
}
