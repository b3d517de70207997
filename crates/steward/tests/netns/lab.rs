//! The namespace lab: a "switch" namespace with the management and cluster bridges, the
//! controller's namespace (the real `steward controller` and controller-0's simhost) and one
//! namespace per worker, each running a `steward simhost`; every process and namespace is owned by
//! [`Lab`] and removed by its Drop guard.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const STEWARD: &str = env!("CARGO_BIN_EXE_steward");
pub const API_PORT: u16 = 6385;
pub const BOOT: Duration = Duration::from_secs(60);
pub const AUDIT: Duration = Duration::from_secs(5);

pub fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

pub fn ok(args: &[&str]) {
    let o = sh(args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

pub struct Host {
    pub name: String,
    pub personality: &'static str,
    pub ns: String,
    pub mgmt_ip: String,
    pub cluster_ip: String,
    pub dir: PathBuf,
    pub child: Option<Child>,
    /// More `steward simhost` arguments (pxeboot, safety nets), for the hosts that need them.
    pub extra_args: Vec<String>,
}

/// Owns every namespace and process; Drop kills and deletes them all, also on panic.
pub struct Lab {
    pub tag: String,
    pub switch: String,
    pub ctl_ns: String,
    pub dir: PathBuf,
    pub controller: Option<Child>,
    pub hosts: Vec<Host>,
    pub namespaces: Vec<String>,
    /// `--config` of the next controller start (maintenance timers and policy, TOML).
    pub controller_config: Option<PathBuf>,
    /// More `steward controller` arguments for its next start (e.g. `--pxeboot-bind`).
    pub controller_extra_args: Vec<String>,
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
    pub fn new() -> Lab {
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
            controller_config: None,
            controller_extra_args: Vec::new(),
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
                extra_args: Vec::new(),
            });
        }
        lab
    }

    /// A bridge `br` in the switch namespace, up.
    pub fn add_bridge(&self, br: &str) {
        ok(&[
            "ip",
            "-n",
            &self.switch,
            "link",
            "add",
            br,
            "type",
            "bridge",
        ]);
        ok(&["ip", "-n", &self.switch, "link", "set", br, "up"]);
    }

    /// Plug namespace `ns` into bridge `br`: a veth `<tag><net><i>` in the switch, its peer
    /// `eth<net>` in `ns` with `ip`/24 (as [`Lab::new`] wires the management and cluster links).
    pub fn plug(&self, ns: &str, net: &str, i: usize, br: &str, ip: &str) {
        let sw = &self.switch;
        let outer = format!("{}{net}{i}", self.tag);
        let inner = format!("eth{net}");
        ok(&[
            "ip", "-n", sw, "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns",
            ns,
        ]);
        ok(&["ip", "-n", sw, "link", "set", &outer, "master", br]);
        ok(&["ip", "-n", sw, "link", "set", &outer, "up"]);
        ok(&[
            "ip",
            "-n",
            ns,
            "addr",
            "add",
            &format!("{ip}/24"),
            "dev",
            &inner,
        ]);
        ok(&["ip", "-n", ns, "link", "set", &inner, "up"]);
    }

    /// One more worker machine in a namespace of its own, on the management and cluster
    /// bridges (10.255.0.<i+1>, 10.255.1.<i+1>); its index in `hosts`. Not provisioned, not
    /// started.
    pub fn add_worker(&mut self, name: &str) -> usize {
        let i = self.hosts.len();
        let ns = format!("{}-h{i}", self.tag);
        self.add_ns(&ns);
        ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        let mgmt_ip = format!("10.255.0.{}", i + 1);
        let cluster_ip = format!("10.255.1.{}", i + 1);
        self.plug(&ns, "m", i, "brm", &mgmt_ip);
        self.plug(&ns, "c", i, "brc", &cluster_ip);
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        self.hosts.push(Host {
            name: name.to_string(),
            personality: "worker",
            ns,
            mgmt_ip,
            cluster_ip,
            dir,
            child: None,
            extra_args: Vec::new(),
        });
        i
    }

    pub fn add_ns(&mut self, ns: &str) {
        ok(&["ip", "netns", "add", ns]);
        self.namespaces.push(ns.to_string());
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("controller-data")
    }

    pub fn start_controller(&mut self) {
        // Appended: a restarted controller keeps the earlier runs' lines (heartbeat counts).
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("controller.log"))
            .unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ctl_ns, STEWARD, "controller"])
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(["--listen", &format!("127.0.0.1:{API_PORT}")])
            .args(["--hostname", "controller-0"])
            .args(["--mgmt-bind", "10.255.0.1:2102"])
            .args(["--cluster-bind", "10.255.1.1:2102"])
            .args(["--node-port", "2101", "--lab", "--time-scale", "20"])
            .args(
                self.controller_config
                    .iter()
                    .flat_map(|c| [std::ffi::OsStr::new("--config"), c.as_os_str()]),
            )
            .args(&self.controller_extra_args)
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

    pub fn start_host(&mut self, i: usize) {
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
        // The agent's link monitor watches the host's two real veth ends (docs/node-monitoring.md).
        let monitors = h.dir.join("monitors.toml");
        std::fs::write(&monitors, "[links]\nmgmt = \"ethm\"\ncluster = \"ethc\"\n").unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &h.ns, STEWARD, "simhost"])
            .arg("--monitors")
            .arg(&monitors)
            .args(["--name", &h.name])
            .arg("--dir")
            .arg(&h.dir)
            .args(["--mgmt-ip", &h.mgmt_ip, "--cluster-ip", &h.cluster_ip])
            .args(["--node-port", "2101"])
            .args(["--controller", "controller-0=10.255.0.1:2102"])
            .args(["--controller-cluster", "10.255.1.1:2102"])
            .args(["--time-scale", "20"])
            .args(&h.extra_args)
            .env("STEWARD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.hosts[i].child = Some(child);
    }

    pub fn kill_host(&mut self, i: usize) {
        if let Some(mut c) = self.hosts[i].child.take() {
            // `ip netns exec` execs the command, so this pid is the simhost itself.
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ctl_ns, STEWARD])
            .args(args)
            .args(["--url", &format!("http://127.0.0.1:{API_PORT}")])
            .output()
            .unwrap()
    }

    pub fn cli_ok(&self, args: &[&str]) -> String {
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
    pub fn state(&self, host: &str) -> (String, String, String) {
        let out = self.cli_ok(&["host", "show", host, "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let f = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        (f("administrative"), f("operational"), f("availability"))
    }

    pub fn wait_state(&self, host: &str, want: (&str, &str, &str), within: Duration) {
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

    pub fn flags(&self, i: usize) -> (bool, bool) {
        let d = &self.hosts[i].dir;
        (
            d.join("volatile/node_locked").exists(),
            d.join("persistent/node_locked").exists(),
        )
    }

    pub fn wait_flags(&self, i: usize, want: bool, within: Duration) {
        let name = self.hosts[i].name.clone();
        wait_until(within, &format!("{name}: both flags = {want}"), || {
            self.flags(i) == (want, want)
        });
    }

    pub fn boot_id(&self, i: usize) -> Option<String> {
        let out = steward_simhost_status(&self.hosts[i].dir)?;
        out.split_whitespace()
            .find_map(|w| w.strip_prefix("boot_id="))
            .map(str::to_string)
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.hosts[i].dir.with_extension("log")).unwrap_or_default()
    }
}

/// `status` over the simhost's control socket (a unix socket: reachable from any namespace).
pub fn steward_simhost_status(dir: &Path) -> Option<String> {
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
pub fn sweep_stale_namespaces() {
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

pub fn wait_until(within: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out after {within:?} waiting for: {what}");
}

pub const LOCKED: (&str, &str, &str) = ("locked", "disabled", "online");
pub const AVAILABLE: (&str, &str, &str) = ("unlocked", "enabled", "available");

/// One customer-log entry (`steward event list --json`).
#[derive(Clone, Debug)]
pub struct LogEntry {
    /// Milliseconds since the Unix epoch, as the controller stamped it when it persisted the entry.
    pub at_ms: u64,
    pub host: String,
    pub text: String,
}

/// One active alarm (`steward alarm list --json`).
#[derive(Clone, Debug)]
pub struct Alarm {
    pub id: String,
    pub entity: String,
    pub severity: String,
}

impl Lab {
    /// Every customer-log entry so far, oldest first (the store keeps far more than a run writes).
    pub fn events(&self) -> Vec<LogEntry> {
        let out = self.cli_ok(&["event", "list", "--json", "--limit", "10000"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| LogEntry {
                at_ms: parse_rfc3339_ms(e["timestamp"].as_str().unwrap_or_default())
                    .unwrap_or_else(|| panic!("event timestamp {:?}", e["timestamp"])),
                host: e["hostname"].as_str().unwrap_or_default().to_string(),
                text: e["reason_text"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    pub fn alarms(&self) -> Vec<Alarm> {
        let out = self.cli_ok(&["alarm", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["alarms"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| Alarm {
                id: a["alarm_id"].as_str().unwrap_or_default().to_string(),
                entity: a["entity_instance_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                severity: a["severity"].as_str().unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// The controller process (`ip netns exec` execs it, so the child's pid is steward's).
    pub fn controller_pid(&self) -> i32 {
        self.controller.as_ref().expect("the controller runs").id() as i32
    }

    pub fn stop_controller(&mut self) {
        if let Some(mut c) = self.controller.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The controller's `/metrics`. The API listens on loopback in the controller's namespace, so
    /// the request goes through bash's `/dev/tcp` run there (lab mode: loopback needs no token).
    pub fn metrics(&self) -> String {
        let script = format!(
            "exec 3<>/dev/tcp/127.0.0.1/{API_PORT} && printf 'GET /metrics HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n' >&3 && cat <&3"
        );
        let o = sh(&["ip", "netns", "exec", &self.ctl_ns, "bash", "-c", &script]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Authenticated pulse replies the controller's heartbeat service has taken since it started.
    pub fn heartbeat_replies(&self) -> u64 {
        self.metrics()
            .lines()
            .find(|l| l.contains("link=\"heartbeat\"") && l.contains("outcome=\"accepted\""))
            .and_then(|l| l.split_whitespace().last()?.parse().ok())
            .unwrap_or(0)
    }

    pub fn controller_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("controller.log")).unwrap_or_default()
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (what the API writes) as milliseconds since the Unix epoch.
pub fn parse_rfc3339_ms(s: &str) -> Option<u64> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, ms) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.splitn(3, ':').map(|p| p.parse::<i64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let ms: i64 = ms.parse().ok()?;
    // days_from_civil (H. Hinnant), the inverse of the API's formatting.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    u64::try_from(secs * 1000 + ms).ok()
}

pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Send `sig` to `pid` (a process this test started).
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory effects; the pid is one of this test's children.
    let r = unsafe { libc::kill(pid, sig) };
    assert_eq!(
        r,
        0,
        "kill({pid}, {sig}): {}",
        std::io::Error::last_os_error()
    );
}
