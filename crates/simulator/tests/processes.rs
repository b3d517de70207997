//! The process monitor policy under random process deaths (docs/node-supervision.md#restart-policy):
//! every seed's run is judged by the simulator's own record of each process. A failing seed replays
//! alone with `STEWARD_SIM_SEED=N cargo test -p steward-simulator --test processes`.

use steward_simulator::processes;

#[test]
fn random_deaths_escalate_and_clear_as_the_record_says() {
    let seeds: Vec<u64> = match std::env::var("STEWARD_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("STEWARD_SIM_SEED is a number")],
        Err(_) => (0..300).collect(),
    };
    let mut total = processes::ProcessRun::default();
    for seed in seeds {
        let r = processes::run(seed, 2_000).unwrap_or_else(|e| {
            panic!("seed {seed}: {e}\nreplay: STEWARD_SIM_SEED={seed} cargo test -p steward-simulator --test processes")
        });
        total.deaths += r.deaths;
        total.escalations += r.escalations;
        total.clears += r.clears;
        total.health_kills += r.health_kills;
        total.failed_starts += r.failed_starts;
    }
    // The runs must exercise what they judge.
    assert!(total.deaths > 1_000, "{total:?}");
    assert!(total.escalations > 50 && total.clears > 50, "{total:?}");
    assert!(
        total.health_kills > 10 && total.failed_starts > 100,
        "{total:?}"
    );
}
