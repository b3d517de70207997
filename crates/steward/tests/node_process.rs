//! `steward node` as a real process: provisioned key file, loopback UDP (127.0.0.x only), an
//! in-test controller made of the protocol crate; lock/unlock reach both flag files; SIGTERM
//! stops it cleanly. Also: a key file readable by others is refused with the fix.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use steward_maintenance::state::Network;
use steward_maintenance::{CommandId, NodeCommand};
use steward_protocol::{
    AckResult, ClusterSecret, Direction, Message, Sealer, Verifier, WireCommand,
};

const HOST: &str = "worker-7";

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A free UDP port on 127.0.0.6 (bound and released; the agent binds it right after).
fn free_port() -> u16 {
    UdpSocket::bind(SocketAddr::new(ip(6), 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn node_process_locks_unlocks_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secret = ClusterSecret::new(&[9u8; 32]).unwrap_or_else(|e| panic!("{e}"));
    let keys = dir.path().join("keys.json");
    steward_node::keyfile::save(&keys, HOST, &secret.node_keys(HOST))
        .unwrap_or_else(|e| panic!("{e}"));
    let ctrl = UdpSocket::bind(SocketAddr::new(ip(1), 0)).unwrap_or_else(|e| panic!("{e}"));
    ctrl.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap_or_else(|e| panic!("{e}"));
    let ctrl_addr = ctrl.local_addr().unwrap_or_else(|e| panic!("{e}"));
    let node_addr = SocketAddr::new(ip(6), free_port());
    let vol = dir.path().join("run/node_locked");
    let backup = dir.path().join("lib/node_locked");
    let p = |p: &std::path::Path| p.display().to_string();
    let status = dir.path().join("status.sock");
    let monitors = dir.path().join("monitors.toml");
    std::fs::write(
        &monitors,
        "fs_period_ms = 100\nrepeat_ms = 200\n[[filesystem]]\nmount = \"/\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["node", "--keys", &p(&keys), "--hostname", HOST])
        .args(["--mgmt-bind", &node_addr.to_string()])
        .args(["--controller", &format!("controller-0={ctrl_addr}")])
        .args(["--lock-flag", &p(&vol), "--lock-flag-backup", &p(&backup)])
        .args(["--state-dir", &p(&dir.path().join("lib"))])
        .args(["--goenabled-dir", &p(&dir.path().join("goenabled.d"))])
        .args(["--services-dir", &p(&dir.path().join("services.d"))])
        .args(["--alive-period", "300ms", "--reboot-command", "true"])
        .args(["--status-socket", &p(&status), "--monitors", &p(&monitors)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));

    let mut verifier = Verifier::controller(secret.clone());
    verifier.allow(HOST, Network::Mgmt, [node_addr.ip()]);
    let mut sealer = Sealer::new("controller-0", Direction::ControllerToNode, 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut recv = |want: &dyn Fn(&Message) -> bool| -> Message {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut buf = [0u8; 2048];
        while Instant::now() < deadline {
            if let Ok((n, src)) = ctrl.recv_from(&mut buf) {
                if let Ok(a) = verifier.accept(&buf[..n], src.ip(), 0) {
                    if want(&a.message) {
                        return a.message;
                    }
                }
            }
        }
        panic!("no matching message from the node process");
    };
    // A fresh node comes up locked with both flags.
    let alive = recv(&|m| matches!(m, Message::Alive(_)));
    let Message::Alive(a) = alive else {
        unreachable!()
    };
    assert!(a.flags.locked && a.lock_persistent);
    let key = secret.controller_key(HOST);
    let send = |sealer: &mut Sealer, id: u64, c: NodeCommand| {
        let m = Message::Command(steward_protocol::Command {
            id: CommandId(id),
            command: WireCommand::Known(c),
        });
        let f = sealer
            .seal(&key, Network::Mgmt, 1, &m)
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = UdpSocket::bind(SocketAddr::new(ip(1), 0)).and_then(|s| s.send_to(&f, node_addr));
    };
    send(&mut sealer, 1, NodeCommand::Unlocked);
    let ack = recv(&|m| matches!(m, Message::Ack(a) if a.id.0 == 1));
    assert!(matches!(ack, Message::Ack(a) if a.result == AckResult::Ok));
    assert!(!vol.exists() && !backup.exists());
    send(&mut sealer, 2, NodeCommand::Locked { persist: true });
    recv(&|m| matches!(m, Message::Ack(a) if a.id.0 == 2));
    assert!(vol.exists() && backup.exists());

    // `steward node status` reads the running agent's status socket: the lock flags, the
    // monitored filesystem (its report repeats every 200 ms, so one comes after the lock).
    recv(&|m| {
        matches!(
            m,
            Message::Event(steward_protocol::NodeEvent::Monitor(
                steward_protocol::MonitorEvent::Filesystem { .. }
            ))
        )
    });
    let shown = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["node", "status", "--socket", &p(&status)])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.status.success(), "{shown:?}");
    assert!(text.contains("host: worker-7"), "{text}");
    assert!(text.contains("\"locked\":true"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("/ ") && l.contains("ok")),
        "{text}"
    );

    // SIGTERM: a clean stop, with lock and unlock in the log.
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("host unlocked by the controller"), "{log}");
    assert!(log.contains("host locked by the controller"), "{log}");
}

#[test]
fn key_file_with_open_permissions_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secret = ClusterSecret::new(&[9u8; 32]).unwrap_or_else(|e| panic!("{e}"));
    let keys = dir.path().join("keys.json");
    steward_node::keyfile::save(&keys, HOST, &secret.node_keys(HOST))
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644));
    let out = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["node", "--keys", &keys.display().to_string()])
        .args(["--controller", "controller-0=127.0.0.1"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("chmod 600") && err.contains("keys.json"),
        "{err}"
    );
}
