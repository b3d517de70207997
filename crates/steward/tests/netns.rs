//! The network-namespace end-to-end tier (issue 5, points 4 and 6): a small cluster where every
//! machine is a `steward simhost` process in its own network namespace, wired to a management and a
//! cluster bridge in a "switch" namespace, driven through the real `steward host` CLI.
//!
//! Needs root (it creates namespaces); fails loudly otherwise. All cases run serially in one test.
//! Addresses: 10.255.0.0/24 (management) and 10.255.1.0/24 (cluster), only inside the namespaces;
//! the root namespace's interfaces and routes are never touched.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const STEWARD: &str = env!("CARGO_BIN_EXE_steward");
const API_PORT: u16 = 6385;
const BOOT: Duration = Duration::from_secs(60);
const AUDIT: Duration = Duration::from_secs(5);

fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

fn ok(args: &[&str]) {
    let o = sh(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

struct Host {
    name: String,
    personality: &'static str,
    ns: String,
    mgmt_ip: String,
    cluster_ip: String,
    dir: PathBuf,
    child: Option<Child>,
}

/// Owns every namespace and process; Drop kills and deletes them all, also on panic.
struct Lab {
    tag: String,
    switch: String,
    ctl_ns: String,
    dir: PathBuf,
    controller: Option<Child>,
    hosts: Vec<Host>,
    namespaces: Vec<String>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            if let Some(mut c) = h.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let Some(mut c) = self.controller.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if std::env::var_os("STEWARD_NETNS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Lab {
    fn new() -> Lab {
        let pid = std::process::id();
        let tag = format!("stw{pid}");
        let dir = std::env::temp_dir().join(format!("steward-netns-{pid}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut lab = Lab {
            switch: format!("{tag}-sw"),
            ctl_ns: format!("{tag}-c0"),
            tag,
            dir,
            controller: None,
            hosts: Vec::new(),
            namespaces: Vec::new(),
        };
        let sw = lab.switch.clone();
        lab.add_ns(&sw);
        for br in ["brm", "brc"] {
            ok(&["ip", "-n", &sw, "link", "add", br, "type", "bridge"]);
            ok(&["ip", "-n", &sw, "link", "set", br, "up"]);
        }
        ok(&["ip", "-n", &sw, "link", "set", "lo", "up"]);
        // Index 1 is the controller (controller-0), then the others.
        let plan: [(&str, &str); 4] = [
            ("controller-0", "controller"),
            ("worker-0", "worker"),
            ("worker-1", "worker"),
            ("worker-2", "worker"),
        ];
        for (i, (name, personality)) in plan.iter().enumerate() {
            let ns = if i == 0 {
                lab.ctl_ns.clone()
            } else {
                format!("{}-h{i}", lab.tag)
            };
            lab.add_ns(&ns);
            ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            let mgmt_ip = format!("10.255.0.{}", i + 1);
            let cluster_ip = format!("10.255.1.{}", i + 1);
            for (net, br, ip) in [("m", "brm", &mgmt_ip), ("c", "brc", &cluster_ip)] {
                // veth created in the switch namespace, one end moved into the host's.
                let outer = format!("{}{}{i}", lab.tag, net);
                let inner = format!("eth{net}");
                ok(&[
                    "ip", "-n", &sw, "link", "add", &outer, "type", "veth", "peer", "name", &inner,
                    "netns", &ns,
                ]);
                ok(&["ip", "-n", &sw, "link", "set", &outer, "master", br]);
                ok(&["ip", "-n", &sw, "link", "set", &outer, "up"]);
                ok(&[
                    "ip",
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{ip}/24"),
                    "dev",
                    &inner,
                ]);
                ok(&["ip", "-n", &ns, "link", "set", &inner, "up"]);
            }
            let dir = lab.dir.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            lab.hosts.push(Host {
                name: name.to_string(),
                personality,
                ns,
                mgmt_ip,
                cluster_ip,
                dir,
                child: None,
            });
        }
        lab
    }

    fn add_ns(&mut self, ns: &str) {
        ok(&["ip", "netns", "add", ns]);
        self.namespaces.push(ns.to_string());
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("controller-data")
    }

    fn start_controller(&mut self) {
        let log = File::create(self.dir.join("controller.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ctl_ns, STEWARD, "controller"])
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--listen", &format!("127.0.0.1:{API_PORT}")])
            .args(["--hostname", "controller-0"])
            .args(["--mgmt-bind", "10.255.0.1:2102"])
            .args(["--cluster-bind", "10.255.1.1:2102"])
            .args(["--node-port", "2101", "--lab", "--time-scale", "20"])
            .env("STEWARD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.controller = Some(child);
        wait_until(Duration::from_secs(30), "the API answers", || {
            self.cli(&["host", "list"]).status.success()
        });
    }

    fn start_host(&mut self, i: usize) {
        let h = &self.hosts[i];
        let keys = h.dir.join("node.keys");
        if !keys.exists() {
            ok(&[
                STEWARD,
                "controller",
                "provision-node",
                &h.name,
                "--data-dir",
                self.data_dir().to_str().unwrap(),
                "--out",
                keys.to_str().unwrap(),
            ]);
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(h.dir.with_extension("log"))
            .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &h.ns, STEWARD, "simhost"])
            .args(["--name", &h.name])
            .arg("--dir")
            .arg(&h.dir)
            .args(["--mgmt-ip", &h.mgmt_ip, "--cluster-ip", &h.cluster_ip])
            .args(["--node-port", "2101"])
            .args(["--controller", "controller-0=10.255.0.1:2102"])
            .args(["--controller-cluster", "10.255.1.1:2102"])
            .args(["--time-scale", "20"])
            .env("STEWARD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.hosts[i].child = Some(child);
    }

    fn kill_host(&mut self, i: usize) {
        if let Some(mut c) = self.hosts[i].child.take() {
            // `ip netns exec` execs the command, so this pid is the simhost itself.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ctl_ns, STEWARD])
            .args(args)
            .args(["--url", &format!("http://127.0.0.1:{API_PORT}")])
            .output()
            .unwrap()
    }

    fn cli_ok(&self, args: &[&str]) -> String {
        let o = self.cli(args);
        assert!(
            o.status.success(),
            "steward {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// (administrative, operational, availability)
    fn state(&self, host: &str) -> (String, String, String) {
        let out = self.cli_ok(&["host", "show", host, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let f = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        (f("administrative"), f("operational"), f("availability"))
    }

    fn wait_state(&self, host: &str, want: (&str, &str, &str), within: Duration) {
        let mut last = Default::default();
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            last = self.state(host);
            if (last.0.as_str(), last.1.as_str(), last.2.as_str()) == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("{host}: wanted {want:?} within {within:?}, is {last:?}");
    }

    fn flags(&self, i: usize) -> (bool, bool) {
        let d = &self.hosts[i].dir;
        (
            d.join("volatile/node_locked").exists(),
            d.join("persistent/node_locked").exists(),
        )
    }

    fn wait_flags(&self, i: usize, want: bool, within: Duration) {
        let name = self.hosts[i].name.clone();
        wait_until(within, &format!("{name}: both flags = {want}"), || {
            self.flags(i) == (want, want)
        });
    }

    fn boot_id(&self, i: usize) -> Option<String> {
        let out = steward_simhost_status(&self.hosts[i].dir)?;
        out.split_whitespace()
            .find_map(|w| w.strip_prefix("boot_id="))
            .map(str::to_string)
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.hosts[i].dir.with_extension("log")).unwrap_or_default()
    }
}

/// `status` over the simhost's control socket (a unix socket: reachable from any namespace).
fn steward_simhost_status(dir: &Path) -> Option<String> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::os::unix::net::UnixStream::connect(dir.join("bmc.sock")).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"status\n").ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    Some(line)
}

/// Namespaces of an earlier run that was killed before its Drop guard ran (`stw<pid>-…` whose pid
/// is gone). Only names this test creates are touched.
fn sweep_stale_namespaces() {
    let out = sh(&["ip", "netns", "list"]);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some((pid, _)) = name.strip_prefix("stw").and_then(|r| r.split_once('-')) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !Path::new("/proc").join(pid).exists() {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

fn wait_until(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {within:?} waiting for: {what}");
}

const LOCKED: (&str, &str, &str) = ("locked", "disabled", "online");
const AVAILABLE: (&str, &str, &str) = ("unlocked", "enabled", "available");

#[test]
fn netns_cluster() {
    // The effective uid, read from /proc (no libc dependency).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let euid = uid_line.split_whitespace().nth(2).unwrap();
    assert_eq!(
        euid, "0",
        "the namespace tier needs root: run as root or `sudo -E cargo test -p steward --test netns`"
    );
    let started = Instant::now();
    sweep_stale_namespaces();
    let mut lab = Lab::new();
    lab.start_controller();

    // Hosts are added locked (new installs), then their machines start.
    for i in 0..lab.hosts.len() {
        let h = &lab.hosts[i];
        lab.cli_ok(&[
            "host",
            "add",
            &h.name,
            "--personality",
            h.personality,
            "--mgmt-ip",
            &h.mgmt_ip,
            "--cluster-ip",
            &h.cluster_ip,
        ]);
    }
    for i in 0..lab.hosts.len() {
        lab.start_host(i);
    }

    // (1) + (2): a newly installed host comes up locked with both flags.
    for i in 0..lab.hosts.len() {
        let name = lab.hosts[i].name.clone();
        lab.wait_state(&name, LOCKED, BOOT);
        lab.wait_flags(i, true, AUDIT);
    }
    eprintln!("[netns] up after {:?}", started.elapsed());

    // (3) unlock: flags go before the unlock reboot (while the boot id is still the old one).
    for i in 0..lab.hosts.len() {
        let name = lab.hosts[i].name.clone();
        let before = lab.boot_id(i);
        let mut seen_old_boot_without_flags = false;
        let o = lab.cli(&["host", "unlock", &name]);
        assert!(o.status.success(), "unlock {name}: {o:?}");
        wait_until(BOOT, &format!("{name}: flags removed"), || {
            let gone = lab.flags(i) == (false, false);
            if gone && lab.boot_id(i) == before {
                seen_old_boot_without_flags = true;
            }
            gone
        });
        assert!(
            seen_old_boot_without_flags,
            "{name}: the flags were not removed before the unlock reboot"
        );
        lab.wait_state(&name, AVAILABLE, BOOT);
        assert_ne!(lab.boot_id(i), before, "{name}: unlock did not reboot");
        lab.wait_flags(i, false, AUDIT);
    }
    for i in 0..lab.hosts.len() {
        assert!(
            lab.log(i).contains("host unlocked by the controller"),
            "{}: the agent logs the unlock",
            lab.hosts[i].name
        );
    }

    // (1) lock/unlock a worker with --wait.
    lab.cli_ok(&["host", "lock", "worker-0", "--wait", "--timeout", "60"]);
    lab.wait_state("worker-0", LOCKED, BOOT);
    lab.wait_flags(1, true, AUDIT);
    assert!(
        lab.log(1).contains("host locked by the controller"),
        "worker-0: the agent logs the lock"
    );
    lab.cli_ok(&["host", "unlock", "worker-0", "--wait", "--timeout", "120"]);
    lab.wait_state("worker-0", AVAILABLE, BOOT);
    lab.wait_flags(1, false, AUDIT);

    // (4) auto-correction. worker-1 locked, worker-0 unlocked.
    lab.cli_ok(&["host", "lock", "worker-1", "--wait", "--timeout", "60"]);
    lab.wait_flags(2, true, AUDIT);
    for f in ["volatile/node_locked", "persistent/node_locked"] {
        std::fs::remove_file(lab.hosts[2].dir.join(f)).unwrap();
        lab.wait_flags(2, true, AUDIT);
        std::fs::write(lab.hosts[1].dir.join(f), b"").unwrap();
        lab.wait_flags(1, false, AUDIT);
    }

    // (5) managed over the other network while one link is down (worker-2 unlocked).
    for (net, ifname) in [("management", "ethm"), ("cluster", "ethc")] {
        let ns = lab.hosts[3].ns.clone();
        ok(&["ip", "-n", &ns, "link", "set", ifname, "down"]);
        lab.cli_ok(&["host", "lock", "worker-2", "--wait", "--timeout", "60"]);
        lab.wait_flags(3, true, AUDIT);
        lab.wait_state("worker-2", LOCKED, BOOT);
        ok(&["ip", "-n", &ns, "link", "set", ifname, "up"]);
        lab.cli_ok(&["host", "unlock", "worker-2", "--wait", "--timeout", "120"]);
        lab.wait_state("worker-2", AVAILABLE, BOOT);
        eprintln!("[netns] managed with the {net} link down");
    }

    // (6) reboot of a locked host: new boot id, still locked with both flags.
    let before = lab.boot_id(2);
    lab.cli_ok(&["host", "reboot", "worker-1", "--wait", "--timeout", "120"]);
    wait_until(BOOT, "worker-1 new boot id", || {
        let b = lab.boot_id(2);
        b.is_some() && b != before
    });
    lab.wait_state("worker-1", LOCKED, BOOT);
    lab.wait_flags(2, true, AUDIT);

    // (7) SIGKILL a locked host's machine, restart it: back locked with both flags.
    lab.kill_host(2);
    lab.start_host(2);
    lab.wait_state("worker-1", LOCKED, BOOT);
    lab.wait_flags(2, true, AUDIT);

    // (8) an unlocked host goes down on its own and is force-locked while down: back with both.
    lab.kill_host(3);
    lab.cli_ok(&["host", "force-lock", "worker-2"]);
    lab.start_host(3);
    lab.wait_state("worker-2", LOCKED, BOOT);
    lab.wait_flags(3, true, AUDIT);

    // (9) full-site power loss: every machine and the controller at once.
    for i in 0..lab.hosts.len() {
        lab.kill_host(i);
    }
    if let Some(mut c) = lab.controller.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    lab.start_controller();
    for i in 0..lab.hosts.len() {
        lab.start_host(i);
    }
    lab.wait_state("worker-1", LOCKED, BOOT);
    lab.wait_state("worker-2", LOCKED, BOOT);
    lab.wait_state("worker-0", AVAILABLE, BOOT);
    lab.wait_state("controller-0", AVAILABLE, BOOT);
    lab.wait_flags(2, true, AUDIT);
    lab.wait_flags(3, true, AUDIT);
    lab.wait_flags(1, false, AUDIT);
    lab.wait_flags(0, false, AUDIT);
    eprintln!("[netns] all cases passed in {:?}", started.elapsed());
}
