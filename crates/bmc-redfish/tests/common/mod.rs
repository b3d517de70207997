//! Shared helpers for the integration tests: spawn real sushy-tools peers on loopback with a
//! free port, wait generously for readiness, and kill them on Drop.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A temporary directory removed on Drop (no extra dev-dependency needed).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p =
            std::env::temp_dir().join(format!("steward-redfish-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        Self(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Is `bin` runnable? pyenv shims exist even when the package is missing, so run `--help`.
fn runnable(bin: &str) -> bool {
    Command::new(bin)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// True when the peer can run. Missing peer: with CI set, fail; otherwise skip loudly.
pub fn peer_available(bin: &str) -> bool {
    if runnable(bin) {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{bin} is not installed but CI is set: run `pip install sushy-tools` (PyPI, tested with 2.2.0)");
    }
    loud_skip(&format!("{bin} not installed (pip install sushy-tools)"));
    false
}

/// Print a skip notice that survives libtest's output capture (which only hooks the print
/// macros), so a skipped peer test is visible in a plain `cargo test` run.
pub fn loud_skip(why: &str) {
    let _ = writeln!(std::io::stderr(), "\n*** SKIPPED: {why} ***\n");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// A running peer process, killed on Drop.
pub struct Peer {
    child: Child,
    pub port: u16,
    pub log: PathBuf,
    _dir: TempDir,
}

impl Peer {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Contents of the peer's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = s.len().saturating_sub(3000);
        s.get(start..).unwrap_or_default().to_owned()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Readiness probe: an HTTP peer must answer the service root; a TLS peer must accept TCP
/// (Werkzeug only listens once the app is loaded).
fn ready(port: u16, tls: bool) -> bool {
    if tls {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    } else {
        http_status(port, "/redfish/v1/") == Some(200)
    }
}

/// Plain HTTP GET status over a raw socket, so readiness polling needs no runtime.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}

/// Spawn `bin args... -p PORT` (args must include the interface), retrying on port races,
/// and wait up to 120 s (noisy shared machine) for `/redfish/v1/` to answer.
pub fn spawn_peer(bin: &str, args: &[&str], dir: TempDir, tls: bool) -> Peer {
    let mut last_log = String::new();
    for attempt in 0..3 {
        let port = free_port();
        let log = dir.path().join(format!("{bin}-{attempt}.log"));
        let out = std::fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("dup log");
        let child = Command::new(bin)
            .args(args)
            .args(["-p", &port.to_string()])
            // Python block-buffers stdout into a file; the tests read the peer's request log.
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
        let mut peer = Peer {
            child,
            port,
            log,
            _dir: TempDir(PathBuf::new()),
        };
        for _ in 0..480 {
            if let Ok(Some(_)) = peer.child.try_wait() {
                break; // exited: likely lost the port race
            }
            if ready(port, tls) {
                peer._dir = dir;
                return peer;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        last_log = peer.log_tail();
    }
    panic!("{bin} did not become ready on 127.0.0.1; log:\n{last_log}");
}

/// `sushy-emulator --fake` on loopback with extra config lines (Python syntax).
///
/// Always sets `SUSHY_EMULATOR_STATE_DIR` to a private directory: by default the fake
/// driver persists its state in `$TMPDIR/sushy-emulator/*.sqlite`, shared by every
/// emulator process on the machine, so parallel tests would see each other's power and
/// boot changes.
pub fn sushy_emulator(extra_config: &str) -> Option<Peer> {
    sushy_emulator_with(extra_config, &[], false)
}

/// Like [`sushy_emulator`] with extra CLI args (e.g. TLS certificate); `tls` selects the probe.
pub fn sushy_emulator_with(extra_config: &str, extra_args: &[&str], tls: bool) -> Option<Peer> {
    if !peer_available("sushy-emulator") {
        return None;
    }
    let dir = TempDir::new("emu");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let cfg = format!(
        "SUSHY_EMULATOR_STATE_DIR = {:?}\n{extra_config}\n",
        state.display().to_string()
    );
    let p = dir.path().join("emulator.conf");
    std::fs::write(&p, cfg).expect("write config");
    let conf = p.display().to_string();
    let mut args: Vec<&str> = vec!["--fake", "-i", "127.0.0.1", "--config", &conf];
    args.extend_from_slice(extra_args);
    Some(spawn_peer("sushy-emulator", &args, dir, tls))
}

/// `sushy-static` serving a mockup tree the test wrote into `tree`.
pub fn sushy_static(tree: TempDir) -> Option<Peer> {
    if !peer_available("sushy-static") {
        return None;
    }
    let root = tree.path().display().to_string();
    Some(spawn_peer(
        "sushy-static",
        &["-i", "127.0.0.1", "-m", &root],
        tree,
        false,
    ))
}

/// Write `body` as `<root>/<rel>/index.json` (sushy-static's layout, rooted at /redfish/v1).
pub fn put(root: &Path, rel: &str, body: serde_json::Value) {
    let dir = root.join(rel);
    std::fs::create_dir_all(&dir).expect("mkdir mockup");
    std::fs::write(dir.join("index.json"), body.to_string()).expect("write mockup");
}

/// Minimal HTTP file server for the virtual-media image: sushy-emulator downloads it itself.
/// Runs on a detached thread for the rest of the test process.
pub fn serve_image(bytes: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind image server");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { continue };
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let head = req.starts_with(b"HEAD");
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                bytes.len()
            );
            if !head {
                let _ = s.write_all(&bytes);
            }
        }
    });
    port
}
