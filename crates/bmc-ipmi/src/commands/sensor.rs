//! Sensor/Event netfn: readings and thresholds.

use super::NETFN_SENSOR;
use crate::error::DecodeError;
use crate::packet::IpmiRequest;
use crate::wire::Reader;

pub fn get_sensor_reading(number: u8, lun: u8) -> IpmiRequest {
    let mut r = IpmiRequest::new(NETFN_SENSOR, 0x2D, vec![number]);
    r.lun = lun & 0x03;
    r
}

/// Threshold comparison bits (shared by readings and threshold masks):
/// bit0 lower non-critical .. bit5 upper non-recoverable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThresholdBits(pub u8);

impl ThresholdBits {
    pub const LNC: u8 = 0x01;
    pub const LCR: u8 = 0x02;
    pub const LNR: u8 = 0x04;
    pub const UNC: u8 = 0x08;
    pub const UCR: u8 = 0x10;
    pub const UNR: u8 = 0x20;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// Raw Get Sensor Reading response (IPMI v2.0 section 35.14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawReading {
    pub raw: u8,
    pub event_messages_enabled: bool,
    pub scanning_enabled: bool,
    /// "Reading/state unavailable" (initial update in progress or not readable).
    pub unavailable: bool,
    /// For threshold sensors: which thresholds are crossed. For discrete
    /// sensors: state bits 0..7 (byte 3) and 8..14 (byte 4) as u16.
    pub state: u16,
}

impl RawReading {
    pub fn decode(d: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(d, "Get Sensor Reading");
        let raw = r.u8()?;
        let status = r.u8()?;
        // Byte 3 (and 4) are optional for some sensors; absent means "no states".
        let s1 = r.opt_u8().unwrap_or(0);
        let s2 = r.opt_u8().unwrap_or(0);
        Ok(RawReading {
            raw,
            event_messages_enabled: status & 0x80 != 0,
            scanning_enabled: status & 0x40 != 0,
            unavailable: status & 0x20 != 0,
            state: u16::from(s1) | u16::from(s2 & 0x7F) << 8,
        })
    }

    pub fn threshold_bits(&self) -> ThresholdBits {
        ThresholdBits((self.state & 0x3F) as u8)
    }
}

pub fn get_sensor_thresholds(number: u8, lun: u8) -> IpmiRequest {
    let mut r = IpmiRequest::new(NETFN_SENSOR, 0x27, vec![number]);
    r.lun = lun & 0x03;
    r
}

/// Raw thresholds; `None` where the readable mask says the BMC has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawThresholds {
    pub lnc: Option<u8>,
    pub lcr: Option<u8>,
    pub lnr: Option<u8>,
    pub unc: Option<u8>,
    pub ucr: Option<u8>,
    pub unr: Option<u8>,
}

impl RawThresholds {
    pub fn decode(d: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(d, "Get Sensor Thresholds");
        let mask = ThresholdBits(r.u8()?);
        let v = r.array::<6>()?;
        let pick = |bit, val| if mask.has(bit) { Some(val) } else { None };
        Ok(RawThresholds {
            lnc: pick(ThresholdBits::LNC, v[0]),
            lcr: pick(ThresholdBits::LCR, v[1]),
            lnr: pick(ThresholdBits::LNR, v[2]),
            unc: pick(ThresholdBits::UNC, v[3]),
            ucr: pick(ThresholdBits::UCR, v[4]),
            unr: pick(ThresholdBits::UNR, v[5]),
        })
    }
}
