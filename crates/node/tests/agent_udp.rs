//! The real agent over real UDP on loopback, driven by an in-test controller made of the
//! protocol crate's Sealer and Verifier. Addresses: 127.0.0.x only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use steward_node::*;
use steward_protocol::{
    Accepted, Ack, AckResult, Alive, ClusterSecret, Command, Direction, Drop, Inventory, Message,
    NodeEvent, Sealer, Verifier, WireCommand,
};
use steward_types::{CommandId, NodeCommand};
use tokio::net::UdpSocket;
use tokio::time::Instant;

const HOST: &str = "worker-0";
const CTRL: &str = "controller-0";
const WAIT: Duration = Duration::from_secs(10);

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

#[derive(Default)]
struct FakeMachine {
    reboots: AtomicU32,
    wipes: AtomicU32,
}

impl Machine for FakeMachine {
    fn boot(&self) -> BootInfo {
        BootInfo {
            boot_id: 0xB007,
            uptime: Duration::from_secs(42),
        }
    }
    fn reboot(&self) {
        self.reboots.fetch_add(1, Ordering::SeqCst);
    }
    fn wipe_disk(&self) {
        self.wipes.fetch_add(1, Ordering::SeqCst);
    }
    fn inventory(&self) -> Inventory {
        Inventory::default()
    }
}

/// The in-test controller: one socket per network, a verifier for the node's frames, a sealer.
struct Ctrl {
    secret: ClusterSecret,
    socks: [Arc<UdpSocket>; 2],
    verifier: Verifier,
    sealer: Sealer,
    node: [SocketAddr; 2],
    epoch: u64,
    next_id: u64,
    /// Only frames of this agent run count (an earlier run's frames may still be queued).
    session: u64,
}

impl Ctrl {
    async fn new(
        node_mgmt: SocketAddr,
        node_cluster: SocketAddr,
        socks: [Arc<UdpSocket>; 2],
        session: u64,
    ) -> Ctrl {
        let secret = secret();
        let mut verifier = Verifier::controller(secret.clone());
        verifier.allow(HOST, Network::Mgmt, [node_mgmt.ip()]);
        verifier.allow(HOST, Network::Cluster, [node_cluster.ip()]);
        Ctrl {
            secret,
            socks,
            verifier,
            sealer: Sealer::new(CTRL, Direction::ControllerToNode, 1)
                .unwrap_or_else(|e| panic!("{e}")),
            node: [node_mgmt, node_cluster],
            epoch: 3,
            next_id: 100,
            session,
        }
    }

    fn frame(&mut self, net: Network, id: u64, command: WireCommand) -> Vec<u8> {
        let key = self.secret.controller_key(HOST);
        let msg = Message::Command(Command {
            id: CommandId(id),
            command,
        });
        self.sealer
            .seal(&key, net, self.epoch, &msg)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    async fn send_raw(&self, net: Network, bytes: &[u8]) {
        let _ = self.socks[net.index()]
            .send_to(bytes, self.node[net.index()])
            .await;
    }

    /// Send a command with a fresh id; returns the id.
    async fn command(&mut self, net: Network, c: NodeCommand) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.command_id(net, id, c).await;
        id
    }

    async fn command_id(&mut self, net: Network, id: u64, c: NodeCommand) {
        let f = self.frame(net, id, WireCommand::Known(c));
        self.send_raw(net, &f).await;
    }

    /// Receive verified messages on `net` until `pred` picks one (panics after WAIT).
    async fn recv_until<T>(
        &mut self,
        net: Network,
        mut pred: impl FnMut(&Accepted) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + WAIT;
        let mut buf = vec![0u8; 2048];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let r = tokio::time::timeout(left, self.socks[net.index()].recv_from(&mut buf)).await;
            let Ok(Ok((n, src))) = r else {
                panic!("nothing matching on {net:?} within {WAIT:?}");
            };
            if let Ok(acc) = self.verifier.accept(&buf[..n], src.ip(), 0) {
                assert_eq!(acc.sender, HOST);
                if acc.session != self.session {
                    continue;
                }
                if let Some(t) = pred(&acc) {
                    return t;
                }
            }
        }
    }

    async fn alive(&mut self, net: Network) -> Alive {
        self.recv_until(net, |a| match &a.message {
            Message::Alive(x) => Some(x.clone()),
            _ => None,
        })
        .await
    }

    async fn ack(&mut self, net: Network, id: u64) -> AckResult {
        self.recv_until(net, |a| match &a.message {
            Message::Ack(Ack { id: i, result }) if i.0 == id => Some(result.clone()),
            _ => None,
        })
        .await
    }
}

fn secret() -> ClusterSecret {
    ClusterSecret::new(&[42u8; 32]).unwrap_or_else(|e| panic!("{e}"))
}

struct Setup {
    dir: tempfile::TempDir,
    ctrl_socks: [Arc<UdpSocket>; 2],
}

impl Setup {
    /// Controller sockets on 127.0.0.1 (mgmt) and 127.0.0.4 (cluster).
    async fn new() -> Setup {
        let bind = |a: IpAddr| async move {
            Arc::new(
                UdpSocket::bind(SocketAddr::new(a, 0))
                    .await
                    .unwrap_or_else(|e| panic!("{e}")),
            )
        };
        Setup {
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
            ctrl_socks: [bind(ip(1)).await, bind(ip(4)).await],
        }
    }

    fn vol(&self) -> PathBuf {
        self.dir.path().join("volatile")
    }
    fn persist(&self) -> PathBuf {
        self.dir.path().join("persistent")
    }

    /// Node on 127.0.0.2 (mgmt) and 127.0.0.3 (cluster), fast timers.
    fn config(&self) -> NodeConfig {
        let peer = |i: usize| ControllerPeer {
            name: CTRL.into(),
            addr: self.ctrl_socks[i]
                .local_addr()
                .unwrap_or_else(|e| panic!("{e}")),
        };
        let mut c = NodeConfig::new(
            HOST,
            secret().node_keys(HOST),
            vec![
                NodeNetwork {
                    network: Network::Mgmt,
                    bind: SocketAddr::new(ip(2), 0),
                    controllers: vec![peer(0)],
                },
                NodeNetwork {
                    network: Network::Cluster,
                    bind: SocketAddr::new(ip(3), 0),
                    controllers: vec![peer(1)],
                },
            ],
        )
        .under_dirs(&self.vol(), &self.persist());
        c.alive_period = Duration::from_millis(500);
        c.flag_audit_period = Duration::from_millis(200);
        c.goenabled_at_start = false;
        c.goenabled_timeout = Duration::from_secs(5);
        c
    }

    async fn start(&self, cfg: NodeConfig, m: Arc<FakeMachine>) -> (NodeHandle, Ctrl) {
        let h = spawn(cfg, m).unwrap_or_else(|e| panic!("{e}"));
        let (Some(a), Some(b)) = (h.local_addr(Network::Mgmt), h.local_addr(Network::Cluster))
        else {
            panic!("sockets not bound")
        };
        let ctrl = Ctrl::new(a, b, self.ctrl_socks.clone(), h.session()).await;
        (h, ctrl)
    }
}

fn flags(cfg: &NodeConfig) -> (bool, bool) {
    (cfg.lock_flag.exists(), cfg.lock_flag_backup.exists())
}

async fn wait_flags(cfg: &NodeConfig, want: (bool, bool), within: Duration) {
    let deadline = Instant::now() + within;
    while flags(cfg) != want {
        assert!(
            Instant::now() < deadline,
            "flags {:?}, want {want:?} within {within:?}",
            flags(cfg)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alive_on_both_networks_and_lock_unlock() {
    let s = Setup::new().await;
    let cfg = s.config();
    let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
    // A new install comes up locked with both flags, reported on both networks.
    for net in [Network::Mgmt, Network::Cluster] {
        let a = c.alive(net).await;
        assert_eq!(a.boot_id, 0xB007);
        assert!(a.uptime_ms >= 42_000);
        assert!(
            a.flags.locked && a.lock_volatile && a.lock_persistent,
            "{a:?}"
        );
    }
    assert_eq!(flags(&cfg), (true, true));
    // UNLOCKED over management: both removed, acked, the next alive says so.
    let id = c.command(Network::Mgmt, NodeCommand::Unlocked).await;
    assert_eq!(c.ack(Network::Mgmt, id).await, AckResult::Ok);
    assert_eq!(flags(&cfg), (false, false));
    let a = c.alive(Network::Mgmt).await;
    assert!(!a.flags.locked && !a.lock_persistent);
    // LOCKED over the cluster network alone (management "down"): both present.
    let id = c
        .command(Network::Cluster, NodeCommand::Locked { persist: true })
        .await;
    assert_eq!(c.ack(Network::Cluster, id).await, AckResult::Ok);
    assert_eq!(flags(&cfg), (true, true));
    // The admin state is persisted.
    let st = std::fs::read_to_string(cfg.state_dir.join("node-state.json")).unwrap_or_default();
    assert!(st.contains("locked"), "{st}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_flags_are_corrected_within_5s() {
    let s = Setup::new().await;
    let mut cfg = s.config();
    cfg.flag_audit_period = Duration::from_secs(1); // the default
    let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
    c.alive(Network::Mgmt).await;
    wait_flags(&cfg, (true, true), WAIT).await;
    for f in [&cfg.lock_flag, &cfg.lock_flag_backup] {
        let _ = std::fs::remove_file(f);
        wait_flags(&cfg, (true, true), Duration::from_secs(5)).await;
    }
    let id = c.command(Network::Mgmt, NodeCommand::Unlocked).await;
    c.ack(Network::Mgmt, id).await;
    for f in [&cfg.lock_flag, &cfg.lock_flag_backup] {
        let _ = std::fs::write(f, b"");
        wait_flags(&cfg, (false, false), Duration::from_secs(5)).await;
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_id_runs_once_acks_twice_and_unknown_is_unsupported() {
    let s = Setup::new().await;
    let m = Arc::new(FakeMachine::default());
    let (h, mut c) = s.start(s.config(), m.clone()).await;
    c.alive(Network::Mgmt).await;
    c.command_id(Network::Mgmt, 7, NodeCommand::Reboot).await;
    assert_eq!(c.ack(Network::Mgmt, 7).await, AckResult::Ok);
    // The same id again, on the cluster network (as a controller's duplicate would be).
    c.command_id(Network::Cluster, 7, NodeCommand::Reboot).await;
    assert_eq!(c.ack(Network::Cluster, 7).await, AckResult::Ok);
    // Machine::reboot runs on a blocking thread: give it a moment.
    let deadline = Instant::now() + WAIT;
    while m.reboots.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(m.reboots.load(Ordering::SeqCst), 1);
    assert_eq!(h.stats().reboots, 1);
    let f = c.frame(Network::Mgmt, 8, WireCommand::Unsupported { code: 4242 });
    c.send_raw(Network::Mgmt, &f).await;
    assert_eq!(c.ack(Network::Mgmt, 8).await, AckResult::Unsupported);
    h.shutdown().await;
}

fn script(dir: &Path, name: &str, body: &str) {
    let _ = std::fs::create_dir_all(dir);
    let p = dir.join(name);
    let _ = std::fs::write(&p, format!("#!/bin/sh\n{body}\n"));
    let _ = std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goenabled_pass_and_fail_names_the_script() {
    let s = Setup::new().await;
    let mut cfg = s.config();
    cfg.goenabled_timeout = Duration::from_secs(2);
    script(
        &cfg.goenabled_dir,
        "10-ok",
        "[ \"$1\" = start ] || exit 9; exit 0",
    );
    script(&cfg.goenabled_dir, "20-ok", "exit 0");
    let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
    let goenabled = |a: &Accepted| match &a.message {
        Message::Event(NodeEvent::GoEnabled { passed, detail, .. }) => {
            Some((*passed, detail.clone()))
        }
        _ => None,
    };
    c.command(Network::Mgmt, NodeCommand::MainGoEnabled).await;
    let (passed, detail) = c.recv_until(Network::Mgmt, goenabled).await;
    assert!(passed, "{detail}");
    // A failing and a hanging script: both named; the hanging one is killed at its timeout.
    script(&cfg.goenabled_dir, "30-bad", "exit 3");
    script(&cfg.goenabled_dir, "40-hang", "sleep 60");
    c.command(Network::Mgmt, NodeCommand::SubfGoEnabled).await; // no subf dir: passes
    let (passed, _) = c.recv_until(Network::Mgmt, goenabled).await;
    assert!(passed);
    // The fresh main pass answers at once; a new agent (no fresh pass) runs the scripts.
    h.shutdown().await;
    let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
    let t0 = Instant::now();
    c.command(Network::Mgmt, NodeCommand::MainGoEnabled).await;
    let (passed, detail) = c.recv_until(Network::Mgmt, goenabled).await;
    assert!(!passed);
    assert!(detail.contains("30-bad failed (rc:3)"), "{detail}");
    assert!(detail.contains("40-hang timeout"), "{detail}");
    assert!(t0.elapsed() < Duration::from_secs(9));
    let a = c.alive(Network::Mgmt).await;
    assert!(a.flags.main_goenable_failed);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_restores_the_volatile_flag_before_the_first_alive() {
    let s = Setup::new().await;
    let cfg = s.config();
    let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
    let id = c.command(Network::Mgmt, NodeCommand::Unlocked).await;
    c.ack(Network::Mgmt, id).await;
    let id = c
        .command(Network::Mgmt, NodeCommand::Locked { persist: true })
        .await;
    c.ack(Network::Mgmt, id).await;
    let first_session = h.session();
    // "Reboot": abort the agent anywhere, the volatile part of the disk is wiped.
    h.abort();
    drop(h);
    let _ = std::fs::remove_dir_all(s.vol());
    let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
    assert!(h.session() > first_session);
    let a = c.alive(Network::Mgmt).await;
    assert!(
        a.flags.locked && a.lock_volatile && a.lock_persistent,
        "{a:?}"
    );
    assert_eq!(flags(&cfg), (true, true));
    // Its frames are fresh to the controller (new session), and it takes commands.
    let id = c.command(Network::Mgmt, NodeCommand::RequestAlive).await;
    assert_eq!(c.ack(Network::Mgmt, id).await, AckResult::Ok);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_datagrams_are_dropped_and_counted() {
    const N: u64 = 10_000;
    let s = Setup::new().await;
    let mut cfg = s.config();
    cfg.drop_log_per_minute = 2;
    let (h, mut c) = s.start(cfg, Arc::default()).await;
    c.alive(Network::Mgmt).await;
    let wrong_src = UdpSocket::bind(SocketAddr::new(ip(9), 0))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // Frames signed with a forged key and with another node's controller key.
    let forged = {
        let k = steward_protocol::MacKey::from_bytes([1u8; 32]);
        let mut se =
            Sealer::new(CTRL, Direction::ControllerToNode, 1).unwrap_or_else(|e| panic!("{e}"));
        move || {
            let m = Message::Command(Command {
                id: CommandId(1),
                command: WireCommand::Known(NodeCommand::Reboot),
            });
            se.seal(&k, Network::Mgmt, 5, &m)
                .unwrap_or_else(|e| panic!("{e}"))
        }
    };
    let mut forged = forged;
    let other_key = secret().controller_key("worker-9");
    let mut other_sealer =
        Sealer::new(CTRL, Direction::ControllerToNode, 1).unwrap_or_else(|e| panic!("{e}"));
    let replayed = c.frame(
        Network::Mgmt,
        555,
        WireCommand::Known(NodeCommand::RequestAlive),
    );
    c.send_raw(Network::Mgmt, &replayed).await;
    assert_eq!(c.ack(Network::Mgmt, 555).await, AckResult::Ok);
    let valid_from_elsewhere = c.frame(Network::Mgmt, 556, WireCommand::Known(NodeCommand::Reboot));
    let node = c.node[0];
    let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut sent = 0u64;
    for kind in 0..6 {
        for i in 0..N {
            let bytes: Vec<u8> = match kind {
                0 => {
                    // xorshift random bytes, random length
                    let len = (i % 1400) as usize + 1;
                    (0..len)
                        .map(|_| {
                            rng ^= rng << 13;
                            rng ^= rng >> 7;
                            rng ^= rng << 17;
                            rng as u8
                        })
                        .collect()
                }
                1 => forged(),
                2 => {
                    let m = Message::Command(Command {
                        id: CommandId(i),
                        command: WireCommand::Known(NodeCommand::Reboot),
                    });
                    other_sealer
                        .seal(&other_key, Network::Mgmt, 5, &m)
                        .unwrap_or_else(|e| panic!("{e}"))
                }
                3 => replayed.clone(),
                4 => {
                    let mut b = replayed.clone();
                    b.resize(3000, 0);
                    b
                }
                _ => valid_from_elsewhere.clone(),
            };
            if kind == 5 {
                let _ = wrong_src.send_to(&bytes, node).await;
            } else {
                let _ = c.socks[0].send_to(&bytes, node).await;
            }
            sent += 1;
            // Flow control: keep the node's socket buffer from overflowing (the kernel would
            // drop silently, and the counters are what this test checks).
            if sent & 15 == 0 {
                let deadline = Instant::now() + WAIT;
                while h.stats().frames_in + 32 < sent && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        }
    }
    let deadline = Instant::now() + WAIT;
    while h.stats().frames_in < sent && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let st = h.stats();
    assert!(!h.is_finished());
    let d = &st.drops;
    eprintln!("{st:?}");
    // Most random datagrams fail early (magic, length); a few may hit version checks.
    assert!(
        d.get(Drop::Malformed) + d.get(Drop::UnknownVersion) >= N * 9 / 10,
        "{st:?}"
    );
    assert!(d.get(Drop::BadMac) >= 2 * N * 9 / 10, "{st:?}");
    assert!(d.get(Drop::Replayed) >= N * 9 / 10, "{st:?}");
    assert!(d.get(Drop::TooLarge) >= N * 9 / 10, "{st:?}");
    assert!(d.get(Drop::WrongSource) >= N * 9 / 10, "{st:?}");
    assert_eq!(st.reboots, 0);
    // Still answering.
    let id = c.command(Network::Mgmt, NodeCommand::RequestAlive).await;
    assert_eq!(c.ack(Network::Mgmt, id).await, AckResult::Ok);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_anywhere_leaves_a_usable_state_and_increasing_sessions() {
    let s = Setup::new().await;
    let cfg = s.config();
    let mut last = 0u64;
    for i in 0..20u64 {
        let h =
            spawn(cfg.clone(), Arc::new(FakeMachine::default())).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            h.session() > last,
            "run {i}: session {} after {last}",
            h.session()
        );
        last = h.session();
        // Abort at a different point of start-up or of the loop each time.
        tokio::time::sleep(Duration::from_micros(i * 700)).await;
        h.abort();
        drop(h);
        let text = std::fs::read(cfg.state_dir.join("node-state.json")).unwrap_or_default();
        let parsed: Result<steward_node::state::NodeState, _> = serde_json::from_slice(&text);
        assert!(parsed.is_ok(), "state file unreadable after abort {i}");
    }
    // And a fresh run still works end to end.
    let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
    let id = c.command(Network::Mgmt, NodeCommand::RequestAlive).await;
    assert_eq!(c.ack(Network::Mgmt, id).await, AckResult::Ok);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_epoch_survives_a_restart() {
    let s = Setup::new().await;
    let cfg = s.config();
    let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
    c.epoch = 10;
    let id = c.command(Network::Mgmt, NodeCommand::RequestAlive).await;
    c.ack(Network::Mgmt, id).await;
    h.shutdown().await;
    // A deposed controller (older epoch) is not obeyed by the restarted agent.
    let m = Arc::new(FakeMachine::default());
    let (h, mut c) = s.start(cfg.clone(), m.clone()).await;
    c.alive(Network::Mgmt).await;
    c.epoch = 9;
    c.command(Network::Mgmt, NodeCommand::Reboot).await;
    let deadline = Instant::now() + WAIT;
    while h.stats().drops.get(Drop::StaleEpoch) == 0 {
        assert!(Instant::now() < deadline, "{:?}", h.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(m.reboots.load(Ordering::SeqCst), 0);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_over_one_network_while_the_other_is_down() {
    for down in [Network::Cluster, Network::Mgmt] {
        let s = Setup::new().await;
        let mut cfg = s.config();
        let up = if down == Network::Mgmt {
            Network::Cluster
        } else {
            Network::Mgmt
        };
        // The controller on the "down" network is gone: its address is a closed port, so the
        // agent's reports there bounce (ICMP port unreachable) and no command comes that way.
        let last = if down == Network::Mgmt { 1 } else { 4 };
        let dead = std::net::UdpSocket::bind(SocketAddr::new(ip(last), 0))
            .and_then(|d| d.local_addr())
            .unwrap_or_else(|e| panic!("{e}"));
        cfg.networks[down.index()].controllers[0].addr = dead;
        let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
        c.alive(up).await;
        let id = c.command(up, NodeCommand::Unlocked).await;
        assert_eq!(c.ack(up, id).await, AckResult::Ok);
        assert_eq!(flags(&cfg), (false, false));
        let id = c.command(up, NodeCommand::Locked { persist: true }).await;
        assert_eq!(c.ack(up, id).await, AckResult::Ok);
        assert_eq!(flags(&cfg), (true, true));
        // Tampering is still corrected.
        let _ = std::fs::remove_file(&cfg.lock_flag_backup);
        wait_flags(&cfg, (true, true), Duration::from_secs(5)).await;
        assert!(!h.is_finished());
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_start_after_boot_pass_when_unlocked_and_stop_on_command() {
    let s = Setup::new().await;
    let mut cfg = s.config();
    cfg.goenabled_at_start = true;
    let marks = s.dir.path().join("marks");
    let _ = std::fs::create_dir_all(&marks);
    script(&cfg.goenabled_dir, "10-ok", "exit 0");
    script(
        &cfg.services_dir,
        "svc",
        &format!("touch {}/\"$1\"", marks.display()),
    );
    // Confirmed unlocked before this boot.
    let st = steward_node::state::NodeState {
        lock_state: Some(steward_agent::LockState::Unlocked),
        ..Default::default()
    };
    st.save(&cfg.state_dir).unwrap_or_else(|e| panic!("{e}"));
    let m = Arc::new(FakeMachine::default());
    let (h, mut c) = s.start(cfg.clone(), m.clone()).await;
    let services = |a: &Accepted| match &a.message {
        Message::Event(NodeEvent::HostServices { passed, detail }) => {
            Some((*passed, detail.clone()))
        }
        _ => None,
    };
    let (passed, detail) = c.recv_until(Network::Mgmt, services).await;
    assert!(passed, "{detail}");
    assert!(marks.join("start").exists());
    c.command(Network::Mgmt, NodeCommand::StopServices).await;
    let (passed, _) = c.recv_until(Network::Mgmt, services).await;
    assert!(passed);
    assert!(marks.join("stop").exists());
    // Wipe-disk: refused while unlocked, carried out once locked.
    let id = c.command(Network::Mgmt, NodeCommand::WipeDisk).await;
    assert!(matches!(
        c.ack(Network::Mgmt, id).await,
        AckResult::Failed(_)
    ));
    let id = c
        .command(Network::Mgmt, NodeCommand::Locked { persist: true })
        .await;
    c.ack(Network::Mgmt, id).await;
    let id = c.command(Network::Mgmt, NodeCommand::WipeDisk).await;
    assert_eq!(c.ack(Network::Mgmt, id).await, AckResult::Ok);
    let deadline = Instant::now() + WAIT;
    while m.wipes.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "wipe_disk not called");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_host_does_not_start_services_at_boot() {
    let s = Setup::new().await;
    let mut cfg = s.config();
    cfg.goenabled_at_start = true;
    let marks = s.dir.path().join("marks");
    let _ = std::fs::create_dir_all(&marks);
    script(
        &cfg.services_dir,
        "svc",
        &format!("touch {}/\"$1\"", marks.display()),
    );
    // No confirmed state: a new install, locked.
    let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
    // Wait until the start-time go-enabled run has passed (reported in alive), then a bit more.
    c.recv_until(Network::Mgmt, |a| match &a.message {
        Message::Alive(x) if x.main_goenabled == steward_protocol::TestState::Passed => Some(()),
        _ => None,
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!marks.join("start").exists());
    h.shutdown().await;
}

/// A controller that restarts numbers its commands from 1 again (its core starts afresh); the
/// agent must treat them as new commands, not as repeats of the last run's — or a restarted
/// controller's LOCKED would be answered "ok" by a stale ack and the host left unlocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_controller_reusing_command_ids_is_obeyed() {
    let s = Setup::new().await;
    let cfg = s.config();
    let (h, mut c) = s.start(cfg.clone(), Arc::default()).await;
    c.command_id(Network::Mgmt, 1, NodeCommand::Unlocked).await;
    assert_eq!(c.ack(Network::Mgmt, 1).await, AckResult::Ok);
    assert_eq!(flags(&cfg), (false, false));
    // The controller restarts: a new sender session, ids from 1 again.
    c.sealer = Sealer::new(CTRL, Direction::ControllerToNode, 2).unwrap_or_else(|e| panic!("{e}"));
    c.command_id(Network::Mgmt, 1, NodeCommand::Locked { persist: true })
        .await;
    assert_eq!(c.ack(Network::Mgmt, 1).await, AckResult::Ok);
    assert_eq!(flags(&cfg), (true, true), "the LOCKED was not carried out");
    // Within one controller run a repeated id is still a repeat (idempotency).
    c.command_id(Network::Mgmt, 1, NodeCommand::Unlocked).await;
    assert_eq!(c.ack(Network::Mgmt, 1).await, AckResult::Ok);
    assert_eq!(flags(&cfg), (true, true));
    h.shutdown().await;
}

/// The link monitor's report of a cut port reaches the controller on both networks (the one it is
/// about may be down), and the status socket shows the port down and the flag set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_reports_go_to_every_network_and_the_status_socket_shows_them() {
    use steward_node::monitors::{LabFaults, MonitorsConfig};
    use steward_types::{FsState, LinkNetwork, MonitorEvent};
    let s = Setup::new().await;
    let mut cfg = s.config();
    let faults = LabFaults::default();
    cfg.monitors = MonitorsConfig {
        links: vec![(LinkNetwork::Cluster, "eth1".into())],
        filesystems: vec![steward_agent::FsWatch {
            mount: "/var/log".into(),
            min_free_space_pct: 10.0,
            min_free_inodes_pct: 0.0,
        }],
        lab: Some(faults.clone()),
        ..MonitorsConfig::default()
    };
    let socket = s.dir.path().join("status.sock");
    cfg.status_socket = Some(socket.clone());
    let (h, mut c) = s.start(cfg, Arc::default()).await;
    let link = |a: &Accepted| match &a.message {
        Message::Event(NodeEvent::Monitor(MonitorEvent::Link { down, ports, .. })) => {
            Some((*down, *ports))
        }
        _ => None,
    };
    assert_eq!(c.recv_until(Network::Mgmt, link).await, (0, 1));
    faults.set_port("eth1", false);
    for net in [Network::Mgmt, Network::Cluster] {
        let mut r = c.recv_until(net, link).await;
        while r != (1, 1) {
            r = c.recv_until(net, link).await;
        }
    }
    faults.set_filesystem("/var/log", FsState::SpaceLow);
    let fs = c
        .recv_until(Network::Mgmt, |a| match &a.message {
            Message::Event(NodeEvent::Monitor(MonitorEvent::Filesystem { mount, state }))
                if *state != FsState::Ok =>
            {
                Some((mount.clone(), *state))
            }
            _ => None,
        })
        .await;
    assert_eq!(fs, ("/var/log".to_string(), FsState::SpaceLow));
    let text = tokio::task::spawn_blocking(move || steward_node::status::query(&socket))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["host"], HOST);
    assert_eq!(doc["links"][0]["ports"][0]["up"], false, "{doc}");
    assert_eq!(doc["filesystems"][0]["state"], "space-low", "{doc}");
    assert_eq!(doc["flags"]["link_down"], true, "{doc}");
    assert!(doc["processes"].is_null());
    let shown = steward_node::cli::render_status(&doc);
    assert!(
        shown.contains("cluster") && shown.contains("eth1 down"),
        "{shown}"
    );
    h.shutdown().await;
}
