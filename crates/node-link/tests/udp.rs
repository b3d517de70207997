//! The controller's node link over real UDP on loopback, against nodes built from the protocol
//! crate's own sealer and verifier.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use steward_controller::links::NodeLink;
use steward_controller::EventSender;
use steward_maintenance::host::HostSpec;
use steward_maintenance::io::{CommandId, Event, NodeCommand, NodeFlags};
use steward_maintenance::state::{Network, Personality};
use steward_node_link::{NodeLinkConfig, UdpNodeLink};
use steward_protocol::{
    Ack, AckResult, Alive, ClusterSecret, CpuSummary, Direction, Drop, Inventory, MemorySummary,
    Message, Sealer, TestState, Verifier, WireCommand,
};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const SECRET: &[u8] = b"node-link test secret, 32 bytes or more";

fn secret() -> ClusterSecret {
    ClusterSecret::new(SECRET).unwrap()
}

fn spec(name: &str, ip: IpAddr) -> HostSpec {
    HostSpec {
        name: name.into(),
        uuid: format!("uuid-{name}"),
        personality: Personality::Worker,
        mgmt_ip: Some(ip.to_string()),
        mgmt_mac: None,
        pxeboot_ip: None,
        cluster_ip: None,
        bmc: None,
        install: Default::default(),
    }
}

/// A node: its socket, its sealer and a verifier for the controller's frames.
struct TestNode {
    name: String,
    sock: UdpSocket,
    sealer: Sealer,
    verifier: Verifier,
    to: SocketAddr,
}

impl TestNode {
    async fn new(name: &str, ip: Ipv4Addr, port: u16, to: SocketAddr) -> TestNode {
        let sock = UdpSocket::bind((ip, port)).await.unwrap();
        let mut verifier = Verifier::node(secret().controller_key(name));
        verifier.allow(
            "controller-0",
            Network::Mgmt,
            [IpAddr::V4(Ipv4Addr::LOCALHOST)],
        );
        TestNode {
            name: name.into(),
            sock,
            sealer: Sealer::new(name, Direction::NodeToController, 1).unwrap(),
            verifier,
            to,
        }
    }

    async fn send(&mut self, m: &Message) -> Vec<u8> {
        let key = secret().node_key(&self.name);
        let frame = self.sealer.seal(&key, Network::Mgmt, 0, m).unwrap();
        self.sock.send_to(&frame, self.to).await.unwrap();
        frame
    }

    async fn recv_command(&mut self) -> (steward_protocol::Accepted, u64) {
        let mut buf = [0u8; 2048];
        loop {
            let (n, src) =
                tokio::time::timeout(Duration::from_secs(10), self.sock.recv_from(&mut buf))
                    .await
                    .expect("a command within 10 s")
                    .unwrap();
            if let Ok(a) = self.verifier.accept(&buf[..n], src.ip(), 0) {
                let epoch = a.epoch;
                return (a, epoch);
            }
        }
    }
}

fn alive(boot_id: u64) -> Message {
    Message::Alive(Alive {
        boot_id,
        uptime_ms: 1234,
        flags: NodeFlags {
            configured: true,
            healthy: true,
            ..NodeFlags::default()
        },
        lock_volatile: false,
        lock_persistent: false,
        main_goenabled: TestState::NotRun,
        subf_goenabled: TestState::NotRun,
        settings_generation: 0,
        agent_version: "test".into(),
    })
}

async fn next_event(rx: &mut mpsc::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10 s")
        .expect("the link is running")
}

async fn start(node_port: u16) -> (UdpNodeLink, mpsc::Receiver<Event>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NodeLinkConfig::new(
        "controller-0",
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("session"),
    );
    cfg.node_port = node_port;
    let (link, attach) = UdpNodeLink::start(cfg, secret()).await.unwrap();
    let (events, rx) = EventSender::channel(1024);
    attach.attach(events, 7);
    (link, rx, dir)
}

/// A free UDP port on 127.0.0.1 (the nodes bind it on their own addresses).
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn commands_go_out_with_the_epoch_and_answers_come_back_as_core_events() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NodeLinkConfig::new(
        "controller-0",
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("session"),
    );
    cfg.node_port = port;
    let (mut link, attach) = UdpNodeLink::start(cfg, secret()).await.unwrap();
    let to = link.local_addr(Network::Mgmt).unwrap();
    let ip = Ipv4Addr::new(127, 0, 31, 2);
    let mut node = TestNode::new("worker-0", ip, port, to).await;
    link.provision(&spec("worker-0", ip.into()));
    // Sent before the controller knows its epoch: parked, then sent with it.
    link.send(
        "worker-0",
        CommandId(5),
        NodeCommand::Locked { persist: true },
        &[Network::Mgmt.into()],
    );
    let (events, mut rx) = EventSender::channel(64);
    attach.attach(events, 42);
    let (cmd, epoch) = node.recv_command().await;
    assert_eq!(epoch, 42);
    match cmd.message {
        Message::Command(c) => {
            assert_eq!(c.id, CommandId(5));
            assert_eq!(
                c.command,
                WireCommand::Known(NodeCommand::Locked { persist: true })
            );
        }
        other => panic!("expected a command, got {other:?}"),
    }

    node.send(&alive(99)).await;
    match next_event(&mut rx).await {
        Event::Alive(r) => {
            assert_eq!(r.host, "worker-0");
            assert_eq!(r.boot_id, 99);
            assert_eq!(r.uptime, Duration::from_millis(1234));
        }
        other => panic!("expected an alive report, got {other:?}"),
    }
    node.send(&Message::Ack(Ack {
        id: CommandId(5),
        result: AckResult::Ok,
    }))
    .await;
    assert!(matches!(
        next_event(&mut rx).await,
        Event::CommandAck {
            command: CommandId(5),
            ..
        }
    ));
    // A negative ack is counted, not turned into an event.
    node.send(&Message::Ack(Ack {
        id: CommandId(6),
        result: AckResult::Unsupported,
    }))
    .await;
    let inv = Inventory {
        cpus: CpuSummary {
            sockets: 1,
            cores: 4,
            threads: 8,
            model: "Test CPU".into(),
        },
        memory: MemorySummary {
            total_mib: 16_384,
            available_mib: 8_000,
        },
        disks: vec![],
        ports: vec![],
    };
    node.send(&Message::Inventory(inv.clone())).await;
    node.send(&alive(99)).await;
    assert!(matches!(next_event(&mut rx).await, Event::Alive(_)));
    assert_eq!(link.inventory("worker-0").unwrap().inventory, inv);
    assert_eq!(link.stats().negative_acks, 1);

    // Forgotten: its messages are dropped as from an unknown sender.
    link.forget("worker-0");
    node.send(&alive(99)).await;
    wait_for(|| link.stats().dropped(Drop::UnknownSender) == 1).await;
    assert!(link.inventory("worker-0").is_none());
}

async fn wait_for(cond: impl FnMut() -> bool) {
    wait_for_or(String::new, cond).await
}

async fn wait_for_or(show: impl Fn() -> String, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition not reached within 20 s: {}", show());
}

#[tokio::test]
async fn hostile_datagrams_are_dropped_and_counted_and_the_link_keeps_working() {
    const N: u64 = 10_000;
    let port = free_port();
    let (mut link, mut rx, _dir) = start(port).await;
    let to = link.local_addr(Network::Mgmt).unwrap();
    let a_ip = Ipv4Addr::new(127, 0, 32, 2);
    let b_ip = Ipv4Addr::new(127, 0, 32, 3);
    let mut a = TestNode::new("worker-0", a_ip, port, to).await;
    let b = TestNode::new("worker-1", b_ip, port, to).await;
    link.provision(&spec("worker-0", a_ip.into()));
    link.provision(&spec("worker-1", b_ip.into()));
    let first = a.send(&alive(1)).await;
    assert!(matches!(next_event(&mut rx).await, Event::Alive(_)));

    // Send in chunks the socket buffer can hold, each time waiting until the link has judged them
    // all: this tests the link, not the kernel's buffer under a burst.
    async fn flood(
        link: &UdpNodeLink,
        sock: &UdpSocket,
        to: SocketAddr,
        n: u64,
        mut make: impl FnMut(u64) -> Vec<u8>,
    ) {
        let judged = |s: steward_node_link::LinkStats| {
            s.accepted + s.drops.iter().map(|(_, n)| n).sum::<u64>()
        };
        let base = judged(link.stats());
        for i in 0..n {
            sock.send_to(&make(i), to).await.unwrap();
            if i % 40 == 39 || i + 1 == n {
                let want = base + i + 1;
                wait_for_or(
                    || format!("{:?}", link.stats()),
                    || judged(link.stats()) >= want,
                )
                .await;
            }
        }
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    flood(&link, &a.sock, to, N, |i| {
        let len = 1 + (i as usize * 7) % 300;
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect()
    })
    .await;
    // Forged: a frame as worker-0 signed with a key from another secret.
    let other = ClusterSecret::new(b"some other cluster's secret of 32+ bytes").unwrap();
    let mut forger = Sealer::new("worker-0", Direction::NodeToController, 2).unwrap();
    flood(&link, &a.sock, to, N, |_| {
        forger
            .seal(&other.node_key("worker-0"), Network::Mgmt, 0, &alive(1))
            .unwrap()
    })
    .await;
    // Another node's key: worker-1 (from its own address) claims to be worker-0 → wrong source;
    // from worker-0's address with worker-1's key → bad MAC.
    let mut thief = Sealer::new("worker-0", Direction::NodeToController, 3).unwrap();
    flood(&link, &a.sock, to, N, |_| {
        thief
            .seal(&secret().node_key("worker-1"), Network::Mgmt, 0, &alive(1))
            .unwrap()
    })
    .await;
    // Replays of the first accepted frame.
    flood(&link, &a.sock, to, N, |_| first.clone()).await;
    // Oversized.
    flood(&link, &a.sock, to, N, |_| vec![0u8; 1500]).await;
    // Wrong source.
    let mut b_as_a = Sealer::new("worker-0", Direction::NodeToController, 4).unwrap();
    let key = secret().node_key("worker-0");
    flood(&link, &b.sock, to, 10, |_| {
        b_as_a.seal(&key, Network::Mgmt, 0, &alive(1)).unwrap()
    })
    .await;

    let stats_now = || format!("{:?}", link.stats());
    wait_for_or(stats_now, || {
        let s = link.stats();
        s.dropped(Drop::Replayed) == N
            && s.dropped(Drop::TooLarge) == N
            && s.dropped(Drop::WrongSource) == 10
            && s.dropped(Drop::BadMac) == 2 * N
            && s.dropped(Drop::Malformed)
                + s.dropped(Drop::UnknownVersion)
                + s.dropped(Drop::UnknownSender)
                == N
    })
    .await;
    // Still working: a fresh alive report gets through, and nothing hostile did.
    a.send(&alive(2)).await;
    match next_event(&mut rx).await {
        Event::Alive(r) => assert_eq!(r.boot_id, 2),
        other => panic!("only the genuine report may come through, got {other:?}"),
    }
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn a_restarted_link_takes_a_higher_session_so_nodes_accept_it() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let ip = Ipv4Addr::new(127, 0, 33, 2);
    let cfg = |p: &std::path::Path| {
        let mut c = NodeLinkConfig::new(
            "controller-0",
            "127.0.0.1:0".parse().unwrap(),
            p.join("session"),
        );
        c.node_port = port;
        c
    };
    let mut node = TestNode::new("worker-0", ip, port, "127.0.0.1:9".parse().unwrap()).await;
    for round in 0..2u64 {
        let (mut link, attach) = UdpNodeLink::start(cfg(dir.path()), secret()).await.unwrap();
        let (events, _rx) = EventSender::channel(8);
        attach.attach(events, 1);
        link.provision(&spec("worker-0", ip.into()));
        link.send(
            "worker-0",
            CommandId(round),
            NodeCommand::RequestAlive,
            &[Network::Mgmt.into()],
        );
        let (cmd, _) = node.recv_command().await;
        assert!(matches!(cmd.message, Message::Command(c) if c.id == CommandId(round)));
    }
    assert_eq!(node.verifier.counters().get(Drop::Replayed), 0);
}
