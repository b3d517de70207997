//! The actor: one task owns the core, the store and the links. It feeds the core commands, events and
//! deadlines with the current time, persists what the core decided, then carries out its effects.

use crate::feed::Feed;
use crate::handle::{
    ActionStatus, Command, ControllerHandle, HandleError, HostEntry, NodeSettingsPatch,
};
use crate::links::{BmcAccess, EventSender, Links};
use crate::persist::{self, Caches};
use crate::sensor_audit::{SensorAudit, SensorAuditConfig, SensorReplies, SensorReply};
use crate::telemetry::{Recorder, Telemetry};
use std::sync::Arc;
use std::time::Duration;
use steward_maintenance::host::BmcSpec;
use steward_maintenance::{
    ActionId, Config, Effect, Event, Instant, Maintenance, NodeSettings, RequestError, SystemConfig,
};
use steward_store::typed::{BmcCredential, HostIdentity, TypedStore};
use steward_store::writeahead::Durable;
use steward_store::{Password, SecretBox, Store, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant as TokioInstant;

/// What the controller runs with.
#[derive(Clone, Debug)]
pub struct ControllerConfig {
    pub maintenance: Config,
    pub system: SystemConfig,
    /// Capacity of the event queue from the links (backpressure beyond it, nothing dropped).
    pub event_queue: usize,
    /// How many changes the live feed keeps for clients that reconnect ([`crate::feed`]).
    pub feed_replay: usize,
    /// The hardware sensor audit (docs/sensors.md).
    pub sensors: SensorAuditConfig,
}

impl ControllerConfig {
    pub fn new(maintenance: Config, system: SystemConfig) -> Self {
        ControllerConfig {
            maintenance,
            sensors: SensorAuditConfig {
                // No other host to take over on a simplex system: reset and power-cycle are refused.
                destructive_actions_allowed: system.system_type
                    != steward_maintenance::state::SystemType::AioSimplex,
                ..SensorAuditConfig::default()
            },
            system,
            event_queue: 65_536,
            feed_replay: crate::feed::DEFAULT_REPLAY,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot load the controller's state from the store: {0}")]
    Store(#[from] StoreError),
    #[error("invalid maintenance configuration: {0}")]
    Config(String),
}

pub(crate) struct Actor {
    pub(crate) core: Maintenance,
    store: TypedStore,
    caches: Caches,
    pub(crate) links: Links,
    /// Every host's sensor monitor and its read schedule.
    pub(crate) sensors: SensorAudit,
    pub(crate) sensor_cfg: SensorAuditConfig,
    /// A host was added, removed or (de)provisioned: the sensor audit syncs its monitors.
    hosts_changed: bool,
    /// What agents are pushed, with its store revision (compare-and-swap on change).
    node_settings: (NodeSettings, Option<u64>),
    origin: TokioInstant,
    /// A store write failed: stop before acting on anything else.
    failed: bool,
    /// Where committed changes go for `GET /v1/stream`.
    feed: Arc<Feed>,
    /// Heartbeat, recovery and BMC figures for `/metrics`.
    telemetry: Recorder,
    /// Each host's secure boot state as last read from its BMC (`crate::secure_boot`).
    pub(crate) secure_boot: std::collections::HashMap<String, crate::secure_boot::SecureBootSeen>,
}

/// Load the stored state, start the actor, and return its handle, the sender links deliver events
/// through, and the actor's task.
///
/// The controller takes a new fencing epoch, one above the store's: from then on a controller that
/// started earlier (a deposed active) can no longer write.
pub fn spawn(
    cfg: ControllerConfig,
    store: Arc<dyn Store>,
    secrets: SecretBox,
    links: Links,
) -> Result<(ControllerHandle, EventSender, JoinHandle<()>), StartError> {
    let events = EventSender::channel(cfg.event_queue);
    spawn_with_events(cfg, store, secrets, links, events)
}

/// As [`spawn`], with the event queue made beforehand ([`EventSender::channel`]), so links that need
/// the sender when they start (the BMC workers' first probes) can have it.
pub fn spawn_with_events(
    cfg: ControllerConfig,
    store: Arc<dyn Store>,
    secrets: SecretBox,
    links: Links,
    events: (EventSender, mpsc::Receiver<Event>),
) -> Result<(ControllerHandle, EventSender, JoinHandle<()>), StartError> {
    let (ev_sender, ev_rx) = events;
    cfg.maintenance
        .validate()
        .map_err(|e| StartError::Config(e.to_string()))?;
    let epoch = store.epoch()? + 1;
    store.acquire_epoch(epoch)?;
    let store = TypedStore::new(store, secrets, epoch);
    let origin = TokioInstant::now();
    let mut core = Maintenance::new(cfg.maintenance.clone(), cfg.system.clone(), Instant::ZERO);
    let durable = Durable::load(&store)?;
    let mut caches = Caches::load(&store)?;
    let node_settings = store.node_settings()?;
    core.restore(
        Instant::ZERO,
        durable.hosts,
        durable.alarms,
        durable.next_action_id,
    );
    // Hosts stored before integer ids existed get theirs now, before the API can show them.
    caches.identify(&store, core.hosts().map(|h| h.spec.name.clone()))?;
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let mut links = links;
    // The node and heartbeat links learn every host's addresses, the BMC workers every provisioned
    // BMC with its stored password.
    for rec in core.hosts() {
        links.node.provision(&rec.spec);
        links.heartbeat.provision(&rec.spec);
        let Some(spec) = &rec.spec.bmc else { continue };
        match store.bmc(&rec.spec.name)? {
            Some(cred) => {
                let access = access_of(spec, cred.password.expose().to_string());
                links.bmc.provision(&rec.spec.name, Some(access));
            }
            None => tracing::warn!(host = %rec.spec.name, "BMC provisioned but no password stored"),
        }
    }
    links.node.settings(node_settings.0);
    let feed = Arc::new(Feed::new(epoch, cfg.feed_replay));
    let (sensor_replies, sensor_rx) = SensorReplies::channel(cfg.event_queue);
    let sensors = SensorAudit::load(cfg.sensors.clone(), &store, sensor_replies)?;
    let telemetry = Telemetry::default();
    let mut actor = Actor {
        core,
        store,
        caches,
        links,
        sensors,
        sensor_cfg: cfg.sensors.clone(),
        hosts_changed: true,
        node_settings,
        origin,
        failed: false,
        feed: feed.clone(),
        telemetry: Recorder::new(telemetry.clone()),
        secure_boot: Default::default(),
    };
    // Effects of the restore (the add handler's reconciliation) are persisted before anything else.
    if let Err(e) = actor.flush() {
        return Err(StartError::Store(e));
    }
    let task = tokio::spawn(actor.run(cmd_rx, ev_rx, sensor_rx));
    Ok((
        ControllerHandle {
            tx: cmd_tx,
            epoch,
            feed,
            telemetry,
        },
        ev_sender,
        task,
    ))
}

impl Actor {
    pub(crate) fn now(&self) -> Instant {
        Instant::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    fn deadline(&self) -> Option<TokioInstant> {
        self.core
            .poll_timeout()
            .map(|t| self.origin + Duration::from_millis(t.as_millis()))
    }

    fn sensor_deadline(&self) -> Option<TokioInstant> {
        self.sensors
            .poll_timeout()
            .map(|t| self.origin + Duration::from_millis(t.as_millis()))
    }

    async fn run(
        mut self,
        mut cmds: mpsc::Receiver<Command>,
        mut events: mpsc::Receiver<Event>,
        mut sensor_replies: mpsc::Receiver<SensorReply>,
    ) {
        loop {
            let deadline = self.deadline();
            let sensor_deadline = self.sensor_deadline();
            tokio::select! {
                biased;
                cmd = cmds.recv() => match cmd {
                    None => break,
                    Some(Command::Shutdown(reply)) => {
                        let _ = reply.send(());
                        break;
                    }
                    Some(cmd) => self.command(cmd),
                },
                Some(ev) = events.recv() => {
                    self.telemetry.event(&ev, TokioInstant::now());
                    let now = self.now();
                    self.core.handle_event(now, ev);
                }
                _ = sleep_until(deadline), if deadline.is_some() => {
                    let now = self.now();
                    self.core.handle_timeout(now);
                }
                Some(reply) = sensor_replies.recv() => {
                    self.telemetry.sensor_reply(&reply);
                    let now = self.now();
                    self.sensors.handle_reply(now, reply);
                }
                _ = sleep_until(sensor_deadline), if sensor_deadline.is_some() => {
                    let now = self.now();
                    let bmc = &mut self.links.bmc;
                    self.sensors
                        .start_due_reads(now, |host, read, replies| bmc.read_sensors(host, read, replies));
                }
            }
            if self.failed {
                tracing::error!("store write failed, controller stops");
                break;
            }
            if let Err(e) = self.flush() {
                // Fail-stop: acting on decisions that are not durable would let the store and the
                // cluster disagree after a restart. The supervisor restarts the controller.
                tracing::error!("store write failed, controller stops: {e}");
                break;
            }
        }
    }

    /// Persist the core's and the sensor monitors' decisions, then carry out their effects. The
    /// sensor audit's hardware-monitor events go into the core after the sensors' writes committed,
    /// and what the core makes of them is flushed in turn.
    fn flush(&mut self) -> Result<(), StoreError> {
        loop {
            self.flush_core()?;
            if std::mem::take(&mut self.hosts_changed) {
                let now = self.now();
                let hosts: Vec<(String, bool)> = self
                    .core
                    .hosts()
                    .map(|h| (h.spec.name.clone(), h.spec.bmc.is_some()))
                    .collect();
                self.sensors
                    .sync(now, hosts.iter().map(|(n, b)| (n.as_str(), *b)));
            }
            let now = self.now();
            if !self.sensors.drain(
                now,
                &mut self.core,
                &self.store,
                &mut self.caches,
                &self.feed,
            )? {
                return Ok(());
            }
        }
    }

    /// Persist the core's decisions, then carry out the effects on the outside world.
    ///
    /// Every effect is named: a new kind of effect is a compile error here until someone decides
    /// how the controller carries it out (the lint keeps a `_` arm from creeping back).
    #[deny(clippy::wildcard_enum_match_arm)]
    fn flush_core(&mut self) -> Result<(), StoreError> {
        let persist::Drained {
            outside,
            feed: changes,
            journal,
        } = persist::drain(&mut self.core, &self.store, &mut self.caches)?;
        for entry in &journal {
            self.telemetry.journal(entry, TokioInstant::now());
        }
        if !changes.is_empty() {
            self.feed.publish(changes);
        }
        for effect in outside {
            self.telemetry.effect(&effect, TokioInstant::now());
            match effect {
                Effect::Send {
                    host,
                    id,
                    command,
                    networks,
                    ..
                } => self.links.node.send(&host, id, command, &networks),
                Effect::Bmc { host, id, op, .. } => self.links.bmc.submit(&host, id, op),
                Effect::Heartbeat { host, control } => {
                    self.links.heartbeat.control(host.as_deref(), control)
                }
                Effect::Swact { to } => self.links.swact.swact(&to),
                Effect::HostRemoved { host } => {
                    self.hosts_changed = true;
                    self.links.node.forget(&host);
                    self.links.heartbeat.forget(&host);
                    self.links.bmc.provision(&host, None);
                }
                // The write-ahead step kept these in the store; they never come out.
                Effect::HostChanged { .. }
                | Effect::Alarm(_)
                | Effect::Log(_)
                | Effect::Journal(_) => {}
            }
        }
        Ok(())
    }

    /// Resolve a hostname, uuid or integer id to the hostname (a name made only of digits is
    /// taken as the name first).
    pub(crate) fn resolve(&self, id: &str) -> Option<String> {
        if self.core.host(id).is_some() {
            return Some(id.to_string());
        }
        if let Some(h) = self.core.hosts().find(|h| h.spec.uuid == id) {
            return Some(h.spec.name.clone());
        }
        let number: u64 = id.parse().ok()?;
        self.caches
            .ids
            .identities
            .iter()
            .find(|(name, i)| i.id == number && self.core.host(name).is_some())
            .map(|(name, _)| name.clone())
    }

    /// A host's record with its identity (a host without one shows id 0; it gets one when its
    /// record is next persisted).
    fn entry(&self, name: &str) -> Option<HostEntry> {
        let record = self.core.host(name)?.clone();
        let identity = self
            .caches
            .ids
            .identities
            .get(name)
            .copied()
            .unwrap_or(HostIdentity {
                id: 0,
                created_at_ms: 0,
                updated_at_ms: 0,
            });
        Some(HostEntry { record, identity })
    }

    fn command(&mut self, cmd: Command) {
        let now = self.now();
        match cmd {
            Command::Hosts(r) => {
                let _ = r.send(self.core.hosts().cloned().collect());
            }
            Command::Host(id, r) => {
                let rec = self.resolve(&id).and_then(|n| self.core.host(&n).cloned());
                let _ = r.send(rec);
            }
            Command::Entries(r) => {
                let names: Vec<String> = self.core.hosts().map(|h| h.spec.name.clone()).collect();
                let _ = r.send(names.iter().filter_map(|n| self.entry(n)).collect());
            }
            Command::Entry(id, r) => {
                let _ = r.send(self.resolve(&id).and_then(|n| self.entry(&n)));
            }
            Command::AddHost(rec, r) => {
                self.hosts_changed = true;
                let name = rec.spec.name.clone();
                // The links must know the host before the add handler's first command goes out.
                let spec = rec.spec.clone();
                if self.core.host(&name).is_none() {
                    self.links.node.provision(&spec);
                    self.links.heartbeat.provision(&spec);
                }
                let result = match self.core.add_host(now, *rec) {
                    Ok(()) => self.flush_then(|a| {
                        a.core
                            .host(&name)
                            .cloned()
                            .ok_or_else(|| HandleError::UnknownHost(name.clone()))
                    }),
                    Err(refusal) => {
                        if self.core.host(&name).is_none() {
                            self.links.node.forget(&name);
                            self.links.heartbeat.forget(&name);
                        }
                        Err(HandleError::Refused(refusal.0))
                    }
                };
                let _ = r.send(result);
            }
            Command::Request(id, action, r) => {
                let result = match self.resolve(&id) {
                    None => Err(HandleError::UnknownHost(id)),
                    Some(name) => match self.core.request(now, &name, action) {
                        Ok(aid) => self.flush_then(|_| Ok(aid)),
                        Err(RequestError::UnknownHost(n)) => Err(HandleError::UnknownHost(n)),
                        Err(RequestError::Refused(refusal)) => Err(HandleError::Refused(refusal.0)),
                    },
                };
                let _ = r.send(result);
            }
            Command::SetBmc(id, bmc, r) => {
                self.hosts_changed = true;
                let result = match self.resolve(&id) {
                    None => Err(HandleError::UnknownHost(id)),
                    Some(name) => {
                        let deprovision = bmc.is_none();
                        match self.core.set_bmc(now, &name, bmc) {
                            Ok(()) => {
                                let done = self.flush_then(|_| Ok(()));
                                if deprovision && done.is_ok() {
                                    // The workers drop its access, probes and event subscription.
                                    self.links.bmc.provision(&name, None);
                                }
                                done
                            }
                            Err(e) => Err(HandleError::Refused(e.to_string())),
                        }
                    }
                };
                let _ = r.send(result);
            }
            Command::SetInstall(id, install, r) => {
                self.hosts_changed = true;
                let result = match self.resolve(&id) {
                    None => Err(HandleError::UnknownHost(id)),
                    Some(name) => match self.core.set_install(now, &name, install) {
                        Ok(()) => self.flush_then(|_| Ok(())),
                        Err(e) => Err(HandleError::Refused(e.to_string())),
                    },
                };
                let _ = r.send(result);
            }
            Command::SetBmcCredentials(id, spec, password, r) => {
                self.hosts_changed = true;
                let result = match self.resolve(&id) {
                    None => Err(HandleError::UnknownHost(id)),
                    Some(name) => self.set_bmc_credentials(now, &name, spec, password),
                };
                let _ = r.send(result);
            }
            Command::Alarms(r) => {
                let _ = r.send(self.caches.alarms.values().cloned().collect());
            }
            Command::Events(limit, r) => {
                let skip = self.caches.events.len().saturating_sub(limit);
                let _ = r.send(self.caches.events.iter().skip(skip).cloned().collect());
            }
            Command::Action(id, r) => {
                let _ = r.send(self.caches.actions.get(&id).cloned());
            }
            Command::HostActions(name, r) => {
                let mut of_host: Vec<(ActionId, ActionStatus)> = self
                    .caches
                    .actions
                    .iter()
                    .filter(|(_, st)| match st {
                        ActionStatus::Running { host } | ActionStatus::Ended { host, .. } => {
                            *host == name
                        }
                    })
                    .map(|(id, st)| (*id, st.clone()))
                    .collect();
                of_host.sort_by_key(|(id, _)| id.0);
                let _ = r.send(of_host);
            }
            Command::NodeSettings(r) => {
                let _ = r.send(self.node_settings.0);
            }
            Command::SetNodeSettings(patch, r) => {
                let _ = r.send(self.set_node_settings(patch));
            }
            Command::Sensors(cmd) => self.sensor_command(cmd),
            Command::SecureBoot(cmd) => self.secure_boot_command(cmd),
            Command::Shutdown(_) => {}
        }
    }

    fn set_node_settings(&mut self, patch: NodeSettingsPatch) -> Result<NodeSettings, HandleError> {
        let (held, revision) = self.node_settings;
        let wanted = patch.apply(held);
        wanted.validate().map_err(HandleError::Invalid)?;
        // The controller sizes its audits and recovery windows on the agents' alive period: agents
        // reporting less often than it expects would be taken for gone.
        let expected = self.core.config().timeouts.alive_period.0;
        if let Some(ms) = wanted.alive_period_ms {
            if Duration::from_millis(ms.into()) > expected {
                return Err(HandleError::Invalid(format!(
                    "alive_period_ms = {ms} is longer than the controller's timeouts.alive_period ({} ms): agents would be taken for gone between reports; raise timeouts.alive_period first",
                    expected.as_millis()
                )));
            }
        }
        let next = NodeSettings {
            generation: held.generation + 1,
            ..wanted
        };
        let revision = self
            .store
            .put_node_settings(&next, revision)
            .map_err(|e| HandleError::Store(e.to_string()))?;
        self.node_settings = (next, Some(revision));
        tracing::info!(
            generation = next.generation,
            "node settings changed: {}; pushing to every agent",
            next.describe()
        );
        self.links.node.settings(next);
        Ok(next)
    }

    fn set_bmc_credentials(
        &mut self,
        now: Instant,
        name: &str,
        spec: BmcSpec,
        password: String,
    ) -> Result<(), HandleError> {
        let cred = BmcCredential {
            username: spec.username.clone(),
            password: Password::new(password.clone()),
        };
        self.store
            .put_bmc(name, &cred)
            .map_err(|e| HandleError::Store(e.to_string()))?;
        let access = access_of(&spec, password);
        self.core
            .set_bmc(now, name, Some(spec))
            .map_err(|e| HandleError::Refused(e.to_string()))?;
        self.flush_then(|_| Ok(()))?;
        self.links.bmc.provision(name, Some(access));
        Ok(())
    }

    /// Make the change durable before answering: an acknowledged request survives a crash.
    pub(crate) fn flush_then<T>(
        &mut self,
        answer: impl FnOnce(&Self) -> Result<T, HandleError>,
    ) -> Result<T, HandleError> {
        if let Err(e) = self.flush() {
            self.failed = true;
            return Err(HandleError::Store(e.to_string()));
        }
        answer(self)
    }
}

fn access_of(spec: &BmcSpec, password: String) -> BmcAccess {
    BmcAccess {
        address: spec.address.clone(),
        protocol: spec.protocol,
        username: spec.username.clone(),
        password,
    }
}

async fn sleep_until(deadline: Option<TokioInstant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
