//! Agent behaviour driven with fake time and a fake disk.

use proptest::prelude::*;
use steward_agent::*;
use steward_types::{
    AckResult, Command, CommandId, Message, Network, NodeCommand, NodeEvent, NodeSettings,
    ProtocolNetwork, TestState, WireCommand,
};

/// The disk and the wire as the test sees them: effects applied, messages collected.
#[derive(Default)]
struct World {
    disk: FlagPair,
    persisted: Option<LockState>,
    settings: NodeSettings,
    sent: Vec<(Destination, Message)>,
    runs: Vec<(RunId, ScriptSet)>,
    reboots: u32,
    wipes: u32,
    logs: Vec<String>,
}

impl World {
    fn apply(&mut self, fx: Vec<Effect>) {
        for e in fx {
            match e {
                Effect::Send { to, message } => self.sent.push((to, message)),
                Effect::SendInventory { .. } => {}
                Effect::SetFlag { file, present } => self.disk.set(file, present),
                Effect::PersistLockState(s) => self.persisted = Some(s),
                Effect::ApplySettings(s) => self.settings = s,
                Effect::RunScripts { run, set } => self.runs.push((run, set)),
                Effect::Reboot => self.reboots += 1,
                Effect::WipeDisk => self.wipes += 1,
                Effect::Log { line, .. } => self.logs.push(line),
            }
        }
    }
    fn acks(&self) -> Vec<AckResult> {
        self.sent
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Ack(a) => Some(a.result.clone()),
                _ => None,
            })
            .collect()
    }
    fn alives(&self) -> Vec<steward_types::Alive> {
        self.sent
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Alive(a) => Some(a.clone()),
                _ => None,
            })
            .collect()
    }
    fn goenabled(&self) -> Vec<(bool, String)> {
        self.sent
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Event(NodeEvent::GoEnabled { passed, detail, .. }) => {
                    Some((*passed, detail.clone()))
                }
                _ => None,
            })
            .collect()
    }
}

fn cfg() -> AgentConfig {
    AgentConfig {
        networks: vec![Network::Mgmt, Network::Cluster],
        goenabled_at_start: false,
        ..AgentConfig::default()
    }
}

fn start(disk: FlagPair, confirmed: Option<LockState>, cfg: AgentConfig) -> (Agent, World) {
    let mut w = World {
        disk,
        persisted: confirmed,
        ..World::default()
    };
    let (a, fx) = Agent::start(
        cfg,
        Startup {
            now_ms: 0,
            boot_id: 7,
            uptime_ms: 30_000,
            flags: disk,
            confirmed,
            settings: NodeSettings::default(),
            health: Default::default(),
        },
    );
    w.apply(fx);
    (a, w)
}

fn cmd(id: u64, c: NodeCommand) -> Command {
    Command {
        id: CommandId(id),
        command: WireCommand::Known(c),
    }
}

const LOCKED: NodeCommand = NodeCommand::Locked { persist: true };
const LOCKED_STATE: LockState = LockState::Locked { persist: true };

#[test]
fn new_install_comes_up_locked_with_both_flags() {
    let (a, w) = start(FlagPair::ABSENT, None, cfg());
    assert_eq!(w.disk, FlagPair::BOTH);
    assert_eq!(w.persisted, Some(LockState::Locked { persist: true }));
    assert_eq!(a.confirmed(), LockState::FRESH_INSTALL);
    let alive = &w.alives()[0];
    assert!(alive.lock_volatile && alive.lock_persistent && alive.flags.locked);
}

#[test]
fn start_restores_the_volatile_flag_before_the_first_alive() {
    let (_, w) = start(
        FlagPair {
            volatile: false,
            backup: true,
        },
        Some(LockState::Locked { persist: true }),
        cfg(),
    );
    assert_eq!(w.disk, FlagPair::BOTH);
    // The restore is the very first effect.
    assert!(w.logs[0].contains("restored from its backup"));
    let first = &w.alives()[0];
    assert!(first.lock_volatile && first.flags.locked);
    assert_eq!(first.boot_id, 7);
    assert_eq!(first.uptime_ms, 30_000);
    // Alive on both networks at once.
    assert_eq!(
        w.sent[0].0,
        Destination::Controllers(vec![ProtocolNetwork::Mgmt, ProtocolNetwork::Cluster])
    );
}

#[test]
fn start_removes_a_stale_volatile_flag() {
    let (_, w) = start(
        FlagPair {
            volatile: true,
            backup: false,
        },
        Some(LockState::Unlocked),
        cfg(),
    );
    assert_eq!(w.disk, FlagPair::ABSENT);
    assert!(!w.alives()[0].flags.locked);
}

#[test]
fn rebooted_unlocked_host_locked_while_down_comes_back_with_both() {
    // Unlocked at boot (no backup); the controller's LOCKED arrives after the first alive.
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
    assert!(!w.alives()[0].flags.locked);
    w.apply(a.handle_command(100, Network::Mgmt, "controller-0", cmd(1, LOCKED)));
    assert_eq!(w.disk, FlagPair::BOTH);
    assert_eq!(w.persisted, Some(LockState::Locked { persist: true }));
    assert!(w.alives().last().is_some_and(|x| x.flags.locked));
}

#[test]
fn lock_unlock_write_both_and_are_logged() {
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
    w.apply(a.handle_command(10, Network::Mgmt, "c0", cmd(1, LOCKED)));
    assert_eq!(w.disk, FlagPair::BOTH);
    assert!(w
        .logs
        .iter()
        .any(|l| l.contains("host locked by the controller")));
    w.apply(a.handle_command(20, Network::Mgmt, "c0", cmd(2, NodeCommand::Unlocked)));
    assert_eq!(w.disk, FlagPair::ABSENT);
    assert_eq!(w.persisted, Some(LockState::Unlocked));
    assert!(w
        .logs
        .iter()
        .any(|l| l.contains("host unlocked by the controller")));
    // Simplex lock: volatile only, backup removed.
    w.disk.backup = true;
    w.apply(a.handle_command(
        30,
        Network::Mgmt,
        "c0",
        cmd(3, NodeCommand::Locked { persist: false }),
    ));
    assert_eq!(
        w.disk,
        FlagPair {
            volatile: true,
            backup: false
        }
    );
    assert_eq!(w.acks(), vec![AckResult::Ok; 3]);
}

#[test]
fn audit_corrects_tampering_within_one_period() {
    let (mut a, mut w) = start(
        FlagPair::BOTH,
        Some(LockState::Locked { persist: true }),
        cfg(),
    );
    for file in [FlagFile::Volatile, FlagFile::Backup] {
        w.disk.set(file, false);
        let t = a.poll_timeout();
        w.apply(a.handle_timeout(t, w.disk));
        assert_eq!(w.disk, FlagPair::BOTH, "{file:?} removed on a locked host");
        assert!(t <= 5_000);
    }
    w.apply(a.handle_command(0, Network::Mgmt, "c0", cmd(9, NodeCommand::Unlocked)));
    for file in [FlagFile::Volatile, FlagFile::Backup] {
        w.disk.set(file, true);
        let t = a.poll_timeout();
        w.apply(a.handle_timeout(t, w.disk));
        assert_eq!(
            w.disk,
            FlagPair::ABSENT,
            "{file:?} created on an unlocked host"
        );
    }
    assert!(w.logs.iter().any(|l| l.contains("lock flag audit")));
}

#[test]
fn repeated_command_id_runs_once_and_acks_twice() {
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
    w.apply(a.handle_command(1, Network::Mgmt, "c0", cmd(5, NodeCommand::Reboot)));
    w.apply(a.handle_command(2, Network::Cluster, "c0", cmd(5, NodeCommand::Reboot)));
    assert_eq!(w.reboots, 1);
    assert_eq!(w.acks(), vec![AckResult::Ok, AckResult::Ok]);
    assert!(
        !w.logs.iter().any(|l| l.contains("pxeboot")),
        "no pxeboot here: {:?}",
        w.logs
    );
    // The second ack goes back on the network the repeat came on.
    let dests: Vec<_> = w
        .sent
        .iter()
        .filter(|(_, m)| matches!(m, Message::Ack(_)))
        .map(|(d, _)| d.clone())
        .collect();
    assert_eq!(
        dests[1],
        Destination::Controller {
            name: "c0".into(),
            network: ProtocolNetwork::Cluster
        }
    );
}

#[test]
fn unlock_removes_both_flags_before_the_unlock_reboot() {
    let (mut a, mut w) = start(
        FlagPair::BOTH,
        Some(LockState::Locked { persist: true }),
        cfg(),
    );
    let mut fx = a.handle_command(1, Network::Mgmt, "c0", cmd(1, NodeCommand::Unlocked));
    fx.extend(a.handle_command(2, Network::Mgmt, "c0", cmd(2, NodeCommand::Reboot)));
    let last_flag = fx.iter().rposition(|e| matches!(e, Effect::SetFlag { .. }));
    let reboot = fx.iter().position(|e| *e == Effect::Reboot);
    assert!(last_flag < reboot);
    w.apply(fx);
    assert_eq!(w.disk, FlagPair::ABSENT);
    assert_eq!(w.persisted, Some(LockState::Unlocked));
}

#[test]
fn ack_precedes_reboot() {
    let (mut a, _) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
    let fx = a.handle_command(1, Network::Mgmt, "c0", cmd(5, NodeCommand::Reboot));
    let ack = fx.iter().position(|e| {
        matches!(
            e,
            Effect::Send {
                message: Message::Ack(_),
                ..
            }
        )
    });
    let reboot = fx.iter().position(|e| *e == Effect::Reboot);
    assert!(ack.is_some() && reboot.is_some() && ack < reboot);
}

#[test]
fn unknown_code_gets_unsupported() {
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
    let c = Command {
        id: CommandId(3),
        command: WireCommand::Unsupported { code: 999 },
    };
    w.apply(a.handle_command(1, Network::Mgmt, "c0", c));
    w.apply(a.handle_command(2, Network::Mgmt, "c0", c));
    assert_eq!(w.acks(), vec![AckResult::Unsupported; 2]);
    assert!(w
        .logs
        .iter()
        .any(|l| l.contains("unsupported command code 999")));
}

#[test]
fn wipe_refused_on_unlocked_host() {
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
    w.apply(a.handle_command(1, Network::Mgmt, "c0", cmd(1, NodeCommand::WipeDisk)));
    assert_eq!(w.wipes, 0);
    assert!(matches!(w.acks()[0], AckResult::Failed(_)));
    w.apply(a.handle_command(2, Network::Mgmt, "c0", cmd(2, LOCKED)));
    w.apply(a.handle_command(3, Network::Mgmt, "c0", cmd(3, NodeCommand::WipeDisk)));
    assert_eq!(w.wipes, 1);
}

#[test]
fn goenabled_pass_fail_fresh_and_one_at_a_time() {
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
    w.apply(a.handle_command(1, Network::Mgmt, "c0", cmd(1, NodeCommand::MainGoEnabled)));
    w.apply(a.handle_command(2, Network::Mgmt, "c0", cmd(2, NodeCommand::SubfGoEnabled)));
    // One run at a time: only main started.
    assert_eq!(w.runs.len(), 1);
    let (run, set) = w.runs[0];
    assert_eq!(set, ScriptSet::MainGoEnabled);
    // Requested again while running: no second run.
    w.apply(a.handle_command(3, Network::Mgmt, "c0", cmd(3, NodeCommand::MainGoEnabled)));
    assert_eq!(w.runs.len(), 1);
    let fail = summarize(vec![
        ("10-disk".into(), ScriptExit::Passed),
        ("20-net".into(), ScriptExit::Failed { code: Some(2) }),
    ]);
    w.apply(a.script_finished(1_000, run, fail));
    assert_eq!(w.goenabled(), vec![(false, "20-net failed (rc:2)".into())]);
    let alive = w
        .alives()
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no alive"));
    assert!(alive.flags.main_goenable_failed);
    // Subf starts next.
    assert_eq!(w.runs[1].1, ScriptSet::SubfGoEnabled);
    w.apply(a.script_finished(1_500, w.runs[1].0, summarize(vec![])));
    // Main again: runs, passes; host is unlocked → services start after it.
    w.apply(a.handle_command(4, Network::Mgmt, "c0", cmd(4, NodeCommand::MainGoEnabled)));
    let (run, _) = w.runs[2];
    w.apply(a.script_finished(
        2_000,
        run,
        summarize(vec![("a".into(), ScriptExit::Passed)]),
    ));
    assert!(w.goenabled().last().is_some_and(|g| g.0));
    assert_eq!(w.runs[3].1, ScriptSet::ServicesStart);
    // A request within 20 minutes answers at once without a run.
    let before = w.runs.len();
    w.apply(a.handle_command(
        60_000,
        Network::Mgmt,
        "c0",
        cmd(5, NodeCommand::MainGoEnabled),
    ));
    assert_eq!(w.runs.len(), before);
    assert!(w.goenabled().last().is_some_and(|g| g.0));
    // After 20 minutes it runs again (once the services run ends).
    w.apply(a.script_finished(61_000, w.runs[3].0, summarize(vec![])));
    w.apply(a.handle_command(
        2_000 + 20 * 60_000,
        Network::Mgmt,
        "c0",
        cmd(6, NodeCommand::MainGoEnabled),
    ));
    assert_eq!(w.runs.last().map(|r| r.1), Some(ScriptSet::MainGoEnabled));
    // A stale result is ignored.
    let n = w.sent.len();
    w.apply(a.script_finished(0, RunId(1), summarize(vec![])));
    assert_eq!(w.sent.len(), n);
}

#[test]
fn services_not_started_on_a_locked_host() {
    let c = AgentConfig {
        goenabled_at_start: true,
        ..cfg()
    };
    let (mut a, mut w) = start(FlagPair::BOTH, Some(LockState::Locked { persist: true }), c);
    assert_eq!(w.runs[0].1, ScriptSet::MainGoEnabled);
    w.apply(a.script_finished(10, w.runs[0].0, summarize(vec![])));
    assert_eq!(w.runs.len(), 1);
    // Start-time run answers nobody.
    assert!(w.goenabled().is_empty());
    assert_eq!(a.alive(10).main_goenabled, TestState::Passed);
    // On an unlocked host the services start and the result is reported.
    let c = AgentConfig {
        goenabled_at_start: true,
        ..cfg()
    };
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), c);
    w.apply(a.script_finished(10, w.runs[0].0, summarize(vec![])));
    assert_eq!(w.runs[1].1, ScriptSet::ServicesStart);
    w.apply(a.script_finished(
        20,
        w.runs[1].0,
        summarize(vec![("svc".into(), ScriptExit::TimedOut)]),
    ));
    assert!(a.alive(20).flags.main_services_failed);
    // Stop on command.
    w.apply(a.handle_command(30, Network::Mgmt, "c0", cmd(1, NodeCommand::StopServices)));
    assert_eq!(w.runs[2].1, ScriptSet::ServicesStop);
    assert_eq!(ScriptSet::ServicesStop.arg(), "stop");
}

#[test]
fn alive_schedule() {
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
    assert_eq!(w.alives().len(), 1);
    let mut now = 0;
    while now < 20_000 {
        now = a.poll_timeout();
        w.apply(a.handle_timeout(now, w.disk));
    }
    // 0, 5, 10, 15, 20 s.
    assert_eq!(w.alives().len(), 5);
    w.apply(a.handle_command(
        now + 1,
        Network::Mgmt,
        "c0",
        cmd(1, NodeCommand::RequestAlive),
    ));
    assert_eq!(w.alives().len(), 6);
    assert_eq!(w.alives()[5].uptime_ms, 30_000 + now + 1);
}

#[derive(Clone, Debug)]
enum Op {
    Lock { id: u64, persist: bool },
    Unlock { id: u64 },
    Other { id: u64 },
    Tamper { file: bool, present: bool },
    Tick { ms: u64 },
    Restart { lose_volatile: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..20, any::<bool>()).prop_map(|(id, persist)| Op::Lock { id, persist }),
        (0u64..20).prop_map(|id| Op::Unlock { id }),
        (0u64..20).prop_map(|id| Op::Other { id }),
        (any::<bool>(), any::<bool>()).prop_map(|(file, present)| Op::Tamper { file, present }),
        (0u64..3_000).prop_map(|ms| Op::Tick { ms }),
        any::<bool>().prop_map(|lose_volatile| Op::Restart { lose_volatile }),
    ]
}

proptest! {
    /// After any sequence of commands, file tamperings and agent restarts (reboots), followed by
    /// one audit, both flags match the last admin state the controller confirmed: both present
    /// (locked, persist) or both absent (unlocked).
    #[test]
    fn flags_follow_the_last_confirmed_state(ops in proptest::collection::vec(op(), 0..60)) {
        let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
        let mut now = 0u64;
        let mut expected = LockState::Unlocked;
        let mut seen_ids = std::collections::HashSet::new();
        for o in ops {
            let mut fresh = false;
            match o {
                Op::Lock { id, persist } => {
                    if seen_ids.insert(id) { expected = LockState::Locked { persist }; fresh = true; }
                    w.apply(a.handle_command(now, Network::Mgmt, "c0", cmd(id, NodeCommand::Locked { persist })));
                }
                Op::Unlock { id } => {
                    if seen_ids.insert(id) { expected = LockState::Unlocked; fresh = true; }
                    w.apply(a.handle_command(now, Network::Cluster, "c0", cmd(id, NodeCommand::Unlocked)));
                }
                Op::Other { id } => {
                    seen_ids.insert(id);
                    w.apply(a.handle_command(now, Network::Mgmt, "c0", cmd(id, NodeCommand::RequestAlive)));
                }
                Op::Tamper { file, present } => {
                    w.disk.set(if file { FlagFile::Volatile } else { FlagFile::Backup }, present);
                }
                Op::Tick { ms } => {
                    now += ms;
                    if now >= a.poll_timeout() {
                        w.apply(a.handle_timeout(now, w.disk));
                    }
                }
                Op::Restart { lose_volatile } => {
                    if lose_volatile { w.disk.volatile = false; }
                    let (na, fx) = Agent::start(cfg(), Startup {
                        now_ms: now, boot_id: 1, uptime_ms: 0, flags: w.disk, confirmed: w.persisted,
                        settings: w.settings,
                        health: Default::default(),
                    });
                    a = na;
                    w.apply(fx);
                    // Right after start the volatile flag already agrees with the state.
                    prop_assert_eq!(w.disk, expected.target());
                    // A restarted agent forgets ids; the controller uses fresh ids after a reboot.
                    seen_ids.clear();
                }
            }
            // Every LOCKED/UNLOCKED with a new id leaves the files right at once.
            if fresh {
                prop_assert_eq!(w.disk, expected.target());
            }
        }
        now += 1_000;
        w.apply(a.handle_timeout(now, w.disk));
        prop_assert_eq!(w.disk, expected.target());
        prop_assert_eq!(a.confirmed(), expected);
        prop_assert_eq!(w.persisted, Some(expected));
        if expected != (LockState::Locked { persist: false }) {
            prop_assert_eq!(w.disk.volatile, w.disk.backup);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Config push (node settings)

fn push(id: u64, s: NodeSettings) -> Command {
    Command {
        id: CommandId(id),
        command: WireCommand::Settings(s),
    }
}

fn settings(generation: u64, alive_period_ms: Option<u32>) -> NodeSettings {
    NodeSettings {
        generation,
        alive_period_ms,
        goenabled_timeout_s: Some(30),
        ..NodeSettings::default()
    }
}

#[test]
fn a_config_push_is_applied_persisted_acked_and_reported_in_the_alive() {
    let (mut a, mut w) = start(FlagPair::BOTH, Some(LOCKED_STATE), cfg());
    w.sent.clear();
    w.apply(a.handle_command(
        1_000,
        Network::Mgmt,
        "controller-0",
        push(5, settings(3, Some(2_000))),
    ));
    assert_eq!(w.settings, settings(3, Some(2_000)));
    assert_eq!(a.settings().generation, 3);
    assert_eq!(w.acks(), vec![AckResult::Ok]);
    assert_eq!(w.alives().last().map(|al| al.settings_generation), Some(3));
    assert!(w
        .logs
        .iter()
        .any(|l| l.contains("generation 3 applied from controller-0")));
    // The new alive period applies from now: the next alive is 2 s after the push.
    assert_eq!(a.poll_timeout().max(3_000), 3_000);
    w.sent.clear();
    w.apply(a.handle_timeout(3_000, w.disk));
    assert_eq!(w.alives().len(), 1, "alive after the pushed 2 s period");
}

#[test]
fn an_older_or_repeated_config_push_never_rolls_settings_back() {
    let (mut a, mut w) = start(FlagPair::BOTH, Some(LOCKED_STATE), cfg());
    w.apply(a.handle_command(0, Network::Mgmt, "c0", push(1, settings(4, Some(2_000)))));
    // A late duplicate of generation 2 under a new command id: acked, ignored.
    w.apply(a.handle_command(
        10,
        Network::Cluster,
        "c0",
        push(2, settings(2, Some(9_000))),
    ));
    assert_eq!(w.settings.generation, 4);
    assert_eq!(a.settings().alive_period_ms, Some(2_000));
    assert_eq!(w.acks(), vec![AckResult::Ok, AckResult::Ok]);
}

#[test]
fn an_out_of_range_config_push_is_refused_naming_the_field_and_changes_nothing() {
    let (mut a, mut w) = start(FlagPair::BOTH, Some(LOCKED_STATE), cfg());
    w.apply(a.handle_command(0, Network::Mgmt, "c0", push(1, settings(1, Some(5)))));
    let acks = w.acks();
    let [AckResult::Failed(why)] = acks.as_slice() else {
        panic!("expected one refusal, got {acks:?}")
    };
    assert!(why.contains("alive_period_ms"), "{why}");
    assert_eq!(a.settings(), NodeSettings::default());
    assert_eq!(w.settings, NodeSettings::default(), "nothing persisted");
}

#[test]
fn pushed_settings_survive_a_restart_and_bad_stored_ones_are_ignored() {
    let stored = settings(6, Some(2_000));
    let (a, fx) = Agent::start(
        cfg(),
        Startup {
            now_ms: 0,
            boot_id: 1,
            uptime_ms: 0,
            flags: FlagPair::BOTH,
            confirmed: Some(LOCKED_STATE),
            settings: stored,
            health: Default::default(),
        },
    );
    assert_eq!(a.settings(), stored);
    let mut w = World::default();
    w.apply(fx);
    assert_eq!(w.alives()[0].settings_generation, 6);
    // A hand-edited file with an out-of-range value: node defaults, said in the log.
    let (a, fx) = Agent::start(
        cfg(),
        Startup {
            now_ms: 0,
            boot_id: 1,
            uptime_ms: 0,
            flags: FlagPair::BOTH,
            confirmed: Some(LOCKED_STATE),
            settings: settings(7, Some(1)),
            health: Default::default(),
        },
    );
    assert_eq!(a.settings(), NodeSettings::default());
    let mut w = World::default();
    w.apply(fx);
    assert!(w
        .logs
        .iter()
        .any(|l| l.contains("stored node settings generation 7 ignored")));
}

#[test]
fn a_new_controller_session_forgets_remembered_ids_so_reused_ids_run() {
    let (mut a, mut w) = start(FlagPair::BOTH, Some(LOCKED_STATE), cfg());
    w.apply(a.handle_command(0, Network::Mgmt, "c0", cmd(1, NodeCommand::Unlocked)));
    assert_eq!(w.disk, FlagPair::ABSENT);
    // Same id again in the same run: a repeat, not carried out.
    w.apply(a.handle_command(1, Network::Mgmt, "c0", cmd(1, LOCKED)));
    assert_eq!(w.disk, FlagPair::ABSENT);
    // The controller restarted: its id 1 is a new command.
    w.apply(a.new_controller_session("c0"));
    w.apply(a.handle_command(2, Network::Mgmt, "c0", cmd(1, LOCKED)));
    assert_eq!(w.disk, FlagPair::BOTH);
}

/// A restarted controller numbers its commands from 1 again: in its new session, id 1 is a new
/// command and is carried out; in one session a repeat is still acked without acting.
#[test]
fn a_new_controller_session_forgets_remembered_command_ids() {
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
    w.apply(a.handle_session_command(1, Network::Mgmt, "c0", 100, cmd(1, NodeCommand::Unlocked)));
    w.apply(a.handle_session_command(2, Network::Mgmt, "c0", 100, cmd(1, NodeCommand::Unlocked)));
    assert_eq!(w.persisted, Some(LockState::Unlocked));
    // The restarted controller's first command reuses id 1.
    let locked = NodeCommand::Locked { persist: true };
    w.apply(a.handle_session_command(3, Network::Mgmt, "c0", 101, cmd(1, locked)));
    assert_eq!(w.persisted, Some(LockState::Locked { persist: true }));
    assert_eq!(w.disk, FlagPair::BOTH);
    // A repeat within the new session changes nothing more.
    w.apply(a.handle_session_command(4, Network::Mgmt, "c0", 101, cmd(1, NodeCommand::Unlocked)));
    assert_eq!(w.disk, FlagPair::BOTH);
}

fn pxeboot_cfg() -> AgentConfig {
    AgentConfig {
        pxeboot: true,
        ..cfg()
    }
}

#[test]
fn with_pxeboot_alive_goes_there_too_and_says_so() {
    let (_, w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), pxeboot_cfg());
    let (to, Message::Alive(alive)) = &w.sent[0] else {
        panic!("the first message is an alive report: {:?}", w.sent[0]);
    };
    assert_eq!(
        *to,
        Destination::Controllers(vec![
            ProtocolNetwork::Mgmt,
            ProtocolNetwork::Cluster,
            ProtocolNetwork::Pxeboot
        ])
    );
    assert!(alive.flags.pxeboot_alive);
    // Without pxeboot: neither.
    let (_, w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), cfg());
    assert!(!w.alives()[0].flags.pxeboot_alive);
    assert!(w.sent.iter().all(|(to, _)| match to {
        Destination::Controllers(n) => !n.contains(&ProtocolNetwork::Pxeboot),
        Destination::Controller { network, .. } => *network != ProtocolNetwork::Pxeboot,
    }));
}

#[test]
fn a_reboot_on_pxeboot_is_carried_out_once_and_acked_there() {
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), pxeboot_cfg());
    w.apply(a.handle_session_command(
        1,
        ProtocolNetwork::Pxeboot,
        "c0",
        9,
        cmd(5, NodeCommand::Reboot),
    ));
    // The same command on management (the controller sends it on both): acked, not repeated.
    w.apply(a.handle_session_command(2, Network::Mgmt, "c0", 9, cmd(5, NodeCommand::Reboot)));
    assert_eq!(w.reboots, 1);
    assert_eq!(w.acks(), vec![AckResult::Ok, AckResult::Ok]);
    let via: Vec<&String> = w.logs.iter().filter(|l| l.contains("pxeboot")).collect();
    assert_eq!(
        via,
        vec!["reboot command 5 from c0 arrived on the pxeboot network first"],
        "said once, for the copy that was carried out"
    );
    let first_ack = w
        .sent
        .iter()
        .find(|(_, m)| matches!(m, Message::Ack(_)))
        .map(|(d, _)| d.clone());
    assert_eq!(
        first_ack,
        Some(Destination::Controller {
            name: "c0".into(),
            network: ProtocolNetwork::Pxeboot
        })
    );
}

#[test]
fn only_reboot_is_carried_out_on_pxeboot() {
    let (mut a, mut w) = start(FlagPair::ABSENT, Some(LockState::Unlocked), pxeboot_cfg());
    w.apply(a.handle_command(1, ProtocolNetwork::Pxeboot, "c0", cmd(1, LOCKED)));
    w.apply(a.handle_command(
        2,
        ProtocolNetwork::Pxeboot,
        "c0",
        cmd(2, NodeCommand::WipeDisk),
    ));
    assert_eq!(a.confirmed(), LockState::Unlocked);
    assert_eq!(w.wipes, 0);
    assert!(matches!(
        &w.acks()[..],
        [AckResult::Failed(_), AckResult::Failed(_)]
    ));
    // The refusal is not remembered: the same lock on management is carried out.
    w.apply(a.handle_command(3, Network::Mgmt, "c0", cmd(1, LOCKED)));
    assert_eq!(a.confirmed(), LOCKED_STATE);
    assert_eq!(w.acks().last(), Some(&AckResult::Ok));
}
