//! Wiring of one running controller, shared by `steward controller` and `steward lab`: the store and
//! its keys in the data dir, the core's actor, the node link (UDP), the BMC workers, the REST API.
//!
//! ```text
//!  <data-dir>/store/          redb store + secret.key (BMC passwords at rest)
//!  <data-dir>/cluster.secret  the node protocol's cluster secret (0600; node keys derive from it)
//!  <data-dir>/api.token       the API's bearer token
//!  <data-dir>/node-link.session  the node link's sender session (grows across restarts)
//! ```

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use steward_controller::bmc_workers::{BmcWorkerConfig, BmcWorkers};
use steward_controller::links::{Links, NoStandby};
use steward_controller::{spawn_with_events, ControllerConfig, ControllerHandle, EventSender};
use steward_heartbeat_udp::{HeartbeatHandle, HeartbeatService, PulseLink, ServiceConfig, Sink};
use steward_maintenance::config::Config;
use steward_maintenance::state::{Network, SystemType};
use steward_maintenance::SystemConfig;
use steward_node_link::{NodeLinkConfig, UdpNodeLink};
use steward_protocol::ClusterSecret;
use steward_store::{RedbStore, Retention, SecretBox, Store};
use tokio::task::JoinHandle;

/// The cluster secret's file in the data dir.
pub const CLUSTER_SECRET_FILE: &str = "cluster.secret";

pub struct RuntimeOptions {
    pub data_dir: PathBuf,
    /// The controller's own hostname (self-protection; the node protocol's sender name).
    pub hostname: String,
    pub config: Config,
    pub system_type: SystemType,
    pub mgmt_bind: SocketAddr,
    pub cluster_bind: Option<SocketAddr>,
    pub node_port: u16,
    /// UDP port the heartbeat service binds on the management and cluster addresses.
    pub heartbeat_port: u16,
    /// UDP port node agents answer pulses on.
    pub node_heartbeat_port: u16,
    /// The API's listener (bound by the caller, so "port in use" fails before anything starts).
    pub listener: tokio::net::TcpListener,
    /// Lab mode: loopback API clients need no token; BMC certificates are not verified.
    pub lab: bool,
    /// BMC operations and audits are spaced by this much (reference: ≥ 5 s between operations).
    pub bmc_spacing: Option<Duration>,
    pub bmc_audit_period: Option<Duration>,
}

pub struct Running {
    pub handle: ControllerHandle,
    pub node_link: UdpNodeLink,
    pub url: String,
    pub token: String,
    pub secret: ClusterSecret,
    api: JoinHandle<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops the API and the actor (the store is consistent at every step, so this is only tidy).
    pub async fn shutdown(self) {
        self.api.abort();
        let _ = self.handle.shutdown().await;
        let _ = self.task.await;
    }
}

pub async fn start(opts: RuntimeOptions) -> Result<Running> {
    let data_dir = &opts.data_dir;
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    let store_dir = data_dir.join("store");
    std::fs::create_dir_all(&store_dir)?;
    let store: Arc<dyn Store> = Arc::new(
        RedbStore::open(&store_dir, Retention::default()).with_context(|| {
            format!(
                "cannot open the store in {} (is another controller using this data dir?)",
                store_dir.display()
            )
        })?,
    );
    let secrets = SecretBox::load_or_create(&store_dir)
        .with_context(|| format!("cannot load the secret key in {}", store_dir.display()))?;
    let secret = load_or_create_cluster_secret(data_dir)?;

    let mut link_cfg = NodeLinkConfig::new(
        opts.hostname.clone(),
        opts.mgmt_bind,
        data_dir.join("node-link.session"),
    );
    link_cfg.cluster_bind = opts.cluster_bind;
    link_cfg.node_port = opts.node_port;
    let (node_link, attach) = UdpNodeLink::start(link_cfg, secret.clone())
        .await
        .context("cannot start the node link")?;

    let cfg = ControllerConfig::new(
        opts.config.clone(),
        SystemConfig {
            system_type: opts.system_type,
            own_host: opts.hostname.clone(),
            controller_uptime: Duration::from_secs(86_400),
        },
    );
    let (events, events_rx) = EventSender::channel(cfg.event_queue);
    // The epoch `spawn` is most likely about to take (one above the store's); pulses carry it. If
    // another controller takes that one first, the service is told the real epoch right after
    // `spawn`: at most the first pulses (milliseconds) carry the older one and are refused, far
    // below a miss threshold.
    let epoch = store.epoch().context("cannot read the store's epoch")? + 1;
    let mut hb_bind = vec![(
        Network::Mgmt,
        SocketAddr::new(opts.mgmt_bind.ip(), opts.heartbeat_port),
    )];
    if let Some(c) = opts.cluster_bind {
        hb_bind.push((
            Network::Cluster,
            SocketAddr::new(c.ip(), opts.heartbeat_port),
        ));
    }
    let mut hb_cfg = ServiceConfig::new(&opts.hostname, hb_bind).with_config(&opts.config);
    hb_cfg.epoch = epoch;
    let heartbeat = Arc::new(
        HeartbeatService::spawn(hb_cfg, secret.clone(), Sink::Controller(events.clone()))
            .context("cannot start the heartbeat service")?,
    );
    let mut bmc_cfg = BmcWorkerConfig {
        insecure: opts.lab,
        ..BmcWorkerConfig::default()
    };
    if let Some(s) = opts.bmc_spacing {
        bmc_cfg.scheduler.gap = s;
    }
    if let Some(p) = opts.bmc_audit_period {
        bmc_cfg.audit_period = p;
    }
    let bmc = BmcWorkers::start(bmc_cfg, events.clone());
    let links = Links {
        node: Box::new(node_link.clone()),
        bmc: Box::new(bmc),
        heartbeat: Box::new(PulseLink::new(heartbeat.clone(), opts.node_heartbeat_port)),
        swact: Box::new(NoStandby(events.clone())),
    };
    let (handle, events, task) = spawn_with_events(cfg, store, secrets, links, (events, events_rx))
        .context("cannot start the controller")?;
    if handle.epoch() != epoch {
        tracing::info!(
            expected = epoch,
            taken = handle.epoch(),
            "another controller took an epoch meanwhile; the heartbeat service follows"
        );
        heartbeat.set_epoch(handle.epoch());
    }
    attach.attach(events, handle.epoch());

    let url = format!("http://{}", opts.listener.local_addr()?);
    let mut auth = steward_api::Auth::load_or_create(data_dir)
        .with_context(|| format!("cannot load the API token in {}", data_dir.display()))?;
    auth.loopback_without_token = opts.lab;
    let token = auth.tokens.first().cloned().unwrap_or_default();
    let api_handle = handle.clone();
    let listener = opts.listener;
    let extras = steward_api::ApiExtras {
        inventory: Some(Arc::new(LinkInventory(node_link.clone()))),
        node_settings: Some(Arc::new(LinkInventory(node_link.clone()))),
        link_metrics: Some(Arc::new(LinkCounters {
            node: node_link.clone(),
            heartbeat,
        })),
    };
    let api = tokio::spawn(async move {
        if let Err(e) = steward_api::serve_with(listener, api_handle, auth, extras).await {
            eprintln!("the REST API stopped: {e}");
        }
    });
    Ok(Running {
        handle,
        node_link,
        url,
        token,
        secret,
        api,
        task,
    })
}

/// The node link's latest inventory reports, for the API.
/// What the node link learned from the agents: inventory, applied node settings.
struct LinkInventory(UdpNodeLink);

impl steward_api::InventorySource for LinkInventory {
    fn inventory(&self, host: &str) -> Option<(steward_protocol::Inventory, u64)> {
        self.0.inventory(host).map(|r| (r.inventory, r.at_ms))
    }
}

impl steward_api::NodeSettingsSource for LinkInventory {
    fn host_settings(&self, host: &str) -> Option<(Option<u64>, Option<String>)> {
        self.0
            .settings_status(host)
            .1
            .map(|h| (h.reported, h.refused))
    }
}

/// Datagram counters of the node link and the heartbeat service, for `/metrics`.
struct LinkCounters {
    node: UdpNodeLink,
    heartbeat: Arc<HeartbeatHandle>,
}

impl steward_api::LinkMetrics for LinkCounters {
    fn samples(&self) -> Vec<steward_api::LinkSample> {
        use steward_api::LinkSample;
        let n = self.node.stats();
        let h = self.heartbeat.stats();
        let mut v = vec![
            LinkSample {
                link: "node",
                outcome: "accepted".into(),
                value: n.accepted,
            },
            LinkSample {
                link: "node",
                outcome: "sent".into(),
                value: n.sent,
            },
            LinkSample {
                link: "heartbeat",
                outcome: "accepted".into(),
                value: h.replies,
            },
            LinkSample {
                link: "heartbeat",
                outcome: "sent".into(),
                value: h.pulses_sent,
            },
            LinkSample {
                link: "heartbeat",
                outcome: "wrong_network".into(),
                value: h.dropped_wrong_network,
            },
            LinkSample {
                link: "heartbeat",
                outcome: "unexpected_kind".into(),
                value: h.dropped_unexpected_kind,
            },
        ];
        for (d, count) in n.drops {
            v.push(LinkSample {
                link: "node",
                outcome: d.as_str().into(),
                value: count,
            });
        }
        for (d, count) in h.dropped.iter() {
            v.push(LinkSample {
                link: "heartbeat",
                outcome: d.as_str().into(),
                value: count,
            });
        }
        v
    }
}

/// `<data-dir>/cluster.secret`: 32 random bytes, hex, mode 0600; created on first start.
pub fn load_or_create_cluster_secret(data_dir: &Path) -> Result<ClusterSecret> {
    let path = data_dir.join(CLUSTER_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = steward_node::keyfile::from_hex(&text).with_context(|| {
                format!("{} is not a hex-encoded secret; restore it from a backup (nodes' keys derive from it)", path.display())
            })?;
            ClusterSecret::new(&bytes).with_context(|| format!("{} is unusable", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes).context("the OS random source failed")?;
            steward_node::keyfile::write_private(
                &path,
                steward_node::keyfile::to_hex(&bytes).as_bytes(),
            )
            .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(ClusterSecret::new(&bytes)?)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_secret_is_created_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_cluster_secret(dir.path()).unwrap();
        let b = load_or_create_cluster_secret(dir.path()).unwrap();
        assert_eq!(a.node_key("worker-0"), b.node_key("worker-0"));
        let mode = std::fs::metadata(dir.path().join(CLUSTER_SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join(CLUSTER_SECRET_FILE), "xyz").unwrap();
        let e = load_or_create_cluster_secret(dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("not a hex-encoded secret"));
    }
}
