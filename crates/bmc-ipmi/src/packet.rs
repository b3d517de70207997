//! RMCP / IPMI session framing (IPMI v2.0 sections 13.6 and 13.8) and the IPMI LAN message
//! (section 13.8, table 13-8). Pure encode/decode, no I/O.

use crate::crypto::{ct_eq, SessionKeys};
use crate::error::DecodeError;
use crate::wire::Reader;

/// RMCP header: version 6, reserved, seq 0xFF (no RMCP ack), class IPMI.
pub const RMCP_HEADER: [u8; 4] = [0x06, 0x00, 0xFF, 0x07];
/// BMC responder address.
pub const BMC_ADDR: u8 = 0x20;
/// Remote console software ID used as requester address.
pub const CONSOLE_ADDR: u8 = 0x81;

pub const AUTH_TYPE_NONE: u8 = 0x00;
pub const AUTH_TYPE_RMCP_PLUS: u8 = 0x06;

/// RMCP+ payload types (low 6 bits of the payload type byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadType {
    Ipmi = 0x00,
    OpenSessionRequest = 0x10,
    OpenSessionResponse = 0x11,
    Rakp1 = 0x12,
    Rakp2 = 0x13,
    Rakp3 = 0x14,
    Rakp4 = 0x15,
}

impl PayloadType {
    fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            0x00 => PayloadType::Ipmi,
            0x10 => PayloadType::OpenSessionRequest,
            0x11 => PayloadType::OpenSessionResponse,
            0x12 => PayloadType::Rakp1,
            0x13 => PayloadType::Rakp2,
            0x14 => PayloadType::Rakp3,
            0x15 => PayloadType::Rakp4,
            other => return Err(DecodeError::PayloadType(other)),
        })
    }
}

const PT_ENCRYPTED: u8 = 0x80;
const PT_AUTHENTICATED: u8 = 0x40;

/// Two's complement checksum so that the covered bytes plus it sum to 0.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |a, b| a.wrapping_add(*b))
        .wrapping_neg()
}

/// An IPMI request as it goes into a LAN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiRequest {
    pub netfn: u8,
    pub cmd: u8,
    pub lun: u8,
    pub data: Vec<u8>,
}

impl IpmiRequest {
    pub fn new(netfn: u8, cmd: u8, data: Vec<u8>) -> Self {
        IpmiRequest {
            netfn,
            cmd,
            lun: 0,
            data,
        }
    }

    /// LAN message: rsAddr, netFn/rsLUN, chk1, rqAddr, rqSeq/rqLUN, cmd, data, chk2.
    pub fn encode(&self, rq_seq: u8) -> Vec<u8> {
        let mut m = Vec::with_capacity(7 + self.data.len());
        m.push(BMC_ADDR);
        m.push((self.netfn << 2) | (self.lun & 0x03));
        m.push(checksum(&m[0..2]));
        m.push(CONSOLE_ADDR);
        m.push((rq_seq & 0x3F) << 2);
        m.push(self.cmd);
        m.extend_from_slice(&self.data);
        m.push(checksum(&m[3..]));
        m
    }
}

/// A decoded IPMI response LAN message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiResponse {
    /// Response netfn (request netfn | 1).
    pub netfn: u8,
    pub cmd: u8,
    pub rq_seq: u8,
    pub completion: u8,
    pub data: Vec<u8>,
}

impl IpmiResponse {
    pub fn decode(msg: &[u8]) -> Result<Self, DecodeError> {
        if msg.len() < 8 {
            return Err(DecodeError::Truncated {
                what: "IPMI response message",
                needed: 8,
                have: msg.len(),
            });
        }
        if checksum(&msg[0..2]) != msg[2] {
            return Err(DecodeError::Checksum("header"));
        }
        let last = msg.len() - 1;
        if checksum(&msg[3..last]) != msg[last] {
            return Err(DecodeError::Checksum("body"));
        }
        Ok(IpmiResponse {
            netfn: msg[1] >> 2,
            rq_seq: msg[4] >> 2,
            cmd: msg[5],
            completion: msg[6],
            data: msg[7..last].to_vec(),
        })
    }
}

/// IPMI 1.5 packet with auth type NONE; used only for the pre-session
/// Get Channel Authentication Capabilities.
pub fn encode_v15_unauthenticated(lan_msg: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(14 + lan_msg.len());
    p.extend_from_slice(&RMCP_HEADER);
    p.push(AUTH_TYPE_NONE);
    p.extend_from_slice(&0u32.to_le_bytes()); // session seq
    p.extend_from_slice(&0u32.to_le_bytes()); // session id
    p.push(lan_msg.len() as u8);
    p.extend_from_slice(lan_msg);
    p
}

/// Decoded outer packet: the IPMI payload after integrity check and decryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub payload_type: PayloadType,
    pub session_id: u32,
    pub session_seq: u32,
    pub payload: Vec<u8>,
}

fn check_rmcp(r: &mut Reader<'_>) -> Result<(), DecodeError> {
    let h = r.array::<4>()?;
    if h[0] != 0x06 || h[3] & 0x1F != 0x07 {
        return Err(DecodeError::NotIpmi("bad RMCP header"));
    }
    if h[3] & 0x80 != 0 {
        return Err(DecodeError::NotIpmi("RMCP ACK, not a message"));
    }
    Ok(())
}

/// Decode an unauthenticated IPMI 1.5 reply (auth type NONE).
pub fn decode_v15(pkt: &[u8]) -> Result<Inbound, DecodeError> {
    let mut r = Reader::new(pkt, "IPMI 1.5 packet");
    check_rmcp(&mut r)?;
    let auth = r.u8()?;
    if auth != AUTH_TYPE_NONE {
        return Err(DecodeError::NotIpmi("IPMI 1.5 reply with authentication"));
    }
    let seq = r.u32()?;
    let sid = r.u32()?;
    let len = r.u8()? as usize;
    let payload = r.take(len)?.to_vec();
    Ok(Inbound {
        payload_type: PayloadType::Ipmi,
        session_id: sid,
        session_seq: seq,
        payload,
    })
}

/// Encode an RMCP+ (IPMI 2.0) packet. With `keys`, the payload is encrypted and
/// an integrity trailer appended (we always use both once a session is active).
pub fn encode_v20(
    ptype: PayloadType,
    session_id: u32,
    session_seq: u32,
    payload: &[u8],
    keys: Option<(&SessionKeys, [u8; 16])>,
) -> Vec<u8> {
    let mut p = Vec::with_capacity(64 + payload.len());
    p.extend_from_slice(&RMCP_HEADER);
    p.push(AUTH_TYPE_RMCP_PLUS);
    let body = match keys {
        Some((k, iv)) => {
            p.push(ptype as u8 | PT_ENCRYPTED | PT_AUTHENTICATED);
            k.encrypt(payload, iv)
        }
        None => {
            p.push(ptype as u8);
            payload.to_vec()
        }
    };
    p.extend_from_slice(&session_id.to_le_bytes());
    p.extend_from_slice(&session_seq.to_le_bytes());
    p.extend_from_slice(&(body.len() as u16).to_le_bytes());
    p.extend_from_slice(&body);
    if let Some((k, _)) = keys {
        // Integrity pad: AuthType..NextHeader must be a multiple of 4 bytes.
        let covered = p.len() - 4 + 2;
        let pad = (4 - covered % 4) % 4;
        p.resize(p.len() + pad, 0xFF);
        p.push(pad as u8);
        p.push(0x07); // next header
        let mac = k.auth_code(&p[4..]);
        p.extend_from_slice(&mac);
    }
    p
}

/// Decode an RMCP+ packet. `expected_sid` is our (console) session id, or 0
/// during session setup; `keys` must be given once the session is active, and
/// then unauthenticated/unencrypted packets are refused.
pub fn decode_v20(
    pkt: &[u8],
    expected_sid: u32,
    keys: Option<&SessionKeys>,
) -> Result<Inbound, DecodeError> {
    let mut r = Reader::new(pkt, "RMCP+ packet");
    check_rmcp(&mut r)?;
    let auth = r.u8()?;
    if auth != AUTH_TYPE_RMCP_PLUS {
        return Err(DecodeError::NotIpmi("auth type is not RMCP+"));
    }
    let pt = r.u8()?;
    let payload_type = PayloadType::from_u8(pt & 0x3F)?;
    let sid = r.u32()?;
    let seq = r.u32()?;
    let len = r.u16()? as usize;
    let body = r.take(len)?;
    if sid != expected_sid {
        return Err(DecodeError::WrongSession {
            got: sid,
            expected: expected_sid,
        });
    }
    let encrypted = pt & PT_ENCRYPTED != 0;
    let authenticated = pt & PT_AUTHENTICATED != 0;
    let payload = match keys {
        Some(k) => {
            if !encrypted || !authenticated {
                return Err(DecodeError::Unprotected);
            }
            // Trailer: pad (0..3 x 0xFF), pad length, next header, AuthCode.
            let icv_len = k.algs.integrity.auth_code_len();
            let trailer = r.rest();
            if trailer.len() < 2 + icv_len {
                return Err(DecodeError::Truncated {
                    what: "integrity trailer",
                    needed: 2 + icv_len,
                    have: trailer.len(),
                });
            }
            let covered_end = pkt.len() - icv_len;
            let pad_len = pkt[covered_end - 2] as usize;
            if pad_len > 3 || trailer.len() != pad_len + 2 + icv_len {
                return Err(DecodeError::Malformed("integrity pad"));
            }
            if pkt[covered_end - 1] != 0x07 {
                return Err(DecodeError::Malformed("next header"));
            }
            let expect = k.auth_code(&pkt[4..covered_end]);
            if !ct_eq(&expect, &pkt[covered_end..]) {
                return Err(DecodeError::Integrity);
            }
            k.decrypt(body)?
        }
        None => {
            if encrypted || authenticated {
                return Err(DecodeError::Malformed(
                    "protected packet before session keys",
                ));
            }
            body.to_vec()
        }
    };
    Ok(Inbound {
        payload_type,
        session_id: sid,
        session_seq: seq,
        payload,
    })
}
