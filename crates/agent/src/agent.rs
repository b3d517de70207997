//! The agent state machine: inputs in, [`Effect`]s out. See the crate docs for the shape.

use crate::lockflags::{FlagFile, FlagPair, LockState};
use crate::recent::RecentCommands;
use crate::scripts::{RunId, RunOutcome, ScriptSet};
use std::collections::{HashMap, VecDeque};
use steward_protocol::{MAX_AGENT_VERSION, MAX_DETAIL};
use steward_types::{
    Ack, AckResult, Alive, Command, CommandId, Message, Network, NodeCommand, NodeEvent, NodeFlags,
    NodeSettings, ProtocolNetwork, TestState, WireCommand,
};

/// Timings and identity of one agent. Times in milliseconds.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Networks the agent reports alive on (management first by convention).
    pub networks: Vec<Network>,
    /// Also report alive on the pxeboot network, and say so in every report
    /// (docs/protocol.md#the-pxeboot-network). Inventory never goes there.
    pub pxeboot: bool,
    /// Alive report period (default 5 s, docs/protocol.md#alive-reports).
    pub alive_period_ms: u64,
    /// Lock-flag audit period (1 s: a tampered flag is corrected well within the 5 s of the plan).
    pub flag_audit_period_ms: u64,
    /// A main go-enabled pass younger than this answers a request at once (20 min,
    /// docs/protocol.md#commands).
    pub goenabled_fresh_ms: u64,
    /// Inventory is sent at start and then every this often.
    pub inventory_period_ms: u64,
    /// Command ids remembered for idempotency.
    pub recent_commands: usize,
    /// Run the main go-enabled tests at start (as StarlingX's agent does), so host services
    /// start on an unlocked host without waiting for the controller.
    pub goenabled_at_start: bool,
    /// Reported in every alive (truncated to the wire limit).
    pub agent_version: String,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            networks: vec![Network::Mgmt],
            pxeboot: false,
            alive_period_ms: 5_000,
            flag_audit_period_ms: 1_000,
            goenabled_fresh_ms: 20 * 60 * 1_000,
            inventory_period_ms: 60_000,
            recent_commands: crate::recent::RECENT_COMMANDS,
            goenabled_at_start: true,
            agent_version: concat!("steward-agent ", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Facts the runtime gathers before the agent decides anything.
#[derive(Clone, Debug)]
pub struct Startup {
    /// Agent clock at start (any monotonic millisecond clock; later inputs use the same one).
    pub now_ms: u64,
    /// Changes on every boot of the machine.
    pub boot_id: u64,
    /// Machine uptime at `now_ms`.
    pub uptime_ms: u64,
    /// The lock flag files as found on disk.
    pub flags: FlagPair,
    /// The admin state the controller last confirmed, as persisted (None: never, e.g. a new
    /// install or a wiped disk).
    pub confirmed: Option<LockState>,
    /// The node settings a controller last pushed, as persisted (default: none pushed yet).
    pub settings: NodeSettings,
    /// The configuration health as found at start (the first alive report carries it).
    pub health: crate::health::ConfigHealth,
}

/// Where a message goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Every configured controller on each of these networks.
    Controllers(Vec<ProtocolNetwork>),
    /// The controller that sent a command, on the network it came on (acks).
    Controller {
        name: String,
        network: ProtocolNetwork,
    },
}

/// Log levels of [`Effect::Log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
}

/// What the runtime must do, in the order given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Seal and send `message`.
    Send {
        to: Destination,
        message: Message,
    },
    /// Read the machine's inventory and send it to every controller on these networks.
    SendInventory {
        networks: Vec<Network>,
    },
    /// Create (`present`) or remove one lock flag file.
    SetFlag {
        file: FlagFile,
        present: bool,
    },
    /// A controller pushed newer node settings: persist them (non-volatile, so the next boot
    /// starts with them) and use their script timeouts from now on. The agent already runs its
    /// own periods from them.
    ApplySettings(NodeSettings),
    /// Persist the controller-confirmed admin state (non-volatile, before the flag writes that
    /// follow it, so a crash in between is corrected toward the new state).
    PersistLockState(LockState),
    /// Run every executable of a script set in parallel; report with [`Agent::script_finished`].
    RunScripts {
        run: RunId,
        set: ScriptSet,
    },
    /// Reboot the machine (the ack has been sent before).
    Reboot,
    /// Wipe the disk, then reboot (the ack has been sent before).
    WipeDisk,
    Log {
        level: Level,
        line: String,
    },
}

#[derive(Clone, Copy, Debug, Default)]
struct TestRecord {
    state: Option<(TestState, u64)>,
    /// A controller asked and waits for the result.
    reply: bool,
}

impl TestRecord {
    fn state(&self) -> TestState {
        self.state.map_or(TestState::NotRun, |(s, _)| s)
    }
}

/// The node agent. Create with [`Agent::start`].
#[derive(Debug)]
pub struct Agent {
    cfg: AgentConfig,
    boot_id: u64,
    start_ms: u64,
    start_uptime_ms: u64,
    confirmed: LockState,
    flags: FlagPair,
    /// Pushed by a controller; its periods override `cfg`'s where set.
    settings: NodeSettings,
    recent: RecentCommands,
    main: TestRecord,
    subf: TestRecord,
    services_failed: bool,
    /// Configuration health as last observed by the runtime.
    health: crate::health::ConfigHealth,
    /// Host services start after the first main go-enabled pass of this agent run, if unlocked.
    services_autostart: bool,
    running: Option<(RunId, ScriptSet)>,
    queue: VecDeque<ScriptSet>,
    next_run: u64,
    next_alive_ms: u64,
    next_audit_ms: u64,
    next_inventory_ms: u64,
    going_down: bool,
    /// The last session heard from each controller in this agent run (volatile: a restarted agent
    /// remembers no command ids either).
    sessions: HashMap<String, u64>,
}

fn log(level: Level, line: impl Into<String>) -> Effect {
    Effect::Log {
        level,
        line: line.into(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn lock_word(s: LockState) -> &'static str {
    match s {
        LockState::Unlocked => "unlocked",
        LockState::Locked { persist: true } => "locked",
        LockState::Locked { persist: false } => "locked (no backup: simplex)",
    }
}

impl Agent {
    /// Start: restore the volatile flag from the backup *first* (docs/protocol.md#lock-flags), then
    /// correct both toward the confirmed admin state, report alive at once, send the inventory,
    /// and queue the main go-enabled tests.
    pub fn start(mut cfg: AgentConfig, s: Startup) -> (Agent, Vec<Effect>) {
        cfg.agent_version = truncate(&cfg.agent_version, MAX_AGENT_VERSION);
        cfg.alive_period_ms = cfg.alive_period_ms.max(1);
        cfg.flag_audit_period_ms = cfg.flag_audit_period_ms.max(1);
        cfg.inventory_period_ms = cfg.inventory_period_ms.max(1);
        let mut fx = Vec::new();
        // 1. Restore: nothing below may look at a volatile flag the last boot did not mean.
        let restored = s.flags.restored();
        for (file, present) in s.flags.corrections(restored) {
            fx.push(Effect::SetFlag { file, present });
            fx.push(log(
                Level::Info,
                if present {
                    "start: volatile lock flag restored from its backup"
                } else {
                    "start: stale volatile lock flag removed (no backup)"
                },
            ));
        }
        // 2. The state to keep the files at.
        let confirmed = match s.confirmed {
            Some(c) => c,
            None => {
                fx.push(Effect::PersistLockState(LockState::FRESH_INSTALL));
                fx.push(log(
                    Level::Info,
                    "start: no admin state confirmed by a controller yet; assuming locked (new install)",
                ));
                LockState::FRESH_INSTALL
            }
        };
        // Settings persisted by an older agent (or edited by hand) are checked like a push.
        let settings = match s.settings.validate() {
            Ok(()) => s.settings,
            Err(why) => {
                fx.push(log(
                    Level::Warn,
                    format!(
                        "start: stored node settings generation {} ignored ({why}); node defaults apply until the controller pushes again",
                        s.settings.generation
                    ),
                ));
                NodeSettings::default()
            }
        };
        let mut agent = Agent {
            boot_id: s.boot_id,
            start_ms: s.now_ms,
            start_uptime_ms: s.uptime_ms,
            confirmed,
            flags: restored,
            settings,
            recent: RecentCommands::new(cfg.recent_commands),
            main: TestRecord::default(),
            subf: TestRecord::default(),
            services_failed: false,
            health: s.health,
            services_autostart: true,
            running: None,
            queue: VecDeque::new(),
            next_run: 1,
            next_alive_ms: s.now_ms,
            next_audit_ms: s.now_ms,
            next_inventory_ms: s.now_ms,
            going_down: false,
            sessions: HashMap::new(),
            cfg,
        };
        // 3. Bring the files to that state now (a new install creates both): part of starting,
        // not a tampering the audit should warn about.
        let target = confirmed.target();
        for (file, present) in agent.flags.corrections(target) {
            fx.push(Effect::SetFlag { file, present });
            fx.push(log(
                Level::Info,
                format!(
                    "start: {} lock flag {} for the {} admin state",
                    file.as_str(),
                    if present { "created" } else { "removed" },
                    lock_word(confirmed)
                ),
            ));
        }
        agent.flags = target;
        fx.push(log(
            Level::Info,
            format!(
                "start: admin state {}, lock flags volatile={} backup={}",
                lock_word(confirmed),
                restored.volatile,
                restored.backup
            ),
        ));
        // 3. Audit once now, then alive + inventory at once.
        fx.extend(agent.audit(s.now_ms));
        fx.push(agent.alive_effect(s.now_ms));
        fx.push(Effect::SendInventory {
            networks: agent.cfg.networks.clone(),
        });
        agent.next_inventory_ms = s.now_ms.saturating_add(agent.inventory_period_ms());
        if agent.cfg.goenabled_at_start {
            agent.enqueue(ScriptSet::MainGoEnabled);
            fx.extend(agent.pump());
        }
        (agent, fx)
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) wants to run.
    pub fn poll_timeout(&self) -> u64 {
        self.next_alive_ms
            .min(self.next_audit_ms)
            .min(self.next_inventory_ms)
    }

    /// Timers: the flag audit (with the files as observed now), the alive report, the inventory.
    /// The runtime's latest look at the configuration health. A change is reported at once (an
    /// alive report), so an enable waiting on it does not wait a whole alive period.
    pub fn observe_health(
        &mut self,
        now_ms: u64,
        health: crate::health::ConfigHealth,
    ) -> Vec<Effect> {
        if health == self.health {
            return Vec::new();
        }
        self.health = health;
        vec![
            log(Level::Info, format!("configuration health now {health:?}")),
            self.alive_effect(now_ms),
        ]
    }

    pub fn handle_timeout(&mut self, now_ms: u64, observed: FlagPair) -> Vec<Effect> {
        self.flags = observed;
        let mut fx = Vec::new();
        if now_ms >= self.next_audit_ms {
            fx.extend(self.audit(now_ms));
        }
        if now_ms >= self.next_alive_ms {
            fx.push(self.alive_effect(now_ms));
        }
        if now_ms >= self.next_inventory_ms {
            self.next_inventory_ms = now_ms.saturating_add(self.inventory_period_ms());
            fx.push(Effect::SendInventory {
                networks: self.cfg.networks.clone(),
            });
        }
        fx
    }

    /// Correct both files toward the confirmed admin state. Commands apply in one step, so there
    /// is never a lock or unlock "in progress" here for the audit to fight with.
    fn audit(&mut self, now_ms: u64) -> Vec<Effect> {
        self.next_audit_ms = now_ms.saturating_add(self.flag_audit_period_ms());
        let target = self.confirmed.target();
        let mut fx = Vec::new();
        for (file, present) in self.flags.corrections(target) {
            fx.push(Effect::SetFlag { file, present });
            fx.push(log(
                Level::Warn,
                format!(
                    "lock flag audit: {} flag {} on a {} host; {}",
                    file.as_str(),
                    if present { "missing" } else { "present" },
                    lock_word(self.confirmed),
                    if present { "recreated" } else { "removed" }
                ),
            ));
        }
        self.flags = target;
        fx
    }

    /// A controller speaks with a new session: it restarted (or is heard for the first time), and
    /// a restarted controller numbers its commands from 1 again. Ids remembered from its last run
    /// would turn its new commands into "repeats" answered by stale acks and never carried out.
    pub fn new_controller_session(&mut self, from: &str) -> Vec<Effect> {
        let forgotten = self.recent.len();
        self.recent.clear();
        vec![log(
            Level::Debug,
            format!(
                "new session from controller {from}: {forgotten} remembered command ids forgotten"
            ),
        )]
    }

    /// One verified command from controller `from`, sent in its session `session`, received on
    /// `network`: what the runtime calls for every command. A session not heard from that
    /// controller before in this agent run (it restarted, or this is the first contact) first
    /// forgets the remembered command ids ([`new_controller_session`](Self::new_controller_session)),
    /// so the restarted controller's commands, numbered from 1 again, are carried out rather than
    /// answered with stale acks; then the inventory goes at once (a controller keeps it in memory).
    pub fn handle_session_command(
        &mut self,
        now_ms: u64,
        network: impl Into<ProtocolNetwork>,
        from: &str,
        session: u64,
        cmd: Command,
    ) -> Vec<Effect> {
        let network = network.into();
        let new_session = self.sessions.get(from) != Some(&session);
        let mut fx = Vec::new();
        if new_session {
            self.sessions.insert(from.to_string(), session);
            fx.extend(self.new_controller_session(from));
        }
        fx.extend(self.handle_command(now_ms, network, from, cmd));
        if new_session {
            fx.push(Effect::SendInventory {
                networks: self.cfg.networks.clone(),
            });
        }
        fx
    }

    /// One verified command from controller `from`, received on `network`, without the session
    /// check of [`handle_session_command`](Self::handle_session_command).
    pub fn handle_command(
        &mut self,
        now_ms: u64,
        network: impl Into<ProtocolNetwork>,
        from: &str,
        cmd: Command,
    ) -> Vec<Effect> {
        let network = network.into();
        let reply = |result: AckResult| Effect::Send {
            to: Destination::Controller {
                name: from.to_string(),
                network,
            },
            message: Message::Ack(Ack { id: cmd.id, result }),
        };
        // Idempotency: a repeated id gets the same ack again and nothing else.
        if let Some(prev) = self.recent.get(cmd.id) {
            return vec![
                reply(prev.clone()),
                log(
                    Level::Debug,
                    format!("command {} repeated on {network:?}; ack re-sent", cmd.id.0),
                ),
            ];
        }
        let mut fx = Vec::new();
        // Pxeboot is the fallback path for reboots (docs/protocol.md#the-pxeboot-network): nothing
        // else is carried out when it arrives there.
        let reboot = matches!(cmd.command, WireCommand::Known(NodeCommand::Reboot));
        if network == ProtocolNetwork::Pxeboot && !reboot {
            // Not remembered: the same command arriving on management is still carried out.
            let result =
                AckResult::Failed("only reboot is carried out on the pxeboot network".into());
            fx.push(log(
                Level::Warn,
                format!(
                    "command {} from {from} refused on pxeboot: not a reboot",
                    cmd.id.0
                ),
            ));
            fx.push(reply(result));
            return fx;
        }
        if network == ProtocolNetwork::Pxeboot {
            // Which copy was carried out: with management and cluster broken, only this one
            // arrives (with them up, it may simply have been quicker).
            fx.push(log(
                Level::Info,
                format!(
                    "reboot command {} from {from} arrived on the pxeboot network first",
                    cmd.id.0
                ),
            ));
        }
        let command = match cmd.command {
            WireCommand::Known(c) => c,
            WireCommand::Settings(settings) => {
                let result = self.apply_settings(now_ms, from, settings, &mut fx);
                self.recent.insert(cmd.id, result.clone());
                fx.push(reply(result));
                fx.push(self.alive_effect(now_ms));
                return fx;
            }
            WireCommand::Unsupported { code } => {
                self.recent.insert(cmd.id, AckResult::Unsupported);
                fx.push(log(
                    Level::Warn,
                    format!(
                        "unsupported command code {code} (id {}) from {from}",
                        cmd.id.0
                    ),
                ));
                fx.push(reply(AckResult::Unsupported));
                return fx;
            }
        };
        let result = self.execute(now_ms, cmd.id, command, &mut fx);
        self.recent.insert(cmd.id, result.clone());
        // The ack goes before a reboot or wipe effect: the controller must hear it first.
        let pos = fx
            .iter()
            .position(|e| matches!(e, Effect::Reboot | Effect::WipeDisk))
            .unwrap_or(fx.len());
        fx.insert(pos, reply(result));
        if !self.going_down {
            fx.push(self.alive_effect(now_ms));
        }
        fx.extend(self.pump());
        fx
    }

    fn execute(
        &mut self,
        now_ms: u64,
        id: CommandId,
        command: NodeCommand,
        fx: &mut Vec<Effect>,
    ) -> AckResult {
        match command {
            NodeCommand::Reboot | NodeCommand::LazyReboot => {
                fx.push(log(
                    Level::Info,
                    format!("reboot requested (command {})", id.0),
                ));
                fx.push(Effect::Reboot);
                self.going_down = true;
            }
            NodeCommand::WipeDisk => {
                // A node-side guard behind the controller's admission: never wipe a host the
                // controller last confirmed as unlocked (in service).
                if !self.confirmed.is_locked() {
                    fx.push(log(
                        Level::Warn,
                        format!("wipe-disk refused (command {}): host is unlocked", id.0),
                    ));
                    return AckResult::Failed(
                        "host is unlocked; wipe-disk needs a locked host".into(),
                    );
                }
                fx.push(log(
                    Level::Info,
                    format!("wipe-disk requested (command {})", id.0),
                ));
                fx.push(Effect::WipeDisk);
                self.going_down = true;
            }
            NodeCommand::Locked { persist } => {
                self.set_lock_state(LockState::Locked { persist }, fx)
            }
            NodeCommand::Unlocked => self.set_lock_state(LockState::Unlocked, fx),
            NodeCommand::RequestAlive => {}
            NodeCommand::MainGoEnabled => {
                let fresh = matches!(self.main.state, Some((TestState::Passed, at))
                    if now_ms.saturating_sub(at) < self.cfg.goenabled_fresh_ms);
                if fresh {
                    fx.push(self.goenabled_event(false, true, "passed (recent result)".into()));
                } else {
                    self.main.reply = true;
                    if !self.is_active(ScriptSet::MainGoEnabled) {
                        self.enqueue(ScriptSet::MainGoEnabled);
                    }
                }
            }
            NodeCommand::SubfGoEnabled => {
                // The subfunction tests always run afresh (StarlingX's agent clears stale results).
                self.subf.reply = true;
                if !self.is_active(ScriptSet::SubfGoEnabled) {
                    self.enqueue(ScriptSet::SubfGoEnabled);
                }
            }
            NodeCommand::StopServices => {
                fx.push(log(Level::Info, "host services stop requested"));
                if !self.is_active(ScriptSet::ServicesStop) {
                    self.enqueue(ScriptSet::ServicesStop);
                }
            }
        }
        AckResult::Ok
    }

    /// Config push: take settings newer than the ones held; an older or equal generation is a
    /// late duplicate (acked, ignored) so settings never roll back.
    fn apply_settings(
        &mut self,
        now_ms: u64,
        from: &str,
        new: NodeSettings,
        fx: &mut Vec<Effect>,
    ) -> AckResult {
        if new.generation <= self.settings.generation {
            fx.push(log(
                Level::Debug,
                format!(
                    "node settings generation {} from {from} ignored: generation {} already applied",
                    new.generation, self.settings.generation
                ),
            ));
            return AckResult::Ok;
        }
        if let Err(why) = new.validate() {
            fx.push(log(
                Level::Warn,
                format!(
                    "node settings generation {} from {from} refused: {why}",
                    new.generation
                ),
            ));
            return AckResult::Failed(truncate(&format!("refused: {why}"), MAX_DETAIL));
        }
        let old = self.settings;
        self.settings = new;
        fx.push(Effect::ApplySettings(new));
        fx.push(log(
            Level::Info,
            format!(
                "node settings generation {} applied from {from}: {} (was generation {}: {})",
                new.generation,
                new.describe(),
                old.generation,
                old.describe()
            ),
        ));
        // New periods take effect now, not after the old (maybe long) period has run out.
        self.next_audit_ms = self
            .next_audit_ms
            .min(now_ms.saturating_add(self.flag_audit_period_ms()));
        self.next_inventory_ms = self
            .next_inventory_ms
            .min(now_ms.saturating_add(self.inventory_period_ms()));
        AckResult::Ok
    }

    /// The settings a controller last pushed (generation 0: none).
    pub fn settings(&self) -> NodeSettings {
        self.settings
    }

    fn alive_period_ms(&self) -> u64 {
        self.settings
            .alive_period_ms
            .map_or(self.cfg.alive_period_ms, u64::from)
    }

    fn flag_audit_period_ms(&self) -> u64 {
        self.settings
            .flag_audit_period_ms
            .map_or(self.cfg.flag_audit_period_ms, u64::from)
    }

    fn inventory_period_ms(&self) -> u64 {
        self.settings
            .inventory_period_s
            .map_or(self.cfg.inventory_period_ms, |s| u64::from(s) * 1_000)
    }

    fn set_lock_state(&mut self, new: LockState, fx: &mut Vec<Effect>) {
        let old = self.confirmed;
        self.confirmed = new;
        fx.push(Effect::PersistLockState(new));
        // Write both files unconditionally: what the agent last observed may be stale, and the
        // writes are idempotent.
        let target = new.target();
        fx.push(Effect::SetFlag {
            file: FlagFile::Volatile,
            present: target.volatile,
        });
        fx.push(Effect::SetFlag {
            file: FlagFile::Backup,
            present: target.backup,
        });
        self.flags = target;
        // The controller re-sends the lock state on every online audit: only a change is news.
        let entry = if old == new {
            log(
                Level::Debug,
                format!("{} confirmed by the controller", lock_word(new)),
            )
        } else {
            log(
                Level::Info,
                format!(
                    "host {} by the controller (was {}); lock flags volatile={} backup={}",
                    lock_word(new),
                    lock_word(old),
                    target.volatile,
                    target.backup
                ),
            )
        };
        fx.push(entry);
    }

    fn is_active(&self, set: ScriptSet) -> bool {
        self.running.is_some_and(|(_, s)| s == set) || self.queue.contains(&set)
    }

    fn enqueue(&mut self, set: ScriptSet) {
        // At most one entry per set: the queue is bounded by the number of sets.
        if !self.queue.contains(&set) {
            self.queue.push_back(set);
        }
        match set {
            ScriptSet::MainGoEnabled => self.main.state = Some((TestState::Running, 0)),
            ScriptSet::SubfGoEnabled => self.subf.state = Some((TestState::Running, 0)),
            _ => {}
        }
    }

    /// Start the next queued script set if none runs (one at a time).
    fn pump(&mut self) -> Vec<Effect> {
        if self.running.is_some() || self.going_down {
            return Vec::new();
        }
        let Some(set) = self.queue.pop_front() else {
            return Vec::new();
        };
        let run = RunId(self.next_run);
        self.next_run += 1;
        self.running = Some((run, set));
        vec![
            log(
                Level::Info,
                format!("{} scripts started (run {})", set.as_str(), run.0),
            ),
            Effect::RunScripts { run, set },
        ]
    }

    /// The runtime reports that run `run` ended.
    pub fn script_finished(&mut self, now_ms: u64, run: RunId, outcome: RunOutcome) -> Vec<Effect> {
        let set = match self.running {
            Some((r, set)) if r == run => set,
            _ => {
                return vec![log(
                    Level::Debug,
                    format!("result of an old script run {} ignored", run.0),
                )]
            }
        };
        self.running = None;
        let detail = truncate(&outcome.detail, MAX_DETAIL);
        let verdict = if outcome.passed { "passed" } else { "FAILED" };
        let mut fx = vec![log(
            if outcome.passed {
                Level::Info
            } else {
                Level::Warn
            },
            format!("{} {verdict}: {detail}", set.as_str()),
        )];
        let state = if outcome.passed {
            TestState::Passed
        } else {
            TestState::Failed
        };
        match set {
            ScriptSet::MainGoEnabled | ScriptSet::SubfGoEnabled => {
                let subf = set == ScriptSet::SubfGoEnabled;
                let rec = if subf { &mut self.subf } else { &mut self.main };
                rec.state = Some((state, now_ms));
                if std::mem::take(&mut rec.reply) {
                    fx.push(self.goenabled_event(subf, outcome.passed, detail));
                }
                if !subf && outcome.passed && std::mem::take(&mut self.services_autostart) {
                    if self.confirmed.is_locked() {
                        fx.push(log(
                            Level::Info,
                            "host services not started: host is locked",
                        ));
                    } else {
                        self.enqueue(ScriptSet::ServicesStart);
                    }
                }
            }
            ScriptSet::ServicesStart | ScriptSet::ServicesStop => {
                if set == ScriptSet::ServicesStart {
                    self.services_failed = !outcome.passed;
                }
                fx.push(Effect::Send {
                    to: Destination::Controllers(self.heartbeat_networks()),
                    message: Message::Event(NodeEvent::HostServices {
                        passed: outcome.passed,
                        detail,
                    }),
                });
            }
        }
        fx.push(self.alive_effect(now_ms));
        fx.extend(self.pump());
        fx
    }

    fn goenabled_event(&self, subfunction: bool, passed: bool, detail: String) -> Effect {
        // Sent on every network: the controller keeps one result per host, so a duplicate is
        // harmless, and one network down must not lose it.
        Effect::Send {
            to: Destination::Controllers(self.heartbeat_networks()),
            message: Message::Event(NodeEvent::GoEnabled {
                subfunction,
                passed,
                detail,
            }),
        }
    }

    /// The configured heartbeat networks, where everything but alive reports and reboots travels.
    fn heartbeat_networks(&self) -> Vec<ProtocolNetwork> {
        self.cfg.networks.iter().map(|n| (*n).into()).collect()
    }

    fn alive_effect(&mut self, now_ms: u64) -> Effect {
        self.next_alive_ms = now_ms.saturating_add(self.alive_period_ms());
        let mut to = self.heartbeat_networks();
        if self.cfg.pxeboot {
            to.push(ProtocolNetwork::Pxeboot);
        }
        Effect::Send {
            to: Destination::Controllers(to),
            message: Message::Alive(self.alive(now_ms)),
        }
    }

    /// The alive report as it would be sent at `now_ms`.
    pub fn alive(&self, now_ms: u64) -> Alive {
        let main = self.main.state();
        let subf = self.subf.state();
        Alive {
            boot_id: self.boot_id,
            uptime_ms: self
                .start_uptime_ms
                .saturating_add(now_ms.saturating_sub(self.start_ms)),
            flags: NodeFlags {
                // From the runtime's markers; with none configured, configured and healthy (a
                // host without the worker subfunction is never asked about it).
                configured: self.health.configured,
                not_healthy: self.health.failed,
                healthy: self.health.passed,
                subf_configured: self.health.subf_configured,
                luks_failed: self.health.luks_failed,
                locked: self.flags.volatile,
                main_goenabled: main == TestState::Passed,
                subf_goenabled: subf == TestState::Passed,
                main_goenable_failed: main == TestState::Failed,
                subf_goenable_failed: subf == TestState::Failed,
                main_services_failed: self.services_failed,
                pxeboot_alive: self.cfg.pxeboot,
                ..NodeFlags::default()
            },
            lock_volatile: self.flags.volatile,
            lock_persistent: self.flags.backup,
            main_goenabled: main,
            subf_goenabled: subf,
            settings_generation: self.settings.generation,
            agent_version: self.cfg.agent_version.clone(),
        }
    }

    /// The admin state the controller last confirmed (or the fresh-install default).
    pub fn confirmed(&self) -> LockState {
        self.confirmed
    }

    /// The lock flags as the agent believes them to be (after its own writes).
    pub fn flags(&self) -> FlagPair {
        self.flags
    }

    /// The script set running now.
    pub fn running(&self) -> Option<(RunId, ScriptSet)> {
        self.running
    }

    /// A reboot or wipe was ordered; the agent starts no more scripts.
    pub fn going_down(&self) -> bool {
        self.going_down
    }
}
