//! # steward-bmc-ipmi
//!
//! A native async IPMI 2.0 RMCP+ ("lanplus") client, written from the IPMI 2.0
//! specification. It replaces `ipmitool` subprocesses for power control, boot
//! device, sensors (SDR + readings + thresholds) and the SEL.
//!
//! ## Module map
//!
//! Sans-IO (pure encode/decode/crypto, unit- and property-tested):
//! - [`wire`]: bounds-checked little-endian reader used by every decoder.
//! - [`packet`]: RMCP header, IPMI 1.5/2.0 session framing, integrity trailer,
//!   IPMI LAN request/response messages with checksums.
//! - [`crypto`]: cipher suites 3 and 17, HMAC, SIK/K1/K2, AES-CBC-128.
//! - [`rakp`]: Open Session and RAKP 1–4 messages and auth codes.
//! - [`negotiate`]: which Open Session answers are accepted (a BMC may choose
//!   other algorithms than proposed; downgrades below the configured suites are refused).
//! - [`commands`]: request builders and response decoders per netfn.
//! - [`sdr`]: SDR records, linearization, cache key, chunk policy.
//! - [`sel`]: SEL record decoding.
//!
//! I/O:
//! - [`session`]: tokio UDP driver: handshake, suite negotiation (prefer 17,
//!   fall back to 3), sequence numbers, timeouts and retries, Close Session.
//! - [`client`]: [`IpmiClient`], the high-level API.
//!
//! Test and benchmark peers: [`lab`] (the ipmi_sim lab configuration) and [`fake`]
//! (an in-process fake lanplus BMC serving the same sensors, suites 3 and 17).
//!
//! Received bytes are never trusted: truncated, forged or wrong-session packets
//! become [`DecodeError`]s (wrapped in [`IpmiError`]), never panics.
//! Credentials are redacted from all `Debug` output and never logged.

pub mod client;
pub mod commands;
pub mod crypto;
pub mod error;
pub mod fake;
pub mod lab;
pub mod negotiate;
pub mod packet;
pub mod rakp;
pub mod sdr;
pub mod sel;
pub mod session;
pub mod wire;

pub use client::{IpmiClient, SensorReading, SensorStatus, Thresholds};
pub use commands::app::DeviceId;
pub use commands::chassis::{BootDevice, BootFlags, BootOptions, ChassisControl, ChassisStatus};
pub use commands::sensor::ThresholdBits;
pub use commands::storage::RepositoryInfo;
pub use crypto::{AlgorithmIds, Algorithms, AuthAlg, CipherSuite, ConfAlg, IntegrityAlg};
pub use error::{CompletionCode, DecodeError, IpmiError, Result, RmcpStatus};
pub use sdr::{Sdr, SensorRecord};
pub use sel::SelEntry;
pub use session::{Credentials, IpmiConfig};
