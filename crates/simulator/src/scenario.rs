//! Scripted scenarios: a small cluster, a timeline of faults and operator requests, then assertions on
//! what the core shows.
//!
//! ```no_run
//! use steward_simulator::{Scenario, Fault, request};
//! use steward_maintenance::OperatorAction;
//!
//! let mut s = Scenario::new(4).locked("worker-0").at(1.0, request("worker-0", OperatorAction::Unlock));
//! s.run_until(300.0).unwrap();
//! assert_eq!(s.state("worker-0"), "unlocked-enabled-available");
//! ```
//!
//! Times are seconds of simulated time from the start. The invariants are checked all along; a
//! violation comes back as the `Err` of [`Scenario::run_until`].

use crate::invariants::{Destructive, Violation};
use crate::network::LinkParams;
use crate::pulse::{HbRecord, PulseConfig, PulseHeartbeat};
use crate::runner::cluster_layout;
use crate::world::{Fault, HostSetup, RequestRecord, Step, Timing, World, WorldConfig};
use std::collections::BTreeSet;
use std::time::Duration;
use steward_maintenance::action::{ActionId, JournalEntry};
use steward_maintenance::alarm::{AlarmId, Severity};
use steward_maintenance::host::HostRecord;
use steward_maintenance::state::{HostStates, SystemType};
use steward_maintenance::{Config, Instant, Maintenance};

/// A scripted run. Build it with the chained methods, then call [`Scenario::run_until`] (as often as
/// you like; steps may be added between runs).
pub struct Scenario {
    hosts: usize,
    system_type: SystemType,
    seed: u64,
    scale: u32,
    locked: BTreeSet<String>,
    no_bmc: BTreeSet<String>,
    install_images: std::collections::BTreeMap<String, String>,
    pxeboot: BTreeSet<String>,
    cluster: bool,
    link: LinkParams,
    core: Config,
    timing: Option<Timing>,
    dead_office: bool,
    pending: Vec<(Instant, Step)>,
    world: Option<World>,
    verbose: bool,
    lenient_deadlines: bool,
    pulses: Option<PulseSource>,
}

/// Where the pulse-level heartbeat takes its settings.
#[derive(Clone)]
enum PulseSource {
    /// The core configuration's `[heartbeat]` table and policy, as the controller does.
    Core,
    Explicit(PulseConfig),
}

fn at_secs(t: f64) -> Instant {
    Instant::from_millis((t * 1000.0).round() as u64)
}

impl Scenario {
    /// A standard system of `hosts` hosts (controller-0 active, controller-1, then workers), all unlocked
    /// and in service, every host with a BMC and a cluster network, clean links, timers divided by 10.
    pub fn new(hosts: usize) -> Scenario {
        let scale = 10;
        Scenario {
            hosts,
            system_type: SystemType::Standard,
            seed: 1,
            scale,
            locked: BTreeSet::new(),
            no_bmc: BTreeSet::new(),
            install_images: Default::default(),
            pxeboot: BTreeSet::new(),
            cluster: true,
            link: LinkParams::CLEAN,
            core: Config::default().scaled(scale),
            timing: None,
            dead_office: false,
            pending: Vec::new(),
            world: None,
            verbose: std::env::var_os("STEWARD_SIM_VERBOSE").is_some(),
            lenient_deadlines: std::env::var_os("STEWARD_SIM_LENIENT_DEADLINES").is_some(),
            pulses: None,
        }
    }

    pub fn system(mut self, t: SystemType) -> Self {
        self.system_type = t;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Divide the default timers by `scale` (resets any `config` changes made before).
    pub fn scale(mut self, scale: u32) -> Self {
        self.scale = scale;
        self.core = Config::default().scaled(scale);
        self
    }

    /// Start this host locked (the core sees a fresh install: locked-disabled-offline, then online).
    pub fn locked(mut self, host: &str) -> Self {
        self.locked.insert(host.to_string());
        self
    }

    /// This host has an install image: its Redfish BMC reinstalls it by virtual media.
    pub fn install_image(mut self, host: &str, url: &str) -> Self {
        self.install_images
            .insert(host.to_string(), url.to_string());
        self
    }

    /// This host has no BMC.
    /// The host has a pxeboot address (docs/protocol.md#the-pxeboot-network).
    pub fn pxeboot(mut self, host: &str) -> Self {
        self.pxeboot.insert(host.to_string());
        self
    }

    pub fn no_bmc(mut self, host: &str) -> Self {
        self.no_bmc.insert(host.to_string());
        self
    }

    /// Give hosts a cluster network (default true).
    pub fn cluster_network(mut self, yes: bool) -> Self {
        self.cluster = yes;
        self
    }

    pub fn link(mut self, params: LinkParams) -> Self {
        self.link = params;
        self
    }

    /// Adjust the core configuration.
    pub fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.core);
        self
    }

    /// Adjust the simulated hardware timing.
    pub fn timing(mut self, f: impl FnOnce(&mut Timing)) -> Self {
        let mut t = self
            .timing
            .take()
            .unwrap_or_else(|| Timing::scaled(self.scale, &self.core));
        f(&mut t);
        self.timing = Some(t);
        self
    }

    /// Start as after a whole-site power loss.
    pub fn dead_office(mut self) -> Self {
        self.dead_office = true;
        self
    }

    /// Run the heartbeat at pulse level through the real `steward_heartbeat::Monitor`, with the
    /// core configuration's `[heartbeat]` table and policy (defaults: 100 ms, 4/6/10 misses,
    /// backoff ×4), instead of the event-level model.
    pub fn pulse_heartbeat(mut self) -> Self {
        self.pulses = Some(PulseSource::Core);
        self
    }

    /// Pulse-level heartbeat with these settings.
    pub fn pulse_config(mut self, cfg: PulseConfig) -> Self {
        self.pulses = Some(PulseSource::Explicit(cfg));
        self
    }

    /// Defer a deadline the core asks for again instead of failing `deadlines_make_progress`.
    pub fn lenient_deadlines(mut self) -> Self {
        self.lenient_deadlines = true;
        self
    }

    /// Print the trace as it happens (also with env `STEWARD_SIM_VERBOSE=1`).
    pub fn verbose(mut self) -> Self {
        self.verbose = true;
        self
    }

    /// Schedule a step (a [`Fault`] or a [`crate::request`]) at `t` seconds.
    pub fn at(mut self, t: f64, step: impl Into<Step>) -> Self {
        self.add(t, step);
        self
    }

    /// Schedule a step at `t` seconds on a scenario already running (`t` in the past means now).
    pub fn add(&mut self, t: f64, step: impl Into<Step>) {
        let at = at_secs(t);
        match self.world.as_mut() {
            Some(w) => w.schedule_step(at, step.into()),
            None => self.pending.push((at, step.into())),
        }
    }

    fn build(&mut self) -> Result<(), Violation> {
        if self.world.is_some() {
            return Ok(());
        }
        let layout = cluster_layout(self.hosts, self.system_type, None);
        let hosts = layout
            .into_iter()
            .map(|(name, personality)| HostSetup {
                locked: self.locked.contains(&name),
                bmc: !self.no_bmc.contains(&name),
                install_image: self.install_images.get(&name).cloned(),
                pxeboot: self.pxeboot.contains(&name),
                cluster: self.cluster,
                link: self.link,
                name,
                personality,
            })
            .collect();
        let timing = self
            .timing
            .clone()
            .unwrap_or_else(|| Timing::scaled(self.scale, &self.core));
        let controller_uptime = if self.dead_office {
            Duration::from_secs(60)
        } else {
            Duration::from_secs(30 * 86_400)
        };
        let mut w = World::new(WorldConfig {
            seed: self.seed,
            system_type: self.system_type,
            own_host: "controller-0".into(),
            controller_uptime,
            core: self.core.clone(),
            timing,
            hosts,
            pulses: self.pulses.clone().map(|p| match p {
                PulseSource::Core => PulseConfig::from_config(&self.core),
                PulseSource::Explicit(cfg) => cfg,
            }),
        })?;
        w.verbose = self.verbose;
        w.strict_deadlines = !self.lenient_deadlines;
        for (at, step) in self.pending.drain(..) {
            w.schedule_step(at, step);
        }
        self.world = Some(w);
        Ok(())
    }

    /// Run until `t` seconds of simulated time.
    pub fn run_until(&mut self, t: f64) -> Result<(), Violation> {
        self.build()?;
        self.world_mut().run_until(at_secs(t))
    }

    /// Heal every fault, run until every host is quiescent (or `max_secs` more), then check the
    /// quiescence invariants. Returns the seconds it took to settle.
    pub fn settle(&mut self, max_secs: f64) -> Result<f64, Violation> {
        self.build()?;
        let w = self.world_mut();
        w.inject(Fault::HealAll)?;
        let start = w.now;
        let limit = start + Duration::from_secs_f64(max_secs);
        while w.now < limit && !w.quiescent() {
            let t = w.now + Duration::from_secs(1);
            w.run_until(t)?;
        }
        let took = w.now.since(start).as_secs_f64();
        w.check_quiescence()?;
        Ok(took)
    }

    // ----- views -----

    pub fn world(&self) -> &World {
        self.world.as_ref().expect("run the scenario first")
    }

    pub fn world_mut(&mut self) -> &mut World {
        self.world.as_mut().expect("run the scenario first")
    }

    pub fn core(&self) -> &Maintenance {
        &self.world().core
    }

    pub fn record(&self, host: &str) -> &HostRecord {
        self.core()
            .host(host)
            .unwrap_or_else(|| panic!("the core has no host '{host}'"))
    }

    pub fn states(&self, host: &str) -> HostStates {
        self.record(host).states
    }

    /// `admin-oper-avail` as the API shows it, e.g. `unlocked-enabled-available`.
    pub fn state(&self, host: &str) -> String {
        self.states(host).to_string()
    }

    pub fn task(&self, host: &str) -> &str {
        &self.record(host).task
    }

    /// Severity of an active alarm, as the core's alarm book has it.
    pub fn alarm(&self, id: AlarmId, host: &str) -> Option<Severity> {
        self.core().alarms().severity(id, host)
    }

    pub fn journal(&self) -> &[JournalEntry] {
        self.world().journal()
    }

    /// How the action with this id ended, if it did.
    pub fn outcome(&self, id: ActionId) -> Option<&steward_maintenance::action::ActionOutcome> {
        self.journal().iter().find_map(|e| match e {
            JournalEntry::Ended { id: i, outcome, .. } if *i == id => Some(outcome),
            _ => None,
        })
    }

    /// Every operator request made so far, with its answer.
    pub fn requests(&self) -> &[RequestRecord] {
        &self.world().requests
    }

    /// Every destructive effect so far (reboots, resets, power-offs, wipes) with its cause.
    pub fn destructive(&self) -> &[Destructive] {
        &self.world().checker.destructive
    }

    pub fn now_secs(&self) -> f64 {
        self.world().now.as_millis() as f64 / 1000.0
    }

    /// The pulse-level heartbeat (Monitor, counters, event log); panics in event-level mode.
    pub fn pulse(&self) -> &PulseHeartbeat {
        self.world()
            .pulse
            .as_ref()
            .expect("the scenario runs the pulse-level heartbeat (Scenario::pulse_heartbeat)")
    }

    /// Every heartbeat event the Monitor raised so far, with its round (pulse mode).
    pub fn heartbeat_log(&self) -> &[HbRecord] {
        &self.pulse().log
    }

    /// The recent trace, one event per line.
    pub fn trace(&self) -> String {
        self.world().trace().collect::<Vec<_>>().join("\n")
    }
}
