//! Message types and the frame codec (no keys, no state). See the crate docs for the layout.

use crate::{MAC_LEN, MAX_DATAGRAM};
use steward_types::{CommandId, NodeCommand, NodeFlags, NodeSettings};

// The message values live in `steward-types` (the node agent and the core share them without the
// codec); re-exported so `steward_protocol::Message` and friends keep working.
pub use steward_types::{
    Ack, AckResult, Alive, Command, CpuSummary, Direction, Disk, FsState, HealthFlags, Inventory,
    LinkNetwork, MemorySummary, Message, MonitorEvent, Network, NodeEvent, Port, ProtocolNetwork,
    Pulse, PulseFlags, PulseReply, Severity, TestState, WireCommand,
};

/// First four bytes of every datagram.
pub const MAGIC: [u8; 4] = *b"STWD";
/// The only version this crate speaks.
pub const VERSION: u8 = 1;
/// Longest sender hostname.
pub const MAX_HOSTNAME: usize = 64;
/// Fixed header bytes, without the hostname.
pub const FIXED_HEADER: usize = 4 + 1 + 1 + 1 + 1 + 1 + 1 + 8 + 8 + 8 + 2;
/// Largest header (longest hostname).
pub const MAX_HEADER: usize = FIXED_HEADER + MAX_HOSTNAME;
/// Largest body that fits any header.
pub const MAX_BODY: usize = MAX_DATAGRAM - MAX_HEADER - MAC_LEN;

/// Longest agent version string.
pub const MAX_AGENT_VERSION: usize = 32;
/// Longest free-text detail (go-enabled, host services, ack failure reason).
pub const MAX_DETAIL: usize = 256;
/// Longest name inside a monitor event or inventory entry.
pub const MAX_NAME: usize = 32;
/// Longest mount point path a filesystem event carries.
pub const MAX_MOUNT: usize = 128;
/// Longest opaque payload kept for an unknown monitor event.
pub const MAX_UNKNOWN_PAYLOAD: usize = 256;
/// Most disks / ports in one inventory.
pub const MAX_INVENTORY_ITEMS: usize = 8;

/// Message kind codes. 8..=255 unassigned.
pub mod kind {
    pub const ALIVE: u8 = 1;
    pub const COMMAND: u8 = 2;
    pub const ACK: u8 = 3;
    pub const EVENT: u8 = 4;
    pub const INVENTORY: u8 = 5;
    pub const PULSE: u8 = 6;
    pub const PULSE_REPLY: u8 = 7;
}

/// Command codes (the StarlingX numbers where one exists, docs/protocol.md#commands).
pub mod command_code {
    pub const REBOOT: u16 = 2;
    pub const WIPE_DISK: u16 = 3;
    pub const REQUEST_ALIVE: u16 = 6;
    pub const MAIN_GOENABLED: u16 = 9;
    pub const SUBF_GOENABLED: u16 = 10;
    pub const LOCKED: u16 = 13;
    pub const STOP_SERVICES: u16 = 14;
    pub const LAZY_REBOOT: u16 = 20;
    pub const UNLOCKED: u16 = 24;
    /// Config push: the cluster's node settings (StarlingX MSG_INFO's code, new content;
    /// docs/protocol.md#config-push).
    pub const NODE_SETTINGS: u16 = 22;
}

fn direction_code(d: Direction) -> u8 {
    match d {
        Direction::NodeToController => 1,
        Direction::ControllerToNode => 2,
    }
}

fn kind_of(m: &Message) -> u8 {
    match m {
        Message::Alive(_) => kind::ALIVE,
        Message::Command(_) => kind::COMMAND,
        Message::Ack(_) => kind::ACK,
        Message::Event(_) => kind::EVENT,
        Message::Inventory(_) => kind::INVENTORY,
        Message::Pulse(_) => kind::PULSE,
        Message::PulseReply(_) => kind::PULSE_REPLY,
    }
}

fn test_state_code(s: TestState) -> u8 {
    match s {
        TestState::NotRun => 0,
        TestState::Running => 1,
        TestState::Passed => 2,
        TestState::Failed => 3,
    }
}

fn test_state_from_code(c: u8) -> Option<TestState> {
    Some(match c {
        0 => TestState::NotRun,
        1 => TestState::Running,
        2 => TestState::Passed,
        3 => TestState::Failed,
        _ => return None,
    })
}

fn severity_code(s: Severity) -> u8 {
    match s {
        Severity::Clear => 0,
        Severity::Minor => 1,
        Severity::Major => 2,
        Severity::Critical => 3,
    }
}

fn link_network_code(n: LinkNetwork) -> u8 {
    match n {
        LinkNetwork::Mgmt => 0,
        LinkNetwork::Cluster => 1,
        LinkNetwork::Oam => 2,
    }
}

fn link_network_from_code(c: u8) -> Option<LinkNetwork> {
    Some(match c {
        0 => LinkNetwork::Mgmt,
        1 => LinkNetwork::Cluster,
        2 => LinkNetwork::Oam,
        _ => return None,
    })
}

fn fs_state_code(s: FsState) -> u8 {
    match s {
        FsState::Ok => 0,
        FsState::InodesLow => 1,
        FsState::SpaceLow => 2,
        FsState::ReadOnly => 3,
        FsState::Missing => 4,
    }
}

fn fs_state_from_code(c: u8) -> Option<FsState> {
    Some(match c {
        0 => FsState::Ok,
        1 => FsState::InodesLow,
        2 => FsState::SpaceLow,
        3 => FsState::ReadOnly,
        4 => FsState::Missing,
        _ => return None,
    })
}

fn severity_from_code(c: u8) -> Option<Severity> {
    Some(match c {
        0 => Severity::Clear,
        1 => Severity::Minor,
        2 => Severity::Major,
        3 => Severity::Critical,
        _ => return None,
    })
}

pub(crate) fn network_code(n: ProtocolNetwork) -> u8 {
    match n {
        ProtocolNetwork::Mgmt => 0,
        ProtocolNetwork::Cluster => 1,
        ProtocolNetwork::Pxeboot => 2,
    }
}

/// Monitor event codes.
pub mod monitor_code {
    pub const PROCESS: u16 = 1;
    pub const LINK: u16 = 2;
    pub const FILESYSTEM: u16 = 3;
}

/// Header fields (everything but the body and the MAC).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub direction: Direction,
    pub network: ProtocolNetwork,
    pub sender: String,
    /// Sender session: strictly greater on every restart of the sender (see crate docs).
    pub session: u64,
    /// Controller→node: the sending controller's epoch. Node→controller: the highest controller
    /// epoch the node has accepted (informational; lets a deposed controller notice).
    pub epoch: u64,
    /// Per sender, per network, per session; starts anywhere, increases by one per frame.
    pub seq: u64,
}

/// A decoded frame: header, message, and where the MAC sits (for the verifier).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub header: Header,
    pub message: Message,
}

/// Body length of a [`Pulse`] and of a [`PulseReply`]: round u64 + flags u16, exactly.
pub const PULSE_BODY: usize = 8 + 2;

/// Why a message could not be encoded (a bound the caller broke).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("hostname must be 1..={MAX_HOSTNAME} bytes of [A-Za-z0-9._-]")]
    BadHostname,
    #[error("field {field} is longer than {max} bytes")]
    TooLong { field: &'static str, max: usize },
    #[error("message is {0} bytes, larger than the datagram limit")]
    TooLarge(usize),
    #[error("code {0} is a known code; use its variant, not the unknown/unsupported one")]
    KnownCodeAsUnknown(u16),
    #[error("message direction does not match the frame direction")]
    WrongDirection,
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("datagram larger than {MAX_DATAGRAM} bytes")]
    TooLarge,
    #[error("unknown protocol version {0}")]
    UnknownVersion(u8),
    #[error("malformed datagram")]
    Malformed,
}

/// A valid hostname: 1..=64 bytes of ASCII letters, digits, '.', '-', '_'.
pub fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= MAX_HOSTNAME
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

// ---------------------------------------------------------------------------------------------
// Encoding

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.u8(v as u8);
    }
    /// u8 length prefix.
    fn str8(&mut self, s: &str, field: &'static str, max: usize) -> Result<(), EncodeError> {
        if s.len() > max || s.len() > u8::MAX as usize {
            return Err(EncodeError::TooLong { field, max });
        }
        self.u8(s.len() as u8);
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
    /// u16 length prefix.
    fn bytes16(&mut self, s: &[u8], field: &'static str, max: usize) -> Result<(), EncodeError> {
        if s.len() > max {
            return Err(EncodeError::TooLong { field, max });
        }
        self.u16(s.len() as u16);
        self.0.extend_from_slice(s);
        Ok(())
    }
}

const FLAG_BITS: u16 = 15;

/// NodeFlags as a bitfield (bit 0 = configured … bit 13 = subf_services_failed, bit 14 =
/// pxeboot_alive).
pub fn flags_to_bits(f: &NodeFlags) -> u16 {
    let bits = [
        f.configured,
        f.not_healthy,
        f.healthy,
        f.locked,
        f.subf_configured,
        f.main_goenabled,
        f.subf_goenabled,
        f.sm_degraded,
        f.luks_failed,
        f.sm_unhealthy,
        f.main_goenable_failed,
        f.subf_goenable_failed,
        f.main_services_failed,
        f.subf_services_failed,
        f.pxeboot_alive,
    ];
    bits.iter()
        .enumerate()
        .fold(0u16, |acc, (i, b)| acc | ((*b as u16) << i))
}

/// The inverse of [`flags_to_bits`]; `None` if an undefined bit is set.
pub fn flags_from_bits(v: u16) -> Option<NodeFlags> {
    if v >> FLAG_BITS != 0 {
        return None;
    }
    let b = |i: u16| v & (1 << i) != 0;
    Some(NodeFlags {
        configured: b(0),
        not_healthy: b(1),
        healthy: b(2),
        locked: b(3),
        subf_configured: b(4),
        main_goenabled: b(5),
        subf_goenabled: b(6),
        sm_degraded: b(7),
        luks_failed: b(8),
        sm_unhealthy: b(9),
        main_goenable_failed: b(10),
        subf_goenable_failed: b(11),
        main_services_failed: b(12),
        subf_services_failed: b(13),
        pxeboot_alive: b(14),
    })
}

fn command_code(c: &WireCommand) -> (u16, Vec<u8>) {
    use command_code::*;
    match c {
        WireCommand::Known(k) => match k {
            NodeCommand::Reboot => (REBOOT, vec![]),
            NodeCommand::LazyReboot => (LAZY_REBOOT, vec![]),
            NodeCommand::WipeDisk => (WIPE_DISK, vec![]),
            NodeCommand::Locked { persist } => (LOCKED, vec![*persist as u8]),
            NodeCommand::Unlocked => (UNLOCKED, vec![]),
            NodeCommand::RequestAlive => (REQUEST_ALIVE, vec![]),
            NodeCommand::MainGoEnabled => (MAIN_GOENABLED, vec![]),
            NodeCommand::SubfGoEnabled => (SUBF_GOENABLED, vec![]),
            NodeCommand::StopServices => (STOP_SERVICES, vec![]),
        },
        WireCommand::Settings(s) => (NODE_SETTINGS, settings_args(s)),
        WireCommand::Unsupported { code } => (*code, vec![]),
    }
}

/// Config push arguments: generation, then each timing as a u32 where 0 = not set.
fn settings_args(s: &NodeSettings) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(SETTINGS_ARGS));
    w.u64(s.generation);
    for v in [
        s.alive_period_ms,
        s.flag_audit_period_ms,
        s.inventory_period_s,
        s.goenabled_timeout_s,
        s.services_timeout_s,
    ] {
        w.u32(v.unwrap_or(0));
    }
    w.0
}

const SETTINGS_ARGS: usize = 8 + 5 * 4;

fn decode_settings(args: &[u8]) -> Option<NodeSettings> {
    if args.len() != SETTINGS_ARGS {
        return None;
    }
    let mut r = R { b: args };
    let generation = r.u64().ok()?;
    let mut v = [None; 5];
    for slot in &mut v {
        let x = r.u32().ok()?;
        *slot = (x != 0).then_some(x);
    }
    Some(NodeSettings {
        generation,
        alive_period_ms: v[0],
        flag_audit_period_ms: v[1],
        inventory_period_s: v[2],
        goenabled_timeout_s: v[3],
        services_timeout_s: v[4],
    })
}

fn encode_body(m: &Message, w: &mut W) -> Result<(), EncodeError> {
    match m {
        Message::Alive(a) => {
            w.u64(a.boot_id);
            w.u64(a.uptime_ms);
            w.u16(flags_to_bits(&a.flags));
            w.u8((a.lock_volatile as u8) | ((a.lock_persistent as u8) << 1));
            w.u8(test_state_code(a.main_goenabled));
            w.u8(test_state_code(a.subf_goenabled));
            w.u64(a.settings_generation);
            w.str8(&a.agent_version, "agent_version", MAX_AGENT_VERSION)?;
        }
        Message::Command(c) => {
            w.u64(c.id.0);
            let (code, args) = command_code(&c.command);
            if let WireCommand::Unsupported { code } = c.command {
                if known_command_code(code) {
                    // A known code carried as "unsupported" would not round-trip.
                    return Err(EncodeError::KnownCodeAsUnknown(code));
                }
            }
            w.u16(code);
            w.bytes16(&args, "command args", 64)?;
        }
        Message::Ack(a) => {
            w.u64(a.id.0);
            match &a.result {
                AckResult::Ok => w.u8(0),
                AckResult::Unsupported => w.u8(1),
                AckResult::Failed(r) => {
                    w.u8(2);
                    w.bytes16(r.as_bytes(), "ack reason", MAX_DETAIL)?;
                }
            }
        }
        Message::Event(e) => match e {
            NodeEvent::GoEnabled {
                subfunction,
                passed,
                detail,
            } => {
                w.u8(1);
                w.bool(*subfunction);
                w.bool(*passed);
                w.bytes16(detail.as_bytes(), "detail", MAX_DETAIL)?;
            }
            NodeEvent::HostServices { passed, detail } => {
                w.u8(2);
                w.bool(*passed);
                w.bytes16(detail.as_bytes(), "detail", MAX_DETAIL)?;
            }
            NodeEvent::Monitor(me) => {
                w.u8(3);
                let mut p = W(Vec::new());
                let code = match me {
                    MonitorEvent::Process { process, severity } => {
                        p.str8(process, "process", MAX_NAME)?;
                        p.u8(severity_code(*severity));
                        monitor_code::PROCESS
                    }
                    MonitorEvent::Link {
                        network,
                        interface,
                        down,
                        ports,
                    } => {
                        p.u8(link_network_code(*network));
                        p.str8(interface, "interface", MAX_NAME)?;
                        p.u8(*down);
                        p.u8(*ports);
                        monitor_code::LINK
                    }
                    MonitorEvent::Filesystem { mount, state } => {
                        p.str8(mount, "mount", MAX_MOUNT)?;
                        p.u8(fs_state_code(*state));
                        monitor_code::FILESYSTEM
                    }
                    MonitorEvent::Unknown { code, payload } => {
                        if (1..=3).contains(code) {
                            return Err(EncodeError::KnownCodeAsUnknown(*code));
                        }
                        p.0.extend_from_slice(payload);
                        *code
                    }
                };
                w.u16(code);
                w.bytes16(&p.0, "monitor payload", MAX_UNKNOWN_PAYLOAD)?;
            }
        },
        Message::Inventory(inv) => {
            w.u16(inv.cpus.sockets);
            w.u16(inv.cpus.cores);
            w.u16(inv.cpus.threads);
            w.str8(&inv.cpus.model, "cpu model", 2 * MAX_NAME)?;
            w.u64(inv.memory.total_mib);
            w.u64(inv.memory.available_mib);
            if inv.disks.len() > MAX_INVENTORY_ITEMS {
                return Err(EncodeError::TooLong {
                    field: "disks",
                    max: MAX_INVENTORY_ITEMS,
                });
            }
            w.u8(inv.disks.len() as u8);
            for d in &inv.disks {
                w.str8(&d.device, "disk device", MAX_NAME)?;
                w.u64(d.size_mib);
                w.bool(d.rotational);
                w.str8(&d.serial, "disk serial", MAX_NAME)?;
            }
            if inv.ports.len() > MAX_INVENTORY_ITEMS {
                return Err(EncodeError::TooLong {
                    field: "ports",
                    max: MAX_INVENTORY_ITEMS,
                });
            }
            w.u8(inv.ports.len() as u8);
            for p in &inv.ports {
                w.str8(&p.name, "port name", MAX_NAME)?;
                w.0.extend_from_slice(&p.mac);
                w.u32(p.speed_mbps);
                w.bool(p.link_up);
            }
        }
        Message::Pulse(p) => {
            w.u64(p.round);
            w.u16(p.flags.0);
        }
        Message::PulseReply(p) => {
            w.u64(p.round);
            w.u16(p.health.0);
        }
    }
    Ok(())
}

/// Encode header + body (the bytes the MAC covers). The caller appends the MAC.
pub(crate) fn encode_unsealed(h: &Header, m: &Message) -> Result<Vec<u8>, EncodeError> {
    if !valid_hostname(&h.sender) {
        return Err(EncodeError::BadHostname);
    }
    if m.direction() != h.direction {
        return Err(EncodeError::WrongDirection);
    }
    let mut body = W(Vec::with_capacity(256));
    encode_body(m, &mut body)?;
    let mut w = W(Vec::with_capacity(
        FIXED_HEADER + h.sender.len() + body.0.len() + MAC_LEN,
    ));
    w.0.extend_from_slice(&MAGIC);
    w.u8(VERSION);
    w.u8(kind_of(m));
    w.u8(0); // flags: none defined in v1, must be zero
    w.u8(direction_code(h.direction));
    w.u8(network_code(h.network));
    w.u8(h.sender.len() as u8);
    w.0.extend_from_slice(h.sender.as_bytes());
    w.u64(h.session);
    w.u64(h.epoch);
    w.u64(h.seq);
    let total = w.0.len() + 2 + body.0.len() + MAC_LEN;
    if total > MAX_DATAGRAM {
        return Err(EncodeError::TooLarge(total));
    }
    w.u16(body.0.len() as u16);
    w.0.extend_from_slice(&body.0);
    Ok(w.0)
}

// ---------------------------------------------------------------------------------------------
// Decoding: a cursor over a slice; every read checks its length, nothing indexes blindly.

struct R<'a> {
    b: &'a [u8],
}

type D<T> = Result<T, DecodeError>;
const BAD: DecodeError = DecodeError::Malformed;

impl<'a> R<'a> {
    fn take(&mut self, n: usize) -> D<&'a [u8]> {
        if n > self.b.len() {
            return Err(BAD);
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }
    fn u8(&mut self) -> D<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> D<u16> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().map_err(|_| BAD)?,
        ))
    }
    fn u32(&mut self) -> D<u32> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().map_err(|_| BAD)?,
        ))
    }
    fn u64(&mut self) -> D<u64> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().map_err(|_| BAD)?,
        ))
    }
    fn bool(&mut self) -> D<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(BAD),
        }
    }
    fn str8(&mut self, max: usize) -> D<String> {
        let n = self.u8()? as usize;
        if n > max {
            return Err(BAD);
        }
        utf8(self.take(n)?)
    }
    fn bytes16(&mut self, max: usize) -> D<&'a [u8]> {
        let n = self.u16()? as usize;
        if n > max {
            return Err(BAD);
        }
        self.take(n)
    }
    fn str16(&mut self, max: usize) -> D<String> {
        utf8(self.bytes16(max)?)
    }
    fn end(&self) -> D<()> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(BAD)
        }
    }
}

fn utf8(b: &[u8]) -> D<String> {
    std::str::from_utf8(b).map(str::to_owned).map_err(|_| BAD)
}

fn decode_command(code: u16, args: &[u8]) -> Option<NodeCommand> {
    use command_code::*;
    let no_args = args.is_empty();
    Some(match code {
        REBOOT if no_args => NodeCommand::Reboot,
        LAZY_REBOOT if no_args => NodeCommand::LazyReboot,
        WIPE_DISK if no_args => NodeCommand::WipeDisk,
        LOCKED => match args {
            [0] => NodeCommand::Locked { persist: false },
            [1] => NodeCommand::Locked { persist: true },
            _ => return None,
        },
        UNLOCKED if no_args => NodeCommand::Unlocked,
        REQUEST_ALIVE if no_args => NodeCommand::RequestAlive,
        MAIN_GOENABLED if no_args => NodeCommand::MainGoEnabled,
        SUBF_GOENABLED if no_args => NodeCommand::SubfGoEnabled,
        STOP_SERVICES if no_args => NodeCommand::StopServices,
        _ => return None,
    })
}

fn known_command_code(code: u16) -> bool {
    use command_code::*;
    matches!(
        code,
        REBOOT
            | LAZY_REBOOT
            | WIPE_DISK
            | LOCKED
            | UNLOCKED
            | REQUEST_ALIVE
            | MAIN_GOENABLED
            | SUBF_GOENABLED
            | STOP_SERVICES
            | NODE_SETTINGS
    )
}

fn decode_body(k: u8, r: &mut R) -> D<Message> {
    let m = match k {
        kind::ALIVE => {
            let boot_id = r.u64()?;
            let uptime_ms = r.u64()?;
            let flags = flags_from_bits(r.u16()?).ok_or(BAD)?;
            let lock = r.u8()?;
            if lock > 3 {
                return Err(BAD);
            }
            let main_goenabled = test_state_from_code(r.u8()?).ok_or(BAD)?;
            let subf_goenabled = test_state_from_code(r.u8()?).ok_or(BAD)?;
            let settings_generation = r.u64()?;
            let agent_version = r.str8(MAX_AGENT_VERSION)?;
            Message::Alive(Alive {
                boot_id,
                uptime_ms,
                flags,
                lock_volatile: lock & 1 != 0,
                lock_persistent: lock & 2 != 0,
                main_goenabled,
                subf_goenabled,
                settings_generation,
                agent_version,
            })
        }
        kind::COMMAND => {
            let id = CommandId(r.u64()?);
            let code = r.u16()?;
            let args = r.bytes16(64)?;
            let command = match decode_command(code, args) {
                Some(c) => WireCommand::Known(c),
                None if code == command_code::NODE_SETTINGS => {
                    WireCommand::Settings(decode_settings(args).ok_or(BAD)?)
                }
                // A known code with bad arguments is malformed, not "unsupported".
                None if known_command_code(code) => return Err(BAD),
                None => WireCommand::Unsupported { code },
            };
            Message::Command(Command { id, command })
        }
        kind::ACK => {
            let id = CommandId(r.u64()?);
            let result = match r.u8()? {
                0 => AckResult::Ok,
                1 => AckResult::Unsupported,
                2 => AckResult::Failed(r.str16(MAX_DETAIL)?),
                _ => return Err(BAD),
            };
            Message::Ack(Ack { id, result })
        }
        kind::EVENT => Message::Event(match r.u8()? {
            1 => NodeEvent::GoEnabled {
                subfunction: r.bool()?,
                passed: r.bool()?,
                detail: r.str16(MAX_DETAIL)?,
            },
            2 => NodeEvent::HostServices {
                passed: r.bool()?,
                detail: r.str16(MAX_DETAIL)?,
            },
            3 => {
                let code = r.u16()?;
                let payload = r.bytes16(MAX_UNKNOWN_PAYLOAD)?;
                let mut p = R { b: payload };
                let me = match code {
                    monitor_code::PROCESS => MonitorEvent::Process {
                        process: p.str8(MAX_NAME)?,
                        severity: severity_from_code(p.u8()?).ok_or(BAD)?,
                    },
                    monitor_code::LINK => {
                        let network = link_network_from_code(p.u8()?).ok_or(BAD)?;
                        let interface = p.str8(MAX_NAME)?;
                        let (down, ports) = (p.u8()?, p.u8()?);
                        if down > ports {
                            return Err(BAD);
                        }
                        MonitorEvent::Link {
                            network,
                            interface,
                            down,
                            ports,
                        }
                    }
                    monitor_code::FILESYSTEM => MonitorEvent::Filesystem {
                        mount: p.str8(MAX_MOUNT)?,
                        state: fs_state_from_code(p.u8()?).ok_or(BAD)?,
                    },
                    _ => {
                        p.b = &[];
                        MonitorEvent::Unknown {
                            code,
                            payload: payload.to_vec(),
                        }
                    }
                };
                p.end()?;
                NodeEvent::Monitor(me)
            }
            _ => return Err(BAD),
        }),
        kind::INVENTORY => {
            let cpus = CpuSummary {
                sockets: r.u16()?,
                cores: r.u16()?,
                threads: r.u16()?,
                model: r.str8(2 * MAX_NAME)?,
            };
            let memory = MemorySummary {
                total_mib: r.u64()?,
                available_mib: r.u64()?,
            };
            let nd = r.u8()? as usize;
            if nd > MAX_INVENTORY_ITEMS {
                return Err(BAD);
            }
            let mut disks = Vec::with_capacity(nd);
            for _ in 0..nd {
                disks.push(Disk {
                    device: r.str8(MAX_NAME)?,
                    size_mib: r.u64()?,
                    rotational: r.bool()?,
                    serial: r.str8(MAX_NAME)?,
                });
            }
            let np = r.u8()? as usize;
            if np > MAX_INVENTORY_ITEMS {
                return Err(BAD);
            }
            let mut ports = Vec::with_capacity(np);
            for _ in 0..np {
                ports.push(Port {
                    name: r.str8(MAX_NAME)?,
                    mac: r.take(6)?.try_into().map_err(|_| BAD)?,
                    speed_mbps: r.u32()?,
                    link_up: r.bool()?,
                });
            }
            Message::Inventory(Inventory {
                cpus,
                memory,
                disks,
                ports,
            })
        }
        // Exactly PULSE_BODY bytes: `r.end()` below rejects anything longer.
        kind::PULSE => Message::Pulse(Pulse {
            round: r.u64()?,
            flags: PulseFlags(r.u16()?),
        }),
        kind::PULSE_REPLY => Message::PulseReply(PulseReply {
            round: r.u64()?,
            health: HealthFlags(r.u16()?),
        }),
        _ => return Err(BAD),
    };
    r.end()?;
    Ok(m)
}

/// A parsed but *unverified* datagram: the frame, the bytes the MAC covers, and the MAC.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub frame: Frame,
    pub signed: &'a [u8],
    pub mac: &'a [u8],
}

/// Parse a datagram without verifying it. Never panics; checks every length and every code.
/// The fuzz target drives this function.
pub fn decode(datagram: &[u8]) -> Result<Parsed<'_>, DecodeError> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(DecodeError::TooLarge);
    }
    if datagram.len() < FIXED_HEADER + 1 + MAC_LEN {
        return Err(BAD);
    }
    let (signed, mac) = datagram.split_at(datagram.len() - MAC_LEN);
    let mut r = R { b: signed };
    if r.take(4)? != MAGIC {
        return Err(BAD);
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(DecodeError::UnknownVersion(version));
    }
    let k = r.u8()?;
    if r.u8()? != 0 {
        return Err(BAD); // no flags defined in v1
    }
    let direction = match r.u8()? {
        1 => Direction::NodeToController,
        2 => Direction::ControllerToNode,
        _ => return Err(BAD),
    };
    let network = match r.u8()? {
        0 => ProtocolNetwork::Mgmt,
        1 => ProtocolNetwork::Cluster,
        2 => ProtocolNetwork::Pxeboot,
        _ => return Err(BAD),
    };
    let hl = r.u8()? as usize;
    if hl > MAX_HOSTNAME {
        return Err(BAD);
    }
    let sender = utf8(r.take(hl)?)?;
    if !valid_hostname(&sender) {
        return Err(BAD);
    }
    let session = r.u64()?;
    let epoch = r.u64()?;
    let seq = r.u64()?;
    let body = r.bytes16(MAX_BODY)?;
    r.end()?;
    let message = decode_body(k, &mut R { b: body })?;
    if message.direction() != direction {
        return Err(BAD);
    }
    // Heartbeat runs on management and cluster only: a pulse or an answer on pxeboot is malformed.
    if network == ProtocolNetwork::Pxeboot
        && matches!(message, Message::Pulse(_) | Message::PulseReply(_))
    {
        return Err(BAD);
    }
    Ok(Parsed {
        frame: Frame {
            header: Header {
                direction,
                network,
                sender,
                session,
                epoch,
                seq,
            },
            message,
        },
        signed,
        mac,
    })
}

#[cfg(test)]
mod settings_args_tests {
    use super::*;

    #[test]
    fn unset_timings_travel_as_zero_and_come_back_unset() {
        let s = NodeSettings {
            generation: 7,
            alive_period_ms: Some(2_000),
            services_timeout_s: Some(60),
            ..NodeSettings::default()
        };
        let args = settings_args(&s);
        assert_eq!(args.len(), SETTINGS_ARGS);
        assert_eq!(decode_settings(&args), Some(s));
    }

    #[test]
    fn a_config_push_of_the_wrong_length_is_malformed() {
        let args = settings_args(&NodeSettings::default());
        assert_eq!(decode_settings(&args[..SETTINGS_ARGS - 1]), None);
        let mut long = args.clone();
        long.push(0);
        assert_eq!(decode_settings(&long), None);
        assert_eq!(decode_settings(&[]), None);
    }
}
