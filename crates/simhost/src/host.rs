//! One simulated machine: disk, boot, power, faults; the real node agent runs on it while it is up,
//! and a Redfish BMC stands in front of its power.

use serde::{Deserialize, Serialize};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use steward_maintenance::state::PowerState;
use steward_node::{BootInfo, Machine, NodeConfig, NodeHandle};
use steward_protocol::{CpuSummary, Disk, Inventory, MemorySummary, Port};
use steward_simbmc::{Power, PowerTarget, SimBmc, SimBmcConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const BOOT_RECORD: &str = "boot.json";
/// `<dir>/persistent/install.json`: written by the installer (a boot from virtual media).
const INSTALL_RECORD: &str = "install.json";
/// What an install lays down again on the wiped disk, as the lab's image carries it: the process
/// monitor, go-enabled and service directories (the machine's platform configuration).
const INSTALLED_WITH_THE_IMAGE: [&str; 3] = ["pmon.d", "goenabled.d", "services.d"];

/// How one simulated machine behaves.
#[derive(Clone, Debug)]
pub struct SimHostConfig {
    pub name: String,
    /// `volatile/`, `persistent/` and `bmc.sock` live here.
    pub dir: PathBuf,
    /// From power-on (or reset) until the agent speaks.
    pub boot_delay: Duration,
    /// Serve the lab's control socket `<dir>/bmc.sock` (faults, status).
    pub control_socket: bool,
    /// The node agent started at every boot. Its files belong under `volatile/` and `persistent/`
    /// (see [`SimHostConfig::agent_dirs`]); `None`: the machine powers and boots, nothing speaks.
    pub agent: Option<NodeConfig>,
    /// The Redfish BMC in front of the machine's power.
    pub bmc: Option<SimBmcConfig>,
}

impl SimHostConfig {
    /// A 20 s boot, control socket on, no agent and no BMC yet.
    pub fn new(name: impl Into<String>, dir: impl Into<PathBuf>) -> SimHostConfig {
        SimHostConfig {
            name: name.into(),
            dir: dir.into(),
            boot_delay: Duration::from_secs(20),
            control_socket: true,
            agent: None,
            bmc: None,
        }
    }

    /// Where the agent's files go on this machine: the lock flag in `volatile/` (wiped at boot),
    /// its backup, state and scripts in `persistent/`.
    pub fn agent_dirs(&self, agent: NodeConfig) -> NodeConfig {
        agent.under_dirs(&self.dir.join("volatile"), &self.dir.join("persistent"))
    }
}

/// What the machine is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentState {
    /// Power is off.
    Off,
    /// Powered, not yet booted.
    Booting,
    /// Booted and answering.
    Up,
    /// Booted but not answering (the `hang` fault).
    Hung,
}

impl AgentState {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Off => "off",
            AgentState::Booting => "booting",
            AgentState::Up => "up",
            AgentState::Hung => "hung",
        }
    }
}

/// A snapshot of the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub power: PowerState,
    pub agent: AgentState,
    pub boot_id: u64,
}

/// `<dir>/persistent/boot.json`: written at every boot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootRecord {
    pub host: String,
    pub boot_id: u64,
    /// Wall-clock boot time, milliseconds since the Unix epoch.
    pub boot_time_ms: u64,
    /// Boots since the last install (wipe).
    pub boot_count: u64,
}

/// `<dir>/persistent/install.json`: the install the machine runs, written by the installer when it
/// booted from virtual media (absent on a machine never reinstalled that way).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallRecord {
    /// A fresh id for every install.
    pub install_id: u64,
    /// The image URL it was installed from, and its file name.
    pub image: String,
    pub image_name: String,
    /// Wall-clock install time, milliseconds since the Unix epoch.
    pub installed_at_ms: u64,
}

struct State {
    power: bool,
    /// Booted, regardless of hang.
    up: bool,
    hung: bool,
    /// Bumped by every power change, so a pending boot of an earlier power-on is ignored.
    gen: u64,
    boot_id: u64,
    booted_at: Instant,
    /// The running agent; dropping it aborts it (a power loss or reboot kills the agent).
    agent: Option<NodeHandle>,
    /// The BMC's one-time boot from virtual media: the image the next boot starts from.
    next_boot_media: Option<String>,
    /// The image the boot in progress installs (taken from `next_boot_media` when it began).
    installing: Option<String>,
}

struct Inner {
    cfg: SimHostConfig,
    state: Mutex<State>,
    /// The `reboot-hang` fault: the agent's reboot command returns without rebooting (a hung
    /// `systemctl reboot`, as the agent's failsafe sees it).
    reboot_hangs: AtomicBool,
    answering: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    bmc: Mutex<Option<SimBmc>>,
}

/// One simulated machine. Cheap to clone; all clones are the same machine.
#[derive(Clone)]
pub struct SimHost {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SimHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHost")
            .field("name", &self.inner.cfg.name)
            .field("status", &self.status())
            .finish()
    }
}

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// A poisoned lock means a panic elsewhere mid-update; the machine state is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SimHost {
    /// Creates the disk directories, starts the BMC and the control socket (inside a tokio
    /// runtime). `powered`: the machine is already up (booted at once, without the boot delay), as
    /// in a running cluster; otherwise it waits, powered off, for its BMC.
    pub async fn start(cfg: SimHostConfig, powered: bool) -> io::Result<SimHost> {
        std::fs::create_dir_all(cfg.dir.join("volatile"))?;
        std::fs::create_dir_all(cfg.dir.join("persistent"))?;
        let (answering, _) = watch::channel(false);
        let bmc_cfg = cfg.bmc.clone();
        let host = SimHost {
            inner: Arc::new(Inner {
                cfg,
                state: Mutex::new(State {
                    power: false,
                    up: false,
                    hung: false,
                    gen: 0,
                    boot_id: 0,
                    booted_at: Instant::now(),
                    agent: None,
                    next_boot_media: None,
                    installing: None,
                }),
                reboot_hangs: AtomicBool::new(false),
                answering,
                tasks: Mutex::new(Vec::new()),
                bmc: Mutex::new(None),
            }),
        };
        if let Some(bc) = bmc_cfg {
            let target = Arc::new(BmcTarget(Arc::downgrade(&host.inner)));
            let bmc = SimBmc::start(bc, target).await?;
            *lock(&host.inner.bmc) = Some(bmc);
        }
        if host.inner.cfg.control_socket {
            let t = crate::control::serve(host.clone())?;
            lock(&host.inner.tasks).push(t);
        }
        if powered {
            let gen = {
                let mut st = lock(&host.inner.state);
                st.power = true;
                st.gen += 1;
                st.gen
            };
            host.finish_boot(gen);
        }
        Ok(host)
    }

    pub fn name(&self) -> &str {
        &self.inner.cfg.name
    }

    pub fn dir(&self) -> &Path {
        &self.inner.cfg.dir
    }

    pub fn config(&self) -> &SimHostConfig {
        &self.inner.cfg
    }

    /// The simulated links and filesystems its agent's monitors watch, when it runs the lab's
    /// (`lab::lab_monitors`): cut a port or spoil a filesystem through them.
    pub fn lab_faults(&self) -> Option<&steward_node::monitors::LabFaults> {
        self.inner.cfg.agent.as_ref()?.monitors.lab.as_ref()
    }

    /// The Redfish BMC's base URL (`http://127.x.y.z:port`), if it has one.
    pub fn bmc_url(&self) -> Option<String> {
        lock(&self.inner.bmc).as_ref().map(|b| b.url())
    }

    /// The Redfish BMC's address, if it has one.
    pub fn bmc_addr(&self) -> Option<std::net::SocketAddr> {
        lock(&self.inner.bmc).as_ref().map(|b| b.addr())
    }

    /// Fault injection on the BMC: unreachable (connections dropped) or back.
    pub fn set_bmc_reachable(&self, on: bool) {
        if let Some(b) = lock(&self.inner.bmc).as_ref() {
            b.set_reachable(on);
        }
    }

    /// Fault injection on one of the BMC's sensors (see `SimBmc::set_sensor`).
    pub fn set_sensor(
        &self,
        name: &str,
        state: Option<steward_simbmc::SensorOverride>,
    ) -> Result<(), String> {
        match lock(&self.inner.bmc).as_ref() {
            Some(b) => b.set_sensor(name, state),
            None => Err("this simulated host has no BMC".into()),
        }
    }

    /// Make the BMC push an event about sensor `name` with its current health (see
    /// `SimBmc::push_sensor_state`): how many subscribers it goes to.
    pub fn push_sensor_event(&self, name: &str) -> Result<usize, String> {
        match lock(&self.inner.bmc).as_ref() {
            Some(b) => b.push_sensor_state(name),
            None => Err("this simulated host has no BMC".into()),
        }
    }

    /// True while booted and not hung (what a heartbeat would see).
    pub fn answering(&self) -> watch::Receiver<bool> {
        self.inner.answering.subscribe()
    }

    /// Statistics of the running agent, if one runs.
    pub fn agent_stats(&self) -> Option<steward_node::NodeStats> {
        lock(&self.inner.state).agent.as_ref().map(|a| a.stats())
    }

    pub fn status(&self) -> Status {
        let st = lock(&self.inner.state);
        Status {
            power: if st.power {
                PowerState::On
            } else {
                PowerState::Off
            },
            agent: if !st.power {
                AgentState::Off
            } else if !st.up {
                AgentState::Booting
            } else if st.hung {
                AgentState::Hung
            } else {
                AgentState::Up
            },
            boot_id: st.boot_id,
        }
    }

    /// The power state the BMC reads back.
    pub fn power(&self) -> PowerState {
        self.status().power
    }

    /// The boot record on disk, if any.
    pub fn boot_record(&self) -> Option<BootRecord> {
        let text = std::fs::read(self.persistent().join(BOOT_RECORD)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// The install record on disk: present once the machine was installed from virtual media.
    pub fn install_record(&self) -> Option<InstallRecord> {
        let text = std::fs::read(self.persistent().join(INSTALL_RECORD)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// What the BMC's virtual CD holds, if the machine has a BMC.
    pub fn bmc_media(&self) -> Option<steward_simbmc::MediaState> {
        lock(&self.inner.bmc).as_ref().map(|b| b.media())
    }

    /// Both lock flag files, if the machine has an agent: (volatile, backup).
    pub fn lock_flags(&self) -> Option<(bool, bool)> {
        let a = self.inner.cfg.agent.as_ref()?;
        Some((a.lock_flag.exists(), a.lock_flag_backup.exists()))
    }

    fn volatile(&self) -> PathBuf {
        self.inner.cfg.dir.join("volatile")
    }

    fn persistent(&self) -> PathBuf {
        self.inner.cfg.dir.join("persistent")
    }

    fn set_answering(&self, st: &State) {
        let v = st.power && st.up && !st.hung;
        self.inner.answering.send_if_modified(|cur| {
            let changed = *cur != v;
            *cur = v;
            changed
        });
    }

    // ---- power, as the BMC sees it ----

    /// Power on (a no-op when already on); the agent speaks after the boot delay.
    pub fn power_on(&self) -> PowerState {
        let mut st = lock(&self.inner.state);
        if !st.power {
            self.boot_locked(&mut st);
        }
        PowerState::On
    }

    /// Power off at once (a hard off, as a BMC does).
    pub fn power_off(&self) -> PowerState {
        let mut st = lock(&self.inner.state);
        st.power = false;
        st.up = false;
        st.hung = false;
        st.gen += 1;
        st.agent = None;
        self.set_answering(&st);
        PowerState::Off
    }

    /// Hard reset: the machine reboots (and powers on if it was off).
    pub fn power_reset(&self) -> PowerState {
        let mut st = lock(&self.inner.state);
        self.boot_locked(&mut st);
        PowerState::On
    }

    /// Power cycle: off, then on.
    pub fn power_cycle(&self) -> PowerState {
        self.power_reset()
    }

    fn boot_locked(&self, st: &mut State) {
        st.power = true;
        st.up = false;
        st.hung = false;
        st.gen += 1;
        // Only the boot the BMC set up starts from the media; any later one is from the disk.
        st.installing = st.next_boot_media.take();
        // The old boot's agent dies with it.
        st.agent = None;
        self.set_answering(st);
        let gen = st.gen;
        let me = Arc::downgrade(&self.inner);
        let delay = self.inner.cfg.boot_delay;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(inner) = me.upgrade() {
                SimHost { inner }.finish_boot(gen);
            }
        });
    }

    /// The boot of power generation `gen` completes: wipe the volatile part, write the boot record,
    /// start the agent (which restores the lock flag from its backup before anything else).
    fn finish_boot(&self, gen: u64) {
        let mut st = lock(&self.inner.state);
        if st.gen != gen || !st.power || st.up {
            return;
        }
        let vol = self.volatile();
        let _ = std::fs::remove_dir_all(&vol);
        if let Err(e) = std::fs::create_dir_all(&vol) {
            tracing::warn!(host = self.name(), "cannot create {}: {e}", vol.display());
        }
        let _ = std::fs::create_dir_all(self.persistent());
        if let Some(image) = st.installing.take() {
            self.install(&image);
        }
        let boot_count = self.boot_record().map_or(0, |r| r.boot_count) + 1;
        let mut boot_id = random_u64();
        if boot_id == st.boot_id {
            boot_id = boot_id.wrapping_add(1);
        }
        let rec = BootRecord {
            host: self.name().to_string(),
            boot_id,
            boot_time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64,
            boot_count,
        };
        let path = self.persistent().join(BOOT_RECORD);
        let tmp = path.with_extension("json.tmp");
        let written = std::fs::write(&tmp, serde_json::to_vec_pretty(&rec).unwrap_or_default())
            .and_then(|_| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(host = self.name(), "cannot write the boot record: {e}");
        }
        st.boot_id = boot_id;
        st.booted_at = Instant::now();
        st.up = true;
        st.hung = false;
        self.start_agent(&mut st);
        self.set_answering(&st);
    }

    /// The installer on the boot media runs: the disk is wiped but for what the image lays down
    /// again, and the install record names the image. The boot then goes on from the new install:
    /// a new boot record (its count restarts), and an agent without state, which takes the host as
    /// locked (a new install) and writes both lock flags.
    fn install(&self, image: &str) {
        let p = self.persistent();
        match std::fs::read_dir(&p) {
            Ok(entries) => {
                for e in entries.flatten() {
                    let name = e.file_name();
                    if INSTALLED_WITH_THE_IMAGE
                        .iter()
                        .any(|keep| name == std::ffi::OsStr::new(keep))
                    {
                        continue;
                    }
                    let path = e.path();
                    let gone = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    if let Err(e) = gone {
                        tracing::warn!(
                            host = self.name(),
                            "install: cannot wipe {}: {e}",
                            path.display()
                        );
                    }
                }
            }
            Err(e) => tracing::warn!(
                host = self.name(),
                "install: cannot read {}: {e}",
                p.display()
            ),
        }
        let path_part = image.split(['?', '#']).next().unwrap_or(image);
        let rec = InstallRecord {
            install_id: random_u64(),
            image: image.to_string(),
            image_name: path_part.rsplit('/').next().unwrap_or_default().to_string(),
            installed_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64,
        };
        let written = serde_json::to_vec_pretty(&rec)
            .map_err(io::Error::other)
            .and_then(|b| std::fs::write(p.join(INSTALL_RECORD), b));
        match written {
            Ok(()) => {
                tracing::info!(host = self.name(), image = %rec.image_name, install_id = rec.install_id, "installed from virtual media")
            }
            Err(e) => tracing::warn!(
                host = self.name(),
                "install: cannot write the install record: {e}"
            ),
        }
    }

    fn start_agent(&self, st: &mut State) {
        let Some(cfg) = self.inner.cfg.agent.clone() else {
            return;
        };
        let machine = Arc::new(SimMachine(Arc::downgrade(&self.inner)));
        match steward_node::spawn(cfg, machine) {
            Ok(h) => st.agent = Some(h),
            Err(e) => tracing::error!(host = self.name(), "the node agent cannot start: {e}"),
        }
    }

    // ---- faults ----

    /// The machine stops answering (agent frozen: it neither sends nor answers), power stays on.
    pub fn hang(&self) {
        let mut st = lock(&self.inner.state);
        st.hung = true;
        st.agent = None;
        self.set_answering(&st);
    }

    /// Power loss: off until its BMC powers it on (or `heal`).
    pub fn crash(&self) {
        self.power_off();
    }

    /// Fault injection on the agent's reboot command: `true`, it returns without rebooting (a
    /// wipe-disk still wipes); `false`, it reboots again. A BMC reset still reboots.
    pub fn set_reboot_hangs(&self, on: bool) {
        self.inner.reboot_hangs.store(on, Ordering::SeqCst);
    }

    /// Whether the `reboot-hang` fault is on.
    pub fn reboot_hangs(&self) -> bool {
        self.inner.reboot_hangs.load(Ordering::SeqCst)
    }

    /// Undo faults: a hung machine answers again (its agent restarts), a machine without power is
    /// powered on (and boots), the agent's reboot command works again.
    pub fn heal(&self) {
        self.set_reboot_hangs(false);
        let mut st = lock(&self.inner.state);
        if st.hung {
            st.hung = false;
            if st.up && st.agent.is_none() {
                self.start_agent(&mut st);
            }
        }
        self.set_answering(&st);
        if !st.power {
            self.boot_locked(&mut st);
        }
    }

    /// A reboot requested from inside the machine (the agent's reboot command).
    pub fn reboot(&self) {
        let mut st = lock(&self.inner.state);
        if st.power {
            self.boot_locked(&mut st);
        }
    }

    /// The agent's reboot command: a reboot, unless the `reboot-hang` fault holds it.
    fn reboot_command(&self) {
        if self.reboot_hangs() {
            tracing::warn!(
                host = self.name(),
                "reboot command hangs (lab fault): the machine stays up"
            );
            return;
        }
        self.reboot();
    }

    /// What the agent reports as this machine's hardware (fixed, derived from the name).
    pub fn inventory(&self) -> Inventory {
        let mut mac = [0x52, 0x54, 0x00, 0, 0, 0];
        let mut h: u32 = 2166136261;
        for b in self.name().bytes() {
            h = (h ^ b as u32).wrapping_mul(16777619);
        }
        mac[3..].copy_from_slice(&h.to_be_bytes()[1..]);
        Inventory {
            cpus: CpuSummary {
                sockets: 2,
                cores: 16,
                threads: 32,
                model: "Steward Simulated CPU @ 2.40GHz".into(),
            },
            memory: MemorySummary {
                total_mib: 65_536,
                available_mib: 61_440,
            },
            disks: vec![Disk {
                device: "sda".into(),
                size_mib: 476_940,
                rotational: false,
                serial: format!("SIM{h:08X}"),
            }],
            ports: vec![Port {
                name: "enp0s3".into(),
                mac,
                speed_mbps: 10_000,
                link_up: true,
            }],
        }
    }

    /// Stops the machine: agent, BMC, control socket (the disk stays).
    pub async fn shutdown(&self) {
        self.power_off();
        for t in lock(&self.inner.tasks).drain(..) {
            t.abort();
        }
        let bmc = lock(&self.inner.bmc).take();
        if let Some(b) = bmc {
            b.shutdown().await;
        }
        if self.inner.cfg.control_socket {
            let _ = std::fs::remove_file(crate::control::socket_path(&self.inner.cfg.dir));
        }
    }
}

/// The machine as its agent sees it. Weak: the agent must not keep a powered-off machine alive.
struct SimMachine(Weak<Inner>);

impl SimMachine {
    fn host(&self) -> Option<SimHost> {
        self.0.upgrade().map(|inner| SimHost { inner })
    }
}

impl Machine for SimMachine {
    fn boot(&self) -> BootInfo {
        match self.host() {
            Some(h) => {
                let st = lock(&h.inner.state);
                BootInfo {
                    boot_id: st.boot_id,
                    uptime: st.booted_at.elapsed(),
                }
            }
            None => BootInfo {
                boot_id: 0,
                uptime: Duration::ZERO,
            },
        }
    }

    fn reboot(&self) {
        if let Some(h) = self.host() {
            h.reboot_command();
        }
    }

    fn wipe_disk(&self) {
        if let Some(h) = self.host() {
            let p = h.persistent();
            let _ = std::fs::remove_dir_all(&p);
            let _ = std::fs::create_dir_all(&p);
            h.reboot_command();
        }
    }

    fn inventory(&self) -> Inventory {
        self.host().map(|h| h.inventory()).unwrap_or_default()
    }
}

/// The machine as its BMC sees it.
struct BmcTarget(Weak<Inner>);

impl PowerTarget for BmcTarget {
    fn power(&self) -> Power {
        match self.0.upgrade() {
            Some(inner) if lock(&inner.state).power => Power::On,
            _ => Power::Off,
        }
    }

    fn power_on(&self) {
        if let Some(inner) = self.0.upgrade() {
            SimHost { inner }.power_on();
        }
    }

    fn power_off(&self) {
        if let Some(inner) = self.0.upgrade() {
            SimHost { inner }.power_off();
        }
    }

    fn reset(&self) {
        if let Some(inner) = self.0.upgrade() {
            SimHost { inner }.power_reset();
        }
    }

    fn power_cycle(&self) {
        if let Some(inner) = self.0.upgrade() {
            SimHost { inner }.power_cycle();
        }
    }

    fn booting_from(&self, _device: steward_simbmc::BootDevice) {
        // Every BMC-started boot forgets media set up for an earlier one that never happened.
        if let Some(inner) = self.0.upgrade() {
            lock(&inner.state).next_boot_media = None;
        }
    }

    fn booting_from_media(&self, image: &str) {
        if let Some(inner) = self.0.upgrade() {
            lock(&inner.state).next_boot_media = Some(image.to_string());
        }
    }
}
