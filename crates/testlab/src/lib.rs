//! # steward-testlab — one real rig for the tests
//!
//! [`TestLab::start`] runs what `steward controller` plus `steward lab` run, inside the test process:
//! the controller's actor over the store the test passes in, the UDP node link, the UDP heartbeat
//! service, the BMC workers, optionally the REST API, and one [`SimHost`] per host with the real
//! node agent, a real Redfish BMC and a heartbeat responder. Nothing is mocked: a lock goes to the
//! agent as a datagram, an unlock reboots the machine through its agent, a power action goes through
//! Redfish.
//!
//! The controller is put together by [`steward_wiring::ControllerBuilder`] in lab mode, the builder
//! `steward controller` and `steward lab` use. What the rig sets differently is in
//! `Wiring::start_controller`: the caller's store and a fixed cluster secret, its own addresses and
//! ports, a 30 s bound on power actions, and a retry while a restarted controller rebinds.
//!
//! Tests run in parallel (threads in one process, and other test processes on the same machine), so
//! every rig takes its own block of loopback addresses (see [`steward_simhost::lab::host_address`])
//! chosen from the process id and a per-process counter, and every port is picked by binding port 0.
//! Timers are scaled ([`LabSpec::scale`]) so an unlock takes about a second.
//!
//! ```text
//!  block slot 0        the controller (node link, heartbeat service)
//!  block slot 1..=N    host i: agent + heartbeat responder (mgmt), its BMC (127.3.x.y)
//! ```

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use steward_controller::ControllerHandle;
use steward_maintenance::config::Config;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::state::{Network, Personality, SystemType};
use steward_protocol::ClusterSecret;
use steward_simhost::lab::{host_address, LabHost, LAB_BMC_USERNAME};
use steward_simhost::SimHost;
use steward_store::{SecretBox, Store};
use steward_wiring::{ApiOptions, ControllerBuilder, Running, Storage};

/// The rig's cluster secret: every machine's node keys derive from it (tests that must not find
/// them somewhere derive them too).
pub const CLUSTER_SECRET: &[u8] = b"testlab: a cluster secret of at least 32 bytes";
/// The password every rig BMC accepts (stored encrypted by the controller like a real one).
pub const BMC_PASSWORD: &str = "testlab-bmc-password";

/// The controller's own hostname (self-protection: it cannot be locked).
pub const OWN_HOST: &str = "controller-0";

/// Hosts per rig at most (one address block holds the controller and these).
pub const MAX_HOSTS: usize = 15;

/// What to run.
#[derive(Clone, Debug)]
pub struct LabSpec {
    /// Host names in order; personality follows the name (`controller-*`, `storage-*`, else worker).
    /// Include [`OWN_HOST`]: the controller runs on it, as in a real cluster.
    pub hosts: Vec<String>,
    /// Every timer (core, agents, boot delay, BMC spacing) divided by this.
    pub scale: u32,
    /// Add hosts as already in service (`true`) or as new installs, locked (`false`).
    pub in_service: bool,
    /// The core's configuration; `None`: the defaults (docs/config.md) scaled by
    /// [`LabSpec::scale`], with a 100 ms host-add delay.
    pub config: Option<Config>,
    /// Serve the REST API (on 127.0.0.1, a free port; see [`TestLab::api_url`]) with these tokens;
    /// `None`: no API.
    pub api: Option<steward_api::Auth>,
    /// Run the lab's simulated link and filesystem monitors on every host
    /// (`steward_simhost::lab::lab_monitors`; faults through `SimHost::lab_faults`).
    pub monitors: bool,
    /// Process monitor files, as (host, file name, contents): each host named here runs its agent's
    /// process monitor on `<host dir>/persistent/pmon.d` holding these files
    /// (docs/node-supervision.md). Other hosts run none.
    pub processes: Vec<(String, String, String)>,
    /// Standard, or all-in-one (simplex, duplex): the controllers then carry the worker
    /// subfunction, enabled by the real agent after the main function.
    pub system: SystemType,
}

impl LabSpec {
    /// controller-0 (own host), controller-1 and worker-0 in service, timers 50× faster.
    pub fn standard() -> LabSpec {
        LabSpec {
            hosts: ["controller-0", "controller-1", "worker-0"]
                .map(String::from)
                .to_vec(),
            scale: 50,
            in_service: true,
            config: None,
            api: None,
            monitors: false,
            processes: Vec::new(),
            system: SystemType::Standard,
        }
    }
}

/// A running rig. Drop or [`TestLab::shutdown`] ends it; the store stays with the caller.
pub struct TestLab {
    pub handle: ControllerHandle,
    hosts: Vec<SimHost>,
    specs: Vec<HostSpec>,
    controller: Option<Running>,
    wiring: Wiring,
    _dir: tempfile::TempDir,
}

/// Everything that stays the same across controller restarts: addresses, ports, keys, config.
struct Wiring {
    secret: ClusterSecret,
    config: Config,
    ctl_mgmt: SocketAddr,
    node_port: u16,
    node_heartbeat_port: u16,
    dir: PathBuf,
    scale: u32,
    api: Option<(SocketAddr, steward_api::Auth)>,
    system: SystemType,
}

impl Wiring {
    /// Starts one controller run through the same builder as `steward controller` and `steward
    /// lab`, on this rig's addresses.
    async fn start_controller(&mut self, store: Arc<dyn Store>, secrets: SecretBox) -> Running {
        let storage = Storage::Given {
            store,
            secrets,
            cluster_secret: self.secret.clone(),
            dir: self.dir.clone(),
        };
        let mut b = ControllerBuilder::new(OWN_HOST, self.config.clone(), storage, self.ctl_mgmt)
            .lab(self.scale);
        b.system_type = self.system;
        b.node_port = self.node_port;
        // Any free port: agents answer a pulse to the address it came from.
        b.heartbeat_port = 0;
        b.node_heartbeat_port = self.node_heartbeat_port;
        // A power action waits for the rig's BMC this long at most: a bound on a hung test, not
        // the production 3 minutes.
        b.bmc.power_timeout = Duration::from_secs(30);
        // A restarted controller binds the addresses its predecessor in this process just let go.
        b.bind_retry = Duration::from_secs(5);
        if let Some((addr, auth)) = &self.api {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .unwrap_or_else(|e| panic!("cannot listen on {addr} for the rig's API: {e}"));
            b.api = Some(ApiOptions {
                listener,
                auth: Some(auth.clone()),
            });
        }
        let running = b.start().await.expect("start the controller");
        if let (Some((addr, _)), Some(api)) = (&mut self.api, &running.api) {
            addr.set_port(api.addr.port());
        }
        running
    }
}

/// Process-local rig counter; combined with the pid so two test processes pick different blocks.
static NEXT_RIG: AtomicUsize = AtomicUsize::new(0);

/// The first host index of this rig's address block (blocks of `MAX_HOSTS + 1`; 384 blocks from
/// index 20,000 stay clear of `steward lab` (0…) and the simhost tests (7,000…), and below the
/// 62,490 addresses `host_address` has).
fn address_block() -> usize {
    const BLOCK: usize = MAX_HOSTS + 1;
    const BLOCKS: usize = 384;
    let slot =
        (std::process::id() as usize).wrapping_mul(7) + NEXT_RIG.fetch_add(1, Ordering::Relaxed);
    20_000 + (slot % BLOCKS) * BLOCK
}

/// `N` distinct free UDP ports on `ip` (all bound at once, so no two are the same).
fn free_udp_ports<const N: usize>(ip: IpAddr) -> [u16; N] {
    let sockets: [std::net::UdpSocket; N] = std::array::from_fn(|_| {
        std::net::UdpSocket::bind((ip, 0)).expect("a free UDP port on loopback")
    });
    sockets.map(|s| s.local_addr().expect("a bound socket's address").port())
}

/// The record of a host with no machine behind it (a worker, no BMC): for tests that need records
/// only. Its management address is `127.4.a.b` from `index` — loopback, used by no rig and no lab —
/// because the real links do send to it (and nothing answers).
pub fn machineless_host(name: &str, index: u32) -> HostSpec {
    HostSpec {
        name: name.into(),
        uuid: format!("00000000-0000-4000-8001-{index:012}"),
        personality: Personality::Worker,
        mgmt_ip: Some(format!("127.4.{}.{}", index / 250, index % 250 + 1)),
        mgmt_mac: None,
        pxeboot_ip: None,
        cluster_ip: None,
        bmc: None,
        install: Default::default(),
    }
}

fn personality(name: &str) -> Personality {
    if name.starts_with("controller") {
        Personality::Controller
    } else if name.starts_with("storage") {
        Personality::Storage
    } else {
        Personality::Worker
    }
}

impl TestLab {
    /// Starts the controller on `store` (epoch one above the store's), adds every host of `spec`
    /// with its BMC (Redfish, `http://…`, [`BMC_PASSWORD`]), then boots the machines. Returns at
    /// once; use [`TestLab::wait_until_settled`] to wait for the hosts to be in service.
    pub async fn start(store: Arc<dyn Store>, secrets: SecretBox, spec: LabSpec) -> TestLab {
        assert!(
            spec.hosts.len() <= MAX_HOSTS,
            "at most {MAX_HOSTS} hosts per rig"
        );
        let dir = tempfile::tempdir().expect("a temp dir for the rig");
        let base = address_block();
        let ctl_ip: IpAddr = host_address(Some(Network::Mgmt), base).into();
        let first_host: IpAddr = host_address(Some(Network::Mgmt), base + 1).into();
        let scale = spec.scale.max(1);
        let [ctl_port] = free_udp_ports(ctl_ip);
        let [node_port, node_heartbeat_port] = free_udp_ports(first_host);
        let core = spec.config.clone().unwrap_or_else(|| {
            let mut c = Config::default().scaled(scale);
            // A new host is taken into service after this delay; the default would dominate.
            c.timeouts.host_add_delay.0 = Duration::from_millis(100);
            c
        });
        let alive_period = core.timeouts.alive_period.0;
        let wiring = Wiring {
            secret: ClusterSecret::new(CLUSTER_SECRET).unwrap(),
            config: core,
            ctl_mgmt: SocketAddr::new(ctl_ip, ctl_port),
            // Every agent listens on the same ports (each on its own address), as in a cluster.
            node_port,
            node_heartbeat_port,
            dir: dir.path().to_path_buf(),
            scale,
            // A free port at the first start; restarts keep it.
            api: spec
                .api
                .clone()
                .map(|auth| (SocketAddr::new(ctl_ip, 0), auth)),
            system: spec.system,
        };
        let mut specs = Vec::with_capacity(spec.hosts.len());
        let mut lab_hosts = Vec::with_capacity(spec.hosts.len());
        for (i, name) in spec.hosts.iter().enumerate() {
            let mgmt: IpAddr = host_address(Some(Network::Mgmt), base + 1 + i).into();
            specs.push(HostSpec {
                name: name.clone(),
                uuid: format!("00000000-0000-4000-8000-{:012}", i + 1),
                personality: personality(name),
                mgmt_ip: Some(mgmt.to_string()),
                mgmt_mac: None,
                pxeboot_ip: None,
                cluster_ip: None,
                bmc: None,
                install: Default::default(),
            });
            lab_hosts.push(LabHost {
                name: name.clone(),
                dir: dir.path().join(name),
                keys: wiring.secret.node_keys(name),
                mgmt_ip: mgmt,
                cluster_ip: None,
                node_port: wiring.node_port,
                heartbeat_port: Some(wiring.node_heartbeat_port),
                controller: OWN_HOST.into(),
                controller_mgmt: wiring.ctl_mgmt,
                controller_cluster: None,
                bmc_bind: Some(SocketAddr::new(host_address(None, base + 1 + i).into(), 0)),
                bmc_password: BMC_PASSWORD.into(),
                scale,
                alive_period,
                monitors: if spec.monitors {
                    steward_simhost::lab::lab_monitors(scale)
                } else {
                    Default::default()
                },
                // Set below when the spec gives this host process files.
                pmon_dir: None,
            });
        }
        let mut wiring = wiring;
        let controller = wiring.start_controller(store, secrets).await;
        let mut lab = TestLab {
            handle: controller.handle.clone(),
            hosts: Vec::new(),
            specs,
            controller: Some(controller),
            wiring,
            _dir: dir,
        };
        for s in &lab.specs {
            let rec = if spec.in_service {
                HostRecord::in_service(s.clone(), spec.system)
            } else {
                HostRecord::new_install(s.clone(), spec.system)
            };
            lab.handle.add_host(rec).await.expect("add host");
        }
        // The machines boot once the controller knows them: an agent's first messages from an
        // unknown host are dropped. BMC ports are picked at bind, so credentials come after.
        for (lh, s) in lab_hosts.iter().zip(&lab.specs) {
            let mut config = lh.config();
            let files: Vec<_> = spec.processes.iter().filter(|p| p.0 == s.name).collect();
            if let (false, Some(agent)) = (files.is_empty(), config.agent.as_mut()) {
                let pmon = lh.dir.join("persistent").join("pmon.d");
                std::fs::create_dir_all(&pmon).expect("create the process monitor directory");
                for (_, file, text) in files {
                    std::fs::write(pmon.join(file), text).expect("write a process file");
                }
                agent.pmon_dir = Some(pmon);
            }
            let host = SimHost::start(config, true)
                .await
                .unwrap_or_else(|e| panic!("cannot start simulated host {}: {e}", s.name));
            let bmc = BmcSpec {
                protocol: BmcProtocol::Redfish,
                address: host.bmc_url().expect("every rig host has a BMC"),
                username: LAB_BMC_USERNAME.into(),
            };
            lab.handle
                .set_bmc_credentials(&s.name, bmc, BMC_PASSWORD.into())
                .await
                .expect("provision the BMC");
            lab.hosts.push(host);
        }
        lab
    }

    /// Where the machines keep their files: `<dir>/<host>/`, laid out as `steward lab`'s are.
    pub fn dir(&self) -> &std::path::Path {
        &self.wiring.dir
    }

    /// The simulated machines, in [`LabSpec::hosts`] order.
    pub fn hosts(&self) -> &[SimHost] {
        &self.hosts
    }

    /// The simulated machine called `name`.
    pub fn host(&self, name: &str) -> &SimHost {
        self.hosts
            .iter()
            .find(|h| h.name() == name)
            .unwrap_or_else(|| panic!("no simulated host {name}"))
    }

    /// The records the hosts were added with (addresses as the controller knows them).
    pub fn specs(&self) -> &[HostSpec] {
        &self.specs
    }

    /// Polls until every host is unlocked-enabled-available with no task; panics after a generous
    /// bound (60 s: a bound on a hung rig, not a timing assertion).
    pub async fn wait_until_settled(&self) {
        self.wait_until("every host in service", |hosts| {
            hosts
                .iter()
                .all(|h| h.states.to_string() == "unlocked-enabled-available" && h.task.is_empty())
        })
        .await;
    }

    /// Polls the controller's host records every 20 ms until `f` holds; panics after 60 s.
    pub async fn wait_until(&self, what: &str, mut f: impl FnMut(&[HostRecord]) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let hosts = self.handle.hosts().await.expect("the controller answers");
            if f(&hosts) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never happened: {what}; hosts: {hosts:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the controller (actor, node link, heartbeat service, BMC workers) and leaves the
    /// machines running, as when the controller process dies. Returns once the actor has stopped.
    pub async fn stop_controller(&mut self) {
        if let Some(c) = self.controller.take() {
            c.shutdown().await;
        }
    }

    /// The REST API's base URL (`http://…`), when [`LabSpec::api`] asked for one.
    pub fn api_url(&self) -> Option<String> {
        self.wiring
            .api
            .as_ref()
            .map(|(addr, _)| format!("http://{addr}"))
    }

    /// Starts a controller again on the same addresses (the agents know them) over `store`: the
    /// store is its only memory, as after a restart.
    pub async fn start_controller(&mut self, store: Arc<dyn Store>, secrets: SecretBox) {
        assert!(self.controller.is_none(), "a controller is already running");
        let controller = self.wiring.start_controller(store, secrets).await;
        self.handle = controller.handle.clone();
        self.controller = Some(controller);
    }

    /// Stops the controller and every machine.
    pub async fn shutdown(mut self) {
        self.stop_controller().await;
        for h in &self.hosts {
            h.shutdown().await;
        }
    }
}
