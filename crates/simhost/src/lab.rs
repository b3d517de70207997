//! How a lab lays out its simulated hosts: loopback addresses per network, ports, timings. Shared by
//! `steward lab` (hosts in process) and `steward simhost` (one host per process), so both build the
//! same machine.
//!
//! Linux routes all of 127.0.0.0/8 to `lo`, so every host gets addresses of its own and the node
//! protocol's source-address check is real:
//!
//! | network | controller | host *i* (0-based) |
//! |---|---|---|
//! | management | 127.1.0.1 | 127.1.*a*.*b* with *a*.*b* = 10 + *i* in base 250 (+1) |
//! | cluster | 127.2.0.1 | 127.2.*a*.*b* |
//! | BMC (Redfish, port [`LAB_BMC_PORT`]) | — | 127.3.*a*.*b* |

use crate::host::SimHostConfig;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use steward_maintenance::state::Network;
use steward_node::{ControllerPeer, NodeConfig, NodeNetwork};
use steward_protocol::NodeKeys;
use steward_simbmc::SimBmcConfig;

/// The Redfish port of every lab BMC (each on its own address).
pub const LAB_BMC_PORT: u16 = 8000;
/// The user every lab BMC accepts.
pub const LAB_BMC_USERNAME: &str = "admin";

/// Second octet per network: 1 management, 2 cluster, 3 BMC.
fn octet(network: Option<Network>) -> u8 {
    match network {
        Some(Network::Mgmt) => 1,
        Some(Network::Cluster) => 2,
        None => 3,
    }
}

/// Address of lab host `index` on `network` (`None`: its BMC).
pub fn host_address(network: Option<Network>, index: usize) -> Ipv4Addr {
    let j = index + 10;
    Ipv4Addr::new(127, octet(network), (j / 250) as u8, (j % 250) as u8 + 1)
}

/// The lab controller's address on `network`.
pub fn controller_address(network: Network) -> Ipv4Addr {
    Ipv4Addr::new(127, octet(Some(network)), 0, 1)
}

/// Everything that makes one lab host.
#[derive(Clone, Debug)]
pub struct LabHost {
    pub name: String,
    pub dir: PathBuf,
    pub keys: NodeKeys,
    pub mgmt_ip: IpAddr,
    pub cluster_ip: Option<IpAddr>,
    /// The port the agent listens on (the same for every host).
    pub node_port: u16,
    /// The port heartbeat pulses are answered on; `None`: no responder.
    pub heartbeat_port: Option<u16>,
    /// The controller's name and node-protocol addresses (management, cluster).
    pub controller: String,
    pub controller_mgmt: SocketAddr,
    pub controller_cluster: Option<SocketAddr>,
    /// Where its Redfish BMC listens; `None`: no BMC.
    pub bmc_bind: Option<SocketAddr>,
    pub bmc_password: String,
    /// Timers divided by this (1 = the defaults of docs/config.md).
    pub scale: u32,
    /// The agent's alive period (the core's `timeouts.alive_period`, scaled).
    pub alive_period: Duration,
    /// The agent's link and filesystem monitors (none by default).
    pub monitors: steward_node::monitors::MonitorsConfig,
    /// The agent's process monitor directory (`None`: no process monitor).
    pub pmon_dir: Option<PathBuf>,
}

/// The processes every `steward lab` machine's process monitor watches: (name, severity, allowed
/// restarts). Killing `lab-critical` three times fails the host; `lab-minor` twice raises 200.006
/// minor only (docs/node-supervision.md#lab).
pub const LAB_PROCESSES: [(&str, &str, u32); 2] =
    [("lab-critical", "critical", 2), ("lab-minor", "minor", 1)];

/// Where a lab machine keeps its process files: `<host dir>/persistent/pmon.d`.
pub fn lab_pmon_dir(host_dir: &Path) -> PathBuf {
    host_dir.join("persistent").join("pmon.d")
}

/// The lab's marker in its data dir: the URL of the API in front of its hosts, written while it
/// runs, so `steward collect` knows that a host of that API is a lab machine whose node part it
/// can gather from the machine's files (there is no ssh to a simulated host).
pub const LAB_API_URL_FILE: &str = "api.url";

/// Whether the lab in `lab_dir` serves the API at `url` (its [`LAB_API_URL_FILE`] names it).
pub fn lab_serves(lab_dir: &Path, url: &str) -> bool {
    std::fs::read_to_string(lab_dir.join(LAB_API_URL_FILE))
        .is_ok_and(|u| u.trim().trim_end_matches('/') == url.trim().trim_end_matches('/'))
}

/// The key file `steward lab` provisions for each of its machines: `<host dir>/node.keys`.
pub fn lab_keys_file(host_dir: &Path) -> PathBuf {
    host_dir.join("node.keys")
}

/// What `steward node collect` reads on the lab machine whose files are under `host_dir`: the
/// paths its agent runs with ([`SimHostConfig::agent_dirs`], the status socket of
/// [`LabHost::config`]). Its log is the lab's own output, so there is no unit.
pub fn node_collect_paths(host_dir: &Path) -> steward_node::collect::CollectPaths {
    let volatile = host_dir.join("volatile");
    let persistent = host_dir.join("persistent");
    steward_node::collect::CollectPaths {
        keys: lab_keys_file(host_dir),
        state_dir: persistent.join("steward"),
        lock_flag: volatile.join("node_locked"),
        lock_flag_backup: persistent.join("node_locked"),
        goenabled_dir: persistent.join("goenabled.d"),
        services_dir: persistent.join("services.d"),
        status_socket: host_dir.join("node-status.sock"),
        unit: None,
        log_lines: 0,
    }
}

/// The lab's install image: a placeholder ISO in the lab's image directory, served by the
/// controller's image server, that every lab host reinstalls from by virtual media (the simulated
/// BMC mounts it; the machine booted from it comes back as a new install).
pub const LAB_IMAGE: &str = "steward-lab-install.iso";

/// Write the placeholder [`LAB_IMAGE`] into `image_dir` unless a file of that name is there
/// already (an operator's own image is left alone); its path.
pub fn write_lab_image(image_dir: &Path) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(image_dir)?;
    let path = image_dir.join(LAB_IMAGE);
    if !path.exists() {
        let tmp = image_dir.join(format!(".{LAB_IMAGE}.tmp"));
        std::fs::write(&tmp, steward_simbmc::placeholder_iso("steward lab install"))?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(path)
}

/// The pid file of lab process `name`: `<host dir>/<name>.pid`.
pub fn lab_pidfile(host_dir: &Path, name: &str) -> PathBuf {
    host_dir.join(format!("{name}.pid"))
}

/// Write the process files of [`LAB_PROCESSES`] for the machine in `host_dir` (plain `sleep`
/// processes with pid files; timers divided by `scale` like the lab's others) and return their
/// directory, for [`LabHost::pmon_dir`].
pub fn write_lab_processes(host_dir: &Path, scale: u32) -> std::io::Result<PathBuf> {
    let scale = u64::from(scale.max(1));
    let dir = lab_pmon_dir(host_dir);
    std::fs::create_dir_all(&dir)?;
    for (name, severity, restarts) in LAB_PROCESSES {
        let pidfile = lab_pidfile(host_dir, name);
        // Single quotes: the path goes through `sh -c`; a lab dir holding a quote is refused.
        let p = pidfile.display().to_string();
        if p.contains('\'') || p.contains('"') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("the lab dir {p} holds a quote"),
            ));
        }
        // The debounce (a process up this long is stable and its alarm clears) is long enough
        // that `steward lab kill-process` kills in a row count as one restart storm.
        let text = format!(
            "name = \"{name}\"\npidfile = \"{p}\"\nstart = \"sleep 86400 & echo $! > '{p}'\"\n\
             severity = \"{severity}\"\nrestarts = {restarts}\ninterval_ms = {interval}\n\
             startup_delay_ms = {delay}\ndebounce_ms = {debounce}\n",
            interval = 1_000 / scale,
            delay = 1_000 / scale,
            debounce = 60_000 / scale,
        );
        std::fs::write(dir.join(format!("{name}.toml")), text)?;
    }
    Ok(dir)
}

/// The pid of lab process `name` on the machine in `host_dir`, if its pid file names a live
/// `sleep` (a stale file naming some other process is never signalled).
pub fn lab_process_pid(host_dir: &Path, name: &str) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(lab_pidfile(host_dir, name))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    // `/proc/<pid>/stat`: "pid (comm) state …"; a zombie (Z) has already ended.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let live = head.ends_with("(sleep") && !rest.trim_start().starts_with('Z');
    (pid > 1 && live).then_some(pid)
}

/// Send `signal` to lab process `name` of the machine in `host_dir`; the pid signalled, or
/// `None` when no such process runs.
pub fn signal_lab_process(host_dir: &Path, name: &str, signal: i32) -> Option<i32> {
    let pid = lab_process_pid(host_dir, name)?;
    // SAFETY: kill(2) takes no memory; a pid that is gone yields ESRCH.
    (unsafe { libc::kill(pid, signal) } == 0).then_some(pid)
}

/// Stop the lab processes of the machine in `host_dir` (they outlive its agent).
pub fn stop_lab_processes(host_dir: &Path) {
    for (name, _, _) in LAB_PROCESSES {
        signal_lab_process(host_dir, name, libc::SIGTERM);
    }
}

/// The monitors every `steward lab` machine runs: a management and a cluster link and two
/// filesystems, all simulated, so `steward lab link-down HOST NET` and `steward lab fs-readonly
/// HOST MOUNT` show the alarms raise and clear (docs/node-monitoring.md#lab-faults).
pub fn lab_monitors(scale: u32) -> steward_node::monitors::MonitorsConfig {
    use steward_node::monitors::{LabFaults, MonitorsConfig};
    use steward_types::LinkNetwork;
    let scale = scale.max(1);
    let fs = |mount: &str| steward_agent::FsWatch {
        mount: mount.into(),
        min_free_space_pct: 10.0,
        min_free_inodes_pct: 5.0,
    };
    MonitorsConfig {
        links: vec![
            (LinkNetwork::Mgmt, "eth0".into()),
            (LinkNetwork::Cluster, "eth1".into()),
        ],
        filesystems: vec![fs("/"), fs("/var/log")],
        fs_period: Duration::from_secs(15) / scale,
        repeat: Duration::from_secs(30) / scale,
        lab: Some(LabFaults::default()),
        ..MonitorsConfig::default()
    }
}

impl LabHost {
    pub fn config(&self) -> SimHostConfig {
        let scale = self.scale.max(1);
        let mut c = SimHostConfig::new(&self.name, &self.dir);
        c.boot_delay = Duration::from_secs(20) / scale;
        let mut networks = vec![NodeNetwork {
            network: Network::Mgmt,
            bind: SocketAddr::new(self.mgmt_ip, self.node_port),
            controllers: vec![ControllerPeer {
                name: self.controller.clone(),
                addr: self.controller_mgmt,
            }],
        }];
        if let (Some(ip), Some(ctl)) = (self.cluster_ip, self.controller_cluster) {
            networks.push(NodeNetwork {
                network: Network::Cluster,
                bind: SocketAddr::new(ip, self.node_port),
                controllers: vec![ControllerPeer {
                    name: self.controller.clone(),
                    addr: ctl,
                }],
            });
        }
        let mut agent = NodeConfig::new(&self.name, self.keys.clone(), networks);
        agent.alive_period = self.alive_period;
        // The flag audit stays at its 1 s default unless the lab runs faster than 5×.
        agent.flag_audit_period = Duration::from_secs(1).min(Duration::from_secs(5) / scale);
        agent.goenabled_timeout = Duration::from_secs(300) / scale;
        agent.services_timeout = Duration::from_secs(300) / scale;
        agent.heartbeat_port = self.heartbeat_port;
        agent.monitors = self.monitors.clone();
        agent.pmon_dir = self.pmon_dir.clone();
        // `steward node status --socket <dir>/node-status.sock` reads it.
        agent.status_socket = Some(self.dir.join("node-status.sock"));
        c.agent = Some(c.agent_dirs(agent));
        c.bmc = self.bmc_bind.map(|bind| {
            let mut b = SimBmcConfig::new(&self.name, LAB_BMC_USERNAME, &self.bmc_password);
            b.bind = bind;
            b
        });
        c
    }

    /// The BMC address to provision on the controller (`http://127.3.a.b:8000`).
    pub fn bmc_address(&self) -> Option<String> {
        self.bmc_bind.map(|a| format!("http://{a}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_and_never_network_or_broadcast_like() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            let a = host_address(Some(Network::Mgmt), i);
            assert!(a.octets()[3] >= 1 && a.octets()[3] <= 250, "{a}");
            assert!(seen.insert(a), "duplicate {a}");
            assert_ne!(a, controller_address(Network::Mgmt));
        }
        assert_eq!(host_address(None, 0), Ipv4Addr::new(127, 3, 0, 11));
        assert_eq!(
            host_address(Some(Network::Cluster), 245),
            Ipv4Addr::new(127, 2, 1, 6)
        );
    }

    #[test]
    fn node_collect_reads_the_paths_the_lab_agent_runs_with() {
        let secret = steward_protocol::ClusterSecret::new(&[3u8; 32]).unwrap();
        let dir = Path::new("/lab/worker-0");
        let host = LabHost {
            name: "worker-0".into(),
            dir: dir.to_path_buf(),
            keys: secret.node_keys("worker-0"),
            mgmt_ip: host_address(Some(Network::Mgmt), 0).into(),
            cluster_ip: None,
            node_port: 1,
            heartbeat_port: None,
            controller: "controller-0".into(),
            controller_mgmt: SocketAddr::new(controller_address(Network::Mgmt).into(), 2),
            controller_cluster: None,
            bmc_bind: None,
            bmc_password: String::new(),
            scale: 1,
            alive_period: Duration::from_secs(1),
            monitors: Default::default(),
            pmon_dir: None,
        };
        let agent = host.config().agent.unwrap();
        let p = node_collect_paths(dir);
        assert_eq!(p.state_dir, agent.state_dir);
        assert_eq!(p.lock_flag, agent.lock_flag);
        assert_eq!(p.lock_flag_backup, agent.lock_flag_backup);
        assert_eq!(p.goenabled_dir, agent.goenabled_dir);
        assert_eq!(p.services_dir, agent.services_dir);
        assert_eq!(Some(p.status_socket), agent.status_socket);
    }
}
