//! The world: the real core, the simulated hosts, BMCs and networks, one event queue and one clock.
//!
//! Time jumps to the next deadline: the earlier of the core's `poll_timeout()` and the head of the
//! simulator's queue (ordered by time, then by insertion sequence, so ties replay identically). Effects
//! are drained after every core call, checked against the invariants, and turned into scheduled events.

use crate::heartbeat::HbStep;
use crate::invariants::{Checker, Violation};
use crate::network::{Delivery, Link, LinkParams};
use crate::node::{Phase, SimBmc, SimNode};
use crate::prng::Rng;
use crate::pulse::{HbRecord, PulseConfig, PulseHeartbeat};
use crate::truth::{Truth, TruthConfig};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;
use steward_maintenance::action::{Action, ActionId, JournalEntry, OperatorAction};
use steward_maintenance::alarm::AlarmChange;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::io::HwmonEvent;
use steward_maintenance::state::{
    AdminState, HostStates, Network, Personality, PowerState, SystemType,
};
use steward_maintenance::{
    AliveReport, BmcOp, BmcOutcome, BmcRequestId, CommandId, Config, Effect, Event,
    HeartbeatControl, Instant, Maintenance, NodeCommand, RequestError, SystemConfig,
};

/// How long simulated things take. Everything but the heartbeat ladder scales with the core's timers.
#[derive(Clone, Debug, PartialEq)]
pub struct Timing {
    /// Period of the agent's alive reports (the core's `alive_period`).
    pub alive_period: Duration,
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
    /// Reference-like durations divided by `scale`, matching `Config::default().scaled(scale)`.
    pub fn scaled(scale: u32, cfg: &Config) -> Timing {
        let f = scale.max(1);
        let s = |secs: u64| Duration::from_millis(secs * 1000 / f as u64);
        Timing {
            alive_period: cfg.timeouts.alive_period.0,
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
    pub cluster: bool,
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
    NodeCmd {
        host: usize,
        id: CommandId,
        command: NodeCommand,
        net: Network,
    },
    BootDone {
        host: usize,
        epoch: u64,
    },
    AliveTick {
        host: usize,
        epoch: u64,
    },
    TestDone {
        host: usize,
        epoch: u64,
        subf: bool,
    },
    ServicesDone {
        host: usize,
        epoch: u64,
    },
    BmcDone {
        host: usize,
        id: BmcRequestId,
        op: BmcOp,
    },
    Hb {
        host: usize,
        net: Network,
        step: HbStep,
        gen: u64,
    },
    SwactDone {
        completed: bool,
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
    pub stats: Stats,
    pub requests: Vec<RequestRecord>,
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
        let core = Maintenance::new(cfg.core.clone(), system, start);
        let mut nodes = Vec::with_capacity(cfg.hosts.len());
        let mut index = HashMap::new();
        for (i, h) in cfg.hosts.iter().enumerate() {
            let link = Link {
                params: h.link,
                cut: false,
            };
            let aio_controller =
                cfg.system_type.is_aio() && h.personality == Personality::Controller;
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
                lock_volatile: h.locked,
                lock_persist: h.locked,
                main_goenabled: !h.locked,
                subf_goenabled: !h.locked && aio_controller,
                main_goenable_failed: false,
                subf_goenable_failed: false,
                fresh_install_pending: false,
                links: [link, link],
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
                seen_commands: VecDeque::new(),
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
            stats: Stats::default(),
            requests: Vec::new(),
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
                cluster_ip: h
                    .cluster
                    .then(|| format!("10.{}.{}.{}", 2, i / 250, i % 250 + 2)),
                bmc: h.bmc.then(|| BmcSpec {
                    protocol: BmcProtocol::Redfish,
                    address: format!("sim-bmc-{i}"),
                    username: "admin".into(),
                }),
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
            if let Err(refusal) = w.core.add_host(start, rec) {
                panic!("simulated host {} refused by the core: {refusal}", h.name);
            }
            w.drain()?;
            // Alive reports start at a random phase so that hosts do not all speak in the same millisecond.
            let phase = w
                .rng
                .duration(Duration::from_millis(1), w.timing.alive_period);
            w.schedule(phase, SimEvent::AliveTick { host: i, epoch: 1 });
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
        Ok(())
    }

    // ----- the core boundary -----

    fn deliver(&mut self, ev: Event) -> Result<(), Violation> {
        if let Some(until) = self.stall_until.filter(|s| *s > self.now) {
            // The controller is stalled: the message waits in its socket buffer.
            self.stats.stalled_deliveries += 1;
            self.schedule_at(until, SimEvent::ToCore(ev));
            return Ok(());
        }
        self.stats.core_events += 1;
        self.checker.truth.delivered(self.now, &ev);
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
        self.checker.after_request(self.now, host, &r)?;
        self.requests.push(RequestRecord {
            at: self.now,
            host: host.to_string(),
            action,
            result: r.clone(),
        });
        Ok(r)
    }

    /// Carry out every pending effect, checking the step invariants on each.
    fn drain(&mut self) -> Result<(), Violation> {
        while let Some(e) = self.core.poll_effect() {
            self.stats.effects += 1;
            self.observe(&e);
            if let Err(v) = self.checker.on_effect(&self.core, self.now, &e) {
                return Err(self.decorate(v));
            }
            self.carry_out(e);
        }
        Ok(())
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
                for net in networks {
                    if !self.nodes[i].has(net) {
                        continue;
                    }
                    match self.transmit(i, net) {
                        Delivery::Dropped => {}
                        Delivery::Once(d) => self.schedule(
                            d,
                            SimEvent::NodeCmd {
                                host: i,
                                id,
                                command,
                                net,
                            },
                        ),
                        Delivery::Twice(d1, d2) => {
                            self.schedule(
                                d1,
                                SimEvent::NodeCmd {
                                    host: i,
                                    id,
                                    command,
                                    net,
                                },
                            );
                            self.schedule(
                                d2,
                                SimEvent::NodeCmd {
                                    host: i,
                                    id,
                                    command,
                                    net,
                                },
                            );
                        }
                    }
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
                self.schedule(d, SimEvent::BmcDone { host: i, id, op });
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
                self.schedule(self.timing.swact_delay, SimEvent::SwactDone { completed });
            }
            Effect::Heartbeat { host: None, .. }
            | Effect::Alarm(_)
            | Effect::Log(_)
            | Effect::HostChanged { .. }
            | Effect::Journal(_) => {}
        }
    }

    fn transmit(&mut self, i: usize, net: Network) -> Delivery {
        let d = self.nodes[i].links[net.index()].transmit(&mut self.rng);
        if d == Delivery::Dropped {
            self.stats.datagrams_dropped += 1;
            self.checker.truth.dropped(self.now, &self.nodes[i].name);
        }
        d
    }

    /// One datagram over host `i`'s link on `net`: `ev` happens on arrival (twice if duplicated).
    fn send_datagram(&mut self, i: usize, net: Network, ev: SimEvent) {
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
    fn node_send(&mut self, i: usize, net: Network, ev: Event) {
        if !self.nodes[i].has(net) {
            return;
        }
        self.checker.truth.node_sent(self.now, &ev);
        match self.transmit(i, net) {
            Delivery::Dropped => {}
            Delivery::Once(d) => self.schedule(d, SimEvent::ToCore(ev)),
            Delivery::Twice(d1, d2) => {
                self.schedule(d1, SimEvent::ToCore(ev.clone()));
                self.schedule(d2, SimEvent::ToCore(ev));
            }
        }
    }

    fn alive(&self, i: usize, net: Network) -> Event {
        let n = &self.nodes[i];
        Event::Alive(AliveReport {
            host: n.name.clone(),
            network: net,
            boot_id: n.boot_id,
            uptime: n.uptime(self.now),
            flags: n.flags(),
        })
    }

    fn send_alive_all(&mut self, i: usize) {
        for net in Network::ALL {
            if self.nodes[i].reachable(net) {
                let ev = self.alive(i, net);
                self.node_send(i, net, ev);
            }
        }
    }

    // ----- simulated host behaviour -----

    fn process(&mut self, ev: SimEvent) -> Result<(), Violation> {
        match ev {
            SimEvent::ToCore(ev) => self.deliver(ev)?,
            SimEvent::NodeCmd {
                host,
                id,
                command,
                net,
            } => self.node_command(host, id, command, net),
            SimEvent::BootDone { host, epoch } => {
                let n = &self.nodes[host];
                if n.epoch == epoch && n.phase == Phase::Booting {
                    self.boot_done(host);
                }
            }
            SimEvent::AliveTick { host, epoch } => {
                if self.nodes[host].epoch == epoch && self.nodes[host].powered() {
                    if self.nodes[host].phase == Phase::Up {
                        self.send_alive_all(host);
                    }
                    let p = self.timing.alive_period;
                    self.schedule(p, SimEvent::AliveTick { host, epoch });
                }
            }
            SimEvent::TestDone { host, epoch, subf } => {
                let n = &mut self.nodes[host];
                if n.epoch == epoch && n.phase == Phase::Up {
                    let passed = if n.goenabled_failures > 0 {
                        n.goenabled_failures -= 1;
                        false
                    } else {
                        true
                    };
                    if subf {
                        n.subf_goenabled = passed;
                        n.subf_goenable_failed = !passed;
                    } else {
                        n.main_goenabled = passed;
                        n.main_goenable_failed = !passed;
                    }
                    let detail = if passed {
                        String::new()
                    } else {
                        "simulated go-enabled test failure".into()
                    };
                    let ev = Event::GoEnabled {
                        host: n.name.clone(),
                        subfunction: subf,
                        passed,
                        detail,
                    };
                    self.node_send(host, Network::Mgmt, ev);
                }
            }
            SimEvent::ServicesDone { host, epoch } => {
                let n = &self.nodes[host];
                if n.epoch == epoch && n.phase == Phase::Up {
                    let ev = Event::HostServices {
                        host: n.name.clone(),
                        passed: true,
                        detail: String::new(),
                    };
                    self.node_send(host, Network::Mgmt, ev);
                }
            }
            SimEvent::BmcDone { host, id, op } => self.bmc_done(host, id, op)?,
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
            SimEvent::SwactDone { completed } => self.deliver(Event::SwactResult { completed })?,
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

    fn node_command(&mut self, i: usize, id: CommandId, command: NodeCommand, net: Network) {
        if self.nodes[i].phase != Phase::Up {
            return; // nobody home
        }
        let name = self.nodes[i].name.clone();
        let ack = Event::CommandAck {
            host: name.clone(),
            command: id,
            network: net,
        };
        if command == NodeCommand::RequestAlive {
            let ev = self.alive(i, net);
            self.node_send(i, net, ev);
            return;
        }
        if !self.nodes[i].first_sight(id) {
            self.node_send(i, net, ack); // duplicate: ack again, do not execute twice
            return;
        }
        self.node_send(i, net, ack);
        let epoch = self.nodes[i].epoch;
        match command {
            NodeCommand::Reboot | NodeCommand::LazyReboot => self.start_boot(i),
            NodeCommand::WipeDisk => {
                self.nodes[i].fresh_install_pending = true;
                self.start_boot(i);
            }
            NodeCommand::Locked { persist } => {
                let n = &mut self.nodes[i];
                n.lock_volatile = true;
                if persist {
                    n.lock_persist = true;
                }
            }
            NodeCommand::Unlocked => {
                let n = &mut self.nodes[i];
                n.lock_volatile = false;
                n.lock_persist = false;
            }
            NodeCommand::MainGoEnabled | NodeCommand::SubfGoEnabled => {
                // A new test voids the last result until it finishes (the agent removes its flag files).
                let n = &mut self.nodes[i];
                if command == NodeCommand::SubfGoEnabled {
                    n.subf_goenabled = false;
                    n.subf_goenable_failed = false;
                } else {
                    n.main_goenabled = false;
                    n.main_goenable_failed = false;
                }
                let d = self
                    .rng
                    .duration(self.timing.goenabled_min, self.timing.goenabled_max);
                let subf = command == NodeCommand::SubfGoEnabled;
                self.schedule(
                    d,
                    SimEvent::TestDone {
                        host: i,
                        epoch,
                        subf,
                    },
                );
            }
            NodeCommand::StopServices => {
                let d = self
                    .rng
                    .duration(self.timing.services_min, self.timing.services_max);
                self.schedule(d, SimEvent::ServicesDone { host: i, epoch });
            }
            NodeCommand::RequestAlive => unreachable!("handled above"),
        }
    }

    /// Power on (or reset): a new boot starts.
    fn start_boot(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.phase = Phase::Booting;
        n.epoch += 1;
        n.booted_at = self.now;
        n.uptime_base = Duration::ZERO;
        n.main_goenabled = false;
        n.subf_goenabled = false;
        n.main_goenable_failed = false;
        n.subf_goenable_failed = false;
        n.seen_commands.clear();
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

    fn boot_done(&mut self, i: usize) {
        let id = self.rng.next_u64();
        let n = &mut self.nodes[i];
        n.phase = Phase::Up;
        n.boot_id = id;
        if n.fresh_install_pending {
            n.fresh_install_pending = false;
            n.lock_persist = false;
        }
        // The volatile flag is restored from the non-volatile backup at boot (errata §9.5).
        n.lock_volatile = n.lock_persist;
        let epoch = n.epoch;
        self.send_alive_all(i);
        let p = self.timing.alive_period;
        self.schedule(p, SimEvent::AliveTick { host: i, epoch });
        self.refresh_reach(i);
    }

    fn power_off(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.phase = Phase::Off;
        n.epoch += 1;
        n.boot_stuck = false;
        self.refresh_reach(i);
    }

    /// Recompute reachability per network and feed the heartbeat model.
    fn refresh_reach(&mut self, i: usize) {
        let n = &self.nodes[i];
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

    fn bmc_done(&mut self, i: usize, id: BmcRequestId, op: BmcOp) -> Result<(), Violation> {
        let name = self.nodes[i].name.clone();
        let reachable = self.nodes[i].bmc.map(|b| b.reachable).unwrap_or(false);
        let outcome = if !reachable {
            BmcOutcome::Failed("unreachable".into())
        } else {
            match op {
                BmcOp::PowerStatus | BmcOp::NetbootOnce => {
                    if op == BmcOp::NetbootOnce {
                        self.nodes[i].fresh_install_pending = true;
                    }
                    BmcOutcome::Done(self.power_state(i))
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
        };
        self.deliver(Event::Bmc {
            host: name,
            request: id,
            outcome,
        })
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
            Step::Fault(f) => self.inject(f),
        }
        Ok(())
    }

    fn host_index(&self, name: &str) -> usize {
        *self
            .index
            .get(name)
            .unwrap_or_else(|| panic!("no simulated host named '{name}'"))
    }

    /// Inject a fault now.
    pub fn inject(&mut self, fault: Fault) {
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
            Fault::Heal(h) => {
                let i = self.host_index(&h);
                self.heal(i);
            }
            Fault::HealAll => {
                for i in 0..self.nodes.len() {
                    self.heal(i);
                }
            }
            Fault::Sensor { host, event } => {
                let ev = Event::Hwmon { host, event };
                self.schedule(Duration::from_millis(1), SimEvent::ToCore(ev));
            }
            Fault::ControllerStall(d) => {
                let until = self.now + d;
                self.stall_until = Some(self.stall_until.map_or(until, |s| s.max(until)));
            }
        }
    }

    fn set_cut(&mut self, i: usize, net: Network, cut: bool) {
        if self.nodes[i].links[net.index()].cut != cut {
            self.nodes[i].links[net.index()].cut = cut;
            self.refresh_reach(i);
        }
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

    fn heal(&mut self, i: usize) {
        for net in Network::ALL {
            self.nodes[i].links[net.index()].params = self.base_links[i];
            self.set_cut(i, net, false);
        }
        self.set_bmc_reachable(i, true);
        let n = &mut self.nodes[i];
        n.goenabled_failures = 0;
        n.boot_failure = false;
        if n.crashed && n.phase == Phase::Off {
            n.crashed = false;
            self.start_boot(i);
        } else if n.phase == Phase::Hung {
            n.phase = Phase::Up;
            self.send_alive_all(i);
            self.refresh_reach(i);
        } else if n.phase == Phase::Booting && n.boot_stuck {
            self.start_boot(i);
        }
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
