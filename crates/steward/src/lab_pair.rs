//! `steward lab --controllers 2`: the lab's controller pair (docs/controller-pair.md#the-lab).
//!
//! ```text
//!  steward host … ──► floating API (--listen) ──► whichever controller is active
//!                                                 controller-0  (Pair, API 127.0.0.1:<free>)
//!                      local etcd ◄── lease ──►   controller-1  (Pair, API 127.0.0.1:<free>)
//! ```
//!
//! A local etcd (the `etcd` binary) holds the store and the leader key; two controller runtimes,
//! each a [`Pair`] with its own API listener and its own node-link and heartbeat addresses
//! (127.1.0.1 and 127.1.0.2 on the management network, 127.2.0.1 and 127.2.0.2 on the cluster
//! network), run in the lab's process. Each runtime lives on its simulated host: when the host loses
//! power (`steward lab crash controller-0`, or a BMC power-off/reset) or hangs (`steward lab fail`)
//! the runtime dies with it
//! without resigning — its lease runs out, as after a real crash — and when the host is up again
//! the runtime starts afresh, as standby.
//!
//! The floating API address relays every new connection to the active controller's API (waiting
//! through a hand-over), as StarlingX's floating address follows the active controller.

use anyhow::{bail, Context, Result};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use steward_controller::{ControllerConfig, ControllerHandle, Links};
use steward_controller_pair::runtime::{ActiveFactory, Grant};
use steward_controller_pair::{MirrorSpec, Pair, PairSpec, Role, StandbyPulseSpec, DEFAULT_TTL};
use steward_maintenance::config::Config;
use steward_maintenance::state::{Network, SystemType};
use steward_maintenance::SystemConfig;
use steward_protocol::ClusterSecret;
use steward_simhost::lab;
use steward_store::{SecretBox, Store};
use steward_store_etcd::{EtcdOptions, EtcdStore};
use steward_wiring::{ControllerBuilder, Storage};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

/// The two controllers of the lab's pair; each is also the name of its simulated host.
pub(crate) const PAIR: [&str; 2] = ["controller-0", "controller-1"];

/// `<data-dir>/controllers`: the pair's roles, written by the running lab for `steward lab status`.
pub(crate) const ROLES_FILE: &str = "controllers";

/// How long a connection to the floating address waits for an active controller (a takeover
/// takes about one lease TTL) before it is relayed to a standby, which answers reads.
const FLOATING_WAIT: Duration = Duration::from_secs(10);

/// How often the lab looks at the controllers' hosts (power, boot).
const HOST_POLL: Duration = Duration::from_millis(100);

/// Controller `i`'s node-protocol address on `network`: 127.1.0.(1+i) management, 127.2.0.(1+i)
/// cluster (hosts start at .11, [`lab::host_address`]).
pub(crate) fn controller_address(network: Network, i: usize) -> Ipv4Addr {
    let [a, b, c, d] = lab::controller_address(network).octets();
    Ipv4Addr::new(a, b, c, d + i as u8)
}

/// Controller `i`'s node-link address on `network` (the protocol's controller port).
pub(crate) fn controller_socket(network: Network, i: usize) -> SocketAddr {
    SocketAddr::new(
        controller_address(network, i).into(),
        steward_protocol::DEFAULT_CONTROLLER_PORT,
    )
}

// ---------------------------------------------------------------------------------------------
// etcd

/// The lab's etcd: one member on loopback with free ports, its data in `<data-dir>/etcd` (kept
/// across runs like the rest of the lab's state), its log in `<data-dir>/etcd.log`.
pub(crate) struct LabEtcd {
    child: tokio::process::Child,
    endpoint: String,
}

impl LabEtcd {
    pub(crate) async fn start(data_dir: &Path) -> Result<LabEtcd> {
        let bin = std::env::var_os("STEWARD_ETCD_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/etcd"));
        if !bin.is_file() {
            bail!(
                "--controllers 2 needs etcd, and {} does not exist: install Debian's etcd-server \
                 (scripts/setup does) or set STEWARD_ETCD_BIN",
                bin.display()
            );
        }
        let dir = data_dir.join("etcd");
        let log = data_dir.join("etcd.log");
        // A free port picked by binding port 0 can be taken by another process before etcd binds
        // it: start again with new ports.
        for _ in 0..3 {
            let (client, peer) = (free_port()?, free_port()?);
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let out = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .with_context(|| format!("cannot open {}", log.display()))?;
            let mut cmd = tokio::process::Command::new(&bin);
            cmd.args(["--name", "lab"])
                .arg("--data-dir")
                .arg(&dir)
                .args(["--listen-client-urls", &client_url])
                .args(["--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &format!("lab={peer_url}")])
                .args(["--initial-cluster-state", "new"])
                .args(["--initial-cluster-token", "steward-lab"])
                .args(["--logger", "zap", "--log-outputs", "stderr"])
                .env_remove("ETCD_DATA_DIR")
                .env_remove("ETCD_NAME")
                .stdin(std::process::Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out)
                // Its own process group: Ctrl-C on the lab's terminal reaches the lab only, which
                // stops etcd last (after the controllers resigned).
                .process_group(0)
                .kill_on_drop(true);
            // SAFETY: prctl(2) is async-signal-safe and touches no memory of the parent.
            unsafe {
                cmd.pre_exec(|| {
                    // The lab killed outright takes etcd with it.
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
            let child = cmd
                .spawn()
                .with_context(|| format!("cannot start {}", bin.display()))?;
            let mut etcd = LabEtcd {
                child,
                endpoint: client_url,
            };
            if etcd.wait_healthy().await {
                return Ok(etcd);
            }
            etcd.stop().await;
        }
        bail!("etcd did not become healthy (its log: {})", log.display())
    }

    /// Until etcd answers `/health` with 200 (`false`: it exited, or 60 s passed).
    async fn wait_healthy(&mut self) -> bool {
        let client = reqwest::Client::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return false;
            }
            let health = client
                .get(format!("{}/health", self.endpoint))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// SIGTERM (etcd closes its data cleanly), then SIGKILL after 5 s.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with the pid of a child this lab spawned and has not reaped.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
    Ok(l.local_addr()?.port())
}

// ---------------------------------------------------------------------------------------------
// The pair

/// What every controller runtime of the lab is built from.
pub(crate) struct PairLab {
    etcd: Mutex<Option<LabEtcd>>,
    /// etcd's client URL.
    pub(crate) etcd_url: String,
    /// The store on etcd, unfenced: the lab seeds it before any controller runs, and the standby
    /// mirrors read it.
    store: Arc<dyn Store>,
    store_dir: PathBuf,
    pub(crate) secret: ClusterSecret,
    auth: steward_api::Auth,
    config: Config,
    scale: u32,
    system: SystemType,
    data_dir: PathBuf,
    /// Each controller's API address, the same across its restarts.
    apis: [SocketAddr; 2],
    roles: watch::Sender<Roles>,
    slots: Arc<Mutex<[Slot; 2]>>,
}

/// Each controller's role as its runtime last reported it; `None`: the runtime is down (its host
/// crashed or is off).
#[derive(Clone, Debug, Default)]
pub(crate) struct Roles([Option<Role>; 2]);

impl Roles {
    fn active(&self) -> Option<usize> {
        (0..2).find(|&i| matches!(self.0[i], Some(Role::Active { .. })))
    }

    fn running(&self) -> Option<usize> {
        (0..2).find(|&i| matches!(self.0[i], Some(Role::Standby { .. })))
    }
}

/// One controller runtime, while its host is up.
#[derive(Default)]
struct Slot {
    pair: Option<Pair>,
    follow: Option<JoinHandle<()>>,
    /// The boot of its host the runtime started in: another boot means the host restarted.
    boot_id: Option<String>,
}

impl PairLab {
    /// Start etcd and open the store; no controller runs yet.
    pub(crate) async fn prepare(
        data_dir: &Path,
        config: Config,
        scale: u32,
        system: SystemType,
        loopback_only: bool,
    ) -> Result<PairLab> {
        let etcd = LabEtcd::start(data_dir).await?;
        let store_dir = data_dir.join("store");
        std::fs::create_dir_all(&store_dir)
            .with_context(|| format!("cannot create {}", store_dir.display()))?;
        SecretBox::load_or_create(&store_dir)
            .with_context(|| format!("cannot load the store key in {}", store_dir.display()))?;
        let secret = steward_wiring::load_or_create_cluster_secret(data_dir)?;
        let mut auth = steward_api::Auth::load_or_create(data_dir)
            .with_context(|| format!("cannot load the API token in {}", data_dir.display()))?;
        // Every client of the floating address reaches the controllers from loopback (the relay):
        // the token may be waived only when the floating address itself is loopback.
        auth.loopback_without_token = loopback_only;
        let store: Arc<dyn Store> = Arc::new(
            EtcdStore::connect(&[etcd.endpoint().to_string()], EtcdOptions::default())
                .context("cannot connect to the lab's etcd")?,
        );
        let apis = [
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), free_port()?),
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), free_port()?),
        ];
        let (roles, _) = watch::channel(Roles::default());
        Ok(PairLab {
            etcd_url: etcd.endpoint().to_string(),
            etcd: Mutex::new(Some(etcd)),
            store,
            store_dir,
            secret,
            auth,
            config,
            scale,
            system,
            data_dir: data_dir.to_path_buf(),
            apis,
            roles,
            slots: Arc::default(),
        })
    }

    /// The first API token (empty if none).
    pub(crate) fn token(&self) -> String {
        self.auth.tokens.first().cloned().unwrap_or_default()
    }

    /// A controller over the store whose links go nowhere, to add the lab's hosts before the pair
    /// runs (stop it with [`ControllerHandle::shutdown`] and await the task).
    pub(crate) fn seeder(&self) -> Result<(ControllerHandle, JoinHandle<()>)> {
        let cfg = ControllerConfig::new(
            self.config.clone(),
            SystemConfig {
                system_type: self.system,
                own_host: PAIR[0].to_string(),
                controller_uptime: Duration::from_secs(86_400),
            },
        );
        let secrets = SecretBox::load_or_create(&self.store_dir)?;
        let links = Links::nowhere();
        let (handle, _events, task) =
            steward_controller::spawn(cfg, self.store.clone(), secrets, links)
                .context("cannot open the lab's store on etcd")?;
        Ok((handle, task))
    }

    fn spec(&self, i: usize) -> PairSpec {
        let name = PAIR[i];
        let endpoints = vec![self.etcd_url.clone()];
        // This controller's builder on a given storage: the active's, and the standby's pulse
        // addresses (the same sockets as its active self, docs/controller-pair.md#the-standby-pulses).
        let make = {
            let (config, scale, system) = (self.config.clone(), self.scale, self.system);
            Arc::new(move |storage: Storage| {
                let mut b = ControllerBuilder::new(
                    name,
                    config.clone(),
                    storage,
                    controller_socket(Network::Mgmt, i),
                )
                .lab(scale);
                b.system_type = system;
                b.cluster_bind = Some(controller_socket(Network::Cluster, i));
                // The push receiver's task keeps the controller alive after a crash drops its
                // runtime (it holds a handle the actor's BMC workers keep open): a runtime that
                // dies without stopping its controller must leave nothing behind, so the lab's
                // pair reads sensors on the audit schedule only.
                b.push.enabled = false;
                // A crashed runtime's sockets are released as its controller winds down.
                b.bind_retry = Duration::from_secs(5);
                b
            })
        };
        let pulses = StandbyPulseSpec::of(
            &make(Storage::DataDir(self.data_dir.join("pair").join(name))),
            self.secret.clone(),
        );
        let active: ActiveFactory = {
            let endpoints = endpoints.clone();
            let (store_dir, secret) = (self.store_dir.clone(), self.secret.clone());
            let dir = self.data_dir.join("pair").join(name);
            let make = make.clone();
            Arc::new(move |grant: &Grant| {
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                // Every write of this term carries the lease: once it is gone, the store refuses.
                let store = EtcdStore::connect(&endpoints, EtcdOptions::default())
                    .map_err(|e| e.to_string())?
                    .with_fence(grant.leader_key.clone(), grant.lease);
                let secrets = SecretBox::load_or_create(&store_dir).map_err(|e| e.to_string())?;
                Ok(make(Storage::Given {
                    store: Arc::new(store),
                    secrets,
                    cluster_secret: secret.clone(),
                    dir: dir.clone(),
                }))
            })
        };
        let store_dir = self.store_dir.clone();
        let auth = self.auth.clone();
        let mirror = MirrorSpec {
            store: self.store.clone(),
            secrets: Arc::new(move || SecretBox::load_or_create(&store_dir)),
            config: ControllerConfig::new(
                self.config.clone(),
                SystemConfig {
                    system_type: self.system,
                    own_host: name.to_string(),
                    controller_uptime: Duration::from_secs(86_400),
                },
            ),
            auth: Arc::new(move || auth.clone()),
        };
        let mut spec = PairSpec::new(
            name,
            format!("http://{}", self.apis[i]),
            endpoints,
            active,
            mirror,
        );
        spec.ttl = DEFAULT_TTL;
        spec.margin = spec.ttl / 4;
        spec.pulses = Some(pulses);
        spec
    }

    /// Start controller `i`'s runtime (it campaigns; the other being active, it stays standby).
    async fn start(&self, i: usize, boot_id: Option<String>) -> Result<()> {
        let mut slots = self.slots.lock().await;
        if slots[i].pair.is_some() {
            return Ok(());
        }
        // The previous runtime's listener goes with its aborted task: retry for a moment.
        let mut tries = 0;
        let listener = loop {
            match tokio::net::TcpListener::bind(self.apis[i]).await {
                Ok(l) => break l,
                Err(e) if tries >= 100 => {
                    return Err(e).with_context(|| {
                        format!("cannot listen on {} for {}", self.apis[i], PAIR[i])
                    })
                }
                Err(_) => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let pair = Pair::start(self.spec(i), listener).map_err(anyhow::Error::msg)?;
        let handle = pair.handle();
        let roles = self.roles.clone();
        let follow = tokio::spawn(async move {
            let mut last = handle.role();
            roles.send_modify(|r| r.0[i] = Some(last.clone()));
            while last != Role::Stopped {
                last = handle.wait_role(|r| *r != last).await;
                roles.send_modify(|r| r.0[i] = Some(last.clone()));
            }
        });
        slots[i] = Slot {
            pair: Some(pair),
            follow: Some(follow),
            boot_id,
        };
        Ok(())
    }

    /// Controller `i`'s runtime dies as in a crash: no resign, its lease runs out on its own.
    async fn crash(&self, i: usize) {
        let mut slots = self.slots.lock().await;
        let slot = std::mem::take(&mut slots[i]);
        if let Some(f) = slot.follow {
            f.abort();
        }
        if let Some(p) = slot.pair {
            p.abandon();
        }
        self.roles.send_modify(|r| r.0[i] = None);
    }

    /// Start controller-0 and wait until it is active (it is the first to campaign), then start
    /// watching both controllers' hosts, which starts controller-1 as standby.
    pub(crate) async fn run(
        self: &Arc<Self>,
        host_dirs: [PathBuf; 2],
    ) -> Result<Vec<JoinHandle<()>>> {
        let boot = host_status(&host_dirs[0]).await.map(|s| s.boot_id);
        self.start(0, boot).await?;
        let mut rx = self.roles.subscribe();
        // A bound on starting the lab (etcd and the first controller), not on behaviour.
        let waited = tokio::time::timeout(
            Duration::from_secs(60),
            rx.wait_for(|r| r.active().is_some()),
        )
        .await;
        if !matches!(waited, Ok(Ok(_))) {
            bail!(
                "no controller became active within 60 s (etcd log: {})",
                self.data_dir.join("etcd.log").display()
            );
        }
        let report = tokio::spawn(report_roles(
            self.roles.subscribe(),
            self.apis,
            self.data_dir.join(ROLES_FILE),
        ));
        let watch = tokio::spawn(watch_hosts(self.clone(), host_dirs));
        Ok(vec![report, watch])
    }

    /// The active controller's API address, following hand-overs: what the floating address
    /// relays to.
    pub(crate) async fn serve_floating(
        self: &Arc<Self>,
        listener: tokio::net::TcpListener,
    ) -> JoinHandle<()> {
        let (roles, apis) = (self.roles.subscribe(), self.apis);
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((inbound, _)) => {
                        tokio::spawn(relay(inbound, roles.clone(), apis));
                    }
                    Err(e) => {
                        tracing::warn!("floating API: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        })
    }

    /// Stop both runtimes (the standby first, so the active's resign hands nothing over), then etcd.
    pub(crate) async fn shutdown(&self) {
        let active = self.roles.borrow().active();
        let order = match active {
            Some(0) => [1, 0],
            _ => [0, 1],
        };
        for i in order {
            let slot = std::mem::take(&mut self.slots.lock().await[i]);
            if let Some(f) = slot.follow {
                f.abort();
            }
            if let Some(p) = slot.pair {
                p.shutdown().await;
            }
        }
        let _ = std::fs::remove_file(self.data_dir.join(ROLES_FILE));
        if let Some(etcd) = self.etcd.lock().await.take() {
            etcd.stop().await;
        }
    }
}

/// Relay one client connection to the active controller's API; during a hand-over wait for the
/// next active, and past [`FLOATING_WAIT`] go to a standby (reads answer, writes are refused with
/// the active's URL).
async fn relay(
    mut inbound: tokio::net::TcpStream,
    mut roles: watch::Receiver<Roles>,
    apis: [SocketAddr; 2],
) {
    let active = tokio::time::timeout(FLOATING_WAIT, roles.wait_for(|r| r.active().is_some()))
        .await
        .ok()
        .and_then(|r| r.ok().and_then(|r| r.active()));
    let Some(i) = active.or_else(|| roles.borrow().running()) else {
        return;
    };
    let Ok(mut outbound) = tokio::net::TcpStream::connect(apis[i]).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}

/// The simulated host's power and boot as its control socket reports them.
struct HostStatus {
    power_on: bool,
    agent_up: bool,
    /// `steward lab fail`: the machine stopped answering, and so does everything running on it.
    hung: bool,
    boot_id: String,
}

async fn host_status(dir: &Path) -> Option<HostStatus> {
    let line = steward_simhost::control(dir, "status").await.ok()?;
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .map(str::to_string)
    };
    Some(HostStatus {
        power_on: field("power")? == "on",
        agent_up: field("agent")? == "up",
        hung: field("agent")? == "hung",
        boot_id: field("boot_id")?,
    })
}

/// Each controller runtime lives on its host: it dies when the host loses power, hangs or boots
/// again, and starts (as standby) once the host is up.
async fn watch_hosts(lab: Arc<PairLab>, host_dirs: [PathBuf; 2]) {
    loop {
        for (i, dir) in host_dirs.iter().enumerate() {
            let Some(status) = host_status(dir).await else {
                continue;
            };
            let (running, boot) = {
                let slots = lab.slots.lock().await;
                (slots[i].pair.is_some(), slots[i].boot_id.clone())
            };
            let rebooted = boot.as_deref().is_some_and(|b| b != status.boot_id);
            if running && (!status.power_on || rebooted || status.hung) {
                let what = if !status.power_on {
                    "lost power"
                } else if status.hung {
                    "hung"
                } else {
                    "rebooted"
                };
                println!(
                    "{:<14} host {what}: its controller runtime dies with it (no resign: its lease runs out)",
                    PAIR[i],
                );
                lab.crash(i).await;
            } else if !running && status.power_on && status.agent_up {
                match lab.start(i, Some(status.boot_id)).await {
                    Ok(()) => println!(
                        "{:<14} host up: its controller runtime starts (standby unless nobody is active)",
                        PAIR[i]
                    ),
                    Err(e) => println!("{:<14} controller runtime did not start: {e:#}", PAIR[i]),
                }
            }
        }
        tokio::time::sleep(HOST_POLL).await;
    }
}

/// Print every change of the active controller with how long the pair was without one, and keep
/// `<data-dir>/controllers` current for `steward lab status`.
async fn report_roles(mut roles: watch::Receiver<Roles>, apis: [SocketAddr; 2], file: PathBuf) {
    let mut active: Option<usize> = None;
    // Since when nobody is active: (instant, who was, whether it crashed).
    let mut gap: Option<(Instant, String, bool)> = None;
    loop {
        let now = roles.borrow_and_update().clone();
        match (active, now.active()) {
            (Some(a), None) => {
                let crashed = now.0[a].is_none();
                gap = Some((Instant::now(), PAIR[a].to_string(), crashed));
            }
            (old, Some(b)) if old != Some(b) => {
                let epoch = match &now.0[b] {
                    Some(Role::Active { epoch }) => *epoch,
                    _ => 0,
                };
                match gap.take() {
                    Some((since, from, true)) => println!(
                        "{:<14} is active (epoch {epoch}): took over {:.1} s after {from} crashed",
                        PAIR[b],
                        since.elapsed().as_secs_f64()
                    ),
                    Some((since, from, false)) => println!(
                        "{:<14} is active (epoch {epoch}): took over from {from}, {:.1} s after it \
                         stepped down",
                        PAIR[b],
                        since.elapsed().as_secs_f64()
                    ),
                    None => println!("{:<14} is active (epoch {epoch})", PAIR[b]),
                }
            }
            _ => {}
        }
        active = now.active();
        let text: String = (0..2)
            .map(|i| {
                let role = match &now.0[i] {
                    Some(Role::Active { epoch }) => format!("active (epoch {epoch})"),
                    Some(Role::Standby { .. }) => "standby".to_string(),
                    Some(Role::Stopped) => "stopped".to_string(),
                    None => "down (with its host)".to_string(),
                };
                format!("{:<14} {role:<24} API http://{}\n", PAIR[i], apis[i])
            })
            .collect();
        let _ = std::fs::write(&file, text);
        if roles.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_has_addresses_of_its_own_apart_from_the_hosts() {
        assert_eq!(
            controller_address(Network::Mgmt, 0),
            lab::controller_address(Network::Mgmt)
        );
        assert_eq!(
            controller_address(Network::Cluster, 1),
            Ipv4Addr::new(127, 2, 0, 2)
        );
        for i in 0..2 {
            for h in 0..100 {
                assert_ne!(
                    controller_address(Network::Mgmt, i),
                    lab::host_address(Some(Network::Mgmt), h)
                );
            }
        }
    }

    #[test]
    fn roles_name_the_active_and_a_running_standby() {
        let mut r = Roles::default();
        assert_eq!(r.active(), None);
        r.0[1] = Some(Role::Standby { active: None });
        assert_eq!((r.active(), r.running()), (None, Some(1)));
        r.0[0] = Some(Role::Active { epoch: 3 });
        assert_eq!(r.active(), Some(0));
    }
}
