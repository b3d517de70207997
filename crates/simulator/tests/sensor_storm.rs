//! A critical sensor can never cause a reset storm (docs/sensors.md, "Critical actions and reset
//! storms"), judged end to end: the real sensor policy (`steward-sensors`, action reset for critical)
//! is fed readings the test generates, every request it makes goes to the simulated cluster's core as
//! the runtime would hand it over, and the core's resets reach the simulated BMC.
//!
//! The judgement uses the test's own record, never the policy's or the core's view: the samples it
//! generated (a critical episode the policy may act on is two critical samples in a row) and the
//! destructive operations the simulated world saw on the host's BMC and agent, whatever cause they
//! claim. Invariants: no more destructive operations than confirmed critical episodes, a sensor that
//! never reads critical twice in a row (flapping) never causes one, and two operations are never
//! closer than four audit intervals.

use steward_maintenance::Instant;
use steward_sensors::{
    Action, BmcStatus, ConfigChange, Effect, GroupKind, MonitorConfig, Reading, ReadingKind,
    SensorMonitor,
};
use steward_simulator::{Fault, Scenario};

const HOST: &str = "worker-0";
const INTERVAL: f64 = 10.0;

fn reading(critical: bool) -> Vec<Reading> {
    let (value, status) = if critical {
        (99.0, BmcStatus::Critical)
    } else {
        (50.0, BmcStatus::Ok)
    };
    let mut cpu = Reading::new("CPU Temp", ReadingKind::Temperature, Some(value), status);
    cpu.unit = Some("C".into());
    let mut fan = Reading::new("Fan 1", ReadingKind::Fan, Some(5000.0), BmcStatus::Ok);
    fan.unit = Some("RPM".into());
    vec![cpu, fan]
}

/// Runs the cluster with the policy reading `pattern` (one sample per audit interval, `true` =
/// critical) and returns (confirmed critical episodes in the samples, times of the destructive
/// operations the world saw on the host).
fn run(pattern: &[bool], seed: u64) -> (usize, Vec<f64>) {
    let mut s = Scenario::new(4).seed(seed);
    let mut m = SensorMonitor::new(HOST, MonitorConfig::default(), Instant::from_millis(0));
    // Learn the model from a healthy read, then choose reset for critical temperatures.
    m.handle_reading(Instant::from_millis(0), &reading(false));
    m.handle_config(
        Instant::from_millis(0),
        ConfigChange::GroupActions {
            group: GroupKind::Temperature,
            minor: None,
            major: None,
            critical: Some(Action::Reset),
        },
    )
    .expect("reset is allowed for critical");
    let mut run_len = 0usize;
    let mut episodes = 0usize;
    for (i, critical) in pattern.iter().enumerate() {
        let t = INTERVAL * (i + 1) as f64;
        let r = s.run_until(t);
        r.unwrap_or_else(|v| panic!("{v}\n{}", s.trace()));
        // The test's own record: a run of critical samples becomes an episode at its second sample.
        run_len = if *critical { run_len + 1 } else { 0 };
        if run_len == 2 {
            episodes += 1;
        }
        let now = Instant::from_millis((t * 1000.0) as u64);
        m.handle_reading(now, &reading(*critical));
        while let Some(e) = m.poll_effect() {
            if let Effect::Hwmon(event) = e {
                s.add(
                    t + 0.001,
                    Fault::Sensor {
                        host: HOST.into(),
                        event,
                    },
                );
            }
        }
    }
    let end = INTERVAL * (pattern.len() + 1) as f64;
    let r = s.run_until(end + 120.0);
    r.unwrap_or_else(|v| panic!("{v}\n{}", s.trace()));
    let at: Vec<f64> = s
        .destructive()
        .iter()
        .filter(|d| d.host == HOST)
        .map(|d| d.at.as_millis() as f64 / 1000.0)
        .collect();
    (episodes, at)
}

/// One reset or reboot of the host per recovery: the reset handler's operation and the reboot it
/// may lead to count as one when they are close together.
fn distinct(times: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = Vec::new();
    for t in times {
        if out.last().is_none_or(|l| t - l > INTERVAL) {
            out.push(*t);
        }
    }
    out
}

fn check(pattern: &[bool], seed: u64) {
    let (episodes, at) = run(pattern, seed);
    let ops = distinct(&at);
    assert!(
        ops.len() <= episodes,
        "seed {seed}: {} destructive operations ({at:?}) for {episodes} confirmed critical episodes in {pattern:?}",
        ops.len()
    );
    for w in ops.windows(2) {
        assert!(
            w[1] - w[0] >= 4.0 * INTERVAL,
            "seed {seed}: destructive operations {:.1} s apart ({at:?}) for {pattern:?}",
            w[1] - w[0]
        );
    }
}

#[test]
fn a_flapping_critical_sensor_never_resets_the_host() {
    // Critical on every other read, for ten minutes.
    let pattern: Vec<bool> = (0..60).map(|i| i % 2 == 0).collect();
    let (episodes, at) = run(&pattern, 1);
    assert_eq!(episodes, 0);
    assert!(at.is_empty(), "flapping sensor caused {at:?}");
}

#[test]
fn a_sustained_critical_reading_resets_once_per_episode() {
    // Critical for five minutes: one reset, not one per read.
    let mut pattern = vec![false; 3];
    pattern.extend([true; 30]);
    pattern.extend([false; 6]);
    let (episodes, at) = run(&pattern, 2);
    assert_eq!(episodes, 1);
    assert_eq!(distinct(&at).len(), 1, "{at:?}");
    check(&pattern, 2);
}

#[test]
fn random_sensor_histories_never_storm() {
    // Seeded sensor histories from a small LCG: bursts of critical of random length, often a
    // single read (a glitch), sometimes long.
    for seed in 10..22u64 {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u32
        };
        let mut pattern = Vec::new();
        while pattern.len() < 60 {
            let critical = next() % 3 == 0;
            let len = 1 + (next() % if critical { 4 } else { 6 }) as usize;
            pattern.extend(std::iter::repeat_n(critical, len));
        }
        check(&pattern, seed);
    }
}
