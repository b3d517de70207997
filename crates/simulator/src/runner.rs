//! The randomized runner: build a cluster from a seed, throw operator actions and faults at it, heal,
//! settle, and check the quiescence invariants.

use crate::invariants::Violation;
use crate::network::LinkParams;
use crate::prng::Rng;
use crate::pulse::{PulseConfig, PulseStats};
use crate::store::StorageFault;
use crate::world::{Fault, HostSetup, Stats, Timing, World, WorldConfig};
use std::time::Duration;
use steward_agent::FlagFile;
use steward_maintenance::action::OperatorAction;
use steward_maintenance::io::HwmonEvent;
use steward_maintenance::state::{Network, Personality, SystemType};
use steward_maintenance::{Config, Instant};

/// Relative weights of the faults the runner injects.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultWeights {
    pub crash: u32,
    pub hang: u32,
    pub boot_failure: u32,
    pub goenabled_failure: u32,
    /// Partition one network of one host.
    pub cut_one: u32,
    /// Partition the management network of many hosts at once (MNFA).
    pub cut_mass: u32,
    pub bmc_unreachable: u32,
    /// Make one link lossy/slow/duplicating.
    pub bad_link: u32,
    /// Heal one host early.
    pub heal_one: u32,
    /// A critical hardware sensor reading (reset or power cycle) for one host.
    pub sensor: u32,
    /// Create or remove a lock flag file behind the agent's back.
    pub tamper_flag: u32,
    /// A fault of the BMC a reinstall works through (an insert never mounted, a boot override read
    /// back differently, a refused eject or power-on, the BMC unreachable) or of the installing
    /// node (the installer never boots, so the new install never reports), aimed at a host being
    /// reinstalled when there is one.
    pub reinstall_fault: u32,
    /// Cut one host's pxeboot link for a while.
    pub pxeboot_cut: u32,
}

impl Default for FaultWeights {
    fn default() -> Self {
        FaultWeights {
            crash: 10,
            hang: 6,
            boot_failure: 4,
            goenabled_failure: 6,
            cut_one: 8,
            cut_mass: 6,
            bmc_unreachable: 4,
            bad_link: 3,
            heal_one: 10,
            sensor: 3,
            tamper_flag: 3,
            reinstall_fault: 4,
            pxeboot_cut: 4,
        }
    }
}

/// Relative weights of operator actions.
#[derive(Clone, Debug, PartialEq)]
pub struct OperatorWeights(pub Vec<(OperatorAction, u32)>);

impl Default for OperatorWeights {
    fn default() -> Self {
        use OperatorAction::*;
        OperatorWeights(vec![
            (Unlock, 20),
            (Lock, 14),
            (ForceLock, 5),
            (Reboot, 8),
            (Reset, 5),
            (PowerOff, 5),
            (PowerOn, 6),
            (Reinstall, 3),
            (Swact, 3),
            (ForceSwact, 1),
            (Delete, 1),
        ])
    }
}

/// One randomized run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub hosts: usize,
    pub system_type: SystemType,
    /// Timers of the core and of the simulated hardware are divided by this.
    pub scale: u32,
    /// Chaos period: operator actions and faults.
    pub duration: Duration,
    /// After healing, run at most this long waiting for every host to settle.
    pub settle_max: Duration,
    /// ... and require this long of continuous quiescence before the final checks.
    pub settle_stable: Duration,
    /// Mean time between faults (0: no faults).
    pub fault_interval: Duration,
    pub faults: FaultWeights,
    /// Mean time between operator requests (0: none).
    pub operator_interval: Duration,
    /// Mean time between controller restarts (a crash between steps, or a storage fault armed
    /// for the next step: crash before or after the commit, failed write); 0: none.
    pub restart_interval: Duration,
    pub operator: OperatorWeights,
    /// Share of hosts that start locked.
    pub locked_fraction: f64,
    /// Share of hosts without a BMC.
    pub no_bmc_fraction: f64,
    /// Share of hosts with a cluster network.
    pub cluster_fraction: f64,
    /// Share of BMC hosts with an install image (reinstalled by virtual media; the others by PXE,
    /// hosts without a BMC by the agent).
    pub install_image_fraction: f64,
    /// Share of hosts with a pxeboot address.
    pub pxeboot_fraction: f64,
    pub link: LinkParams,
    /// Start as after a whole-site power loss (dead office recovery).
    pub dead_office: bool,
    pub core: Config,
    /// Defer a deadline the core asks for again instead of failing `deadlines_make_progress`
    /// (default from env `STEWARD_SIM_LENIENT_DEADLINES`).
    pub lenient_deadlines: bool,
    /// Heartbeat model variant, see [`Timing::hb_clear_after_restart`] (default from env
    /// `STEWARD_SIM_HB_CLEAR_AFTER_RESTART`).
    pub hb_clear_after_restart: bool,
    /// Heartbeat at pulse level through the real Monitor (`steward-sim --pulses`); `None` keeps the
    /// event-level model of the seed tier.
    pub pulses: Option<PulseConfig>,
    /// Random controller restarts and storage faults in [`SimConfig::for_seed`]: on by default,
    /// `STEWARD_SIM_RESTARTS=0` turns them off (to tell a restart bug from another one).
    pub restarts: bool,
    /// Run a controller pair ([`crate::pair`]): chosen for a share of [`SimConfig::for_seed`]'s seeds
    /// when `pair_enabled`.
    pub pair: bool,
    /// Controller pairs in [`SimConfig::for_seed`]: on by default, `STEWARD_SIM_PAIR=0` turns them off.
    pub pair_enabled: bool,
    /// Mean time between faults of the pair (pauses, crashes, lease partitions and delays, swacts).
    pub pair_fault_interval: Duration,
}

impl SimConfig {
    /// A quiet configuration: no faults, no operator actions, clean links.
    pub fn quiet(seed: u64, hosts: usize) -> SimConfig {
        let scale = 10;
        SimConfig {
            seed,
            hosts,
            system_type: SystemType::Standard,
            scale,
            duration: Duration::from_secs(120),
            settle_max: Duration::from_secs(1200),
            settle_stable: Duration::from_secs(60),
            fault_interval: Duration::ZERO,
            faults: FaultWeights::default(),
            operator_interval: Duration::ZERO,
            restart_interval: Duration::ZERO,
            operator: OperatorWeights::default(),
            locked_fraction: 0.0,
            no_bmc_fraction: 0.0,
            cluster_fraction: 1.0,
            install_image_fraction: 0.0,
            pxeboot_fraction: 0.0,
            link: LinkParams::CLEAN,
            dead_office: false,
            core: Config::default().scaled(scale),
            lenient_deadlines: std::env::var_os("STEWARD_SIM_LENIENT_DEADLINES").is_some(),
            hb_clear_after_restart: std::env::var_os("STEWARD_SIM_HB_CLEAR_AFTER_RESTART")
                .is_some(),
            pulses: None,
            restarts: std::env::var("STEWARD_SIM_RESTARTS").map_or(true, |v| v != "0"),
            pair: false,
            pair_enabled: std::env::var("STEWARD_SIM_PAIR").map_or(true, |v| v != "0"),
            pair_fault_interval: Duration::ZERO,
        }
    }

    /// Everything derived from the seed and the host count, so that those two numbers replay a run.
    pub fn for_seed(seed: u64, hosts: usize) -> SimConfig {
        let mut r = Rng::new(seed ^ 0x5157_5741_5244_0001);
        let hosts = hosts.max(1);
        let system_type = if hosts == 1 {
            SystemType::AioSimplex
        } else {
            match r.below(10) {
                0..=6 => SystemType::Standard,
                _ => SystemType::AioDuplex,
            }
        };
        let mut c = SimConfig::quiet(seed, hosts);
        c.system_type = system_type;
        // Big clusters: shorter chaos, proportionally more events.
        let big = hosts > 100;
        c.duration = if big {
            Duration::from_secs(r.range(120, 240))
        } else {
            Duration::from_secs(r.range(300, 1200))
        };
        let per_host = |base_ms: u64| Duration::from_millis((base_ms / hosts as u64).max(50));
        c.fault_interval = per_host(r.range(60_000, 300_000));
        c.operator_interval = per_host(r.range(30_000, 200_000));
        // Restarts do not scale with the cluster: a few per run, none in a fifth of the runs.
        c.restart_interval = if r.chance(0.8) && c.restarts {
            Duration::from_secs(r.range(100, 400))
        } else {
            Duration::ZERO
        };
        c.locked_fraction = [0.0, 0.1, 0.25][r.below(3) as usize];
        c.no_bmc_fraction = [0.0, 0.0, 0.2, 0.5][r.below(4) as usize];
        c.cluster_fraction = [0.0, 0.5, 1.0][r.below(3) as usize];
        c.link = LinkParams {
            loss: [0.0, 0.001, 0.01][r.below(3) as usize],
            delay_min: Duration::from_millis(1),
            delay_max: Duration::from_millis(r.range(1, 30)),
            duplicate: [0.0, 0.01][r.below(2) as usize],
        };
        c.dead_office = r.chance(0.05);
        // A controller pair in a third of the runs with two controllers. Drawn last, so the other
        // choices of a seed stay what they were. The pair's own crashes replace random restarts.
        if c.pair_enabled && hosts >= 2 && system_type != SystemType::AioSimplex && r.chance(0.33) {
            c.pair = true;
            c.pair_fault_interval = Duration::from_secs(r.range(30, 120));
            c.restart_interval = Duration::ZERO;
        }
        // Reinstall methods and the pxeboot network, from a stream of their own so that the
        // choices above stay what they were for every seed.
        let mut r = Rng::new(seed ^ 0x5157_5741_5244_0002);
        c.install_image_fraction = [0.0, 0.5, 1.0][r.below(3) as usize];
        c.pxeboot_fraction = [0.0, 0.5, 1.0][r.below(3) as usize];
        c
    }
}

/// What a passing run did.
#[derive(Clone, Debug)]
pub struct Report {
    pub seed: u64,
    pub hosts: usize,
    pub system_type: SystemType,
    pub sim_time: Duration,
    /// Simulated time from heal to quiescence.
    pub settle_time: Duration,
    pub stats: Stats,
    /// Pulse-level heartbeat counters (pulse mode only).
    pub pulse: Option<PulseStats>,
    /// Controller pair counters (pair runs only).
    pub pair: Option<crate::pair::PairStats>,
}

/// The one-line command that replays a seed.
pub fn replay_command(seed: u64, hosts: usize) -> String {
    replay_command_with(seed, hosts, &SimConfig::quiet(seed, hosts))
}

fn replay_command_with(seed: u64, hosts: usize, cfg: &SimConfig) -> String {
    let mut env = String::new();
    if cfg.lenient_deadlines {
        env.push_str("STEWARD_SIM_LENIENT_DEADLINES=1 ");
    }
    if cfg.hb_clear_after_restart {
        env.push_str("STEWARD_SIM_HB_CLEAR_AFTER_RESTART=1 ");
    }
    if !cfg.restarts {
        env.push_str("STEWARD_SIM_RESTARTS=0 ");
    }
    if !cfg.pair_enabled {
        env.push_str("STEWARD_SIM_PAIR=0 ");
    }
    // A build with a deliberate bug replays only with the same bug compiled in.
    let m = steward_maintenance::MUTATION;
    if !m.is_empty() {
        env.push_str(&format!("STEWARD_MUTATION={m} "));
    }
    if cfg.pulses.is_some() {
        return format!(
            "{env}cargo run --release -p steward-simulator --bin steward-sim -- --pulses --hosts {hosts} --seed {seed}"
        );
    }
    format!(
        "{env}STEWARD_SIM_SEED={seed} STEWARD_SIM_HOSTS={hosts} cargo test -p steward-simulator --test seeds replay -- --nocapture"
    )
}

/// Host names and roles for a cluster of `n` hosts.
pub fn cluster_layout(
    n: usize,
    system: SystemType,
    rng: Option<&mut Rng>,
) -> Vec<(String, Personality)> {
    let mut out = Vec::with_capacity(n);
    let controllers = if system == SystemType::AioSimplex {
        1
    } else {
        2.min(n)
    };
    for i in 0..controllers {
        out.push((format!("controller-{i}"), Personality::Controller));
    }
    let with_storage = match rng {
        Some(r) => system == SystemType::Standard && n >= 6 && r.chance(0.3),
        None => false,
    };
    let storage = if with_storage { 2 } else { 0 };
    for i in 0..storage.min(n.saturating_sub(out.len())) {
        out.push((format!("storage-{i}"), Personality::Storage));
    }
    let mut w = 0;
    while out.len() < n {
        out.push((format!("worker-{w}"), Personality::Worker));
        w += 1;
    }
    out
}

/// The install image random runs give hosts reinstalled by virtual media.
pub const SIM_INSTALL_IMAGE: &str = "http://sim-images/installer.iso";

/// A randomized simulation of one seed.
pub struct Simulation {
    pub cfg: SimConfig,
    pub world: World,
    rng: Rng,
}

impl Simulation {
    pub fn new(cfg: SimConfig) -> Result<Simulation, Violation> {
        let mut rng = Rng::new(cfg.seed);
        // The per-host reinstall and pxeboot choices draw from their own stream.
        let mut extra = Rng::new(cfg.seed ^ 0x5157_5741_5244_0003);
        let layout = cluster_layout(cfg.hosts, cfg.system_type, Some(&mut rng));
        let hosts = layout
            .into_iter()
            .enumerate()
            .map(|(i, (name, personality))| {
                // The two controllers stay unlocked and BMC-equipped so the cluster has a standby.
                let controller = personality == Personality::Controller;
                let locked = !controller && i > 1 && rng.chance(cfg.locked_fraction);
                let bmc = controller || !rng.chance(cfg.no_bmc_fraction);
                // Reinstall by virtual media where there is an image and a (Redfish) BMC, by PXE
                // with a BMC and no image, by the agent without a BMC.
                let install_image = (bmc && extra.chance(cfg.install_image_fraction))
                    .then(|| SIM_INSTALL_IMAGE.to_string());
                HostSetup {
                    name,
                    personality,
                    locked,
                    bmc,
                    install_image,
                    cluster: rng.chance(cfg.cluster_fraction),
                    pxeboot: extra.chance(cfg.pxeboot_fraction),
                    link: cfg.link,
                }
            })
            .collect::<Vec<_>>();
        let mut timing = Timing::scaled(cfg.scale, &cfg.core);
        timing.hb_clear_after_restart = cfg.hb_clear_after_restart;
        let controller_uptime = if cfg.dead_office {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(30 * 86_400)
        };
        let world = World::new(WorldConfig {
            seed: rng.next_u64(),
            system_type: cfg.system_type,
            own_host: "controller-0".into(),
            controller_uptime,
            core: cfg.core.clone(),
            timing,
            hosts,
            pulses: cfg.pulses.clone(),
        })
        .map_err(|v| with_replay(v, &cfg))?;
        let mut world = world;
        world.strict_deadlines = !cfg.lenient_deadlines;
        // `STEWARD_SIM_VERBOSE=1` prints the whole trace as it happens (replays of a failing seed).
        world.verbose = std::env::var_os("STEWARD_SIM_VERBOSE").is_some();
        if cfg.pair && cfg.pulses.is_none() {
            world.enable_pair();
        }
        Ok(Simulation { cfg, world, rng })
    }

    /// Run chaos, heal, settle, check. The violation carries its replay command and recent trace.
    pub fn run(mut self) -> Result<Report, Violation> {
        let cfg = self.cfg.clone();
        self.run_inner().map_err(|v| with_replay(v, &cfg))
    }

    fn next_gap(rng: &mut Rng, mean: Duration) -> Option<Duration> {
        if mean.is_zero() {
            return None;
        }
        let m = mean.as_millis() as u64;
        Some(Duration::from_millis(rng.range(m / 4, m * 7 / 4).max(1)))
    }

    fn run_inner(&mut self) -> Result<Report, Violation> {
        let end = Instant::ZERO + self.cfg.duration;
        let mut next_fault =
            Self::next_gap(&mut self.rng, self.cfg.fault_interval).map(|d| Instant::ZERO + d);
        let mut next_op =
            Self::next_gap(&mut self.rng, self.cfg.operator_interval).map(|d| Instant::ZERO + d);
        let mut next_restart =
            Self::next_gap(&mut self.rng, self.cfg.restart_interval).map(|d| Instant::ZERO + d);
        let mut next_pair = if self.world.pair.is_some() {
            Self::next_gap(&mut self.rng, self.cfg.pair_fault_interval).map(|d| Instant::ZERO + d)
        } else {
            None
        };
        loop {
            let t = [next_fault, next_op, next_restart, next_pair]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(end)
                .min(end);
            self.world.run_until(t)?;
            if t >= end {
                break;
            }
            if next_fault == Some(t) {
                self.random_fault()?;
                next_fault = Self::next_gap(&mut self.rng, self.cfg.fault_interval).map(|d| t + d);
            } else if next_op == Some(t) {
                self.random_request()?;
                next_op = Self::next_gap(&mut self.rng, self.cfg.operator_interval).map(|d| t + d);
            } else if next_restart == Some(t) {
                self.random_restart()?;
                next_restart =
                    Self::next_gap(&mut self.rng, self.cfg.restart_interval).map(|d| t + d);
            } else if next_pair == Some(t) {
                self.random_pair_fault()?;
                next_pair =
                    Self::next_gap(&mut self.rng, self.cfg.pair_fault_interval).map(|d| t + d);
            }
        }
        // Heal everything and let the cluster settle.
        self.world.inject(Fault::HealAll)?;
        if self.world.pair.is_some() {
            self.world.inject_pair(crate::pair::PairFault::Heal)?;
        }
        let healed = self.world.now;
        let limit = healed + self.cfg.settle_max;
        let chunk = Duration::from_secs(5);
        let mut stable_since: Option<Instant> = None;
        while self.world.now < limit {
            let t = self.world.now + chunk;
            self.world.run_until(t)?;
            if self.world.quiescent() {
                let since = *stable_since.get_or_insert(self.world.now);
                if self.world.now.since(since) >= self.cfg.settle_stable {
                    break;
                }
            } else {
                stable_since = None;
            }
        }
        self.world.check_quiescence()?;
        Ok(Report {
            seed: self.cfg.seed,
            hosts: self.cfg.hosts,
            system_type: self.cfg.system_type,
            sim_time: self.world.now.since(Instant::ZERO),
            settle_time: stable_since.unwrap_or(self.world.now).since(healed),
            stats: self.world.stats.clone(),
            pulse: self.world.pulse.as_ref().map(|p| p.stats.clone()),
            pair: self.world.pair.as_ref().map(|p| p.stats.clone()),
        })
    }

    /// A fault of the controller pair: pauses and lease partitions around the TTL (6 s) and the
    /// margin, where the rule matters; crashes; delays; swacts.
    fn random_pair_fault(&mut self) -> Result<(), Violation> {
        use crate::pair::PairFault;
        let Some(pair) = self.world.pair.as_ref() else {
            return Ok(());
        };
        let active = pair.active.unwrap_or(0);
        let ctl = if self.rng.chance(0.7) {
            active
        } else {
            1 - active
        };
        let ms = |r: &mut Rng, lo: u64, hi: u64| Duration::from_millis(r.range(lo, hi));
        let fault = match self.rng.weighted(&[4, 3, 2, 2, 3]) {
            0 => PairFault::Pause {
                ctl,
                duration: ms(&mut self.rng, 200, 14_000),
            },
            1 => PairFault::PartitionLease {
                ctl,
                duration: ms(&mut self.rng, 500, 20_000),
            },
            2 => PairFault::DelayLease {
                ctl,
                extra: ms(&mut self.rng, 100, 3_000),
                duration: ms(&mut self.rng, 2_000, 30_000),
            },
            3 => PairFault::Crash {
                ctl,
                down: ms(&mut self.rng, 1_000, 30_000),
            },
            _ => PairFault::Swact,
        };
        self.world.inject_pair(fault)
    }

    /// A host the pair runs on (its controllers are left out of host faults and operator requests).
    fn pair_host(&self, host: &str) -> bool {
        self.world.pair_controller_of(host).is_some()
    }

    /// A random host other than the active controller, if there is one.
    fn victim(&mut self) -> Option<String> {
        let own = self.world.own_host().to_string();
        let candidates: Vec<&str> = self
            .world
            .nodes
            .iter()
            .filter(|n| n.name != own && !n.removed && !self.pair_host(&n.name))
            .map(|n| n.name.as_str())
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(self.rng.pick(&candidates).to_string())
    }

    fn heal_later(&mut self, fault: Fault, after_ms: (u64, u64)) {
        let d = Duration::from_millis(
            self.rng.range(after_ms.0, after_ms.1) / self.cfg.scale.max(1) as u64,
        );
        let at = self.world.now + d;
        self.world.schedule_step(at, fault.into());
    }

    fn random_fault(&mut self) -> Result<(), Violation> {
        let w = &self.cfg.faults;
        let weights = [
            w.crash,
            w.hang,
            w.boot_failure,
            w.goenabled_failure,
            w.cut_one,
            w.cut_mass,
            w.bmc_unreachable,
            w.bad_link,
            w.heal_one,
            w.sensor,
            w.tamper_flag,
            w.reinstall_fault,
            w.pxeboot_cut,
        ];
        if weights.iter().all(|w| *w == 0) {
            return Ok(());
        }
        let Some(host) = self.victim() else {
            return Ok(());
        };
        match self.rng.weighted(&weights) {
            0 => {
                self.world.inject(Fault::Crash(host.clone()))?;
                if self.rng.chance(0.5) {
                    self.heal_later(Fault::Heal(host), (30_000, 600_000));
                }
            }
            1 => {
                self.world.inject(Fault::Hang(host.clone()))?;
                if self.rng.chance(0.5) {
                    self.heal_later(Fault::Heal(host), (5_000, 600_000));
                }
            }
            2 => self.world.inject(Fault::BootFailure(host))?,
            3 => {
                let times = self.rng.range(1, 4) as u32;
                self.world.inject(Fault::GoEnabledFailure { host, times })?;
            }
            4 => {
                let network = if self.rng.chance(0.7) {
                    Network::Mgmt
                } else {
                    Network::Cluster
                };
                self.world.inject(Fault::Cut {
                    hosts: vec![host.clone()],
                    network,
                })?;
                // Heartbeat timing is not scaled: outages from a blip to minutes.
                let d = Duration::from_millis(self.rng.range(200, 120_000));
                let at = self.world.now + d;
                self.world.schedule_step(
                    at,
                    Fault::Restore {
                        hosts: vec![host],
                        network,
                    }
                    .into(),
                );
            }
            5 => {
                let own = self.world.own_host().to_string();
                let share = [0.3, 0.6, 1.0][self.rng.below(3) as usize];
                let hosts: Vec<String> = self
                    .world
                    .nodes
                    .iter()
                    .filter(|n| n.name != own && !self.pair_host(&n.name))
                    .map(|n| n.name.clone())
                    .collect::<Vec<_>>()
                    .into_iter()
                    .filter(|_| self.rng.chance(share))
                    .collect();
                let network = if self.rng.chance(0.8) {
                    Network::Mgmt
                } else {
                    Network::Cluster
                };
                self.world.inject(Fault::Cut {
                    hosts: hosts.clone(),
                    network,
                })?;
                let d = Duration::from_millis(self.rng.range(500, 60_000));
                let at = self.world.now + d;
                self.world
                    .schedule_step(at, Fault::Restore { hosts, network }.into());
            }
            6 => {
                self.world.inject(Fault::BmcUnreachable(host.clone()))?;
                if self.rng.chance(0.7) {
                    self.heal_later(Fault::BmcReachable(host), (10_000, 900_000));
                }
            }
            7 => {
                let network = if self.rng.chance(0.5) {
                    Network::Mgmt
                } else {
                    Network::Cluster
                };
                let params = LinkParams {
                    loss: [0.05, 0.2, 0.5][self.rng.below(3) as usize],
                    delay_min: Duration::from_millis(1),
                    delay_max: Duration::from_millis(self.rng.range(10, 500)),
                    duplicate: 0.05,
                };
                self.world.inject(Fault::Link {
                    host,
                    network,
                    params,
                })?;
            }
            8 => self.world.inject(Fault::Heal(host))?,
            9 => {
                let event = if self.rng.chance(0.5) {
                    HwmonEvent::Reset
                } else {
                    HwmonEvent::PowerCycle
                };
                self.world.inject(Fault::Sensor { host, event })?;
            }
            11 => self.random_reinstall_fault(host)?,
            12 => self.random_pxeboot_cut()?,
            _ => {
                let file = if self.rng.chance(0.5) {
                    FlagFile::Volatile
                } else {
                    FlagFile::Backup
                };
                let present = self.rng.chance(0.5);
                self.world.inject(Fault::TamperFlag {
                    host,
                    file,
                    present,
                })?;
            }
        }
        Ok(())
    }

    /// A fault on a reinstall's path, at a host being reinstalled if there is one (else at
    /// `fallback`): the BMC's virtual CD or power-on, the BMC itself, or the installer's boot.
    fn random_reinstall_fault(&mut self, fallback: String) -> Result<(), Violation> {
        use crate::vmedia::VmediaFault;
        // Which host is being reinstalled only aims the fault; nothing is judged from it.
        let reinstalling: Vec<String> = self
            .world
            .core
            .hosts()
            .filter(|r| r.action == steward_maintenance::action::Action::Reinstall)
            .map(|r| r.name().to_string())
            .filter(|h| !self.pair_host(h) && h != self.world.own_host())
            .collect();
        let host = if reinstalling.is_empty() {
            fallback
        } else {
            self.rng.pick(&reinstalling).clone()
        };
        let vmedia = |fault| Fault::Vmedia {
            host: host.clone(),
            fault,
        };
        let fault = match self.rng.below(7) {
            0 => vmedia(VmediaFault::NeverMounts),
            1 => vmedia(VmediaFault::OverrideDiffers),
            2 => vmedia(VmediaFault::EjectRefused),
            3 => vmedia(VmediaFault::PowerOnRefused),
            4 => Fault::BmcUnreachable(host.clone()),
            // The installer's boot never finishes: the new install never reports.
            _ => Fault::BootFailure(host.clone()),
        };
        self.world.inject(fault)?;
        if self.rng.chance(0.7) {
            self.heal_later(Fault::Heal(host), (30_000, 900_000));
        }
        Ok(())
    }

    /// Cut one host's pxeboot link for a blip to a few minutes (the alarm needs 60 s of silence).
    fn random_pxeboot_cut(&mut self) -> Result<(), Violation> {
        let own = self.world.own_host().to_string();
        let candidates: Vec<String> = self
            .world
            .nodes
            .iter()
            .filter(|n| n.pxeboot.is_some() && n.name != own && !n.removed)
            .map(|n| n.name.clone())
            .collect();
        if candidates.is_empty() {
            return Ok(());
        }
        let host = self.rng.pick(&candidates).clone();
        self.world.inject(Fault::Pxeboot {
            host: host.clone(),
            cut: true,
        })?;
        // Pxeboot monitoring is not scaled: outages from seconds to minutes.
        let d = Duration::from_millis(self.rng.range(1_000, 240_000));
        let at = self.world.now + d;
        self.world
            .schedule_step(at, Fault::Pxeboot { host, cut: false }.into());
        Ok(())
    }

    fn random_restart(&mut self) -> Result<(), Violation> {
        let fault = match self.rng.below(4) {
            0 => Fault::ControllerCrash,
            1 => Fault::Storage(StorageFault::CrashBeforeCommit),
            2 => Fault::Storage(StorageFault::CrashAfterCommit),
            _ => Fault::Storage(StorageFault::FailedWrite),
        };
        self.world.inject(fault)
    }

    fn random_request(&mut self) -> Result<(), Violation> {
        let weights: Vec<u32> = self.cfg.operator.0.iter().map(|(_, w)| *w).collect();
        if weights.iter().all(|w| *w == 0) {
            return Ok(());
        }
        let action = self.cfg.operator.0[self.rng.weighted(&weights)].0;
        // Mostly other hosts; sometimes the active controller itself, to exercise its protection.
        let names: Vec<String> = self
            .world
            .nodes
            .iter()
            .filter(|n| !n.removed)
            .map(|n| n.name.clone())
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let locked: Vec<String> = names
            .iter()
            .filter(|n| {
                self.world.checker.truth.admin_intent(n)
                    == Some(steward_maintenance::state::AdminState::Locked)
            })
            .cloned()
            .collect();
        let host = if self.rng.chance(0.05) {
            self.world.own_host().to_string()
        } else if action == OperatorAction::Reinstall
            && self.cfg.faults.reinstall_fault > 0
            && !locked.is_empty()
            && self.rng.chance(0.8)
        {
            // Reinstall is for locked hosts: aim most at one (the operator's record says which),
            // with the reinstall faults on.
            self.rng.pick(&locked).clone()
        } else {
            self.rng.pick(&names).clone()
        };
        if self.world.pair.is_some() && (self.pair_host(&host) || !self.world.pair_acting()) {
            // The pair's controllers are the pair's business; with no active, nobody answers.
            return Ok(());
        }
        let _refusal_is_fine = self.world.request(&host, action)?;
        Ok(())
    }
}

fn with_replay(mut v: Violation, cfg: &SimConfig) -> Violation {
    v.replay = Some(replay_command_with(cfg.seed, cfg.hosts, cfg));
    v
}
