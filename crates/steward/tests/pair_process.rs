//! The controller pair as real processes (docs/controller-pair.md): a real etcd started by the test,
//! two `steward controller --store etcd://…` processes and a `steward simhost` whose agent knows both
//! controllers, driven by the `steward` CLI.
//!
//! The active is SIGKILLed in the middle of an unlock: the standby takes over, the unlock ends with
//! the host in service and no host failed. Then the old active comes back as standby and the new
//! active is stopped (it resigns: SIGTERM revokes its lease), and the first takes over again.
//! Writes sent to the standby are refused with 503 and the CLI retries them at the active.

use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use steward_testpeers::etcd::EtcdPeer;

const BIN: &str = env!("CARGO_BIN_EXE_steward");
const SCALE: &str = "20";
const BLOCK: u8 = 61;

// Killed on drop, so a failing test leaves nothing behind.
use steward_testpeers::process::{
    free_tcp_port as free_tcp, free_udp_port as free_udp, KillOnDrop as Proc,
};

/// Poll `ok` every 50 ms; a bound on the rig (a process that never comes up), reported with `what`.
fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Controller {
    name: String,
    dir: PathBuf,
    api: String,
    mgmt: SocketAddr,
}

struct Pair {
    dir: PathBuf,
    store: String,
    ctl: [Controller; 2],
    node_port: u16,
}

impl Pair {
    fn new(dir: &Path, etcd: &EtcdPeer) -> Pair {
        let ctl = [0u8, 1].map(|i| {
            let ip = Ipv4Addr::new(127, BLOCK, 0, 1 + i);
            Controller {
                name: format!("controller-{i}"),
                dir: dir.join(format!("ctl{i}")),
                api: format!("http://127.0.0.1:{}", free_tcp()),
                mgmt: SocketAddr::new(ip.into(), free_udp(ip)),
            }
        });
        Pair {
            dir: dir.to_path_buf(),
            store: format!("etcd://{}", etcd.host_port()),
            ctl,
            node_port: free_udp(Ipv4Addr::new(127, BLOCK, 0, 10)),
        }
    }

    /// Start controller `i`; returns once its API serves (as active or standby).
    fn start(&self, i: usize) -> Proc {
        let c = &self.ctl[i];
        std::fs::create_dir_all(&c.dir).unwrap();
        let url_file = c.dir.join("url");
        let _ = std::fs::remove_file(&url_file);
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(c.dir.join("stdout.log"))
            .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(c.dir.join("controller.log"))
            .unwrap();
        let listen = c.api.trim_start_matches("http://");
        let child = Command::new(BIN)
            .args(["controller", "--lab", "--time-scale", SCALE])
            .args(["--store", &self.store, "--name", &c.name])
            .args(["--advertise-url", &c.api, "--listen", listen])
            .args(["--lease-ttl-ms", "2000"])
            .arg("--data-dir")
            .arg(&c.dir)
            .arg("--mgmt-bind")
            .arg(c.mgmt.to_string())
            .arg("--node-port")
            .arg(self.node_port.to_string())
            .args(["--heartbeat-port", "0", "--no-bmc-events"])
            .args(["--bmc-gap-ms", "100", "--bmc-audit-ms", "300"])
            .arg("--url-file")
            .arg(&url_file)
            .stdout(out)
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Proc(child);
        wait_until(
            &format!("{} serves", c.name),
            Duration::from_secs(60),
            || url_file.exists(),
        );
        p
    }

    /// The role lines controller `i` printed.
    fn roles(&self, i: usize) -> String {
        std::fs::read_to_string(self.ctl[i].dir.join("stdout.log")).unwrap_or_default()
    }

    fn active_count(&self, i: usize) -> usize {
        self.roles(i).matches("role: active").count()
    }

    /// Both controllers install the same cluster secret, store key and API token (as an
    /// installer does): copied from controller-0's data dir, never through etcd.
    fn share_secrets(&self) {
        let (from, to) = (&self.ctl[0].dir, &self.ctl[1].dir);
        std::fs::create_dir_all(to.join("store")).unwrap();
        for f in ["cluster.secret", "api.token", "store/secret.key"] {
            std::fs::copy(from.join(f), to.join(f)).unwrap();
        }
    }

    fn simhost(&self, name: &str, ip: Ipv4Addr) -> Proc {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let keys = dir.join("node.keys");
        let o = Command::new(BIN)
            .args(["controller", "provision-node", name])
            .arg("--data-dir")
            .arg(&self.ctl[0].dir)
            .arg("--out")
            .arg(&keys)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let p = Proc(
            Command::new(BIN)
                .args(["simhost", "--name", name, "--time-scale", SCALE])
                .arg("--dir")
                .arg(&dir)
                .arg("--mgmt-ip")
                .arg(ip.to_string())
                .arg("--node-port")
                .arg(self.node_port.to_string())
                .arg("--controller")
                .arg(format!("{}={}", self.ctl[0].name, self.ctl[0].mgmt))
                .arg("--also-controller")
                .arg(format!("{}={}", self.ctl[1].name, self.ctl[1].mgmt))
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let sock = dir.join("bmc.sock");
        wait_until(&format!("{name} runs"), Duration::from_secs(30), || {
            sock.exists()
        });
        p
    }

    fn cli(&self, url: &str, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("STEWARD_URL", url)
            .env_remove("STEWARD_TOKEN")
            .output()
            .unwrap()
    }

    fn ok(&self, url: &str, args: &[&str]) -> String {
        let o = self.cli(url, args);
        assert!(
            o.status.success(),
            "steward {args:?} at {url} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    fn host(&self, url: &str, name: &str) -> Option<Value> {
        let o = self.cli(url, &["host", "show", name, "--json"]);
        o.status
            .success()
            .then(|| serde_json::from_slice(&o.stdout).ok())
            .flatten()
    }

    fn alarms(&self, url: &str) -> String {
        self.ok(url, &["alarm", "list", "--json"])
    }
}

fn states(h: &Value) -> String {
    format!(
        "{}-{}-{}",
        h["administrative"].as_str().unwrap_or(""),
        h["operational"].as_str().unwrap_or(""),
        h["availability"].as_str().unwrap_or("")
    )
}

#[test]
fn sigkill_of_the_active_mid_unlock_then_a_resign_hand_the_role_over_and_the_unlock_ends() {
    let etcd = EtcdPeer::start();
    let tmp = tempfile::tempdir().unwrap();
    let pair = Pair::new(tmp.path(), &etcd);
    let c0 = pair.start(0);
    wait_until("controller-0 active", Duration::from_secs(30), || {
        pair.active_count(0) == 1
    });
    pair.share_secrets();
    let c1 = pair.start(1);
    wait_until("controller-1 standby", Duration::from_secs(30), || {
        pair.roles(1)
            .contains("role: standby (active: controller-0")
    });
    let (url0, url1) = (pair.ctl[0].api.clone(), pair.ctl[1].api.clone());

    // A write sent to the standby: refused with 503 naming the active, and the CLI retries there.
    let ip = Ipv4Addr::new(127, BLOCK, 0, 20);
    pair.ok(
        &url1,
        &[
            "host",
            "add",
            "worker-0",
            "--personality",
            "worker",
            "--mgmt-ip",
            &ip.to_string(),
        ],
    );
    let answer = raw_post(&url1, "/v1/ihosts", "{}");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains(&format!("x-steward-active-url: {url0}\r\n")),
        "{answer}"
    );
    let _host = pair.simhost("worker-0", ip);

    // Unlock, and SIGKILL the active while it runs.
    pair.ok(&url0, &["host", "unlock", "worker-0"]);
    wait_until("the unlock runs", Duration::from_secs(30), || {
        pair.host(&url0, "worker-0").is_some_and(|h| {
            !h["task"].as_str().unwrap_or("").is_empty()
                && h["action"].as_str().unwrap_or("none") != "none"
        })
    });
    let mut c0 = c0;
    let killed = Instant::now();
    c0.0.kill().unwrap();
    c0.0.wait().unwrap();
    wait_until("controller-1 takes over", Duration::from_secs(30), || {
        pair.active_count(1) == 1
    });
    let takeover = killed.elapsed();
    wait_until(
        "the unlock ends on the new active",
        Duration::from_secs(60),
        || {
            pair.host(&url1, "worker-0")
                .is_some_and(|h| states(&h) == "unlocked-enabled-available")
        },
    );
    let alarms = pair.alarms(&url1);
    assert!(!alarms.contains("200.004"), "a host was failed: {alarms}");

    // controller-0 comes back as standby; controller-1 is stopped (resigns) and 0 takes over.
    let c0 = pair.start(0);
    wait_until("controller-0 standby", Duration::from_secs(30), || {
        pair.roles(0)
            .contains("role: standby (active: controller-1")
    });
    let stopped = Instant::now();
    unsafe_sigterm(&c1);
    wait_until("controller-0 takes over", Duration::from_secs(30), || {
        pair.active_count(0) == 2
    });
    let handover = stopped.elapsed();
    wait_until("the host stays in service", Duration::from_secs(30), || {
        pair.host(&url0, "worker-0")
            .is_some_and(|h| states(&h) == "unlocked-enabled-available")
    });
    let alarms = pair.alarms(&url0);
    assert!(!alarms.contains("200.004"), "a host was failed: {alarms}");
    eprintln!(
        "takeover after SIGKILL: {takeover:?}; hand-over on resign: {handover:?} (lease ttl 2 s)"
    );
    drop(c0);
    drop(c1);
}

/// One HTTP/1.1 POST on a fresh connection; the whole answer, headers included.
fn raw_post(url: &str, path: &str, body: &str) -> String {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    answer
}

/// SIGTERM: the controller resigns (revokes its lease) before it exits.
fn unsafe_sigterm(p: &Proc) {
    let pid = p.0.id() as libc::pid_t;
    // SAFETY: kill(2) with a pid this test spawned and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
}
