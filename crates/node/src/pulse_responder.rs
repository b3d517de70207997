//! The node's heartbeat pulse responder: answer every authenticated pulse at once.
//!
//! The controller's side (the pulse service with its miss accounting) is `steward-heartbeat-udp`;
//! the two meet only on the wire (`Message::Pulse` and `Message::PulseReply`, see
//! `steward-protocol`). This half lives in the node crate so that the agent on every host links no
//! controller code.
//!
//! [`Responder::spawn`] binds the node's heartbeat socket(s) and answers every authenticated, fresh
//! pulse with the echoed round and the health flags read from a callback (process monitor healthy,
//! locked, stall). Its verifier accepts pulses only with the cluster-wide pulse key, from the
//! registered controller addresses, with the protocol's replay window and epoch checks; the answer
//! is signed with the node's own key. Everything else is dropped and counted per reason
//! ([`ResponderStats`]); nothing on the receive path can panic on input.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use steward_protocol::{
    Direction, DropCounters, HealthFlags, MacKey, Message, NodeKeys, PulseReply, Sealer, Verifier,
    MAX_DATAGRAM,
};
use steward_types::Network;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Errors starting a pulse responder.
#[derive(Debug, thiserror::Error)]
pub enum ResponderError {
    #[error("cannot bind the heartbeat socket on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid heartbeat configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Protocol(#[from] steward_protocol::EncodeError),
}

/// Reads the node's current health flags; called once per answered pulse, so it must be cheap
/// (read an atomic or a cached value, never a file).
pub type HealthSource = Arc<dyn Fn() -> HealthFlags + Send + Sync>;

/// Node-side configuration.
#[derive(Clone, Debug)]
pub struct ResponderConfig {
    /// This node's hostname (the sender name of its answers).
    pub hostname: String,
    /// The node's keys: answers are signed with `keys.own`.
    pub keys: NodeKeys,
    /// The cluster-wide pulse key (`ClusterSecret::pulse_key`): pulses are verified with it only.
    pub pulse_key: MacKey,
    /// Controllers allowed to pulse: (name, network, source IP).
    pub controllers: Vec<(String, Network, IpAddr)>,
    /// One socket per network: where to bind it.
    pub bind: Vec<(Network, SocketAddr)>,
}

/// Running totals of a responder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponderStats {
    /// Authenticated pulses answered.
    pub answered: u64,
    /// Answers that could not be sent.
    pub send_errors: u64,
    /// Protocol drops per reason (bad MAC, wrong source, replayed, stale epoch, malformed, …).
    pub dropped: DropCounters,
    /// Authenticated frames that are not pulses (e.g. a command sent to the heartbeat port).
    pub dropped_unexpected_kind: u64,
    /// Authenticated pulses naming another network than the socket they arrived on.
    pub dropped_wrong_network: u64,
}

impl ResponderStats {
    pub fn total_dropped(&self) -> u64 {
        self.dropped.total_dropped() + self.dropped_unexpected_kind + self.dropped_wrong_network
    }
}

/// The node's pulse responder.
pub struct Responder;

/// Handle to a running responder; dropping it stops it.
pub struct ResponderHandle {
    stats: Arc<Mutex<ResponderStats>>,
    local: Vec<(Network, SocketAddr)>,
    task: Option<JoinHandle<()>>,
}

impl ResponderHandle {
    pub fn stats(&self) -> ResponderStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }
    pub fn local_addr(&self, network: Network) -> Option<SocketAddr> {
        self.local
            .iter()
            .find(|(n, _)| *n == network)
            .map(|(_, a)| *a)
    }
    /// Stop answering and wait until the sockets are closed (the address can be bound again).
    pub async fn shutdown(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
    /// Stop answering without waiting (the sockets close when the runtime drops the task).
    pub fn abort(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl Drop for ResponderHandle {
    fn drop(&mut self) {
        self.abort();
    }
}

impl Responder {
    /// Bind the node's heartbeat sockets and answer pulses on the current tokio runtime.
    pub fn spawn(
        cfg: ResponderConfig,
        health: HealthSource,
    ) -> Result<ResponderHandle, ResponderError> {
        if cfg.bind.is_empty() || cfg.bind.len() > 2 {
            return Err(ResponderError::Config(
                "a heartbeat responder binds one or two networks".into(),
            ));
        }
        let sealer = Sealer::new(&cfg.hostname, Direction::NodeToController, fresh_session())?;
        let mut verifier =
            Verifier::node(cfg.keys.controller.clone()).with_pulse_key(cfg.pulse_key);
        for (name, network, ip) in &cfg.controllers {
            verifier.allow(name, *network, [*ip]);
        }
        let mut sockets = Vec::new();
        let mut local = Vec::new();
        for (network, addr) in &cfg.bind {
            // A node receives one pulse per controller per period: the default buffer is ample.
            let s = bind_udp(*addr)?;
            let bound = s.local_addr().map_err(|source| ResponderError::Bind {
                addr: *addr,
                source,
            })?;
            local.push((*network, bound));
            sockets.push((*network, s));
        }
        let stats = Arc::new(Mutex::new(ResponderStats::default()));
        let node = Node {
            own: cfg.keys.own,
            verifier,
            sealer,
            health,
            stats: stats.clone(),
            unexpected: 0,
            wrong_network: 0,
            answered: 0,
            send_errors: 0,
            start: Instant::now(),
        };
        let task = tokio::spawn(node.run(sockets));
        Ok(ResponderHandle {
            stats,
            local,
            task: Some(task),
        })
    }
}

struct Node {
    own: MacKey,
    verifier: Verifier,
    sealer: Sealer,
    health: HealthSource,
    stats: Arc<Mutex<ResponderStats>>,
    unexpected: u64,
    wrong_network: u64,
    answered: u64,
    send_errors: u64,
    start: Instant,
}

impl Node {
    async fn run(mut self, sockets: Vec<(Network, UdpSocket)>) {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            let which = tokio::select! {
                r = sockets[0].1.readable() => r.map(|_| 0),
                r = async {
                    match sockets.get(1) {
                        Some((_, s)) => s.readable().await.map(|_| 1),
                        None => std::future::pending().await,
                    }
                } => r,
            };
            let Ok(i) = which else { continue };
            let (network, sock) = (&sockets[i].0, &sockets[i].1);
            // Drain what is queued: normally one pulse per controller.
            loop {
                match sock.try_recv_from(&mut buf) {
                    Ok((n, src)) => self.on_datagram(*network, sock, &buf[..n], src),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => {
                        tracing::debug!(error = %e, "heartbeat responder receive error");
                        break;
                    }
                }
            }
            self.publish();
        }
    }

    fn on_datagram(&mut self, network: Network, sock: &UdpSocket, d: &[u8], src: SocketAddr) {
        let now = mono_ms(self.start, Instant::now());
        let Ok(a) = self.verifier.accept(d, src.ip(), now) else {
            return;
        };
        let Message::Pulse(p) = a.message else {
            self.unexpected += 1;
            return;
        };
        if a.network != network {
            self.wrong_network += 1;
            return;
        }
        let reply = Message::PulseReply(PulseReply {
            round: p.round,
            health: (self.health)(),
        });
        let epoch = self.verifier.highest_epoch();
        match self.sealer.seal(&self.own, network, epoch, &reply) {
            Ok(bytes) => match sock.try_send_to(&bytes, src) {
                Ok(_) => self.answered += 1,
                Err(e) => {
                    self.send_errors += 1;
                    tracing::debug!(error = %e, %src, "pulse answer not sent");
                }
            },
            Err(e) => {
                self.send_errors += 1;
                tracing::error!(error = %e, "cannot seal a pulse answer");
            }
        }
    }

    fn publish(&self) {
        if let Ok(mut s) = self.stats.lock() {
            s.answered = self.answered;
            s.send_errors = self.send_errors;
            s.dropped = self.verifier.counters().clone();
            s.dropped_unexpected_kind = self.unexpected;
            s.dropped_wrong_network = self.wrong_network;
        }
    }
}

/// Bind a non-blocking UDP socket for tokio (synchronously, so `spawn` reports a bind error).
fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, ResponderError> {
    let bind_err = |source| ResponderError::Bind { addr, source };
    let std = std::net::UdpSocket::bind(addr).map_err(bind_err)?;
    std.set_nonblocking(true).map_err(bind_err)?;
    UdpSocket::from_std(std).map_err(bind_err)
}

/// Milliseconds of monotonic time since `base`: the verifier's clock.
fn mono_ms(base: Instant, now: Instant) -> u64 {
    now.saturating_duration_since(base).as_millis() as u64
}

/// A session for a new responder run: wall-clock microseconds (the protocol's rule for telling
/// runs apart; never used for timing), strictly increasing within this process too, so two
/// responders started in one process (the lab, tests) never share one.
fn fresh_session() -> u64 {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    steward_protocol::claim_session(wall, &LAST)
}
