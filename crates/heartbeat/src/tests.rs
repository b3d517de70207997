use super::*;
use proptest::prelude::*;

const P: u64 = 100;

fn events(m: &mut Monitor) -> Vec<(String, Network, HeartbeatEvent)> {
    let mut v = Vec::new();
    while let Some(o) = m.poll() {
        if let Output::Event {
            host,
            network,
            event,
            ..
        } = o
        {
            v.push((host, network, event));
        }
    }
    v
}

/// Run `rounds` ticks at the exact period; `answers(round, host)` says who answers.
fn run(
    m: &mut Monitor,
    start: u64,
    rounds: u64,
    answers: impl Fn(u64, &str) -> bool,
) -> Vec<(u64, HeartbeatEvent)> {
    let mut out = Vec::new();
    for r in 0..rounds {
        let now = Instant::from_millis(start + r * P);
        m.on_tick(now);
        let mut pulses = Vec::new();
        while let Some(o) = m.poll() {
            match o {
                Output::Pulse {
                    network,
                    seq,
                    hosts,
                } => pulses.push((network, seq, hosts)),
                Output::Event { event, .. } => out.push((r, event)),
            }
        }
        for (network, seq, hosts) in pulses {
            for h in hosts {
                if answers(r, &h) {
                    m.on_reply(&h, network, seq);
                }
            }
        }
    }
    out
}

#[test]
fn dead_host_is_lost_after_exactly_ten_missed_pulses() {
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    m.start("w0", Network::Mgmt);
    // Answers rounds 0..5, then dies: rounds 5.. are missed.
    let ev = run(&mut m, 0, 30, |r, _| r < 5);
    let at = |e| ev.iter().find(|(_, x)| *x == e).map(|(r, _)| *r);
    // Round k's misses are counted when round k closes, at tick k+1.
    assert_eq!(at(HeartbeatEvent::MinorSet), Some(5 + 4));
    assert_eq!(at(HeartbeatEvent::DegradeSet), Some(5 + 6));
    assert_eq!(at(HeartbeatEvent::Loss), Some(5 + 10));
    assert_eq!(
        ev.iter()
            .filter(|(_, e)| *e == HeartbeatEvent::Loss)
            .count(),
        1,
        "raised once"
    );
}

#[test]
fn loss_names_the_misses_and_the_last_answered_pulse() {
    // An operator (and the namespace tier) reads "10 pulses unanswered after pulse N" off the loss;
    // the tally must be the accounting's own, not a reconstruction.
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    m.start("w0", Network::Mgmt);
    let mut tallies = Vec::new();
    let mut last_answered = None;
    for r in 0..30u64 {
        m.on_tick(Instant::from_millis(r * P));
        while let Some(o) = m.poll() {
            match o {
                Output::Pulse { seq, .. } if r < 5 => {
                    m.on_reply("w0", Network::Mgmt, seq);
                    last_answered = Some(seq);
                }
                Output::Event { event, tally, .. } => tallies.push((event, tally)),
                Output::Pulse { .. } => {}
            }
        }
    }
    let loss = tallies
        .iter()
        .find(|(e, _)| *e == HeartbeatEvent::Loss)
        .and_then(|(_, t)| *t)
        .expect("a loss with its tally");
    assert_eq!(loss.misses, 10);
    assert_eq!(loss.last_answered, last_answered);
    assert_eq!(
        loss.round - last_answered.unwrap(),
        10,
        "exactly 10 sequence numbers missed"
    );
    let minor = tallies
        .iter()
        .find(|(e, _)| *e == HeartbeatEvent::MinorSet)
        .and_then(|(_, t)| *t)
        .expect("a minor with its tally");
    assert_eq!(minor.misses, 4);
    assert!(
        tallies
            .iter()
            .filter(|(e, _)| matches!(
                e,
                HeartbeatEvent::MinorClear
                    | HeartbeatEvent::DegradeClear
                    | HeartbeatEvent::LossClear
            ))
            .all(|(_, t)| t.is_none()),
        "clears carry no tally"
    );
}

#[test]
fn host_started_mid_round_is_lost_after_ten_pulses_it_was_sent() {
    // Regression (found by the simulator's pulse mode): a host started while a round was open was
    // charged a miss for that round although its pulse went out before the start, so a restarted
    // dead host was lost after 9 pulses.
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    m.start("w0", Network::Mgmt);
    m.on_tick(Instant::ZERO); // round 1 opens, w0 pulsed
    while m.poll().is_some() {}
    m.on_reply("w0", Network::Mgmt, 1);
    m.start("late", Network::Mgmt); // mid-round 1: not pulsed in it
    let mut pulsed_late = 0;
    let mut lost_at = None;
    for r in 1..=15u64 {
        m.on_tick(Instant::from_millis(r * P));
        while let Some(o) = m.poll() {
            match o {
                Output::Pulse { seq, hosts, .. } => {
                    if hosts.iter().any(|h| h == "late") {
                        pulsed_late += 1;
                    }
                    m.on_reply("w0", Network::Mgmt, seq);
                }
                Output::Event { host, event, .. } => {
                    assert_eq!(host, "late");
                    if event == HeartbeatEvent::Loss {
                        lost_at.get_or_insert(pulsed_late);
                    }
                }
            }
        }
    }
    // Loss raised at the tick that closes the tenth round it was pulsed in.
    assert_eq!(lost_at, Some(10));
}

#[test]
fn loss_clears_after_ten_good_rounds_and_blips_clear_at_once() {
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    m.start("w0", Network::Mgmt);
    // Silent for rounds 2..14 (loss), back from 14.
    let ev = run(&mut m, 0, 40, |r, _| !(2..14).contains(&r));
    let clear = ev
        .iter()
        .find(|(_, e)| *e == HeartbeatEvent::LossClear)
        .map(|(r, _)| *r);
    assert_eq!(clear, Some(14 + 10), "ten answered rounds after the loss");
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    m.start("w0", Network::Mgmt);
    let ev = run(&mut m, 0, 20, |r, _| !(2..8).contains(&r));
    let kinds: Vec<_> = ev.iter().map(|(_, e)| *e).collect();
    assert!(
        kinds.contains(&HeartbeatEvent::DegradeSet)
            && kinds.contains(&HeartbeatEvent::DegradeClear)
    );
    assert!(!kinds.contains(&HeartbeatEvent::Loss));
}

#[test]
fn cluster_network_has_no_minor() {
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    m.start("w0", Network::Cluster);
    let ev = run(&mut m, 0, 20, |_, _| false);
    assert!(ev.iter().all(|(_, e)| *e != HeartbeatEvent::MinorSet));
    assert!(ev.iter().any(|(_, e)| *e == HeartbeatEvent::Loss));
}

#[test]
fn a_stalled_controller_accuses_nobody() {
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    m.start("w0", Network::Mgmt);
    run(&mut m, 0, 5, |_, _| true);
    // The controller is SIGSTOPped for 2 s: the next tick comes 2 s late. Replies to the open round
    // were sent, but the pulses that should have gone out meanwhile never did.
    m.on_tick(Instant::from_millis(5 * P + 2000));
    assert_eq!(m.void_rounds, 1);
    let ev = run(&mut m, 5 * P + 2000 + P, 30, |_, _| true);
    assert!(ev.is_empty(), "{ev:?}");
}

#[test]
fn replies_to_closed_rounds_do_not_count() {
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    m.start("w0", Network::Mgmt);
    m.on_tick(Instant::ZERO);
    m.on_tick(Instant::from_millis(P)); // round 1 closed unanswered
    m.on_reply("w0", Network::Mgmt, 1); // too late
    for r in 2..12 {
        m.on_tick(Instant::from_millis(r * P));
    }
    assert!(events(&mut m)
        .iter()
        .any(|(_, _, e)| *e == HeartbeatEvent::Loss));
}

#[test]
fn config_validation_names_the_key() {
    let bad = HeartbeatConfig {
        minor_threshold: 7,
        ..Default::default()
    };
    assert!(bad.validate().unwrap_err().0.contains("minor_threshold"));
    let bad = HeartbeatConfig {
        period: Duration::ZERO,
        ..Default::default()
    };
    assert!(bad.validate().unwrap_err().0.contains("heartbeat.period"));
}

proptest! {
    /// 5% random loss per pulse never produces a loss event (ten in a row is 1e-13 per window).
    #[test]
    fn five_percent_loss_never_loses(seed in any::<u64>()) {
        let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
        for i in 0..20 {
            m.start(&format!("w{i}"), Network::Mgmt);
        }
        let mut state = seed | 1;
        let mut rnd = move || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; state };
        let answers: Vec<Vec<bool>> = (0..600).map(|_| (0..20).map(|_| rnd() % 100 >= 5).collect()).collect();
        let ev = run(&mut m, 0, 600, |r, h| answers[r as usize][h[1..].parse::<usize>().unwrap()]);
        prop_assert!(ev.iter().all(|(_, e)| *e != HeartbeatEvent::Loss));
    }
}

#[test]
fn backoff_period_slows_rounds_without_accusing() {
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    m.start("w0", Network::Mgmt);
    run(&mut m, 0, 3, |_, _| true);
    m.set_period(Duration::from_millis(4 * P));
    assert_eq!(m.period(), Duration::from_millis(400));
    // The round opened at 200 ms now closes at 600 ms, on time for the new period.
    assert_eq!(m.next_tick(), Instant::from_millis(600));
    let mut t = 600;
    for _ in 0..20 {
        m.on_tick(Instant::from_millis(t));
        while let Some(o) = m.poll() {
            if let Output::Pulse {
                network,
                seq,
                hosts,
            } = o
            {
                for h in hosts {
                    m.on_reply(&h, network, seq);
                }
            } else {
                panic!("{o:?}");
            }
        }
        t += 4 * P;
    }
    assert_eq!(m.void_rounds, 0);
    assert_eq!(m.rounds_opened(), 23);
}

#[test]
fn with_cluster_degrade_only_a_cluster_loss_clears_on_the_first_answer() {
    let mut cfg = steward_maintenance::Config::default();
    cfg.policy.cluster_degrade_only = true;
    let mut m = Monitor::new(HeartbeatConfig::from_config(&cfg), Instant::ZERO);
    m.start("w0", Network::Mgmt);
    m.start("w0", Network::Cluster);
    // Both networks silent for rounds 5..20, answering again from round 20.
    let ev = run(&mut m, 0, 40, |r, _| !(5..20).contains(&r));
    let clears: Vec<u64> = ev
        .iter()
        .filter(|(_, e)| *e == HeartbeatEvent::LossClear)
        .map(|(r, _)| *r)
        .collect();
    // Round k closes at tick k+1: the cluster clears on round 20's answer, management after ten.
    assert_eq!(clears, vec![21, 30], "{ev:?}");
}

#[test]
fn a_host_counted_from_later_is_not_accused_before_then_and_lost_after_the_normal_thresholds() {
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    // Counted from 1 s (round 10 opens at 1000 ms); it never answers.
    m.start_counting_from("w0", Network::Mgmt, Instant::from_millis(1000));
    m.start("w1", Network::Mgmt);
    let ev = run(&mut m, 0, 40, |_, _| false);
    let lost: Vec<u64> = ev
        .iter()
        .filter(|(_, e)| *e == HeartbeatEvent::Loss)
        .map(|(r, _)| *r)
        .collect();
    // w1 is lost as always (10 missed rounds, at tick 10); w0 misses from round 10 on only.
    assert_eq!(lost, vec![10, 20]);
    assert_eq!(
        m.seen("w0", Network::Mgmt)
            .map(|s| (s.lost, s.last_answered)),
        Some((true, None))
    );
}

#[test]
fn what_was_seen_names_the_misses_and_the_last_answer() {
    let mut m = Monitor::new(HeartbeatConfig::default(), Instant::ZERO);
    m.start("w0", Network::Mgmt);
    m.start("w1", Network::Mgmt);
    // w0 answers throughout; w1 answers rounds 0..3 (pulses 1..=3), then is silent.
    run(&mut m, 0, 10, |r, h| h == "w0" || r < 3);
    let w0 = m.seen("w0", Network::Mgmt).unwrap();
    assert_eq!((w0.misses, w0.last_answered), (0, Some(10)));
    let w1 = m.seen("w1", Network::Mgmt).unwrap();
    assert_eq!((w1.misses, w1.last_answered, w1.lost), (6, Some(3), false));
    assert_eq!(m.all_seen().count(), 2);
    assert_eq!(m.seen("w2", Network::Mgmt), None);
}
