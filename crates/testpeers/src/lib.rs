//! Real peers for integration tests, shared by every crate that needs them: `sushy-emulator --fake`
//! and `sushy-static` (PyPI `sushy-tools`). Each starts on 127.0.0.1 with a free port in a private temp
//! dir and is killed on Drop. A missing binary fails the test when `CI` is set and prints a loud
//! SKIPPED notice otherwise — never a silent pass. [`etcd`] starts a real etcd member or cluster; it is
//! a required peer (a missing binary fails the test).

pub mod disk_images;
pub mod etcd;
pub mod hostile;
pub mod notify;
pub mod process;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Skip (or fail on CI) when `bin` cannot run.
pub fn require(bin: &str, probe_arg: &str, install: &str) -> bool {
    let ok = Command::new(bin)
        .arg(probe_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success() || bin == "ipmi_sim")
        .unwrap_or(false);
    if ok {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{bin} is not installed but CI is set: run `{install}`");
    }
    // Real stderr, not eprintln!: libtest captures the macros for passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: {bin} not installed ({install}) ***\n"
    );
    false
}

pub fn require_sushy() -> bool {
    require("sushy-emulator", "--help", "pip install sushy-tools")
}

pub fn require_sushy_static() -> bool {
    require("sushy-static", "--help", "pip install sushy-tools")
}

/// Write `body` as `<root>/<rel>/index.json` (sushy-static's layout under /redfish/v1).
pub fn put(root: &Path, rel: &str, body: serde_json::Value) {
    let dir = root.join(rel);
    std::fs::create_dir_all(&dir).expect("mkdir mockup");
    std::fs::write(dir.join("index.json"), body.to_string()).expect("write mockup");
}

pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free tcp port")
}

/// `sushy-emulator --fake` (or `sushy-static`) on loopback, killed on Drop.
pub struct Sushy {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sushy {
    /// `sushy-emulator --fake` with a private state dir: by default its fake driver shares
    /// `$TMPDIR/sushy-emulator` between processes.
    pub fn start() -> Sushy {
        Self::start_with_config("")
    }

    /// [`Sushy::start`] with extra emulator configuration lines (Python syntax), e.g.
    /// `SUSHY_EMULATOR_FEATURE_SET = "vmedia"`.
    pub fn start_with_config(extra: &str) -> Sushy {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        let conf = dir.path().join("emulator.conf");
        std::fs::write(
            &conf,
            format!(
                "SUSHY_EMULATOR_STATE_DIR = {:?}\n{extra}\n",
                state.display().to_string()
            ),
        )
        .expect("write config");
        let conf = conf.display().to_string();
        Self::spawn(
            "sushy-emulator",
            &["--fake", "-i", "127.0.0.1", "--config", &conf],
            dir,
        )
    }

    /// `sushy-static` serving the mockup tree in `tree` (layout `<rel>/index.json`).
    pub fn start_static(tree: tempfile::TempDir) -> Sushy {
        let root = tree.path().display().to_string();
        Self::spawn("sushy-static", &["-i", "127.0.0.1", "-m", &root], tree)
    }

    fn spawn(bin: &str, args: &[&str], dir: tempfile::TempDir) -> Sushy {
        let mut last = String::new();
        for attempt in 0..3 {
            let port = free_tcp_port();
            let log = dir.path().join(format!("{bin}-{attempt}.log"));
            let out = std::fs::File::create(&log).expect("log");
            let err = out.try_clone().expect("dup");
            let mut child = Command::new(bin)
                .args(args)
                .args(["-p", &port.to_string()])
                .env("PYTHONUNBUFFERED", "1")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
            for _ in 0..480 {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // lost the port race
                }
                if http_status(port, "/redfish/v1/") == Some(200) {
                    return Sushy {
                        child,
                        port,
                        log,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("{bin} did not become ready; log:\n{last}");
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        s[s.len().saturating_sub(3000)..].to_owned()
    }
}

impl Drop for Sushy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of `GET path` on a loopback port, if it answers.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}
