//! The node's pulse responder over real UDP on loopback (127.0.0.x only), the test playing the
//! controller and the attacker. Waits are generous upper bounds that only fail a hung test.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use steward_node::pulse_responder::{Responder, ResponderConfig, ResponderHandle};
use steward_protocol::{
    ClusterSecret, Direction, Drop, HealthFlags, Message, Pulse, PulseFlags, PulseReply, Sealer,
};
use steward_types::Network;

const CONTROLLER_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

fn secret() -> ClusterSecret {
    ClusterSecret::new(&[42u8; 32]).expect("secret")
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_pulses_are_counted_and_never_answered() {
    // A responder whose controller is "controller-0" at 127.0.0.1; the test plays the network.
    let r = responder("p1", SocketAddr::new(ip(51), 0));
    let to = r.local_addr(Network::Mgmt).expect("addr");
    let s = secret();
    let me = tokio::net::UdpSocket::bind(SocketAddr::new(CONTROLLER_IP, 0))
        .await
        .expect("bind");
    let stranger = tokio::net::UdpSocket::bind(SocketAddr::new(ip(59), 0))
        .await
        .expect("bind");
    let pulse = Message::Pulse(Pulse {
        round: 7,
        flags: PulseFlags::default(),
    });
    let mut ctl = Sealer::new("controller-0", Direction::ControllerToNode, 5).expect("sealer");
    let good = ctl
        .seal(&s.pulse_key(), Network::Mgmt, 1, &pulse)
        .expect("seal");
    // Signed with the node's controller key, or another node's key: bad MAC.
    let with_ctl_key = ctl
        .seal(&s.controller_key("p1"), Network::Mgmt, 1, &pulse)
        .expect("seal");
    let with_node_key = ctl
        .seal(&s.node_key("p2"), Network::Mgmt, 1, &pulse)
        .expect("seal");
    let from_stranger = ctl
        .seal(&s.pulse_key(), Network::Mgmt, 1, &pulse)
        .expect("seal");
    me.send_to(&good, to).await.expect("send");
    let mut buf = [0u8; 1500];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), me.recv_from(&mut buf))
        .await
        .expect("an answer")
        .expect("recv");
    let answer = steward_protocol::decode(&buf[..n]).expect("decodes");
    assert!(s.node_key("p1").verify(answer.signed, answer.mac));
    assert!(matches!(
        answer.frame.message,
        Message::PulseReply(PulseReply { round: 7, .. })
    ));
    me.send_to(&good, to).await.expect("send"); // replay
    me.send_to(&with_ctl_key, to).await.expect("send");
    me.send_to(&with_node_key, to).await.expect("send");
    stranger.send_to(&from_stranger, to).await.expect("send");
    me.send_to(b"STWD\x01garbage", to).await.expect("send");
    until("drops counted", || r.stats().total_dropped() >= 5).await;
    let st = r.stats();
    assert_eq!(st.answered, 1);
    assert_eq!(st.dropped.get(Drop::Replayed), 1, "{st:?}");
    assert_eq!(st.dropped.get(Drop::BadMac), 2, "{st:?}");
    assert_eq!(st.dropped.get(Drop::WrongSource), 1, "{st:?}");
    assert_eq!(st.dropped.get(Drop::Malformed), 1, "{st:?}");
    // Nothing more came back.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), me.recv_from(&mut buf))
            .await
            .is_err()
    );
}
