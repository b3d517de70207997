//! The controller pair (crate::pair, docs/controller-pair.md): an active and a standby over a simulated
//! lease server, with pauses, crashes, partitions and delays of the lease link, and swacts. The random
//! runs force the pair on (the seed tier picks it for a third of its seeds); the scripted runs show each
//! kind of takeover once, with its timing.

use std::time::Duration;
use steward_maintenance::Instant;
use steward_simulator::{PairFault, SimConfig, Simulation};

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

/// A quiet cluster of `hosts` with the pair on and no random faults; the test injects the pair's.
fn quiet_pair(hosts: usize) -> Simulation {
    let mut cfg = SimConfig::quiet(11, hosts);
    cfg.pair = true;
    Simulation::new(cfg).unwrap_or_else(|v| panic!("{v}"))
}

fn at(secs: f64) -> Instant {
    Instant::from_millis((secs * 1000.0) as u64)
}

/// Every host in service and nothing destroyed: a takeover cost no host anything.
fn nobody_failed(sim: &Simulation) {
    for r in sim.world.core.hosts() {
        assert_eq!(
            r.states.to_string(),
            "unlocked-enabled-available",
            "{} after the takeover",
            r.name()
        );
    }
    assert!(
        sim.world.checker.destructive.is_empty(),
        "{:?}",
        sim.world.checker.destructive
    );
}

fn pair(sim: &Simulation) -> &steward_simulator::pair::Pair {
    sim.world.pair.as_ref().expect("pair mode")
}

#[test]
fn crash_of_the_active_hands_over_within_ttl_and_one_poll() {
    let mut sim = quiet_pair(8);
    sim.world.run_until(at(30.0)).unwrap();
    sim.world
        .inject_pair(PairFault::Crash {
            ctl: 0,
            down: Duration::from_secs(120),
        })
        .unwrap();
    sim.world.run_until(at(60.0)).unwrap();
    let p = pair(&sim);
    assert_eq!(p.active, Some(1));
    let t = &p.takeovers[0];
    let took = t.at.since(at(30.0));
    // The lease expires at most a TTL (6 s) after the crash; the standby asks every 2 s.
    assert!(took <= Duration::from_millis(8_100), "took {took:?}");
    assert_eq!(sim.world.own_host(), "controller-1");
    nobody_failed(&sim);
}

#[test]
fn swact_hands_over_at_once() {
    let mut sim = quiet_pair(8);
    sim.world.run_until(at(30.0)).unwrap();
    sim.world.inject_pair(PairFault::Swact).unwrap();
    sim.world.run_until(at(40.0)).unwrap();
    let p = pair(&sim);
    assert_eq!(p.active, Some(1));
    assert_eq!(p.stats.swacts, 1);
    // Revoke and grant each cross the lease link (≤ 20 ms each way).
    assert!(
        p.swact_times[0] < Duration::from_millis(100),
        "{:?}",
        p.swact_times
    );
    nobody_failed(&sim);
    // And back again.
    sim.world.inject_pair(PairFault::Swact).unwrap();
    sim.world.run_until(at(80.0)).unwrap();
    assert_eq!(pair(&sim).active, Some(0));
    nobody_failed(&sim);
}

#[test]
fn an_active_paused_past_its_deadline_is_replaced_and_does_not_act_on_resume() {
    let mut sim = quiet_pair(8);
    sim.world.run_until(at(30.0)).unwrap();
    sim.world
        .inject_pair(PairFault::Pause {
            ctl: 0,
            duration: Duration::from_secs(12),
        })
        .unwrap();
    sim.world.run_until(at(60.0)).unwrap();
    let p = pair(&sim);
    assert_eq!(p.active, Some(1), "the standby took over during the pause");
    assert_eq!(p.stats.takeovers, 1);
    // On resume, the old active found its deadline passed and stood down as standby.
    assert_eq!(p.members[0].role, steward_simulator::pair::Role::Standby);
    nobody_failed(&sim);
}

#[test]
fn a_short_pause_within_the_margin_changes_nothing() {
    let mut sim = quiet_pair(8);
    sim.world.run_until(at(30.0)).unwrap();
    sim.world
        .inject_pair(PairFault::Pause {
            ctl: 0,
            duration: Duration::from_millis(900),
        })
        .unwrap();
    sim.world.run_until(at(60.0)).unwrap();
    let p = pair(&sim);
    assert_eq!(p.active, Some(0));
    assert_eq!(p.stats.takeovers, 0);
    assert_eq!(p.stats.step_downs, 0);
}

#[test]
fn an_active_cut_off_from_the_lease_server_stops_before_the_standby_starts() {
    let mut sim = quiet_pair(8);
    sim.world.run_until(at(30.0)).unwrap();
    sim.world
        .inject_pair(PairFault::PartitionLease {
            ctl: 0,
            duration: Duration::from_secs(20),
        })
        .unwrap();
    sim.world.run_until(at(60.0)).unwrap();
    let p = pair(&sim);
    assert_eq!(p.active, Some(1));
    let stopped = p.last_step_down.expect("the old active stepped down");
    let started = p.takeovers[0].at;
    assert!(
        stopped < started,
        "the old active stopped at {stopped:?}, the new one started at {started:?}"
    );
    // Stopped by its own deadline (≤ 5 s after its last acknowledged keepalive), not by a takeover.
    assert!(stopped <= at(35.1), "{stopped:?}");
    nobody_failed(&sim);
}
