//! System Event Log record decoding (IPMI v2.0 section 32). Pure, no I/O.

use crate::error::DecodeError;
use crate::wire::Reader;

pub const SEL_RECORD_LEN: usize = 16;

/// One SEL record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelEntry {
    /// Record type 0x02: a standard system event.
    System {
        record_id: u16,
        timestamp: u32,
        generator_id: u16,
        evm_revision: u8,
        sensor_type: u8,
        sensor_number: u8,
        /// true for deassertion events.
        deassertion: bool,
        event_type: u8,
        event_data: [u8; 3],
    },
    /// Types 0xC0..=0xDF: OEM timestamped.
    OemTimestamped {
        record_id: u16,
        record_type: u8,
        timestamp: u32,
        manufacturer_id: u32,
        data: [u8; 6],
    },
    /// Anything else (0xE0..=0xFF OEM non-timestamped, unknown types).
    Other {
        record_id: u16,
        record_type: u8,
        data: [u8; 13],
    },
}

impl SelEntry {
    pub fn decode(d: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(d, "SEL record");
        let record_id = r.u16()?;
        let record_type = r.u8()?;
        Ok(match record_type {
            0x02 => {
                let timestamp = r.u32()?;
                let generator_id = r.u16()?;
                let evm_revision = r.u8()?;
                let sensor_type = r.u8()?;
                let sensor_number = r.u8()?;
                let dir = r.u8()?;
                SelEntry::System {
                    record_id,
                    timestamp,
                    generator_id,
                    evm_revision,
                    sensor_type,
                    sensor_number,
                    deassertion: dir & 0x80 != 0,
                    event_type: dir & 0x7F,
                    event_data: r.array()?,
                }
            }
            0xC0..=0xDF => {
                let timestamp = r.u32()?;
                let m = r.array::<3>()?;
                SelEntry::OemTimestamped {
                    record_id,
                    record_type,
                    timestamp,
                    manufacturer_id: u32::from(m[0]) | u32::from(m[1]) << 8 | u32::from(m[2]) << 16,
                    data: r.array()?,
                }
            }
            _ => SelEntry::Other {
                record_id,
                record_type,
                data: r.array()?,
            },
        })
    }

    pub fn record_id(&self) -> u16 {
        match self {
            SelEntry::System { record_id, .. }
            | SelEntry::OemTimestamped { record_id, .. }
            | SelEntry::Other { record_id, .. } => *record_id,
        }
    }
}
