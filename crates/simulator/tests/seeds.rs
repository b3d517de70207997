//! The seed tier: many randomized runs of the real core with faults. Every failure prints a one-line
//! replay command; `replay` re-runs one seed from the environment.
//!
//! - `small_clusters`: `STEWARD_SIM_SEEDS` seeds (default 1,000) of 1–20 hosts.
//! - `large_clusters`: `STEWARD_SIM_LARGE_SEEDS` seeds (default 20) of 1,000 hosts.
//! - `replay`: `STEWARD_SIM_SEED=.. STEWARD_SIM_HOSTS=.. cargo test -p steward-simulator --test seeds replay -- --nocapture`.

use std::time::Instant as WallClock;
use steward_simulator::{SimConfig, Simulation, Violation};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn run(seed: u64, hosts: usize) -> Result<steward_simulator::Report, Violation> {
    Simulation::new(SimConfig::for_seed(seed, hosts))?.run()
}

/// Run seeds `first..first+count` on two threads; collect failures instead of stopping at the first.
fn tier(first: u64, count: u64, hosts_for: impl Fn(u64) -> usize + Sync) -> Vec<Violation> {
    let threads = env_u64("STEWARD_SIM_THREADS", 2).max(1);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..threads {
            let failures = &failures;
            let hosts_for = &hosts_for;
            s.spawn(move || {
                let mut seed = first + t;
                while seed < first + count {
                    if let Err(v) = run(seed, hosts_for(seed)) {
                        eprintln!(
                            "seed {seed} FAILED: invariant {} violated at t={}ms host={}: {}",
                            v.invariant,
                            v.at.as_millis(),
                            v.host.as_deref().unwrap_or("-"),
                            v.description
                        );
                        failures.lock().unwrap().push(v);
                    }
                    seed += threads;
                }
            });
        }
    });
    failures.into_inner().unwrap()
}

fn report(name: &str, failures: &[Violation], started: WallClock, count: u64) {
    eprintln!(
        "{name}: {count} seeds in {:.1?}, {} failed",
        started.elapsed(),
        failures.len()
    );
    if !failures.is_empty() {
        let mut by_invariant = std::collections::BTreeMap::<&str, u32>::new();
        for v in failures {
            *by_invariant.entry(v.invariant.name()).or_default() += 1;
        }
        eprintln!("failures by invariant: {by_invariant:?}");
        eprintln!("\nfirst failure in full:\n{}\n", failures[0]);
        for v in failures.iter().take(100) {
            eprintln!(
                "  {} -> {}",
                v.invariant,
                v.replay.as_deref().unwrap_or("?")
            );
        }
        panic!(
            "{} of {count} seeds violated an invariant; replay lines above",
            failures.len()
        );
    }
}

#[test]
fn small_clusters() {
    let count = env_u64("STEWARD_SIM_SEEDS", 1000);
    let first = env_u64("STEWARD_SIM_FIRST_SEED", 0);
    let started = WallClock::now();
    let failures = tier(first, count, |seed| 1 + (seed % 20) as usize);
    report("small_clusters", &failures, started, count);
}

#[test]
fn large_clusters() {
    let count = env_u64("STEWARD_SIM_LARGE_SEEDS", 20);
    let hosts = env_u64("STEWARD_SIM_LARGE_HOSTS", 1000) as usize;
    let started = WallClock::now();
    let failures = tier(1_000_000, count, |_| hosts);
    report("large_clusters", &failures, started, count);
}

/// Replay one seed: `STEWARD_SIM_SEED=1234 STEWARD_SIM_HOSTS=20 cargo test -p steward-simulator --test seeds replay -- --nocapture`.
#[test]
fn replay() {
    let Ok(seed) = std::env::var("STEWARD_SIM_SEED") else {
        eprintln!("replay: set STEWARD_SIM_SEED (and STEWARD_SIM_HOSTS) to replay a seed");
        return;
    };
    let seed: u64 = seed.parse().expect("STEWARD_SIM_SEED is a number");
    let hosts = env_u64("STEWARD_SIM_HOSTS", 20) as usize;
    let cfg = SimConfig::for_seed(seed, hosts);
    eprintln!("replaying seed {seed} with {hosts} hosts: {cfg:?}");
    let mut sim = Simulation::new(cfg).unwrap_or_else(|v| panic!("{v}"));
    sim.world.verbose = std::env::var_os("STEWARD_SIM_VERBOSE").is_some();
    let started = WallClock::now();
    match sim.run() {
        Ok(r) => eprintln!("seed {seed} passed in {:.1?}: {r:#?}", started.elapsed()),
        Err(v) => panic!("seed {seed} failed:\n{v}"),
    }
}

/// A seed is a complete description of a run: two runs of one seed agree event for event.
#[test]
fn same_seed_same_run() {
    for (seed, hosts) in [(7u64, 12usize), (8, 5)] {
        let outcome = || match run(seed, hosts) {
            Ok(r) => format!("ok {:?} {:?}", r.sim_time, r.stats),
            Err(v) => format!(
                "err {} at {} {:?}: {}\n{:?}",
                v.invariant,
                v.at.as_millis(),
                v.host,
                v.description,
                v.trace
            ),
        };
        assert_eq!(outcome(), outcome(), "seed {seed} is not deterministic");
    }
}
