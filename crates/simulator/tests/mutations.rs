//! Deliberate bugs in the core (cargo features of `steward-maintenance`, forwarded by this crate) must
//! be caught. Each test runs only with its feature:
//!
//! ```text
//! cargo test -p steward-simulator --features mutation-skip-mnfa --test mutations
//! cargo test -p steward-simulator --features mutation-recover-locked --test mutations
//! cargo test -p steward-simulator --features mutation-drop-journal --test mutations
//! ```
//!
//! Each one first runs a scripted scenario aimed at the bug, then searches seeds `0..1000` of the random
//! runner for a violation of the expected invariant, and prints the first seed that finds it.

#![allow(dead_code, unused_imports)]

use steward_maintenance::action::OperatorAction as Op;
use steward_maintenance::state::Network;
use steward_simulator::{request, Fault, Invariant, Scenario, SimConfig, Simulation, Violation};

/// The first seed in `0..1000` (hosts 2..=20) whose run violates `expected`; the model switches are
/// relaxed so that other known issues do not end a run before the mutation shows.
fn seed_search(expected: Invariant, signature: &str) -> Option<(u64, Violation)> {
    let limit: u64 = std::env::var("STEWARD_SIM_MUTATION_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let mut other = std::collections::BTreeMap::<&'static str, u32>::new();
    for seed in 0..limit {
        let hosts = 2 + (seed % 19) as usize;
        let mut cfg = SimConfig::for_seed(seed, hosts);
        cfg.lenient_deadlines = true;
        cfg.hb_clear_after_restart = true;
        let r = Simulation::new(cfg).and_then(|s| s.run());
        match r {
            Err(v) if v.invariant == expected && v.description.contains(signature) => {
                eprintln!(
                    "seed {seed} ({hosts} hosts) caught the mutation: {}",
                    v.description
                );
                eprintln!("replay: {}", v.replay.as_deref().unwrap_or("?"));
                return Some((seed, v));
            }
            Err(v) => *other.entry(v.invariant.name()).or_default() += 1,
            Ok(_) => {}
        }
    }
    eprintln!("no seed found {expected}; other violations: {other:?}");
    None
}

#[cfg(feature = "mutation-skip-mnfa")]
#[test]
fn skip_mnfa_is_caught() {
    // Scripted: a switch carrying both networks dies for 30 s; pooled hosts must not be recovered.
    let mut s = Scenario::new(8)
        .lenient_deadlines()
        .at(10.0, Fault::CutAll(Network::Mgmt))
        .at(10.0, Fault::CutAll(Network::Cluster))
        .at(40.0, Fault::RestoreAll(Network::Mgmt))
        .at(40.0, Fault::RestoreAll(Network::Cluster));
    let r = s.run_until(120.0);
    let v = r.expect_err("the scripted mass partition must catch mutation-skip-mnfa");
    assert_eq!(
        v.invariant,
        Invariant::NoAutoDestructionOfLockedOrPooled,
        "{v}"
    );
    // Random: a pooled host destroyed on the heartbeat-failure recovery path (action recovery), which
    // only the mutation opens. Mass partitions of the management network are in the default fault mix.
    let found = seed_search(
        Invariant::NoAutoDestructionOfLockedOrPooled,
        "action recovery",
    );
    assert!(
        found.is_some(),
        "no seed in 0..1000 caught mutation-skip-mnfa"
    );
}

#[cfg(feature = "mutation-recover-locked")]
#[test]
fn recover_locked_is_caught() {
    // Scripted: a locked worker loses power; nothing may reset it automatically.
    let mut s = Scenario::new(4)
        .lenient_deadlines()
        .at(5.0, request("worker-0", Op::Lock))
        .at(60.0, Fault::Crash("worker-0".into()));
    let r = s.run_until(300.0);
    let v = r.expect_err("a crashed locked host must catch mutation-recover-locked");
    assert_eq!(
        v.invariant,
        Invariant::NoAutoDestructionOfLockedOrPooled,
        "{v}"
    );
    let found = seed_search(
        Invariant::NoAutoDestructionOfLockedOrPooled,
        "against a locked host",
    );
    assert!(
        found.is_some(),
        "no seed in 0..1000 caught mutation-recover-locked"
    );
}

#[cfg(feature = "mutation-drop-journal")]
#[test]
fn drop_journal_is_caught() {
    // Scripted: enough completed actions that one of them loses its journal end.
    let mut s = Scenario::new(6).lenient_deadlines();
    for (i, w) in ["worker-0", "worker-1", "worker-2", "worker-3"]
        .iter()
        .enumerate()
    {
        s.add(5.0 + i as f64, request(w, Op::Lock));
        s.add(60.0 + i as f64, request(w, Op::Unlock));
    }
    let r = s.run_until(400.0).and_then(|_| s.settle(600.0).map(|_| ()));
    let v = r.expect_err("dropped journal ends must be caught");
    assert_eq!(v.invariant, Invariant::ActionsJournaledAndEnded, "{v}");
    let found = seed_search(Invariant::ActionsJournaledAndEnded, "never ended");
    assert!(
        found.is_some(),
        "no seed in 0..1000 caught mutation-drop-journal"
    );
}
