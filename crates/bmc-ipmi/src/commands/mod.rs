//! Request builders and response decoders for the IPMI commands we use. Each
//! decoder gets the response data *after* the completion code (the session
//! driver turns non-zero completion codes into `IpmiError::Completion`).

pub mod app;
pub mod chassis;
pub mod sensor;
pub mod storage;

pub const NETFN_CHASSIS: u8 = 0x00;
pub const NETFN_SENSOR: u8 = 0x04;
pub const NETFN_APP: u8 = 0x06;
pub const NETFN_STORAGE: u8 = 0x0A;
