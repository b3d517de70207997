use super::*;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use steward_types::{CommandId, Network, NodeCommand, NodeSettings, ProtocolNetwork};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn secret() -> ClusterSecret {
    ClusterSecret::new(&(0u8..32).collect::<Vec<_>>()).unwrap()
}

const NODE_MGMT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 204, 10));
const NODE_CLUSTER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 206, 10));
const OTHER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 204, 11));
const CTRL_MGMT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 204, 2));

fn alive(boot_id: u64) -> Message {
    Message::Alive(Alive {
        boot_id,
        uptime_ms: 12_345,
        flags: flags_from_bits(0b101).unwrap(),
        lock_volatile: true,
        lock_persistent: false,
        main_goenabled: TestState::Passed,
        subf_goenabled: TestState::NotRun,
        settings_generation: 3,
        agent_version: "0.1.0".into(),
    })
}

fn command(id: u64, c: NodeCommand) -> Message {
    Message::Command(Command {
        id: CommandId(id),
        command: WireCommand::Known(c),
    })
}

/// Controller verifier that knows compute-0 (mgmt + cluster) and compute-1 (mgmt).
fn controller_verifier() -> Verifier {
    let mut v = Verifier::controller(secret());
    v.allow("compute-0", Network::Mgmt, [NODE_MGMT]);
    v.allow("compute-0", Network::Cluster, [NODE_CLUSTER]);
    v.allow("compute-1", Network::Mgmt, [OTHER]);
    v
}

fn node_sealer(host: &str, session: u64) -> Sealer {
    Sealer::new(host, Direction::NodeToController, session).unwrap()
}

fn header(
    sender: &str,
    direction: Direction,
    network: impl Into<ProtocolNetwork>,
    session: u64,
    seq: u64,
) -> Header {
    Header {
        direction,
        network: network.into(),
        sender: sender.into(),
        session,
        epoch: 0,
        seq,
    }
}

// ------------------------------------------------------------------------------------------
// Keys

#[test]
fn hkdf_rfc5869_test_case_1() {
    let salt: Vec<u8> = (0u8..13).collect();
    let info: Vec<u8> = (0xf0u8..=0xf9).collect();
    let mut okm = [0u8; 42];
    hkdf_sha256(&salt, &[0x0b; 22], &info, &mut okm);
    assert_eq!(
        hex(&okm),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    );
}

#[test]
fn node_and_controller_key_known_answers() {
    // Computed independently (Python hmac/hashlib) for secret = 00 01 .. 1f.
    let s = secret();
    assert_eq!(
        hex(s.node_key("compute-0").expose_bytes()),
        "d458e34d2718144552ed454aae45c515338dffa304f9e323982490df48824eb5"
    );
    assert_eq!(
        hex(s.controller_key("compute-0").expose_bytes()),
        "b093c66445ec8c50178ae6c63fc1f8887ab28ea21495f59e8a628b6d9ec89f4a"
    );
    assert_ne!(s.node_key("compute-0"), s.node_key("compute-1"));
    let keys = s.node_keys("compute-0");
    assert_eq!(keys.own, s.node_key("compute-0"));
    assert_eq!(keys.controller, s.controller_key("compute-0"));
}

#[test]
fn secrets_are_checked_and_never_printed() {
    assert_eq!(
        ClusterSecret::new(&[7; 31]).unwrap_err(),
        KeyError::SecretLength(31)
    );
    let s = ClusterSecret::new(&[0xab; 32]).unwrap();
    let printed = format!("{s:?} {:?} {:?}", s.node_key("h"), s.node_keys("h"));
    assert!(
        !printed.contains("ab, ") && !printed.contains("171"),
        "{printed}"
    );
    assert!(printed.contains("redacted"));
}

// ------------------------------------------------------------------------------------------
// Verifier: authentication

#[test]
fn accepts_a_node_message_and_reports_sender_and_network() {
    let mut v = controller_verifier();
    let key = secret().node_key("compute-0");
    let mut s = node_sealer("compute-0", 1);
    let d = s.seal(&key, Network::Cluster, 3, &alive(9)).unwrap();
    let a = v.accept(&d, NODE_CLUSTER, 0).unwrap();
    assert_eq!(a.sender, "compute-0");
    assert_eq!(a.network, Network::Cluster);
    assert_eq!(a.epoch, 3);
    assert_eq!(a.message, alive(9));
    assert_eq!(v.counters().accepted, 1);
}

#[test]
fn wrong_source_is_dropped() {
    let mut v = controller_verifier();
    let key = secret().node_key("compute-0");
    let mut s = node_sealer("compute-0", 1);
    // Another host's address.
    let d = s.seal(&key, Network::Mgmt, 0, &alive(1)).unwrap();
    assert_eq!(v.accept(&d, OTHER, 0), Err(Drop::WrongSource));
    // The host's own address, but of the other network.
    let d = s.seal(&key, Network::Cluster, 0, &alive(1)).unwrap();
    assert_eq!(v.accept(&d, NODE_MGMT, 0), Err(Drop::WrongSource));
    // IPv4-mapped IPv6 of the right address is fine.
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 168, 206, 10).to_ipv6_mapped());
    assert!(v.accept(&d, mapped, 0).is_ok());
    assert_eq!(v.counters().get(Drop::WrongSource), 2);
}

#[test]
fn unknown_sender_is_dropped() {
    let mut v = controller_verifier();
    let key = secret().node_key("storage-0");
    let d = node_sealer("storage-0", 1)
        .seal(&key, Network::Mgmt, 0, &alive(1))
        .unwrap();
    assert_eq!(v.accept(&d, NODE_MGMT, 0), Err(Drop::UnknownSender));
    v.forget("compute-0");
    let key = secret().node_key("compute-0");
    let d = node_sealer("compute-0", 1)
        .seal(&key, Network::Mgmt, 0, &alive(1))
        .unwrap();
    assert_eq!(v.accept(&d, NODE_MGMT, 0), Err(Drop::UnknownSender));
}

#[test]
fn a_node_cannot_speak_for_another_node() {
    let mut v = controller_verifier();
    // compute-1 holds only its own keys, and claims to be compute-0 (even from compute-0's address).
    let stolen = secret().node_keys("compute-1");
    for key in [&stolen.own, &stolen.controller] {
        let d = node_sealer("compute-0", 1)
            .seal(key, Network::Mgmt, 0, &alive(1))
            .unwrap();
        assert_eq!(v.accept(&d, NODE_MGMT, 0), Err(Drop::BadMac));
    }
    assert_eq!(v.counters().get(Drop::BadMac), 2);
}

#[test]
fn a_node_cannot_speak_for_the_controller() {
    // compute-1's agent verifies controller messages with its controller key.
    let mut node1 = Verifier::node(secret().controller_key("compute-1"));
    node1.allow("controller-0", Network::Mgmt, [CTRL_MGMT]);
    // compute-0 is compromised: it has its own node key and its own controller key.
    let stolen = secret().node_keys("compute-0");
    for key in [&stolen.own, &stolen.controller] {
        let d = Sealer::new("controller-0", Direction::ControllerToNode, 1)
            .unwrap()
            .seal(key, Network::Mgmt, 5, &command(1, NodeCommand::Reboot))
            .unwrap();
        assert_eq!(node1.accept(&d, CTRL_MGMT, 0), Err(Drop::BadMac));
    }
    // The real controller's message is accepted.
    let d = Sealer::new("controller-0", Direction::ControllerToNode, 1)
        .unwrap()
        .seal(
            &secret().controller_key("compute-1"),
            Network::Mgmt,
            5,
            &command(1, NodeCommand::Reboot),
        )
        .unwrap();
    assert_eq!(
        node1.accept(&d, CTRL_MGMT, 0).unwrap().message,
        command(1, NodeCommand::Reboot)
    );
}

#[test]
fn a_node_frame_is_not_accepted_as_a_controller_frame_and_vice_versa() {
    let mut node = Verifier::node(secret().controller_key("compute-0"));
    node.allow("compute-0", Network::Mgmt, [NODE_MGMT]);
    let d = node_sealer("compute-0", 1)
        .seal(
            &secret().controller_key("compute-0"),
            Network::Mgmt,
            0,
            &alive(1),
        )
        .unwrap();
    assert_eq!(node.accept(&d, NODE_MGMT, 0), Err(Drop::Malformed));
    let mut v = controller_verifier();
    let d = Sealer::new("compute-0", Direction::ControllerToNode, 1)
        .unwrap()
        .seal(
            &secret().node_key("compute-0"),
            Network::Mgmt,
            0,
            &command(1, NodeCommand::Reboot),
        )
        .unwrap();
    assert_eq!(v.accept(&d, NODE_MGMT, 0), Err(Drop::Malformed));
    // A command cannot be sealed in the node direction at all.
    assert_eq!(
        node_sealer("compute-0", 1).seal(
            &secret().node_key("compute-0"),
            Network::Mgmt,
            0,
            &command(1, NodeCommand::Reboot)
        ),
        Err(EncodeError::WrongDirection)
    );
}

#[test]
fn stale_epoch_is_dropped() {
    let mut node = Verifier::node(secret().controller_key("compute-0"));
    node.allow("controller-0", Network::Mgmt, [CTRL_MGMT]);
    let c1 = IpAddr::V4(Ipv4Addr::new(192, 168, 204, 3));
    node.allow("controller-1", Network::Mgmt, [c1]);
    let key = secret().controller_key("compute-0");
    let mut old = Sealer::new("controller-0", Direction::ControllerToNode, 1).unwrap();
    let mut new = Sealer::new("controller-1", Direction::ControllerToNode, 1).unwrap();
    let m = command(1, NodeCommand::RequestAlive);
    assert!(node
        .accept(&old.seal(&key, Network::Mgmt, 4, &m).unwrap(), CTRL_MGMT, 0)
        .is_ok());
    assert!(node
        .accept(&new.seal(&key, Network::Mgmt, 5, &m).unwrap(), c1, 0)
        .is_ok());
    assert_eq!(node.highest_epoch(), 5);
    // The deposed controller (epoch 4) is fenced.
    assert_eq!(
        node.accept(&old.seal(&key, Network::Mgmt, 4, &m).unwrap(), CTRL_MGMT, 0),
        Err(Drop::StaleEpoch)
    );
    // Same epoch is fine.
    assert!(node
        .accept(&new.seal(&key, Network::Mgmt, 5, &m).unwrap(), c1, 0)
        .is_ok());
    // A persisted floor is honoured after a restart.
    let mut restarted = Verifier::node(key.clone());
    restarted.allow("controller-0", Network::Mgmt, [CTRL_MGMT]);
    restarted.raise_epoch(5);
    assert_eq!(
        restarted.accept(&old.seal(&key, Network::Mgmt, 4, &m).unwrap(), CTRL_MGMT, 0),
        Err(Drop::StaleEpoch)
    );
    assert_eq!(restarted.counters().get(Drop::StaleEpoch), 1);
    // A forged frame with a huge epoch does not move the floor (MAC before state).
    let mut forged = old.seal(&key, Network::Mgmt, u64::MAX, &m).unwrap();
    let n = forged.len();
    forged[n - 1] ^= 1;
    assert_eq!(node.accept(&forged, CTRL_MGMT, 0), Err(Drop::BadMac));
    assert_eq!(node.highest_epoch(), 5);
}

// ------------------------------------------------------------------------------------------
// Replay window

fn seal_at(key: &MacKey, sender: &str, network: Network, session: u64, seq: u64) -> Vec<u8> {
    seal_frame(
        key,
        &header(sender, Direction::NodeToController, network, session, seq),
        &alive(session),
    )
    .unwrap()
}

#[test]
fn duplicate_is_dropped() {
    let mut v = controller_verifier();
    let key = secret().node_key("compute-0");
    let d = seal_at(&key, "compute-0", Network::Mgmt, 1, 10);
    assert!(v.accept(&d, NODE_MGMT, 0).is_ok());
    assert_eq!(v.accept(&d, NODE_MGMT, 0), Err(Drop::Replayed));
    // Same seq on the other network is a different window.
    let d = seal_at(&key, "compute-0", Network::Cluster, 1, 10);
    assert!(v.accept(&d, NODE_CLUSTER, 0).is_ok());
    assert_eq!(v.counters().get(Drop::Replayed), 1);
}

#[test]
fn reordered_within_window_accepted_once_too_old_dropped() {
    let mut v = controller_verifier();
    let key = secret().node_key("compute-0");
    let at = |seq| seal_at(&key, "compute-0", Network::Mgmt, 1, seq);
    assert!(v.accept(&at(100), NODE_MGMT, 0).is_ok());
    assert!(v.accept(&at(103), NODE_MGMT, 0).is_ok());
    assert!(v.accept(&at(101), NODE_MGMT, 0).is_ok());
    assert!(v.accept(&at(102), NODE_MGMT, 0).is_ok());
    assert_eq!(v.accept(&at(101), NODE_MGMT, 0), Err(Drop::Replayed));
    assert!(v.accept(&at(103 - 63), NODE_MGMT, 0).is_ok());
    assert_eq!(v.accept(&at(103 - 64), NODE_MGMT, 0), Err(Drop::Replayed));
    // A big jump forward slides the window past everything.
    assert!(v.accept(&at(1_000), NODE_MGMT, 0).is_ok());
    assert_eq!(v.accept(&at(103), NODE_MGMT, 0), Err(Drop::Replayed));
    assert!(v.accept(&at(999), NODE_MGMT, 0).is_ok());
    assert_eq!(
        v.replay_window("compute-0", Network::Mgmt).unwrap().top(),
        1_000
    );
}

#[test]
fn restarted_node_with_new_session_is_accepted_old_session_is_not() {
    let mut v = controller_verifier();
    let key = secret().node_key("compute-0");
    let mut before = node_sealer("compute-0", 1_000);
    let mut captured = Vec::new();
    for _ in 0..100 {
        let d = before.seal(&key, Network::Mgmt, 0, &alive(1)).unwrap();
        assert!(v.accept(&d, NODE_MGMT, 0).is_ok());
        captured.push(d);
    }
    // Restart: sequence starts again at 1 with a higher session.
    let mut after = node_sealer("compute-0", 2_000);
    let d = after.seal(&key, Network::Mgmt, 0, &alive(2)).unwrap();
    assert_eq!(v.accept(&d, NODE_MGMT, 0).unwrap().seq, 1);
    assert_eq!(v.accept(&d, NODE_MGMT, 0), Err(Drop::Replayed));
    // Frames of the earlier session are replays now, whatever their sequence.
    for d in &captured {
        assert_eq!(v.accept(d, NODE_MGMT, 0), Err(Drop::Replayed));
    }
    // Operator reset lets a sender that lost its session high-water mark back in.
    v.reset_replay("compute-0");
    assert!(v.accept(&captured[0], NODE_MGMT, 0).is_ok());
}

#[test]
fn next_session_is_strictly_increasing() {
    assert_eq!(next_session(1_000, None), 1_000);
    assert_eq!(next_session(1_000, Some(5_000)), 5_001);
    assert_eq!(next_session(9_000, Some(5_000)), 9_000);
    assert_eq!(next_session(0, None), 1);
    assert_eq!(next_session(0, Some(u64::MAX)), u64::MAX);
}

#[test]
fn claimed_sessions_in_one_process_never_repeat_within_a_microsecond() {
    let last = std::sync::atomic::AtomicU64::new(0);
    let a = claim_session(1_000, &last);
    let b = claim_session(1_000, &last);
    assert_eq!((a, b), (1_000, 1_001));
    assert_eq!(claim_session(9_000, &last), 9_000);
}

#[test]
fn replay_window_unit() {
    let mut w = ReplayWindow::new(1, 5);
    assert!(!w.check(1, 5));
    assert!(w.check(1, 4));
    assert!(w.check(1, u64::MAX));
    assert!(!w.check(0, 100));
    assert!(w.check(2, 0));
    w.commit(1, 4);
    assert!(!w.check(1, 4));
    w.commit(1, 200);
    assert!(!w.check(1, 200 - 64));
    assert!(w.check(1, 200 - 63));
}

// ------------------------------------------------------------------------------------------
// Commands, acks, counters, log

#[test]
fn unknown_command_decodes_to_unsupported_and_is_acked() {
    let mut node = Verifier::node(secret().controller_key("compute-0"));
    node.allow("controller-0", Network::Mgmt, [CTRL_MGMT]);
    let m = Message::Command(Command {
        id: CommandId(77),
        command: WireCommand::Unsupported { code: 999 },
    });
    let d = Sealer::new("controller-0", Direction::ControllerToNode, 1)
        .unwrap()
        .seal(&secret().controller_key("compute-0"), Network::Mgmt, 1, &m)
        .unwrap();
    let got = node.accept(&d, CTRL_MGMT, 0).unwrap();
    let Message::Command(c) = got.message else {
        panic!("not a command")
    };
    assert_eq!(c.command, WireCommand::Unsupported { code: 999 });
    let ack = c.unsupported_ack().unwrap();
    assert_eq!(ack.result, AckResult::Unsupported);
    // The agent sends the ack; the controller accepts it.
    let mut v = controller_verifier();
    let d = node_sealer("compute-0", 1)
        .seal(
            &secret().node_key("compute-0"),
            Network::Mgmt,
            1,
            &Message::Ack(ack),
        )
        .unwrap();
    assert_eq!(
        v.accept(&d, NODE_MGMT, 0).unwrap().message,
        Message::Ack(Ack {
            id: CommandId(77),
            result: AckResult::Unsupported
        })
    );
    // A known code is never "unsupported", and known commands need no such ack.
    assert!(Command {
        id: CommandId(1),
        command: WireCommand::Known(NodeCommand::Reboot)
    }
    .unsupported_ack()
    .is_none());
    let bad = Message::Command(Command {
        id: CommandId(1),
        command: WireCommand::Unsupported {
            code: command_code::LOCKED,
        },
    });
    assert!(matches!(
        seal_frame(
            &secret().controller_key("compute-0"),
            &header(
                "controller-0",
                Direction::ControllerToNode,
                Network::Mgmt,
                1,
                1
            ),
            &bad
        ),
        Err(EncodeError::KnownCodeAsUnknown(13))
    ));
}

#[test]
fn locked_persist_round_trips_and_bad_args_are_malformed() {
    let key = secret().controller_key("compute-0");
    let h = header(
        "controller-0",
        Direction::ControllerToNode,
        Network::Mgmt,
        1,
        1,
    );
    for persist in [false, true] {
        let m = command(3, NodeCommand::Locked { persist });
        let d = seal_frame(&key, &h, &m).unwrap();
        assert_eq!(decode(&d).unwrap().frame.message, m);
    }
    // Hand-craft locked with an arg byte of 2.
    let m = command(3, NodeCommand::Locked { persist: true });
    let mut d = seal_frame(&key, &h, &m).unwrap();
    let n = d.len();
    assert_eq!(d[n - MAC_LEN - 1], 1);
    d[n - MAC_LEN - 1] = 2;
    assert_eq!(decode(&d).unwrap_err(), DecodeError::Malformed);
}

#[test]
fn too_large_unknown_version_and_garbage_are_counted() {
    let mut v = controller_verifier();
    assert_eq!(
        v.accept(&[0u8; MAX_DATAGRAM + 1], NODE_MGMT, 0),
        Err(Drop::TooLarge)
    );
    let key = secret().node_key("compute-0");
    let mut d = seal_at(&key, "compute-0", Network::Mgmt, 1, 1);
    d[4] = 2;
    assert_eq!(v.accept(&d, NODE_MGMT, 0), Err(Drop::UnknownVersion));
    assert_eq!(v.accept(b"hello", NODE_MGMT, 0), Err(Drop::Malformed));
    assert_eq!(v.accept(&[], NODE_MGMT, 0), Err(Drop::Malformed));
    let c = v.counters();
    assert_eq!(
        (
            c.get(Drop::TooLarge),
            c.get(Drop::UnknownVersion),
            c.get(Drop::Malformed)
        ),
        (1, 1, 2)
    );
    assert_eq!(c.total_dropped(), 4);
    assert_eq!(c.iter().count(), Drop::ALL.len());
    assert_eq!(Drop::StaleEpoch.to_string(), "stale_epoch");
}

#[test]
fn rate_limited_log_counts_suppressed_lines() {
    let mut log = RateLimitedLog::new(2, 1_000);
    assert_eq!(log.allow(0), Some(0));
    assert_eq!(log.allow(10), Some(0));
    assert_eq!(log.allow(20), None);
    assert_eq!(log.allow(999), None);
    assert_eq!(log.suppressed(), 2);
    assert_eq!(log.allow(1_000), Some(2));
    assert_eq!(log.allow(1_001), Some(0));
    assert_eq!(log.allow(1_002), None);
    // Time going backwards starts a new window rather than suppressing forever.
    assert_eq!(log.allow(5), Some(1));
}

#[test]
fn largest_messages_fit_with_the_longest_hostname() {
    let host = "h".repeat(MAX_HOSTNAME);
    let key = secret().node_key(&host);
    let h = header(
        &host,
        Direction::NodeToController,
        Network::Cluster,
        u64::MAX,
        u64::MAX,
    );
    let long = |n: usize| "x".repeat(n);
    let inv = Message::Inventory(Inventory {
        cpus: CpuSummary {
            sockets: 2,
            cores: 64,
            threads: 128,
            model: long(2 * MAX_NAME),
        },
        memory: MemorySummary {
            total_mib: u64::MAX,
            available_mib: 1,
        },
        disks: (0..MAX_INVENTORY_ITEMS)
            .map(|_| Disk {
                device: long(MAX_NAME),
                size_mib: 1,
                rotational: true,
                serial: long(MAX_NAME),
            })
            .collect(),
        ports: (0..MAX_INVENTORY_ITEMS)
            .map(|_| Port {
                name: long(MAX_NAME),
                mac: [0xff; 6],
                speed_mbps: 100_000,
                link_up: true,
            })
            .collect(),
    });
    let ev = Message::Event(NodeEvent::Monitor(MonitorEvent::Unknown {
        code: 99,
        payload: vec![1; MAX_UNKNOWN_PAYLOAD],
    }));
    let ge = Message::Event(NodeEvent::GoEnabled {
        subfunction: true,
        passed: false,
        detail: long(MAX_DETAIL),
    });
    for m in [inv, ev, ge] {
        let d = seal_frame(&key, &h, &m).unwrap();
        assert!(d.len() <= MAX_DATAGRAM);
        assert_eq!(decode(&d).unwrap().frame.message, m);
    }
    // One byte over a bound is refused at encode time.
    let over = Message::Event(NodeEvent::HostServices {
        passed: true,
        detail: long(MAX_DETAIL + 1),
    });
    assert!(matches!(
        seal_frame(&key, &h, &over),
        Err(EncodeError::TooLong { .. })
    ));
    assert_eq!(
        Sealer::new(&long(MAX_HOSTNAME + 1), Direction::NodeToController, 1).unwrap_err(),
        EncodeError::BadHostname
    );
    let _ = Ipv6Addr::LOCALHOST;
}

// ------------------------------------------------------------------------------------------
// Properties

fn name(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::string::string_regex(&format!("[ -~]{{0,{max}}}")).unwrap(),
        proptest::string::string_regex(&format!("\\PC{{0,{}}}", max / 4)).unwrap(),
    ]
}

fn hostname() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9][a-z0-9._-]{0,63}").unwrap()
}

fn node_command() -> impl Strategy<Value = NodeCommand> {
    prop_oneof![
        Just(NodeCommand::Reboot),
        Just(NodeCommand::LazyReboot),
        Just(NodeCommand::WipeDisk),
        any::<bool>().prop_map(|persist| NodeCommand::Locked { persist }),
        Just(NodeCommand::Unlocked),
        Just(NodeCommand::RequestAlive),
        Just(NodeCommand::MainGoEnabled),
        Just(NodeCommand::SubfGoEnabled),
        Just(NodeCommand::StopServices),
    ]
}

fn node_settings() -> impl Strategy<Value = NodeSettings> {
    let opt = || proptest::option::of(1u32..);
    (any::<u64>(), opt(), opt(), opt(), opt(), opt()).prop_map(|(g, a, f, i, ge, sv)| {
        NodeSettings {
            generation: g,
            alive_period_ms: a,
            flag_audit_period_ms: f,
            inventory_period_s: i,
            goenabled_timeout_s: ge,
            services_timeout_s: sv,
        }
    })
}

fn test_state() -> impl Strategy<Value = TestState> {
    prop_oneof![
        Just(TestState::NotRun),
        Just(TestState::Running),
        Just(TestState::Passed),
        Just(TestState::Failed)
    ]
}

fn severity() -> impl Strategy<Value = Severity> {
    prop_oneof![
        Just(Severity::Clear),
        Just(Severity::Minor),
        Just(Severity::Major),
        Just(Severity::Critical)
    ]
}

fn link_network() -> impl Strategy<Value = LinkNetwork> {
    prop_oneof![
        Just(LinkNetwork::Mgmt),
        Just(LinkNetwork::Cluster),
        Just(LinkNetwork::Oam)
    ]
}

fn fs_state() -> impl Strategy<Value = FsState> {
    prop_oneof![
        Just(FsState::Ok),
        Just(FsState::InodesLow),
        Just(FsState::SpaceLow),
        Just(FsState::ReadOnly),
        Just(FsState::Missing)
    ]
}

fn monitor() -> impl Strategy<Value = MonitorEvent> {
    prop_oneof![
        (name(MAX_NAME), severity())
            .prop_map(|(process, severity)| MonitorEvent::Process { process, severity }),
        (link_network(), name(MAX_NAME), 0u8..=4, 0u8..=4).prop_map(
            |(network, interface, down, extra)| MonitorEvent::Link {
                network,
                interface,
                down,
                ports: down + extra,
            }
        ),
        (name(MAX_MOUNT), fs_state())
            .prop_map(|(mount, state)| MonitorEvent::Filesystem { mount, state }),
        (
            4u16..,
            proptest::collection::vec(any::<u8>(), 0..=MAX_UNKNOWN_PAYLOAD)
        )
            .prop_map(|(code, payload)| MonitorEvent::Unknown { code, payload }),
    ]
}

fn inventory() -> impl Strategy<Value = Inventory> {
    let disk = (name(MAX_NAME), any::<u64>(), any::<bool>(), name(MAX_NAME)).prop_map(
        |(device, size_mib, rotational, serial)| Disk {
            device,
            size_mib,
            rotational,
            serial,
        },
    );
    let port = (
        name(MAX_NAME),
        any::<[u8; 6]>(),
        any::<u32>(),
        any::<bool>(),
    )
        .prop_map(|(name, mac, speed_mbps, link_up)| Port {
            name,
            mac,
            speed_mbps,
            link_up,
        });
    (
        (any::<u16>(), any::<u16>(), any::<u16>(), name(2 * MAX_NAME)),
        (any::<u64>(), any::<u64>()),
        proptest::collection::vec(disk, 0..=MAX_INVENTORY_ITEMS),
        proptest::collection::vec(port, 0..=MAX_INVENTORY_ITEMS),
    )
        .prop_map(
            |((sockets, cores, threads, model), (t, a), disks, ports)| Inventory {
                cpus: CpuSummary {
                    sockets,
                    cores,
                    threads,
                    model,
                },
                memory: MemorySummary {
                    total_mib: t,
                    available_mib: a,
                },
                disks,
                ports,
            },
        )
}

fn message() -> impl Strategy<Value = Message> {
    let unsupported = any::<u16>().prop_filter("unknown code", |c| {
        ![2, 3, 6, 9, 10, 13, 14, 20, 22, 24].contains(c)
    });
    prop_oneof![
        (
            any::<u64>(),
            any::<u64>(),
            0u16..(1 << 14),
            any::<(bool, bool)>(),
            test_state(),
            test_state(),
            (any::<u64>(), name(MAX_AGENT_VERSION))
        )
            .prop_map(|(boot_id, uptime_ms, bits, (lv, lp), m, s, (g, v))| {
                Message::Alive(Alive {
                    boot_id,
                    uptime_ms,
                    flags: flags_from_bits(bits).unwrap(),
                    lock_volatile: lv,
                    lock_persistent: lp,
                    main_goenabled: m,
                    subf_goenabled: s,
                    settings_generation: g,
                    agent_version: v,
                })
            }),
        (any::<u64>(), node_command()).prop_map(|(id, c)| command(id, c)),
        (any::<u64>(), node_settings()).prop_map(|(id, s)| Message::Command(Command {
            id: CommandId(id),
            command: WireCommand::Settings(s)
        })),
        (any::<u64>(), unsupported).prop_map(|(id, code)| Message::Command(Command {
            id: CommandId(id),
            command: WireCommand::Unsupported { code }
        })),
        (
            any::<u64>(),
            prop_oneof![
                Just(AckResult::Ok),
                Just(AckResult::Unsupported),
                name(MAX_DETAIL).prop_map(AckResult::Failed)
            ]
        )
            .prop_map(|(id, result)| Message::Ack(Ack {
                id: CommandId(id),
                result
            })),
        (any::<bool>(), any::<bool>(), name(MAX_DETAIL)).prop_map(
            |(subfunction, passed, detail)| {
                Message::Event(NodeEvent::GoEnabled {
                    subfunction,
                    passed,
                    detail,
                })
            }
        ),
        (any::<bool>(), name(MAX_DETAIL)).prop_map(|(passed, detail)| Message::Event(
            NodeEvent::HostServices { passed, detail }
        )),
        monitor().prop_map(|m| Message::Event(NodeEvent::Monitor(m))),
        inventory().prop_map(Message::Inventory),
        (any::<u64>(), any::<u16>()).prop_map(|(round, f)| Message::Pulse(Pulse {
            round,
            flags: PulseFlags(f)
        })),
        (any::<u64>(), any::<u16>()).prop_map(|(round, f)| Message::PulseReply(PulseReply {
            round,
            health: HealthFlags(f)
        })),
    ]
}

fn network() -> impl Strategy<Value = ProtocolNetwork> {
    prop_oneof![
        Just(ProtocolNetwork::Mgmt),
        Just(ProtocolNetwork::Cluster),
        Just(ProtocolNetwork::Pxeboot)
    ]
}

/// A sealed, valid datagram from compute-0 on mgmt (as the controller's verifier expects it).
fn valid_datagram() -> impl Strategy<Value = Vec<u8>> {
    (message(), any::<u64>(), any::<u64>()).prop_filter_map("node→controller", |(m, s, q)| {
        (m.direction() == Direction::NodeToController).then(|| {
            seal_frame(
                &secret().node_key("compute-0"),
                &Header {
                    direction: Direction::NodeToController,
                    network: ProtocolNetwork::Mgmt,
                    sender: "compute-0".into(),
                    session: s,
                    epoch: 0,
                    seq: q,
                },
                &m,
            )
            .unwrap()
        })
    })
}

/// 512 cases, or `STEWARD_FUZZ_CASES` (scripts/fuzz's fallback loop raises it).
// The test harness, not the protocol code, reads the environment.
#[allow(clippy::disallowed_methods)]
fn cases() -> ProptestConfig {
    let n = std::env::var("STEWARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512);
    ProptestConfig::with_cases(n)
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn every_message_round_trips(
        m in message(),
        sender in hostname(),
        net in network(),
        session in any::<u64>(),
        epoch in any::<u64>(),
        seq in any::<u64>(),
    ) {
        // Pulses never travel on pxeboot (a separate test checks they are refused there).
        let net = if matches!(m, Message::Pulse(_) | Message::PulseReply(_)) && net == ProtocolNetwork::Pxeboot {
            ProtocolNetwork::Mgmt
        } else {
            net
        };
        let h = Header { direction: m.direction(), network: net, sender: sender.clone(), session, epoch, seq };
        let s = secret();
        let key = match (&m, h.direction) {
            (Message::Pulse(_), _) => s.pulse_key(),
            (_, Direction::NodeToController) => s.node_key(&sender),
            (_, Direction::ControllerToNode) => s.controller_key(&sender),
        };
        let d = seal_frame(&key, &h, &m).unwrap();
        prop_assert!(d.len() <= MAX_DATAGRAM);
        let p = decode(&d).unwrap();
        prop_assert_eq!(&p.frame, &Frame { header: h.clone(), message: m.clone() });
        prop_assert!(key.verify(p.signed, p.mac));
        // And through a verifier of the matching role.
        let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let mut v = match h.direction {
            Direction::NodeToController => Verifier::controller(secret()),
            Direction::ControllerToNode => Verifier::node(s.controller_key(&sender)).with_pulse_key(s.pulse_key()),
        };
        v.allow(&sender, net, [src]);
        let a = v.accept(&d, src, 0).unwrap();
        prop_assert_eq!(a.message, m);
        prop_assert_eq!((a.sender, a.network, a.session, a.epoch, a.seq), (sender, net, session, epoch, seq));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_never_verify(
        bytes in proptest::collection::vec(any::<u8>(), 0..1500),
        magic in any::<bool>(),
    ) {
        let mut bytes = bytes;
        if magic && bytes.len() >= 6 {
            bytes[..4].copy_from_slice(&MAGIC);
            bytes[4] = VERSION;
        }
        let _ = decode(&bytes);
        let mut v = controller_verifier();
        prop_assert!(v.accept(&bytes, NODE_MGMT, 0).is_err());
        let mut n = Verifier::node(secret().controller_key("compute-0"));
        n.allow("controller-0", Network::Mgmt, [NODE_MGMT]);
        prop_assert!(n.accept(&bytes, NODE_MGMT, 0).is_err());
    }

    #[test]
    fn truncations_never_panic_and_never_verify(d in valid_datagram(), cut in any::<prop::sample::Index>()) {
        let len = cut.index(d.len());
        let _ = decode(&d[..len]);
        let mut v = controller_verifier();
        prop_assert!(v.accept(&d[..len], NODE_MGMT, 0).is_err());
        // The whole datagram verifies (sanity of the generator).
        prop_assert!(v.accept(&d, NODE_MGMT, 0).is_ok());
    }

    #[test]
    fn bit_flips_never_panic_and_never_verify(
        d in valid_datagram(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
    ) {
        let mut bad = d.clone();
        for (i, bit) in &flips {
            let at = i.index(bad.len());
            bad[at] ^= 1 << bit;
        }
        prop_assume!(bad != d);
        let _ = decode(&bad);
        let mut v = controller_verifier();
        prop_assert!(v.accept(&bad, NODE_MGMT, 0).is_err());
    }

    #[test]
    fn flags_bits_round_trip(bits in 0u16..(1 << 14)) {
        prop_assert_eq!(flags_to_bits(&flags_from_bits(bits).unwrap()), bits);
    }

    #[test]
    fn replay_window_accepts_each_sequence_at_most_once(seqs in proptest::collection::vec(0u64..200, 1..300)) {
        let mut w: Option<ReplayWindow> = None;
        let mut seen = std::collections::HashSet::new();
        for s in seqs {
            let ok = match w {
                None => true,
                Some(w) => w.check(1, s),
            };
            if ok {
                prop_assert!(seen.insert(s), "sequence {} accepted twice", s);
                match &mut w { Some(w) => w.commit(1, s), None => w = Some(ReplayWindow::new(1, s)) }
            }
        }
    }
}

/// Writes one valid datagram of every message shape as fuzz seeds:
/// `STEWARD_FUZZ_SEEDS=crates/protocol/fuzz/seeds/decode cargo test -p steward-protocol write_fuzz_seeds -- --ignored`
#[test]
#[ignore]
// A tool run by hand that writes seed files for the fuzzer: test-only file and environment access.
#[allow(clippy::disallowed_methods)]
fn write_fuzz_seeds() {
    let dir = std::env::var("STEWARD_FUZZ_SEEDS").expect("STEWARD_FUZZ_SEEDS");
    std::fs::create_dir_all(&dir).unwrap();
    use proptest::strategy::ValueTree;
    let runner_cfg = ProptestConfig::default();
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(
        runner_cfg,
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let strat = message();
    for i in 0..40 {
        let m = strat.new_tree(&mut runner).unwrap().current();
        let d = seal_frame(
            &secret().node_key("compute-0"),
            &header("compute-0", m.direction(), Network::Mgmt, 1, i),
            &m,
        )
        .unwrap();
        std::fs::write(format!("{dir}/seed-{i:02}"), d).unwrap();
    }
}

// ------------------------------------------------------------------------------------------
// Heartbeat pulses

fn pulse(round: u64) -> Message {
    Message::Pulse(Pulse {
        round,
        flags: PulseFlags::default().with_backoff(true),
    })
}

fn reply(round: u64) -> Message {
    Message::PulseReply(PulseReply {
        round,
        health: HealthFlags::new(true, false, true),
    })
}

fn controller_sealer() -> Sealer {
    Sealer::new("controller-0", Direction::ControllerToNode, 1).unwrap()
}

/// compute-0's pulse responder verifier.
fn responder_verifier() -> Verifier {
    let mut v =
        Verifier::node(secret().controller_key("compute-0")).with_pulse_key(secret().pulse_key());
    v.allow("controller-0", Network::Mgmt, [CTRL_MGMT]);
    v
}

#[test]
fn pulse_key_known_answer_and_distinct_from_every_node_key() {
    let s = secret();
    // HKDF-SHA256(salt = none, ikm = 00..1f, info = "steward pulse key v1"), computed independently
    // with Python's hmac/hashlib.
    assert_eq!(
        hex(s.pulse_key().expose_bytes()),
        "ff7cad9f154274d8ebdecb454a1751e3d821f5a8b0ddc49ddb2f62964fba7490"
    );
    assert_ne!(s.pulse_key(), s.node_key(""));
    assert_ne!(s.pulse_key(), s.controller_key(""));
    assert_ne!(s.pulse_key(), s.node_key("compute-0"));
}

#[test]
fn pulse_and_reply_have_the_exact_size() {
    for (m, key) in [
        (pulse(7), secret().pulse_key()),
        (reply(7), secret().node_key("compute-0")),
    ] {
        let host = "h".repeat(MAX_HOSTNAME);
        let h = header(&host, m.direction(), Network::Mgmt, 1, 1);
        let d = seal_frame(&key, &h, &m).unwrap();
        assert_eq!(d.len(), FIXED_HEADER + MAX_HOSTNAME + PULSE_BODY + MAC_LEN);
        assert_eq!(d.len(), 126);
        // One byte more or less in the body is malformed (the body length is checked exactly).
        let body_len_at = 10 + MAX_HOSTNAME + 24;
        let mut longer = d[..d.len() - MAC_LEN].to_vec();
        longer[body_len_at + 1] += 1;
        longer.push(0);
        longer.extend_from_slice(&key.tag(&longer));
        assert_eq!(decode(&longer).unwrap_err(), DecodeError::Malformed);
        let mut shorter = d[..d.len() - MAC_LEN - 1].to_vec();
        shorter[body_len_at + 1] -= 1;
        shorter.extend_from_slice(&key.tag(&shorter));
        assert_eq!(decode(&shorter).unwrap_err(), DecodeError::Malformed);
    }
}

#[test]
fn pulse_round_trips_and_unknown_flag_bits_are_kept() {
    let m = Message::Pulse(Pulse {
        round: u64::MAX,
        flags: PulseFlags(0xfffe),
    });
    let d = seal_frame(
        &secret().pulse_key(),
        &header(
            "controller-0",
            Direction::ControllerToNode,
            Network::Cluster,
            1,
            1,
        ),
        &m,
    )
    .unwrap();
    assert_eq!(decode(&d).unwrap().frame.message, m);
    let Message::Pulse(p) = m else { unreachable!() };
    assert!(!p.flags.backoff());
    let h = HealthFlags::new(true, true, false);
    assert!(h.pmon_healthy() && h.locked() && !h.stall());
    assert_eq!(
        HealthFlags(0x8004).0 & HealthFlags::STALL,
        HealthFlags::STALL
    );
}

#[test]
fn pulse_direction_is_enforced() {
    // A pulse cannot be sealed node→controller, nor a reply controller→node.
    assert_eq!(
        node_sealer("compute-0", 1).seal(&secret().pulse_key(), Network::Mgmt, 0, &pulse(1)),
        Err(EncodeError::WrongDirection)
    );
    assert_eq!(
        controller_sealer().seal(&secret().pulse_key(), Network::Mgmt, 0, &reply(1)),
        Err(EncodeError::WrongDirection)
    );
}

#[test]
fn node_accepts_pulses_only_with_the_pulse_key_and_commands_only_with_the_controller_key() {
    let s = secret();
    let mut v = responder_verifier();
    // A pulse with the pulse key: accepted.
    let d = controller_sealer()
        .seal(&s.pulse_key(), Network::Mgmt, 3, &pulse(5))
        .unwrap();
    assert_eq!(v.accept(&d, CTRL_MGMT, 0).unwrap().message, pulse(5));
    // A pulse signed with the controller key (or a node key): dropped.
    let mut c = controller_sealer();
    c.seal(&s.pulse_key(), Network::Mgmt, 3, &pulse(0)).unwrap();
    for key in [s.controller_key("compute-0"), s.node_key("compute-0")] {
        let d = c.seal(&key, Network::Mgmt, 3, &pulse(6)).unwrap();
        assert_eq!(v.accept(&d, CTRL_MGMT, 0), Err(Drop::BadMac));
    }
    // A command signed with the pulse key (every node has it): dropped.
    let d = c
        .seal(
            &s.pulse_key(),
            Network::Mgmt,
            3,
            &command(1, NodeCommand::Reboot),
        )
        .unwrap();
    assert_eq!(v.accept(&d, CTRL_MGMT, 0), Err(Drop::BadMac));
    // A command with the controller key still works.
    let d = c
        .seal(
            &s.controller_key("compute-0"),
            Network::Mgmt,
            3,
            &command(1, NodeCommand::Reboot),
        )
        .unwrap();
    assert!(v.accept(&d, CTRL_MGMT, 0).is_ok());
    // A verifier without a pulse key drops every pulse.
    let mut plain = Verifier::node(s.controller_key("compute-0"));
    plain.allow("controller-0", Network::Mgmt, [CTRL_MGMT]);
    let d = controller_sealer()
        .seal(&s.pulse_key(), Network::Mgmt, 3, &pulse(5))
        .unwrap();
    assert_eq!(plain.accept(&d, CTRL_MGMT, 0), Err(Drop::BadMac));
}

#[test]
fn replayed_pulse_and_reply_are_dropped_and_no_node_answers_for_another() {
    let s = secret();
    let mut v = responder_verifier();
    let d = controller_sealer()
        .seal(&s.pulse_key(), Network::Mgmt, 0, &pulse(1))
        .unwrap();
    assert!(v.accept(&d, CTRL_MGMT, 0).is_ok());
    assert_eq!(v.accept(&d, CTRL_MGMT, 0), Err(Drop::Replayed));
    assert_eq!(v.accept(&d, NODE_MGMT, 0), Err(Drop::WrongSource));

    let mut c = controller_verifier();
    let d = node_sealer("compute-0", 1)
        .seal(&s.node_key("compute-0"), Network::Mgmt, 0, &reply(1))
        .unwrap();
    assert_eq!(c.accept(&d, NODE_MGMT, 0).unwrap().message, reply(1));
    assert_eq!(c.accept(&d, NODE_MGMT, 0), Err(Drop::Replayed));
    // compute-1 answering as compute-0, with any key it holds (the pulse key included).
    let k1 = s.node_keys("compute-1");
    for key in [k1.own, k1.controller, s.pulse_key()] {
        let d = node_sealer("compute-0", 2)
            .seal(&key, Network::Mgmt, 0, &reply(2))
            .unwrap();
        assert_eq!(c.accept(&d, NODE_MGMT, 0), Err(Drop::BadMac));
    }
}

#[test]
fn a_link_report_with_more_ports_down_than_ports_is_malformed() {
    let key = secret().node_key("worker-0");
    let h = header("worker-0", Direction::NodeToController, Network::Mgmt, 1, 1);
    let link = |down, ports| {
        Message::Event(NodeEvent::Monitor(MonitorEvent::Link {
            network: LinkNetwork::Cluster,
            interface: "bond1".into(),
            down,
            ports,
        }))
    };
    let ok = seal_frame(&key, &h, &link(2, 2)).unwrap();
    assert_eq!(decode(&ok).unwrap().frame.message, link(2, 2));
    let bad = seal_frame(&key, &h, &link(3, 2)).unwrap();
    assert!(decode(&bad).is_err());
}

#[test]
fn pulses_are_fenced_per_sender_so_the_standby_keeps_being_answered() {
    // A controller pair: controller-0 is active with epoch 7 and commands the node; controller-1
    // is the standby and pulses with the older epoch it last saw (docs/controller-pair.md).
    let s = secret();
    let c1 = IpAddr::V4(Ipv4Addr::new(192, 168, 204, 3));
    let mut v = responder_verifier();
    v.allow("controller-1", Network::Mgmt, [c1]);
    let mut active = controller_sealer();
    let mut standby = Sealer::new("controller-1", Direction::ControllerToNode, 1).unwrap();
    let cmd = command(1, NodeCommand::RequestAlive);
    let d = active
        .seal(&s.controller_key("compute-0"), Network::Mgmt, 7, &cmd)
        .unwrap();
    assert!(v.accept(&d, CTRL_MGMT, 0).is_ok());
    let d = active
        .seal(&s.pulse_key(), Network::Mgmt, 7, &pulse(1))
        .unwrap();
    assert!(v.accept(&d, CTRL_MGMT, 0).is_ok());
    // The standby's pulses (epoch 6 < the node-wide floor 7) are answered.
    for round in 1..4 {
        let d = standby
            .seal(&s.pulse_key(), Network::Mgmt, 6, &pulse(round))
            .unwrap();
        assert_eq!(v.accept(&d, c1, 0).unwrap().message, pulse(round));
    }
    // ... and a standby's pulse with a newer epoch does not fence the active's commands.
    let d = standby
        .seal(&s.pulse_key(), Network::Mgmt, 9, &pulse(4))
        .unwrap();
    assert!(v.accept(&d, c1, 0).is_ok());
    assert_eq!(v.highest_epoch(), 7);
    let d = active
        .seal(&s.controller_key("compute-0"), Network::Mgmt, 7, &cmd)
        .unwrap();
    assert!(v.accept(&d, CTRL_MGMT, 0).is_ok());
    // Per sender, a pulse older than that sender's own earlier pulses is still stale.
    let d = standby
        .seal(&s.pulse_key(), Network::Mgmt, 8, &pulse(5))
        .unwrap();
    assert_eq!(v.accept(&d, c1, 0), Err(Drop::StaleEpoch));
    // Commands stay fenced node-wide: the standby commanding with epoch 6 is refused.
    let d = standby
        .seal(&s.controller_key("compute-0"), Network::Mgmt, 6, &cmd)
        .unwrap();
    assert_eq!(v.accept(&d, c1, 0), Err(Drop::StaleEpoch));
}

#[test]
fn pxeboot_carries_alive_and_commands_but_never_pulses() {
    let s = secret();
    let mut node = node_sealer("compute-0", 1);
    let mut v = Verifier::controller(s.clone());
    v.allow("compute-0", ProtocolNetwork::Pxeboot, [NODE_CLUSTER]);
    let d = node
        .seal(
            &s.node_key("compute-0"),
            ProtocolNetwork::Pxeboot,
            0,
            &alive(1),
        )
        .unwrap();
    let a = v.accept(&d, NODE_CLUSTER, 0).unwrap();
    assert_eq!(a.network, ProtocolNetwork::Pxeboot);
    // Its own replay window: a management frame with the same sequence is not a replay.
    assert!(v
        .replay_window("compute-0", ProtocolNetwork::Pxeboot)
        .is_some());
    assert!(v.replay_window("compute-0", Network::Mgmt).is_none());
    // A pulse answer on pxeboot is malformed, even correctly signed.
    let d = node
        .seal(
            &s.node_key("compute-0"),
            ProtocolNetwork::Pxeboot,
            0,
            &reply(1),
        )
        .unwrap();
    assert_eq!(v.accept(&d, NODE_CLUSTER, 0), Err(Drop::Malformed));
    let d = controller_sealer()
        .seal(&s.pulse_key(), ProtocolNetwork::Pxeboot, 0, &pulse(1))
        .unwrap();
    assert_eq!(decode(&d).map(|_| ()), Err(DecodeError::Malformed));
}
