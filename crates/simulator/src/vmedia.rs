//! The simulated BMC's virtual CD and one-time boot override (docs/handlers.md#reinstall), with
//! the faults a real BMC shows: an insert it accepts and never mounts, a boot override that reads
//! back as something else, an eject it refuses. A host that boots (however it was started) with the
//! one-time override set and the image mounted boots the installer: it comes back as a fresh install. The BMC's power-on
//! refusal is armed here too (it is a fault of the same BMC, met on the same reinstall path).

use steward_maintenance::BmcOp;

/// Faults of the virtual CD, armed by [`crate::world::Fault::Vmedia`] and left by heal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmediaFaults {
    /// Inserts are accepted and never read back mounted.
    pub never_mounts: bool,
    /// The one-time boot override reads back as a network boot.
    pub override_differs: bool,
    /// Eject answers with an error and leaves the image in.
    pub eject_refused: bool,
    /// Power-on answers with an error and leaves the machine off.
    pub power_on_refused: bool,
}

/// Which fault to arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmediaFault {
    NeverMounts,
    OverrideDiffers,
    EjectRefused,
    PowerOnRefused,
}

/// The virtual CD of one simulated BMC.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VirtualCd {
    /// The image URL inserted, and whether the BMC mounted it.
    pub image: Option<String>,
    pub mounted: bool,
    /// The next power-on boots the virtual CD (once).
    pub boot_once: bool,
    pub faults: VmediaFaults,
}

impl VirtualCd {
    pub fn arm(&mut self, fault: VmediaFault) {
        match fault {
            VmediaFault::NeverMounts => self.faults.never_mounts = true,
            VmediaFault::OverrideDiffers => self.faults.override_differs = true,
            VmediaFault::EjectRefused => self.faults.eject_refused = true,
            VmediaFault::PowerOnRefused => self.faults.power_on_refused = true,
        }
    }

    pub fn heal(&mut self) {
        self.faults = VmediaFaults::default();
    }

    /// Carry out a virtual-media operation. `Some(Ok(()))` done, `Some(Err(why))` failed, `None`:
    /// not a virtual-media operation.
    pub fn apply(&mut self, op: &BmcOp) -> Option<Result<(), String>> {
        Some(match op {
            BmcOp::EjectMedia if self.faults.eject_refused && self.image.is_some() => {
                Err("EjectMedia refused (HTTP 500)".into())
            }
            BmcOp::EjectMedia => {
                self.image = None;
                self.mounted = false;
                Ok(())
            }
            BmcOp::InsertMedia { image } => {
                self.image = Some(image.clone());
                self.mounted = !self.faults.never_mounts;
                Ok(())
            }
            BmcOp::VerifyMedia { image } => {
                if self.mounted && self.image.as_ref() == Some(image) {
                    Ok(())
                } else {
                    Err(format!(
                        "virtual CD reads back Inserted={} Image={}",
                        self.mounted,
                        self.image.as_deref().unwrap_or("none")
                    ))
                }
            }
            BmcOp::BootOnceVirtualCd if self.faults.override_differs => {
                Err("boot override reads back target Pxe enabled Once, wanted Cd Once".into())
            }
            BmcOp::BootOnceVirtualCd => {
                self.boot_once = true;
                Ok(())
            }
            _ => return None,
        })
    }

    /// A boot starts: the one-time override is used up; true if this boot runs the installer.
    pub fn boots_installer(&mut self) -> bool {
        let installer = self.boot_once && self.mounted && self.image.is_some();
        self.boot_once = false;
        installer
    }
}
