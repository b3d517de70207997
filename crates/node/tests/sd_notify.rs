//! `steward-node` under a fake systemd: `NOTIFY_SOCKET` is a Unix datagram socket this test
//! binds, `WATCHDOG_USEC` asks for pings. The agent must say `READY=1` once it serves (its UDP
//! socket is bound) and then `WATCHDOG=1` at half the interval. CI has no systemd as PID 1; this
//! is the part of `Type=notify` the daemon owns (packaging/ holds the units).

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;
use steward_protocol::ClusterSecret;
use steward_testpeers::notify::{next_message, Daemon};

#[test]
fn the_agent_says_ready_then_pings_the_watchdog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let secret = ClusterSecret::new(&[7u8; 32]).expect("secret");
    let keys = d.join("node-keys.json");
    steward_node::keyfile::provision(&keys, &secret, "worker-0").expect("key file");
    let notify_path = d.join("notify.sock");
    let socket = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");

    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_steward-node"))
            .arg("--keys")
            .arg(&keys)
            .args(["--mgmt-bind", "127.0.0.1:0", "--heartbeat-port", "0"])
            .args(["--controller", "controller-0=127.0.0.1:9"])
            .args(["--status-socket", "none", "--no-goenabled-at-start"])
            .arg("--lock-flag")
            .arg(d.join("node_locked"))
            .arg("--lock-flag-backup")
            .arg(d.join("node_locked.backup"))
            .arg("--state-dir")
            .arg(d)
            .arg("--goenabled-dir")
            .arg(d.join("goenabled.d"))
            .arg("--services-dir")
            .arg(d.join("services.d"))
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "400000")
            .env_remove("WATCHDOG_PID")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start steward-node"),
    );

    assert_eq!(next_message(&socket, &mut daemon), "READY=1");
    // Two pings: the watchdog keeps going, it is not a one-off after READY.
    for _ in 0..2 {
        assert_eq!(next_message(&socket, &mut daemon), "WATCHDOG=1");
    }
}
