//! The role loop of one controller of the pair (docs/controller-pair.md):
//!
//! ```text
//!  standby ── campaign won ──► active ── swact / lease lost / acting deadline ──► standby
//!     ▲   (lease kept alive,        (controller built on the store fenced
//!     │    mirror reloaded,          by the lease; keepalives feed the
//!     │    writes refused 503)       lease clock; the acting gate closes
//!     └──────────────────────────────at the acting deadline)
//! ```
//!
//! The lease is granted and kept alive while standby too, so a won campaign starts with a lease
//! clock that is already running. A controller that resigned for a swact waits one TTL before
//! campaigning again, so the other one wins; if nobody does, it takes the role back.

use crate::etcd::{Campaign, Etcd, LeaderRecord, LeaseId};
use crate::front::{Front, Serving};
use crate::mirror::{Mirror, MirrorSpec};
use crate::standby_heartbeat::{StandbyPulseSpec, StandbyPulses, StandbySeen};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use steward_controller::links::SwactLink;
use steward_controller::EventSender;
use steward_heartbeat_udp::HeartbeatSeed;
use steward_leadership::{KeepaliveId, LeaseClock};
use steward_maintenance::action::Action;
use steward_maintenance::io::Event;
use steward_maintenance::Instant;
use steward_wiring::{ControllerBuilder, Running};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant as TokioInstant;

/// The default lease TTL: the standby takes over within about this long after the active died.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3);
/// How long before its lease can expire the active stops acting.
pub const DEFAULT_MARGIN: Duration = Duration::from_millis(750);
/// The default etcd key of the leader record.
pub const DEFAULT_LEADER_KEY: &str = "steward/leader";

/// What the active is built with, for one lease.
#[derive(Clone, Debug)]
pub struct Grant {
    pub lease: LeaseId,
    pub leader_key: String,
}

/// Makes the active controller's builder for a lease: typically the shared store fenced by it
/// (`EtcdStore::with_fence(leader_key, lease)`), the controller's addresses and secrets.
pub type ActiveFactory =
    Arc<dyn Fn(&Grant) -> Result<ControllerBuilder, String> + Send + Sync + 'static>;

/// One controller of the pair.
pub struct PairSpec {
    /// This controller's name (its hostname).
    pub name: String,
    /// Where its API is reached by clients and by the other controller's refusals.
    pub advertise_url: String,
    /// etcd client URLs.
    pub etcd: Vec<String>,
    pub leader_key: String,
    pub ttl: Duration,
    pub margin: Duration,
    /// How often the standby reloads its read-only mirror.
    pub mirror_every: Duration,
    pub active: ActiveFactory,
    pub mirror: MirrorSpec,
    /// `Some`: the standby pulses every mirrored host and the new active starts its heartbeat from
    /// what it saw (docs/controller-pair.md#the-standby-pulses). `None`: the standby is silent.
    pub pulses: Option<StandbyPulseSpec>,
}

impl PairSpec {
    pub fn new(
        name: impl Into<String>,
        advertise_url: impl Into<String>,
        etcd: Vec<String>,
        active: ActiveFactory,
        mirror: MirrorSpec,
    ) -> PairSpec {
        PairSpec {
            name: name.into(),
            advertise_url: advertise_url.into(),
            etcd,
            leader_key: DEFAULT_LEADER_KEY.to_string(),
            ttl: DEFAULT_TTL,
            margin: DEFAULT_MARGIN,
            mirror_every: Duration::from_secs(1),
            active,
            mirror,
            pulses: None,
        }
    }
}

/// The role of a controller of the pair, as its runtime last set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not holding the leader key; `active`: who does, when known.
    Standby { active: Option<LeaderRecord> },
    /// Holding the key and acting with this epoch.
    Active { epoch: u64 },
    /// Stopped (shut down or gave up).
    Stopped,
}

enum PairCmd {
    /// The core asked for a swact: finish it, step down and let the other controller win.
    Swact { from_core: bool },
    /// Step down, revoke the lease and stop.
    Stop,
}

/// A running controller of the pair.
pub struct Pair {
    handle: PairHandle,
    task: JoinHandle<()>,
    front: JoinHandle<()>,
}

/// Watches and steers a running pair member.
#[derive(Clone)]
pub struct PairHandle {
    cmds: mpsc::Sender<PairCmd>,
    role: watch::Receiver<Role>,
    seen: Arc<std::sync::Mutex<StandbySeen>>,
}

impl PairHandle {
    pub fn role(&self) -> Role {
        self.role.borrow().clone()
    }

    /// Wait until the role satisfies `pred`.
    pub async fn wait_role(&self, pred: impl Fn(&Role) -> bool) -> Role {
        let mut rx = self.role.clone();
        loop {
            let r = rx.borrow_and_update().clone();
            if pred(&r) {
                return r;
            }
            if rx.changed().await.is_err() {
                return rx.borrow().clone();
            }
        }
    }

    /// What this controller's standby pulses saw, as of its last mirror reload (empty while active
    /// or when the standby does not pulse).
    pub fn standby_heartbeat(&self) -> StandbySeen {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Hand the active role over as the core's swact does (no-op on a standby).
    pub async fn swact(&self) {
        let _ = self.cmds.send(PairCmd::Swact { from_core: false }).await;
    }
}

impl Pair {
    /// Serve the API front and start campaigning.
    pub fn start(spec: PairSpec, listener: tokio::net::TcpListener) -> Result<Pair, String> {
        LeaseClock::new(spec.ttl, spec.margin).map_err(|e| e.to_string())?;
        let front = Front::new((spec.mirror.auth)());
        front.set_standby(None, None);
        let (cmd_tx, cmd_rx) = mpsc::channel(16);
        let (role_tx, role_rx) = watch::channel(Role::Standby { active: None });
        let front_task = front.serve(listener);
        let seen = Arc::new(std::sync::Mutex::new(StandbySeen::default()));
        let runtime = Runtime {
            seen: seen.clone(),
            seed: None,
            pulses_failing: false,
            etcd: Etcd::new(&spec.etcd, spec.ttl / 3),
            origin: TokioInstant::now(),
            spec,
            front,
            role: role_tx,
            cmd_tx: cmd_tx.clone(),
        };
        let task = tokio::spawn(runtime.run(cmd_rx));
        Ok(Pair {
            handle: PairHandle {
                cmds: cmd_tx,
                role: role_rx,
                seen,
            },
            task,
            front: front_task,
        })
    }

    pub fn handle(&self) -> PairHandle {
        self.handle.clone()
    }

    /// Step down (revoking the lease, so the other controller takes over at once) and stop.
    pub async fn shutdown(self) {
        let _ = self.handle.cmds.send(PairCmd::Stop).await;
        let _ = self.task.await;
        self.front.abort();
        let _ = self.front.await;
    }

    /// Stop at once without resigning, as a crash does: the lease runs out on its own. The active
    /// controller in this process keeps running until its acting gate closes at the deadline
    /// (tests use this to model a controller cut off from everything).
    pub fn abandon(self) {
        self.task.abort();
        self.front.abort();
    }
}

struct Runtime {
    /// What the standby's pulses saw, for [`PairHandle::standby_heartbeat`].
    seen: Arc<std::sync::Mutex<StandbySeen>>,
    /// What the standby saw when it won, for the active it becomes.
    seed: Option<HeartbeatSeed>,
    /// The standby's pulses could not start last time (warned once).
    pulses_failing: bool,
    spec: PairSpec,
    etcd: Etcd,
    origin: TokioInstant,
    front: Front,
    role: watch::Sender<Role>,
    cmd_tx: mpsc::Sender<PairCmd>,
}

/// A lease held while standby, kept alive until it wins or is lost.
struct Held {
    lease: LeaseId,
    clock: LeaseClock,
}

impl Runtime {
    fn now(&self) -> Instant {
        Instant::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    fn at(&self, t: Instant) -> TokioInstant {
        self.origin + Duration::from_millis(t.as_millis())
    }

    async fn run(mut self, mut cmds: mpsc::Receiver<PairCmd>) {
        let mut hold_until = self.origin;
        loop {
            let won = self.standby(&mut cmds, hold_until).await;
            let Some((held, create_revision)) = won else {
                break;
            };
            match self.active(&mut cmds, held, create_revision).await {
                Stepped::Resigned => hold_until = TokioInstant::now() + self.spec.ttl,
                Stepped::Lost => hold_until = TokioInstant::now(),
                Stepped::Stop => break,
            }
        }
        self.front.set(Serving::Changing);
        let _ = self.role.send(Role::Stopped);
    }

    /// Standby until this controller wins the leader key (`None`: told to stop).
    async fn standby(
        &mut self,
        cmds: &mut mpsc::Receiver<PairCmd>,
        hold_until: TokioInstant,
    ) -> Option<(Held, i64)> {
        let _ = self.role.send(Role::Standby { active: None });
        self.front.set_standby(None, None);
        let mut mirror: Option<Mirror> = None;
        let mut pulses: Option<StandbyPulses> = None;
        let mut mirror_due = TokioInstant::now();
        let mut held: Option<Held> = None;
        let poll = (self.spec.ttl / 6).max(Duration::from_millis(100));
        let mut active: Option<LeaderRecord> = None;
        let won = loop {
            // Keep a lease alive (or get one) to campaign with.
            held = self.keep_standby_lease(held).await;
            let mut seen: Option<Option<LeaderRecord>> = None;
            match &held {
                Some(h) if TokioInstant::now() >= hold_until => {
                    let record = LeaderRecord {
                        name: self.spec.name.clone(),
                        api_url: self.spec.advertise_url.clone(),
                        epoch: 0,
                    };
                    match self
                        .etcd
                        .campaign(&self.spec.leader_key, &record, h.lease)
                        .await
                    {
                        Ok(Campaign::Won { create_revision }) => {
                            break held.take().map(|h| (h, create_revision));
                        }
                        Ok(Campaign::Held(leader)) => seen = Some(leader.map(|l| l.record)),
                        Err(e) => tracing::debug!("campaign failed: {e}"),
                    }
                }
                // Holding off after a swact, or without a lease: only learn who is active.
                _ => match self.etcd.leader(&self.spec.leader_key).await {
                    Ok(leader) => seen = Some(leader.map(|l| l.record)),
                    Err(e) => tracing::debug!("cannot read the leader: {e}"),
                },
            }
            if TokioInstant::now() >= mirror_due {
                mirror_due = TokioInstant::now() + self.spec.mirror_every;
                let links = self.spec.pulses.as_ref().map(|_| {
                    Arc::new(crate::standby_heartbeat::StandbyCounters(self.seen.clone()))
                        as Arc<dyn steward_api::LinkMetrics>
                });
                match Mirror::load(&self.spec.mirror, links).await {
                    Ok(m) => {
                        if let Some(old) = mirror.replace(m) {
                            old.stop().await;
                        }
                    }
                    Err(e) => tracing::warn!("standby mirror not reloaded: {e}"),
                }
                if pulses.is_none() {
                    pulses = self.start_pulses().await;
                }
                if let (Some(p), Some(m)) = (pulses.as_mut(), mirror.as_ref()) {
                    p.follow(&m.hosts().await);
                    let seen = p.seen().await;
                    if let Ok(mut s) = self.seen.lock() {
                        *s = seen;
                    }
                }
            }
            let changed = seen.as_ref().is_some_and(|s| *s != active);
            if let Some(s) = seen {
                active = s;
            }
            // The front first, then the role: whoever sees the role sees the front serving it.
            self.front.set_standby(
                mirror.as_ref().map(|m| m.router.clone()),
                active.as_ref().map(|a| a.api_url.clone()),
            );
            if changed {
                let _ = self.role.send(Role::Standby {
                    active: active.clone(),
                });
            }
            tokio::select! {
                cmd = cmds.recv() => match cmd {
                    Some(PairCmd::Swact { .. }) => {}
                    Some(PairCmd::Stop) | None => break None,
                },
                _ = tokio::time::sleep(poll) => {}
            }
        };
        self.front.set(Serving::Changing);
        if let Some(m) = mirror {
            m.stop().await;
        }
        if let Some(p) = pulses {
            // What it saw until now is where the new active's heartbeat starts; its sockets are
            // closed before the active binds the same ports.
            self.seed = match won {
                Some(_) => Some(p.seed().await),
                None => None,
            };
            p.stop().await;
        }
        if won.is_none() {
            if let Some(h) = held {
                let _ = self.etcd.revoke(h.lease).await;
            }
        }
        won
    }

    /// Start the standby's pulses, when configured, with the store's current epoch (the active's:
    /// agents fence pulses per sender, so it fences nobody). `None`: not configured, or not now
    /// (tried again at the next mirror reload).
    async fn start_pulses(&mut self) -> Option<StandbyPulses> {
        let spec = self.spec.pulses.as_ref()?;
        let store = self.spec.mirror.store.clone();
        let epoch = match tokio::task::spawn_blocking(move || store.epoch()).await {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                tracing::debug!("standby pulses wait for the store's epoch: {e}");
                return None;
            }
            Err(_) => return None,
        };
        match StandbyPulses::start(spec, epoch) {
            Ok(p) => {
                self.pulses_failing = false;
                Some(p)
            }
            Err(e) => {
                // The port may still be held by this process's active that just stepped down, or
                // by another controller on the same address: said once, then tried quietly.
                if !self.pulses_failing {
                    tracing::warn!("{e}; tried again at every mirror reload");
                }
                self.pulses_failing = true;
                None
            }
        }
    }

    /// Renew the standby's lease when a keepalive is due; get a new one when it is gone.
    async fn keep_standby_lease(&self, held: Option<Held>) -> Option<Held> {
        match held {
            Some(mut h) => {
                let due = h
                    .clock
                    .acting_deadline()
                    .map(|d| self.at(d) - self.spec.ttl + self.spec.margin)
                    .map(|anchor| anchor + h.clock.keepalive_period());
                if due.is_some_and(|d| TokioInstant::now() < d) {
                    return Some(h);
                }
                let id = h.clock.keepalive_sent(self.now());
                match self.etcd.keepalive(h.lease).await {
                    Ok(true) => {
                        h.clock.keepalive_acked(id);
                        Some(h)
                    }
                    Ok(false) => None,
                    Err(e) => {
                        tracing::debug!("standby keepalive failed: {e}");
                        let now = self.now();
                        h.clock.may_act(now).then_some(h)
                    }
                }
            }
            None => {
                let sent = self.now();
                match self.etcd.grant(self.spec.ttl).await {
                    Ok(lease) => {
                        let mut clock = LeaseClock::new(self.spec.ttl, self.spec.margin).ok()?;
                        clock.lease_granted(sent);
                        Some(Held { lease, clock })
                    }
                    Err(e) => {
                        tracing::debug!("no lease: {e}");
                        None
                    }
                }
            }
        }
    }

    /// Active until the role is handed over, lost, or the runtime is told to stop.
    async fn active(
        &mut self,
        cmds: &mut mpsc::Receiver<PairCmd>,
        held: Held,
        create_revision: i64,
    ) -> Stepped {
        let Held { lease, mut clock } = held;
        let grant = Grant {
            lease,
            leader_key: self.spec.leader_key.clone(),
        };
        // The acting gate: node commands and BMC operations leave only before the acting
        // deadline, judged on this process's monotonic clock at the moment of sending.
        let deadline_ms = Arc::new(AtomicU64::new(
            clock.acting_deadline().map_or(0, |d| d.as_millis()),
        ));
        let gate = {
            let deadline_ms = deadline_ms.clone();
            let origin = self.origin;
            Arc::new(move || {
                (origin.elapsed().as_millis() as u64) < deadline_ms.load(Ordering::SeqCst)
            })
        };
        let mut builder = match (self.spec.active)(&grant) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!("cannot build the active controller: {e}");
                let _ = self.etcd.revoke(lease).await;
                return Stepped::Resigned;
            }
        };
        builder.api = None;
        builder.acting_gate = Some(gate);
        builder.heartbeat_seed = self.seed.take();
        if let Ok(mut s) = self.seen.lock() {
            *s = StandbySeen::default();
        }
        let cmd_tx = self.cmd_tx.clone();
        builder.swact = Some(Box::new(move |events: EventSender| {
            Box::new(PairSwact { events, cmd_tx }) as Box<dyn SwactLink>
        }));
        // Keepalives go on while the controller loads (a large store takes a while to read).
        let (acks_tx, mut acks) = mpsc::channel(16);
        let mut next_keepalive = TokioInstant::now();
        let start = builder.start();
        tokio::pin!(start);
        let started = loop {
            tokio::select! {
                r = &mut start => break r,
                _ = tokio::time::sleep_until(next_keepalive) => {
                    next_keepalive = TokioInstant::now() + clock.keepalive_period();
                    self.send_keepalive(&mut clock, lease, &acks_tx);
                }
                Some((id, r)) = acks.recv() => {
                    if let Ok(true) = r {
                        clock.keepalive_acked(id);
                        let d = clock.acting_deadline().map_or(0, |d| d.as_millis());
                        deadline_ms.store(d, Ordering::SeqCst);
                    }
                }
            }
        };
        let running = match started {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("cannot start the active controller: {e}");
                let _ = self.etcd.revoke(lease).await;
                return Stepped::Resigned;
            }
        };
        let epoch = running.handle.epoch();
        tracing::info!(name = %self.spec.name, epoch, "active");
        let record = LeaderRecord {
            name: self.spec.name.clone(),
            api_url: self.spec.advertise_url.clone(),
            epoch,
        };
        if let Err(e) = self
            .etcd
            .update_record(&self.spec.leader_key, &record, lease, create_revision)
            .await
        {
            tracing::warn!("the leader record does not show the new epoch yet: {e}");
        }
        let auth = (self.spec.mirror.auth)();
        self.front.set(Serving::Active(running.api_router(auth)));
        let _ = self.role.send(Role::Active { epoch });

        let outcome = loop {
            // Checked at least at every keepalive (TTL/3): a controller that stopped itself (a
            // store write failed, e.g. "leader changed" while etcd lost its leader) must not
            // leave the lease held by an active that no longer acts. Resigning hands the role
            // over with a fresh controller, built from the store.
            if running.is_stopped() {
                tracing::error!(name = %self.spec.name, "the active controller stopped: resigning");
                break Stepped::Resigned;
            }
            let deadline = clock
                .acting_deadline()
                .map_or_else(TokioInstant::now, |d| self.at(d));
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(name = %self.spec.name, "acting deadline reached without a renewed lease: stepping down");
                    break Stepped::Lost;
                }
                _ = tokio::time::sleep_until(next_keepalive) => {
                    next_keepalive = TokioInstant::now() + clock.keepalive_period();
                    self.send_keepalive(&mut clock, lease, &acks_tx);
                }
                Some((id, r)) = acks.recv() => match r {
                    Ok(true) => {
                        clock.keepalive_acked(id);
                        let d = clock.acting_deadline().map_or(0, |d| d.as_millis());
                        deadline_ms.store(d, Ordering::SeqCst);
                    }
                    Ok(false) => {
                        tracing::warn!(name = %self.spec.name, "the lease is gone: stepping down");
                        break Stepped::Lost;
                    }
                    Err(e) => tracing::warn!("keepalive failed: {e}"),
                },
                cmd = cmds.recv() => match cmd {
                    Some(PairCmd::Swact { from_core }) => {
                        if from_core {
                            wait_swact_recorded(&running).await;
                        }
                        break Stepped::Resigned;
                    }
                    Some(PairCmd::Stop) | None => break Stepped::Stop,
                },
            }
        };
        // Close the gate before anything else, then stop the controller (its links go with it).
        deadline_ms.store(0, Ordering::SeqCst);
        self.front.set(Serving::Changing);
        running.shutdown().await;
        clock.lost();
        if !matches!(outcome, Stepped::Lost) {
            if let Err(e) = self.etcd.revoke(lease).await {
                tracing::warn!("cannot revoke the lease (it expires on its own): {e}");
            }
        }
        tracing::info!(name = %self.spec.name, "stepped down");
        outcome
    }
}

type KeepaliveAck = (KeepaliveId, Result<bool, String>);

impl Runtime {
    /// Send one keepalive of `lease` without waiting: its answer comes back on `acks`, so the
    /// acting deadline is watched while etcd is slow.
    fn send_keepalive(
        &self,
        clock: &mut LeaseClock,
        lease: LeaseId,
        acks: &mpsc::Sender<KeepaliveAck>,
    ) {
        let id = clock.keepalive_sent(self.now());
        let etcd = self.etcd.clone();
        let tx = acks.clone();
        tokio::spawn(async move {
            let r = etcd.keepalive(lease).await;
            let _ = tx.send((id, r.map_err(|e| e.to_string()))).await;
        });
    }
}

enum Stepped {
    /// Handed over (swact): wait before campaigning again.
    Resigned,
    /// The lease ran out or the acting deadline came: campaign again at once.
    Lost,
    Stop,
}

/// Until the core has ended the swact action (its completion is in the store, so the next active
/// does not resume it and swact back), at most 2 s.
async fn wait_swact_recorded(running: &Running) {
    let until = TokioInstant::now() + Duration::from_secs(2);
    while TokioInstant::now() < until {
        match running.handle.hosts().await {
            Ok(hosts)
                if hosts
                    .iter()
                    .any(|h| matches!(h.action, Action::Swact | Action::ForceSwact)) => {}
            _ => return,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::warn!("the swact was not recorded as complete in time; stepping down anyway");
}

/// The swact link of the pair's active: the hand-over succeeds on this side once the core has
/// recorded it; the runtime then steps down and revokes its lease, and the standby wins.
struct PairSwact {
    events: EventSender,
    cmd_tx: mpsc::Sender<PairCmd>,
}

impl SwactLink for PairSwact {
    fn swact(&mut self, to: &str) {
        tracing::info!(to, "swact: handing the active role over");
        let events = self.events.clone();
        let cmd_tx = self.cmd_tx.clone();
        tokio::spawn(async move {
            events.send(Event::SwactResult { completed: true }).await;
            let _ = cmd_tx.send(PairCmd::Swact { from_core: true }).await;
        });
    }
}
