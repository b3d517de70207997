//! One test per rule of the sensor policy (crate docs, docs/sensors.md).

mod support;

use std::time::Duration;

use steward_maintenance::{HwmonEvent, Instant};
use steward_sensors::{
    Action, ActionOverrides, AlarmSeverity, BmcStatus, BmcThresholds, ConfigChange, ConfigError,
    GroupKind, GroupState, MonitorConfig, ReadFailure, Reading, ReadingKind, SensorAlarmId,
    SensorMonitor, SensorState, Severity, Thresholds,
};
use support::*;

const CPU: &str = "CPU1 Temp";

fn set_group_actions(rig: &mut Rig, group: GroupKind, minor: Action, major: Action, crit: Action) {
    let now = rig.now;
    rig.m
        .handle_config(
            now,
            ConfigChange::GroupActions {
                group,
                minor: Some(minor),
                major: Some(major),
                critical: Some(crit),
            },
        )
        .unwrap();
    rig.drain();
}

// ---- model ---------------------------------------------------------------------------------------

#[test]
fn the_first_read_learns_sensors_and_canned_groups() {
    let mut rig = Rig::new();
    assert_eq!(
        rig.m.poll_timeout(),
        Some(rig.now),
        "first read due at once"
    );
    rig.read(&healthy());
    let model = rig.m.model();
    assert_eq!(model.sensors.len(), 6);
    let kinds: Vec<GroupKind> = model.groups.iter().map(|g| g.kind).collect();
    assert_eq!(
        kinds,
        vec![
            GroupKind::Temperature,
            GroupKind::Fan,
            GroupKind::Voltage,
            GroupKind::Power
        ]
    );
    assert_eq!(rig.m.sensor("PSU1 Status").unwrap().group, GroupKind::Power);
    assert_eq!(rig.m.sensor(CPU).unwrap().unit.as_deref(), Some("C"));
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Ok);
    assert_eq!(rig.m.sensor(CPU).unwrap().state, SensorState::Enabled);
    assert!(model.groups.iter().all(|g| g.state == GroupState::Enabled));
    assert_eq!(model.audit_interval_secs, 120);
    assert!(rig.persists >= 1, "the learned model is persisted");
    assert_eq!(
        rig.logs_containing("sensor model learned: 6 sensors in 4 groups"),
        1
    );
    assert_eq!(
        rig.m.poll_timeout(),
        Some(rig.now + Duration::from_secs(120))
    );
    assert!(rig.alarms.is_empty() && !rig.degraded);
}

#[test]
fn a_host_whose_sensors_cannot_be_learned_raises_200_014_until_they_can() {
    let mut rig = Rig::new();
    rig.fail(ReadFailure::All);
    let profile = format!("host={HOST}.sensor=profile");
    assert_eq!(
        rig.alarms
            .get(&(SensorAlarmId::Configuration, profile.clone())),
        Some(&AlarmSeverity::Minor)
    );
    assert_eq!(
        rig.m.poll_timeout(),
        Some(rig.now + Duration::from_secs(30)),
        "learning retries sooner than the audit interval"
    );
    // An empty answer is a failed read, not a healthy host.
    rig.read(&[]);
    assert_eq!(rig.raises.len(), 1, "raised once");
    rig.read(&healthy());
    assert!(rig.alarms.is_empty());
    assert_eq!(rig.clears, vec![(SensorAlarmId::Configuration, profile)]);
}

// ---- debounce --------------------------------------------------------------------------------------

#[test]
fn a_status_change_needs_two_reads_in_a_row() {
    let mut rig = learned();
    rig.read(&with(CPU, BmcStatus::Critical));
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Ok);
    assert!(rig.alarms.is_empty() && !rig.degraded);
    rig.read(&with(CPU, BmcStatus::Critical));
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Critical);
    assert_eq!(rig.sensor_alarm(CPU), Some(AlarmSeverity::Critical));
    assert!(rig.degraded);
}

#[test]
fn a_fault_on_the_very_first_read_also_needs_confirmation() {
    let mut rig = Rig::new();
    rig.read(&with(CPU, BmcStatus::Critical));
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Offline);
    assert_eq!(rig.m.sensor("FAN1").unwrap().status, Severity::Ok);
    assert!(rig.alarms.is_empty());
    rig.read(&with(CPU, BmcStatus::Critical));
    assert_eq!(rig.sensor_alarm(CPU), Some(AlarmSeverity::Critical));
}

#[test]
fn a_first_read_fault_followed_by_ok_is_a_transient_not_flapping() {
    let mut rig = Rig::new();
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&healthy());
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Ok);
    assert_eq!(rig.logs_containing("transient critical reading"), 1);
    assert_eq!(rig.logs_containing("flapping"), 0);
    assert!(rig.raises.is_empty());
}

#[test]
fn a_reset_request_comes_after_the_alarm_and_the_degrade() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Temperature,
        Action::Ignore,
        Action::Log,
        Action::Reset,
    );
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.advance_to_due();
    let now = rig.now;
    rig.m.handle_reading(now, &with(CPU, BmcStatus::Critical));
    let mut order = vec![];
    while let Some(e) = rig.m.poll_effect() {
        match e {
            steward_sensors::Effect::Alarm(_) => order.push("alarm"),
            steward_sensors::Effect::Hwmon(HwmonEvent::DegradeSet) => order.push("degrade"),
            steward_sensors::Effect::Hwmon(HwmonEvent::Reset) => order.push("reset"),
            _ => {}
        }
    }
    assert_eq!(order, vec!["alarm", "degrade", "reset"]);
}

#[test]
fn a_single_differing_read_is_logged_as_a_transient() {
    let mut rig = learned();
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&healthy());
    assert!(rig.alarms.is_empty() && rig.raises.is_empty());
    assert_eq!(rig.logs_containing("transient critical reading"), 1);
    let log = rig
        .logs
        .iter()
        .find(|l| l.text.contains("transient"))
        .unwrap();
    assert_eq!(log.entity, entity(CPU));
    assert_eq!(log.id, SensorAlarmId::OutOfTolerance);
}

#[test]
fn changing_on_consecutive_reads_is_logged_as_flapping_once() {
    let mut rig = learned();
    for s in [
        BmcStatus::NonCritical,
        BmcStatus::Critical,
        BmcStatus::NonCritical,
        BmcStatus::Critical,
    ] {
        rig.read(&with(CPU, s));
    }
    assert_eq!(
        rig.m.sensor(CPU).unwrap().status,
        Severity::Ok,
        "never confirmed"
    );
    assert_eq!(rig.logs_containing("flapping"), 1, "once per episode");
    assert!(rig.raises.is_empty() && rig.requests.is_empty());
    // Settling (two equal reads) ends the episode; a new one logs again.
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&healthy());
    rig.read(&healthy());
    rig.read(&with(CPU, BmcStatus::NonCritical));
    rig.read(&with(CPU, BmcStatus::Critical));
    assert_eq!(rig.logs_containing("flapping"), 2);
}

// ---- actions ---------------------------------------------------------------------------------------

#[test]
fn a_sensor_alternating_ok_and_critical_logs_one_transient_then_flapping_once() {
    let mut rig = learned();
    for i in 0..20 {
        let s = if i % 2 == 0 {
            BmcStatus::Critical
        } else {
            BmcStatus::Ok
        };
        rig.read(&with(CPU, s));
    }
    assert_eq!(rig.logs_containing("transient"), 1);
    assert_eq!(rig.logs_containing("flapping"), 1);
    assert!(rig.raises.is_empty());
    // Two quiet reads end the episode; the next alternation is reported again.
    rig.read(&healthy());
    rig.read(&healthy());
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&healthy());
    assert_eq!(rig.logs_containing("transient"), 2);
}

#[test]
fn default_actions_ignore_minor_log_major_alarm_critical() {
    let mut rig = learned();
    // Minor (a status nobody understands): ignored.
    rig.read(&with(CPU, BmcStatus::Unknown("0x0280".into())));
    rig.read(&with(CPU, BmcStatus::Unknown("0x0280".into())));
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Minor);
    assert!(rig.alarms.is_empty() && !rig.degraded);
    let logs = rig.take_logs();
    assert!(logs.iter().all(|l| !l.text.contains("sensor is minor")));
    // Major (a non-critical threshold, as StarlingX maps it): logged once, no alarm, no degrade.
    for _ in 0..4 {
        rig.read(&with(CPU, BmcStatus::NonCritical));
    }
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Major);
    assert_eq!(rig.logs_containing("sensor is major"), 1);
    assert!(rig.alarms.is_empty() && !rig.degraded);
    // Critical: alarmed and degraded.
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&with(CPU, BmcStatus::Critical));
    assert_eq!(rig.sensor_alarm(CPU), Some(AlarmSeverity::Critical));
    assert!(rig.degraded);
    assert!(rig.requests.is_empty(), "alarm is not reset");
}

#[test]
fn a_minor_alarm_never_degrades_and_major_does() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Temperature,
        Action::Alarm,
        Action::Alarm,
        Action::Alarm,
    );
    rig.read(&with(CPU, BmcStatus::Unknown("??".into())));
    rig.read(&with(CPU, BmcStatus::Unknown("??".into())));
    assert_eq!(rig.sensor_alarm(CPU), Some(AlarmSeverity::Minor));
    assert!(!rig.degraded && rig.degrade_events.is_empty());
    rig.read(&with(CPU, BmcStatus::NonCritical));
    rig.read(&with(CPU, BmcStatus::NonCritical));
    assert_eq!(rig.sensor_alarm(CPU), Some(AlarmSeverity::Major));
    assert!(rig.degraded);
    rig.read(&healthy());
    rig.read(&healthy());
    assert!(rig.alarms.is_empty() && !rig.degraded);
    assert_eq!(rig.degrade_events, vec![true, false]);
}

#[test]
fn ignore_and_log_never_degrade() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Temperature,
        Action::Ignore,
        Action::Ignore,
        Action::Log,
    );
    for s in [BmcStatus::NonCritical, BmcStatus::Critical] {
        rig.read(&with(CPU, s.clone()));
        rig.read(&with(CPU, s));
    }
    assert!(rig.degrade_events.is_empty() && rig.raises.is_empty());
    assert_eq!(rig.logs_containing("sensor is critical"), 1);
}

#[test]
fn alarms_are_raised_once_and_cleared_once() {
    let mut rig = learned();
    for _ in 0..6 {
        rig.read(&with(CPU, BmcStatus::Critical));
    }
    for _ in 0..6 {
        rig.read(&healthy());
    }
    assert_eq!(
        rig.raises,
        vec![(
            SensorAlarmId::OutOfTolerance,
            entity(CPU),
            AlarmSeverity::Critical
        )]
    );
    assert_eq!(
        rig.clears,
        vec![(SensorAlarmId::OutOfTolerance, entity(CPU))]
    );
    assert_eq!(rig.degrade_events, vec![true, false]);
    assert_eq!(
        rig.logs_containing("back to ok"),
        0,
        "an alarm's end is its clear"
    );
}

#[test]
fn a_severity_change_re_raises_at_the_new_severity() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Temperature,
        Action::Alarm,
        Action::Alarm,
        Action::Alarm,
    );
    for s in [BmcStatus::NonCritical, BmcStatus::Critical] {
        rig.read(&with(CPU, s.clone()));
        rig.read(&with(CPU, s));
    }
    let sev: Vec<AlarmSeverity> = rig.raises.iter().map(|r| r.2).collect();
    assert_eq!(sev, vec![AlarmSeverity::Major, AlarmSeverity::Critical]);
    assert_eq!(
        rig.degrade_events,
        vec![true],
        "still degraded, not re-sent"
    );
}

#[test]
fn a_critical_reset_action_asks_once_per_debounced_transition() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Temperature,
        Action::Ignore,
        Action::Log,
        Action::Reset,
    );
    for _ in 0..10 {
        rig.read(&with(CPU, BmcStatus::Critical));
    }
    assert_eq!(
        rig.requests,
        vec![HwmonEvent::Reset],
        "one per episode, not one per read"
    );
    let alarm = rig.sensor_alarm(CPU);
    assert_eq!(alarm, Some(AlarmSeverity::Critical));
    assert!(rig.degraded);
    // A second sensor going critical in the same episode of the host asks again: it is its own episode,
    // and the core's hold-off de-duplicates.
    rig.read(&healthy());
    rig.read(&healthy());
    rig.read(&with(CPU, BmcStatus::NonRecoverable));
    rig.read(&with(CPU, BmcStatus::NonRecoverable));
    assert_eq!(rig.requests, vec![HwmonEvent::Reset, HwmonEvent::Reset]);
}

#[test]
fn a_critical_power_cycle_action_asks_for_a_power_cycle() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Fan,
        Action::Ignore,
        Action::Log,
        Action::PowerCycle,
    );
    rig.read(&with("FAN2", BmcStatus::Critical));
    rig.read(&with("FAN2", BmcStatus::Critical));
    assert_eq!(rig.requests, vec![HwmonEvent::PowerCycle]);
    let raise = rig.raises.last().unwrap();
    assert_eq!(raise.1, entity("FAN2"));
}

#[test]
fn a_flapping_critical_sensor_never_asks_for_a_reset() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Temperature,
        Action::Ignore,
        Action::Log,
        Action::Reset,
    );
    for i in 0..40 {
        let s = if i % 2 == 0 {
            BmcStatus::Critical
        } else {
            BmcStatus::Ok
        };
        rig.read(&with(CPU, s));
    }
    assert!(rig.requests.is_empty());
    assert!(rig.raises.is_empty());
}

#[test]
fn choosing_reset_during_a_critical_episode_asks_once() {
    let mut rig = learned();
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&with(CPU, BmcStatus::Critical));
    assert!(rig.requests.is_empty());
    for a in [
        Action::Reset,
        Action::Alarm,
        Action::Reset,
        Action::PowerCycle,
    ] {
        set_group_actions(
            &mut rig,
            GroupKind::Temperature,
            Action::Ignore,
            Action::Log,
            a,
        );
        rig.read(&with(CPU, BmcStatus::Critical));
    }
    assert_eq!(rig.requests, vec![HwmonEvent::Reset]);
}

#[test]
fn a_sensor_override_beats_its_group() {
    let mut rig = learned();
    let now = rig.now;
    rig.m
        .handle_config(
            now,
            ConfigChange::SensorActions {
                sensor: "Inlet Temp".into(),
                overrides: ActionOverrides {
                    major: Some(Action::Alarm),
                    ..ActionOverrides::default()
                },
            },
        )
        .unwrap();
    rig.read(&with("Inlet Temp", BmcStatus::NonCritical));
    rig.read(&with("Inlet Temp", BmcStatus::NonCritical));
    assert_eq!(rig.sensor_alarm("Inlet Temp"), Some(AlarmSeverity::Major));
    rig.read(&with(CPU, BmcStatus::NonCritical));
    rig.read(&with(CPU, BmcStatus::NonCritical));
    assert_eq!(
        rig.sensor_alarm(CPU),
        None,
        "the group's major action is log"
    );
}

// ---- suppression -----------------------------------------------------------------------------------

#[test]
fn suppressing_a_sensor_clears_its_alarm_and_degrade_and_unsuppressing_restores_them() {
    let mut rig = learned();
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&with(CPU, BmcStatus::Critical));
    assert!(rig.degraded);
    let now = rig.now;
    rig.m
        .handle_config(
            now,
            ConfigChange::SensorSuppress {
                sensor: CPU.into(),
                suppress: true,
            },
        )
        .unwrap();
    rig.drain();
    assert!(rig.alarms.is_empty() && !rig.degraded);
    assert_eq!(
        rig.m.sensor(CPU).unwrap().status,
        Severity::Critical,
        "still monitored"
    );
    rig.read(&with(CPU, BmcStatus::Critical));
    assert!(rig.alarms.is_empty());
    rig.m
        .handle_config(
            now,
            ConfigChange::SensorSuppress {
                sensor: CPU.into(),
                suppress: false,
            },
        )
        .unwrap();
    rig.drain();
    assert_eq!(rig.sensor_alarm(CPU), Some(AlarmSeverity::Critical));
    assert!(rig.degraded);
}

#[test]
fn a_suppressed_group_takes_no_action_and_asks_for_nothing() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Temperature,
        Action::Alarm,
        Action::Alarm,
        Action::Reset,
    );
    let now = rig.now;
    rig.m
        .handle_config(
            now,
            ConfigChange::GroupSuppress {
                group: GroupKind::Temperature,
                suppress: true,
            },
        )
        .unwrap();
    for _ in 0..4 {
        rig.read(&with(CPU, BmcStatus::Critical));
    }
    rig.read(&with(CPU, BmcStatus::Ok));
    assert!(rig.raises.is_empty() && rig.requests.is_empty() && !rig.degraded);
    assert_eq!(
        rig.logs_containing("transient"),
        0,
        "suppressed sensors do not log"
    );
    assert_eq!(rig.logs_containing("sensor group suppressed"), 1);
    // Another group is unaffected.
    rig.read(&with("FAN1", BmcStatus::Critical));
    rig.read(&with("FAN1", BmcStatus::Critical));
    assert_eq!(rig.sensor_alarm("FAN1"), Some(AlarmSeverity::Critical));
}

// ---- missing sensor --------------------------------------------------------------------------------

#[test]
fn a_missing_sensor_goes_offline_then_minor() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Fan,
        Action::Alarm,
        Action::Alarm,
        Action::Alarm,
    );
    rig.read(&with("FAN2", BmcStatus::Critical));
    rig.read(&with("FAN2", BmcStatus::Critical));
    assert_eq!(rig.sensor_alarm("FAN2"), Some(AlarmSeverity::Critical));
    // Missing once: not trusted yet.
    rig.read(&without("FAN2"));
    assert_eq!(rig.m.sensor("FAN2").unwrap().state, SensorState::Offline);
    assert_eq!(rig.sensor_alarm("FAN2"), Some(AlarmSeverity::Critical));
    // Missing twice: offline, its alarm cleared.
    rig.read(&without("FAN2"));
    assert_eq!(rig.m.sensor("FAN2").unwrap().status, Severity::Offline);
    assert_eq!(rig.sensor_alarm("FAN2"), None);
    assert!(!rig.degraded);
    // Missing for good: minor (here alarmed).
    rig.read(&without("FAN2"));
    rig.read(&without("FAN2"));
    assert_eq!(rig.m.sensor("FAN2").unwrap().status, Severity::Minor);
    assert_eq!(rig.sensor_alarm("FAN2"), Some(AlarmSeverity::Minor));
    assert_eq!(
        rig.m.model().sensors.len(),
        6,
        "a missing sensor is not relearned away"
    );
    // Back: ok after two reads, alarm cleared.
    rig.read(&healthy());
    rig.read(&healthy());
    assert_eq!(rig.m.sensor("FAN2").unwrap().status, Severity::Ok);
    assert_eq!(rig.m.sensor("FAN2").unwrap().state, SensorState::Enabled);
    assert!(rig.alarms.is_empty());
}

#[test]
fn an_unavailable_reading_is_offline_and_clears_the_alarm() {
    let mut rig = learned();
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&with(CPU, BmcStatus::Unavailable));
    rig.read(&with(CPU, BmcStatus::Unavailable));
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Offline);
    assert!(rig.alarms.is_empty() && !rig.degraded);
    assert_eq!(rig.logs_containing("transient"), 0);
}

// ---- relearn ---------------------------------------------------------------------------------------

#[test]
fn a_changed_sensor_set_is_relearned_after_two_reads_keeping_configuration() {
    let mut rig = learned();
    let now = rig.now;
    rig.m
        .handle_config(
            now,
            ConfigChange::SensorSuppress {
                sensor: "FAN1".into(),
                suppress: true,
            },
        )
        .unwrap();
    set_group_actions(
        &mut rig,
        GroupKind::Fan,
        Action::Log,
        Action::Alarm,
        Action::Alarm,
    );
    // A firmware update renames one sensor and adds a current sensor.
    let mut next: Vec<Reading> = without("Inlet Temp");
    next.push(temp("Ambient Temp", 23.0, BmcStatus::Ok));
    let mut amps = Reading::new(
        "PS1 Current",
        ReadingKind::Current,
        Some(1.5),
        BmcStatus::Ok,
    );
    amps.unit = Some("A".into());
    next.push(amps);
    rig.read(&next);
    assert!(
        rig.m.sensor("Ambient Temp").is_none(),
        "one read is not enough"
    );
    rig.read(&next);
    assert!(rig.m.sensor("Ambient Temp").is_some());
    assert!(rig.m.sensor("Inlet Temp").is_none());
    assert_eq!(
        rig.m.sensor("PS1 Current").unwrap().group,
        GroupKind::Current
    );
    assert!(rig.m.sensor("FAN1").unwrap().suppress, "sensor config kept");
    assert_eq!(
        rig.m.group(GroupKind::Fan).unwrap().actions.minor,
        Action::Log,
        "group config kept"
    );
    assert_eq!(
        rig.logs_containing("relearned: the BMC's sensor set changed"),
        1
    );
    assert_eq!(rig.m.stats().relearns, 1);
}

#[test]
fn a_relearn_request_relearns_on_the_next_read_and_drops_vanished_sensors_with_their_alarms() {
    let mut rig = learned();
    rig.read(&with("FAN2", BmcStatus::Critical));
    rig.read(&with("FAN2", BmcStatus::Critical));
    assert!(rig.sensor_alarm("FAN2").is_some());
    rig.advance(Duration::from_secs(5));
    let now = rig.now;
    rig.m.handle_config(now, ConfigChange::Relearn).unwrap();
    assert_eq!(rig.m.poll_timeout(), Some(now), "read at once");
    rig.read(&without("FAN2"));
    assert!(rig.m.sensor("FAN2").is_none());
    assert!(rig.alarms.is_empty() && !rig.degraded);
    assert_eq!(rig.logs_containing("relearned on request"), 1);
}

// ---- thresholds ------------------------------------------------------------------------------------

#[test]
fn operator_thresholds_apply_where_the_bmc_reports_none() {
    let mut rig = learned();
    let now = rig.now;
    let t = Thresholds {
        upper_major: Some(70.0),
        upper_critical: Some(80.0),
        ..Thresholds::default()
    };
    rig.m
        .handle_config(
            now,
            ConfigChange::SensorThresholds {
                sensor: CPU.into(),
                thresholds: t,
            },
        )
        .unwrap();
    let hot = |v: f64| {
        let mut r = healthy();
        r[0] = temp(CPU, v, BmcStatus::Ok);
        r
    };
    rig.read(&hot(85.0));
    rig.read(&hot(85.0));
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Critical);
    assert_eq!(rig.sensor_alarm(CPU), Some(AlarmSeverity::Critical));
    rig.read(&hot(50.0));
    rig.read(&hot(50.0));
    assert!(rig.alarms.is_empty());

    // Group thresholds cover the group's other sensors.
    rig.m
        .handle_config(
            now,
            ConfigChange::GroupThresholds {
                group: GroupKind::Temperature,
                thresholds: Thresholds {
                    upper_critical: Some(30.0),
                    ..Thresholds::default()
                },
            },
        )
        .unwrap();
    rig.read(&healthy());
    rig.read(&healthy());
    assert_eq!(
        rig.m.sensor("Inlet Temp").unwrap().status,
        Severity::Ok,
        "22 < 30"
    );
    assert_eq!(
        rig.m.sensor(CPU).unwrap().status,
        Severity::Ok,
        "own thresholds win"
    );

    // Where the BMC has thresholds of its own, its status decides.
    let mut with_bmc = hot(85.0);
    with_bmc[0].thresholds = BmcThresholds {
        upper_critical: Some(100.0),
        ..BmcThresholds::default()
    };
    rig.read(&with_bmc);
    rig.read(&with_bmc);
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Ok);
}

#[test]
fn invalid_thresholds_are_refused() {
    let mut rig = learned();
    let now = rig.now;
    let err = rig
        .m
        .handle_config(
            now,
            ConfigChange::SensorThresholds {
                sensor: CPU.into(),
                thresholds: Thresholds {
                    upper_major: Some(90.0),
                    upper_critical: Some(80.0),
                    ..Thresholds::default()
                },
            },
        )
        .unwrap_err();
    assert!(matches!(err, ConfigError::Threshold(_)));
}

// ---- group read failure ----------------------------------------------------------------------------

#[test]
fn a_failed_read_raises_200_015_per_group_until_a_good_read() {
    let mut rig = learned();
    rig.fail(ReadFailure::All);
    let failed: Vec<&(SensorAlarmId, String)> = rig
        .alarms
        .keys()
        .filter(|(id, _)| *id == SensorAlarmId::GroupReadFailure)
        .collect();
    assert_eq!(failed.len(), 4);
    assert!(rig.alarms.values().all(|s| *s == AlarmSeverity::Major));
    assert!(rig.alarms.contains_key(&(
        SensorAlarmId::GroupReadFailure,
        format!("host={HOST}.sensorgroup=server fans")
    )));
    assert!(!rig.degraded, "a read failure does not degrade");
    assert_eq!(
        rig.m.group(GroupKind::Fan).unwrap().state,
        GroupState::Failed
    );
    rig.fail(ReadFailure::All);
    assert_eq!(rig.raises.len(), 4, "raised once");
    rig.read(&healthy());
    assert!(rig.alarms.is_empty());
    assert_eq!(rig.clears.len(), 4);
    assert_eq!(
        rig.m.group(GroupKind::Fan).unwrap().state,
        GroupState::Enabled
    );
}

#[test]
fn one_failed_group_does_not_make_its_sensors_missing() {
    let mut rig = learned();
    for _ in 0..5 {
        rig.advance_to_due();
        let now = rig.now;
        rig.m
            .handle_read_failure(now, ReadFailure::Group(GroupKind::Fan));
        let rest: Vec<Reading> = healthy()
            .into_iter()
            .filter(|r| !r.name.starts_with("FAN"))
            .collect();
        rig.m.handle_reading(now, &rest);
        rig.drain();
    }
    assert_eq!(rig.alarms.len(), 1);
    assert_eq!(
        rig.m.group(GroupKind::Fan).unwrap().state,
        GroupState::Failed
    );
    assert_eq!(
        rig.m.group(GroupKind::Temperature).unwrap().state,
        GroupState::Enabled
    );
    assert_eq!(rig.m.sensor("FAN1").unwrap().status, Severity::Ok);
    rig.read(&healthy());
    assert!(rig.alarms.is_empty());
}

// ---- audit interval --------------------------------------------------------------------------------

#[test]
fn the_audit_interval_is_one_value_per_host_with_a_minimum() {
    let mut rig = learned();
    let last = rig.now;
    assert_eq!(rig.m.poll_timeout(), Some(last + Duration::from_secs(120)));
    assert_eq!(
        rig.m
            .handle_config(last, ConfigChange::AuditInterval(Duration::from_secs(5))),
        Err(ConfigError::IntervalTooShort(5, 10))
    );
    rig.advance(Duration::from_secs(3));
    let now = rig.now;
    rig.m
        .handle_config(now, ConfigChange::AuditInterval(Duration::from_secs(30)))
        .unwrap();
    rig.drain();
    assert_eq!(rig.m.audit_interval(), Duration::from_secs(30));
    assert_eq!(rig.m.model().audit_interval_secs, 30);
    assert_eq!(rig.m.poll_timeout(), Some(last + Duration::from_secs(30)));
    assert_eq!(
        rig.logs_containing("audit interval changed from 120 s to 30 s"),
        1
    );
    assert!(rig.persists > 0);
    // Shortened below the time already waited: due now, never in the past.
    rig.advance(Duration::from_secs(20));
    let now = rig.now;
    rig.m
        .handle_config(now, ConfigChange::AuditInterval(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(rig.m.poll_timeout(), Some(now));
    rig.read(&healthy());
    assert_eq!(
        rig.m.poll_timeout(),
        Some(rig.now + Duration::from_secs(10))
    );
}

// ---- configuration checks --------------------------------------------------------------------------

#[test]
fn destructive_actions_are_for_critical_only_and_where_allowed() {
    let mut rig = learned();
    let now = rig.now;
    let r = rig.m.handle_config(
        now,
        ConfigChange::GroupActions {
            group: GroupKind::Fan,
            minor: None,
            major: Some(Action::Reset),
            critical: None,
        },
    );
    assert!(matches!(r, Err(ConfigError::ActionNotAllowed { .. })));
    assert_eq!(
        rig.m.group(GroupKind::Fan).unwrap().actions.major,
        Action::Log
    );

    let mut simplex = Rig::with_config(MonitorConfig {
        destructive_actions_allowed: false,
        ..MonitorConfig::default()
    });
    simplex.read(&healthy());
    let now = simplex.now;
    let r = simplex.m.handle_config(
        now,
        ConfigChange::GroupActions {
            group: GroupKind::Fan,
            minor: None,
            major: None,
            critical: Some(Action::PowerCycle),
        },
    );
    assert_eq!(r, Err(ConfigError::DestructiveDisabled("power-cycle")));
}

#[test]
fn unknown_sensors_and_groups_are_refused() {
    let mut rig = learned();
    let now = rig.now;
    assert_eq!(
        rig.m.handle_config(
            now,
            ConfigChange::SensorSuppress {
                sensor: "nope".into(),
                suppress: true
            }
        ),
        Err(ConfigError::UnknownSensor("nope".into()))
    );
    assert!(matches!(
        rig.m.handle_config(
            now,
            ConfigChange::GroupSuppress {
                group: GroupKind::Usage,
                suppress: true
            }
        ),
        Err(ConfigError::UnknownGroup(_))
    ));
}

// ---- malformed input -------------------------------------------------------------------------------

#[test]
fn duplicate_names_keep_the_worst_and_nan_is_no_value() {
    let mut rig = learned();
    let mut r = healthy();
    r.push(temp(CPU, 99.0, BmcStatus::Critical));
    r.push(temp("Inlet Temp", f64::NAN, BmcStatus::Ok));
    r.push(temp("", 1.0, BmcStatus::Ok));
    r.push(temp(&"x".repeat(500), 1.0, BmcStatus::Ok));
    rig.read(&r);
    rig.read(&r);
    assert_eq!(rig.m.sensor(CPU).unwrap().status, Severity::Critical);
    let stats = rig.m.stats();
    assert_eq!(stats.duplicates_merged, 4);
    assert_eq!(stats.non_finite_values, 2);
    assert_eq!(stats.readings_dropped, 4);
    assert_eq!(rig.m.model().sensors.len(), 6);
    let last = rig.m.history("Inlet Temp").unwrap().last().unwrap();
    assert!(last.value().is_some(), "the finite duplicate was kept");
}

#[test]
fn at_most_max_sensors_are_learned() {
    let mut rig = Rig::new();
    let many: Vec<Reading> = (0..1000)
        .map(|i| temp(&format!("T{i:04}"), 30.0, BmcStatus::Ok))
        .collect();
    rig.read(&many);
    assert_eq!(rig.m.model().sensors.len(), steward_sensors::MAX_SENSORS);
    assert_eq!(rig.m.stats().readings_dropped, 1000 - 256);
}

#[test]
fn the_reading_history_is_bounded() {
    let mut rig = Rig::with_config(MonitorConfig {
        history_len: 5,
        ..MonitorConfig::default()
    });
    for i in 0..20 {
        let mut r = healthy();
        r[0] = temp(CPU, 40.0 + i as f64, BmcStatus::Ok);
        rig.read(&r);
    }
    let h = rig.m.history(CPU).unwrap();
    assert_eq!(h.len(), 5);
    let values: Vec<f64> = h.iter().filter_map(|s| s.value()).collect();
    assert_eq!(values, vec![55.0, 56.0, 57.0, 58.0, 59.0]);
}

// ---- restore, stop ---------------------------------------------------------------------------------

#[test]
fn restore_reconciles_alarms_without_flapping_or_repeating_requests() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Temperature,
        Action::Ignore,
        Action::Log,
        Action::Reset,
    );
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&with(CPU, BmcStatus::Critical));
    assert_eq!(rig.requests, vec![HwmonEvent::Reset]);
    let model = rig.m.model();

    // The store lost the sensor alarm but holds an orphan for a sensor the model no longer has.
    let orphan = (
        SensorAlarmId::OutOfTolerance,
        entity("Old Sensor"),
        AlarmSeverity::Major,
    );
    let now = Instant::from_millis(10_000_000);
    let m = SensorMonitor::restore(HOST, MonitorConfig::default(), model, &[orphan], now);
    let mut after = Rig::from_monitor(m, now);
    assert_eq!(after.sensor_alarm(CPU), Some(AlarmSeverity::Critical));
    assert_eq!(
        after.clears,
        vec![(SensorAlarmId::OutOfTolerance, entity("Old Sensor"))]
    );
    assert_eq!(after.degrade_events, vec![true]);
    assert!(after.requests.is_empty(), "the episode already asked");
    // Still critical after the restart: no flap, no new request.
    after.read(&with(CPU, BmcStatus::Critical));
    after.read(&with(CPU, BmcStatus::Critical));
    assert_eq!(after.raises.len(), 1);
    assert!(after.requests.is_empty());
}

#[test]
fn a_restored_model_survives_serialization_and_offline_sensors_come_back_on_one_read() {
    let mut rig = learned();
    rig.read(&without("FAN2"));
    rig.read(&without("FAN2"));
    assert_eq!(rig.m.sensor("FAN2").unwrap().status, Severity::Offline);
    // The runtime stores the model as JSON; what comes back is what went in.
    let json = serde_json::to_string(&rig.m.model()).unwrap();
    let model: steward_sensors::SensorModel = serde_json::from_str(&json).unwrap();
    assert_eq!(model, rig.m.model());
    let now = rig.now;
    let m = SensorMonitor::restore(HOST, MonitorConfig::default(), model, &[], now);
    let mut after = Rig::from_monitor(m, now);
    assert_eq!(
        after.degrade_events,
        vec![false],
        "the level is stated once"
    );
    after.read(&healthy());
    assert_eq!(after.m.sensor("FAN2").unwrap().status, Severity::Ok);
    assert!(after.raises.is_empty() && after.clears.is_empty());
}

#[test]
fn stop_clears_everything_and_start_resumes() {
    let mut rig = learned();
    set_group_actions(
        &mut rig,
        GroupKind::Temperature,
        Action::Ignore,
        Action::Log,
        Action::Reset,
    );
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.read(&with(CPU, BmcStatus::Critical));
    rig.fail(ReadFailure::Group(GroupKind::Fan));
    assert_eq!(rig.alarms.len(), 2);
    rig.m.stop();
    rig.drain();
    assert!(rig.alarms.is_empty() && !rig.degraded);
    assert_eq!(rig.m.poll_timeout(), None);
    let now = rig.now;
    rig.m.start(now);
    rig.drain();
    assert_eq!(rig.m.poll_timeout(), Some(now));
    assert_eq!(
        rig.sensor_alarm(CPU),
        Some(AlarmSeverity::Critical),
        "status kept"
    );
    assert_eq!(
        rig.requests,
        vec![HwmonEvent::Reset],
        "same episode: not asked again"
    );
}
