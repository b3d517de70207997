//! One simulated machine: disk, boot, power, faults and the minimal node agent.

use serde::{Deserialize, Serialize};
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use steward_controller::EventSender;
use steward_maintenance::io::{AliveReport, CommandId, Event, NodeCommand, NodeFlags};
use steward_maintenance::state::{Network, PowerState};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

const LOCK_FLAG: &str = "node_locked";
const BOOT_RECORD: &str = "boot.json";

/// How one simulated machine behaves.
#[derive(Clone, Debug)]
pub struct SimHostConfig {
    pub name: String,
    /// `volatile/`, `persistent/` and `bmc.sock` live here.
    pub dir: PathBuf,
    /// From power-on (or reset) until the agent speaks.
    pub boot_delay: Duration,
    /// The agent's alive report period (the core's `timeouts.alive_period`).
    pub alive_period: Duration,
    /// How long the go-enabled tests take before they pass.
    pub goenabled_delay: Duration,
    /// Serve the BMC control socket `<dir>/bmc.sock`.
    pub control_socket: bool,
}

impl SimHostConfig {
    /// Reference-like timings: 20 s boot, 5 s alive period, 2 s go-enabled; control socket on.
    pub fn new(name: impl Into<String>, dir: impl Into<PathBuf>) -> SimHostConfig {
        SimHostConfig {
            name: name.into(),
            dir: dir.into(),
            boot_delay: Duration::from_secs(20),
            alive_period: Duration::from_secs(5),
            goenabled_delay: Duration::from_secs(2),
            control_socket: true,
        }
    }

    /// Every timing divided by `factor` (as `Config::scaled` does for the core).
    pub fn scaled(mut self, factor: u32) -> SimHostConfig {
        let f = factor.max(1);
        self.boot_delay /= f;
        self.alive_period /= f;
        self.goenabled_delay /= f;
        self
    }
}

/// What the agent is doing.
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

/// `<dir>/persistent/boot.json`: written at every boot, reported by the agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootRecord {
    pub host: String,
    pub boot_id: u64,
    /// Wall-clock boot time, milliseconds since the Unix epoch.
    pub boot_time_ms: u64,
    /// Boots since the last install (wipe).
    pub boot_count: u64,
}

struct State {
    power: bool,
    /// Booted (the agent runs), regardless of hang.
    up: bool,
    hung: bool,
    /// Bumped by every power change, so a pending boot of an earlier power-on is ignored.
    gen: u64,
    boot_id: u64,
    booted_at: Instant,
}

struct Inner {
    cfg: SimHostConfig,
    state: Mutex<State>,
    /// Ordered outbox of the agent; a forwarder task hands it to the sink.
    out: mpsc::UnboundedSender<Event>,
    sink: Mutex<Option<EventSender>>,
    answering: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
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

impl SimHost {
    /// Creates the disk directories and starts the machine's tasks (must run inside a tokio runtime).
    /// `powered`: the machine is already up (booted at once, without the boot delay), as in a running
    /// cluster; otherwise it waits, powered off, for its BMC.
    pub fn start(cfg: SimHostConfig, powered: bool) -> io::Result<SimHost> {
        std::fs::create_dir_all(cfg.dir.join("volatile"))?;
        std::fs::create_dir_all(cfg.dir.join("persistent"))?;
        let (out, mut out_rx) = mpsc::unbounded_channel::<Event>();
        let (answering, _) = watch::channel(false);
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
                }),
                out,
                sink: Mutex::new(None),
                answering,
                tasks: Mutex::new(Vec::new()),
            }),
        };
        let mut tasks = Vec::new();
        // Forwarder: the agent's messages, in order, to whoever listens.
        let weak = Arc::downgrade(&host.inner);
        tasks.push(tokio::spawn(async move {
            while let Some(ev) = out_rx.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                let sink = inner.sink.lock().unwrap().clone();
                drop(inner);
                if let Some(sink) = sink {
                    sink.send(ev).await;
                }
            }
        }));
        // The alive loop.
        let weak = Arc::downgrade(&host.inner);
        let period = host.inner.cfg.alive_period.max(Duration::from_millis(10));
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let h = SimHost { inner };
                if let Some(r) = h.alive_report() {
                    let _ = h.inner.out.send(Event::Alive(r));
                }
            }
        }));
        if host.inner.cfg.control_socket {
            tasks.push(crate::control::serve(host.clone())?);
        }
        *host.inner.tasks.lock().unwrap() = tasks;
        if powered {
            let gen = {
                let mut st = host.inner.state.lock().unwrap();
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

    /// Where the agent's messages go (the controller's event queue).
    pub fn set_sink(&self, sink: EventSender) {
        *self.inner.sink.lock().unwrap() = Some(sink);
    }

    /// True while booted and not hung; changes drive the heartbeat model.
    pub fn answering(&self) -> watch::Receiver<bool> {
        self.inner.answering.subscribe()
    }

    pub fn status(&self) -> Status {
        let st = self.inner.state.lock().unwrap();
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

    /// The lock flag the agent reports (`volatile/node_locked` exists).
    pub fn locked_flag(&self) -> bool {
        self.volatile().join(LOCK_FLAG).exists()
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
        let mut st = self.inner.state.lock().unwrap();
        if !st.power {
            self.boot_locked(&mut st);
        }
        PowerState::On
    }

    /// Power off at once (a hard off, as a BMC does).
    pub fn power_off(&self) -> PowerState {
        let mut st = self.inner.state.lock().unwrap();
        st.power = false;
        st.up = false;
        st.hung = false;
        st.gen += 1;
        self.set_answering(&st);
        PowerState::Off
    }

    /// Hard reset: the machine reboots (and powers on if it was off).
    pub fn power_reset(&self) -> PowerState {
        let mut st = self.inner.state.lock().unwrap();
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

    /// The boot of power generation `gen` completes: wipe the volatile part, restore the lock flag from
    /// its backup before anything else, write the boot record, start the agent.
    fn finish_boot(&self, gen: u64) {
        let mut st = self.inner.state.lock().unwrap();
        if st.gen != gen || !st.power || st.up {
            return;
        }
        let vol = self.volatile();
        let _ = std::fs::remove_dir_all(&vol);
        if let Err(e) = std::fs::create_dir_all(&vol) {
            tracing::warn!(host = self.name(), "cannot create {}: {e}", vol.display());
        }
        let backup = self.persistent().join(LOCK_FLAG);
        if backup.exists() {
            let _ = std::fs::write(vol.join(LOCK_FLAG), b"");
        }
        let _ = std::fs::create_dir_all(self.persistent());
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
        self.set_answering(&st);
        drop(st);
        if let Some(r) = self.alive_report() {
            let _ = self.inner.out.send(Event::Alive(r));
        }
    }

    // ---- faults ----

    /// The machine stops answering (agent and heartbeat), power stays on.
    pub fn hang(&self) {
        let mut st = self.inner.state.lock().unwrap();
        st.hung = true;
        self.set_answering(&st);
    }

    /// Power loss: off until its BMC powers it on (or `heal`).
    pub fn crash(&self) {
        self.power_off();
    }

    /// Undo faults: a hung machine answers again, a machine without power is powered on (and boots).
    pub fn heal(&self) {
        let mut st = self.inner.state.lock().unwrap();
        st.hung = false;
        self.set_answering(&st);
        if !st.power {
            self.boot_locked(&mut st);
        }
    }

    // ---- the agent ----

    /// The alive report the agent would send now (None when it is not answering).
    pub fn alive_report(&self) -> Option<AliveReport> {
        let st = self.inner.state.lock().unwrap();
        if !(st.power && st.up && !st.hung) {
            return None;
        }
        Some(AliveReport {
            host: self.name().to_string(),
            network: Network::Mgmt,
            boot_id: st.boot_id,
            uptime: st.booted_at.elapsed(),
            flags: NodeFlags {
                configured: true,
                healthy: true,
                locked: self.locked_flag(),
                ..NodeFlags::default()
            },
        })
    }

    fn answers(&self) -> bool {
        let st = self.inner.state.lock().unwrap();
        st.power && st.up && !st.hung
    }

    fn emit(&self, ev: Event) {
        let _ = self.inner.out.send(ev);
    }

    /// A command from the controller reaches the agent (dropped when it is not answering).
    pub fn deliver(&self, id: CommandId, command: NodeCommand) {
        if !self.answers() {
            return;
        }
        let host = self.name().to_string();
        if command != NodeCommand::RequestAlive {
            self.emit(Event::CommandAck {
                host: host.clone(),
                command: id,
                network: Network::Mgmt,
            });
        }
        match command {
            NodeCommand::RequestAlive => {
                if let Some(r) = self.alive_report() {
                    self.emit(Event::Alive(r));
                }
            }
            NodeCommand::Reboot | NodeCommand::LazyReboot => self.reboot(),
            NodeCommand::WipeDisk => {
                let p = self.persistent();
                let _ = std::fs::remove_dir_all(&p);
                let _ = std::fs::create_dir_all(&p);
                self.reboot();
            }
            NodeCommand::Locked { persist } => {
                let _ = std::fs::write(self.volatile().join(LOCK_FLAG), b"");
                if persist {
                    let _ = std::fs::write(self.persistent().join(LOCK_FLAG), b"");
                }
            }
            NodeCommand::Unlocked => {
                let _ = std::fs::remove_file(self.volatile().join(LOCK_FLAG));
                let _ = std::fs::remove_file(self.persistent().join(LOCK_FLAG));
            }
            NodeCommand::MainGoEnabled | NodeCommand::SubfGoEnabled => {
                let subfunction = command == NodeCommand::SubfGoEnabled;
                let me = self.clone();
                let gen = self.inner.state.lock().unwrap().gen;
                let delay = self.inner.cfg.goenabled_delay;
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    // Only if the same boot is still answering.
                    let same = me.inner.state.lock().unwrap().gen == gen;
                    if same && me.answers() {
                        me.emit(Event::GoEnabled {
                            host,
                            subfunction,
                            passed: true,
                            detail: String::new(),
                        });
                    }
                });
            }
            NodeCommand::StopServices => self.emit(Event::HostServices {
                host,
                passed: true,
                detail: String::new(),
            }),
        }
    }

    /// The agent reboots its machine: down now, back after the boot delay.
    pub fn reboot(&self) {
        let mut st = self.inner.state.lock().unwrap();
        if st.power {
            self.boot_locked(&mut st);
        }
    }

    /// Stops the machine's tasks and removes its control socket (the disk stays).
    pub fn shutdown(&self) {
        self.power_off();
        for t in self.inner.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        if self.inner.cfg.control_socket {
            let _ = std::fs::remove_file(crate::control::socket_path(&self.inner.cfg.dir));
        }
    }
}
