//! A scripted harness for scenario tests: drives the real core with simulated time and scripted nodes
//! and BMCs whose behaviour each test switches on and off (a node that never acks, a BMC that is
//! unreachable, go-enabled that fails), so every stage and timeout can be reached on purpose.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;
use steward_maintenance::alarm::{AlarmChange, AlarmId};
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::state::*;
use steward_maintenance::*;

/// How a scripted node behaves.
#[derive(Clone, Debug)]
pub struct Node {
    pub up: bool,
    pub boot_id: u64,
    pub booted_at: Instant,
    pub boot_delay: Duration,
    pub acks: bool,
    pub answers: bool,
    /// Answers stop-services with its result (2 s later).
    pub services_answers: bool,
    pub goenabled_passes: bool,
    pub goenabled_answers: bool,
    pub reboots_on_command: bool,
    pub locked_flag: bool,
    pub flags: NodeFlags,
    pub cluster: bool,
    pub power: PowerState,
    pub bmc_reachable: bool,
    pub bmc_answers: bool,
    /// When the node comes back up after a reboot or power-on.
    pub boot_at: Option<Instant>,
    /// Has a pxeboot network and says so (reports there, takes commands sent there).
    pub pxeboot: bool,
    /// Its pxeboot network is cut.
    pub pxeboot_cut: bool,
    /// Its management network is cut: nothing crosses it either way.
    pub mgmt_cut: bool,
    /// The BMC's virtual CD: the image inserted, and whether it reads back mounted.
    pub media: Option<String>,
    pub media_mounted: bool,
    /// One-time boot from the virtual CD is set.
    pub boot_cd_once: bool,
    /// BMC faults: an insert is accepted but never mounts; eject is refused; the boot override
    /// reads back differently.
    pub media_never_mounts: bool,
    pub eject_refused: bool,
    pub boot_override_differs: bool,
    /// Media status reads before an accepted insert reads back mounted.
    pub mount_after_reads: u32,
}

impl Node {
    fn healthy(now: Instant, boot_id: u64) -> Node {
        Node {
            up: true,
            boot_id,
            booted_at: now,
            boot_delay: Duration::from_secs(30),
            acks: true,
            answers: true,
            services_answers: true,
            goenabled_passes: true,
            goenabled_answers: true,
            reboots_on_command: true,
            locked_flag: false,
            flags: NodeFlags {
                configured: true,
                healthy: true,
                ..Default::default()
            },
            cluster: false,
            power: PowerState::On,
            bmc_reachable: true,
            bmc_answers: true,
            boot_at: None,
            pxeboot: false,
            pxeboot_cut: false,
            mgmt_cut: false,
            media: None,
            media_mounted: false,
            boot_cd_once: false,
            media_never_mounts: false,
            eject_refused: false,
            boot_override_differs: false,
            mount_after_reads: 0,
        }
    }
}

pub struct Harness {
    pub core: Maintenance,
    pub now: Instant,
    pub effects: Vec<Effect>,
    pub nodes: BTreeMap<String, Node>,
    /// Scripted replies the harness owes the core, in time order.
    pending: Vec<(Instant, Event)>,
    next_boot: u64,
    /// When the nodes send their next periodic alive report (every 5 s).
    next_alive: Instant,
    pub system: SystemType,
}

pub fn cfg() -> Config {
    let mut c = Config::default();
    c.timeouts.host_add_delay.0 = Duration::from_secs(1);
    c
}

impl Harness {
    pub fn new(system: SystemType) -> Harness {
        Harness::with_config(system, cfg())
    }

    pub fn with_config(system: SystemType, cfg: Config) -> Harness {
        let now = Instant::from_millis(1_000_000);
        let sys = SystemConfig {
            system_type: system,
            own_host: "controller-0".into(),
            controller_uptime: Duration::from_secs(86_400),
        };
        Harness {
            core: Maintenance::new(cfg, sys, now),
            now,
            effects: Vec::new(),
            nodes: BTreeMap::new(),
            pending: Vec::new(),
            next_boot: 100,
            next_alive: now + Duration::from_secs(5),
            system,
        }
    }

    pub fn spec(name: &str, bmc: bool) -> HostSpec {
        let personality = if name.starts_with("controller") {
            Personality::Controller
        } else if name.starts_with("storage") {
            Personality::Storage
        } else {
            Personality::Worker
        };
        let n = name.bytes().map(u64::from).sum::<u64>();
        HostSpec {
            name: name.into(),
            uuid: format!("00000000-0000-0000-0000-{n:012}{}", name.len()),
            personality,
            mgmt_ip: Some(format!("10.0.{}.{}", name.len(), n % 250)),
            mgmt_mac: None,
            pxeboot_ip: None,
            cluster_ip: None,
            bmc: bmc.then(|| BmcSpec {
                protocol: BmcProtocol::Redfish,
                address: format!("bmc-{name}"),
                username: "admin".into(),
            }),
            install: Default::default(),
        }
    }

    /// Add a host in service (unlocked-enabled-available) or freshly installed (locked).
    pub fn add(&mut self, name: &str, in_service: bool, bmc: bool) {
        self.add_spec(Harness::spec(name, bmc), in_service);
    }

    /// As [`Harness::add`], for a host with a pxeboot address whose node also reports there.
    pub fn add_with_pxeboot(&mut self, name: &str, in_service: bool, bmc: bool) {
        let mut spec = Harness::spec(name, bmc);
        spec.pxeboot_ip = Some(format!("169.254.202.{}", 10 + self.nodes.len()));
        self.add_spec(spec, in_service);
    }

    /// [`Harness::add`] with a spec of the test's own (BMC protocol, install settings, pxeboot).
    pub fn add_spec(&mut self, spec: HostSpec, in_service: bool) {
        let name = spec.name.clone();
        let name = name.as_str();
        let bmc = spec.bmc.is_some();
        let pxeboot = spec.pxeboot_ip.is_some();
        let rec = if in_service {
            HostRecord::in_service(spec, self.system)
        } else {
            HostRecord::new_install(spec, self.system)
        };
        self.next_boot += 1;
        let mut node = Node::healthy(self.now, self.next_boot);
        node.locked_flag = !in_service;
        node.flags.locked = !in_service;
        node.pxeboot = pxeboot;
        self.nodes.insert(name.into(), node);
        self.core.add_host(self.now, rec).expect("add accepted");
        if bmc {
            self.core.handle_event(
                self.now,
                Event::BmcAccess {
                    host: name.into(),
                    accessible: true,
                },
            );
        }
        self.drain();
        self.report(name);
    }

    pub fn node(&mut self, name: &str) -> &mut Node {
        self.nodes.get_mut(name).expect("known node")
    }

    pub fn node_boot_id(&self, name: &str) -> u64 {
        self.nodes[name].boot_id
    }

    /// Send one alive report from the node on every network it can reach.
    pub fn report(&mut self, name: &str) {
        let n = self.nodes[name].clone();
        if !n.up || !n.answers {
            return;
        }
        let mut report = self.alive_of(name);
        if !n.mgmt_cut {
            self.core
                .handle_event(self.now, Event::Alive(report.clone()));
            self.drain();
        }
        if n.pxeboot && !n.pxeboot_cut {
            report.network = ProtocolNetwork::Pxeboot;
            self.core.handle_event(self.now, Event::Alive(report));
            self.drain();
        }
    }

    pub fn request(
        &mut self,
        name: &str,
        action: OperatorAction,
    ) -> Result<ActionId, RequestError> {
        let r = self.core.request(self.now, name, action);
        self.drain();
        r
    }

    pub fn event(&mut self, e: Event) {
        self.core.handle_event(self.now, e);
        self.drain();
    }

    /// Collect effects and script the nodes' and BMCs' answers.
    // `DBG=1` traces every effect while a scenario is being debugged; only the test harness reads it.
    #[allow(clippy::disallowed_methods)]
    pub fn drain(&mut self) {
        while let Some(e) = self.core.poll_effect() {
            if std::env::var("DBG").is_ok() {
                let t = self.now.as_millis() / 1000;
                match &e {
                    Effect::HostChanged { host } => {
                        if let Some(r) = self.core.host(host) {
                            eprintln!("{t:>8} {host} {} '{}' {}", r.states, r.task, r.action);
                        }
                    }
                    Effect::Send { host, command, .. } => {
                        eprintln!("{t:>8} {host} send {command:?}")
                    }
                    Effect::Bmc { host, op, .. } => eprintln!("{t:>8} {host} bmc {op:?}"),
                    _ => {}
                }
            }
            self.react(&e);
            self.effects.push(e);
        }
    }

    fn react(&mut self, e: &Effect) {
        let now = self.now;
        match e {
            Effect::Send {
                host,
                id,
                command,
                networks,
                ..
            } => {
                let Some(n) = self.nodes.get_mut(host) else {
                    return;
                };
                // The first network the command can cross to the node (and its ack back).
                let via = networks.iter().copied().find(|net| match net {
                    ProtocolNetwork::Mgmt => !n.mgmt_cut,
                    ProtocolNetwork::Cluster => true,
                    ProtocolNetwork::Pxeboot => n.pxeboot && !n.pxeboot_cut,
                });
                let Some(via) = via else {
                    return;
                };
                if !n.up {
                    return;
                }
                if n.acks && !matches!(command, NodeCommand::RequestAlive) {
                    let ack = Event::CommandAck {
                        host: host.clone(),
                        command: *id,
                        network: via,
                    };
                    self.pending.push((now + Duration::from_millis(10), ack));
                }
                match command {
                    NodeCommand::Reboot | NodeCommand::LazyReboot | NodeCommand::WipeDisk => {
                        if n.reboots_on_command {
                            n.up = false;
                            n.boot_at = Some(now + n.boot_delay);
                        }
                    }
                    NodeCommand::Locked { .. } => {
                        n.locked_flag = true;
                    }
                    NodeCommand::Unlocked => n.locked_flag = false,
                    NodeCommand::RequestAlive => {
                        if n.answers {
                            let h = host.clone();
                            self.pending.push((
                                now + Duration::from_millis(5),
                                Event::Alive(self.alive_of(&h)),
                            ));
                        }
                    }
                    NodeCommand::MainGoEnabled | NodeCommand::SubfGoEnabled => {
                        if n.goenabled_answers {
                            let passed = n.goenabled_passes;
                            let subfunction = *command == NodeCommand::SubfGoEnabled;
                            let ev = Event::GoEnabled {
                                host: host.clone(),
                                subfunction,
                                passed,
                                detail: String::new(),
                            };
                            self.pending.push((now + Duration::from_secs(5), ev));
                        }
                    }
                    NodeCommand::StopServices if n.services_answers => {
                        let ev = Event::HostServices {
                            host: host.clone(),
                            passed: true,
                            detail: String::new(),
                        };
                        self.pending.push((now + Duration::from_secs(2), ev));
                    }
                    NodeCommand::StopServices => {}
                }
            }
            Effect::Bmc { host, id, op, .. } => {
                let Some(n) = self.nodes.get_mut(host) else {
                    return;
                };
                if !n.bmc_answers {
                    return;
                }
                let outcome = if !n.bmc_reachable {
                    BmcOutcome::Failed("unreachable".into())
                } else {
                    match op {
                        BmcOp::PowerStatus | BmcOp::NetbootOnce => BmcOutcome::Done(n.power),
                        BmcOp::PowerOn => {
                            if n.power != PowerState::On {
                                n.power = PowerState::On;
                                n.boot_at = Some(now + n.boot_delay);
                            }
                            BmcOutcome::Done(PowerState::On)
                        }
                        BmcOp::PowerOff => {
                            n.power = PowerState::Off;
                            n.up = false;
                            n.boot_at = None;
                            BmcOutcome::Done(PowerState::Off)
                        }
                        BmcOp::PowerReset => {
                            n.up = false;
                            n.boot_at = Some(now + n.boot_delay);
                            BmcOutcome::Done(PowerState::On)
                        }
                        BmcOp::EjectMedia if n.eject_refused => {
                            BmcOutcome::Failed("EjectMedia refused (HTTP 500)".into())
                        }
                        BmcOp::EjectMedia => {
                            n.media = None;
                            n.media_mounted = false;
                            BmcOutcome::Done(n.power)
                        }
                        BmcOp::InsertMedia { image } => {
                            n.media = Some(image.clone());
                            BmcOutcome::Done(n.power)
                        }
                        BmcOp::VerifyMedia { image } => {
                            if n.media.as_ref() == Some(image) && !n.media_never_mounts {
                                if n.mount_after_reads == 0 {
                                    n.media_mounted = true;
                                } else {
                                    n.mount_after_reads -= 1;
                                }
                            }
                            if n.media_mounted && n.media.as_ref() == Some(image) {
                                BmcOutcome::Done(n.power)
                            } else {
                                BmcOutcome::Failed(format!(
                                    "virtual CD reads back Inserted=false Image={:?}",
                                    n.media
                                ))
                            }
                        }
                        BmcOp::BootOnceVirtualCd if n.boot_override_differs => BmcOutcome::Failed(
                            "boot override reads back target Pxe enabled Once, wanted Cd Once"
                                .into(),
                        ),
                        BmcOp::BootOnceVirtualCd => {
                            n.boot_cd_once = true;
                            BmcOutcome::Done(n.power)
                        }
                    }
                };
                let ev = Event::Bmc {
                    host: host.clone(),
                    request: *id,
                    outcome,
                };
                self.pending.push((now + Duration::from_secs(2), ev));
            }
            _ => {}
        }
    }

    fn alive_of(&self, name: &str) -> AliveReport {
        let n = &self.nodes[name];
        let mut flags = n.flags;
        flags.locked = n.locked_flag;
        flags.pxeboot_alive = n.pxeboot;
        AliveReport {
            host: name.into(),
            network: ProtocolNetwork::Mgmt,
            boot_id: n.boot_id,
            uptime: self.now.since(n.booted_at),
            flags,
        }
    }

    /// Advance simulated time by `d`, delivering scripted replies, booting nodes, sending their alive
    /// reports every 5 s, and running the core's deadlines.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        let alive_period = Duration::from_secs(5);
        loop {
            let next_pending = self.pending.iter().map(|(t, _)| *t).min();
            let next_boot = self.nodes.values().filter_map(|n| n.boot_at).min();
            let next_core = self.core.poll_timeout();
            let next = [next_pending, next_boot, next_core, Some(self.next_alive)]
                .into_iter()
                .flatten()
                .min()
                .expect("alive is always scheduled");
            if next > end {
                break;
            }
            self.now = next.max(self.now);
            // Boots first, then replies, then periodic reports, then core timers.
            let names: Vec<String> = self.nodes.keys().cloned().collect();
            for name in &names {
                let n = self.nodes.get_mut(name).unwrap();
                if n.boot_at.is_some_and(|t| t <= self.now) {
                    n.boot_at = None;
                    n.up = true;
                    n.power = PowerState::On;
                    self.next_boot += 1;
                    n.boot_id = self.next_boot;
                    n.booted_at = self.now;
                    self.report(name);
                }
            }
            let due: Vec<Event> = {
                let now = self.now;
                let (due, rest): (Vec<_>, Vec<_>) =
                    self.pending.drain(..).partition(|(t, _)| *t <= now);
                self.pending = rest;
                due.into_iter().map(|(_, e)| e).collect()
            };
            for e in due {
                // Replies from a node that went down meanwhile are lost.
                let drop = match &e {
                    Event::Alive(a) => !self.nodes.get(&a.host).is_some_and(|n| n.up && n.answers),
                    // An acknowledgement leaves the node before it acts on the command.
                    Event::GoEnabled { host, .. } | Event::HostServices { host, .. } => {
                        !self.nodes.get(host).is_some_and(|n| n.up)
                    }
                    _ => false,
                };
                if !drop {
                    self.core.handle_event(self.now, e);
                    self.drain();
                }
            }
            if self.now >= self.next_alive {
                self.next_alive = self.now + alive_period;
                for name in &names {
                    self.report(name);
                }
            }
            self.core.handle_timeout(self.now);
            self.drain();
            // As a runtime would see it: after a timeout call the core must not ask to be woken at
            // or before `now` again, or the driver would spin.
            if let Some(t) = self.core.poll_timeout() {
                assert!(
                    t > self.now,
                    "the core asks to be woken at {t:?}, not after now ({:?})",
                    self.now
                );
            }
        }
        self.now = end;
        self.core.handle_timeout(self.now);
        self.drain();
    }

    /// Advance until `pred` holds (checked after each second), at most `limit`. Returns the time taken.
    pub fn until(
        &mut self,
        limit: Duration,
        mut pred: impl FnMut(&Harness) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        while self.now.since(start) < limit {
            if pred(self) {
                return Some(self.now.since(start));
            }
            self.advance(Duration::from_secs(1));
        }
        pred(self).then(|| self.now.since(start))
    }

    pub fn states(&self, name: &str) -> String {
        self.core
            .host(name)
            .map(|h| h.states.to_string())
            .unwrap_or_default()
    }

    pub fn task(&self, name: &str) -> String {
        self.core
            .host(name)
            .map(|h| h.task.clone())
            .unwrap_or_default()
    }

    pub fn action(&self, name: &str) -> Action {
        self.core
            .host(name)
            .map(|h| h.action)
            .unwrap_or(Action::None)
    }

    pub fn alarm(&self, name: &str, id: AlarmId) -> bool {
        self.core.alarms().is_active(id, name)
    }

    /// Every task string the host showed, in order (from the record snapshots taken at each change).
    pub fn raised(&self, name: &str, id: AlarmId) -> usize {
        self.effects
            .iter()
            .filter(|e| matches!(e, Effect::Alarm(AlarmChange::Raise(a)) if a.id == id && a.host == name))
            .count()
    }

    pub fn journal_end(&self, id: ActionId) -> Option<ActionOutcome> {
        self.effects.iter().find_map(|e| match e {
            Effect::Journal(JournalEntry::Ended { id: i, outcome, .. }) if *i == id => {
                Some(outcome.clone())
            }
            _ => None,
        })
    }

    pub fn sent(&self, name: &str, pred: impl Fn(&NodeCommand) -> bool) -> usize {
        self.effects
            .iter()
            .filter(|e| matches!(e, Effect::Send { host, command, .. } if host == name && pred(command)))
            .count()
    }

    pub fn bmc_ops(&self, name: &str, op: BmcOp) -> usize {
        self.effects
            .iter()
            .filter(|e| matches!(e, Effect::Bmc { host, op: o, .. } if host == name && *o == op))
            .count()
    }

    /// Bring a host through the add handler into its steady state.
    pub fn settle(&mut self) {
        self.advance(Duration::from_secs(30));
    }

    /// Heartbeat loss on the management network (what heartbeat accounting reports after 10 misses).
    pub fn heartbeat_loss(&mut self, name: &str) {
        for ev in [
            HeartbeatEvent::MinorSet,
            HeartbeatEvent::DegradeSet,
            HeartbeatEvent::Loss,
        ] {
            self.event(Event::Heartbeat {
                host: name.into(),
                network: Network::Mgmt,
                event: ev,
                tally: None,
            });
        }
    }

    pub fn heartbeat_clear(&mut self, name: &str) {
        for ev in [
            HeartbeatEvent::LossClear,
            HeartbeatEvent::DegradeClear,
            HeartbeatEvent::MinorClear,
        ] {
            self.event(Event::Heartbeat {
                host: name.into(),
                network: Network::Mgmt,
                event: ev,
                tally: None,
            });
        }
    }

    /// Power loss of a node (it stays off until its BMC powers it on).
    pub fn crash(&mut self, name: &str) {
        let n = self.node(name);
        n.up = false;
        n.power = PowerState::Off;
        n.boot_at = None;
    }

    /// The node hangs: power stays on but it answers nothing.
    pub fn hang(&mut self, name: &str) {
        let n = self.node(name);
        n.up = false;
        n.boot_at = None;
    }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
