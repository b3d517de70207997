//! A new active's heartbeat service started from what its standby self saw (docs/controller-pair.md
//! #the-standby-pulses): a host seen answering is not accused during the takeover grace, a host seen
//! silent is counted from its start; and `observed()` reports what the service saw. Real UDP on
//! loopback against the node's real responder; rounds are counted, not wall-clock time.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_heartbeat_udp::{HeartbeatSeed, HeartbeatService, Notice, ServiceConfig, Sink};
use steward_maintenance::io::{Event, HeartbeatEvent};
use steward_maintenance::state::Network;
use steward_node::pulse_responder::{Responder, ResponderConfig};
use steward_protocol::{ClusterSecret, HealthFlags};

const CONTROLLER_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn secret() -> ClusterSecret {
    ClusterSecret::new(&[42u8; 32]).expect("secret")
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 2, last))
}

type Log = Arc<Mutex<Vec<Notice>>>;

/// The round of `host`'s first loss, once there is one.
fn loss_round(log: &Log, host: &str) -> Option<u64> {
    log.lock()
        .expect("log")
        .iter()
        .find_map(|n| match &n.event {
            Event::Heartbeat {
                host: h,
                event: HeartbeatEvent::Loss,
                ..
            } if h == host => Some(n.round),
            _ => None,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_seen_answering_gets_the_grace_and_a_host_seen_silent_does_not() {
    let log: Log = Arc::default();
    let sink = {
        let log = log.clone();
        Sink::callback(move |n| log.lock().expect("log").push(n))
    };
    let mut cfg = ServiceConfig::new(
        "controller-1",
        vec![(Network::Mgmt, SocketAddr::new(CONTROLLER_IP, 0))],
    );
    // Both hosts are dead from the start; the standby had seen w-seen answering, w-silent not.
    cfg.seed = Some(HeartbeatSeed {
        answering: [("w-seen".to_string(), Network::Mgmt)].into(),
        grace: Duration::from_millis(1000),
    });
    let hb = HeartbeatService::spawn(cfg, secret(), sink).expect("spawn");
    for (i, h) in ["w-seen", "w-silent", "w-alive"].iter().enumerate() {
        // Nobody listens on the first two addresses.
        hb.set_peer(h, Network::Mgmt, SocketAddr::new(ip(10 + i as u8), 9));
    }
    let alive = Responder::spawn(
        ResponderConfig {
            hostname: "w-alive".into(),
            keys: secret().node_keys("w-alive"),
            pulse_key: secret().pulse_key(),
            controllers: vec![("controller-1".into(), Network::Mgmt, CONTROLLER_IP)],
            bind: vec![(Network::Mgmt, SocketAddr::new(ip(12), 0))],
        },
        Arc::new(|| HealthFlags::new(true, false, false)),
    )
    .expect("responder");
    hb.set_peer(
        "w-alive",
        Network::Mgmt,
        alive.local_addr(Network::Mgmt).expect("bound"),
    );
    for h in ["w-seen", "w-silent", "w-alive"] {
        hb.start(h);
    }
    loop {
        if loss_round(&log, "w-seen").is_some() && loss_round(&log, "w-silent").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let late = hb.stats().late_rounds;
    let silent = loss_round(&log, "w-silent").expect("lost");
    let seen = loss_round(&log, "w-seen").expect("lost");
    // Seen silent: the normal ten rounds from its start. Seen answering: not judged on the rounds
    // of the first second (ten rounds), then the normal ten.
    assert!(silent <= 13 + late, "w-silent lost at round {silent}");
    assert!(seen >= 20, "w-seen lost at round {seen}, within the grace");
    assert!(seen <= 22 + late, "w-seen lost at round {seen}");
    assert_eq!(loss_round(&log, "w-alive"), None);

    let observed = hb.observed().await;
    let of = |h: &str| observed.iter().find(|s| s.host == h).cloned().expect(h);
    assert!(of("w-alive").last_answered.is_some() && of("w-alive").misses == 0);
    assert!(of("w-silent").lost && of("w-silent").last_answered.is_none());
    alive.shutdown().await;
    hb.shutdown().await;
}
