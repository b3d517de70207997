//! # steward-wiring — one controller, wired
//!
//! [`ControllerBuilder`] puts one running controller together: the store and its keys, the cluster
//! secret, the node link (UDP), the heartbeat service (UDP), the BMC workers, the controller's actor
//! and, when asked, the REST API and the lab image server ([`image_server`]). `steward controller`, `steward lab` and the test rig
//! (`steward-testlab`) all start their controller through it, so what runs in the tests is what
//! runs in production; the options below are everything they may differ in.
//!
//! With [`Storage::DataDir`] the controller keeps its state in one directory:
//!
//! ```text
//!  <data-dir>/store/             redb store + secret.key (BMC passwords at rest)
//!  <data-dir>/cluster.secret     the node protocol's cluster secret (0600; node keys derive from it)
//!  <data-dir>/api.token          the API's bearer token
//!  <data-dir>/node-link.session  the node link's sender session (grows across restarts)
//! ```
//!
//! With [`Storage::Given`] the caller owns the store, its secret box and the cluster secret (the test
//! rig restarts controllers over one store); the directory then holds only the session file (and
//! `api.token` if the API loads its token).
//!
//! ## Architecture invariant
//! This crate only wires: it makes no maintenance decision, and nothing here is specific to a test.

pub mod image_server;

pub use image_server::{ImageServerOptions, ServedImages};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use steward_bmc::events::{EventReceiver, ReadTrigger, ReceiverConfig};
use steward_controller::bmc_workers::{BmcWorkerConfig, BmcWorkers};
use steward_controller::links::{Links, NoStandby, SwactLink};
use steward_controller::{
    spawn_with_events, ControllerConfig, ControllerHandle, EventSender, SensorAuditConfig,
};
use steward_heartbeat_udp::{
    HeartbeatHandle, HeartbeatSeed, HeartbeatService, PulseLink, ServiceConfig, Sink,
};
use steward_maintenance::config::Config;
use steward_maintenance::state::{Network, SystemType};
use steward_maintenance::SystemConfig;
use steward_node_link::{NodeLinkConfig, UdpNodeLink};
use steward_protocol::ClusterSecret;
use steward_store::{RedbStore, Retention, SecretBox, Store};
use tokio::task::JoinHandle;

mod api_sources;
mod gate;
mod secret;

pub use gate::ActingGate;

/// Makes the swact link of a controller that has a standby (docs/controller-pair.md), given the
/// sender its result is reported through.
pub type SwactFactory = Box<dyn FnOnce(EventSender) -> Box<dyn SwactLink> + Send>;

pub use secret::{load_or_create_cluster_secret, CLUSTER_SECRET_FILE};

/// A controller that could not be started: what was being done, and why it failed.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct StartError {
    pub what: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl StartError {
    fn new(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        StartError {
            what: what.into(),
            source: source.into(),
        }
    }
}

/// Where the controller's state lives.
pub enum Storage {
    /// Everything in this directory (created if missing): see the crate docs for the layout.
    DataDir(PathBuf),
    /// The caller's store, secret box and cluster secret; `dir` holds the node link's session file
    /// (and the API token when the API loads it).
    Given {
        store: Arc<dyn Store>,
        secrets: SecretBox,
        cluster_secret: ClusterSecret,
        dir: PathBuf,
    },
}

/// The REST API in front of the controller.
pub struct ApiOptions {
    /// Bound by the caller, so "port in use" fails before anything starts.
    pub listener: tokio::net::TcpListener,
    /// `None`: the token in `<dir>/api.token` (created on first start), loopback clients without a
    /// token in lab mode.
    pub auth: Option<steward_api::Auth>,
}

/// Everything one controller is started with. [`ControllerBuilder::new`] gives production defaults;
/// change the fields that differ, then [`ControllerBuilder::start`].
pub struct ControllerBuilder {
    /// The controller's own hostname (self-protection; the node protocol's sender name).
    pub hostname: String,
    /// The core's configuration, already scaled if timers are to run faster.
    pub config: Config,
    pub system_type: SystemType,
    pub storage: Storage,
    /// The node link's management address (its port is the controller's node-protocol port).
    pub mgmt_bind: SocketAddr,
    pub cluster_bind: Option<SocketAddr>,
    /// The node link's pxeboot address (docs/protocol.md#the-pxeboot-network); `None`: no
    /// pxeboot path to the nodes.
    pub pxeboot_bind: Option<SocketAddr>,
    /// UDP port node agents listen on.
    pub node_port: u16,
    /// UDP port the heartbeat service binds on the management and cluster addresses (0: any).
    pub heartbeat_port: u16,
    /// UDP port node agents answer pulses on.
    pub node_heartbeat_port: u16,
    /// `None`: no REST API.
    pub api: Option<ApiOptions>,
    /// Lab mode: BMC certificates are not verified, and an API token loaded from the data dir lets
    /// loopback clients in without it.
    pub lab: bool,
    /// BMC operation spacing, audit period, power timeout.
    pub bmc: BmcWorkerConfig,
    /// The hardware sensor audit: interval per host (default 120 s, at least 10 s), first read
    /// delay (docs/sensors.md).
    pub sensors: SensorAuditConfig,
    /// Redfish event push (docs/sensors.md#push): where BMCs POST events, or off.
    pub push: PushOptions,
    /// How long to keep trying when the node link's address is still held by a controller that
    /// just stopped in this process (the test rig's restarts); zero fails at once.
    pub bind_retry: Duration,
    /// The lab image server (docs/bmc.md#image-server); `None` (the default): off.
    pub images: Option<ImageServerOptions>,
    /// `Some`: every node command and BMC operation is sent only while this says so (the active of
    /// a controller pair, docs/controller-pair.md). `None`: always.
    pub acting_gate: Option<ActingGate>,
    /// `Some`: how a swact reaches the standby (the controller pair). `None`: no standby, every
    /// swact fails at once.
    pub swact: Option<SwactFactory>,
    /// `Some`: what this controller saw of the hosts' answers while it was standby; its heartbeat
    /// service starts from it (a host seen answering is not accused for the takeover gap,
    /// docs/controller-pair.md). `None`: every host starts afresh.
    pub heartbeat_seed: Option<HeartbeatSeed>,
}

/// Where BMCs push sensor events to (docs/config.md).
#[derive(Clone, Debug)]
pub struct PushOptions {
    /// Off: no receiver, no subscriptions; every host is read on its audit schedule only.
    pub enabled: bool,
    /// The receiver's address, which every BMC must reach. `None`: the management address with a
    /// port the system picks (subscriptions are renewed at each start, so the port may change).
    pub bind: Option<SocketAddr>,
    /// At most one push-triggered read per host per this interval (more events fold into one).
    pub min_interval: Duration,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            enabled: true,
            bind: None,
            min_interval: Duration::from_secs(1),
        }
    }
}

/// The default spacing between two operations on one BMC, and its audit period (docs/bmc.md#power-actions-and-spacing).
const BMC_SPACING: Duration = Duration::from_secs(5);
const BMC_AUDIT_PERIOD: Duration = Duration::from_secs(60);

impl ControllerBuilder {
    /// A standard-system controller with the default ports, production BMC timings, no API.
    pub fn new(
        hostname: impl Into<String>,
        config: Config,
        storage: Storage,
        mgmt_bind: SocketAddr,
    ) -> Self {
        ControllerBuilder {
            hostname: hostname.into(),
            config,
            system_type: SystemType::Standard,
            storage,
            mgmt_bind,
            cluster_bind: None,
            pxeboot_bind: None,
            node_port: steward_protocol::DEFAULT_NODE_PORT,
            heartbeat_port: steward_protocol::DEFAULT_HEARTBEAT_CONTROLLER_PORT,
            node_heartbeat_port: steward_protocol::DEFAULT_HEARTBEAT_NODE_PORT,
            api: None,
            lab: false,
            bmc: BmcWorkerConfig::default(),
            sensors: SensorAuditConfig::default(),
            push: PushOptions::default(),
            bind_retry: Duration::ZERO,
            images: None,
            acting_gate: None,
            swact: None,
            heartbeat_seed: None,
        }
    }

    /// Lab mode with every BMC timing divided by `scale`, like the core's timers: the lab's
    /// simulated BMCs answer at once, so the default 5 s between operations would only slow it.
    pub fn lab(mut self, scale: u32) -> Self {
        let scale = scale.max(1);
        self.lab = true;
        self.bmc.scheduler.gap = BMC_SPACING / scale;
        self.bmc.audit_period = BMC_AUDIT_PERIOD / scale;
        // A newcomer should see a sensor alarm within half a minute: the shortest interval allowed.
        self.sensors.audit_interval = steward_sensors::MIN_AUDIT_INTERVAL;
        self.sensors.first_read_delay = Duration::from_secs(1);
        self
    }

    /// Opens the store, binds every socket, spawns the actor and the API.
    pub async fn start(self) -> Result<Running, StartError> {
        let (store, secrets, secret, dir) = open_storage(self.storage)?;

        let mut link_cfg = NodeLinkConfig::new(
            self.hostname.clone(),
            self.mgmt_bind,
            dir.join("node-link.session"),
        );
        link_cfg.cluster_bind = self.cluster_bind;
        link_cfg.pxeboot_bind = self.pxeboot_bind;
        link_cfg.node_port = self.node_port;
        let (node_link, attach) = start_node_link(link_cfg, &secret, self.bind_retry).await?;

        let mut cfg = ControllerConfig::new(
            self.config.clone(),
            SystemConfig {
                system_type: self.system_type,
                own_host: self.hostname.clone(),
                controller_uptime: Duration::from_secs(86_400),
            },
        );
        cfg.sensors.audit_interval = self.sensors.audit_interval;
        cfg.sensors.first_read_delay = self.sensors.first_read_delay;
        cfg.sensors.history_len = self.sensors.history_len;
        let (events, events_rx) = EventSender::channel(cfg.event_queue);
        // The epoch `spawn_with_events` is most likely about to take (one above the store's); pulses
        // carry it. If another controller takes that one first, the service is told the real epoch
        // right after: at most the first pulses (milliseconds) carry the older one and are refused,
        // far below a miss threshold.
        let epoch = store
            .epoch()
            .map_err(|e| StartError::new("cannot read the store's epoch", e))?
            + 1;
        let mut hb_bind = vec![(
            Network::Mgmt,
            SocketAddr::new(self.mgmt_bind.ip(), self.heartbeat_port),
        )];
        if let Some(c) = self.cluster_bind {
            hb_bind.push((
                Network::Cluster,
                SocketAddr::new(c.ip(), self.heartbeat_port),
            ));
        }
        let mut hb_cfg = ServiceConfig::new(&self.hostname, hb_bind).with_config(&self.config);
        hb_cfg.epoch = epoch;
        hb_cfg.seed = self.heartbeat_seed;
        let heartbeat = Arc::new(
            HeartbeatService::spawn(hb_cfg, secret.clone(), Sink::Controller(events.clone()))
                .map_err(|e| StartError::new("cannot start the heartbeat service", e))?,
        );
        let mut bmc_cfg = self.bmc;
        bmc_cfg.insecure |= self.lab;
        let (push, triggers) = start_push(&self.push, self.mgmt_bind).await?;
        let mut links = Links {
            node: Box::new(node_link.clone()),
            // The workers ask the gate again as each operation starts, after its spacing wait.
            bmc: Box::new(BmcWorkers::start_gated(
                bmc_cfg,
                events.clone(),
                push.clone(),
                self.acting_gate.clone(),
            )),
            heartbeat: Box::new(PulseLink::new(heartbeat.clone(), self.node_heartbeat_port)),
            swact: match self.swact {
                Some(make) => make(events.clone()),
                None => Box::new(NoStandby(events.clone())),
            },
        };
        if let Some(gate) = self.acting_gate {
            links.node = Box::new(gate::GatedNode {
                inner: links.node,
                gate: gate.clone(),
            });
            links.bmc = Box::new(gate::GatedBmc {
                inner: links.bmc,
                gate,
            });
        }
        let (handle, events, task) =
            spawn_with_events(cfg, store, secrets, links, (events, events_rx))
                .map_err(|e| StartError::new("cannot start the controller", e))?;
        if handle.epoch() != epoch {
            tracing::info!(
                expected = epoch,
                taken = handle.epoch(),
                "another controller took an epoch meanwhile; the heartbeat service follows"
            );
            heartbeat.set_epoch(handle.epoch());
        }
        attach.attach(events, handle.epoch());
        if let Some(triggers) = triggers {
            tokio::spawn(forward_triggers(triggers, handle.clone()));
        }

        let api = match self.api {
            Some(opts) => Some(
                serve_api(
                    opts,
                    &dir,
                    self.lab,
                    handle.clone(),
                    node_link.clone(),
                    heartbeat.clone(),
                )
                .await?,
            ),
            None => None,
        };
        let images = match self.images {
            Some(opts) => Some(
                image_server::serve_images(opts)
                    .await
                    .map_err(|e| StartError::new("cannot start the image server", e))?,
            ),
            None => None,
        };
        Ok(Running {
            handle,
            node_link,
            secret,
            api,
            push,
            images,
            heartbeat,
            task,
        })
    }
}

/// A running controller.
pub struct Running {
    pub handle: ControllerHandle,
    pub node_link: UdpNodeLink,
    /// The cluster secret the nodes' keys derive from.
    pub secret: ClusterSecret,
    /// The REST API, when it was asked for.
    pub api: Option<ServedApi>,
    /// The receiver BMCs push events to, when push is on (its counters: garbage, floods…).
    pub push: Option<Arc<EventReceiver>>,
    /// The lab image server, when it was asked for.
    pub images: Option<ServedImages>,
    heartbeat: Arc<HeartbeatHandle>,
    task: JoinHandle<()>,
}

/// The REST API of a running controller.
pub struct ServedApi {
    pub url: String,
    pub addr: SocketAddr,
    /// The first accepted bearer token (empty if none).
    pub token: String,
    task: JoinHandle<()>,
}

impl Running {
    /// The REST API's routes over this controller, for a caller that serves them itself (the
    /// controller pair's front, which switches between the active's and the standby's routes).
    pub fn api_router(&self, auth: steward_api::Auth) -> axum::Router {
        let extras = api_sources::extras(self.node_link.clone(), self.heartbeat.clone());
        steward_api::router_with(self.handle.clone(), auth, extras)
    }

    /// The actor has stopped on its own (fail-stop after a store write failed): nothing acts any
    /// more, whoever holds the lease.
    pub fn is_stopped(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the API and the actor, and returns once the actor has stopped (its links, sockets
    /// included, go with it). The store is consistent at every step, so this is only tidy.
    pub async fn shutdown(self) {
        if let Some(images) = self.images {
            images.stop().await;
        }
        if let Some(api) = self.api {
            api.task.abort();
            // The API holds clones of the node link and the heartbeat handle: wait until they
            // are dropped, so their sockets are free when this returns.
            let _ = api.task.await;
        }
        let _ = self.handle.shutdown().await;
        let _ = self.task.await;
        drop(self.heartbeat);
        // The BMC workers held the last other clone: the receiver stops with this one.
        drop(self.push);
    }
}

/// Start the event receiver when push is on.
async fn start_push(
    opts: &PushOptions,
    mgmt_bind: SocketAddr,
) -> Result<
    (
        Option<Arc<EventReceiver>>,
        Option<tokio::sync::mpsc::Receiver<ReadTrigger>>,
    ),
    StartError,
> {
    if !opts.enabled {
        tracing::info!("BMC event push is off: hosts are read on their audit schedule only");
        return Ok((None, None));
    }
    let bind = opts
        .bind
        .unwrap_or_else(|| SocketAddr::new(mgmt_bind.ip(), 0));
    let mut cfg = ReceiverConfig::new(bind);
    cfg.min_interval = opts.min_interval;
    let (receiver, triggers) = EventReceiver::start(cfg).await.map_err(|e| {
        StartError::new(
            format!("cannot start the BMC event receiver on {bind} (set another address, or turn push off)"),
            e,
        )
    })?;
    Ok((Some(Arc::new(receiver)), Some(triggers)))
}

/// Each push trigger becomes "read this host's sensors now" in the sensor audit, until the
/// controller stops.
async fn forward_triggers(
    mut triggers: tokio::sync::mpsc::Receiver<ReadTrigger>,
    handle: ControllerHandle,
) {
    while let Some(t) = triggers.recv().await {
        tracing::debug!(host = %t.host, message = ?t.message_id, origin = ?t.origin, "BMC event: reading the host's sensors now");
        match handle.read_sensors_now(&t.host).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(host = %t.host, "BMC event for a host not monitored: ignored")
            }
            Err(_) => break,
        }
    }
}

fn open_storage(
    storage: Storage,
) -> Result<(Arc<dyn Store>, SecretBox, ClusterSecret, PathBuf), StartError> {
    match storage {
        Storage::Given {
            store,
            secrets,
            cluster_secret,
            dir,
        } => Ok((store, secrets, cluster_secret, dir)),
        Storage::DataDir(dir) => {
            let store_dir = dir.join("store");
            std::fs::create_dir_all(&store_dir).map_err(|e| {
                StartError::new(format!("cannot create the data dir {}", dir.display()), e)
            })?;
            let store: Arc<dyn Store> =
                Arc::new(RedbStore::open(&store_dir, Retention::default()).map_err(|e| {
                    StartError::new(
                        format!(
                            "cannot open the store in {} (is another controller using this data dir?)",
                            store_dir.display()
                        ),
                        e,
                    )
                })?);
            let secrets = SecretBox::load_or_create(&store_dir).map_err(|e| {
                StartError::new(
                    format!("cannot load the secret key in {}", store_dir.display()),
                    e,
                )
            })?;
            let secret = load_or_create_cluster_secret(&dir)?;
            Ok((store, secrets, secret, dir))
        }
    }
}

async fn start_node_link(
    cfg: NodeLinkConfig,
    secret: &ClusterSecret,
    retry_for: Duration,
) -> Result<(UdpNodeLink, steward_node_link::Attach), StartError> {
    const PAUSE: Duration = Duration::from_millis(50);
    let mut waited = Duration::ZERO;
    loop {
        match UdpNodeLink::start(cfg.clone(), secret.clone()).await {
            Ok(v) => return Ok(v),
            // The previous controller's link task releases its socket once the last clone of
            // the link goes with the old actor.
            Err(_) if waited < retry_for => {
                waited += PAUSE;
                tokio::time::sleep(PAUSE).await;
            }
            Err(e) => {
                return Err(StartError::new(
                    format!("cannot start the node link on {}", cfg.mgmt_bind),
                    e,
                ))
            }
        }
    }
}

async fn serve_api(
    opts: ApiOptions,
    dir: &Path,
    lab: bool,
    handle: ControllerHandle,
    node_link: UdpNodeLink,
    heartbeat: Arc<HeartbeatHandle>,
) -> Result<ServedApi, StartError> {
    let addr = opts
        .listener
        .local_addr()
        .map_err(|e| StartError::new("the API listener has no address", e))?;
    let auth = match opts.auth {
        Some(auth) => auth,
        None => {
            let mut auth = steward_api::Auth::load_or_create(dir).map_err(|e| {
                StartError::new(format!("cannot load the API token in {}", dir.display()), e)
            })?;
            auth.loopback_without_token = lab;
            auth
        }
    };
    let token = auth.tokens.first().cloned().unwrap_or_default();
    let extras = api_sources::extras(node_link, heartbeat);
    let listener = opts.listener;
    let task = tokio::spawn(async move {
        if let Err(e) = steward_api::serve_with(listener, handle, auth, extras).await {
            tracing::error!("the REST API stopped: {e}");
        }
    });
    Ok(ServedApi {
        url: format!("http://{addr}"),
        addr,
        token,
        task,
    })
}
