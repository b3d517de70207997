//! `steward controller` under a fake systemd: `NOTIFY_SOCKET` is a Unix datagram socket this
//! test binds, `WATCHDOG_USEC` asks for pings. The controller must say `READY=1` only once it
//! serves (the API accepts connections by then) and then `WATCHDOG=1` at half the interval while
//! its actor answers. CI has no systemd as PID 1; this is the part of `Type=notify` the daemon
//! owns (the units are in packaging/, checked by scripts/test-packages).

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;
use steward_testpeers::notify::{next_message, Daemon};

#[test]
fn the_controller_says_ready_once_serving_then_pings_the_watchdog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let notify_path = d.join("notify.sock");
    let socket = UnixDatagram::bind(&notify_path).expect("bind the notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    let url_file = d.join("url");

    let mut daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_steward"))
            .arg("controller")
            .arg("--data-dir")
            .arg(d.join("data"))
            // An address of its own: the heartbeat service binds its fixed port on this IP.
            .args(["--listen", "127.0.0.1:0", "--mgmt-bind", "127.9.15.1:0"])
            .arg("--url-file")
            .arg(&url_file)
            .env("NOTIFY_SOCKET", &notify_path)
            .env("WATCHDOG_USEC", "400000")
            .env_remove("WATCHDOG_PID")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start steward controller"),
    );

    assert_eq!(next_message(&socket, &mut daemon), "READY=1");
    // READY means serving: the API's address is known and it accepts a connection.
    let url = std::fs::read_to_string(&url_file).expect("the URL file is written before READY");
    let addr = url
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    std::net::TcpStream::connect(&addr).expect("the API accepts connections once READY");
    for _ in 0..2 {
        assert_eq!(next_message(&socket, &mut daemon), "WATCHDOG=1");
    }
}
