//! Typed errors. Every failure a BMC (or a hostile packet) can cause maps to one
//! variant here; nothing in this crate panics on received bytes.

use std::fmt;

/// IPMI completion code (first byte of every response's data).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompletionCode(pub u8);

impl CompletionCode {
    pub const OK: CompletionCode = CompletionCode(0x00);
    pub const NODE_BUSY: CompletionCode = CompletionCode(0xC0);
    pub const INVALID_COMMAND: CompletionCode = CompletionCode(0xC1);
    pub const TIMEOUT: CompletionCode = CompletionCode(0xC3);
    pub const OUT_OF_SPACE: CompletionCode = CompletionCode(0xC4);
    pub const RESERVATION_CANCELLED: CompletionCode = CompletionCode(0xC5);
    pub const REQUEST_TRUNCATED: CompletionCode = CompletionCode(0xC6);
    pub const REQUEST_LENGTH_INVALID: CompletionCode = CompletionCode(0xC7);
    pub const REQUEST_TOO_LONG: CompletionCode = CompletionCode(0xC8);
    pub const PARAMETER_OUT_OF_RANGE: CompletionCode = CompletionCode(0xC9);
    pub const CANNOT_RETURN_BYTES: CompletionCode = CompletionCode(0xCA);
    pub const NOT_PRESENT: CompletionCode = CompletionCode(0xCB);
    pub const INVALID_DATA_FIELD: CompletionCode = CompletionCode(0xCC);
    pub const ILLEGAL_FOR_SENSOR: CompletionCode = CompletionCode(0xCD);
    pub const NO_RESPONSE: CompletionCode = CompletionCode(0xCE);
    pub const DUPLICATE_REQUEST: CompletionCode = CompletionCode(0xCF);
    pub const SDR_UPDATE_MODE: CompletionCode = CompletionCode(0xD0);
    pub const FIRMWARE_UPDATE_MODE: CompletionCode = CompletionCode(0xD1);
    pub const INIT_IN_PROGRESS: CompletionCode = CompletionCode(0xD2);
    pub const DESTINATION_UNAVAILABLE: CompletionCode = CompletionCode(0xD3);
    pub const INSUFFICIENT_PRIVILEGE: CompletionCode = CompletionCode(0xD4);
    pub const NOT_SUPPORTED_IN_STATE: CompletionCode = CompletionCode(0xD5);
    pub const UNSPECIFIED: CompletionCode = CompletionCode(0xFF);

    /// Human name from the IPMI 2.0 spec table 5-2.
    pub fn name(self) -> &'static str {
        match self.0 {
            0x00 => "command completed normally",
            0xC0 => "node busy",
            0xC1 => "invalid command",
            0xC2 => "command invalid for given LUN",
            0xC3 => "timeout while processing command",
            0xC4 => "out of space",
            0xC5 => "reservation cancelled or invalid reservation ID",
            0xC6 => "request data truncated",
            0xC7 => "request data length invalid",
            0xC8 => "request data field length limit exceeded",
            0xC9 => "parameter out of range",
            0xCA => "cannot return number of requested data bytes",
            0xCB => "requested sensor, data, or record not present",
            0xCC => "invalid data field in request",
            0xCD => "command illegal for specified sensor or record type",
            0xCE => "command response could not be provided",
            0xCF => "cannot execute duplicated request",
            0xD0 => "SDR repository in update mode",
            0xD1 => "device in firmware update mode",
            0xD2 => "BMC initialization in progress",
            0xD3 => "destination unavailable",
            0xD4 => "insufficient privilege level",
            0xD5 => "command not supported in present state",
            0xD6 => "command sub-function disabled or unavailable",
            0xFF => "unspecified error",
            0x01..=0x7E => "OEM completion code",
            0x80..=0xBE => "command-specific completion code",
            _ => "reserved completion code",
        }
    }
}

impl fmt::Debug for CompletionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} ({})", self.0, self.name())
    }
}

impl fmt::Display for CompletionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// RMCP+ status code carried in Open Session Response and RAKP 2/4.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RmcpStatus(pub u8);

impl RmcpStatus {
    pub fn name(self) -> &'static str {
        match self.0 {
            0x00 => "no errors",
            0x01 => "insufficient resources to create a session",
            0x02 => "invalid session ID",
            0x03 => "invalid payload type",
            0x04 => "invalid authentication algorithm",
            0x05 => "invalid integrity algorithm",
            0x06 => "no matching authentication payload",
            0x07 => "no matching integrity payload",
            0x08 => "inactive session ID",
            0x09 => "invalid role",
            0x0A => "unauthorized role or privilege level requested",
            0x0B => "insufficient resources to create a session at the requested role",
            0x0C => "invalid name length",
            0x0D => "unauthorized name",
            0x0E => "unauthorized GUID",
            0x0F => "invalid integrity check value",
            0x10 => "invalid confidentiality algorithm",
            0x11 => "no cipher suite match with proposed security algorithms",
            0x12 => "illegal or unrecognized parameter",
            _ => "reserved status code",
        }
    }

    /// Statuses that mean "this BMC does not do the proposed cipher suite",
    /// i.e. negotiation may fall back to the next suite.
    pub fn is_cipher_rejection(self) -> bool {
        matches!(self.0, 0x04 | 0x05 | 0x06 | 0x07 | 0x10 | 0x11 | 0x12)
    }
}

impl fmt::Display for RmcpStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X} ({})", self.0, self.name())
    }
}

/// Why a received packet was rejected while decoding.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    #[error("packet truncated: need {needed} bytes, have {have} ({what})")]
    Truncated {
        what: &'static str,
        needed: usize,
        have: usize,
    },
    #[error("not an RMCP/IPMI packet: {0}")]
    NotIpmi(&'static str),
    #[error("bad checksum in IPMI message ({0})")]
    Checksum(&'static str),
    #[error("unexpected payload type 0x{0:02X}")]
    PayloadType(u8),
    #[error("packet for another session (session id 0x{got:08X}, expected 0x{expected:08X})")]
    WrongSession { got: u32, expected: u32 },
    #[error("integrity check failed (bad AuthCode)")]
    Integrity,
    #[error("packet lacks required authentication/encryption")]
    Unprotected,
    #[error("decryption failed: {0}")]
    Decrypt(&'static str),
    #[error("response does not match request ({0})")]
    Mismatch(&'static str),
    #[error("malformed field: {0}")]
    Malformed(&'static str),
}

/// Errors returned by the client.
#[derive(Debug, thiserror::Error)]
pub enum IpmiError {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("no reply from BMC after {attempts} attempt(s)")]
    Timeout { attempts: u32 },
    #[error("malformed reply: {0}")]
    Decode(#[from] DecodeError),
    #[error("BMC returned completion code {code} for netfn 0x{netfn:02X} cmd 0x{cmd:02X}")]
    Completion {
        netfn: u8,
        cmd: u8,
        code: CompletionCode,
    },
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("BMC rejected session setup: {0}")]
    SessionRejected(RmcpStatus),
    #[error("none of the requested cipher suites is supported by the BMC (tried {tried:?})")]
    NoCipherSuite { tried: Vec<u8> },
    /// The BMC answered Open Session with algorithms steward does not speak or the
    /// configuration does not allow, for every suite proposed.
    #[error(
        "the BMC chose cipher algorithms steward will not use: {}{}; steward accepts {accepted}",
        refusal_list(.refusals),
        rejected_list(.rejected)
    )]
    AlgorithmsRefused {
        refusals: Vec<crate::negotiate::Refusal>,
        /// Suites the BMC turned down outright (suite id, status).
        rejected: Vec<(u8, RmcpStatus)>,
        accepted: String,
    },
    #[error("BMC does not support IPMI 2.0 / RMCP+")]
    NoIpmi20,
    #[error("session is closed")]
    Closed,
    #[error("invalid argument: {0}")]
    InvalidArgument(&'static str),
    #[error("SDR repository walk failed: {0}")]
    Sdr(String),
}

impl IpmiError {
    /// Completion code if this is a completion-code error.
    pub fn completion_code(&self) -> Option<CompletionCode> {
        match self {
            IpmiError::Completion { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True for errors that mean "wrong username/password" (RAKP failures).
    pub fn is_auth_error(&self) -> bool {
        matches!(self, IpmiError::Auth(_))
    }
}

fn refusal_list(r: &[crate::negotiate::Refusal]) -> String {
    r.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn rejected_list(r: &[(u8, RmcpStatus)]) -> String {
    r.iter()
        .map(|(id, st)| format!("; cipher suite {id} rejected by the BMC: {st}"))
        .collect()
}

pub type Result<T, E = IpmiError> = std::result::Result<T, E>;
