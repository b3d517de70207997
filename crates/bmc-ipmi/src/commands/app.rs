//! Application netfn: channel auth capabilities, device id, session commands.

use super::NETFN_APP;
use crate::error::DecodeError;
use crate::packet::IpmiRequest;
use crate::wire::Reader;

/// Get Channel Authentication Capabilities for the current channel, asking for
/// IPMI 2.0 extended data (bit 7), at ADMINISTRATOR privilege.
pub fn get_channel_auth_caps() -> IpmiRequest {
    IpmiRequest::new(NETFN_APP, 0x38, vec![0x8E, 0x04])
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelAuthCaps {
    pub channel: u8,
    pub ipmi20: bool,
}

impl ChannelAuthCaps {
    pub fn decode(d: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(d, "Get Channel Auth Capabilities");
        let channel = r.u8()?;
        let auth_support = r.u8()?;
        let _status = r.u8()?;
        let ext = r.u8()?;
        // bit 7 of byte 2: extended capabilities present; bit 1 of byte 4: IPMI 2.0.
        Ok(ChannelAuthCaps {
            channel,
            ipmi20: auth_support & 0x80 != 0 && ext & 0x02 != 0,
        })
    }
}

pub fn get_device_id() -> IpmiRequest {
    IpmiRequest::new(NETFN_APP, 0x01, vec![])
}

/// Get Device ID response (IPMI v2.0 section 20.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId {
    pub device_id: u8,
    pub device_revision: u8,
    pub provides_sdrs: bool,
    pub device_available: bool,
    pub firmware_major: u8,
    /// BCD-decoded minor firmware revision.
    pub firmware_minor: u8,
    /// IPMI version as (major, minor), e.g. (2, 0).
    pub ipmi_version: (u8, u8),
    pub additional_support: u8,
    pub manufacturer_id: u32,
    pub product_id: u16,
    pub aux_firmware: Option<[u8; 4]>,
}

impl DeviceId {
    pub fn decode(d: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(d, "Get Device ID");
        let device_id = r.u8()?;
        let rev = r.u8()?;
        let fw1 = r.u8()?;
        let fw2 = r.u8()?;
        let ver = r.u8()?;
        let additional_support = r.u8()?;
        let m = r.array::<3>()?;
        let product_id = r.u16()?;
        let aux_firmware = r.array::<4>().ok();
        Ok(DeviceId {
            device_id,
            device_revision: rev & 0x0F,
            provides_sdrs: rev & 0x80 != 0,
            // bit 7 set means "device firmware, SDR update or self init in progress".
            device_available: fw1 & 0x80 == 0,
            firmware_major: fw1 & 0x7F,
            firmware_minor: (fw2 >> 4) * 10 + (fw2 & 0x0F),
            ipmi_version: (ver & 0x0F, ver >> 4),
            additional_support,
            manufacturer_id: u32::from(m[0]) | u32::from(m[1]) << 8 | u32::from(m[2] & 0x0F) << 16,
            product_id,
            aux_firmware,
        })
    }
}

/// Set Session Privilege Level. Without it sessions stay at USER and chassis
/// control fails with 0xD4 (docs/bmc.md#ipmi-practicalities).
pub fn set_session_privilege(level: u8) -> IpmiRequest {
    IpmiRequest::new(NETFN_APP, 0x3B, vec![level])
}

pub fn close_session(bmc_sid: u32) -> IpmiRequest {
    IpmiRequest::new(NETFN_APP, 0x3C, bmc_sid.to_le_bytes().to_vec())
}
