use super::*;
use proptest::prelude::*;

fn cfg(name: &str, severity: Severity, restarts: u32) -> ProcessConfig {
    let mut c = ProcessConfig::new(name, "/run/x.pid", "start-x", severity);
    c.restarts = restarts;
    c.interval_ms = 100;
    c.debounce_ms = 1_000;
    c
}

fn reports(fx: &[Effect]) -> Vec<(String, Option<Severity>)> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Report { process, severity } => Some((process.clone(), *severity)),
            _ => None,
        })
        .collect()
}

fn starts(fx: &[Effect]) -> usize {
    fx.iter()
        .filter(|e| matches!(e, Effect::Start { .. }))
        .count()
}

#[test]
fn a_new_process_is_started_and_a_death_restarts_it_after_the_interval() {
    let mut m = ProcessMonitor::new();
    let fx = m.configure(0, vec![cfg("a", Severity::Major, 2)]);
    assert_eq!(starts(&fx), 1);
    m.running(10, "a", 100);
    let fx = m.died(50, "a", 100, "SIGKILL");
    assert!(
        reports(&fx).is_empty(),
        "first death is within the allowance"
    );
    assert_eq!(m.next_deadline(), Some(150));
    assert!(m.tick(149).is_empty());
    assert_eq!(starts(&m.tick(150)), 1);
    assert_eq!(m.status()[0].restarts_total, 1);
}

#[test]
fn a_stale_pid_death_is_ignored() {
    let mut m = ProcessMonitor::new();
    m.configure(0, vec![cfg("a", Severity::Major, 2)]);
    m.running(10, "a", 100);
    assert!(m.died(20, "a", 99, "exit").is_empty());
    assert!(matches!(
        m.status()[0].phase,
        Phase::Running { pid: 100, .. }
    ));
}

#[test]
fn a_restart_storm_escalates_once_past_the_limit_and_clears_when_stable() {
    let mut m = ProcessMonitor::new();
    let mut c = cfg("sm", Severity::Critical, 2);
    c.quorum = true;
    m.configure(0, vec![c]);
    let mut now = 0;
    let mut all = Vec::new();
    for pid in 1..=5u32 {
        m.running(now, "sm", pid);
        now += 10;
        all.extend(m.died(now, "sm", pid, "SIGSEGV"));
        now += 100;
        assert_eq!(starts(&m.tick(now)), 1);
    }
    assert_eq!(
        reports(&all),
        vec![("sm".to_string(), Some(Severity::Critical))],
        "escalated exactly once, at the third failure"
    );
    assert!(all.contains(&Effect::Quorum {
        process: "sm".into(),
        lost: true
    }));
    assert!(m.quorum_lost() && !m.all_healthy());
    // Stable for the debounce: cleared, quorum restored.
    m.running(now, "sm", 6);
    let fx = m.tick(now + 1_000);
    assert_eq!(reports(&fx), vec![("sm".to_string(), None)]);
    assert!(fx.contains(&Effect::Quorum {
        process: "sm".into(),
        lost: false
    }));
    assert!(m.all_healthy() && !m.quorum_lost());
}

#[test]
fn deaths_spread_wider_than_the_debounce_never_escalate() {
    let mut m = ProcessMonitor::new();
    m.configure(0, vec![cfg("a", Severity::Minor, 1)]);
    let mut now = 0;
    for pid in 1..=10u32 {
        m.running(now, "a", pid);
        now += 1_000;
        m.tick(now);
        assert_eq!(m.status()[0].failures, 0, "stable after the debounce");
        now += 500;
        assert!(reports(&m.died(now, "a", pid, "exit")).is_empty());
        now += 100;
        m.tick(now);
    }
}

#[test]
fn failed_starts_count_as_failures() {
    let mut m = ProcessMonitor::new();
    m.configure(0, vec![cfg("a", Severity::Minor, 1)]);
    assert!(reports(&m.start_failed(5, "a", "exit 1")).is_empty());
    m.tick(105);
    let fx = m.start_failed(110, "a", "no pid");
    assert_eq!(reports(&fx), vec![("a".to_string(), Some(Severity::Minor))]);
    // Not starting: a late failure report changes nothing.
    assert!(m.start_failed(120, "a", "late").is_empty());
}

#[test]
fn a_failed_health_check_kills_the_instance_and_the_death_restarts_it() {
    let mut m = ProcessMonitor::new();
    let mut c = cfg("a", Severity::Major, 3);
    c.health = Some("check".into());
    c.health_interval_ms = 500;
    m.configure(0, vec![c]);
    m.running(0, "a", 7);
    assert_eq!(m.next_deadline(), Some(500));
    let fx = m.tick(500);
    assert_eq!(
        fx,
        vec![Effect::RunHealth {
            process: "a".into()
        }]
    );
    assert!(m.tick(600).is_empty(), "one check at a time");
    assert!(m.health(700, "a", true, "").is_empty());
    assert_eq!(m.tick(1_000).len(), 1);
    let fx = m.health(1_100, "a", false, "exit 2");
    assert!(fx.iter().any(|e| matches!(e, Effect::Kill { pid: 7, .. })));
    assert!(!m.died(1_110, "a", 7, "SIGKILL").is_empty());
}

#[test]
fn reload_adds_removes_and_re_reports_a_changed_severity() {
    let mut m = ProcessMonitor::new();
    m.configure(
        0,
        vec![cfg("a", Severity::Minor, 0), cfg("b", Severity::Minor, 0)],
    );
    m.running(0, "a", 1);
    m.running(0, "b", 2);
    assert_eq!(reports(&m.died(1, "a", 1, "exit")).len(), 1);
    assert_eq!(reports(&m.died(1, "b", 2, "exit")).len(), 1);
    let fx = m.configure(
        2,
        vec![cfg("a", Severity::Major, 0), cfg("c", Severity::Minor, 0)],
    );
    let r = reports(&fx);
    assert!(r.contains(&("a".to_string(), Some(Severity::Major))));
    assert!(r.contains(&("b".to_string(), None)), "removed: cleared");
    assert!(fx.contains(&Effect::Forget {
        process: "b".into()
    }));
    assert!(fx.contains(&Effect::Start {
        process: "c".into()
    }));
    assert!(m
        .configure(
            3,
            vec![cfg("a", Severity::Major, 0), cfg("c", Severity::Minor, 0)]
        )
        .is_empty());
}

/// One step of a random history.
#[derive(Clone, Debug)]
enum Step {
    /// Run for this long, then die.
    RunThenDie(u64),
    /// The start fails.
    StartFails,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u64..3_000).prop_map(Step::RunThenDie),
        Just(Step::StartFails),
    ]
}

proptest! {
    /// A random history of deaths, failed starts and stable spells, judged by a ground truth kept
    /// here from the raw history: the process is escalated exactly while more than `restarts`
    /// failures happened since it last ran for the debounce, and every escalation and clear is
    /// reported once.
    #[test]
    fn escalation_matches_the_failure_history(
        restarts in 0u32..4,
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let debounce = 1_000;
        let mut m = ProcessMonitor::new();
        let mut c = cfg("p", Severity::Major, restarts);
        c.debounce_ms = debounce;
        m.configure(0, vec![c]);
        let mut now = 0u64;
        let mut pid = 0u32;
        let mut failures_since_stable = 0u32;
        let mut reported = false;
        let mut raised = 0u32;
        let mut cleared = 0u32;
        let mut fx_all = Vec::new();
        for s in steps {
            match s {
                Step::RunThenDie(up) => {
                    pid += 1;
                    fx_all.extend(m.running(now, "p", pid));
                    // Tick through the spell as a runtime would, at each deadline.
                    let end = now + up;
                    while let Some(d) = m.next_deadline().filter(|d| *d <= end) {
                        now = d.max(now);
                        fx_all.extend(m.tick(now));
                    }
                    now = end;
                    if up >= debounce {
                        failures_since_stable = 0;
                        if reported {
                            reported = false;
                            cleared += 1;
                        }
                    }
                    fx_all.extend(m.died(now, "p", pid, "SIGKILL"));
                }
                Step::StartFails => {
                    fx_all.extend(m.start_failed(now, "p", "exit 1"));
                }
            }
            failures_since_stable += 1;
            if failures_since_stable > restarts && !reported {
                reported = true;
                raised += 1;
            }
            // The restart after the interval.
            now += 100;
            let fx = m.tick(now);
            prop_assert_eq!(starts(&fx), 1);
            fx_all.extend(fx);
            prop_assert_eq!(m.all_healthy(), !reported);
        }
        let r = reports(&fx_all);
        prop_assert_eq!(r.iter().filter(|(_, s)| s.is_some()).count() as u32, raised);
        prop_assert_eq!(r.iter().filter(|(_, s)| s.is_none()).count() as u32, cleared);
    }
}
