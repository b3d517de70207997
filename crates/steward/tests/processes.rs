//! The process tier: the controller and the hosts run as separate processes (`steward controller`,
//! `steward simhost` with the real node agent over UDP and a Redfish BMC), driven by the `steward`
//! CLI as an operator would.
//!
//! Crash safety (issue 4): the controller is SIGKILLed in the middle of an unlock and of a lock,
//! restarted on the same data dir, and the action completes, the host ends in the right state, and
//! no alarm is duplicated or lost. Also: uptime and inventory reach the CLI, reset and power go
//! through the Redfish BMC (a new boot id), garbage datagrams show in `/metrics`.

use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_steward");
const SCALE: &str = "20";
const BMC_PASSWORD: &str = "sigkill-test-bmc";

// Killed on drop, so a failing test leaves nothing behind.
use steward_testpeers::process::{
    free_tcp_port as free_tcp, free_udp_port as free_udp, KillOnDrop as Proc,
};

struct Cluster {
    dir: PathBuf,
    api_port: u16,
    ctl_addr: SocketAddr,
    node_port: u16,
    url: String,
}

impl Cluster {
    /// A cluster on its own loopback block 127.`block`.0.0/16 (tests run in parallel).
    fn new(block: u8, dir: &Path) -> Cluster {
        let ctl_ip = Ipv4Addr::new(127, block, 0, 1);
        let api_port = free_tcp();
        Cluster {
            dir: dir.to_path_buf(),
            api_port,
            ctl_addr: SocketAddr::new(ctl_ip.into(), free_udp(ctl_ip)),
            node_port: free_udp(Ipv4Addr::new(127, block, 0, 10)),
            url: format!("http://127.0.0.1:{api_port}"),
        }
    }

    /// `host add` with a Redfish BMC when `bmc` is given.
    fn add(&self, name: &str, personality: &str, ip: Ipv4Addr, bmc: Option<SocketAddr>) {
        let ip = ip.to_string();
        let mut args = vec![
            "host",
            "add",
            name,
            "--personality",
            personality,
            "--mgmt-ip",
            &ip,
        ];
        let pw = self.dir.join("bmc-password");
        let pw = pw.to_str().unwrap().to_string();
        let bm_ip = bmc.map(|b| format!("http://{b}"));
        if let Some(b) = &bm_ip {
            args.extend([
                "--bm-type",
                "redfish",
                "--bm-ip",
                b,
                "--bm-username",
                "admin",
            ]);
            args.extend(["--bm-password-file", &pw]);
        }
        self.ok(&args);
    }

    /// The simhost's current boot id, from its control socket.
    fn boot_id(&self, name: &str) -> String {
        let st = steward_simhost::control_blocking(&self.dir.join(name), "status").unwrap();
        st.split_whitespace()
            .find_map(|w| w.strip_prefix("boot_id=").map(str::to_string))
            .unwrap_or_default()
    }

    fn fault(&self, name: &str, what: &str) {
        steward_simhost::control_blocking(&self.dir.join(name), what).unwrap();
    }

    /// The customer-log lines (`steward event list`).
    fn events(&self) -> String {
        self.ok(&["event", "list", "--limit", "500"])
    }

    fn controller(&self) -> Proc {
        let url_file = self.dir.join("url");
        let _ = std::fs::remove_file(&url_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("controller.log"))
            .unwrap();
        let child = Command::new(BIN)
            .args(["controller", "--lab", "--time-scale", SCALE])
            .arg("--data-dir")
            .arg(self.dir.join("ctl"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.api_port))
            .arg("--mgmt-bind")
            .arg(self.ctl_addr.to_string())
            .arg("--node-port")
            .arg(self.node_port.to_string())
            .args(["--bmc-gap-ms", "100", "--bmc-audit-ms", "300"])
            .arg("--url-file")
            .arg(&url_file)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Proc(child);
        wait_until("the controller serves", Duration::from_secs(60), || {
            url_file.exists()
        });
        p
    }

    fn simhost(&self, name: &str, ip: Ipv4Addr, bmc: Option<SocketAddr>) -> Proc {
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let keys = dir.join("node.keys");
        if !keys.exists() {
            // As an operator provisions a node: from the controller's data dir.
            let o = Command::new(BIN)
                .args(["controller", "provision-node", name])
                .arg("--data-dir")
                .arg(self.dir.join("ctl"))
                .arg("--out")
                .arg(&keys)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["simhost", "--name", name, "--time-scale", SCALE])
            .arg("--dir")
            .arg(&dir)
            .arg("--mgmt-ip")
            .arg(ip.to_string())
            .arg("--node-port")
            .arg(self.node_port.to_string())
            .arg("--controller")
            .arg(format!("controller-0={}", self.ctl_addr))
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(b) = bmc {
            let pw = self.dir.join("bmc-password");
            std::fs::write(&pw, BMC_PASSWORD).unwrap();
            cmd.arg("--bmc-listen")
                .arg(b.to_string())
                .arg("--bmc-password-file")
                .arg(pw);
        }
        let p = Proc(cmd.spawn().unwrap());
        let sock = dir.join("bmc.sock");
        wait_until(&format!("{name} runs"), Duration::from_secs(30), || {
            sock.exists()
        });
        p
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("STEWARD_URL", &self.url)
            .env_remove("STEWARD_TOKEN")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.cli(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(o.status.success(), "steward {args:?} failed: {text}");
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    fn host(&self, name: &str) -> Value {
        serde_json::from_str(&self.ok(&["host", "show", name, "--json"])).unwrap()
    }

    /// The host's "admin-oper-avail", or None while the controller is down.
    fn states(&self, name: &str) -> Option<String> {
        let o = self.cli(&["host", "show", name, "--json"]);
        if !o.status.success() {
            return None;
        }
        let v: Value = serde_json::from_slice(&o.stdout).ok()?;
        Some(format!(
            "{}-{}-{}",
            v["administrative"].as_str()?,
            v["operational"].as_str()?,
            v["availability"].as_str()?
        ))
    }

    fn alarms(&self) -> Vec<(String, String)> {
        let v: Value = serde_json::from_str(&self.ok(&["alarm", "list", "--json"])).unwrap();
        let list = v["alarms"].as_array().cloned().unwrap_or_default();
        list.iter()
            .map(|a| {
                (
                    a["alarm_id"].as_str().unwrap_or("").to_string(),
                    a["entity_instance_id"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }

    /// Starts `action` on `host` and SIGKILLs the controller while the action runs (the host's
    /// task line is set and the action has not ended), returning the action id.
    fn kill_during(&self, ctl: Proc, host: &str, action: &str) -> u64 {
        let accepted: Value =
            serde_json::from_str(&self.ok(&["host", action, host, "--json"])).unwrap();
        let id = accepted["action_id"].as_u64().expect("an action id");
        let mut ctl = ctl;
        wait_until(
            &format!("{action} of {host} in progress"),
            Duration::from_secs(30),
            || {
                let h = self.host(host);
                !h["task"].as_str().unwrap_or("").is_empty()
                    && h["action"].as_str().unwrap_or("none") != "none"
            },
        );
        ctl.0.kill().unwrap(); // SIGKILL
        ctl.0.wait().unwrap();
        std::mem::forget(ctl);
        id
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {limit:?}");
}

fn wait_state(c: &Cluster, host: &str, want: &str) {
    let mut last = None;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(90) {
        last = c.states(host);
        if last.as_deref() == Some(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{host}: expected {want}, still {last:?}\ncontroller log tail:\n{}",
        tail(&c.dir.join("controller.log"))
    );
}

fn tail(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn controller_sigkilled_mid_unlock_and_mid_lock_resumes_and_keeps_alarms_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let ctl_ip = Ipv4Addr::new(127, 6, 0, 1);
    let c0 = Ipv4Addr::new(127, 6, 0, 10);
    let w0 = Ipv4Addr::new(127, 6, 0, 11);
    let w1 = Ipv4Addr::new(127, 6, 0, 12);
    let bmc_w1 = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 6, 1, 12)), free_tcp());
    let mut c = Cluster {
        dir: tmp.path().to_path_buf(),
        api_port: free_tcp(),
        ctl_addr: SocketAddr::new(ctl_ip.into(), free_udp(ctl_ip)),
        node_port: free_udp(c0),
        url: String::new(),
    };
    c.url = format!("http://127.0.0.1:{}", c.api_port);
    let ctl = c.controller();
    let _h0 = c.simhost("controller-0", c0, None);
    let _h1 = c.simhost("worker-0", w0, None);
    let _h2 = c.simhost("worker-1", w1, Some(bmc_w1));
    c.ok(&[
        "host",
        "add",
        "controller-0",
        "--personality",
        "controller",
        "--mgmt-ip",
        "127.6.0.10",
    ]);
    c.ok(&[
        "host",
        "add",
        "worker-0",
        "--personality",
        "worker",
        "--mgmt-ip",
        "127.6.0.11",
    ]);
    let pw = c.dir.join("bmc-password");
    c.ok(&[
        "host",
        "add",
        "worker-1",
        "--personality",
        "worker",
        "--mgmt-ip",
        "127.6.0.12",
        "--bm-type",
        "redfish",
        "--bm-ip",
        &format!("http://{bmc_w1}"),
        "--bm-username",
        "admin",
        "--bm-password-file",
        pw.to_str().unwrap(),
    ]);
    wait_state(&c, "worker-0", "locked-disabled-online");
    wait_state(&c, "worker-1", "locked-disabled-online");
    // The agents' reports show: uptime in the list, inventory in `host show`.
    let list = c.ok(&["host", "list"]);
    assert!(
        list.lines().next().unwrap_or("").contains("uptime"),
        "{list}"
    );
    wait_until("worker-0's inventory", Duration::from_secs(30), || {
        let show = c.ok(&["host", "show", "worker-0"]);
        show.contains("inventory:") && show.contains("/dev/sda")
    });

    // Config push: node settings reach both agents (followed with --wait), are kept on their
    // disks, and an out-of-range value is refused by the controller naming the field.
    let out = c.ok(&[
        "node-config",
        "set",
        "alive_period_ms=200",
        "goenabled_timeout_s=120",
        "--wait",
    ]);
    assert!(out.contains("generation: 1"), "{out}");
    assert!(out.contains("alive_period_ms: 200"), "{out}");
    let state = std::fs::read_to_string(c.dir.join("worker-0/persistent/steward/node-state.json"))
        .unwrap_or_default();
    assert!(state.contains("\"alive_period_ms\": 200"), "{state}");
    let refused = c.cli(&["node-config", "set", "alive_period_ms=5"]);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{why}");
    assert!(why.contains("alive_period_ms = 5 is out of range"), "{why}");
    // Slower than the controller expects (its alive period is 5 s / 20 here): refused too.
    let refused = c.cli(&["node-config", "set", "alive_period_ms=1000"]);
    let why = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{why}");
    assert!(why.contains("timeouts.alive_period"), "{why}");

    // An alarm that spans the crashes: worker-1's BMC stops answering → 200.010.
    steward_simhost::control_blocking(&c.dir.join("worker-1"), "bmc-down").unwrap();
    wait_until("200.010 raised", Duration::from_secs(60), || {
        c.alarms()
            .contains(&("200.010".into(), "host=worker-1".into()))
    });

    // 1. SIGKILL in the middle of an unlock; restart; the unlock completes.
    let unlock = c.kill_during(ctl, "worker-0", "unlock");
    let ctl = c.controller();
    wait_state(&c, "worker-0", "unlocked-enabled-available");
    // The node settings survived the crash, and the agents are seen running them.
    wait_until(
        "node settings in sync after the restart",
        Duration::from_secs(20),
        || {
            let v: Value =
                serde_json::from_str(&c.ok(&["node-config", "show", "--json"])).unwrap_or_default();
            v["generation"] == 1
                && v["hosts"]
                    .as_array()
                    .is_some_and(|h| h.len() == 3 && h.iter().all(|h| h["state"] == "in-sync"))
        },
    );
    assert!(unlock > 0);
    let flags = |h: &str| {
        (
            c.dir.join(h).join("volatile/node_locked").exists(),
            c.dir.join(h).join("persistent/node_locked").exists(),
        )
    };
    wait_until(
        "worker-0's lock flags gone",
        Duration::from_secs(10),
        || flags("worker-0") == (false, false),
    );

    // 2. SIGKILL in the middle of a lock; restart; the lock completes. A host-services stop
    // script that takes 2 s keeps the lock running long enough to be interrupted.
    let services = c.dir.join("worker-0/persistent/services.d");
    std::fs::create_dir_all(&services).unwrap();
    let script = services.join("slow-stop");
    std::fs::write(&script, "#!/bin/sh\n[ \"$1\" = stop ] && sleep 2\nexit 0\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let lock = c.kill_during(ctl, "worker-0", "lock");
    let _ctl = c.controller();
    wait_state(&c, "worker-0", "locked-disabled-online");
    assert!(lock > unlock);
    wait_until(
        "worker-0's lock flags back",
        Duration::from_secs(10),
        || flags("worker-0") == (true, true),
    );

    // Alarms: the one raised before the crashes is there exactly once, nothing else appeared.
    let alarms = c.alarms();
    let n = alarms
        .iter()
        .filter(|a| a.0 == "200.010" && a.1 == "host=worker-1")
        .count();
    assert_eq!(n, 1, "200.010 exactly once after two crashes: {alarms:?}");
    let mut dedup = alarms.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), alarms.len(), "no duplicates: {alarms:?}");
    // …and it clears once the BMC answers again.
    steward_simhost::control_blocking(&c.dir.join("worker-1"), "bmc-up").unwrap();
    wait_until("200.010 cleared", Duration::from_secs(60), || {
        !c.alarms()
            .contains(&("200.010".into(), "host=worker-1".into()))
    });

    // Reset through the host's Redfish BMC (ForceRestart): the machine really reboots.
    let boot_id = || {
        let st = steward_simhost::control_blocking(&c.dir.join("worker-1"), "status").unwrap();
        st.split_whitespace()
            .find_map(|w| w.strip_prefix("boot_id=").map(str::to_string))
            .unwrap()
    };
    let before = boot_id();
    c.ok(&["host", "reset", "worker-1", "--wait"]);
    wait_until(
        "a new boot after the reset",
        Duration::from_secs(30),
        || boot_id() != before,
    );
    let log = std::fs::read_to_string(c.dir.join("worker-1.log")).unwrap_or_default();
    assert!(
        log.contains("ForceRestart"),
        "the BMC saw a ForceRestart: {log}"
    );

    // Power through the host's Redfish BMC, as an operator types it: off, then on and booted.
    let out = c.ok(&["host", "power-off", "worker-1", "--wait"]);
    assert!(
        out.contains("power-off completed: locked-disabled-power-off"),
        "{out}"
    );
    let out = c.ok(&["host", "power-on", "worker-1", "--wait"]);
    assert!(
        out.trim_end()
            .ends_with("host booted: locked-disabled-online"),
        "{out}"
    );

    // Garbage sent to the controller's node-protocol port is dropped and counted in /metrics.
    let sock = std::net::UdpSocket::bind((Ipv4Addr::new(127, 6, 0, 99), 0)).unwrap();
    for i in 0..100u8 {
        sock.send_to(&[i; 40], c.ctl_addr).unwrap();
    }
    let want = "steward_protocol_datagrams{link=\"node\",outcome=\"malformed\"} 100";
    wait_until(
        "garbage counted in /metrics",
        Duration::from_secs(20),
        || metrics(c.api_port).contains(want),
    );
    assert!(metrics(c.api_port).contains("link=\"heartbeat\",outcome=\"accepted\""));
}

/// `GET /metrics` over a plain socket (the CLI has no metrics command; this is what a scraper does).
fn metrics(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn heartbeat_loss_fails_and_recovers_a_host_and_a_mass_failure_enters_mnfa_without_resets() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Cluster::new(7, tmp.path());
    let ip = |i: u8| Ipv4Addr::new(127, 7, 0, i);
    let bmc = |i: u8| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 7, 1, i)), free_tcp());
    let _ctl = c.controller();
    let (b0, b1) = (bmc(11), bmc(12));
    let _h = [
        c.simhost("controller-0", ip(10), None),
        c.simhost("worker-0", ip(11), Some(b0)),
        c.simhost("worker-1", ip(12), Some(b1)),
    ];
    c.add("controller-0", "controller", ip(10), None);
    c.add("worker-0", "worker", ip(11), Some(b0));
    c.add("worker-1", "worker", ip(12), Some(b1));
    for w in ["worker-0", "worker-1"] {
        wait_state(&c, w, "locked-disabled-online");
        c.ok(&["host", "unlock", w, "--wait"]);
    }

    // One host hangs: heartbeat loss fails it, and recovery brings it back (through its BMC:
    // a hung host does not answer the reboot request) without an operator.
    let before = c.boot_id("worker-0");
    c.fault("worker-0", "hang");
    wait_until("worker-0 failed", Duration::from_secs(30), || {
        c.events().contains("worker-0 failed")
    });
    wait_state(&c, "worker-0", "unlocked-enabled-available");
    assert_ne!(c.boot_id("worker-0"), before, "recovered by a reboot");

    // Both workers hang together: multi-node failure avoidance, and nobody is reset.
    let boots = (c.boot_id("worker-0"), c.boot_id("worker-1"));
    c.fault("worker-0", "hang");
    c.fault("worker-1", "hang");
    wait_until("MNFA entered", Duration::from_secs(30), || {
        c.events().contains("multi-node failure avoidance entered")
    });
    // Longer than the recovery above took at this time scale: still no reset.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!((c.boot_id("worker-0"), c.boot_id("worker-1")), boots);
    c.fault("worker-0", "heal");
    c.fault("worker-1", "heal");
    wait_until("MNFA left", Duration::from_secs(60), || {
        let e = c.events();
        e.matches("multi-node failure avoidance").count() >= 2
    });
    wait_state(&c, "worker-0", "unlocked-enabled-available");
    wait_state(&c, "worker-1", "unlocked-enabled-available");
    assert_eq!(
        (c.boot_id("worker-0"), c.boot_id("worker-1")),
        boots,
        "MNFA recovered the pool without rebooting it"
    );
}
