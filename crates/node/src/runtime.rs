//! The tokio driver: sockets, timers, script runs and files around one [`Agent`].

use crate::config::{ControllerPeer, NodeConfig};
use crate::machine::Machine;
use crate::state::NodeState;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use steward_agent::{
    Agent, AgentConfig, Destination, Effect, FlagFile, FlagPair, Level, RunId, RunOutcome,
    ScriptSet, Startup,
};
use steward_protocol::{
    next_session, Direction, DropCounters, MacKey, Message, RateLimitedLog, Sealer, Verifier,
    MAX_DATAGRAM,
};
use steward_types::{MonitorEvent, NodeEvent, ProtocolNetwork};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

/// Counters of one running agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Verifier drops per reason, and `accepted`.
    pub drops: DropCounters,
    /// Datagrams received on any network.
    pub frames_in: u64,
    /// Datagrams sent.
    pub frames_out: u64,
    /// Verified commands handed to the agent (repeats included).
    pub commands: u64,
    /// Verified frames that named another network than the socket they came in on.
    pub misrouted: u64,
    /// Verified frames that were not commands (a controller never sends those).
    pub unexpected: u64,
    pub send_errors: u64,
    pub recv_errors: u64,
    /// Reboots and wipes ordered by a command.
    pub reboots: u64,
}

/// A running agent. Dropping it aborts the agent (safe at any point).
pub struct NodeHandle {
    task: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
    stats: Arc<Mutex<NodeStats>>,
    local: Vec<(ProtocolNetwork, SocketAddr)>,
    session: u64,
    /// The heartbeat responder; it ends with the handle (a dead agent's host does not answer
    /// pulses either).
    heartbeat: Option<crate::pulse_responder::ResponderHandle>,
    /// The link and filesystem monitors and the status socket server; aborted with the handle.
    side_tasks: Vec<JoinHandle<()>>,
    status: crate::status::StatusBoard,
    /// The process monitor, if configured; it ends with the handle.
    pmon: Option<Arc<crate::pmon::PmonHandle>>,
    /// The host watchdog, if configured; a clean shutdown disarms it, an abort leaves it armed.
    watchdog: Option<crate::watchdog::WatchdogHandle>,
    /// True once the agent has carried out its start (see [`NodeHandle::started`]).
    started: tokio::sync::watch::Receiver<bool>,
}

impl NodeHandle {
    pub fn stats(&self) -> NodeStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The address the socket of `network` is bound to (useful when binding port 0).
    pub fn local_addr(&self, network: impl Into<ProtocolNetwork>) -> Option<SocketAddr> {
        let network = network.into();
        self.local
            .iter()
            .find(|(n, _)| *n == network)
            .map(|(_, a)| *a)
    }

    /// Wait until the agent has carried out its start: lock flags restored and corrected, first
    /// alive report sent. What "ready" means to systemd: before it, a reader of the lock flags may
    /// find them missing. Returns at once if the agent ended.
    pub async fn started(&self) {
        let mut rx = self.started.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// The session this run signs its frames with.
    pub fn session(&self) -> u64 {
        self.session
    }

    /// Stop: the loop ends between two inputs; running scripts are killed; the watchdog is
    /// disarmed.
    pub async fn shutdown(mut self) {
        if let Some(w) = self.watchdog.take() {
            w.stop().await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        for t in &self.side_tasks {
            t.abort();
        }
    }

    /// Stop at once, wherever the agent is (what a power loss does). The side tasks end too:
    /// the status server holds the process monitor, which would otherwise outlive the agent and
    /// keep restarting processes beside the next boot's monitor.
    pub fn abort(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
        for t in &self.side_tasks {
            t.abort();
        }
    }

    /// What the local status socket shows (links, filesystems, flags).
    pub fn status(&self) -> crate::status::NodeStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The process monitor, if configured (its processes' state, its reload).
    pub fn pmon(&self) -> Option<&crate::pmon::PmonHandle> {
        self.pmon.as_deref()
    }

    /// The host watchdog's counters, if it runs.
    pub fn watchdog_stats(&self) -> Option<crate::watchdog::WatchdogStats> {
        self.watchdog.as_ref().map(|w| w.stats())
    }

    /// The heartbeat responder's counters, if it runs.
    pub fn heartbeat_stats(&self) -> Option<crate::pulse_responder::ResponderStats> {
        self.heartbeat.as_ref().map(|r| r.stats())
    }

    /// The agent task ended (it never does by itself; a panic would).
    pub fn is_finished(&self) -> bool {
        match &self.task {
            Some(t) => t.is_finished(),
            None => true,
        }
    }
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("local", &self.local)
            .field("session", &self.session)
            .field("heartbeat", &self.heartbeat.is_some())
            .finish()
    }
}

impl Drop for NodeHandle {
    fn drop(&mut self) {
        // The responder handle aborts itself when dropped with the rest of the fields.
        self.abort();
    }
}

fn io_err(kind: std::io::ErrorKind, msg: String) -> std::io::Error {
    std::io::Error::new(kind, msg)
}

fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros().min(u64::MAX as u128) as u64)
}

fn observe(cfg: &NodeConfig) -> FlagPair {
    FlagPair {
        volatile: cfg.lock_flag.exists(),
        backup: cfg.lock_flag_backup.exists(),
    }
}

/// Start the agent: read the state, pick and persist a new session, bind one UDP socket per
/// network, restore the lock flag, and spawn the loop. Must run inside a tokio runtime.
pub fn spawn(cfg: NodeConfig, machine: Arc<dyn Machine>) -> std::io::Result<NodeHandle> {
    cfg.validate()
        .map_err(|m| io_err(std::io::ErrorKind::InvalidInput, m))?;
    let mut state = match NodeState::load(&cfg.state_dir) {
        Ok(s) => s,
        Err(msg) => {
            tracing::warn!(host = %cfg.hostname, "{msg}");
            NodeState::default()
        }
    };
    // The session must be persisted before the first frame: a restart (or a simulated reboot
    // that aborts this agent) then always picks a greater one and its frames are not replays.
    let session = next_session(unix_us(), state.session);
    state.session = Some(session);
    state.save(&cfg.state_dir).map_err(|e| {
        io_err(
            e.kind(),
            format!(
                "cannot write the agent state in {}: {e}",
                cfg.state_dir.display()
            ),
        )
    })?;
    let sealer = Sealer::new(&cfg.hostname, Direction::NodeToController, session)
        .map_err(|e| io_err(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let mut verifier = Verifier::node(cfg.keys.controller.clone());
    verifier.raise_epoch(state.highest_epoch);
    verifier.set_log_limit(cfg.drop_log_per_minute, 60_000);
    let mut sockets: [Option<Arc<UdpSocket>>; 3] = [None, None, None];
    let mut peers: [Vec<ControllerPeer>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let mut local = Vec::new();
    // The heartbeat networks, then pxeboot: each its socket, its controllers.
    let all = cfg
        .networks
        .iter()
        .map(|n| (ProtocolNetwork::from(n.network), n.bind, &n.controllers))
        .chain(
            cfg.pxeboot
                .iter()
                .map(|p| (ProtocolNetwork::Pxeboot, p.bind, &p.controllers)),
        );
    for (network, bind, controllers) in all {
        let std_sock = std::net::UdpSocket::bind(bind).map_err(|e| {
            io_err(
                e.kind(),
                format!("cannot bind UDP {} for {:?}: {e}", bind, network),
            )
        })?;
        std_sock.set_nonblocking(true)?;
        let sock = UdpSocket::from_std(std_sock)?;
        local.push((network, sock.local_addr()?));
        sockets[network.index()] = Some(Arc::new(sock));
        let mut by_name: BTreeMap<&str, Vec<IpAddr>> = BTreeMap::new();
        for c in controllers {
            by_name
                .entry(c.name.as_str())
                .or_default()
                .push(c.addr.ip());
        }
        for (name, addrs) in by_name {
            verifier.allow(name, network, addrs);
        }
        peers[network.index()] = controllers.clone();
    }
    // The lock flag the pulse answers carry: the agent's own view, published by the loop after
    // every step (the answer path never touches files).
    let locked = Arc::new(AtomicBool::new(false));
    let (monitor_tx, monitor_rx) = mpsc::unbounded_channel();
    let pmon = cfg
        .pmon_dir
        .clone()
        .map(|dir| Arc::new(crate::pmon::spawn(dir, monitor_tx.clone())));
    let watchdog = match &cfg.watchdog {
        Some(w) => {
            let quorum = match &pmon {
                Some(p) => p.quorum(),
                // No process monitor: quorum always held.
                None => tokio::sync::watch::channel(Vec::new()).1,
            };
            Some(crate::watchdog::spawn(w.clone(), quorum, locked.clone())?)
        }
        None => None,
    };
    let pmon_running: Arc<dyn Fn() -> bool + Send + Sync> = match &pmon {
        Some(p) => Arc::new(p.running_probe()),
        None => Arc::new(|| true),
    };
    let heartbeat = match cfg.heartbeat_port {
        Some(port) => Some(start_responder(&cfg, port, locked.clone(), pmon_running)?),
        None => None,
    };
    let stats = Arc::new(Mutex::new(NodeStats::default()));
    let (stop_tx, stop_rx) = oneshot::channel();
    let (started_tx, started) = tokio::sync::watch::channel(false);
    let status = Arc::new(Mutex::new(crate::status::NodeStatus {
        host: cfg.hostname.clone(),
        ..Default::default()
    }));
    let mut side_tasks = Vec::new();
    if let Some(path) = &cfg.status_socket {
        // Only a window for people: the agent's real work goes on without it.
        let processes: Option<crate::status::ProcessSection> = pmon.clone().map(|p| {
            let read: crate::status::ProcessSection =
                Arc::new(move || serde_json::to_value(p.status()).unwrap_or_default());
            read
        });
        match crate::status::serve(path, status.clone(), processes) {
            Ok(server) => side_tasks.push(server),
            Err(e) => tracing::error!(host = %cfg.hostname,
                "cannot open the status socket {}: {e}", path.display()),
        }
    }
    // Bounded: a flood of link changes waits for the loop rather than growing without end.
    let (report_tx, report_rx) = mpsc::channel::<MonitorEvent>(64);
    if !cfg.monitors.is_empty() {
        side_tasks.push(crate::monitors::spawn(
            cfg.monitors.clone(),
            status.clone(),
            report_tx,
        ));
    }
    let ms = |d: Duration| d.as_millis().min(u64::MAX as u128) as u64;
    let agent_cfg = AgentConfig {
        networks: cfg.networks.iter().map(|n| n.network).collect(),
        pxeboot: cfg.pxeboot.is_some(),
        alive_period_ms: ms(cfg.alive_period),
        flag_audit_period_ms: ms(cfg.flag_audit_period),
        inventory_period_ms: ms(cfg.inventory_period),
        goenabled_at_start: cfg.goenabled_at_start,
        ..AgentConfig::default()
    };
    let rt = Runtime {
        own_key: cfg.keys.own.clone(),
        cfg,
        machine,
        sealer,
        verifier,
        sockets,
        peers,
        state,
        stats: stats.clone(),
        started: Instant::now(),
        send_log: RateLimitedLog::new(10, 60_000),
        scripts: JoinSet::new(),
        going_down: JoinSet::new(),
        ready: started_tx,
        recv_failed: false,
        locked,
        status: status.clone(),
        _monitor_tx: monitor_tx,
    };
    let task = tokio::spawn(rt.run(agent_cfg, stop_rx, report_rx, monitor_rx));
    Ok(NodeHandle {
        task: Some(task),
        stop: Some(stop_tx),
        stats,
        local,
        session,
        heartbeat,
        side_tasks,
        status,
        pmon,
        watchdog,
        started,
    })
}

/// The pulse responder on `port` of every network's address, answering with the lock flag the
/// agent's loop publishes in `locked`.
fn start_responder(
    cfg: &NodeConfig,
    port: u16,
    locked: Arc<AtomicBool>,
    pmon_running: Arc<dyn Fn() -> bool + Send + Sync>,
) -> std::io::Result<crate::pulse_responder::ResponderHandle> {
    let rcfg = crate::pulse_responder::ResponderConfig {
        hostname: cfg.hostname.clone(),
        keys: cfg.keys.clone(),
        pulse_key: cfg.keys.pulse.clone(),
        controllers: cfg
            .networks
            .iter()
            .flat_map(|n| {
                n.controllers
                    .iter()
                    .map(move |c| (c.name.clone(), n.network, c.addr.ip()))
            })
            .collect(),
        bind: cfg
            .networks
            .iter()
            .map(|n| (n.network, SocketAddr::new(n.bind.ip(), port)))
            .collect(),
    };
    let health: crate::pulse_responder::HealthSource = Arc::new(move || {
        steward_protocol::HealthFlags::new(pmon_running(), locked.load(Ordering::Relaxed), false)
    });
    crate::pulse_responder::Responder::spawn(rcfg, health)
        .map_err(|e| io_err(std::io::ErrorKind::AddrInUse, e.to_string()))
}

struct Runtime {
    cfg: NodeConfig,
    own_key: MacKey,
    machine: Arc<dyn Machine>,
    sealer: Sealer,
    verifier: Verifier,
    sockets: [Option<Arc<UdpSocket>>; 3],
    peers: [Vec<ControllerPeer>; 3],
    state: NodeState,
    stats: Arc<Mutex<NodeStats>>,
    started: Instant,
    send_log: RateLimitedLog,
    /// Script runs in flight; dropped (aborted, children killed) with the runtime.
    scripts: JoinSet<()>,
    /// Reboots and wipes under way (crate::safety); aborted with the runtime.
    going_down: JoinSet<()>,
    /// Told once the start's effects are carried out ([`NodeHandle::started`]).
    ready: tokio::sync::watch::Sender<bool>,
    recv_failed: bool,
    /// The volatile lock flag as the agent keeps it, for the heartbeat responder's answers.
    locked: Arc<AtomicBool>,
    /// The local status document; the loop writes the flags section.
    status: crate::status::StatusBoard,
    /// Kept so the channel stays open when no monitor runs.
    _monitor_tx: mpsc::UnboundedSender<steward_types::MonitorEvent>,
}

async fn recv_on(
    sock: &Option<Arc<UdpSocket>>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match sock {
        Some(s) => s.recv_from(buf).await,
        None => std::future::pending().await,
    }
}

impl Runtime {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis().min(u64::MAX as u128) as u64
    }

    fn stat(&self, f: impl FnOnce(&mut NodeStats)) {
        if let Ok(mut s) = self.stats.lock() {
            f(&mut s);
        }
    }

    /// `reports`: link and filesystem monitor reports; `monitor_rx`: the process monitor's escalations;
    /// both go to the controllers.
    async fn run(
        mut self,
        agent_cfg: AgentConfig,
        mut stop: oneshot::Receiver<()>,
        mut reports: mpsc::Receiver<MonitorEvent>,
        mut monitor_rx: mpsc::UnboundedReceiver<steward_types::MonitorEvent>,
    ) {
        let boot = self.machine.boot();
        // The flags as found, before anything else: the agent restores the volatile one first.
        let startup = Startup {
            now_ms: 0,
            boot_id: boot.boot_id,
            uptime_ms: boot.uptime.as_millis().min(u64::MAX as u128) as u64,
            flags: observe(&self.cfg),
            confirmed: self.state.lock_state,
            settings: self.state.settings,
            health: self.cfg.health.observe(false),
        };
        let (mut agent, fx) = Agent::start(agent_cfg, startup);
        let luks = crate::health::LuksCheck::spawn(&self.cfg.health);
        let (done_tx, mut done_rx) = mpsc::channel::<(RunId, RunOutcome)>(8);
        self.apply(fx, &done_tx).await;
        self.locked.store(agent.flags().volatile, Ordering::Relaxed);
        let _ = self.ready.send(true);
        // One buffer byte more than the limit, so an oversized datagram is seen as such.
        let mut buf_m = vec![0u8; MAX_DATAGRAM + 1];
        let mut buf_c = vec![0u8; MAX_DATAGRAM + 1];
        let mut buf_p = vec![0u8; MAX_DATAGRAM + 1];
        let sock_m = self.sockets[0].clone();
        let sock_c = self.sockets[1].clone();
        let sock_p = self.sockets[ProtocolNetwork::Pxeboot.index()].clone();
        loop {
            let deadline = self.started + Duration::from_millis(agent.poll_timeout());
            let fx = tokio::select! {
                _ = &mut stop => break,
                r = recv_on(&sock_m, &mut buf_m) => self.datagram(&mut agent, ProtocolNetwork::Mgmt, r, &buf_m),
                r = recv_on(&sock_c, &mut buf_c) => self.datagram(&mut agent, ProtocolNetwork::Cluster, r, &buf_c),
                r = recv_on(&sock_p, &mut buf_p) => self.datagram(&mut agent, ProtocolNetwork::Pxeboot, r, &buf_p),
                Some((run, outcome)) = done_rx.recv() => {
                    agent.script_finished(self.now_ms(), run, outcome)
                }
                Some(report) = reports.recv() => {
                    self.monitor_report(report).await;
                    Vec::new()
                }
                Some(event) = monitor_rx.recv() => {
                    // The process monitor's escalations, sent as the link and filesystem reports are.
                    self.monitor_report(event).await;
                    Vec::new()
                }
                _ = tokio::time::sleep_until(deadline) => {
                    let observed = observe(&self.cfg);
                    let now = self.now_ms();
                    let mut fx = agent.handle_timeout(now, observed);
                    fx.extend(agent.observe_health(now, self.cfg.health.observe(luks.failed())));
                    fx
                }
            };
            self.apply(fx, &done_tx).await;
            self.locked.store(agent.flags().volatile, Ordering::Relaxed);
            let flags = agent.flags();
            crate::status::update(&self.status, |s| {
                s.flags.locked = flags.volatile;
                s.flags.locked_backup = flags.backup;
            });
            if std::mem::take(&mut self.recv_failed) {
                // A socket that keeps failing must not turn the loop into a busy spin.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        tracing::info!(host = %self.cfg.hostname, "node agent stopped");
    }

    fn datagram(
        &mut self,
        agent: &mut Agent,
        net: ProtocolNetwork,
        r: std::io::Result<(usize, SocketAddr)>,
        buf: &[u8],
    ) -> Vec<Effect> {
        let now = self.now_ms();
        let (len, src) = match r {
            Ok(x) => x,
            Err(e) => {
                // E.g. ECONNREFUSED echoed from an ICMP error of an earlier send: never fatal.
                self.stat(|s| s.recv_errors += 1);
                self.recv_failed = true;
                if self.send_log.allow(now).is_some() {
                    tracing::warn!(host = %self.cfg.hostname, network = ?net, "receive error: {e}");
                }
                return Vec::new();
            }
        };
        let result = self.verifier.accept(&buf[..len], src.ip(), now);
        let drops = self.verifier.counters().clone();
        self.stat(|s| {
            s.frames_in += 1;
            s.drops = drops;
        });
        let Ok(acc) = result else {
            return Vec::new();
        };
        if self.verifier.highest_epoch() > self.state.highest_epoch {
            self.state.highest_epoch = self.verifier.highest_epoch();
            self.persist_state();
        }
        if acc.network != net {
            self.stat(|s| s.misrouted += 1);
            return Vec::new();
        }
        match acc.message {
            Message::Command(c) => {
                self.stat(|s| s.commands += 1);
                agent.handle_session_command(now, acc.network, &acc.sender, acc.session, c)
            }
            _ => {
                self.stat(|s| s.unexpected += 1);
                Vec::new()
            }
        }
    }

    /// A link or filesystem monitor report goes to every controller on every network: the
    /// network it is about may be the one that is down.
    async fn monitor_report(&mut self, report: MonitorEvent) {
        let nets: Vec<ProtocolNetwork> =
            self.cfg.networks.iter().map(|n| n.network.into()).collect();
        let message = Message::Event(NodeEvent::Monitor(report));
        self.send(&Destination::Controllers(nets), &message).await;
    }

    fn persist_state(&mut self) {
        if let Err(e) = self.state.save(&self.cfg.state_dir) {
            tracing::error!(host = %self.cfg.hostname, "cannot persist the agent state: {e}");
        }
    }

    /// Carry out the agent's effects. Every effect is named: a new kind is a compile error here
    /// until the node runtime decides how to carry it out (the lint keeps a `_` arm out).
    #[deny(clippy::wildcard_enum_match_arm)]
    async fn apply(&mut self, fx: Vec<Effect>, done: &mpsc::Sender<(RunId, RunOutcome)>) {
        for e in fx {
            match e {
                Effect::Send { to, message } => self.send(&to, &message).await,
                Effect::SendInventory { networks } => {
                    let inv = self.machine.inventory();
                    self.send(
                        &Destination::Controllers(networks.into_iter().map(Into::into).collect()),
                        &Message::Inventory(inv),
                    )
                    .await;
                }
                Effect::SetFlag { file, present } => {
                    let path = match file {
                        FlagFile::Volatile => &self.cfg.lock_flag,
                        FlagFile::Backup => &self.cfg.lock_flag_backup,
                    };
                    if let Err(e) = set_flag(path, present) {
                        // The next audit tries again.
                        tracing::error!(host = %self.cfg.hostname, "cannot {} {}: {e}",
                            if present { "create" } else { "remove" }, path.display());
                    }
                }
                Effect::PersistLockState(s) => {
                    self.state.lock_state = Some(s);
                    self.persist_state();
                }
                Effect::ApplySettings(s) => {
                    self.state.settings = s;
                    self.persist_state();
                }
                Effect::RunScripts { run, set } => self.start_scripts(run, set, done.clone()),
                // In their own task: a hook, a lazy delay or the reboot command may take their
                // time, and the loop must keep answering (acks to retries) until the machine
                // really goes down (crate::safety).
                Effect::Reboot => self.go_down(steward_agent::GoingDown::Reboot),
                Effect::WipeDisk => self.go_down(steward_agent::GoingDown::WipeDisk),
                Effect::Log { level, line } => {
                    let host = &self.cfg.hostname;
                    match level {
                        Level::Debug => tracing::debug!(host = %host, "{line}"),
                        Level::Info => tracing::info!(host = %host, "{line}"),
                        Level::Warn => tracing::warn!(host = %host, "{line}"),
                    }
                }
            }
        }
    }

    fn go_down(&mut self, what: steward_agent::GoingDown) {
        self.stat(|s| s.reboots += 1);
        self.going_down.spawn(crate::safety::go_down(
            what,
            self.cfg.safety.clone(),
            self.machine.clone(),
            self.cfg.hostname.clone(),
            Instant::now(),
        ));
    }

    fn start_scripts(
        &mut self,
        run: RunId,
        set: ScriptSet,
        done: mpsc::Sender<(RunId, RunOutcome)>,
    ) {
        // A controller's pushed timeouts win over the node's own configuration.
        let pushed =
            |v: Option<u32>, own: Duration| v.map_or(own, |s| Duration::from_secs(s.into()));
        let goenabled_timeout = pushed(
            self.state.settings.goenabled_timeout_s,
            self.cfg.goenabled_timeout,
        );
        let (dir, timeout) = match set {
            ScriptSet::MainGoEnabled => (Some(self.cfg.goenabled_dir.clone()), goenabled_timeout),
            ScriptSet::SubfGoEnabled => (self.cfg.goenabled_subf_dir.clone(), goenabled_timeout),
            ScriptSet::ServicesStart | ScriptSet::ServicesStop => (
                Some(self.cfg.services_dir.clone()),
                pushed(
                    self.state.settings.services_timeout_s,
                    self.cfg.services_timeout,
                ),
            ),
        };
        self.scripts.spawn(async move {
            let outcome = match dir {
                Some(d) => crate::scripts::run_dir(&d, set.arg(), timeout).await,
                None => RunOutcome {
                    passed: true,
                    detail: "no subfunction tests configured".into(),
                },
            };
            let _ = done.send((run, outcome)).await;
        });
        // Reap finished runs so the set does not grow.
        while self.scripts.try_join_next().is_some() {}
    }

    async fn send(&mut self, to: &Destination, message: &Message) {
        let targets: Vec<(ProtocolNetwork, Vec<SocketAddr>)> = match to {
            Destination::Controllers(nets) => nets
                .iter()
                .map(|n| (*n, self.peers[n.index()].iter().map(|p| p.addr).collect()))
                .collect(),
            Destination::Controller { name, network } => vec![(
                *network,
                self.peers[network.index()]
                    .iter()
                    .filter(|p| &p.name == name)
                    .map(|p| p.addr)
                    .collect(),
            )],
        };
        let epoch = self.verifier.highest_epoch();
        for (net, addrs) in targets {
            let Some(sock) = self.sockets[net.index()].clone() else {
                continue;
            };
            if addrs.is_empty() {
                continue;
            }
            let bytes = match self.sealer.seal(&self.own_key, net, epoch, message) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(host = %self.cfg.hostname, "cannot encode {message:?}: {e}");
                    continue;
                }
            };
            for addr in addrs {
                match sock.send_to(&bytes, addr).await {
                    Ok(_) => self.stat(|s| s.frames_out += 1),
                    Err(e) => {
                        self.stat(|s| s.send_errors += 1);
                        if self.send_log.allow(self.now_ms()).is_some() {
                            tracing::warn!(host = %self.cfg.hostname, %addr, "send error: {e}");
                        }
                    }
                }
            }
        }
    }
}

fn set_flag(path: &Path, present: bool) -> std::io::Result<()> {
    if present {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map(|_| ())
    } else {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
