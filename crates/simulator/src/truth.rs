//! Ground truth: what the simulator itself did and asked, recorded where it happens, so that the
//! invariants never have to ask the core under test what is true.
//!
//! The world calls in at the points where it acts: an operator request the core accepted, a fault
//! injected, a datagram it dropped, a host's reachability changing (boot, power, hang, cut), a
//! message a node sent, an event handed to the core, and every effect the core asked it to carry
//! out (what crossed the simulated wire). From these the recorder keeps, per host:
//!
//! - the administrative state the operator last asked for ([`Truth::admin_intent`]);
//! - when the simulator last gave the host trouble (a fault, a dropped message, a critical sensor
//!   reading, an operator's request, an injected go-enabled failure striking a test or still
//!   standing in the node's reports) and when it was last settled in service;
//! - the heartbeat events it handed the core, from which it works out on its own when multi-node
//!   failure avoidance (MNFA) must hold: at least `mnfa_threshold` hosts out on one network at once;
//! - the go-enabled tests the core asked for and how each ended on the node;
//! - whether a `Locked` command was put on the wire since the operator's last lock.

use crate::world::Fault;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use steward_maintenance::action::{ActionId, OperatorAction};
use steward_maintenance::config::HeartbeatFailureAction;
use steward_maintenance::io::HwmonEvent;
use steward_maintenance::state::{AdminState, Network};
use steward_maintenance::{
    BmcOp, Config, Effect, Event, HeartbeatControl, HeartbeatEvent, Instant, NodeCommand,
};

/// One heartbeat event the simulated heartbeat service handed to the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HbDelivered {
    pub at: Instant,
    pub host: String,
    pub network: Network,
    pub event: HeartbeatEvent,
}

/// An operator request the core accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub host: String,
    pub action: OperatorAction,
    pub at: Instant,
    /// The host's lock record before this request, to put back if a controller crash loses the
    /// request before it was durable.
    undo: LockRecord,
    /// Its end came through the journal (and, after a restart, is durable).
    ended: bool,
}

impl Accepted {
    /// The journal has this action's end.
    pub fn ended(&self) -> bool {
        self.ended
    }
}

/// What the operator's lock and unlock requests have made of a host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct LockRecord {
    admin: Option<AdminState>,
    lock_pending: Option<ActionId>,
    admin_before_lock: Option<AdminState>,
    locked_sent: bool,
}

/// Per host, per network: what the heartbeat service has reported and not yet cleared (the core keeps
/// the same three flags; monitoring that restarts from zero forgets them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Raised {
    minor: bool,
    degrade: bool,
    lost: bool,
}

impl Raised {
    fn any(self) -> bool {
        self.minor || self.degrade || self.lost
    }
}

/// One go-enabled test the core asked for.
#[derive(Clone, Copy, Debug)]
struct TestAsked {
    at: Instant,
    subfunction: bool,
    /// What the node reported, if it reported anything.
    passed: Option<bool>,
}

#[derive(Clone, Debug, Default)]
struct HostTruth {
    admin: Option<AdminState>,
    /// An accepted lock or force-lock not yet ended, and the admin state before it.
    lock_pending: Option<ActionId>,
    admin_before_lock: Option<AdminState>,
    /// A `Locked` command was put on the wire since the operator's last accepted lock.
    locked_sent: bool,
    trouble_at: Option<Instant>,
    sensor_at: Option<Instant>,
    /// Heartbeat monitoring running since (the core's `Start` carried out, no `Stop` since).
    monitored_since: Option<Instant>,
    /// Start of the last monitoring period that lasted a full soak: the host was in service then.
    settled_since: Option<Instant>,
    /// Last destructive effect carried out against the host.
    destroyed_at: Option<Instant>,
    /// A heartbeat loss handed to the core since monitoring last started.
    lost_since_start: bool,
    up: bool,
    reachable: [bool; 2],
    raised: [Raised; 2],
    /// Go-enabled tests asked since the auto-recovery counts last restarted.
    tests: Vec<TestAsked>,
    /// Failed go-enabled results handed to the core since then (a duplicated or late datagram is
    /// one more failure to a core that cannot tell which test a result answers).
    failures_delivered: u32,
    /// A failed go-enabled run the node reported before any was asked (its agent tests at start):
    /// the core counts it toward the threshold once, when it fails the in-service host for it.
    unasked_failure: bool,
    /// Networks the host has.
    networks: [bool; 2],
    /// In service when its current outage began (its first heartbeat event since it was clear).
    in_service_when_out: bool,
    /// Spared by a multi-node outage that ended then: no automatic destruction without new trouble.
    spared_after: Option<Instant>,
    removed: bool,
}

/// The expected MNFA: the simulator gave at least the threshold of hosts overlapping outages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    pub since: Instant,
    pub network: Network,
    /// Hosts that were in service when their outage began and had not been declared lost before the
    /// episode started: nothing automatic may destroy them while it lasts.
    pub protected: BTreeSet<String>,
}

/// Settings the judgement needs, from the same configuration the core was given.
#[derive(Clone, Debug)]
pub struct TruthConfig {
    pub own_host: String,
    pub mnfa_threshold: u32,
    /// MNFA exists only when heartbeat failures fail or degrade hosts.
    pub mnfa_allowed: bool,
    pub mnfa_timeout: Duration,
    pub heartbeat_soak: Duration,
    /// A go-enabled test without a result after this long counts as failed.
    pub test_deadline: Duration,
    pub ar_goenable_threshold: u32,
}

impl TruthConfig {
    pub fn new(core: &Config, own_host: &str) -> TruthConfig {
        TruthConfig {
            own_host: own_host.to_string(),
            mnfa_threshold: core.thresholds.mnfa_threshold,
            mnfa_allowed: matches!(
                core.policy.heartbeat_failure_action,
                HeartbeatFailureAction::Fail | HeartbeatFailureAction::Degrade
            ),
            mnfa_timeout: core.timeouts.mnfa_timeout.0,
            heartbeat_soak: core.timeouts.heartbeat_soak.0,
            test_deadline: core.timeouts.goenabled_timeout.0 + Duration::from_secs(3),
            ar_goenable_threshold: core.thresholds.ar_goenable_threshold,
        }
    }
}

/// The simulator's own record of the world.
#[derive(Clone, Debug)]
pub struct Truth {
    pub cfg: TruthConfig,
    hosts: BTreeMap<String, HostTruth>,
    pub requests: BTreeMap<ActionId, Accepted>,
    /// Hosts counted toward MNFA per network (out, unlocked, not the active controller).
    counted: [BTreeSet<String>; 2],
    pub episode: Option<Episode>,
    /// Episodes seen (for reports and tests).
    pub episodes: u64,
    /// Every heartbeat event handed to the core.
    pub hb_log: Vec<HbDelivered>,
}

/// Slack after a soak before the host counts as settled: the core's soak timer and the effect that
/// starts it are at the same instant, the state change comes at the timer.
const SETTLE_MARGIN: Duration = Duration::from_millis(50);

impl Truth {
    pub fn new(cfg: TruthConfig) -> Truth {
        Truth {
            cfg,
            hosts: BTreeMap::new(),
            requests: BTreeMap::new(),
            counted: Default::default(),
            episode: None,
            episodes: 0,
            hb_log: Vec::new(),
        }
    }

    fn host(&mut self, name: &str) -> &mut HostTruth {
        self.hosts.entry(name.to_string()).or_default()
    }

    pub fn host_added(&mut self, name: &str, locked: bool, networks: [bool; 2]) {
        let h = self.host(name);
        h.admin = Some(if locked {
            AdminState::Locked
        } else {
            AdminState::Unlocked
        });
        h.up = true;
        h.reachable = networks;
        h.networks = networks;
    }

    // ----- what the operator asked -----

    pub fn request_accepted(
        &mut self,
        now: Instant,
        host: &str,
        action: OperatorAction,
        id: ActionId,
    ) {
        let h = self.host(host);
        let undo = LockRecord {
            admin: h.admin,
            lock_pending: h.lock_pending,
            admin_before_lock: h.admin_before_lock,
            locked_sent: h.locked_sent,
        };
        self.requests.insert(
            id,
            Accepted {
                host: host.to_string(),
                action,
                at: now,
                undo,
                ended: false,
            },
        );
        let h = self.host(host);
        // The operator's hand on a host is trouble enough for what follows automatically.
        h.trouble_at = Some(now);
        h.spared_after = None;
        match action {
            OperatorAction::Lock | OperatorAction::ForceLock => {
                if h.lock_pending.is_none() {
                    h.admin_before_lock = h.admin;
                }
                h.admin = Some(AdminState::Locked);
                h.lock_pending = Some(id);
                h.locked_sent = false;
                h.clear_tests();
            }
            OperatorAction::Unlock => {
                h.admin = Some(AdminState::Unlocked);
                h.lock_pending = None;
                h.clear_tests();
            }
            _ => {}
        }
        // The operator takes the host over: it no longer counts toward MNFA.
        self.forget(now, host);
    }

    /// The controller restarted from its store: a request whose acceptance never became durable
    /// was lost with the process (its `request()` answer never left a real controller), so the
    /// operator's record goes back to what it was before it, newest first.
    pub fn controller_restarted<'a>(
        &mut self,
        now: Instant,
        durable: &BTreeSet<ActionId>,
        durably_ended: &BTreeSet<ActionId>,
        stored_hosts: impl IntoIterator<Item = &'a str>,
    ) {
        for (id, a) in self.requests.iter_mut() {
            a.ended = durably_ended.contains(id);
        }
        for name in stored_hosts {
            if let Some(h) = self.hosts.get_mut(name) {
                h.removed = false; // its delete was never durable
            }
        }
        // The heartbeat service restarts with nothing monitored and the new core counts MNFA from
        // zero: what was raised or counted died with the old process, and an outage in progress
        // ends without sparing anyone (the new core never knew of it). What the new core then
        // sees out is counted afresh once it monitors again.
        let names: Vec<String> = self.hosts.keys().cloned().collect();
        for name in &names {
            self.settle_check(now, name);
            let h = self.host(name);
            h.monitored_since = None;
            h.raised = Default::default();
        }
        self.counted = Default::default();
        self.episode = None;
        let lost: Vec<ActionId> = self
            .requests
            .keys()
            .rev()
            .filter(|id| !durable.contains(id))
            .copied()
            .collect();
        for id in lost {
            if let Some(a) = self.requests.remove(&id) {
                let h = self.host(&a.host);
                h.admin = a.undo.admin;
                h.lock_pending = a.undo.lock_pending;
                h.admin_before_lock = a.undo.admin_before_lock;
                h.locked_sent = a.undo.locked_sent;
            }
        }
    }

    /// The administrative state the operator last asked for (an accepted lock, force-lock or unlock),
    /// or the one the host was set up with.
    pub fn admin_intent(&self, host: &str) -> Option<AdminState> {
        self.hosts.get(host).and_then(|h| h.admin)
    }

    /// An accepted lock or force-lock of this host has not ended yet.
    pub fn lock_pending(&self, host: &str) -> bool {
        self.hosts
            .get(host)
            .is_some_and(|h| h.lock_pending.is_some())
    }

    /// A `Locked` command was put on the wire to this host since its last accepted lock.
    pub fn locked_sent(&self, host: &str) -> bool {
        self.hosts.get(host).is_some_and(|h| h.locked_sent)
    }

    /// An accepted action ended. A lock that did not complete (failed, or superseded by a request that
    /// is not itself a lock or unlock) leaves the host as the operator had it before.
    ///
    /// A lock refused while an earlier lock of the same host is still under way (a second
    /// force-lock while the first waits behind the add) leaves that earlier lock pending: it may
    /// still complete (seed 1000005/1000).
    pub fn action_ended(&mut self, id: ActionId, completed: bool) {
        let Some(a) = self.requests.get_mut(&id) else {
            return;
        };
        a.ended = true;
        let host = a.host.clone();
        let earlier = a
            .undo
            .lock_pending
            .filter(|e| self.requests.get(e).is_some_and(|r| !r.ended));
        let h = self.host(&host);
        if h.lock_pending == Some(id) {
            h.lock_pending = None;
            if completed {
                return;
            }
            match earlier {
                Some(e) => h.lock_pending = Some(e),
                None => h.admin = h.admin_before_lock,
            }
        }
    }

    // ----- what the simulator did to the hosts -----

    /// A fault was injected: every host it touches had trouble now.
    pub fn fault(&mut self, now: Instant, fault: &Fault) {
        let all = || -> Vec<String> { self.hosts.keys().cloned().collect() };
        let hosts: Vec<String> = match fault {
            Fault::Crash(h)
            | Fault::Hang(h)
            | Fault::BootFailure(h)
            | Fault::BmcUnreachable(h)
            | Fault::BmcReachable(h)
            | Fault::Heal(h) => vec![h.clone()],
            Fault::GoEnabledFailure { host, .. }
            | Fault::Link { host, .. }
            | Fault::Sensor { host, .. }
            | Fault::TamperFlag { host, .. }
            | Fault::Vmedia { host, .. } => vec![host.clone()],
            Fault::Cut { hosts, .. } | Fault::Restore { hosts, .. } => hosts.clone(),
            // Pxeboot carries no heartbeat: losing it may raise 200.003 and nothing else, so it is
            // no excuse for anything automatic.
            Fault::Pxeboot { .. } => Vec::new(),
            Fault::CutAll(_)
            | Fault::RestoreAll(_)
            | Fault::HealAll
            | Fault::ControllerStall(_)
            // A controller that dies loses what it had in flight for every host.
            | Fault::Storage(_)
            | Fault::ControllerCrash => all(),
        };
        for h in hosts {
            self.trouble(now, &h);
        }
    }

    /// A restarted (or newly active) controller restored this host from a durable record that does
    /// not show it enabled: a step that was under way (an enable, a recovery) is not durable, and the
    /// restored core takes the host from where the store left it. To that controller the host is in
    /// trouble, whatever the machine itself is doing.
    pub fn restored_out_of_service(&mut self, now: Instant, host: &str) {
        self.trouble(now, host);
    }

    fn trouble(&mut self, now: Instant, host: &str) {
        let h = self.host(host);
        h.trouble_at = Some(now);
        h.spared_after = None;
    }

    /// An injected go-enabled failure made a test fail on this host's node now.
    pub fn test_failed(&mut self, now: Instant, host: &str) {
        self.trouble(now, host);
    }

    /// The simulated network dropped a datagram to or from this host.
    pub fn dropped(&mut self, now: Instant, host: &str) {
        self.trouble(now, host);
    }

    /// The host's agent runs (`up`) and answers on these networks.
    pub fn reach(&mut self, now: Instant, host: &str, up: bool, reachable: [bool; 2]) {
        let h = self.host(host);
        if h.up && !up {
            // Going down is trouble whatever caused it; a reboot the core asked for is covered by the
            // destructive effect already.
            h.trouble_at = Some(now);
        }
        h.up = up;
        h.reachable = reachable;
    }

    /// Something a node put on the wire toward the controller (whether or not it arrived).
    pub fn node_sent(&mut self, now: Instant, ev: &Event) {
        if let Event::Alive(a) = ev {
            if a.flags.main_goenable_failed || a.flags.subf_goenable_failed {
                // A failed test (only an injected failure fails one) stands on the node until a
                // test passes, and the agent keeps reporting it: the host is still in trouble,
                // even if the failure struck (say, in the agent's own start-up run) before the
                // core first saw the host in service.
                self.trouble(now, &a.host);
            }
            // A report after a test was asked for that still shows a failed test fails that test
            // for the core (neither the flags nor the results name the test they belong to).
            let h = self.host(&a.host);
            for (subfunction, failed) in [
                (false, a.flags.main_goenable_failed),
                (true, a.flags.subf_goenable_failed),
            ] {
                if failed {
                    if let Some(t) = h
                        .tests
                        .iter_mut()
                        .rev()
                        .find(|t| t.subfunction == subfunction && t.passed.is_none())
                    {
                        t.passed = Some(false);
                    }
                }
            }
            return;
        }
        if let Event::GoEnabled {
            host,
            subfunction,
            passed,
            ..
        } = ev
        {
            let h = self.host(host);
            if let Some(t) = h
                .tests
                .iter_mut()
                .rev()
                .find(|t| t.subfunction == *subfunction && t.passed.is_none())
            {
                t.passed = Some(*passed);
            }
        }
    }

    /// An event handed to the core.
    pub fn delivered(&mut self, now: Instant, ev: &Event) {
        match ev {
            Event::Heartbeat {
                host,
                network,
                event,
                ..
            } => self.heartbeat(now, host, *network, *event),
            Event::GoEnabled {
                host,
                passed: false,
                ..
            } => self.host(host).failures_delivered += 1,
            // The node reports a failed test or service in its own report: the core may take it
            // over for that (it is answering, so no heartbeat outage holds it), like a sensor.
            Event::Alive(a) if a.flags.main_goenable_failed || a.flags.main_services_failed => {
                let h = self.host(&a.host);
                // Only while no main test was asked since the counts restarted: a flag left by an
                // asked test is that test's result, already counted.
                if a.flags.main_goenable_failed && h.tests.iter().all(|t| t.subfunction) {
                    h.unasked_failure = true;
                }
                self.forget(now, &a.host);
            }
            Event::Hwmon { host, event } => {
                if matches!(event, HwmonEvent::Reset | HwmonEvent::PowerCycle) {
                    let h = self.host(host);
                    h.sensor_at = Some(now);
                    h.trouble_at = Some(now);
                    h.spared_after = None;
                    // A critical sensor may take the host over: it may leave MNFA accounting.
                    self.forget(now, host);
                }
            }
            _ => {}
        }
    }

    /// An effect of the core, carried out by the simulator (after the invariants judged it).
    pub fn effect(&mut self, now: Instant, e: &Effect) {
        match e {
            Effect::Send { host, command, .. } => {
                let h = self.host(host);
                match command {
                    NodeCommand::Locked { .. } => h.locked_sent = true,
                    NodeCommand::MainGoEnabled | NodeCommand::SubfGoEnabled => {
                        h.tests.push(TestAsked {
                            at: now,
                            subfunction: *command == NodeCommand::SubfGoEnabled,
                            passed: None,
                        })
                    }
                    c if c.is_destructive() => h.destroyed_at = Some(now),
                    _ => {}
                }
            }
            Effect::Bmc { host, op, .. } if op.is_destructive() || *op == BmcOp::PowerOn => {
                self.host(host).destroyed_at = Some(now);
            }
            Effect::Heartbeat {
                host: Some(host),
                control,
            } => match control {
                HeartbeatControl::Start => {
                    self.settle_check(now, host);
                    let h = self.host(host);
                    h.monitored_since = Some(now);
                    h.lost_since_start = false;
                    h.raised = Default::default();
                    // Monitoring from zero: earlier misses no longer count toward MNFA.
                    self.forget(now, host);
                }
                HeartbeatControl::Stop => {
                    self.settle_check(now, host);
                    self.host(host).monitored_since = None;
                }
                HeartbeatControl::Backoff | HeartbeatControl::Recover => {}
            },
            Effect::Heartbeat {
                host: None,
                control: HeartbeatControl::Recover,
            } if self.episode.is_none() => {
                // The core left an MNFA of its own and forgot its counts; forget ours too so that
                // what we count stays within what it counts. (Leaving while we still see the
                // threshold out keeps our episode: what it then destroys is judged.)
                self.counted = Default::default();
            }
            Effect::HostRemoved { host } => {
                self.host(host).removed = true;
                self.forget(now, host);
            }
            Effect::Journal(steward_maintenance::JournalEntry::Ended { id, outcome, .. }) => self
                .action_ended(
                    *id,
                    *outcome == steward_maintenance::ActionOutcome::Completed,
                ),
            _ => {}
        }
    }

    /// Record a finished full soak as the host's last time in service.
    fn settle_check(&mut self, now: Instant, host: &str) {
        let soak = self.cfg.heartbeat_soak;
        let h = self.host(host);
        if let Some(since) = h.monitored_since {
            if h.settled_at(since, soak, now) {
                h.settled_since = Some(since);
                // A host that made it back into service restarts its auto-recovery counts.
                h.clear_tests();
            }
        }
    }

    // ----- heartbeat and MNFA, judged from what the simulator handed the core -----

    fn heartbeat(&mut self, now: Instant, host: &str, net: Network, ev: HeartbeatEvent) {
        self.hb_log.push(HbDelivered {
            at: now,
            host: host.to_string(),
            network: net,
            event: ev,
        });
        let i = net.index();
        match ev {
            HeartbeatEvent::MinorSet | HeartbeatEvent::DegradeSet => {
                let first = !self.host(host).raised[i].any();
                {
                    let h = self.host(host);
                    if ev == HeartbeatEvent::MinorSet {
                        h.raised[i].minor = true;
                    } else {
                        h.raised[i].degrade = true;
                    }
                }
                self.mnfa_add(now, host, net, first);
            }
            HeartbeatEvent::Loss => {
                let h = self.host(host);
                h.raised[i].lost = true;
                h.lost_since_start = true;
            }
            HeartbeatEvent::MinorClear => {
                self.host(host).raised[i].minor = false;
                self.mnfa_clear(now, host, net);
            }
            HeartbeatEvent::DegradeClear | HeartbeatEvent::LossClear => {
                let h = self.host(host);
                h.raised[i].degrade = false;
                h.raised[i].lost = false;
                self.mnfa_clear(now, host, net);
            }
        }
    }

    /// In service by the simulator's record: monitored for a full soak, nothing lost or destroyed
    /// since, unlocked by the operator with no lock under way, and not the active controller.
    pub fn in_service(&self, host: &str, now: Instant) -> bool {
        let Some(h) = self.hosts.get(host) else {
            return false;
        };
        host != self.cfg.own_host
            && !h.removed
            && h.admin == Some(AdminState::Unlocked)
            && h.lock_pending.is_none()
            && h.monitored_since
                .is_some_and(|s| h.settled_at(s, self.cfg.heartbeat_soak, now))
            && !h.lost_since_start
    }

    fn counts_toward_mnfa(&self, host: &str) -> bool {
        self.cfg.mnfa_allowed
            && host != self.cfg.own_host
            && self.hosts.get(host).is_some_and(|h| {
                !h.removed && h.admin == Some(AdminState::Unlocked) && h.lock_pending.is_none()
            })
    }

    fn mnfa_add(&mut self, now: Instant, host: &str, net: Network, first: bool) {
        if !self.counts_toward_mnfa(host) {
            return;
        }
        let in_service = if first {
            let s = self.in_service(host, now);
            self.host(host).in_service_when_out = s;
            s
        } else {
            self.host(host).in_service_when_out
        };
        self.counted[net.index()].insert(host.to_string());
        if let Some(ep) = self.episode.as_mut() {
            if in_service && first {
                ep.protected.insert(host.to_string());
            }
            return;
        }
        if self.counted[net.index()].len() as u32 >= self.cfg.mnfa_threshold {
            // Every counted host in service and not yet declared lost is held.
            let protected: BTreeSet<String> = self
                .counted
                .iter()
                .flatten()
                .filter(|h| {
                    self.hosts
                        .get(*h)
                        .is_some_and(|t| t.in_service_when_out && !t.lost_since_start)
                })
                .cloned()
                .collect();
            self.episode = Some(Episode {
                since: now,
                network: net,
                protected,
            });
            self.episodes += 1;
        }
    }

    fn mnfa_clear(&mut self, now: Instant, host: &str, net: Network) {
        let i = net.index();
        let h = self.host(host);
        if h.raised[i].any() {
            return;
        }
        let clear_everywhere = h.raised.iter().all(|r| !r.any());
        self.counted[i].remove(host);
        let Some(ep) = self.episode.as_mut() else {
            return;
        };
        if clear_everywhere {
            ep.protected.remove(host);
        }
        self.maybe_end(now);
    }

    /// The host leaves MNFA accounting (operator request, monitoring restarted, deleted).
    fn forget(&mut self, now: Instant, host: &str) {
        let mut changed = false;
        for c in self.counted.iter_mut() {
            changed |= c.remove(host);
        }
        if let Some(ep) = self.episode.as_mut() {
            changed |= ep.protected.remove(host);
        }
        if changed {
            self.maybe_end(now);
        }
    }

    fn maybe_end(&mut self, now: Instant) {
        let threshold = self.cfg.mnfa_threshold;
        if self.episode.is_none() || self.counted.iter().any(|c| c.len() as u32 >= threshold) {
            return;
        }
        let ep = self.episode.take().expect("checked");
        let timed_out = !self.cfg.mnfa_timeout.is_zero() && now >= ep.since + self.cfg.mnfa_timeout;
        for name in &ep.protected {
            let h = self.host(name);
            // Back on every network when the outage ended: it must not be reset or rebooted for it.
            let back = h.up && (0..2).all(|i| h.reachable[i] || !h.networks[i]);
            if back && !timed_out {
                h.spared_after = Some(now);
            }
        }
        self.counted = Default::default();
    }

    /// Whether the expected MNFA holds this host now; `Some(since)` of the episode if so.
    pub fn held(&self, host: &str, now: Instant) -> Option<&Episode> {
        let ep = self.episode.as_ref()?;
        if !self.cfg.mnfa_timeout.is_zero() && now >= ep.since + self.cfg.mnfa_timeout {
            return None; // an MNFA timeout fails the pool on purpose
        }
        ep.protected.contains(host).then_some(ep)
    }

    /// Hosts counted toward MNFA per network, for reports.
    pub fn counted(&self) -> [Vec<&str>; 2] {
        [0, 1].map(|i| self.counted[i].iter().map(String::as_str).collect())
    }

    /// When an ended multi-node outage spared this host, if nothing troubled it since.
    pub fn spared(&self, host: &str) -> Option<Instant> {
        let h = self.hosts.get(host)?;
        let s = h.spared_after?;
        match h.trouble_at {
            Some(t) if t > s => None,
            _ => Some(s),
        }
    }

    // ----- judgements the invariants ask for -----

    /// The simulator gave this host trouble since it was last in service (or has never seen it in
    /// service since the trouble): automatic recovery of it has a cause.
    pub fn troubled(&self, host: &str, now: Instant) -> bool {
        let Some(h) = self.hosts.get(host) else {
            return false;
        };
        let Some(t) = h.trouble_at else {
            return false;
        };
        match h.service_start(self.cfg.heartbeat_soak, now) {
            Some(s) => t >= s,
            None => true,
        }
    }

    /// A critical sensor reading for this host was handed to the core since it was last in service.
    pub fn sensor_reading(&self, host: &str, now: Instant) -> Option<Instant> {
        let h = self.hosts.get(host)?;
        let t = h.sensor_at?;
        match h.service_start(self.cfg.heartbeat_soak, now) {
            Some(s) if t < s => None,
            _ => Some(t),
        }
    }

    /// Go-enabled tests of this host that failed on the node, or that the node did not answer in
    /// time, since its auto-recovery counts last restarted (operator lock or unlock, or back in
    /// service).
    pub fn failed_tests(&self, host: &str, now: Instant) -> u32 {
        let Some(h) = self.hosts.get(host) else {
            return 0;
        };
        let reported = h.tests.iter().filter(|t| t.passed == Some(false)).count() as u32;
        let unanswered = h
            .tests
            .iter()
            .filter(|t| t.passed.is_none() && now >= t.at + self.cfg.test_deadline)
            .count() as u32;
        reported.max(h.failures_delivered) + unanswered + u32::from(h.unasked_failure)
    }

    /// The go-enabled tests behind [`Truth::failed_tests`], for reports.
    pub fn tests_report(&self, host: &str) -> String {
        let Some(h) = self.hosts.get(host) else {
            return String::new();
        };
        let tests: Vec<String> = h
            .tests
            .iter()
            .map(|t| {
                format!(
                    "{}{}@{}ms",
                    if t.subfunction { "subf " } else { "" },
                    match t.passed {
                        Some(true) => "passed",
                        Some(false) => "failed",
                        None => "unanswered",
                    },
                    t.at.as_millis()
                )
            })
            .collect();
        format!(
            "tests asked: [{}]; failed results handed to the core: {}",
            tests.join(", "),
            h.failures_delivered
        )
    }

    pub fn last_trouble(&self, host: &str) -> Option<Instant> {
        self.hosts.get(host).and_then(|h| h.trouble_at)
    }

    /// Heartbeat losses handed to the core, per host and network.
    pub fn losses(&self) -> BTreeMap<(String, Network), u32> {
        let mut m = BTreeMap::new();
        for r in &self.hb_log {
            if r.event == HeartbeatEvent::Loss {
                *m.entry((r.host.clone(), r.network)).or_default() += 1;
            }
        }
        m
    }
}

impl HostTruth {
    fn clear_tests(&mut self) {
        self.tests.clear();
        self.failures_delivered = 0;
        self.unasked_failure = false;
    }

    fn settled_at(&self, since: Instant, soak: Duration, now: Instant) -> bool {
        now >= since + soak + SETTLE_MARGIN
            && !matches!(self.destroyed_at, Some(d) if d >= since)
            && self.up
    }

    /// Start of the host's latest full period in service (the current one if it has lasted a soak).
    fn service_start(&self, soak: Duration, now: Instant) -> Option<Instant> {
        match self.monitored_since {
            Some(s) if self.settled_at(s, soak, now) && !self.lost_since_start => Some(s),
            _ => self.settled_since,
        }
    }
}
