//! Chassis netfn: status, control, boot options.

use super::NETFN_CHASSIS;
use crate::error::DecodeError;
use crate::packet::IpmiRequest;
use crate::wire::Reader;

pub fn get_chassis_status() -> IpmiRequest {
    IpmiRequest::new(NETFN_CHASSIS, 0x01, vec![])
}

/// Get Chassis Status response (IPMI v2.0 section 28.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChassisStatus {
    pub power_on: bool,
    pub power_overload: bool,
    pub power_interlock: bool,
    pub power_fault: bool,
    pub power_control_fault: bool,
    /// Power restore policy: 0 stay off, 1 restore previous, 2 always on, 3 unknown.
    pub restore_policy: u8,
    pub last_power_event: u8,
    pub intrusion: bool,
    pub front_panel_lockout: bool,
    pub drive_fault: bool,
    pub cooling_fault: bool,
}

impl ChassisStatus {
    pub fn decode(d: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(d, "Get Chassis Status");
        let cur = r.u8()?;
        let last = r.u8()?;
        let misc = r.u8()?;
        Ok(ChassisStatus {
            power_on: cur & 0x01 != 0,
            power_overload: cur & 0x02 != 0,
            power_interlock: cur & 0x04 != 0,
            power_fault: cur & 0x08 != 0,
            power_control_fault: cur & 0x10 != 0,
            restore_policy: (cur >> 5) & 0x03,
            last_power_event: last,
            intrusion: misc & 0x01 != 0,
            front_panel_lockout: misc & 0x02 != 0,
            drive_fault: misc & 0x04 != 0,
            cooling_fault: misc & 0x08 != 0,
        })
    }
}

/// Chassis Control operations (IPMI v2.0 section 28.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChassisControl {
    PowerOff,
    PowerOn,
    PowerCycle,
    HardReset,
    /// Soft shutdown via ACPI (emulated power button).
    SoftOff,
}

impl ChassisControl {
    pub fn code(self) -> u8 {
        match self {
            ChassisControl::PowerOff => 0x00,
            ChassisControl::PowerOn => 0x01,
            ChassisControl::PowerCycle => 0x02,
            ChassisControl::HardReset => 0x03,
            ChassisControl::SoftOff => 0x05,
        }
    }
}

pub fn chassis_control(op: ChassisControl) -> IpmiRequest {
    IpmiRequest::new(NETFN_CHASSIS, 0x02, vec![op.code()])
}

/// Boot device for the boot flags parameter (IPMI v2.0 section 28.13, parameter 5, data 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDevice {
    /// No override.
    None,
    Pxe,
    Disk,
    Cdrom,
    /// Enter BIOS/UEFI setup.
    Bios,
}

impl BootDevice {
    fn selector(self) -> u8 {
        match self {
            BootDevice::None => 0x0,
            BootDevice::Pxe => 0x1,
            BootDevice::Disk => 0x2,
            BootDevice::Cdrom => 0x5,
            BootDevice::Bios => 0x6,
        }
    }

    fn from_selector(s: u8) -> Option<Self> {
        Some(match s {
            0x0 => BootDevice::None,
            0x1 => BootDevice::Pxe,
            0x2 => BootDevice::Disk,
            0x5 => BootDevice::Cdrom,
            0x6 => BootDevice::Bios,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BootOptions {
    /// Apply to all future boots instead of only the next one.
    pub persistent: bool,
    /// Request an EFI boot instead of legacy BIOS.
    pub uefi: bool,
}

const BOOT_PARAM_FLAGS: u8 = 5;

/// Set System Boot Options, parameter 5 (boot flags).
pub fn set_boot_flags(dev: BootDevice, opts: BootOptions) -> IpmiRequest {
    let mut b1 = 0x80; // flags valid
    if opts.persistent {
        b1 |= 0x40;
    }
    if opts.uefi {
        b1 |= 0x20;
    }
    let b2 = dev.selector() << 2;
    IpmiRequest::new(NETFN_CHASSIS, 0x08, vec![BOOT_PARAM_FLAGS, b1, b2, 0, 0, 0])
}

pub fn get_boot_flags() -> IpmiRequest {
    IpmiRequest::new(NETFN_CHASSIS, 0x09, vec![BOOT_PARAM_FLAGS, 0, 0])
}

/// Decoded boot flags as the BMC reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BootFlags {
    pub valid: bool,
    pub persistent: bool,
    pub uefi: bool,
    /// None when the selector is one we do not model (e.g. floppy, remote).
    pub device: Option<BootDevice>,
    pub raw_selector: u8,
}

impl BootFlags {
    pub fn decode(d: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(d, "Get System Boot Options");
        let _version = r.u8()?;
        let param = r.u8()?;
        if param & 0x7F != BOOT_PARAM_FLAGS {
            return Err(DecodeError::Mismatch("boot options parameter"));
        }
        let b1 = r.u8()?;
        let b2 = r.u8()?;
        let sel = (b2 >> 2) & 0x0F;
        Ok(BootFlags {
            valid: b1 & 0x80 != 0,
            persistent: b1 & 0x40 != 0,
            uefi: b1 & 0x20 != 0,
            device: BootDevice::from_selector(sel),
            raw_selector: sel,
        })
    }
}
