//! The handler deadline is derived from the stage that owns the host: a wait configured to zero still
//! runs at once, and a deadline that comes due while the handler is held never makes the driver spin.

mod support;

use std::time::Duration;
use steward_maintenance::state::*;
use steward_maintenance::*;
use support::{cfg, secs, Harness};

fn locked_worker(c: Config) -> Harness {
    let mut h = Harness::with_config(SystemType::Standard, c);
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.add("worker-0", true, true);
    h.settle();
    h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(5));
    assert_eq!(h.states("worker-0"), "locked-disabled-online");
    h
}

/// Unlock worker-0 and stop at its go-enabled tests, whose result the test hands in.
fn unlock_until_testing(c: Config) -> Harness {
    let mut h = locked_worker(c);
    h.node("worker-0").goenabled_answers = false;
    h.request("worker-0", OperatorAction::Unlock).unwrap();
    h.until(secs(200), |h| h.task("worker-0") == task::TESTING)
        .expect("go-enabled tests started");
    h
}

fn goenabled_failed(h: &mut Harness) {
    h.event(Event::GoEnabled {
        host: "worker-0".into(),
        subfunction: false,
        passed: false,
        detail: "test failed".into(),
    });
}

fn reboots(h: &Harness) -> usize {
    h.sent("worker-0", |c| *c == NodeCommand::Reboot)
}

#[test]
fn a_retry_interval_configured_to_zero_retries_with_the_failure() {
    let mut c = cfg();
    c.thresholds.ar_goenable_interval.0 = Duration::ZERO;
    let mut h = unlock_until_testing(c);
    let before = reboots(&h);
    goenabled_failed(&mut h);
    // FAILURE was entered with a deadline of "now": the core ran the host again at once and the
    // enable started over with a reboot, within the same call.
    assert_eq!(reboots(&h), before + 1);
}

#[test]
fn a_default_retry_interval_waits_after_the_failure() {
    let mut h = unlock_until_testing(cfg());
    let before = reboots(&h);
    goenabled_failed(&mut h);
    assert_eq!(reboots(&h), before, "waiting out the retry interval");
    assert_eq!(h.states("worker-0"), "unlocked-disabled-failed");
    h.advance(secs(29));
    assert_eq!(reboots(&h), before);
    h.advance(secs(2));
    assert_eq!(reboots(&h), before + 1, "retried after 30 s");
}

#[test]
fn a_deadline_due_while_mnfa_holds_the_host_neither_spins_nor_acts() {
    let mut h = Harness::with_config(SystemType::Standard, cfg());
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    let workers: Vec<String> = (0..4).map(|i| format!("worker-{i}")).collect();
    for w in &workers {
        h.add(w, true, true);
    }
    h.settle();
    for ev in [
        HeartbeatEvent::MinorSet,
        HeartbeatEvent::DegradeSet,
        HeartbeatEvent::Loss,
    ] {
        for w in &workers {
            h.event(Event::Heartbeat {
                host: w.clone(),
                network: Network::Mgmt,
                event: ev,
                tally: None,
            });
        }
    }
    assert!(h.core.in_mnfa_pool("worker-0"));
    // A critical process failure fails the pooled host; its enable retry is due after the
    // auto-recovery interval, but the enable handler waits while MNFA holds the host.
    h.event(Event::Pmon {
        host: "worker-0".into(),
        process: "sm".into(),
        event: PmonEvent::Critical,
    });
    assert_eq!(h.states("worker-0"), "unlocked-disabled-failed");
    let effects_before = h.effects.len();
    h.advance(secs(25));
    // Around the retry deadline (30 s), drive the core as a runtime would: wake it when it asks,
    // at the latest every second. A deadline left at or before `now` would be asked for again at
    // once, for ever.
    let end = h.now + secs(10);
    while h.now < end {
        let t = h
            .core
            .poll_timeout()
            .map_or(end, |p| p.min(h.now + secs(1)));
        assert!(
            t > h.now,
            "the core asks to be woken at {t:?}, not after now ({:?}): the driver would spin",
            h.now
        );
        h.now = t;
        h.core.handle_timeout(t);
        h.drain();
    }
    h.advance(secs(60));
    let destructive = h.effects[effects_before..].iter().any(|e| {
        matches!(e, Effect::Send { host, command: NodeCommand::Reboot, .. } if host == "worker-0")
            || matches!(e, Effect::Bmc { host, op: BmcOp::PowerReset | BmcOp::PowerOff, .. } if host == "worker-0")
    });
    assert!(!destructive, "held by MNFA: no reboot or reset");
    assert_eq!(h.states("worker-0"), "unlocked-disabled-failed");
    // MNFA ends: the held host is recovered gracefully (it never went down).
    for w in &workers {
        h.heartbeat_clear(w);
    }
    assert!(!h.core.mnfa_active());
    // Back in service, still degraded by the process monitor until it clears.
    h.until(secs(300), |h| {
        h.states("worker-0") == "unlocked-enabled-degraded"
    })
    .expect("recovered after MNFA");
}
