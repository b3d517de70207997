//! # steward-node-link — the controller's end of the node protocol over UDP
//!
//! The core decides *what* to tell a node (`Effect::Send`); this crate carries it there and brings
//! the node's answers back as core events:
//!
//! ```text
//!  actor ── NodeLink::send(host, id, command, networks) ──► link task ── seal ──► UDP → agent(host)
//!  actor ◄── EventSender ◄── node_message::to_event ◄── verify ◄── UDP ◄── alive, acks, events, inventory
//! ```
//!
//! One socket per network (management, and cluster and pxeboot when configured; pxeboot carries
//! alive reports, reboot commands and their acks, docs/protocol.md#the-pxeboot-network). Every datagram received goes
//! through `steward_protocol::Verifier` (size, structure, known sender, source address on that
//! network, MAC, replay window); what fails is dropped and counted ([`LinkStats::drops`]) with a
//! rate-limited log line, never acted on. A node's addresses come from its host record
//! (`mgmt_ip`, `cluster_ip`, `pxeboot_ip`) through [`NodeLink::provision`]; agents listen on one port
//! ([`NodeLinkConfig::node_port`]).
//!
//! Messages to nodes are signed with the per-recipient controller key and carry the controller's
//! fencing epoch, so nodes ignore a deposed controller. The link holds sends until
//! [`Attach::attach`] hands it the epoch (known once the controller has started) and the event
//! sender; nothing is sent with a wrong epoch.
//!
//! Config push ([`settings`]): the controller's node settings go to every agent whose alive report
//! shows an older generation, until it reports the current one.
//!
//! Module map: `session` (the sender session that must grow across restarts), `settings` (whom to
//! push the node settings to), `task` (the loop).

mod session;
pub mod settings;
mod task;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use steward_controller::links::NodeLink;
use steward_controller::EventSender;
use steward_maintenance::host::HostSpec;
use steward_maintenance::io::ProtocolNetwork;
use steward_maintenance::io::{CommandId, NodeCommand, NodeSettings};
use steward_protocol::{ClusterSecret, Drop, Inventory};
use tokio::sync::{mpsc, oneshot};

pub use steward_protocol::{DEFAULT_CONTROLLER_PORT, DEFAULT_NODE_PORT};

/// Where the link listens and how it names itself.
#[derive(Clone, Debug)]
pub struct NodeLinkConfig {
    /// The controller's hostname: the sender name in every frame (agents allow it by name).
    pub sender: String,
    /// Management network socket.
    pub mgmt_bind: SocketAddr,
    /// Cluster network socket, if the cluster has one.
    pub cluster_bind: Option<SocketAddr>,
    /// Pxeboot network socket, if the controller has a pxeboot address.
    pub pxeboot_bind: Option<SocketAddr>,
    /// The UDP port every agent listens on.
    pub node_port: u16,
    /// Non-volatile file holding the last sender session (must grow across restarts, or nodes
    /// drop the restarted controller's frames as replays).
    pub session_file: PathBuf,
    /// Dropped-datagram log lines per minute.
    pub drop_log_per_minute: u32,
}

impl NodeLinkConfig {
    pub fn new(sender: impl Into<String>, mgmt_bind: SocketAddr, session_file: PathBuf) -> Self {
        NodeLinkConfig {
            sender: sender.into(),
            mgmt_bind,
            cluster_bind: None,
            pxeboot_bind: None,
            node_port: DEFAULT_NODE_PORT,
            session_file,
            drop_log_per_minute: 10,
        }
    }
}

/// Why the link could not start.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot bind the {network} socket on {addr}: {source} (is another controller running? choose another address)")]
    Bind {
        network: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot keep the sender session in {path}: {source}")]
    Session {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the controller name '{0}' cannot be a protocol sender (1–64 of [A-Za-z0-9._-])")]
    BadSender(String),
}

/// Counters of the link (the `/metrics` endpoint and tests read them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub sent: u64,
    pub send_errors: u64,
    /// Commands for hosts (or networks) the link has no address for.
    pub unroutable: u64,
    pub accepted: u64,
    /// Dropped datagrams per reason.
    pub drops: Vec<(Drop, u64)>,
    /// Acks that said "unsupported" or "failed".
    pub negative_acks: u64,
}

impl LinkStats {
    pub fn dropped(&self, reason: Drop) -> u64 {
        self.drops
            .iter()
            .find(|(d, _)| *d == reason)
            .map_or(0, |(_, n)| *n)
    }
}

/// The latest inventory a node reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportedInventory {
    pub inventory: Inventory,
    /// Wall-clock time of the report, milliseconds since the Unix epoch.
    pub at_ms: u64,
}

#[derive(Default)]
pub(crate) struct Shared {
    pub(crate) stats: Mutex<LinkStats>,
    pub(crate) inventory: Mutex<HashMap<String, ReportedInventory>>,
    pub(crate) settings: Mutex<settings::SettingsPush>,
}

pub(crate) enum LinkCmd {
    Send {
        host: String,
        id: CommandId,
        command: NodeCommand,
        networks: Vec<ProtocolNetwork>,
    },
    Provision {
        host: String,
        addrs: [Option<IpAddr>; 3],
    },
    Forget(String),
    Settings(NodeSettings),
}

/// The `NodeLink` the controller uses. Cheap to clone: all clones feed the same task.
#[derive(Clone)]
pub struct UdpNodeLink {
    tx: mpsc::UnboundedSender<LinkCmd>,
    shared: Arc<Shared>,
    local: [Option<SocketAddr>; 3],
}

/// Hands the started controller's epoch and event sender to the link; until then sends wait.
pub struct Attach(oneshot::Sender<(EventSender, u64)>);

impl Attach {
    pub fn attach(self, events: EventSender, epoch: u64) {
        let _ = self.0.send((events, epoch));
    }
}

impl UdpNodeLink {
    /// Binds the sockets, takes a new sender session and starts the link task (inside a tokio
    /// runtime).
    pub async fn start(
        cfg: NodeLinkConfig,
        secret: ClusterSecret,
    ) -> Result<(UdpNodeLink, Attach), LinkError> {
        if !steward_protocol::valid_hostname(&cfg.sender) {
            return Err(LinkError::BadSender(cfg.sender));
        }
        let session = session::take_next(&cfg.session_file)?;
        let mgmt = bind("management", cfg.mgmt_bind).await?;
        let cluster = match cfg.cluster_bind {
            Some(a) => Some(bind("cluster", a).await?),
            None => None,
        };
        let pxeboot = match cfg.pxeboot_bind {
            Some(a) => Some(bind("pxeboot", a).await?),
            None => None,
        };
        let local = [
            mgmt.local_addr().ok(),
            cluster.as_ref().and_then(|s| s.local_addr().ok()),
            pxeboot.as_ref().and_then(|s| s.local_addr().ok()),
        ];
        let shared = Arc::new(Shared::default());
        let (tx, rx) = mpsc::unbounded_channel();
        let (attach_tx, attach_rx) = oneshot::channel();
        let sockets = [Some(mgmt), cluster, pxeboot];
        let t = task::LinkTask::new(&cfg, secret, session, sockets, shared.clone())
            .map_err(|_| LinkError::BadSender(cfg.sender.clone()))?;
        tokio::spawn(t.run(rx, attach_rx));
        Ok((UdpNodeLink { tx, shared, local }, Attach(attach_tx)))
    }

    /// The bound address of the socket on `network`.
    pub fn local_addr(&self, network: impl Into<ProtocolNetwork>) -> Option<SocketAddr> {
        self.local[network.into().index()]
    }

    pub fn stats(&self) -> LinkStats {
        lock(&self.shared.stats).clone()
    }

    /// The node settings being pushed, and where `host` stands with them (None: unknown host).
    pub fn settings_status(&self, host: &str) -> (NodeSettings, Option<settings::HostSettings>) {
        let push = lock(&self.shared.settings);
        (push.current(), push.status(host))
    }

    /// The latest inventory `host` reported, if any.
    pub fn inventory(&self, host: &str) -> Option<ReportedInventory> {
        lock(&self.shared.inventory).get(host).cloned()
    }
}

impl NodeLink for UdpNodeLink {
    fn send(
        &mut self,
        host: &str,
        id: CommandId,
        command: NodeCommand,
        networks: &[ProtocolNetwork],
    ) {
        let _ = self.tx.send(LinkCmd::Send {
            host: host.to_string(),
            id,
            command,
            networks: networks.to_vec(),
        });
    }

    fn provision(&mut self, spec: &HostSpec) {
        let parse = |ip: &Option<String>, net: &str| -> Option<IpAddr> {
            let text = ip.as_deref()?;
            match text.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    tracing::warn!(host = %spec.name, "the {net} address '{text}' is not an IP address; the host cannot be reached on that network");
                    None
                }
            }
        };
        let _ = self.tx.send(LinkCmd::Provision {
            host: spec.name.clone(),
            addrs: [
                parse(&spec.mgmt_ip, "management"),
                parse(&spec.cluster_ip, "cluster"),
                parse(&spec.pxeboot_ip, "pxeboot"),
            ],
        });
    }

    fn forget(&mut self, host: &str) {
        let _ = self.tx.send(LinkCmd::Forget(host.to_string()));
    }

    fn settings(&mut self, settings: NodeSettings) {
        let _ = self.tx.send(LinkCmd::Settings(settings));
    }
}

async fn bind(network: &'static str, addr: SocketAddr) -> Result<tokio::net::UdpSocket, LinkError> {
    tokio::net::UdpSocket::bind(addr)
        .await
        .map_err(|source| LinkError::Bind {
            network,
            addr,
            source,
        })
}

/// A poisoned lock only means another thread panicked mid-update of plain counters: keep going.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
