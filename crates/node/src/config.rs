//! Configuration of one node agent.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use steward_protocol::NodeKeys;
use steward_types::Network;

pub use steward_protocol::{DEFAULT_CONTROLLER_PORT, DEFAULT_NODE_PORT};

/// One controller reachable on one network. `name` is the sender name in its frames.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControllerPeer {
    pub name: String,
    pub addr: SocketAddr,
}

/// One network the agent speaks on: its own socket, and the controllers there.
#[derive(Clone, Debug)]
pub struct NodeNetwork {
    pub network: Network,
    pub bind: SocketAddr,
    pub controllers: Vec<ControllerPeer>,
}

/// The pxeboot network (docs/protocol.md#the-pxeboot-network): the agent's own socket there and
/// the controllers' pxeboot addresses. Alive reports go there too, and a reboot received there is
/// carried out; nothing else travels on it, and it answers no pulses.
#[derive(Clone, Debug)]
pub struct PxebootNetwork {
    pub bind: SocketAddr,
    pub controllers: Vec<ControllerPeer>,
}

/// Everything `spawn` needs. Build with [`NodeConfig::new`] and adjust the public fields.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub hostname: String,
    pub keys: NodeKeys,
    /// At most one entry per network (management, cluster).
    pub networks: Vec<NodeNetwork>,
    /// The pxeboot network, if the host has one (default none).
    pub pxeboot: Option<PxebootNetwork>,
    /// Volatile lock flag (default `/run/steward/node_locked`).
    pub lock_flag: PathBuf,
    /// Non-volatile lock flag backup (default `/var/lib/steward/node_locked`).
    pub lock_flag_backup: PathBuf,
    /// Non-volatile: session high-water mark, last confirmed admin state, highest epoch
    /// (default `/var/lib/steward`).
    pub state_dir: PathBuf,
    /// Main go-enabled test scripts (default `/etc/steward/goenabled.d`).
    pub goenabled_dir: PathBuf,
    /// Subfunction go-enabled scripts; None: the subfunction tests pass with nothing to run.
    pub goenabled_subf_dir: Option<PathBuf>,
    /// Per script (default 300 s).
    pub goenabled_timeout: Duration,
    /// Host services scripts, run with `start` / `stop` (default `/etc/steward/services.d`).
    pub services_dir: PathBuf,
    /// Per script (default 300 s).
    pub services_timeout: Duration,
    /// Alive report period (default 5 s).
    pub alive_period: Duration,
    /// Lock flag audit period (default 1 s).
    pub flag_audit_period: Duration,
    /// Inventory re-send period (default 60 s; also sent at start).
    pub inventory_period: Duration,
    /// Run the main go-enabled tests at start (default true).
    pub goenabled_at_start: bool,
    /// Drop log lines per minute (default 10).
    pub drop_log_per_minute: u32,
    /// Answer heartbeat pulses on this UDP port of every network's address (`steward node`:
    /// 2103). `None`: no responder (the controller then sees the host as lost once it monitors it).
    pub heartbeat_port: Option<u16>,
    /// Link and filesystem monitors (docs/node-monitoring.md); empty by default: none run.
    pub monitors: crate::monitors::MonitorsConfig,
    /// The local status socket (`steward node`: `/run/steward/node-status.sock`); None: none.
    pub status_socket: Option<PathBuf>,
    /// Process monitor configuration directory, one `*.toml` per process
    /// (docs/node-supervision.md#processes; `steward node`: `/etc/steward/pmon.d`). `None`: no
    /// process monitor, and the heartbeat answers say it runs (nothing to watch).
    pub pmon_dir: Option<PathBuf>,
    /// Host watchdog (docs/node-supervision.md#watchdog). `None`: no watchdog.
    pub watchdog: Option<crate::watchdog::WatchdogConfig>,
    /// Configuration health markers and LUKS check (docs/node-supervision.md#flags); default none.
    pub health: crate::health::HealthMarkers,
    /// Failsafe reboot, lazy reboot of the active controller, install disks to wipe
    /// (docs/config.md#node-safety-nets); default none.
    pub safety: crate::safety::SafetyNets,
}

impl NodeConfig {
    /// Defaults (docs/config.md#node-settings): the standard paths, 5 s alive period, 1 s flag
    /// audit.
    pub fn new(hostname: impl Into<String>, keys: NodeKeys, networks: Vec<NodeNetwork>) -> Self {
        NodeConfig {
            hostname: hostname.into(),
            keys,
            networks,
            pxeboot: None,
            lock_flag: PathBuf::from("/run/steward/node_locked"),
            lock_flag_backup: PathBuf::from("/var/lib/steward/node_locked"),
            state_dir: PathBuf::from("/var/lib/steward"),
            goenabled_dir: PathBuf::from("/etc/steward/goenabled.d"),
            goenabled_subf_dir: None,
            goenabled_timeout: Duration::from_secs(300),
            services_dir: PathBuf::from("/etc/steward/services.d"),
            services_timeout: Duration::from_secs(300),
            alive_period: Duration::from_secs(5),
            flag_audit_period: Duration::from_secs(1),
            inventory_period: Duration::from_secs(60),
            goenabled_at_start: true,
            drop_log_per_minute: 10,
            heartbeat_port: None,
            monitors: crate::monitors::MonitorsConfig::default(),
            status_socket: None,
            pmon_dir: None,
            watchdog: None,
            health: crate::health::HealthMarkers::none(),
            safety: crate::safety::SafetyNets::off(),
        }
    }

    /// Put every file under two directories, as a simulated machine has them: `volatile`
    /// (cleared at boot: the lock flag) and `persistent` (the backup, the state, the scripts).
    pub fn under_dirs(mut self, volatile: &Path, persistent: &Path) -> Self {
        self.lock_flag = volatile.join("node_locked");
        self.lock_flag_backup = persistent.join("node_locked");
        self.state_dir = persistent.join("steward");
        self.goenabled_dir = persistent.join("goenabled.d");
        self.services_dir = persistent.join("services.d");
        self
    }

    /// Check what `spawn` relies on; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if !steward_protocol::valid_hostname(&self.hostname) {
            return Err(format!(
                "hostname {:?} must be 1..=64 characters of [A-Za-z0-9._-]",
                self.hostname
            ));
        }
        if self.networks.is_empty() {
            return Err("at least one network (management) is needed".into());
        }
        for (i, n) in self.networks.iter().enumerate() {
            if self.networks[..i].iter().any(|m| m.network == n.network) {
                return Err(format!("network {:?} configured twice", n.network));
            }
            if n.controllers.is_empty() {
                return Err(format!("network {:?} has no controller", n.network));
            }
            for c in &n.controllers {
                if !steward_protocol::valid_hostname(&c.name) {
                    return Err(format!(
                        "controller name {:?} is not a valid hostname",
                        c.name
                    ));
                }
            }
        }
        if let Some(p) = &self.pxeboot {
            if p.controllers.is_empty() {
                return Err("the pxeboot network has no controller".into());
            }
            for c in &p.controllers {
                if !steward_protocol::valid_hostname(&c.name) {
                    return Err(format!(
                        "controller name {:?} is not a valid hostname",
                        c.name
                    ));
                }
            }
        }
        if self.lock_flag == self.lock_flag_backup {
            return Err("lock_flag and lock_flag_backup must be different files".into());
        }
        if self.alive_period.is_zero() || self.flag_audit_period.is_zero() {
            return Err("alive_period and flag_audit_period must be > 0".into());
        }
        self.safety.validate()
    }
}
