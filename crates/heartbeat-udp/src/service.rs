//! Controller side: the pulse loop around the sans-IO Monitor.

use crate::socket::{bind_udp, send_same_to_many};
use crate::{fresh_session, mono_ms, HeartbeatUdpError};
use std::collections::{HashMap, HashSet};
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_controller::links::HeartbeatLink;
use steward_controller::EventSender;
use steward_heartbeat::{HeartbeatConfig, LinkSeen, Monitor, Output};
use steward_maintenance::io::{Event, HeartbeatControl};
use steward_maintenance::state::Network;
use steward_protocol::{
    ClusterSecret, Direction, DropCounters, Message, Pulse, PulseFlags, Sealer, Verifier,
    MAX_DATAGRAM,
};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Controller-side configuration.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// The controller's hostname: the sender name of its pulses (nodes allow it per network).
    pub controller: String,
    /// Period and thresholds; validated at spawn.
    pub heartbeat: HeartbeatConfig,
    /// One socket per network: where to bind it.
    pub bind: Vec<(Network, SocketAddr)>,
    /// The controller epoch carried in pulses (nodes refuse a deposed controller's).
    pub epoch: u64,
    /// Period multiplier while backed off (MNFA). StarlingX: 4.
    pub backoff_factor: u32,
    /// Receive buffer asked for each socket (capped by `net.core.rmem_max`).
    pub recv_buffer: usize,
    /// Replies drained between batches of this many pulse sends.
    pub send_batch: usize,
    /// What a standby saw before this controller took over (docs/controller-pair.md): hosts it saw
    /// answering are not accused for the first rounds after the takeover.
    pub seed: Option<HeartbeatSeed>,
}

/// One host on one network as a heartbeat service has seen it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSeen {
    pub host: String,
    pub network: Network,
    /// Consecutive pulses unanswered, up to the last closed round.
    pub misses: u32,
    /// The last pulse (round) it answered, of this service's rounds.
    pub last_answered: Option<u64>,
    /// Ten in a row missed (the loss threshold) and not answered back since.
    pub lost: bool,
}

/// The heartbeat state a new active starts from: what it saw as standby (docs/controller-pair.md).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatSeed {
    /// Hosts and networks seen answering when the standby took over.
    pub answering: HashSet<(String, Network)>,
    /// For this long after the service starts, a host seen answering that is started is judged only
    /// on rounds opened after the grace: the takeover gap (the new active's sockets, its first
    /// pulses with a new epoch) is not counted against it. Hosts seen silent get no grace.
    pub grace: Duration,
}

impl HeartbeatSeed {
    /// From what a standby's service saw: a host counts as answering on a network when it answered
    /// at least once and has missed fewer pulses in a row than the minor threshold.
    pub fn from_seen(seen: &[HostSeen], cfg: &HeartbeatConfig, grace: Duration) -> HeartbeatSeed {
        let answering = seen
            .iter()
            .filter(|s| s.last_answered.is_some() && s.misses < cfg.minor_threshold && !s.lost)
            .map(|s| (s.host.clone(), s.network))
            .collect();
        HeartbeatSeed { answering, grace }
    }
}

impl ServiceConfig {
    pub fn new(controller: &str, bind: Vec<(Network, SocketAddr)>) -> Self {
        ServiceConfig {
            controller: controller.to_owned(),
            heartbeat: HeartbeatConfig::default(),
            bind,
            epoch: 1,
            backoff_factor: 4,
            recv_buffer: 4 << 20,
            send_batch: 64,
            seed: None,
        }
    }

    /// Period, thresholds, backoff and cluster policy from the controller's configuration
    /// (`[heartbeat]` table, `policy.cluster_degrade_only`).
    pub fn with_config(mut self, cfg: &steward_maintenance::Config) -> Self {
        self.heartbeat = HeartbeatConfig::from_config(cfg);
        self.backoff_factor = cfg.heartbeat.mnfa_backoff_factor;
        self
    }

    fn validate(&self) -> Result<(), HeartbeatUdpError> {
        self.heartbeat
            .validate()
            .map_err(|e| HeartbeatUdpError::Config(e.0))?;
        if !steward_protocol::valid_hostname(&self.controller) {
            return Err(HeartbeatUdpError::Config(format!(
                "heartbeat controller name {:?} is not a valid hostname",
                self.controller
            )));
        }
        if self.bind.is_empty() {
            return Err(HeartbeatUdpError::Config(
                "heartbeat needs at least one network to bind".into(),
            ));
        }
        let mut seen = HashSet::new();
        if !self.bind.iter().all(|(n, _)| seen.insert(*n)) {
            return Err(HeartbeatUdpError::Config(
                "heartbeat binds each network at most once".into(),
            ));
        }
        if self.backoff_factor == 0 {
            return Err(HeartbeatUdpError::Config(
                "heartbeat backoff_factor must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// One heartbeat event, as delivered to a callback sink.
#[derive(Clone, Debug)]
pub struct Notice {
    /// `Event::Heartbeat { host, network, event }`, exactly what the core takes.
    pub event: Event,
    /// The round opened by the tick that raised it (the Monitor's pulse sequence).
    pub round: u64,
    /// When the tick that raised it ran (monotonic).
    pub at: std::time::Instant,
}

/// Where heartbeat events go.
pub enum Sink {
    /// The controller: events are forwarded in order by a separate task, so a busy controller
    /// applies backpressure to that task and never to the pulse loop.
    Controller(EventSender),
    /// Called inline from the pulse loop: must be quick.
    Callback(Box<dyn FnMut(Notice) + Send>),
}

impl Sink {
    pub fn callback(f: impl FnMut(Notice) + Send + 'static) -> Self {
        Sink::Callback(Box::new(f))
    }
}

/// Running totals of a service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeartbeatStats {
    /// Rounds opened (pulse sequence numbers used).
    pub rounds: u64,
    /// Rounds not counted against anyone because the controller's own loop ran late.
    pub late_rounds: u64,
    /// Pulse datagrams sent (one per host per network per round).
    pub pulses_sent: u64,
    /// Pulses that could not be sent (socket error or full send buffer).
    pub send_errors: u64,
    /// Monitored hosts with no peer address on a network being pulsed (nothing to send to).
    pub no_address: u64,
    /// Authenticated replies taken.
    pub replies: u64,
    /// Authenticated replies that answered a round already closed (too late to count).
    pub stale_replies: u64,
    /// Protocol drops per reason (malformed, bad MAC, unknown sender, wrong source, replayed, …).
    pub dropped: DropCounters,
    /// Authenticated frames that arrived on another network's socket than the one they name.
    pub dropped_wrong_network: u64,
    /// Authenticated frames that are not pulse replies.
    pub dropped_unexpected_kind: u64,
    /// Receive errors other than "nothing more to read".
    pub recv_errors: u64,
    /// Heartbeat events delivered.
    pub events: u64,
    /// Events that could not be delivered (the controller is gone).
    pub events_lost: u64,
    /// Hosts currently monitored (on any network).
    pub monitored_hosts: usize,
}

impl HeartbeatStats {
    /// Every dropped datagram, whatever the reason.
    pub fn total_dropped(&self) -> u64 {
        self.dropped.total_dropped() + self.dropped_wrong_network + self.dropped_unexpected_kind
    }
}

#[derive(Debug)]
enum Control {
    Start(String),
    Stop(String),
    StartAll,
    StopAll,
    Backoff,
    Recover,
    SetPeer(String, Network, SocketAddr),
    RemovePeer(String),
    SetEpoch(u64),
    Observe(oneshot::Sender<Vec<HostSeen>>),
}

/// Handle to a running service; dropping it stops the service.
pub struct HeartbeatHandle {
    ctl: mpsc::UnboundedSender<Control>,
    stats: Arc<Mutex<HeartbeatStats>>,
    local: Vec<(Network, SocketAddr)>,
    task: Option<JoinHandle<()>>,
}

impl HeartbeatHandle {
    /// Start monitoring `host` afresh on every network it has a peer address on.
    pub fn start(&self, host: &str) {
        self.send(Control::Start(host.to_owned()));
    }
    /// Stop monitoring `host` (going down on purpose): no events for it until started again.
    pub fn stop(&self, host: &str) {
        self.send(Control::Stop(host.to_owned()));
    }
    /// MNFA entered: pulse every `period × backoff_factor`, thresholds unchanged.
    pub fn backoff(&self) {
        self.send(Control::Backoff);
    }
    /// MNFA left: back to the normal period.
    pub fn recover(&self) {
        self.send(Control::Recover);
    }
    /// Where `host` answers on `network` (its heartbeat socket). Replies are accepted only from
    /// this address's IP on that network.
    pub fn set_peer(&self, host: &str, network: Network, addr: SocketAddr) {
        self.send(Control::SetPeer(host.to_owned(), network, addr));
    }
    /// Forget `host` entirely (deleted): stops monitoring, forgets its addresses and replay state.
    pub fn remove_peer(&self, host: &str) {
        self.send(Control::RemovePeer(host.to_owned()));
    }
    /// The controller's fencing epoch, once it is known (pulses carry it; nodes refuse older ones).
    pub fn set_epoch(&self, epoch: u64) {
        self.send(Control::SetEpoch(epoch));
    }
    /// What the service has seen of every monitored host, per network (empty once it stopped).
    pub async fn observed(&self) -> Vec<HostSeen> {
        let (tx, rx) = oneshot::channel();
        self.send(Control::Observe(tx));
        rx.await.unwrap_or_default()
    }
    /// A snapshot of the counters (published by the loop after every tick and drain).
    pub fn stats(&self) -> HeartbeatStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }
    /// The bound address of `network`'s socket (useful with port 0).
    pub fn local_addr(&self, network: Network) -> Option<SocketAddr> {
        self.local
            .iter()
            .find(|(n, _)| *n == network)
            .map(|(_, a)| *a)
    }
    /// Stop the loop and wait until its sockets are closed.
    pub async fn shutdown(mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }

    fn send(&self, c: Control) {
        if self.ctl.send(c).is_err() {
            tracing::warn!("heartbeat service is not running; control ignored");
        }
    }
}

impl Drop for HeartbeatHandle {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

impl HeartbeatHandle {
    /// The controller's heartbeat controls, through a shared reference (the handle is shared
    /// between the heartbeat link and the metrics).
    pub fn apply(&self, host: Option<&str>, control: HeartbeatControl) {
        match (host, control) {
            (Some(h), HeartbeatControl::Start) => self.start(h),
            (Some(h), HeartbeatControl::Stop) => self.stop(h),
            (None, HeartbeatControl::Start) => self.send(Control::StartAll),
            (None, HeartbeatControl::Stop) => self.send(Control::StopAll),
            (_, HeartbeatControl::Backoff) => self.backoff(),
            (_, HeartbeatControl::Recover) => self.recover(),
        }
    }
}

impl HeartbeatLink for HeartbeatHandle {
    fn control(&mut self, host: Option<&str>, control: HeartbeatControl) {
        self.apply(host, control);
    }
}

/// The controller's heartbeat service.
pub struct HeartbeatService;

impl HeartbeatService {
    /// Bind the sockets and start the pulse loop on the current tokio runtime.
    pub fn spawn(
        cfg: ServiceConfig,
        secret: ClusterSecret,
        sink: Sink,
    ) -> Result<HeartbeatHandle, HeartbeatUdpError> {
        cfg.validate()?;
        let mut sockets = Vec::new();
        let mut local = Vec::new();
        for (network, addr) in &cfg.bind {
            let s = bind_udp(*addr, cfg.recv_buffer)?;
            let bound = s.local_addr().map_err(|source| HeartbeatUdpError::Bind {
                addr: *addr,
                source,
            })?;
            local.push((*network, bound));
            sockets.push((*network, s));
        }
        let sealer = Sealer::new(
            &cfg.controller,
            Direction::ControllerToNode,
            fresh_session(),
        )?;
        let deliver = match sink {
            Sink::Callback(f) => Deliver::Callback(f),
            Sink::Controller(tx) => {
                // Bounded by hosts × state changes: each host raises a handful of events per
                // failure, so the queue cannot outgrow the cluster.
                let (q, mut rx) = mpsc::unbounded_channel::<Event>();
                tokio::spawn(async move {
                    while let Some(e) = rx.recv().await {
                        if !tx.send(e).await {
                            break;
                        }
                    }
                });
                Deliver::Queue(q)
            }
        };
        let start = Instant::now();
        let stats = Arc::new(Mutex::new(HeartbeatStats::default()));
        let (ctl, ctl_rx) = mpsc::unbounded_channel();
        let base_period = cfg.heartbeat.period;
        let seed = cfg.seed.clone().map(|s| Seed {
            until: steward_maintenance::Instant::from_millis(s.grace.as_millis() as u64),
            answering: s.answering,
        });
        let state = Loop {
            seed,
            monitor: Monitor::new(cfg.heartbeat.clone(), steward_maintenance::Instant::ZERO),
            pmon: steward_heartbeat::PmonWatch::new(
                steward_heartbeat::DEFAULT_PMON_MISSING_THRESHOLD,
            ),
            pulse_key: secret.pulse_key(),
            verifier: Verifier::controller(secret),
            sealer,
            epoch: cfg.epoch,
            base_period,
            backoff_factor: cfg.backoff_factor,
            backoff: false,
            send_batch: cfg.send_batch.max(1),
            sockets,
            peers: HashMap::new(),
            wanted: HashSet::new(),
            start,
            buf: vec![0u8; MAX_DATAGRAM + 1],
            stats: HeartbeatStats::default(),
            published: stats.clone(),
            deliver,
        };
        let task = tokio::spawn(state.run(ctl_rx));
        Ok(HeartbeatHandle {
            ctl,
            stats,
            local,
            task: Some(task),
        })
    }
}

enum Deliver {
    Callback(Box<dyn FnMut(Notice) + Send>),
    Queue(mpsc::UnboundedSender<Event>),
}

/// The seed of a service started by a new active: hosts seen answering, until when it applies (the
/// Monitor's clock).
struct Seed {
    answering: HashSet<(String, Network)>,
    until: steward_maintenance::Instant,
}

struct Loop {
    seed: Option<Seed>,
    monitor: Monitor,
    /// Whether each host's process monitor runs, from the flag in its answers.
    pmon: steward_heartbeat::PmonWatch,
    pulse_key: steward_protocol::MacKey,
    verifier: Verifier,
    sealer: Sealer,
    epoch: u64,
    base_period: Duration,
    backoff_factor: u32,
    backoff: bool,
    send_batch: usize,
    sockets: Vec<(Network, UdpSocket)>,
    /// Host → its heartbeat address per network (index `Network::index`).
    peers: HashMap<String, [Option<SocketAddr>; 2]>,
    /// Hosts started (monitored on every network they have an address on).
    wanted: HashSet<String>,
    start: Instant,
    buf: Vec<u8>,
    stats: HeartbeatStats,
    published: Arc<Mutex<HeartbeatStats>>,
    deliver: Deliver,
}

/// Readable on socket `i`, or never (so a missing second network never wakes the loop).
async fn readable(sockets: &[(Network, UdpSocket)], i: usize) {
    match sockets.get(i) {
        Some((_, s)) => {
            // An error here (none are expected for UDP) surfaces on the next try_recv_from.
            let _ = s.readable().await;
        }
        None => std::future::pending().await,
    }
}

impl Loop {
    async fn run(mut self, mut ctl: mpsc::UnboundedReceiver<Control>) {
        loop {
            let deadline = self.start + Duration::from_millis(self.monitor.next_tick().as_millis());
            tokio::select! {
                c = ctl.recv() => match c {
                    Some(c) => {
                        self.apply(c);
                        // Apply whatever else is queued in one go (a burst of set_peer at start).
                        while let Ok(c) = ctl.try_recv() {
                            self.apply(c);
                        }
                        self.publish();
                    }
                    None => break,
                },
                _ = tokio::time::sleep_until(deadline) => self.tick(),
                _ = readable(&self.sockets, 0) => { self.drain(0); self.publish(); }
                _ = readable(&self.sockets, 1) => { self.drain(1); self.publish(); }
            }
        }
    }

    fn now_ms(&self) -> u64 {
        mono_ms(self.start, Instant::now())
    }

    fn apply(&mut self, c: Control) {
        match c {
            Control::Start(h) => {
                self.start_host(&h);
                self.wanted.insert(h);
            }
            Control::Stop(h) => {
                self.monitor.stop(&h);
                self.pmon.forget(&h);
                self.wanted.remove(&h);
            }
            Control::StartAll => {
                let hosts: Vec<String> = self.peers.keys().cloned().collect();
                for h in hosts {
                    self.start_host(&h);
                    self.wanted.insert(h);
                }
            }
            Control::StopAll => {
                for h in self.wanted.drain() {
                    self.monitor.stop(&h);
                    self.pmon.forget(&h);
                }
            }
            Control::Backoff => self.set_backoff(true),
            Control::Recover => self.set_backoff(false),
            Control::SetPeer(h, network, addr) => {
                if !steward_protocol::valid_hostname(&h) {
                    tracing::warn!(host = %h, "heartbeat peer with an invalid hostname ignored");
                    return;
                }
                self.verifier.allow(&h, network, [addr.ip()]);
                let slot = self.peers.entry(h.clone()).or_default();
                slot[network.index()] = Some(addr);
                if self.wanted.contains(&h)
                    && !self.monitor.is_monitored(&h, network)
                    && self.has_socket(network)
                {
                    self.start_link(&h, network);
                }
            }
            Control::RemovePeer(h) => {
                self.monitor.stop(&h);
                self.pmon.forget(&h);
                self.wanted.remove(&h);
                self.peers.remove(&h);
                self.verifier.forget(&h);
            }
            Control::SetEpoch(e) => self.epoch = e,
            Control::Observe(reply) => {
                let seen = self
                    .monitor
                    .all_seen()
                    .map(|(host, network, s): (&str, Network, LinkSeen)| HostSeen {
                        host: host.to_string(),
                        network,
                        misses: s.misses,
                        last_answered: s.last_answered,
                        lost: s.lost,
                    })
                    .collect();
                let _ = reply.send(seen);
            }
        }
        self.stats.monitored_hosts = self.wanted.len();
    }

    /// Hand an event that is not a heartbeat verdict (the process monitor flag's) to the core.
    fn deliver(&mut self, ev: Event) {
        self.stats.events += 1;
        let round = self.monitor.rounds_opened();
        match &mut self.deliver {
            Deliver::Callback(f) => f(Notice {
                event: ev,
                round,
                at: std::time::Instant::now(),
            }),
            Deliver::Queue(q) => {
                if q.send(ev).is_err() {
                    self.stats.events_lost += 1;
                }
            }
        }
    }

    fn has_socket(&self, network: Network) -> bool {
        self.sockets.iter().any(|(n, _)| *n == network)
    }

    fn start_host(&mut self, host: &str) {
        let Some(addrs) = self.peers.get(host).copied() else {
            return;
        };
        for network in Network::ALL {
            if addrs[network.index()].is_some() && self.has_socket(network) {
                self.start_link(host, network);
            }
        }
    }

    /// Start judging `host` on `network` afresh; a host the seed has as answering, started within
    /// the seed's grace, is judged only on rounds opened after the grace.
    fn start_link(&mut self, host: &str, network: Network) {
        let now = steward_maintenance::Instant::from_millis(self.now_ms());
        let seeded = self.seed.as_ref().and_then(|s| {
            (now < s.until && s.answering.contains(&(host.to_string(), network))).then_some(s.until)
        });
        match seeded {
            Some(until) => self.monitor.start_counting_from(host, network, until),
            None => self.monitor.start(host, network),
        }
    }

    fn set_backoff(&mut self, on: bool) {
        self.backoff = on;
        let period = if on {
            self.base_period * self.backoff_factor
        } else {
            self.base_period
        };
        tracing::info!(
            backoff = on,
            period_ms = period.as_millis() as u64,
            "heartbeat period"
        );
        self.monitor.set_period(period);
    }

    /// Read every datagram queued on socket `i` (bounded so a flood cannot starve the ticks).
    fn drain(&mut self, i: usize) {
        let limit = 4 * self.peers.len() + 1024;
        for _ in 0..limit {
            let Some((network, sock)) = self.sockets.get(i) else {
                return;
            };
            let network = *network;
            match sock.try_recv_from(&mut self.buf) {
                Ok((n, src)) => {
                    let now = self.now_ms();
                    self.on_datagram(network, n, src, now);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) => {
                    // ICMP errors from earlier sends surface here on some systems: count, go on.
                    self.stats.recv_errors += 1;
                    tracing::debug!(error = %e, "heartbeat receive error");
                }
            }
        }
    }

    fn on_datagram(&mut self, network: Network, len: usize, src: SocketAddr, now_ms: u64) {
        let accepted = match self.verifier.accept(&self.buf[..len], src.ip(), now_ms) {
            Ok(a) => a,
            Err(_) => {
                self.stats.dropped = self.verifier.counters().clone();
                return;
            }
        };
        if accepted.network != network {
            self.stats.dropped_wrong_network += 1;
            return;
        }
        match accepted.message {
            Message::PulseReply(r) => {
                self.stats.replies += 1;
                if r.round != self.monitor.rounds_opened() {
                    self.stats.stale_replies += 1;
                }
                self.monitor.on_reply(&accepted.sender, network, r.round);
                if let Some(event) =
                    self.pmon
                        .on_reply(&accepted.sender, network, r.health.pmon_healthy())
                {
                    tracing::info!(host = %accepted.sender, ?event, "process monitor flag");
                    self.deliver(Event::Pmon {
                        host: accepted.sender.clone(),
                        process: steward_maintenance::io::PMOND.to_string(),
                        event,
                    });
                }
            }
            _ => self.stats.dropped_unexpected_kind += 1,
        }
    }

    fn tick(&mut self) {
        // Every answer already received counts before the round closes (the Monitor's rule).
        for i in 0..self.sockets.len() {
            self.drain(i);
        }
        let now = self.now_ms();
        self.monitor
            .on_tick(steward_maintenance::Instant::from_millis(now));
        let at = std::time::Instant::now();
        let round = self.monitor.rounds_opened();
        while let Some(out) = self.monitor.poll() {
            match out {
                Output::Pulse {
                    network,
                    seq,
                    hosts,
                } => self.send_pulses(network, seq, &hosts),
                Output::Event {
                    host,
                    network,
                    event,
                    tally,
                } => {
                    tracing::info!(%host, ?network, ?event, round, ?tally, "heartbeat");
                    let ev = Event::Heartbeat {
                        host,
                        network,
                        event,
                        tally,
                    };
                    self.stats.events += 1;
                    match &mut self.deliver {
                        Deliver::Callback(f) => f(Notice {
                            event: ev,
                            round,
                            at,
                        }),
                        Deliver::Queue(q) => {
                            if q.send(ev).is_err() {
                                self.stats.events_lost += 1;
                            }
                        }
                    }
                }
            }
        }
        self.stats.rounds = round;
        self.stats.late_rounds = self.monitor.void_rounds;
        self.publish();
    }

    fn send_pulses(&mut self, network: Network, round: u64, hosts: &[String]) {
        let Some(i) = self.sockets.iter().position(|(n, _)| *n == network) else {
            return;
        };
        let pulse = Message::Pulse(Pulse {
            round,
            flags: PulseFlags::default().with_backoff(self.backoff),
        });
        // Sealed once per round and network: the pulse key is cluster-wide, so the same bytes
        // serve every host (and would serve a multicast group).
        let bytes = match self
            .sealer
            .seal(&self.pulse_key, network, self.epoch, &pulse)
        {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot seal a pulse");
                return;
            }
        };
        let mut dests = Vec::with_capacity(self.send_batch);
        for chunk in hosts.chunks(self.send_batch) {
            dests.clear();
            for host in chunk {
                match self
                    .peers
                    .get(host.as_str())
                    .and_then(|a| a[network.index()])
                {
                    Some(addr) => dests.push(addr),
                    None => self.stats.no_address += 1,
                }
            }
            // One sendmmsg per batch: the same sealed bytes to every host of the chunk.
            let (sent, failed) = send_same_to_many(&self.sockets[i].1, &bytes, &dests);
            self.stats.pulses_sent += sent;
            self.stats.send_errors += failed;
            // Answers to the pulses just sent are already arriving: take them now so the
            // receive buffer never holds a whole round's worth.
            for j in 0..self.sockets.len() {
                self.drain(j);
            }
        }
    }

    fn publish(&mut self) {
        self.stats.dropped = self.verifier.counters().clone();
        if let Ok(mut p) = self.published.lock() {
            p.clone_from(&self.stats);
        }
    }
}
