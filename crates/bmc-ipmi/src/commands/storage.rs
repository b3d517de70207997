//! Storage netfn: SDR repository and SEL.

use super::NETFN_STORAGE;
use crate::error::DecodeError;
use crate::packet::IpmiRequest;
use crate::wire::Reader;

pub fn get_sdr_repository_info() -> IpmiRequest {
    IpmiRequest::new(NETFN_STORAGE, 0x20, vec![])
}

/// Shared shape of Get SDR Repository Info and Get SEL Info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepositoryInfo {
    pub version: u8,
    pub entries: u16,
    pub free_space: u16,
    pub last_addition: u32,
    pub last_erase: u32,
    pub operation_support: u8,
}

impl RepositoryInfo {
    pub fn decode(d: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(d, "repository info");
        Ok(RepositoryInfo {
            version: r.u8()?,
            entries: r.u16()?,
            free_space: r.u16()?,
            last_addition: r.u32()?,
            last_erase: r.u32()?,
            operation_support: r.u8()?,
        })
    }
}

pub fn reserve_sdr_repository() -> IpmiRequest {
    IpmiRequest::new(NETFN_STORAGE, 0x22, vec![])
}

pub fn decode_reservation(d: &[u8]) -> Result<u16, DecodeError> {
    Reader::new(d, "reservation id").u16()
}

/// Get SDR: `count` 0xFF means "entire record".
pub fn get_sdr(reservation: u16, record_id: u16, offset: u8, count: u8) -> IpmiRequest {
    let mut d = reservation.to_le_bytes().to_vec();
    d.extend_from_slice(&record_id.to_le_bytes());
    d.push(offset);
    d.push(count);
    IpmiRequest::new(NETFN_STORAGE, 0x23, d)
}

/// Get SDR / Get SEL Entry response: next record id and the bytes read.
pub fn decode_record_chunk(d: &[u8]) -> Result<(u16, Vec<u8>), DecodeError> {
    let mut r = Reader::new(d, "record chunk");
    let next = r.u16()?;
    Ok((next, r.rest().to_vec()))
}

pub fn get_sel_info() -> IpmiRequest {
    IpmiRequest::new(NETFN_STORAGE, 0x40, vec![])
}

pub fn reserve_sel() -> IpmiRequest {
    IpmiRequest::new(NETFN_STORAGE, 0x42, vec![])
}

pub fn get_sel_entry(record_id: u16) -> IpmiRequest {
    let mut d = vec![0, 0]; // reservation only needed for partial reads
    d.extend_from_slice(&record_id.to_le_bytes());
    d.push(0);
    d.push(0xFF);
    IpmiRequest::new(NETFN_STORAGE, 0x43, d)
}

/// Add SEL Entry with a raw 16-byte record (record id is assigned by the BMC).
pub fn add_sel_entry(record: &[u8; 16]) -> IpmiRequest {
    IpmiRequest::new(NETFN_STORAGE, 0x44, record.to_vec())
}

pub fn decode_record_id(d: &[u8]) -> Result<u16, DecodeError> {
    Reader::new(d, "record id").u16()
}

/// Clear SEL: `initiate` = true starts erasure, false polls its status.
pub fn clear_sel(reservation: u16, initiate: bool) -> IpmiRequest {
    let mut d = reservation.to_le_bytes().to_vec();
    d.extend_from_slice(b"CLR");
    d.push(if initiate { 0xAA } else { 0x00 });
    IpmiRequest::new(NETFN_STORAGE, 0x47, d)
}

/// Clear SEL response: true when erasure completed.
pub fn decode_clear_sel(d: &[u8]) -> Result<bool, DecodeError> {
    Ok(Reader::new(d, "Clear SEL").u8()? & 0x0F == 0x01)
}
