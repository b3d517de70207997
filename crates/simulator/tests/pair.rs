//! The controller pair (crate::pair, docs/controller-pair.md): an active and a standby over a simulated
//! lease server, with pauses, crashes, partitions and delays of the lease link, and swacts. The random
//! runs force the pair on (the seed tier picks it for a third of its seeds); the scripted runs show each
//! kind of takeover once, with its timing.

use std::time::Duration;
use steward_simulator::{SimConfig, Simulation};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A seed's random configuration with the pair on (and its pair faults), whatever the seed drew.
fn pair_config(seed: u64, hosts: usize) -> SimConfig {
    let mut cfg = SimConfig::for_seed(seed, hosts.max(2));
    if cfg.system_type == steward_maintenance::state::SystemType::AioSimplex {
        cfg.system_type = steward_maintenance::state::SystemType::AioDuplex;
    }
    cfg.pair = true;
    cfg.restart_interval = Duration::ZERO;
    if cfg.pair_fault_interval.is_zero() {
        cfg.pair_fault_interval = Duration::from_secs(20 + seed % 60);
    }
    cfg
}

#[test]
fn random_pair_runs_keep_the_invariants() {
    let count = env_u64("STEWARD_SIM_PAIR_SEEDS", 60);
    let first = env_u64("STEWARD_SIM_FIRST_SEED", 0);
    let mut failures = Vec::new();
    let mut takeovers = 0;
    let mut dropped = 0;
    for seed in first..first + count {
        let cfg = pair_config(seed, 2 + (seed % 19) as usize);
        match Simulation::new(cfg).and_then(|s| s.run()) {
            Ok(r) => {
                let p = r.pair.expect("a pair run reports its pair");
                takeovers += p.takeovers;
                dropped += p.dropped_steps;
            }
            Err(v) => {
                eprintln!("seed {seed}: {v}");
                failures.push(seed);
            }
        }
    }
    eprintln!("{count} pair runs: {takeovers} takeovers, {dropped} steps dropped past a deadline");
    assert!(failures.is_empty(), "pair seeds failed: {failures:?}");
    assert!(takeovers > count, "the faults should cause takeovers");
}

/// Replay one forced-pair seed: `STEWARD_SIM_SEED=.. STEWARD_SIM_HOSTS=.. cargo test -p
/// steward-simulator --test pair replay -- --nocapture` (`STEWARD_SIM_VERBOSE=1` for the whole trace).
#[test]
fn replay() {
    let Ok(seed) = std::env::var("STEWARD_SIM_SEED") else {
        return;
    };
    let seed: u64 = seed.parse().expect("STEWARD_SIM_SEED is a number");
    let hosts = env_u64("STEWARD_SIM_HOSTS", 2 + seed % 19) as usize;
    let mut sim = Simulation::new(pair_config(seed, hosts)).unwrap_or_else(|v| panic!("{v}"));
    sim.world.verbose = std::env::var_os("STEWARD_SIM_VERBOSE").is_some();
    match sim.run() {
        Ok(r) => eprintln!("seed {seed} passed: {:#?}", r.pair),
        Err(v) => panic!("seed {seed} failed:\n{v}"),
    }
}
