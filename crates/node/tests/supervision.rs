//! The whole agent with its process monitor and watchdog (docs/node-supervision.md): a quorum
//! process killed past its restarts reaches the controller as a critical process event, and the
//! watchdog stops petting after its delay. Addresses: 127.0.0.x only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use steward_node::watchdog::WatchdogConfig;
use steward_node::*;
use steward_protocol::{ClusterSecret, Message, MonitorEvent, NodeEvent, Severity, Verifier};
use steward_types::Inventory;

const HOST: &str = "worker-7";

struct Quiet;
impl Machine for Quiet {
    fn boot(&self) -> BootInfo {
        BootInfo {
            boot_id: 7,
            uptime: Duration::from_secs(1),
        }
    }
    fn reboot(&self) {}
    fn wipe_disk(&self) {}
    fn inventory(&self) -> Inventory {
        Inventory::default()
    }
}

fn read_pid(p: &std::path::Path) -> Option<i32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_process_past_its_restarts_is_reported_and_the_watchdog_lets_go() {
    let dir = tempfile::tempdir().unwrap();
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 77));
    let ctrl = tokio::net::UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .unwrap();
    let secret = ClusterSecret::new(&[42u8; 32]).unwrap();
    let pmon = dir.path().join("pmon.d");
    std::fs::create_dir_all(&pmon).unwrap();
    let pidfile = dir.path().join("sm.pid");
    std::fs::write(
        pmon.join("sm.toml"),
        format!(
            "name = \"sm\"\npidfile = \"{p}\"\nstart = \"sleep 600 & echo $! > {p}\"\n\
             severity = \"critical\"\nrestarts = 0\nquorum = true\ninterval_ms = 50\n\
             startup_delay_ms = 50\n",
            p = pidfile.display()
        ),
    )
    .unwrap();
    let device = dir.path().join("watchdog");
    std::fs::write(&device, "").unwrap();
    let mut cfg = NodeConfig::new(
        HOST,
        secret.node_keys(HOST),
        vec![NodeNetwork {
            network: Network::Mgmt,
            bind: SocketAddr::new(ip, 0),
            controllers: vec![ControllerPeer {
                name: "controller-0".into(),
                addr: ctrl.local_addr().unwrap(),
            }],
        }],
    )
    .under_dirs(&dir.path().join("vol"), &dir.path().join("persist"));
    cfg.goenabled_at_start = false;
    // An unlocked host: on a locked one the watchdog only logs a quorum loss.
    NodeState {
        lock_state: Some(LockState::Unlocked),
        ..NodeState::default()
    }
    .save(&cfg.state_dir)
    .unwrap();
    cfg.pmon_dir = Some(pmon);
    let socket = dir.path().join("status.sock");
    cfg.status_socket = Some(socket.clone());
    cfg.watchdog = Some(WatchdogConfig {
        device: device.clone(),
        pet_interval: Duration::from_millis(10),
        quorum_loss_delay: Duration::from_millis(200),
    });
    let h = spawn(cfg, Arc::new(Quiet)).unwrap();

    // Kill the first instance: no restart is allowed, so it escalates at once.
    let pid = loop {
        if let Some(p) = read_pid(&pidfile) {
            let status = h.pmon().unwrap().status();
            if status
                .first()
                .is_some_and(|s| matches!(s.phase, steward_process_policy::Phase::Running { .. }))
            {
                break p;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // SAFETY: kill(2) on the `sleep` the agent started for this test.
    unsafe { libc::kill(pid, libc::SIGKILL) };

    let mut verifier = Verifier::controller(secret);
    verifier.allow(HOST, Network::Mgmt, [ip]);
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, src) = ctrl.recv_from(&mut buf).await.unwrap();
        let Ok(acc) = verifier.accept(&buf[..n], src.ip(), 0) else {
            continue;
        };
        if acc.message
            == Message::Event(NodeEvent::Monitor(MonitorEvent::Process {
                process: "sm".into(),
                severity: Severity::Critical,
            }))
        {
            break;
        }
    }
    while !h.watchdog_stats().unwrap().stopped_for_quorum {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pets = h.watchdog_stats().unwrap().pets;
    assert!(pets > 0);
    // `steward node status` shows the monitored process in its section.
    let text = tokio::task::spawn_blocking(move || steward_node::status::query(&socket))
        .await
        .unwrap()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let processes = doc["processes"].as_array().expect("a processes section");
    assert!(
        processes.iter().any(|p| p.to_string().contains("\"sm\"")),
        "{text}"
    );
    h.shutdown().await;
    // A clean stop disarms even after the pets stopped.
    assert_eq!(std::fs::read(&device).unwrap().last(), Some(&b'V'));
    if let Some(p) = read_pid(&pidfile) {
        // SAFETY: as above, the test's own `sleep`.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

/// Dropping the agent (what a simulated machine's power loss or reboot does) ends all of it: the
/// status socket stops answering and the process monitor it reads from no longer restarts
/// anything, so the next boot's agent is the only one watching the processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_agent_leaves_no_process_monitor_or_status_socket_behind() {
    let dir = tempfile::tempdir().unwrap();
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 78));
    let ctrl = tokio::net::UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .unwrap();
    let secret = ClusterSecret::new(&[43u8; 32]).unwrap();
    let pmon = dir.path().join("pmon.d");
    std::fs::create_dir_all(&pmon).unwrap();
    let pidfile = dir.path().join("svc.pid");
    std::fs::write(
        pmon.join("svc.toml"),
        format!(
            "name = \"svc\"\npidfile = \"{p}\"\nstart = \"sleep 600 & echo $! > {p}\"\n\
             severity = \"minor\"\nrestarts = 5\ninterval_ms = 20\nstartup_delay_ms = 20\n",
            p = pidfile.display()
        ),
    )
    .unwrap();
    let mut cfg = NodeConfig::new(
        HOST,
        secret.node_keys(HOST),
        vec![NodeNetwork {
            network: Network::Mgmt,
            bind: SocketAddr::new(ip, 0),
            controllers: vec![ControllerPeer {
                name: "controller-0".into(),
                addr: ctrl.local_addr().unwrap(),
            }],
        }],
    )
    .under_dirs(&dir.path().join("vol"), &dir.path().join("persist"));
    cfg.goenabled_at_start = false;
    cfg.pmon_dir = Some(pmon);
    let socket = dir.path().join("status.sock");
    cfg.status_socket = Some(socket.clone());
    let h = spawn(cfg, Arc::new(Quiet)).unwrap();
    let pid =
        loop {
            let running =
                h.pmon().unwrap().status().first().is_some_and(|s| {
                    matches!(s.phase, steward_process_policy::Phase::Running { .. })
                });
            if let (true, Some(p)) = (running, read_pid(&pidfile)) {
                break p;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok());

    drop(h);
    // The aborted tasks end at their next turn; allow a generous number of them.
    let mut answering = true;
    for _ in 0..500 {
        answering = std::os::unix::net::UnixStream::connect(&socket).is_ok();
        if !answering {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !answering,
        "the status socket still answers after the agent was dropped"
    );
    // SAFETY: kill(2) on the `sleep` the agent started for this test.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    // Fifty restart intervals: a monitor still alive would have started a new instance.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let now = read_pid(&pidfile);
    if let Some(p) = now.filter(|p| *p != pid) {
        // SAFETY: as above, the test's own `sleep`.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    assert_eq!(
        now,
        Some(pid),
        "a dropped agent's process monitor restarted the process"
    );
}
