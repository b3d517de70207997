//! Send side ([`Sealer`]) and receive side ([`Verifier`]): MAC, source binding, replay window,
//! controller epoch, drop counters and a rate-limited log. Pure: time is passed in.

use crate::keys::{ClusterSecret, MacKey};
use crate::wire::{self, DecodeError, Direction, EncodeError, Header, Message};
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use steward_types::ProtocolNetwork;

/// Seal one frame: header + body + MAC.
pub fn seal_frame(
    key: &MacKey,
    header: &Header,
    message: &Message,
) -> Result<Vec<u8>, EncodeError> {
    let mut bytes = wire::encode_unsealed(header, message)?;
    let tag = key.tag(&bytes);
    bytes.extend_from_slice(&tag);
    Ok(bytes)
}

/// The session a sender should use when it starts: strictly greater than the last one it used
/// (persisted before the first frame is sent) and than the clock, so it survives a lost file as
/// long as the clock is sane, and a clock in the past as long as the file is there.
pub fn next_session(now_unix_us: u64, last_persisted: Option<u64>) -> u64 {
    let after_last = last_persisted.map_or(0, |l| l.saturating_add(1));
    now_unix_us.max(after_last).max(1)
}

/// A session for a sender that keeps nothing on disk (the heartbeat's pulse service and pulse
/// responder): [`next_session`] over the wall clock `now_unix_us`, and strictly greater than every
/// session claimed before through `last`, so two senders started in one process (the lab, tests) in
/// the same microsecond never share one. `last` is the caller's process-wide record.
pub fn claim_session(now_unix_us: u64, last: &std::sync::atomic::AtomicU64) -> u64 {
    use std::sync::atomic::Ordering;
    let mut prev = last.load(Ordering::Relaxed);
    loop {
        let next = next_session(now_unix_us, Some(prev));
        match last.compare_exchange(prev, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(p) => prev = p,
        }
    }
}

/// Send-side state of one sender: its name, direction, session and a sequence counter per network.
#[derive(Debug, Clone)]
pub struct Sealer {
    sender: String,
    direction: Direction,
    session: u64,
    next_seq: [u64; 3],
}

impl Sealer {
    /// `session` must be strictly greater than the session of any earlier run of this sender
    /// (e.g. `max(wall clock µs at start, last persisted session + 1)`; see the crate docs).
    pub fn new(sender: &str, direction: Direction, session: u64) -> Result<Self, EncodeError> {
        if !wire::valid_hostname(sender) {
            return Err(EncodeError::BadHostname);
        }
        Ok(Sealer {
            sender: sender.to_owned(),
            direction,
            session,
            next_seq: [1, 1, 1],
        })
    }

    pub fn session(&self) -> u64 {
        self.session
    }

    /// Seal `message` for `network`. A node passes its own key and the highest controller epoch it
    /// has accepted; a controller passes `secret.controller_key(recipient)` and its epoch. The
    /// sequence number advances only when sealing succeeds.
    pub fn seal(
        &mut self,
        key: &MacKey,
        network: impl Into<ProtocolNetwork>,
        epoch: u64,
        message: &Message,
    ) -> Result<Vec<u8>, EncodeError> {
        let network = network.into();
        let i = network.index();
        let header = Header {
            direction: self.direction,
            network,
            sender: self.sender.clone(),
            session: self.session,
            epoch,
            seq: self.next_seq[i],
        };
        let out = seal_frame(key, &header, message)?;
        self.next_seq[i] = self.next_seq[i].wrapping_add(1);
        Ok(out)
    }
}

/// Why a datagram was dropped. Each has a counter ([`DropCounters`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Drop {
    Malformed,
    UnknownVersion,
    BadMac,
    UnknownSender,
    WrongSource,
    Replayed,
    StaleEpoch,
    TooLarge,
}

impl Drop {
    pub const ALL: [Drop; 8] = [
        Drop::Malformed,
        Drop::UnknownVersion,
        Drop::BadMac,
        Drop::UnknownSender,
        Drop::WrongSource,
        Drop::Replayed,
        Drop::StaleEpoch,
        Drop::TooLarge,
    ];

    /// Metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Drop::Malformed => "malformed",
            Drop::UnknownVersion => "unknown_version",
            Drop::BadMac => "bad_mac",
            Drop::UnknownSender => "unknown_sender",
            Drop::WrongSource => "wrong_source",
            Drop::Replayed => "replayed",
            Drop::StaleEpoch => "stale_epoch",
            Drop::TooLarge => "too_large",
        }
    }

    fn index(self) -> usize {
        Drop::ALL.iter().position(|d| *d == self).unwrap_or(0)
    }
}

impl fmt::Display for Drop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<DecodeError> for Drop {
    fn from(e: DecodeError) -> Self {
        match e {
            DecodeError::TooLarge => Drop::TooLarge,
            DecodeError::UnknownVersion(_) => Drop::UnknownVersion,
            DecodeError::Malformed => Drop::Malformed,
        }
    }
}

/// Dropped datagrams per reason, and accepted ones, for metrics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounters {
    dropped: [u64; 8],
    pub accepted: u64,
}

impl DropCounters {
    pub fn get(&self, reason: Drop) -> u64 {
        self.dropped[reason.index()]
    }
    pub fn total_dropped(&self) -> u64 {
        self.dropped.iter().sum()
    }
    pub fn iter(&self) -> impl Iterator<Item = (Drop, u64)> + '_ {
        Drop::ALL.iter().map(|d| (*d, self.get(*d)))
    }
    pub fn record(&mut self, reason: Drop) {
        self.dropped[reason.index()] += 1;
    }
}

/// At most `max_lines` log lines per `window_ms`; counts what it suppressed. Pure: time passed in.
#[derive(Clone, Debug)]
pub struct RateLimitedLog {
    max_lines: u32,
    window_ms: u64,
    window_start: Option<u64>,
    lines_in_window: u32,
    suppressed: u64,
}

impl RateLimitedLog {
    pub fn new(max_lines: u32, window_ms: u64) -> Self {
        RateLimitedLog {
            max_lines,
            window_ms: window_ms.max(1),
            window_start: None,
            lines_in_window: 0,
            suppressed: 0,
        }
    }

    /// `Some(n)`: write a line now, mentioning the `n` lines suppressed since the last one written.
    /// `None`: suppress (counted).
    pub fn allow(&mut self, now_ms: u64) -> Option<u64> {
        let fresh = match self.window_start {
            None => true,
            Some(s) => now_ms.saturating_sub(s) >= self.window_ms || now_ms < s,
        };
        if fresh {
            self.window_start = Some(now_ms);
            self.lines_in_window = 0;
        }
        if self.lines_in_window < self.max_lines {
            self.lines_in_window += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }

    /// Lines suppressed and not yet reported.
    pub fn suppressed(&self) -> u64 {
        self.suppressed
    }
}

/// Width of the replay window (sequence numbers).
pub const REPLAY_WINDOW: u64 = 64;

/// Replay state of one (sender, network): session, highest sequence, and a bitmap of the 64
/// sequence numbers ending at it (bit i = `top - i` seen), as in IPsec (RFC 4303, section 3.4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayWindow {
    session: u64,
    top: u64,
    bitmap: u64,
}

impl ReplayWindow {
    pub fn new(session: u64, seq: u64) -> Self {
        ReplayWindow {
            session,
            top: seq,
            bitmap: 1,
        }
    }

    /// Read-only: would (session, seq) be fresh?
    pub fn check(&self, session: u64, seq: u64) -> bool {
        if session != self.session {
            return session > self.session;
        }
        if seq > self.top {
            return true;
        }
        let d = self.top - seq;
        d < REPLAY_WINDOW && self.bitmap & (1 << d) == 0
    }

    /// Record (session, seq) as seen. Call only after [`check`](Self::check) and the MAC passed.
    pub fn commit(&mut self, session: u64, seq: u64) {
        if session > self.session {
            *self = ReplayWindow::new(session, seq);
        } else if seq > self.top {
            let shift = seq - self.top;
            self.bitmap = if shift >= REPLAY_WINDOW {
                0
            } else {
                self.bitmap << shift
            };
            self.bitmap |= 1;
            self.top = seq;
        } else {
            let d = self.top - seq;
            if d < REPLAY_WINDOW {
                self.bitmap |= 1 << d;
            }
        }
    }

    pub fn session(&self) -> u64 {
        self.session
    }
    pub fn top(&self) -> u64 {
        self.top
    }
}

/// An authenticated, fresh message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub sender: String,
    pub network: ProtocolNetwork,
    pub session: u64,
    pub epoch: u64,
    pub seq: u64,
    pub message: Message,
}

#[derive(Debug)]
struct Peer {
    key: MacKey,
    addrs: [Vec<IpAddr>; 3],
}

#[derive(Debug)]
enum Role {
    /// Accepts node→controller frames; derives each node's key from the secret.
    Controller(ClusterSecret),
    /// Accepts controller→node frames: pulses signed with the cluster-wide pulse key (if this
    /// verifier was given one), everything else with this node's controller key.
    Node {
        controller: MacKey,
        pulse: Option<MacKey>,
    },
}

/// Receive-side state. See the crate docs for the order of checks.
#[derive(Debug)]
pub struct Verifier {
    role: Role,
    peers: HashMap<String, Peer>,
    windows: HashMap<(String, ProtocolNetwork), ReplayWindow>,
    highest_epoch: u64,
    /// Node role: the highest epoch each controller has pulsed with. Pulses are fenced per
    /// sender, against this, and never move `highest_epoch`: with a controller pair both
    /// controllers pulse (docs/controller-pair.md), and the standby's epoch is older than the
    /// active's, so the node-wide floor that fences commands would drop every standby pulse.
    pulse_epochs: HashMap<String, u64>,
    counters: DropCounters,
    log: RateLimitedLog,
}

impl Verifier {
    fn with_role(role: Role) -> Self {
        Verifier {
            role,
            peers: HashMap::new(),
            windows: HashMap::new(),
            highest_epoch: 0,
            pulse_epochs: HashMap::new(),
            counters: DropCounters::default(),
            log: RateLimitedLog::new(10, 60_000),
        }
    }

    /// The controller's verifier: peers are nodes, each verified with its own derived key.
    pub fn controller(secret: ClusterSecret) -> Self {
        Verifier::with_role(Role::Controller(secret))
    }

    /// A node's verifier: peers are the controllers, verified with the key
    /// `ClusterSecret::controller_key(this node)` the node was provisioned with.
    pub fn node(controller_key: MacKey) -> Self {
        Verifier::with_role(Role::Node {
            controller: controller_key,
            pulse: None,
        })
    }

    /// Node role: also accept heartbeat pulses, verified with `ClusterSecret::pulse_key()`.
    /// Pulses are accepted *only* with this key and every other message *only* with the
    /// controller key, so a pulse-key holder (any node) cannot forge a command. Without a pulse
    /// key every pulse is dropped as [`Drop::BadMac`]. No effect on a controller verifier.
    pub fn with_pulse_key(mut self, pulse_key: MacKey) -> Self {
        if let Role::Node { pulse, .. } = &mut self.role {
            *pulse = Some(pulse_key);
        }
        self
    }

    /// Replace the log limiter (default: 10 lines per minute).
    pub fn set_log_limit(&mut self, max_lines: u32, window_ms: u64) {
        self.log = RateLimitedLog::new(max_lines, window_ms);
    }

    /// Allow `host` to send on `network` from exactly `addrs` (replacing earlier addresses for
    /// that network). IPv4-mapped IPv6 addresses are treated as IPv4.
    pub fn allow(
        &mut self,
        host: &str,
        network: impl Into<ProtocolNetwork>,
        addrs: impl IntoIterator<Item = IpAddr>,
    ) {
        let network = network.into();
        let key = match &self.role {
            Role::Controller(secret) => secret.node_key(host),
            Role::Node { controller, .. } => controller.clone(),
        };
        let peer = self.peers.entry(host.to_owned()).or_insert_with(|| Peer {
            key,
            addrs: [Vec::new(), Vec::new(), Vec::new()],
        });
        peer.addrs[network.index()] = addrs.into_iter().map(|a| a.to_canonical()).collect();
    }

    /// Stop accepting anything from `host` and forget its replay state.
    pub fn forget(&mut self, host: &str) {
        self.peers.remove(host);
        self.pulse_epochs.remove(host);
        self.windows.retain(|(h, _), _| h != host);
    }

    /// Forget `host`'s replay state only (operator recovery after a sender lost its session
    /// high-water mark, e.g. a reinstall with a clock in the past).
    pub fn reset_replay(&mut self, host: &str) {
        self.windows.retain(|(h, _), _| h != host);
    }

    /// Highest controller epoch accepted (node role).
    pub fn highest_epoch(&self) -> u64 {
        self.highest_epoch
    }

    /// Raise the epoch floor (node role: restore a persisted high-water mark at start).
    pub fn raise_epoch(&mut self, epoch: u64) {
        self.highest_epoch = self.highest_epoch.max(epoch);
    }

    pub fn counters(&self) -> &DropCounters {
        &self.counters
    }

    pub fn replay_window(
        &self,
        host: &str,
        network: impl Into<ProtocolNetwork>,
    ) -> Option<&ReplayWindow> {
        self.windows.get(&(host.to_owned(), network.into()))
    }

    /// Verify one datagram received from `source` at `now_ms` (used only for log rate limiting).
    /// State changes (replay window, epoch) happen only for accepted datagrams.
    pub fn accept(
        &mut self,
        datagram: &[u8],
        source: IpAddr,
        now_ms: u64,
    ) -> Result<Accepted, Drop> {
        match self.check(datagram, source.to_canonical()) {
            Ok(a) => {
                self.counters.accepted += 1;
                Ok(a)
            }
            Err(d) => {
                self.counters.record(d);
                if let Some(suppressed) = self.log.allow(now_ms) {
                    tracing::warn!(
                        reason = d.as_str(),
                        %source,
                        len = datagram.len(),
                        suppressed,
                        "dropped protocol datagram"
                    );
                }
                Err(d)
            }
        }
    }

    fn check(&mut self, datagram: &[u8], source: IpAddr) -> Result<Accepted, Drop> {
        // 1. Structure: size, magic, version, every length and code (no keys, no state).
        let parsed = wire::decode(datagram)?;
        let h = &parsed.frame.header;
        // 2. Direction for our role.
        let expected = match self.role {
            Role::Controller(_) => Direction::NodeToController,
            Role::Node { .. } => Direction::ControllerToNode,
        };
        if h.direction != expected {
            return Err(Drop::Malformed);
        }
        // 3. Known sender, 4. from one of its addresses on that network.
        let peer = self.peers.get(&h.sender).ok_or(Drop::UnknownSender)?;
        if !peer.addrs[h.network.index()].contains(&source) {
            return Err(Drop::WrongSource);
        }
        // 5. MAC (constant time) over header + body. A pulse only with the pulse key, anything
        // else only with the peer's key: the pulse key sits on every node, so it must not
        // authenticate a command.
        let key = match (&self.role, &parsed.frame.message) {
            (Role::Node { pulse, .. }, Message::Pulse(_)) => pulse.as_ref().ok_or(Drop::BadMac)?,
            _ => &peer.key,
        };
        if !key.verify(parsed.signed, parsed.mac) {
            return Err(Drop::BadMac);
        }
        // 6. Epoch (node role): never go back to a deposed controller. A pulse commands
        // nothing, so it is only held to its own sender's earlier pulses.
        let is_node = matches!(self.role, Role::Node { .. });
        let is_pulse = matches!(parsed.frame.message, Message::Pulse(_));
        let floor = match (is_node, is_pulse) {
            (false, _) => 0,
            (true, true) => self.pulse_epochs.get(&h.sender).copied().unwrap_or(0),
            (true, false) => self.highest_epoch,
        };
        if h.epoch < floor {
            return Err(Drop::StaleEpoch);
        }
        // 7. Replay window.
        let key = (h.sender.clone(), h.network);
        if let Some(w) = self.windows.get(&key) {
            if !w.check(h.session, h.seq) {
                return Err(Drop::Replayed);
            }
        }
        // 8. Commit.
        self.windows
            .entry(key)
            .and_modify(|w| w.commit(h.session, h.seq))
            .or_insert_with(|| ReplayWindow::new(h.session, h.seq));
        if is_node && is_pulse {
            let e = self.pulse_epochs.entry(h.sender.clone()).or_insert(0);
            *e = (*e).max(h.epoch);
        } else if is_node {
            self.highest_epoch = self.highest_epoch.max(h.epoch);
        }
        let frame = parsed.frame;
        Ok(Accepted {
            sender: frame.header.sender,
            network: frame.header.network,
            session: frame.header.session,
            epoch: frame.header.epoch,
            seq: frame.header.seq,
            message: frame.message,
        })
    }
}
