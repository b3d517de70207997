//! The world: the real core, the simulated hosts, BMCs and networks, one event queue and one clock.
//!
//! Time jumps to the next deadline: the earlier of the core's `poll_timeout()` and the head of the
//! simulator's queue (ordered by time, then by insertion sequence, so ties replay identically). Effects
//! are drained after every core call, checked against the invariants, and turned into scheduled events.

use crate::checks::node_side::NodeSideChecker;
use crate::checks::pxeboot::PxebootChecker;
use crate::checks::reinstall::{Machine, ReinstallChecker};
use crate::checks::restart::RestartChecker;
use crate::heartbeat::HbStep;
use crate::invariants::{Checker, Violation};
use crate::network::{Delivery, Link, LinkParams};
use crate::node::{Phase, SimBmc, SimDisk, SimNode};
use crate::prng::Rng;
use crate::pulse::{HbRecord, PulseConfig, PulseHeartbeat};
use crate::store::{FaultyStore, StorageFault};
use crate::truth::{Truth, TruthConfig};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use steward_agent::{
    Agent, AgentConfig, Destination, FlagFile, LockState, RunId, RunOutcome, ScriptSet, Startup,
};
use steward_maintenance::action::{Action, ActionId, JournalEntry, OperatorAction};
use steward_maintenance::alarm::AlarmChange;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::io::HwmonEvent;
use steward_maintenance::io::ProtocolNetwork;
use steward_maintenance::state::{
    AdminState, HostStates, Network, Personality, PowerState, SystemType,
};
use steward_maintenance::{
    BmcOp, BmcOutcome, BmcRequestId, CommandId, Config, Effect, Event, HeartbeatControl, Instant,
    Maintenance, NodeCommand, RequestError, SystemConfig,
};
use steward_protocol::{AckResult, Command, Message, WireCommand};
use steward_store::typed::TypedStore;
use steward_store::writeahead::HostIds;
use steward_store::writeahead::{self, Durable};
use steward_store::{SecretBox, Store};

/// How long simulated things take. Everything but the heartbeat ladder scales with the core's timers.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// Period of the agent's alive reports (the core's `alive_period`).
    pub alive_period: Duration,
    /// Period of the agent's lock flag audit.
    pub flag_audit_period: Duration,
    pub boot_min: Duration,
    pub boot_max: Duration,
    pub goenabled_min: Duration,
    pub goenabled_max: Duration,
    pub services_min: Duration,
    pub services_max: Duration,
    pub bmc_min: Duration,
    pub bmc_max: Duration,
    /// BMC reachability changes reach the core after this long (the BMC audit).
    pub bmc_access_detect: Duration,
    pub swact_delay: Duration,
    /// Whether a requested swact completes (the runtime's answer).
    pub swact_completes: bool,
    /// Heartbeat model variant (env `STEWARD_SIM_HB_CLEAR_AFTER_RESTART=1`): losses raised before a
    /// stop are reported cleared once monitoring restarts on a reachable host.
    pub hb_clear_after_restart: bool,
}

impl Timing {
    /// Default durations (docs/config.md) divided by `scale`, matching
    /// `Config::default().scaled(scale)`.
    pub fn scaled(scale: u32, cfg: &Config) -> Timing {
        let f = scale.max(1);
        let s = |secs: u64| Duration::from_millis(secs * 1000 / f as u64);
        Timing {
            alive_period: cfg.timeouts.alive_period.0,
            flag_audit_period: Duration::from_secs(1),
            boot_min: s(20),
            boot_max: s(60),
            goenabled_min: s(2),
            goenabled_max: s(10),
            services_min: s(1),
            services_max: s(5),
            bmc_min: s(1),
            bmc_max: s(11),
            bmc_access_detect: s(5),
            swact_delay: s(10),
            swact_completes: false,
            hb_clear_after_restart: std::env::var_os("STEWARD_SIM_HB_CLEAR_AFTER_RESTART")
                .is_some(),
        }
    }
}

/// One host to put in the world at start.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSetup {
    pub name: String,
    pub personality: Personality,
    /// Starts locked (a fresh install the core sees as locked-disabled-offline) instead of in service.
    pub locked: bool,
    pub bmc: bool,
    /// The host's install image URL (a Redfish BMC then reinstalls it by virtual media).
    pub install_image: Option<String>,
    pub cluster: bool,
    /// Has a pxeboot address: its agent also reports alive there and takes reboots from there
    /// (docs/protocol.md#the-pxeboot-network).
    pub pxeboot: bool,
    /// Link parameters of both networks.
    pub link: LinkParams,
}

/// Everything needed to build a world.
#[derive(Clone, Debug)]
pub struct WorldConfig {
    pub seed: u64,
    pub system_type: SystemType,
    /// The active controller the core runs on (no faults are injected into it).
    pub own_host: String,
    pub controller_uptime: Duration,
    pub core: Config,
    pub timing: Timing,
    pub hosts: Vec<HostSetup>,
    /// Heartbeat at pulse level through the real Monitor ([`crate::pulse`]); `None` keeps the cheap
    /// event-level model ([`crate::heartbeat`]).
    pub pulses: Option<PulseConfig>,
}

/// A fault injected into the simulated hardware or network.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Power loss: down until a BMC power-on/reset, or heal.
    Crash(String),
    /// Frozen with power on: answers nothing until a BMC reset, or heal.
    Hang(String),
    /// The next boot never completes.
    BootFailure(String),
    /// The next `times` go-enabled tests fail.
    GoEnabledFailure {
        host: String,
        times: u32,
    },
    /// Partition these hosts on one network.
    Cut {
        hosts: Vec<String>,
        network: Network,
    },
    /// Undo a cut.
    Restore {
        hosts: Vec<String>,
        network: Network,
    },
    /// Partition every host but the active controller on one network.
    CutAll(Network),
    RestoreAll(Network),
    BmcUnreachable(String),
    BmcReachable(String),
    /// Cut (`cut: true`) or restore one host's pxeboot link (heal restores it).
    Pxeboot {
        host: String,
        cut: bool,
    },
    /// Arm a fault of the host's BMC virtual CD (heal clears it).
    Vmedia {
        host: String,
        fault: crate::vmedia::VmediaFault,
    },
    /// Change a link's loss/delay/duplication.
    Link {
        host: String,
        network: Network,
        params: LinkParams,
    },
    /// Undo every fault of one host (crashed hosts get power back, hung ones resume).
    Heal(String),
    HealAll,
    /// A hardware monitor reading of this host reaches the core (a critical one asks for a reset or
    /// a power cycle).
    Sensor {
        host: String,
        event: HwmonEvent,
    },
    /// Create or remove one lock flag file behind the agent's back (an operator's hand, a stray
    /// script); the agent's audit must put it back.
    TamperFlag {
        host: String,
        file: FlagFile,
        present: bool,
    },
    /// Arm a storage fault: it strikes the next core step that has something to make durable,
    /// and the controller restarts from its store.
    Storage(StorageFault),
    /// The controller process dies between two steps and restarts from its store at once.
    ControllerCrash,
    /// The controller's own loop stops for this long (starved, SIGSTOPped, a clock jump): no heartbeat
    /// ticks, no replies handed in, no core events or timers. When it resumes, what arrived meanwhile
    /// is handled in arrival order, then the heartbeat ticks, then the core's overdue timers run.
    /// Operator requests are not held back. Heal does not end a stall early.
    ControllerStall(Duration),
}

/// Something scheduled by a script or the random runner.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Fault(Fault),
    Request {
        host: String,
        action: OperatorAction,
    },
}

impl From<Fault> for Step {
    fn from(f: Fault) -> Step {
        Step::Fault(f)
    }
}

/// Shorthand for a scripted operator request.
pub fn request(host: &str, action: OperatorAction) -> Step {
    Step::Request {
        host: host.to_string(),
        action,
    }
}

#[derive(Clone, Debug)]
enum SimEvent {
    ToCore(Event),
    /// A node's message reaches the controller; lost if the controller restarted since it was sent
    /// (its socket died with the process).
    FromNode {
        ev: Event,
        session: u64,
    },
    NodeCmd {
        host: usize,
        id: CommandId,
        command: NodeCommand,
        net: ProtocolNetwork,
        /// The controller session (and epoch) that sent it.
        session: u64,
    },
    BootDone {
        host: usize,
        epoch: u64,
    },
    /// The machine's first agent start (hosts up at the start of the run start their agents at a
    /// random phase).
    AgentStart {
        host: usize,
        epoch: u64,
    },
    /// The agent's `poll_timeout()` came (stale unless `at` is still the node's armed timer).
    AgentTimer {
        host: usize,
        epoch: u64,
        at: Instant,
    },
    /// A script set the agent started has finished.
    ScriptDone {
        host: usize,
        epoch: u64,
        run: RunId,
        set: ScriptSet,
    },
    BmcDone {
        host: usize,
        id: BmcRequestId,
        op: BmcOp,
        /// The controller session that asked: a restarted controller never hears the answer.
        session: u64,
    },
    Hb {
        host: usize,
        net: Network,
        step: HbStep,
        gen: u64,
    },
    SwactDone {
        completed: bool,
        session: u64,
    },
    /// A heartbeat pulse reaches a node (pulse mode).
    Pulse {
        host: usize,
        net: Network,
        seq: u64,
    },
    /// A node's answer to a pulse reaches the controller (pulse mode).
    PulseReply {
        host: usize,
        net: Network,
        seq: u64,
    },
    Step(Step),
    /// Something of the controller pair ([`crate::pair`]).
    Pair(crate::pair::PairEvent),
}

struct Scheduled {
    at: Instant,
    seq: u64,
    ev: SimEvent,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse for earliest first.
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// One operator request and its answer.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub at: Instant,
    pub host: String,
    pub action: OperatorAction,
    pub result: Result<ActionId, RequestError>,
    /// The controller answered: the step that accepted it was committed and the controller lived
    /// on (false: it crashed first, and the operator saw an error, even if the step was durable).
    pub answered: bool,
}

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub sim_events: u64,
    pub core_events: u64,
    pub core_timeouts: u64,
    pub effects: u64,
    pub requests_accepted: u64,
    pub requests_refused: u64,
    pub faults: u64,
    pub destructive_operator: u64,
    pub destructive_auto: u64,
    pub destructive_sensor: u64,
    pub mnfa_entered: u64,
    pub alarms_raised: u64,
    pub datagrams_dropped: u64,
    /// Deadlines the core asked for again right after being given them (lenient mode only).
    pub deadline_stalls: u64,
    /// Deliveries to the controller held back by a controller stall.
    pub stalled_deliveries: u64,
    /// Controller restarts (crashes, storage faults).
    pub controller_restarts: u64,
}

const TRACE_LINES: usize = 120;

/// The simulated cluster around one real core.
pub struct World {
    pub core: Maintenance,
    pub now: Instant,
    pub rng: Rng,
    pub timing: Timing,
    pub nodes: Vec<SimNode>,
    pub index: HashMap<String, usize>,
    pub checker: Checker,
    /// Node-side invariants, judged from the simulated disks.
    pub node_checks: NodeSideChecker,
    /// The controller's session (and fencing epoch) its commands carry; a restart takes a greater one.
    pub controller_session: u64,
    /// The agents forget remembered command ids when a controller's session changes (the real
    /// runtime's behaviour). `false` models an agent without that reset, which a restarted
    /// controller's reused command ids fool: the simulator must catch it.
    pub agent_session_reset: bool,
    pub stats: Stats,
    pub requests: Vec<RequestRecord>,
    /// The controller's store (in memory, with write faults) and the typed view of its epoch.
    pub store: Arc<FaultyStore>,
    pub typed: TypedStore,
    /// Hosts' integer ids as the store holds them (the write-ahead step gives new hosts theirs).
    host_ids: HostIds,
    /// Restart invariants, judged from the store.
    pub restart_checks: RestartChecker,
    /// Reinstall invariants, judged from the simulated machines and BMCs.
    pub reinstall_checks: ReinstallChecker,
    /// Pxeboot alarm invariant, judged from the simulated pxeboot links.
    pub pxeboot_checks: PxebootChecker,
    /// A storage fault armed for the next step with durable effects.
    storage_fault: Option<StorageFault>,
    /// The last drain crashed the controller (its step is not durable).
    last_step_crashed: bool,
    core_cfg: Config,
    system: SystemConfig,
    queue: BinaryHeap<Scheduled>,
    seq: u64,
    own: usize,
    trace: VecDeque<String>,
    last_seen: Vec<Option<(HostStates, Action, String)>>,
    base_links: Vec<LinkParams>,
    /// Trace everything interesting to stderr as it happens (scenario debugging).
    pub verbose: bool,
    /// A core that asks again for a deadline it was just given is a violation (`deadlines_make_progress`).
    /// When false (env `STEWARD_SIM_LENIENT_DEADLINES=1`), such a deadline is deferred by 10 ms and counted
    /// in `Stats::deadline_stalls`, so that the other invariants can still be explored.
    pub strict_deadlines: bool,
    last_core_timeout: Option<Instant>,
    /// Pulse-level heartbeat, when enabled ([`WorldConfig::pulses`]).
    pub pulse: Option<PulseHeartbeat>,
    /// The controller's loop is stalled until then ([`Fault::ControllerStall`]).
    pub stall_until: Option<Instant>,
    /// The controller pair, when enabled ([`World::enable_pair`]): the world's core is its active's.
    pub pair: Option<crate::pair::Pair>,
}

/// What runs next in [`World::run_until`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    Core,
    Sim,
    Tick,
}

impl World {
    pub fn new(cfg: WorldConfig) -> Result<World, Violation> {
        let mut rng = Rng::new(cfg.seed);
        let start = Instant::ZERO;
        let system = SystemConfig {
            system_type: cfg.system_type,
            own_host: cfg.own_host.clone(),
            controller_uptime: cfg.controller_uptime,
        };
        let core = Maintenance::new(cfg.core.clone(), system.clone(), start);
        let store = Arc::new(FaultyStore::default());
        let typed = open_epoch(&store).expect("a fresh in-memory store takes epoch 1");
        let mut nodes = Vec::with_capacity(cfg.hosts.len());
        let mut index = HashMap::new();
        for (i, h) in cfg.hosts.iter().enumerate() {
            let link = Link {
                params: h.link,
                cut: false,
            };
            let aio_controller =
                cfg.system_type.is_aio() && h.personality == Personality::Controller;
            // The disk as the last confirmed admin state left it.
            let confirmed = if h.locked {
                LockState::Locked { persist: true }
            } else {
                LockState::Unlocked
            };
            let flags = confirmed.target();
            nodes.push(SimNode {
                name: h.name.clone(),
                personality: h.personality,
                aio_controller,
                has_cluster: h.cluster,
                phase: Phase::Up,
                epoch: 1,
                boot_id: rng.next_u64(),
                booted_at: start,
                uptime_base: Duration::from_secs(rng.range(86_400, 10 * 86_400)),
                disk: SimDisk {
                    volatile_flag: flags.volatile,
                    backup_flag: flags.backup,
                    lock_state: Some(confirmed),
                    ..SimDisk::default()
                },
                agent: None,
                agent_timer: None,
                fresh_install_pending: false,
                installs: 0,
                links: [link, link],
                pxeboot: h.pxeboot.then_some(link),
                hb: [
                    crate::heartbeat::HbLink {
                        clear_after_restart: cfg.timing.hb_clear_after_restart,
                        ..crate::heartbeat::HbLink::new(true, true)
                    },
                    crate::heartbeat::HbLink {
                        clear_after_restart: cfg.timing.hb_clear_after_restart,
                        ..crate::heartbeat::HbLink::new(false, h.cluster)
                    },
                ],
                bmc: h.bmc.then_some(SimBmc { reachable: true }),
                vmedia: Default::default(),
                crashed: false,
                goenabled_failures: 0,
                boot_failure: false,
                boot_stuck: false,
                removed: false,
            });
            index.insert(h.name.clone(), i);
        }
        let own = *index
            .get(&cfg.own_host)
            .expect("own_host is one of the hosts");
        let n = nodes.len();
        let mut w = World {
            core,
            now: start,
            rng,
            timing: cfg.timing.clone(),
            nodes,
            index,
            checker: Checker::new(Truth::new(TruthConfig::new(&cfg.core, &cfg.own_host))),
            node_checks: NodeSideChecker::new(
                cfg.hosts.iter().map(|h| {
                    if h.locked {
                        LockState::Locked { persist: true }
                    } else {
                        LockState::Unlocked
                    }
                }),
                cfg.timing.flag_audit_period,
            ),
            controller_session: 1, // the store's first epoch
            agent_session_reset: true,
            stats: Stats::default(),
            requests: Vec::new(),
            store,
            typed,
            host_ids: HostIds::default(),
            restart_checks: RestartChecker::default(),
            reinstall_checks: ReinstallChecker::new(&cfg.core),
            pxeboot_checks: PxebootChecker::new(
                &cfg.core,
                cfg.system_type != SystemType::AioSimplex,
            ),
            storage_fault: None,
            last_step_crashed: false,
            core_cfg: cfg.core.clone(),
            system,
            queue: BinaryHeap::new(),
            seq: 0,
            own,
            trace: VecDeque::with_capacity(TRACE_LINES),
            last_seen: vec![None; n],
            base_links: cfg.hosts.iter().map(|h| h.link).collect(),
            verbose: false,
            strict_deadlines: std::env::var_os("STEWARD_SIM_LENIENT_DEADLINES").is_none(),
            last_core_timeout: None,
            pulse: cfg.pulses.clone().map(|p| PulseHeartbeat::new(p, n, start)),
            stall_until: None,
            pair: None,
        };
        for (i, h) in cfg.hosts.iter().enumerate() {
            let spec = HostSpec {
                name: h.name.clone(),
                uuid: format!("{:08x}-0000-4000-8000-{:012x}", w.rng.next_u64() as u32, i),
                personality: h.personality,
                mgmt_ip: Some(format!("10.{}.{}.{}", 1, i / 250, i % 250 + 2)),
                mgmt_mac: Some(format!(
                    "52:54:00:{:02x}:{:02x}:{:02x}",
                    (i >> 16) & 0xff,
                    (i >> 8) & 0xff,
                    i & 0xff
                )),
                pxeboot_ip: h
                    .pxeboot
                    .then(|| format!("10.{}.{}.{}", 3, i / 250, i % 250 + 2)),
                cluster_ip: h
                    .cluster
                    .then(|| format!("10.{}.{}.{}", 2, i / 250, i % 250 + 2)),
                bmc: h.bmc.then(|| BmcSpec {
                    protocol: BmcProtocol::Redfish,
                    address: format!("sim-bmc-{i}"),
                    username: "admin".into(),
                }),
                install: steward_maintenance::host::InstallSpec {
                    image: h.install_image.clone(),
                    method: None,
                },
            };
            let rec = if h.locked {
                HostRecord::new_install(spec, cfg.system_type)
            } else {
                HostRecord::in_service(spec, cfg.system_type)
            };
            let admin = rec.states.admin;
            w.checker.host_added(&h.name, admin);
            w.checker
                .truth
                .host_added(&h.name, h.locked, [true, h.cluster]);
            if h.pxeboot {
                w.pxeboot_checks.host_added(&h.name, start);
                w.pxeboot_checks.steady(&h.name, start, true);
            }
            if let Err(refusal) = w.core.add_host(start, rec) {
                panic!("simulated host {} refused by the core: {refusal}", h.name);
            }
            w.drain()?;
            // Agents start at a random phase so that hosts do not all speak in the same millisecond.
            let phase = w
                .rng
                .duration(Duration::from_millis(1), w.timing.alive_period);
            w.schedule(phase, SimEvent::AgentStart { host: i, epoch: 1 });
            if h.bmc {
                let d = w.rng.duration(Duration::from_millis(1), w.timing.bmc_max);
                w.schedule(
                    d,
                    SimEvent::ToCore(Event::BmcAccess {
                        host: h.name.clone(),
                        accessible: true,
                    }),
                );
            }
        }
        Ok(w)
    }

    // ----- the clock -----

    fn schedule(&mut self, after: Duration, ev: SimEvent) {
        self.schedule_at(self.now + after, ev);
    }

    fn schedule_at(&mut self, at: Instant, ev: SimEvent) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            ev,
        });
    }

    /// Schedule a scripted step at an absolute time.
    pub fn schedule_step(&mut self, at: Instant, step: Step) {
        let at = at.max(self.now);
        self.schedule_at(at, SimEvent::Step(step));
    }

    /// The next moment something happens, if anything.
    pub fn next_deadline(&self) -> Option<Instant> {
        let stall = self.stall_until.filter(|s| *s > self.now);
        let defer = |t: Instant| match stall {
            Some(s) if t < s => s,
            _ => t,
        };
        let core = self.core.poll_timeout().map(defer);
        let sim = self.queue.peek().map(|s| s.at);
        let tick = self.pulse.as_ref().map(|p| defer(p.monitor.next_tick()));
        [core, sim, tick].into_iter().flatten().min()
    }

    /// The controller's loop is stalled now.
    pub fn stalled(&self) -> bool {
        self.stall_until.is_some_and(|s| self.now < s)
    }

    /// Run every deadline up to and including `end`, then set the clock to `end`.
    pub fn run_until(&mut self, end: Instant) -> Result<(), Violation> {
        let mut same_instant = 0u32;
        loop {
            let mut core_t = self.core.poll_timeout();
            if self.pair.as_ref().is_some_and(|p| !p.acting()) {
                // No controller acts: nobody runs the core's timers.
                core_t = None;
            }
            if !self.strict_deadlines {
                if let (Some(c), Some(last)) = (core_t, self.last_core_timeout) {
                    if c <= last {
                        self.stats.deadline_stalls += 1;
                        core_t = Some(last + Duration::from_millis(10));
                    }
                }
            }
            // A stalled controller runs no timers and no heartbeat ticks until it resumes; then what
            // arrived meanwhile goes first, the heartbeat tick next, the core's overdue timers last.
            let stall = self.stall_until.filter(|s| *s > self.now);
            let mut core_deferred = false;
            if let (Some(c), Some(s)) = (core_t, stall) {
                if c < s {
                    core_t = Some(s);
                    core_deferred = true;
                }
            }
            let tick_t = self.pulse.as_ref().map(|p| {
                let t = p.monitor.next_tick();
                match stall {
                    Some(s) if t < s => s,
                    _ => t,
                }
            });
            let sim_t = self.queue.peek().map(|s| s.at);
            // Ties: the core before the simulator's events (as always), replies before the tick
            // (the Monitor's rule); after a stall the core's deferred timers come last.
            let core_rank = if core_deferred { 2 } else { 0 };
            let candidates = [
                core_t.map(|t| (t, core_rank, Next::Core)),
                sim_t.map(|t| (t, 1, Next::Sim)),
                tick_t.map(|t| (t, 3, Next::Tick)),
            ];
            let Some((at, _, next)) = candidates
                .into_iter()
                .flatten()
                .min_by_key(|(t, rank, _)| (*t, *rank))
            else {
                break;
            };
            if at > end {
                break;
            }
            if at <= self.now {
                same_instant += 1;
                if same_instant > 100_000 {
                    let busy: Vec<String> = self
                        .core
                        .hosts()
                        .filter(|r| r.action != Action::None || !r.task.is_empty())
                        .take(6)
                        .map(|r| {
                            format!(
                                "{} {} action={} task='{}'",
                                r.name(),
                                r.states,
                                r.action,
                                r.task
                            )
                        })
                        .collect();
                    let v = Violation::new(
                        crate::invariants::Invariant::DeadlinesMakeProgress,
                        self.now,
                        None,
                        format!(
                            "handle_timeout({}) leaves poll_timeout() at {:?}: 100000 calls without time advancing; \
                             busy hosts: {busy:?}",
                            self.now.as_millis(),
                            core_t.map(Instant::as_millis),
                        ),
                    );
                    return Err(self.decorate(v));
                }
            } else {
                same_instant = 0;
            }
            self.now = self.now.max(at);
            match next {
                Next::Core => {
                    self.last_core_timeout = Some(self.now);
                    self.stats.core_timeouts += 1;
                    self.core.handle_timeout(self.now);
                    self.drain()?;
                }
                Next::Sim => {
                    let s = self.queue.pop().expect("peeked");
                    self.stats.sim_events += 1;
                    self.process(s.ev)?;
                }
                Next::Tick => self.pulse_tick()?,
            }
        }
        self.now = self.now.max(end);
        self.reinstall_checks
            .check_deadlines(self.now)
            .and_then(|()| self.pxeboot_checks.check_clears(self.now))
            .map_err(|v| self.decorate(v))
    }

    // ----- the core boundary -----

    fn deliver(&mut self, ev: Event) -> Result<(), Violation> {
        if let Some(p) = self.pair.as_mut().filter(|p| !p.acting()) {
            // No controller acts: what was meant for the active is lost with it.
            p.stats.undelivered += 1;
            return Ok(());
        }
        if let Some(until) = self.stall_until.filter(|s| *s > self.now) {
            // The controller is stalled: the message waits in its socket buffer, and dies with the
            // process if another one takes over meanwhile.
            self.stats.stalled_deliveries += 1;
            let session = self.controller_session;
            self.schedule_at(until, SimEvent::FromNode { ev, session });
            return Ok(());
        }
        self.stats.core_events += 1;
        match &ev {
            // A pxeboot report feeds only the core's pxeboot monitor.
            Event::Alive(a) if a.network == ProtocolNetwork::Pxeboot => {
                self.pxeboot_checks.report_delivered(&a.host, self.now)
            }
            _ => self.checker.truth.delivered(self.now, &ev),
        }
        self.core.handle_event(self.now, ev);
        self.drain()
    }

    /// Ask the core for an operator action (refusals are recorded, not errors).
    pub fn request(
        &mut self,
        host: &str,
        action: OperatorAction,
    ) -> Result<Result<ActionId, RequestError>, Violation> {
        let r = self.core.request(self.now, host, action);
        self.checker.on_request(self.now, host, action, &r);
        match &r {
            Ok(id) => {
                self.stats.requests_accepted += 1;
                self.note(format!("request {action} {host} -> accepted {id}"));
            }
            Err(e) => {
                self.stats.requests_refused += 1;
                self.note(format!("request {action} {host} -> refused: {e}"));
            }
        }
        self.drain()?;
        let answered = !self.last_step_crashed;
        if let (Ok(id), OperatorAction::Reinstall) = (&r, action) {
            // A request whose step a crash struck lives on only if its acceptance was durable.
            let durable = answered
                || self.typed.journal().is_ok_and(|j| {
                    j.iter().any(|(_, e)| {
                        matches!(&e.entry, JournalEntry::Accepted { id: a, .. } if a == id)
                    })
                });
            if durable {
                let installs = self.index.get(host).map_or(0, |i| self.nodes[*i].installs);
                self.reinstall_checks
                    .accepted(*id, host, self.now, installs);
            }
        }
        if answered {
            self.checker.after_request(self.now, host, &r)?;
            if let Ok(id) = &r {
                self.restart_checks
                    .acknowledged(*id, host, action, self.now);
            }
        }
        self.requests.push(RequestRecord {
            at: self.now,
            host: host.to_string(),
            action,
            result: r.clone(),
            answered,
        });
        Ok(r)
    }

    /// One step of the controller: every pending effect is checked against the step invariants,
    /// committed through the real write-ahead step, and only then carried out. An armed storage
    /// fault strikes here and restarts the controller.
    fn drain(&mut self) -> Result<(), Violation> {
        self.last_step_crashed = false;
        let mut effects = Vec::new();
        while let Some(e) = self.core.poll_effect() {
            effects.push(e);
        }
        if effects.is_empty() {
            return Ok(());
        }
        // An active whose lease deadline has passed acts on nothing (crate::pair).
        if let crate::pair::Gate::Dropped = self.pair_gate(&effects)? {
            self.last_step_crashed = true;
            return Ok(());
        }
        for e in &effects {
            self.stats.effects += 1;
            self.observe(e);
            if let Err(v) = self.checker.on_effect(&self.core, self.now, e) {
                return Err(self.decorate(v));
            }
            if let Err(v) = self.judge_reinstall_and_pxeboot(e) {
                return Err(self.decorate(v));
            }
        }
        self.pair_check_effects(&effects)?;
        let durable = effects.iter().any(|e| {
            matches!(
                e,
                Effect::HostChanged { .. }
                    | Effect::HostRemoved { .. }
                    | Effect::Alarm(_)
                    | Effect::Log(_)
                    | Effect::Journal(_)
            )
        });
        let fault = if durable {
            self.storage_fault.take()
        } else {
            None
        };
        if fault == Some(StorageFault::CrashBeforeCommit) {
            return self.restart_controller("crash before the commit");
        }
        if fault == Some(StorageFault::FailedWrite) {
            self.store.fail_next_write();
        }
        let step = match writeahead::commit(
            &self.core,
            effects,
            &self.typed,
            &mut self.host_ids,
            self.now.as_millis(),
        ) {
            Ok(step) => step,
            // The real actor stops on a failed write; its supervisor restarts it.
            Err(e) => return self.restart_controller(&format!("store write failed: {e}")),
        };
        if fault == Some(StorageFault::CrashAfterCommit) {
            return self.restart_controller("crash after the commit, before the effects");
        }
        for e in step.outside {
            self.carry_out(e);
        }
        Ok(())
    }

    /// The reinstall and pxeboot invariants for one effect, from the simulated machines and the
    /// operator's record of each host's lock.
    fn judge_reinstall_and_pxeboot(&mut self, e: &Effect) -> Result<(), Violation> {
        let now = self.now;
        let truth = &self.checker.truth;
        let (nodes, index) = (&self.nodes, &self.index);
        let locked = |host: &str| truth.admin_intent(host) == Some(AdminState::Locked);
        let machine = |host: &str| {
            index.get(host).map(|i| {
                let n = &nodes[*i];
                Machine {
                    powered: n.powered(),
                    installs: n.installs,
                    image: n.vmedia.image.clone(),
                    eject_impossible: n.vmedia.faults.eject_refused
                        || !n.bmc.is_some_and(|b| b.reachable),
                }
            })
        };
        self.reinstall_checks.on_effect(now, e, locked, machine)?;
        if let Effect::HostRemoved { host } = e {
            self.pxeboot_checks.host_removed(host);
        }
        self.pxeboot_checks.on_effect(now, e)
    }

    /// Pair mode: the controller on host `own` takes over. Like a restart (new epoch, restore from the
    /// store, new session), on its own host; the old active's stall, if any, was its own.
    pub(crate) fn take_over(&mut self, own: usize, why: &str) -> Result<(), Violation> {
        self.own = own;
        self.system.own_host = self.nodes[own].name.clone();
        self.checker.truth.cfg.own_host = self.nodes[own].name.clone();
        self.stall_until = None;
        self.restart_controller(why)
    }

    /// Turn on the controller pair on controller-0 (active) and controller-1 (standby).
    pub fn enable_pair(&mut self) {
        let (Some(&a), Some(&b)) = (
            self.index.get("controller-0"),
            self.index.get("controller-1"),
        ) else {
            return;
        };
        self.pair = Some(crate::pair::Pair::new(&mut self.rng, [a, b]));
        self.pair_start();
    }

    pub(crate) fn schedule_pair_at(&mut self, at: Instant, ev: crate::pair::PairEvent) {
        self.schedule_at(at, SimEvent::Pair(ev));
    }

    pub(crate) fn note_line(&mut self, line: String) {
        self.note(line);
    }

    pub(crate) fn schedule_to_core(&mut self, after: Duration, ev: Event) {
        self.schedule(after, SimEvent::ToCore(ev));
    }

    /// The controller process died: a new one takes the next epoch, rebuilds the core with
    /// `restore` from what is durable, and speaks to the agents in a new session (command ids
    /// from 1 again). What the old process had in flight dies with it.
    fn restart_controller(&mut self, why: &str) -> Result<(), Violation> {
        self.stats.controller_restarts += 1;
        self.last_step_crashed = true;
        self.note(format!("controller restart: {why}"));
        let typed = open_epoch(&self.store).map_err(|e| self.store_violation(e))?;
        self.controller_session = typed.epoch();
        let durable = Durable::load(&typed).map_err(|e| self.store_violation(e))?;
        let journal: Vec<JournalEntry> = typed
            .journal()
            .map_err(|e| self.store_violation(e))?
            .into_iter()
            .map(|(_, j)| j.entry)
            .collect();
        self.host_ids = HostIds::load(&typed).map_err(|e| self.store_violation(e))?;
        self.typed = typed;
        let system = SystemConfig {
            // The process restarted, not the machine.
            controller_uptime: self.system.controller_uptime + self.now.since(Instant::ZERO),
            ..self.system.clone()
        };
        self.pxeboot_checks.controller_restarted(
            self.now,
            durable.alarms.iter().map(|(id, h, _)| (*id, h.as_str())),
        );
        self.reinstall_checks.controller_restarted(self.now, |id| {
            journal
                .iter()
                .any(|j| matches!(j, JournalEntry::Accepted { id: a, .. } if *a == id))
        });
        self.checker.controller_restarted(
            durable.alarms.iter().cloned(),
            &journal,
            durable.hosts.iter().map(|r| {
                let parked = r.ar_disabled.is_some()
                    || steward_maintenance::host::ArCause::from_banner(&r.task).is_some();
                (r.name().to_string(), r.states.admin, parked)
            }),
            self.now,
        );
        for r in &durable.hosts {
            if r.states.oper != steward_maintenance::state::OperState::Enabled {
                self.checker
                    .truth
                    .restored_out_of_service(self.now, r.name());
            }
        }
        if let Err(v) = self
            .restart_checks
            .check_acknowledged(&self.typed, self.now)
        {
            return Err(self.decorate(v));
        }
        let mut core = Maintenance::new(self.core_cfg.clone(), system, self.now);
        core.restore(
            self.now,
            durable.hosts,
            durable.alarms,
            durable.next_action_id,
        );
        self.core = core;
        self.last_core_timeout = None;
        // The heartbeat service restarts with nothing monitored; the core starts what it wants.
        for n in &mut self.nodes {
            for hb in &mut n.hb {
                hb.stop();
            }
        }
        if let Some(p) = self.pulse.as_mut() {
            for n in &self.nodes {
                p.monitor.stop(&n.name);
            }
        }
        // The BMC workers probe every BMC afresh.
        for i in 0..self.nodes.len() {
            if let Some(b) = self.nodes[i].bmc {
                let ev = Event::BmcAccess {
                    host: self.nodes[i].name.clone(),
                    accessible: b.reachable,
                };
                let d = self
                    .rng
                    .duration(Duration::from_millis(1), self.timing.bmc_max);
                self.schedule(d, SimEvent::ToCore(ev));
            }
        }
        // The restore's own decisions go through the write-ahead step like any other.
        let r = self.drain();
        self.last_step_crashed = true;
        r
    }

    fn store_violation(&self, e: steward_store::StoreError) -> Violation {
        self.decorate(Violation::new(
            crate::invariants::Invariant::DurableStateMatchesCore,
            self.now,
            None,
            format!("the simulated store failed outside an injected fault: {e}"),
        ))
    }

    /// Attach the recent trace to a violation.
    pub fn decorate(&self, mut v: Violation) -> Violation {
        v.trace = self.trace.iter().cloned().collect();
        v
    }

    /// The last interesting things that happened.
    pub fn trace(&self) -> impl Iterator<Item = &str> {
        self.trace.iter().map(String::as_str)
    }

    fn note(&mut self, line: String) {
        let line = format!("t={:>8}ms {line}", self.now.as_millis());
        if self.verbose {
            eprintln!("{line}");
        }
        if self.trace.len() == TRACE_LINES {
            self.trace.pop_front();
        }
        self.trace.push_back(line);
    }

    fn observe(&mut self, e: &Effect) {
        match e {
            Effect::Send {
                host,
                command,
                cause,
                ..
            } if command.is_destructive() => {
                self.count_cause(*cause);
                self.note(format!("effect {command:?} -> {host} ({cause:?})"));
            }
            Effect::Bmc {
                host, op, cause, ..
            } if *op != BmcOp::PowerStatus => {
                if op.is_destructive() {
                    self.count_cause(*cause);
                }
                self.note(format!("effect bmc {op:?} -> {host} ({cause:?})"));
            }
            Effect::Alarm(AlarmChange::Raise(a)) => {
                self.stats.alarms_raised += 1;
                self.note(format!("alarm raise {} {} {:?}", a.id, a.host, a.severity));
            }
            Effect::Alarm(AlarmChange::Clear { id, host }) => {
                self.note(format!("alarm clear {id} {host}"))
            }
            Effect::Journal(JournalEntry::Accepted { id, host, action }) => {
                self.note(format!("journal accepted {id} {action} {host}"))
            }
            Effect::Journal(JournalEntry::Ended { id, host, outcome }) => {
                self.note(format!("journal ended {id} {host} {outcome:?}"))
            }
            Effect::Log(l) if l.text.contains("multi-node") => {
                if l.text.contains("entered") {
                    self.stats.mnfa_entered += 1;
                }
                self.note(format!("log {}", l.text));
            }
            Effect::HostChanged { host } => {
                if let (Some(&i), Some(rec)) = (self.index.get(host), self.core.host(host)) {
                    let now = (rec.states, rec.action, rec.task.clone());
                    if self.last_seen[i].as_ref() != Some(&now) {
                        let line =
                            format!("host {host} {} action={} task='{}'", now.0, now.1, now.2);
                        self.last_seen[i] = Some(now);
                        self.note(line);
                    }
                }
            }
            Effect::HostRemoved { host } => self.note(format!("host {host} removed")),
            Effect::Swact { to } => self.note(format!("effect swact to {to}")),
            _ => {}
        }
    }

    fn count_cause(&mut self, cause: steward_maintenance::Cause) {
        use steward_maintenance::Cause::*;
        match cause {
            Operator { .. } => self.stats.destructive_operator += 1,
            AutoRecovery => self.stats.destructive_auto += 1,
            CriticalSensor => self.stats.destructive_sensor += 1,
            Routine => {}
        }
    }

    fn carry_out(&mut self, e: Effect) {
        match e {
            Effect::Send {
                host,
                id,
                command,
                networks,
                ..
            } => {
                let Some(&i) = self.index.get(&host) else {
                    return;
                };
                let session = self.controller_session;
                // Pxeboot reaches only hosts with a pxeboot link (reboots go there too).
                for net in networks {
                    if !self.has_link(i, net) {
                        continue;
                    }
                    let cmd = SimEvent::NodeCmd {
                        host: i,
                        id,
                        command,
                        net,
                        session,
                    };
                    self.send_datagram(i, net, cmd);
                }
            }
            Effect::Bmc { host, id, op, .. } => {
                let Some(&i) = self.index.get(&host) else {
                    return;
                };
                if self.nodes[i].bmc.is_none() {
                    let ev = Event::Bmc {
                        host,
                        request: id,
                        outcome: BmcOutcome::Failed("not provisioned".into()),
                    };
                    self.schedule(Duration::from_millis(1), SimEvent::ToCore(ev));
                    return;
                }
                let d = self.rng.duration(self.timing.bmc_min, self.timing.bmc_max);
                let session = self.controller_session;
                self.schedule(
                    d,
                    SimEvent::BmcDone {
                        host: i,
                        id,
                        op,
                        session,
                    },
                );
            }
            Effect::Heartbeat { host, control } if self.pulse.is_some() => {
                self.pulse_control(host, control)
            }
            Effect::Heartbeat {
                host: Some(host),
                control,
            } => {
                let Some(&i) = self.index.get(&host) else {
                    return;
                };
                match control {
                    HeartbeatControl::Start => {
                        if self.pair.is_some() {
                            self.pair_heartbeat_started(&host);
                        }
                        for net in Network::ALL {
                            if !self.nodes[i].has(net) {
                                continue;
                            }
                            let timers = self.nodes[i].hb[net.index()].start();
                            for t in timers {
                                self.schedule(
                                    t.after,
                                    SimEvent::Hb {
                                        host: i,
                                        net,
                                        step: t.step,
                                        gen: t.gen,
                                    },
                                );
                            }
                        }
                    }
                    HeartbeatControl::Stop => {
                        for hb in &mut self.nodes[i].hb {
                            hb.stop_at(self.now);
                        }
                    }
                    HeartbeatControl::Backoff | HeartbeatControl::Recover => {}
                }
            }
            Effect::HostRemoved { host } => {
                if let Some(&i) = self.index.get(&host) {
                    self.nodes[i].removed = true;
                }
            }
            Effect::Swact { .. } => {
                let completed = self.timing.swact_completes;
                let session = self.controller_session;
                self.schedule(
                    self.timing.swact_delay,
                    SimEvent::SwactDone { completed, session },
                );
            }
            Effect::Heartbeat { host: None, .. }
            | Effect::Alarm(_)
            | Effect::Log(_)
            | Effect::HostChanged { .. }
            | Effect::Journal(_) => {}
        }
    }

    /// Host `i` is attached to `net` (management always; cluster and pxeboot when configured).
    fn has_link(&self, i: usize, net: ProtocolNetwork) -> bool {
        match net.heartbeat() {
            Some(n) => self.nodes[i].has(n),
            None => self.nodes[i].pxeboot.is_some(),
        }
    }

    fn transmit(&mut self, i: usize, net: impl Into<ProtocolNetwork>) -> Delivery {
        let net = net.into();
        let link = match net.heartbeat() {
            Some(n) => Some(self.nodes[i].links[n.index()]),
            None => self.nodes[i].pxeboot,
        };
        let Some(link) = link else {
            return Delivery::Dropped;
        };
        let d = link.transmit(&mut self.rng);
        if d == Delivery::Dropped {
            self.stats.datagrams_dropped += 1;
            self.checker.truth.dropped(self.now, &self.nodes[i].name);
        }
        d
    }

    /// One datagram over host `i`'s link on `net`: `ev` happens on arrival (twice if duplicated).
    fn send_datagram(&mut self, i: usize, net: impl Into<ProtocolNetwork>, ev: SimEvent) {
        match self.transmit(i, net) {
            Delivery::Dropped => {}
            Delivery::Once(d) => self.schedule(d, ev),
            Delivery::Twice(d1, d2) => {
                self.schedule(d1, ev.clone());
                self.schedule(d2, ev);
            }
        }
    }

    // ----- pulse-level heartbeat -----

    /// The Monitor's deadline came: close the round, hand its events to the core, send the pulses.
    fn pulse_tick(&mut self) -> Result<(), Violation> {
        let now = self.now;
        let Some(p) = self.pulse.as_mut() else {
            return Ok(());
        };
        let void_before = p.monitor.void_rounds;
        p.monitor.on_tick(now);
        p.stats.ticks += 1;
        p.stats.void_rounds = p.monitor.void_rounds;
        let voided = p.monitor.void_rounds - void_before;
        // The round just closed is the one before the round just opened.
        let closed = p.monitor.rounds_opened().saturating_sub(1);
        if voided > 0 {
            self.note(format!(
                "heartbeat round {closed} void: the controller ran late"
            ));
        }
        while let Some(out) = self.pulse.as_mut().and_then(|p| p.monitor.poll()) {
            match out {
                steward_heartbeat::Output::Pulse {
                    network,
                    seq,
                    hosts,
                } => {
                    for host in hosts {
                        let Some(&i) = self.index.get(&host) else {
                            continue;
                        };
                        if !self.nodes[i].has(network) {
                            continue;
                        }
                        if let Some(p) = self.pulse.as_mut() {
                            p.stats.pulses_sent += 1;
                        }
                        self.send_datagram(
                            i,
                            network,
                            SimEvent::Pulse {
                                host: i,
                                net: network,
                                seq,
                            },
                        );
                    }
                }
                steward_heartbeat::Output::Event {
                    host,
                    network,
                    event,
                    tally,
                } => {
                    let last_answered = match (self.index.get(&host), self.pulse.as_ref()) {
                        (Some(&i), Some(p)) => p.last_answered[i][network.index()],
                        _ => 0,
                    };
                    let record = HbRecord {
                        at: now,
                        host: host.clone(),
                        network,
                        event,
                        round: closed,
                        last_answered,
                    };
                    self.note(format!(
                        "heartbeat {event:?} {host} {network:?} round {closed} (last answered {last_answered})"
                    ));
                    if let Some(p) = self.pulse.as_mut() {
                        p.stats.events += 1;
                        p.log.push(record);
                    }
                    self.deliver(Event::Heartbeat {
                        host,
                        network,
                        event,
                        tally,
                    })?;
                }
            }
        }
        Ok(())
    }

    /// A node's answer reached the (running) controller.
    fn pulse_reply(&mut self, i: usize, net: Network, seq: u64) {
        let Some(p) = self.pulse.as_mut() else {
            return;
        };
        let name = &self.nodes[i].name;
        let counts = seq == p.monitor.rounds_opened() && p.monitor.is_monitored(name, net);
        p.monitor.on_reply(name, net, seq);
        if counts {
            p.stats.replies += 1;
            p.last_answered[i][net.index()] = seq;
        } else {
            p.stats.stale_replies += 1;
        }
    }

    /// The core's heartbeat controls, applied to the Monitor.
    fn pulse_control(&mut self, host: Option<String>, control: HeartbeatControl) {
        let targets: Vec<usize> = match &host {
            Some(h) => self.index.get(h).copied().into_iter().collect(),
            None => (0..self.nodes.len())
                .filter(|i| !self.nodes[*i].removed)
                .collect(),
        };
        let Some(p) = self.pulse.as_mut() else {
            return;
        };
        match control {
            HeartbeatControl::Start => {
                // Counting starts with the next round: the open one is not judged.
                let open = p.monitor.rounds_opened();
                for i in targets {
                    let n = &self.nodes[i];
                    for net in n.networks() {
                        p.monitor.start(&n.name, net);
                        p.last_answered[i][net.index()] = open;
                    }
                }
            }
            HeartbeatControl::Stop => {
                for i in targets {
                    p.monitor.stop(&self.nodes[i].name);
                }
            }
            HeartbeatControl::Backoff => p.set_backoff(true),
            HeartbeatControl::Recover => p.set_backoff(false),
        }
        if matches!(
            control,
            HeartbeatControl::Backoff | HeartbeatControl::Recover
        ) {
            let period = p.period();
            self.note(format!(
                "heartbeat {control:?}: period {} ms",
                period.as_millis()
            ));
        }
    }

    /// A node sends something to the controller over one of its networks.
    fn node_send(&mut self, i: usize, net: ProtocolNetwork, ev: Event) {
        if !self.has_link(i, net) {
            return;
        }
        // What goes on pxeboot feeds only the core's pxeboot monitor: it tells the ground truth of
        // the other invariants nothing new (the same report also goes on management).
        if net != ProtocolNetwork::Pxeboot {
            self.checker.truth.node_sent(self.now, &ev);
        }
        match self.transmit(i, net) {
            Delivery::Dropped => {}
            Delivery::Once(d) => {
                let session = self.controller_session;
                self.schedule(d, SimEvent::FromNode { ev, session });
            }
            Delivery::Twice(d1, d2) => {
                let session = self.controller_session;
                let first = SimEvent::FromNode {
                    ev: ev.clone(),
                    session,
                };
                self.schedule(d1, first);
                self.schedule(d2, SimEvent::FromNode { ev, session });
            }
        }
    }

    // ----- simulated host behaviour -----

    fn process(&mut self, ev: SimEvent) -> Result<(), Violation> {
        match ev {
            SimEvent::ToCore(ev) => self.deliver(ev)?,
            SimEvent::Pair(ev) => self.pair_event(ev)?,
            SimEvent::FromNode { ev, session } => {
                if session == self.controller_session {
                    self.deliver(ev)?;
                }
            }
            SimEvent::NodeCmd {
                host,
                id,
                command,
                net,
                session,
            } => self.node_command(host, id, command, net, session)?,
            SimEvent::BootDone { host, epoch } => {
                let n = &self.nodes[host];
                if n.epoch == epoch && n.phase == Phase::Booting {
                    self.boot_done(host)?;
                }
            }
            SimEvent::AgentStart { host, epoch } => {
                let n = &self.nodes[host];
                if n.epoch == epoch && n.phase == Phase::Up && n.agent.is_none() {
                    self.agent_start(host)?;
                }
            }
            SimEvent::AgentTimer { host, epoch, at } => {
                let n = &mut self.nodes[host];
                if n.epoch == epoch && n.agent_timer == Some(at) {
                    n.agent_timer = None;
                    // A hung machine's agent is frozen; healing runs its timers again.
                    if n.phase == Phase::Up {
                        self.agent_tick(host)?;
                    }
                }
            }
            SimEvent::ScriptDone {
                host,
                epoch,
                run,
                set,
            } => self.script_done(host, epoch, run, set)?,
            SimEvent::BmcDone {
                host,
                id,
                op,
                session,
            } => self.bmc_done(host, id, op, session)?,
            SimEvent::Hb {
                host,
                net,
                step,
                gen,
            } => {
                let events = self.nodes[host].hb[net.index()].fire_at(step, gen, self.now);
                let name = self.nodes[host].name.clone();
                for event in events {
                    self.deliver(Event::Heartbeat {
                        host: name.clone(),
                        network: net,
                        event,
                        tally: None,
                    })?;
                }
            }
            SimEvent::SwactDone { completed, session } => {
                if session == self.controller_session {
                    self.deliver(Event::SwactResult { completed })?;
                }
            }
            SimEvent::Pulse { host, net, seq } => {
                // A running agent answers every pulse it receives, on the network it came on.
                if self.nodes[host].phase == Phase::Up && self.nodes[host].has(net) {
                    self.send_datagram(host, net, SimEvent::PulseReply { host, net, seq });
                }
            }
            SimEvent::PulseReply { host, net, seq } => {
                if let Some(until) = self.stall_until.filter(|s| *s > self.now) {
                    self.stats.stalled_deliveries += 1;
                    self.schedule_at(until, SimEvent::PulseReply { host, net, seq });
                } else {
                    self.pulse_reply(host, net, seq);
                }
            }
            SimEvent::Step(step) => self.step(step)?,
        }
        Ok(())
    }

    /// A command datagram reached node `i` on `net`: the running agent handles it (the verifier's
    /// epoch fencing first: a frame of an older controller epoch than one already accepted is dropped).
    fn node_command(
        &mut self,
        i: usize,
        id: CommandId,
        command: NodeCommand,
        net: ProtocolNetwork,
        session: u64,
    ) -> Result<(), Violation> {
        let now_ms = self.now.as_millis();
        let controller = self.nodes[self.own].name.clone();
        let reset = self.agent_session_reset;
        let n = &mut self.nodes[i];
        if n.phase != Phase::Up || n.agent.is_none() || session < n.disk.highest_epoch {
            return Ok(()); // nobody home, or a deposed controller's frame
        }
        n.disk.highest_epoch = session;
        if self.verbose {
            let line = format!(
                "node {} gets {command:?} id {} session {session}",
                n.name, id.0
            );
            self.note(line);
        }
        let n = &mut self.nodes[i];
        let Some(agent) = n.agent.as_mut() else {
            return Ok(());
        };
        let cmd = Command {
            id,
            command: WireCommand::Known(command),
        };
        let fx = if reset {
            agent.handle_session_command(now_ms, net, &controller, session, cmd)
        } else {
            agent.handle_command(now_ms, net, &controller, cmd)
        };
        let acked_ok = fx.iter().any(|e| {
            matches!(e, steward_agent::Effect::Send { message: Message::Ack(a), .. }
                if a.id == id && a.result == AckResult::Ok)
        });
        if acked_ok {
            self.node_checks
                .command_accepted(i, self.now, session, id, command);
        }
        self.agent_effects(i, fx, Some((session, id)))
    }

    /// The configuration of node `i`'s agent (timings follow the core's scaled ones).
    fn agent_config(&self, i: usize) -> AgentConfig {
        let ms = |d: Duration| d.as_millis() as u64;
        AgentConfig {
            networks: self.nodes[i].networks().collect(),
            pxeboot: self.nodes[i].pxeboot.is_some(),
            alive_period_ms: ms(self.timing.alive_period),
            flag_audit_period_ms: ms(self.timing.flag_audit_period),
            agent_version: "steward-simulator".into(),
            ..AgentConfig::default()
        }
    }

    /// Start node `i`'s agent on its disk as it is now.
    fn agent_start(&mut self, i: usize) -> Result<(), Violation> {
        let cfg = self.agent_config(i);
        let now = self.now;
        let n = &mut self.nodes[i];
        let startup = Startup {
            now_ms: now.as_millis(),
            boot_id: n.boot_id,
            uptime_ms: n.uptime(now).as_millis() as u64,
            flags: n.disk.flags(),
            confirmed: n.disk.lock_state,
            settings: n.disk.settings,
            health: Default::default(),
        };
        let (agent, fx) = Agent::start(cfg, startup);
        n.agent = Some(agent);
        n.agent_timer = None;
        self.node_checks.disturbed(i, now);
        self.agent_effects(i, fx, None)?;
        let n = &self.nodes[i];
        self.node_checks
            .check_boot(i, &n.name, now, &n.disk)
            .map_err(|v| self.decorate(v))
    }

    /// Node `i`'s agent timers (flag audit, alive report), then the flag invariant.
    fn agent_tick(&mut self, i: usize) -> Result<(), Violation> {
        let now = self.now;
        let n = &mut self.nodes[i];
        let observed = n.disk.flags();
        let Some(agent) = n.agent.as_mut() else {
            return Ok(());
        };
        let fx = agent.handle_timeout(now.as_millis(), observed);
        self.agent_effects(i, fx, None)?;
        let n = &self.nodes[i];
        if n.agent.is_some() {
            self.node_checks
                .check_flags(i, &n.name, now, &n.disk)
                .map_err(|v| self.decorate(v))?;
        }
        Ok(())
    }

    /// Schedule the agent's next timer if it is earlier than the one armed.
    fn arm_agent_timer(&mut self, i: usize) {
        let n = &self.nodes[i];
        let Some(agent) = n.agent.as_ref() else {
            return;
        };
        let at = Instant::from_millis(agent.poll_timeout()).max(self.now);
        if n.agent_timer.is_some_and(|t| t <= at) {
            return;
        }
        let epoch = n.epoch;
        self.nodes[i].agent_timer = Some(at);
        self.schedule_at(at, SimEvent::AgentTimer { host: i, epoch, at });
    }

    /// A script set of node `i` ended (a hung machine's scripts are frozen with it).
    fn script_done(
        &mut self,
        i: usize,
        epoch: u64,
        run: RunId,
        set: ScriptSet,
    ) -> Result<(), Violation> {
        let n = &mut self.nodes[i];
        if n.epoch != epoch {
            return Ok(());
        }
        if n.phase == Phase::Hung {
            let ev = SimEvent::ScriptDone {
                host: i,
                epoch,
                run,
                set,
            };
            self.schedule(Duration::from_secs(1), ev);
            return Ok(());
        }
        if n.agent.is_none() {
            return Ok(());
        }
        let goenabled = matches!(set, ScriptSet::MainGoEnabled | ScriptSet::SubfGoEnabled);
        let passed = if goenabled && n.goenabled_failures > 0 {
            n.goenabled_failures -= 1;
            false
        } else {
            true
        };
        if !passed {
            // The injected failure strikes now, in whichever test runs next (perhaps the agent's
            // own start-up run, long after the injection): that is when the host has trouble.
            let name = n.name.clone();
            self.checker.truth.test_failed(self.now, &name);
        }
        let Some(agent) = self.nodes[i].agent.as_mut() else {
            return Ok(());
        };
        let detail = if passed {
            String::new()
        } else {
            "simulated go-enabled test failure".into()
        };
        let fx = agent.script_finished(self.now.as_millis(), run, RunOutcome { passed, detail });
        self.agent_effects(i, fx, None)
    }

    /// Carry out node `i`'s agent effects in order, as the node runtime does. `cmd`: the
    /// (session, id) of the command being handled, if any.
    fn agent_effects(
        &mut self,
        i: usize,
        fx: Vec<steward_agent::Effect>,
        cmd: Option<(u64, CommandId)>,
    ) -> Result<(), Violation> {
        use steward_agent::Effect as A;
        let mut going_down = None;
        for e in fx {
            match e {
                A::Send { to, message } => {
                    let nets = match to {
                        Destination::Controllers(nets) => nets,
                        Destination::Controller { network, .. } => vec![network],
                    };
                    for net in nets {
                        let name = self.nodes[i].name.clone();
                        if let Some(ev) = agent_message_to_core_event(&name, net, message.clone()) {
                            self.node_send(i, net, ev);
                        }
                    }
                }
                // The core keeps no inventory.
                A::SendInventory { .. } => {}
                A::SetFlag { file, present } => self.nodes[i].disk.set_flag(file, present),
                A::ApplySettings(s) => self.nodes[i].disk.settings = s,
                A::PersistLockState(s) => self.nodes[i].disk.lock_state = Some(s),
                A::RunScripts { run, set } => {
                    let (min, max) = match set {
                        ScriptSet::MainGoEnabled | ScriptSet::SubfGoEnabled => {
                            (self.timing.goenabled_min, self.timing.goenabled_max)
                        }
                        ScriptSet::ServicesStart | ScriptSet::ServicesStop => {
                            (self.timing.services_min, self.timing.services_max)
                        }
                    };
                    let d = self.rng.duration(min, max);
                    let epoch = self.nodes[i].epoch;
                    self.schedule(
                        d,
                        SimEvent::ScriptDone {
                            host: i,
                            epoch,
                            run,
                            set,
                        },
                    );
                }
                A::Reboot | A::WipeDisk => {
                    let wipe = matches!(e, A::WipeDisk);
                    if let Some((session, id)) = cmd {
                        let what = if wipe { "wipe-disk" } else { "reboot" };
                        let n = &self.nodes[i];
                        self.node_checks
                            .destructive_run(i, &n.name, self.now, session, id, what)
                            .map_err(|v| self.decorate(v))?;
                    }
                    going_down = Some(wipe);
                }
                A::Log { line, .. } => {
                    if self.verbose {
                        let name = self.nodes[i].name.clone();
                        self.note(format!("agent {name}: {line}"));
                    }
                }
            }
        }
        match going_down {
            Some(wipe) => {
                if wipe {
                    self.nodes[i].fresh_install_pending = true;
                }
                self.start_boot(i);
            }
            None => self.arm_agent_timer(i),
        }
        Ok(())
    }

    /// Power on (or reset): a new boot starts; the running agent (if any) is gone with the tmpfs.
    fn start_boot(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        // Whatever starts this boot (the BMC's power-on or reset, power back after a crash, a
        // reboot), the one-time override is used up by it: with the image mounted, the installer.
        if n.vmedia.boots_installer() {
            n.fresh_install_pending = true;
        }
        n.phase = Phase::Booting;
        n.epoch += 1;
        n.booted_at = self.now;
        n.uptime_base = Duration::ZERO;
        n.agent = None;
        n.agent_timer = None;
        n.disk.boot();
        let epoch = n.epoch;
        if n.boot_failure {
            n.boot_failure = false;
            n.boot_stuck = true;
        } else {
            n.boot_stuck = false;
            let d = self
                .rng
                .duration(self.timing.boot_min, self.timing.boot_max);
            self.schedule(d, SimEvent::BootDone { host: i, epoch });
        }
        self.refresh_reach(i);
    }

    fn boot_done(&mut self, i: usize) -> Result<(), Violation> {
        let id = self.rng.next_u64();
        let n = &mut self.nodes[i];
        n.phase = Phase::Up;
        n.boot_id = id;
        if n.fresh_install_pending {
            n.fresh_install_pending = false;
            n.installs += 1;
            n.disk.wipe();
            self.node_checks.disk_wiped(i, self.now);
        }
        self.refresh_reach(i);
        self.agent_start(i)
    }

    fn power_off(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.phase = Phase::Off;
        n.epoch += 1;
        n.boot_stuck = false;
        n.agent = None;
        n.agent_timer = None;
        n.disk.boot();
        self.refresh_reach(i);
    }

    /// Recompute reachability per network and feed the heartbeat model.
    fn refresh_reach(&mut self, i: usize) {
        let n = &self.nodes[i];
        if n.pxeboot.is_some() {
            self.pxeboot_checks
                .steady(&n.name, self.now, n.reachable(Network::Mgmt));
        }
        let reach = Network::ALL.map(|net| n.reachable(net));
        self.checker
            .truth
            .reach(self.now, &n.name, n.phase == Phase::Up, reach);
        if self.pulse.is_some() {
            return; // pulses find out for themselves
        }
        for net in Network::ALL {
            if !self.nodes[i].has(net) {
                continue;
            }
            let r = self.nodes[i].reachable(net);
            let timers = self.nodes[i].hb[net.index()].set_reachable(r);
            for t in timers {
                self.schedule(
                    t.after,
                    SimEvent::Hb {
                        host: i,
                        net,
                        step: t.step,
                        gen: t.gen,
                    },
                );
            }
        }
    }

    /// The BMC carried out `op` on the machine; the answer reaches the controller that asked,
    /// unless it restarted meanwhile.
    fn bmc_done(
        &mut self,
        i: usize,
        id: BmcRequestId,
        op: BmcOp,
        session: u64,
    ) -> Result<(), Violation> {
        let name = self.nodes[i].name.clone();
        let reachable = self.nodes[i].bmc.map(|b| b.reachable).unwrap_or(false);
        let outcome = self.bmc_carry_out(i, &op, reachable);
        if matches!(outcome, BmcOutcome::Done(_)) {
            self.reinstall_checks.bmc_carried_out(&name, &op);
        }
        if session != self.controller_session {
            return Ok(());
        }
        self.deliver(Event::Bmc {
            host: name,
            request: id,
            outcome,
        })
    }

    /// What the simulated BMC does with `op`, on the machine, and what it answers.
    fn bmc_carry_out(&mut self, i: usize, op: &BmcOp, reachable: bool) -> BmcOutcome {
        let op = op.clone();
        if !reachable {
            BmcOutcome::Failed("unreachable".into())
        } else if let Some(done) = self.nodes[i].vmedia.apply(&op) {
            match done {
                Ok(()) => BmcOutcome::Done(self.power_state(i)),
                Err(why) => BmcOutcome::Failed(why),
            }
        } else {
            match op {
                // Virtual-media operations were answered above.
                BmcOp::EjectMedia
                | BmcOp::InsertMedia { .. }
                | BmcOp::VerifyMedia { .. }
                | BmcOp::BootOnceVirtualCd => BmcOutcome::Done(self.power_state(i)),
                BmcOp::PowerStatus | BmcOp::NetbootOnce => {
                    if op == BmcOp::NetbootOnce {
                        self.nodes[i].fresh_install_pending = true;
                    }
                    BmcOutcome::Done(self.power_state(i))
                }
                BmcOp::PowerOn if self.nodes[i].vmedia.faults.power_on_refused => {
                    BmcOutcome::Failed("PowerOn refused (HTTP 500)".into())
                }
                BmcOp::PowerOn => {
                    if !self.nodes[i].powered() {
                        self.nodes[i].crashed = false;
                        self.start_boot(i);
                    }
                    BmcOutcome::Done(PowerState::On)
                }
                BmcOp::PowerOff => {
                    if self.nodes[i].powered() {
                        self.power_off(i);
                    }
                    BmcOutcome::Done(PowerState::Off)
                }
                BmcOp::PowerReset => {
                    // A reset reboots a running or hung host; an unpowered one is powered up.
                    self.nodes[i].crashed = false;
                    self.start_boot(i);
                    BmcOutcome::Done(PowerState::On)
                }
            }
        }
    }

    fn power_state(&self, i: usize) -> PowerState {
        if self.nodes[i].powered() {
            PowerState::On
        } else {
            PowerState::Off
        }
    }

    // ----- scripted steps and faults -----

    fn step(&mut self, step: Step) -> Result<(), Violation> {
        match step {
            Step::Request { host, action } => {
                let _refusal_is_fine = self.request(&host, action)?;
            }
            Step::Fault(f) => self.inject(f)?,
        }
        Ok(())
    }

    fn host_index(&self, name: &str) -> usize {
        *self
            .index
            .get(name)
            .unwrap_or_else(|| panic!("no simulated host named '{name}'"))
    }

    /// Inject a fault now (healing a hung host runs its agent's overdue timers, which are checked).
    pub fn inject(&mut self, fault: Fault) -> Result<(), Violation> {
        self.stats.faults += 1;
        self.note(format!("fault {fault:?}"));
        self.checker.truth.fault(self.now, &fault);
        match fault {
            Fault::Crash(h) => {
                let i = self.host_index(&h);
                if self.nodes[i].powered() {
                    self.nodes[i].crashed = true;
                    self.power_off(i);
                }
            }
            Fault::Hang(h) => {
                let i = self.host_index(&h);
                if self.nodes[i].phase == Phase::Up {
                    self.nodes[i].phase = Phase::Hung;
                    self.refresh_reach(i);
                }
            }
            Fault::BootFailure(h) => {
                let i = self.host_index(&h);
                self.nodes[i].boot_failure = true;
            }
            Fault::GoEnabledFailure { host, times } => {
                let i = self.host_index(&host);
                self.nodes[i].goenabled_failures += times;
            }
            Fault::Cut { hosts, network } => {
                for h in hosts {
                    let i = self.host_index(&h);
                    self.set_cut(i, network, true);
                }
            }
            Fault::Restore { hosts, network } => {
                for h in hosts {
                    let i = self.host_index(&h);
                    self.set_cut(i, network, false);
                }
            }
            Fault::CutAll(network) => {
                for i in 0..self.nodes.len() {
                    if i != self.own {
                        self.set_cut(i, network, true);
                    }
                }
            }
            Fault::RestoreAll(network) => {
                for i in 0..self.nodes.len() {
                    self.set_cut(i, network, false);
                }
            }
            Fault::BmcUnreachable(h) => {
                let i = self.host_index(&h);
                self.set_bmc_reachable(i, false);
            }
            Fault::BmcReachable(h) => {
                let i = self.host_index(&h);
                self.set_bmc_reachable(i, true);
            }
            Fault::Link {
                host,
                network,
                params,
            } => {
                let i = self.host_index(&host);
                self.nodes[i].links[network.index()].params = params;
            }
            Fault::Pxeboot { host, cut } => {
                let i = self.host_index(&host);
                self.set_pxeboot_cut(i, cut)?;
            }
            Fault::Vmedia { host, fault } => {
                let i = self.host_index(&host);
                self.nodes[i].vmedia.arm(fault);
            }
            Fault::Heal(h) => {
                let i = self.host_index(&h);
                self.heal(i)?;
            }
            Fault::HealAll => {
                for i in 0..self.nodes.len() {
                    self.heal(i)?;
                }
            }
            Fault::Sensor { host, event } => {
                let ev = Event::Hwmon { host, event };
                self.schedule(Duration::from_millis(1), SimEvent::ToCore(ev));
            }
            Fault::TamperFlag {
                host,
                file,
                present,
            } => {
                let i = self.host_index(&host);
                self.nodes[i].disk.set_flag(file, present);
                self.node_checks.disturbed(i, self.now);
            }
            Fault::Storage(f) => self.storage_fault = Some(f),
            Fault::ControllerCrash => self.restart_controller("crash between steps")?,
            Fault::ControllerStall(d) => {
                let until = self.now + d;
                self.stall_until = Some(self.stall_until.map_or(until, |s| s.max(until)));
            }
        }
        Ok(())
    }

    fn set_cut(&mut self, i: usize, net: Network, cut: bool) {
        if self.nodes[i].links[net.index()].cut != cut {
            self.nodes[i].links[net.index()].cut = cut;
            self.refresh_reach(i);
        }
    }

    fn set_pxeboot_cut(&mut self, i: usize, cut: bool) -> Result<(), Violation> {
        let Some(l) = self.nodes[i].pxeboot.as_mut() else {
            return Ok(());
        };
        l.cut = cut;
        let name = self.nodes[i].name.clone();
        self.pxeboot_checks
            .link(&name, self.now, cut)
            .map_err(|v| self.decorate(v))
    }

    fn set_bmc_reachable(&mut self, i: usize, reachable: bool) {
        let Some(b) = self.nodes[i].bmc.as_mut() else {
            return;
        };
        if b.reachable == reachable {
            return;
        }
        b.reachable = reachable;
        let ev = Event::BmcAccess {
            host: self.nodes[i].name.clone(),
            accessible: reachable,
        };
        self.schedule(self.timing.bmc_access_detect, SimEvent::ToCore(ev));
    }

    fn heal(&mut self, i: usize) -> Result<(), Violation> {
        for net in Network::ALL {
            self.nodes[i].links[net.index()].params = self.base_links[i];
            self.set_cut(i, net, false);
        }
        if let Some(l) = self.nodes[i].pxeboot.as_mut() {
            l.params = self.base_links[i];
        }
        self.set_pxeboot_cut(i, false)?;
        self.set_bmc_reachable(i, true);
        let n = &mut self.nodes[i];
        n.vmedia.heal();
        n.goenabled_failures = 0;
        n.boot_failure = false;
        if n.crashed && n.phase == Phase::Off {
            n.crashed = false;
            self.start_boot(i);
        } else if n.phase == Phase::Hung {
            n.phase = Phase::Up;
            self.refresh_reach(i);
            // The frozen agent resumes: its overdue timers run now (an alive report at once).
            return self.agent_tick(i);
        } else if n.phase == Phase::Booting && n.boot_stuck {
            self.start_boot(i);
        }
        Ok(())
    }

    // ----- views -----

    pub fn own_host(&self) -> &str {
        &self.nodes[self.own].name
    }

    pub fn node(&self, name: &str) -> Option<&SimNode> {
        self.index.get(name).map(|i| &self.nodes[*i])
    }

    /// Every host has no action and rests in a legal steady state.
    pub fn quiescent(&self) -> bool {
        if self.pair.as_ref().is_some_and(|p| !p.acting()) {
            return false;
        }
        let system = self.core.system().system_type;
        self.core.hosts().all(|r| {
            r.action == Action::None
                && steward_maintenance::dispatch::is_legal_steady_state(
                    r.states,
                    system,
                    r.ar_disabled.is_some(),
                )
        })
    }

    /// Check the quiescence invariants now.
    pub fn check_quiescence(&self) -> Result<(), Violation> {
        self.checker
            .at_quiescence(&self.core, self.now)
            .and_then(|()| self.reinstall_checks.check_deadlines(self.now))
            .and_then(|()| self.pxeboot_checks.check_clears(self.now))
            .and_then(|()| {
                self.restart_checks
                    .at_quiescence(&self.typed, &self.core, self.now)
            })
            .map_err(|v| self.decorate(v))
    }

    /// Admin state of a host in the core.
    pub fn admin(&self, name: &str) -> Option<AdminState> {
        self.core.host(name).map(|r| r.states.admin)
    }

    /// Journal entries seen so far.
    pub fn journal(&self) -> &[JournalEntry] {
        &self.checker.journal
    }
}

/// What the controller's node link hands the core for one message of a node agent (the real
/// translation, so the simulated controller hears exactly what a real one would). Frames are not
/// sealed in simulation: session, epoch and sequence play no part in the translation.
fn agent_message_to_core_event(
    host: &str,
    network: ProtocolNetwork,
    message: Message,
) -> Option<Event> {
    // The same translation the controller's node link applies to a verified datagram.
    steward_maintenance::node_message::to_event(host, network, &message)
}

/// Take the store's next epoch (a controller starting), as the real controller does at start.
fn open_epoch(store: &Arc<FaultyStore>) -> Result<TypedStore, steward_store::StoreError> {
    let epoch = store.epoch()? + 1;
    store.acquire_epoch(epoch)?;
    // BMC passwords never enter the simulation; the key only satisfies the typed store.
    let secrets = SecretBox::from_key([0x5e; 32]);
    Ok(TypedStore::new(store.clone(), secrets, epoch))
}
