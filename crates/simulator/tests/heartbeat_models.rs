//! The two heartbeat models must agree on who is lost: the event-level model the seed tier runs
//! (reachability changes, fixed 400/600/1000 ms ladder) and the pulse-level model (the real
//! `steward_heartbeat::Monitor`, every pulse over the simulated links).
//!
//! Each seed builds one fault script (cuts of one host on one network, hangs, crashes, each healed
//! later; outages either well under the loss threshold or well over it, one at a time so that
//! multi-node failure avoidance does not change the pulse period under one model only) and runs it
//! through both models over clean links. The heartbeat losses handed to the core, per host and
//! network, must be the same: a difference is a `heartbeat_models_agree` violation.
//!
//! `STEWARD_SIM_HB_MODEL_SEEDS` sets the number of seeds (default 12).

use std::collections::BTreeMap;
use steward_maintenance::state::Network;
use steward_simulator::invariants::Violation;
use steward_simulator::{Fault, Invariant, LinkParams, Rng, Scenario, Step};

const HOSTS: usize = 6;
const END_SECS: f64 = 400.0;

/// A fault script from a seed: one outage every 40 s on a random host other than controller-0.
fn script(seed: u64) -> Vec<(f64, Step)> {
    let mut rng = Rng::new(seed ^ 0x4842_4d4f_4445_4c53);
    let mut steps = Vec::new();
    let mut t = 20.0;
    while t < END_SECS - 60.0 {
        let host = if rng.chance(0.2) {
            "controller-1".to_string()
        } else {
            format!("worker-{}", rng.below((HOSTS - 2) as u64))
        };
        // Outages either clearly shorter than the 1 s loss threshold or clearly longer.
        let secs = if rng.chance(0.4) {
            rng.range(100, 300) as f64 / 1000.0
        } else {
            rng.range(3_000, 15_000) as f64 / 1000.0
        };
        match rng.below(4) {
            0 | 1 => {
                let network = if rng.chance(0.6) {
                    Network::Mgmt
                } else {
                    Network::Cluster
                };
                let hosts = vec![host];
                steps.push((
                    t,
                    Fault::Cut {
                        hosts: hosts.clone(),
                        network,
                    }
                    .into(),
                ));
                steps.push((t + secs, Fault::Restore { hosts, network }.into()));
            }
            2 => {
                steps.push((t, Fault::Hang(host.clone()).into()));
                steps.push((t + secs, Fault::Heal(host).into()));
            }
            _ => {
                steps.push((t, Fault::Crash(host.clone()).into()));
                steps.push((t + secs, Fault::Heal(host).into()));
            }
        }
        t += 40.0;
    }
    steps
}

/// Heartbeat losses handed to the core under one model, per host and network.
fn losses(seed: u64, pulses: bool) -> Result<BTreeMap<(String, Network), u32>, Violation> {
    let mut s = Scenario::new(HOSTS).seed(seed).link(LinkParams::CLEAN);
    if pulses {
        s = s.pulse_heartbeat();
    }
    for (t, step) in script(seed) {
        s.add(t, step);
    }
    s.run_until(END_SECS)?;
    Ok(s.world().checker.truth.losses())
}

#[test]
fn pulse_and_event_heartbeat_lose_the_same_hosts() {
    let seeds: u64 = std::env::var("STEWARD_SIM_HB_MODEL_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let mut disagreements = Vec::new();
    let mut total = 0;
    for seed in 0..seeds {
        let events = losses(seed, false).unwrap_or_else(|v| panic!("seed {seed}, events: {v}"));
        let pulses = losses(seed, true).unwrap_or_else(|v| panic!("seed {seed}, pulses: {v}"));
        total += events.values().sum::<u32>();
        if events != pulses {
            disagreements.push(format!(
                "seed {seed}: {}: event level {events:?}, pulse level {pulses:?}",
                Invariant::HeartbeatModelsAgree
            ));
        }
    }
    assert!(
        total > 0,
        "the fault scripts never caused a loss: the comparison would prove nothing"
    );
    assert!(
        disagreements.is_empty(),
        "the heartbeat models disagree on who is lost:\n{}",
        disagreements.join("\n")
    );
}
