//! `steward-sim`: run the real maintenance core against a simulated cluster with injected faults and
//! print what happened. The newcomer's first look at the core until `steward lab` exists, and the way
//! to run many seeds by hand.
//!
//! ```text
//! steward-sim [--hosts N] [--seed S] [--seeds K] [--pulses] [--verbose]
//! ```
//!
//! `--pulses` runs the heartbeat at pulse level through the real `steward_heartbeat::Monitor` (every
//! 100 ms pulse and answer crosses the simulated network) instead of the cheap event-level model.

use std::process::ExitCode;
use steward_simulator::{PulseConfig, SimConfig, Simulation};

struct Args {
    hosts: usize,
    seed: u64,
    seeds: u64,
    verbose: bool,
    pulses: bool,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        hosts: 20,
        seed: 1,
        seeds: 1,
        verbose: false,
        pulses: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--hosts" => {
                a.hosts = value("--hosts")?
                    .parse()
                    .map_err(|e| format!("--hosts: {e}"))?
            }
            "--seed" => {
                a.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            "--seeds" => {
                a.seeds = value("--seeds")?
                    .parse()
                    .map_err(|e| format!("--seeds: {e}"))?
            }
            "--verbose" => a.verbose = true,
            "--pulses" => a.pulses = true,
            "-h" | "--help" => {
                println!(
                    "usage: steward-sim [--hosts N] [--seed S] [--seeds K] [--pulses] [--verbose]"
                );
                println!("Runs seeds S..S+K of the deterministic simulation with N hosts each.");
                println!(
                    "--pulses: heartbeat at pulse level (the real Monitor, every pulse over the simulated network)."
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument '{other}'; see --help")),
        }
    }
    if a.hosts == 0 || a.hosts > 20_000 {
        return Err("--hosts must be between 1 and 20000".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if args.verbose {
        std::env::set_var("STEWARD_SIM_VERBOSE", "1");
    }
    let mut failed = 0u64;
    for seed in args.seed..args.seed + args.seeds {
        let started = std::time::Instant::now();
        let mut cfg = SimConfig::for_seed(seed, args.hosts);
        if args.pulses {
            cfg.pulses = Some(PulseConfig::default());
        }
        let result = Simulation::new(cfg).and_then(|s| s.run());
        let cpu = started.elapsed();
        match result {
            Ok(r) => {
                let s = &r.stats;
                println!(
                    "seed {seed}: {} hosts ({}), {:.0} s simulated in {:.2} s — {} operator actions ({} refused), \
                     {} faults, {} MNFA entries, destructive: {} operator / {} automatic / {} sensor, \
                     {} alarms raised; every invariant held",
                    r.hosts,
                    r.system_type,
                    r.sim_time.as_secs_f64(),
                    cpu.as_secs_f64(),
                    s.requests_accepted,
                    s.requests_refused,
                    s.faults,
                    s.mnfa_entered,
                    s.destructive_operator,
                    s.destructive_auto,
                    s.destructive_sensor,
                    s.alarms_raised,
                );
                if let Some(p) = &r.pulse {
                    println!(
                        "  pulses: {} sent, {} answers counted, {} stale, {} rounds ({} void), {} heartbeat events",
                        p.pulses_sent, p.replies, p.stale_replies, p.ticks, p.void_rounds, p.events
                    );
                }
            }
            Err(v) => {
                failed += 1;
                println!("seed {seed}: {v}");
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} seeds violated an invariant", args.seeds);
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
