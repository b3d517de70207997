//! Property tests: random reading sequences, failures and operator changes.
//!
//! - nothing panics, whatever the input (duplicate names, NaN, unknown statuses, bad configuration);
//! - the alarms and degrade level a runtime builds from the effects always equal the monitor's own view,
//!   even when effects pile up undrained (the queue coalesces, and stays bounded);
//! - once every sensor reads ok again, every alarm raised has been cleared and the degrade dropped;
//! - never more reset / power-cycle requests than critical episodes, and a single sensor's requests are
//!   at least four reads apart (two to leave critical, two to come back).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use steward_maintenance::{HwmonEvent, Instant};
use steward_sensors::effect::MAX_PENDING_LOGS;
use steward_sensors::{
    Action, ActionOverrides, BmcStatus, ConfigChange, Effect, GroupKind, MonitorConfig,
    ReadFailure, Reading, ReadingKind, SensorAlarmChange, SensorMonitor, Severity, Thresholds,
};
use support::{Rig, HOST};

const POOL: [(&str, ReadingKind, &str); 8] = [
    ("CPU1 Temp", ReadingKind::Temperature, "C"),
    ("CPU2 Temp", ReadingKind::Temperature, "C"),
    ("FAN1", ReadingKind::Fan, "RPM"),
    ("FAN2", ReadingKind::Fan, "RPM"),
    ("12V", ReadingKind::Voltage, "V"),
    ("PSU1 Status", ReadingKind::Discrete, ""),
    ("CPU Usage", ReadingKind::Other, "%"),
    ("PS1 Current", ReadingKind::Current, "A"),
];

#[derive(Clone, Debug)]
enum Op {
    Read(Vec<(usize, BmcStatus, Option<f64>)>),
    FailAll,
    FailGroup(GroupKind),
    Actions(GroupKind, Action, Action, Action),
    SensorOverride(usize, Option<Action>),
    SuppressSensor(usize, bool),
    SuppressGroup(GroupKind, bool),
    SensorThresholds(usize, Thresholds),
    Interval(u64),
    Relearn,
    Stop,
    Start,
    Advance(u64),
}

fn status() -> impl Strategy<Value = BmcStatus> {
    prop_oneof![
        4 => Just(BmcStatus::Ok),
        2 => Just(BmcStatus::NonCritical),
        3 => Just(BmcStatus::Critical),
        1 => Just(BmcStatus::NonRecoverable),
        1 => Just(BmcStatus::Unavailable),
        1 => "[a-z0-9]{0,6}".prop_map(BmcStatus::Unknown),
    ]
}

fn value() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        4 => (-50.0f64..150.0).prop_map(Some),
        1 => Just(None),
        1 => Just(Some(f64::NAN)),
        1 => Just(Some(f64::INFINITY)),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Ignore),
        Just(Action::Log),
        Just(Action::Alarm),
        Just(Action::Reset),
        Just(Action::PowerCycle),
    ]
}

fn group() -> impl Strategy<Value = GroupKind> {
    prop::sample::select(GroupKind::ALL.to_vec())
}

fn threshold() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        3 => Just(None),
        2 => (-20.0f64..120.0).prop_map(Some),
        1 => Just(Some(f64::NAN)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => prop::collection::vec((0..POOL.len(), status(), value()), 0..12).prop_map(Op::Read),
        2 => Just(Op::FailAll),
        1 => group().prop_map(Op::FailGroup),
        3 => (group(), action(), action(), action()).prop_map(|(g, a, b, c)| Op::Actions(g, a, b, c)),
        1 => (0..POOL.len(), prop::option::of(action())).prop_map(|(i, a)| Op::SensorOverride(i, a)),
        1 => (0..POOL.len(), any::<bool>()).prop_map(|(i, s)| Op::SuppressSensor(i, s)),
        1 => (group(), any::<bool>()).prop_map(|(g, s)| Op::SuppressGroup(g, s)),
        1 => (0..POOL.len(), threshold(), threshold(), threshold(), threshold()).prop_map(
            |(i, a, b, c, d)| Op::SensorThresholds(
                i,
                Thresholds { lower_critical: a, upper_minor: b, upper_major: c, upper_critical: d, ..Thresholds::default() }
            )
        ),
        1 => (0u64..200).prop_map(Op::Interval),
        1 => Just(Op::Relearn),
        1 => Just(Op::Stop),
        1 => Just(Op::Start),
        1 => (0u64..300).prop_map(Op::Advance),
    ]
}

fn reading(i: usize, status: BmcStatus, value: Option<f64>) -> Reading {
    let (name, kind, unit) = POOL[i];
    let mut r = Reading::new(name, kind, value, status);
    if !unit.is_empty() {
        r.unit = Some(unit.into());
    }
    r
}

/// Apply one operation; returns whether it was a read handed to `handle_reading`.
fn apply(m: &mut SensorMonitor, now: &mut Instant, op: &Op) -> bool {
    match op {
        Op::Read(rs) => {
            if let Some(due) = m.poll_timeout() {
                *now = (*now).max(due);
            }
            let readings: Vec<Reading> = rs
                .iter()
                .map(|(i, s, v)| reading(*i, s.clone(), *v))
                .collect();
            m.handle_reading(*now, &readings);
            return true;
        }
        Op::FailAll => m.handle_read_failure(*now, ReadFailure::All),
        Op::FailGroup(g) => m.handle_read_failure(*now, ReadFailure::Group(*g)),
        Op::Actions(g, a, b, c) => {
            let _ = m.handle_config(
                *now,
                ConfigChange::GroupActions {
                    group: *g,
                    minor: Some(*a),
                    major: Some(*b),
                    critical: Some(*c),
                },
            );
        }
        Op::SensorOverride(i, a) => {
            let _ = m.handle_config(
                *now,
                ConfigChange::SensorActions {
                    sensor: POOL[*i].0.into(),
                    overrides: ActionOverrides {
                        critical: *a,
                        ..ActionOverrides::default()
                    },
                },
            );
        }
        Op::SuppressSensor(i, s) => {
            let _ = m.handle_config(
                *now,
                ConfigChange::SensorSuppress {
                    sensor: POOL[*i].0.into(),
                    suppress: *s,
                },
            );
        }
        Op::SuppressGroup(g, s) => {
            let _ = m.handle_config(
                *now,
                ConfigChange::GroupSuppress {
                    group: *g,
                    suppress: *s,
                },
            );
        }
        Op::SensorThresholds(i, t) => {
            let _ = m.handle_config(
                *now,
                ConfigChange::SensorThresholds {
                    sensor: POOL[*i].0.into(),
                    thresholds: *t,
                },
            );
        }
        Op::Interval(s) => {
            let _ = m.handle_config(*now, ConfigChange::AuditInterval(Duration::from_secs(*s)));
        }
        Op::Relearn => {
            let _ = m.handle_config(*now, ConfigChange::Relearn);
        }
        Op::Stop => m.stop(),
        Op::Start => m.start(*now),
        Op::Advance(s) => *now = *now + Duration::from_secs(*s),
    }
    false
}

fn critical_statuses(m: &SensorMonitor) -> BTreeMap<String, bool> {
    m.model()
        .sensors
        .into_iter()
        .map(|s| (s.name, s.status == Severity::Critical))
        .collect()
}

/// Read every learned sensor as ok (no value, so no operator threshold applies).
fn all_ok(m: &SensorMonitor) -> Vec<Reading> {
    m.model()
        .sensors
        .iter()
        .map(|s| {
            let mut r = Reading::new(&s.name, ReadingKind::Other, None, BmcStatus::Ok);
            r.unit = s.unit.clone();
            r
        })
        .collect()
}

fn check_view(rig: &Rig) -> Result<(), TestCaseError> {
    let own: BTreeMap<_, _> = rig
        .m
        .active_alarms()
        .map(|(id, e, s)| ((id, e.to_string()), s))
        .collect();
    prop_assert_eq!(&rig.alarms, &own);
    prop_assert_eq!(rig.degraded, rig.m.is_degraded());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_the_rules(ops in prop::collection::vec(op(), 0..80)) {
        let mut rig = Rig::new();
        let mut episodes = 0usize;
        let mut before = critical_statuses(&rig.m);
        for op in &ops {
            let mut now = rig.now;
            apply(&mut rig.m, &mut now, op);
            rig.now = now;
            rig.drain();
            check_view(&rig)?;
            let after = critical_statuses(&rig.m);
            episodes += after
                .iter()
                .filter(|(n, crit)| **crit && !before.get(*n).copied().unwrap_or(false))
                .count();
            before = after;
            prop_assert!(rig.requests.len() <= episodes,
                "{} requests for {} critical episodes", rig.requests.len(), episodes);
            prop_assert!(rig.m.model().sensors.len() <= steward_sensors::MAX_SENSORS);
            prop_assert!(rig.m.history("CPU1 Temp").map_or(0, |h| h.len()) <= 60);
        }

        // Everything reads ok again: every alarm raised is cleared, the degrade dropped.
        let now = rig.now;
        rig.m.start(now);
        rig.drain();
        if rig.m.model().sensors.is_empty() {
            let ok: Vec<Reading> = (0..POOL.len()).map(|i| reading(i, BmcStatus::Ok, None)).collect();
            rig.read(&ok);
        }
        for _ in 0..3 {
            let ok = all_ok(&rig.m);
            rig.read(&ok);
        }
        check_view(&rig)?;
        prop_assert!(rig.alarms.is_empty(), "left active: {:?}", rig.alarms);
        prop_assert!(!rig.degraded);
        for (id, entity, _) in &rig.raises {
            prop_assert!(rig.clears.iter().any(|(cid, ce)| cid == id && ce == entity),
                "{:?} {} raised, never cleared", id, entity);
        }
    }

    #[test]
    fn undrained_effects_stay_bounded_and_coalesce_to_the_same_view(
        ops in prop::collection::vec(op(), 0..150)
    ) {
        let cfg = MonitorConfig::default();
        let mut now = Instant::from_millis(1_000);
        let mut m = SensorMonitor::new(HOST, cfg, now);
        for op in &ops {
            apply(&mut m, &mut now, op);
            let model = m.model();
            // One pending change per alarm entity (sensors, groups, profile), one degrade, one of each
            // request, one persist, plus the capped logs.
            let bound = MAX_PENDING_LOGS + model.sensors.len() * 2 + GroupKind::ALL.len() + 1 + 4 + POOL.len();
            prop_assert!(m.pending_effects() <= bound, "{} pending > {}", m.pending_effects(), bound);
        }
        let mut rig = Rig::from_monitor(m, now);
        check_view(&rig)?;
        rig.drain();
    }

    #[test]
    fn one_sensor_with_a_reset_action_asks_at_most_once_per_four_reads(
        statuses in prop::collection::vec(prop_oneof![
            3 => Just(BmcStatus::Critical),
            2 => Just(BmcStatus::Ok),
            1 => Just(BmcStatus::NonRecoverable),
            1 => Just(BmcStatus::Unavailable),
            1 => Just(BmcStatus::NonCritical),
        ], 0..200),
        missing in prop::collection::vec(any::<bool>(), 200),
    ) {
        let mut rig = Rig::new();
        let cpu = reading(0, BmcStatus::Ok, Some(40.0));
        let other = reading(2, BmcStatus::Ok, Some(4000.0));
        rig.read(&[cpu.clone(), other.clone()]);
        let now = rig.now;
        rig.m.handle_config(now, ConfigChange::GroupActions {
            group: GroupKind::Temperature,
            minor: None,
            major: None,
            critical: Some(Action::Reset),
        }).unwrap();
        rig.drain();
        let mut last_request: Option<usize> = None;
        for (i, s) in statuses.iter().enumerate() {
            let mut r = vec![other.clone()];
            // Some reads miss the sensor (while the other keeps the set known, so no relearn).
            if !missing[i] {
                let mut c = cpu.clone();
                c.status = s.clone();
                r.push(c);
            }
            let before = rig.requests.len();
            rig.read(&r);
            prop_assert!(rig.requests.len() <= before + 1);
            if rig.requests.len() > before {
                prop_assert_eq!(rig.requests.last(), Some(&HwmonEvent::Reset));
                if let Some(last) = last_request {
                    prop_assert!(i - last >= 4, "requests at reads {} and {}", last, i);
                }
                last_request = Some(i);
            }
        }
    }
}

#[test]
fn an_effect_list_is_what_the_runtime_sees() {
    // A smoke check of the rig itself: raise and clear arrive as effects in order.
    let mut m = SensorMonitor::new(HOST, MonitorConfig::default(), Instant::ZERO);
    m.handle_read_failure(Instant::ZERO, ReadFailure::All);
    let mut seen = vec![];
    while let Some(e) = m.poll_effect() {
        seen.push(e);
    }
    assert!(matches!(
        seen.as_slice(),
        [Effect::Alarm(SensorAlarmChange::Raise(_))]
    ));
}
