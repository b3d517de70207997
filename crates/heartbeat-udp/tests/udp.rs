//! Real UDP on loopback (127.0.0.x only). No tight wall-clock assertions: losses are checked by
//! round counts; waits are generous upper bounds that only fail a hung test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_controller::links::HeartbeatLink;
use steward_heartbeat_udp::{HeartbeatHandle, HeartbeatService, Notice, ServiceConfig, Sink};
// The node's half of the heartbeat, so the service is tested against the real responder.
use steward_maintenance::io::{Event, HeartbeatControl, HeartbeatEvent};
use steward_maintenance::state::Network;
use steward_node::pulse_responder::{Responder, ResponderConfig, ResponderHandle};
use steward_protocol::{
    seal_frame, ClusterSecret, Direction, Drop, Header, HealthFlags, Message, PulseReply,
};

const CONTROLLER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

fn secret() -> ClusterSecret {
    ClusterSecret::new(&[42u8; 32]).expect("secret")
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

type Log = Arc<Mutex<Vec<Notice>>>;

fn service() -> (HeartbeatHandle, Log) {
    let log: Log = Arc::default();
    let sink = {
        let log = log.clone();
        Sink::callback(move |n| log.lock().expect("log").push(n))
    };
    let cfg = ServiceConfig::new(
        "controller-0",
        vec![(Network::Mgmt, SocketAddr::new(CONTROLLER_IP, 0))],
    );
    let h = HeartbeatService::spawn(cfg, secret(), sink).expect("spawn service");
    (h, log)
}

fn responder(host: &str, bind: SocketAddr) -> ResponderHandle {
    let s = secret();
    let cfg = ResponderConfig {
        hostname: host.into(),
        keys: s.node_keys(host),
        pulse_key: s.pulse_key(),
        controllers: vec![("controller-0".into(), Network::Mgmt, CONTROLLER_IP)],
        bind: vec![(Network::Mgmt, bind)],
    };
    Responder::spawn(cfg, Arc::new(|| HealthFlags::new(true, false, false))).expect("responder")
}

/// Responders for `hosts` on 127.0.0.`first`.., registered and started on the service.
fn cluster(hb: &HeartbeatHandle, hosts: &[&str], first: u8) -> Vec<ResponderHandle> {
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let r = responder(h, SocketAddr::new(ip(first + i as u8), 0));
            let addr = r.local_addr(Network::Mgmt).expect("bound");
            hb.set_peer(h, Network::Mgmt, addr);
            hb.start(h);
            r
        })
        .collect()
}

fn events_for(log: &Log, host: &str) -> Vec<(HeartbeatEvent, u64)> {
    log.lock()
        .expect("log")
        .iter()
        .filter_map(|n| match &n.event {
            Event::Heartbeat { host: h, event, .. } if h == host => Some((*event, n.round)),
            _ => None,
        })
        .collect()
}

/// Wait (generously) until `f` holds.
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..600 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Wait until the service has opened `n` more rounds.
async fn rounds(hb: &HeartbeatHandle, n: u64) {
    let target = hb.stats().rounds + n;
    until("rounds", || hb.stats().rounds >= target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_is_lost_once_after_ten_missed_rounds_and_clears_after_ten_good() {
    let (hb, log) = service();
    let mut rs = cluster(&hb, &["w1", "w2", "w3"], 21);
    until("answers", || hb.stats().replies >= 60).await;

    let w2 = rs.remove(1);
    let w2_addr = w2.local_addr(Network::Mgmt).expect("addr");
    w2.shutdown().await;
    let kill = hb.stats();
    until("loss of w2", || {
        events_for(&log, "w2")
            .iter()
            .any(|(e, _)| *e == HeartbeatEvent::Loss)
    })
    .await;
    let ev = events_for(&log, "w2");
    let at = |k| {
        ev.iter()
            .find(|(e, _)| *e == k)
            .map(|(_, r)| *r)
            .expect("event")
    };
    let loss_round = at(HeartbeatEvent::Loss);
    let late = hb.stats().late_rounds - kill.late_rounds;
    // The first missed round is at most one after the last one published before the kill; the
    // Loss comes when the 10th missed round closes, i.e. at the tick that opens the next.
    assert!(
        loss_round >= kill.rounds + 10 && loss_round <= kill.rounds + 12 + late,
        "loss at round {loss_round}, kill after round {}, {late} late rounds",
        kill.rounds
    );
    assert!(at(HeartbeatEvent::MinorSet) < at(HeartbeatEvent::DegradeSet));
    assert!(at(HeartbeatEvent::DegradeSet) < loss_round);

    // Nothing more for w2 while it stays dead, nothing at all for the living.
    rounds(&hb, 15).await;
    let losses = events_for(&log, "w2")
        .iter()
        .filter(|(e, _)| *e == HeartbeatEvent::Loss)
        .count();
    assert_eq!(losses, 1);
    assert!(
        events_for(&log, "w1").is_empty(),
        "{:?}",
        events_for(&log, "w1")
    );
    assert!(events_for(&log, "w3").is_empty());

    // It comes back on the same address (a new run: new session): cleared after 10 good rounds.
    let back_round = hb.stats().rounds;
    let _w2 = responder("w2", w2_addr);
    until("loss clear of w2", || {
        events_for(&log, "w2")
            .iter()
            .any(|(e, _)| *e == HeartbeatEvent::LossClear)
    })
    .await;
    let clear_round = events_for(&log, "w2")
        .iter()
        .find(|(e, _)| *e == HeartbeatEvent::LossClear)
        .map(|(_, r)| *r)
        .expect("clear");
    assert!(
        clear_round >= back_round + 10,
        "clear at {clear_round}, back at {back_round}"
    );
    let s = hb.stats();
    assert_eq!(s.total_dropped(), 0, "{s:?}");
    assert!(s.pulses_sent > 0 && s.replies > 0);
    drop(rs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_or_removed_host_gets_no_events() {
    let (mut hb, log) = service();
    let rs = cluster(&hb, &["s1", "s2", "s3"], 31);
    until("answers", || hb.stats().replies >= 30).await;
    // Through the controller's link trait, as the core would.
    hb.control(Some("s2"), HeartbeatControl::Stop);
    hb.remove_peer("s3");
    rounds(&hb, 2).await;
    let mut rs = rs.into_iter();
    let s1 = rs.next().expect("s1");
    for r in rs {
        r.shutdown().await;
    }
    rounds(&hb, 25).await;
    assert!(
        events_for(&log, "s2").is_empty(),
        "{:?}",
        events_for(&log, "s2")
    );
    assert!(events_for(&log, "s3").is_empty());
    assert!(events_for(&log, "s1").is_empty());
    assert_eq!(hb.stats().monitored_hosts, 1);
    drop(s1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_replies_are_counted_and_dropped() {
    let (hb, log) = service();
    let _rs = cluster(&hb, &["f1", "f2"], 41);
    until("answers", || hb.stats().replies >= 20).await;
    let ctrl = hb.local_addr(Network::Mgmt).expect("controller addr");
    let s = secret();
    let round = hb.stats().rounds;
    let reply = |sender: &str, key: &steward_protocol::MacKey, session: u64| {
        seal_frame(
            key,
            &Header {
                direction: Direction::NodeToController,
                network: Network::Mgmt.into(),
                sender: sender.into(),
                session,
                epoch: 0,
                seq: 1,
            },
            &Message::PulseReply(PulseReply {
                round,
                health: HealthFlags::default(),
            }),
        )
        .expect("seal")
    };
    // From f1's IP (the verifier binds IPs, not ports).
    let from_f1 = tokio::net::UdpSocket::bind(SocketAddr::new(ip(41), 0))
        .await
        .expect("bind");
    // Elsewhere.
    let stranger = tokio::net::UdpSocket::bind(SocketAddr::new(ip(49), 0))
        .await
        .expect("bind");
    let before = hb.stats();
    // f2's key answering as f1: bad MAC. The pulse key: bad MAC.
    from_f1
        .send_to(&reply("f1", &s.node_key("f2"), 1), ctrl)
        .await
        .expect("send");
    from_f1
        .send_to(&reply("f1", &s.pulse_key(), 1), ctrl)
        .await
        .expect("send");
    // A valid f1 answer from another address: wrong source.
    stranger
        .send_to(&reply("f1", &s.node_key("f1"), 1), ctrl)
        .await
        .expect("send");
    // Garbage.
    from_f1
        .send_to(&[0xde, 0xad, 0xbe, 0xef], ctrl)
        .await
        .expect("send");
    from_f1.send_to(&[0u8; 1500], ctrl).await.expect("send");
    // Unknown host.
    from_f1
        .send_to(&reply("ghost", &s.node_key("ghost"), 1), ctrl)
        .await
        .expect("send");
    // An old session of f1 (its real responder runs a far newer one): replayed.
    from_f1
        .send_to(&reply("f1", &s.node_key("f1"), 1), ctrl)
        .await
        .expect("send");
    until("drops counted", || {
        hb.stats().total_dropped() >= before.total_dropped() + 7
    })
    .await;
    let d = hb.stats().dropped;
    assert_eq!(d.get(Drop::BadMac), 2, "{d:?}");
    assert_eq!(d.get(Drop::WrongSource), 1, "{d:?}");
    assert_eq!(d.get(Drop::Malformed) + d.get(Drop::TooLarge), 2, "{d:?}");
    assert_eq!(d.get(Drop::UnknownSender), 1, "{d:?}");
    assert_eq!(d.get(Drop::Replayed), 1, "{d:?}");
    rounds(&hb, 5).await;
    assert!(
        log.lock().expect("log").is_empty(),
        "the real hosts stay healthy"
    );
}

#[test]
fn a_paused_controller_accuses_nobody() {
    // The service runs alone on a one-worker runtime so the test can starve it; the responders
    // run on another runtime and keep answering.
    let ctl_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let node_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (hb, log) = {
        let _g = ctl_rt.enter();
        service()
    };
    let _rs = {
        let _g = node_rt.enter();
        cluster(&hb, &["z1", "z2", "z3", "z4"], 61)
    };
    node_rt.block_on(async {
        until("answers", || hb.stats().replies >= 40).await;
    });
    let before = hb.stats();
    // Block the controller's only worker for 2 s (as SIGSTOP or a CPU hog would).
    ctl_rt.spawn(async { std::thread::sleep(Duration::from_secs(2)) });
    node_rt.block_on(async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Frozen: no rounds while blocked.
        let frozen = hb.stats().rounds;
        assert!(frozen <= before.rounds + 2, "{frozen} vs {}", before.rounds);
        until("the controller resumes", || hb.stats().rounds > frozen + 20).await;
    });
    let s = hb.stats();
    assert!(s.late_rounds > before.late_rounds, "{s:?}");
    let ev = log.lock().expect("log").clone();
    assert!(ev.is_empty(), "no events after a controller pause: {ev:?}");
    drop(_rs);
    drop(hb);
}

/// A node whose answers go without the process monitor flag for 100 management answers in a row is
/// reported as process `pmond` failed (major), once; the flag back clears it
/// (docs/node-supervision.md#pmond).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_its_process_monitor_flag_is_reported_after_100_answers() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use steward_maintenance::io::{PmonEvent, PMOND};
    let (hb, log) = service();
    let running = Arc::new(AtomicBool::new(false));
    let s = secret();
    let cfg = ResponderConfig {
        hostname: "w9".into(),
        keys: s.node_keys("w9"),
        pulse_key: s.pulse_key(),
        controllers: vec![("controller-0".into(), Network::Mgmt, CONTROLLER_IP)],
        bind: vec![(Network::Mgmt, SocketAddr::new(ip(60), 0))],
    };
    let flag = running.clone();
    let r = Responder::spawn(
        cfg,
        Arc::new(move || HealthFlags::new(flag.load(Ordering::Relaxed), false, false)),
    )
    .expect("responder");
    hb.set_peer(
        "w9",
        Network::Mgmt,
        r.local_addr(Network::Mgmt).expect("bound"),
    );
    hb.start("w9");
    let pmon = |log: &Log| -> Vec<PmonEvent> {
        log.lock()
            .expect("log")
            .iter()
            .filter_map(|n| match &n.event {
                Event::Pmon {
                    host,
                    process,
                    event,
                } if host == "w9" && process == PMOND => Some(*event),
                _ => None,
            })
            .collect()
    };
    until("the pmond report", || !pmon(&log).is_empty()).await;
    assert!(
        hb.stats().replies >= 100,
        "not before 100 answers: {}",
        hb.stats().replies
    );
    rounds(&hb, 20).await;
    assert_eq!(pmon(&log), [PmonEvent::Major], "reported once");
    running.store(true, Ordering::Relaxed);
    until("the clear", || pmon(&log).len() == 2).await;
    assert_eq!(pmon(&log), [PmonEvent::Major, PmonEvent::Clear]);
    r.shutdown().await;
}
