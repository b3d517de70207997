//! The pair lab: a real 3-member etcd cluster, two `steward controller --store etcd://…` processes
//! and four machines (`steward simhost`), every one in its own network namespace, wired to two
//! bridges in a "switch" namespace. [`PairLab`] owns every process and namespace; its Drop guard
//! kills and deletes them, also on panic.
//!
//! ```text
//!              management bridge (brm) 10.255.0.0/24          store bridge (brs) 10.255.2.0/24
//!   ops  .100 ─┤ (the CLI)                                     ├─ .11 e0  (etcd member)
//!   c0   .1   ─┤ controller-0 process + controller-0's machine ├─ .1  c0  (same namespace, 2nd link)
//!   c1   .2   ─┤ controller-1 process + controller-1's machine ├─ .2  c1
//!   h2   .3   ─┤ worker-0                                      ├─ .12 e1
//!   h3   .4   ─┤ worker-1                                      ├─ .13 e2
//! ```
//!
//! Why a store bridge of its own: the active can then be cut from etcd (its `eths` link down)
//! while it still reaches every node over management — the nodes' side can tell whether it kept
//! acting after its acting deadline. The controllers reach etcd only over `brs`; the nodes never
//! do. Each etcd member listens on its own address with the standard ports (2379/2380): in
//! namespaces of their own there is no port to race another test for.
//!
//! The nodes' side: every machine's namespace counts, with an iptables rule per controller, the
//! node-protocol datagrams (UDP to the agent's port) that arrive from each controller's address —
//! commands and their retries; pulses go to another port. That count is the ground truth of "this
//! controller sent a node command", independent of what the controllers say of themselves.

use crate::lab::{ok, parse_rfc3339_ms, sh, wait_until, STEWARD};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The lease TTL the pair runs with: the pair's default (docs/controller-pair.md: with 2 s an
/// etcd leader's re-election on a loaded machine can outlast the acting budget).
pub const TTL: Duration = Duration::from_millis(3000);
/// `steward controller` stops acting this long before its lease can expire (TTL / 4, pair_cli).
pub const MARGIN: Duration = Duration::from_millis(750);
pub const API_PORT: u16 = 6385;
pub const NODE_PORT: u16 = 2101;
pub const CTL_PORT: u16 = 2102;
pub const SCALE: &str = "20";
/// A bound on the rig (a process that never comes up, a state never reached), not a measurement.
pub const BOOT: Duration = Duration::from_secs(90);

/// One `steward controller` of the pair.
pub struct Ctl {
    pub name: String,
    pub ns: String,
    pub mgmt_ip: String,
    pub dir: PathBuf,
    pub child: Option<Child>,
}

impl Ctl {
    pub fn url(&self) -> String {
        format!("http://{}:{API_PORT}", self.mgmt_ip)
    }
}

/// One simulated machine (its agent knows both controllers).
pub struct Machine {
    pub name: String,
    pub personality: &'static str,
    pub ns: String,
    pub mgmt_ip: String,
    pub dir: PathBuf,
    pub child: Option<Child>,
}

/// One etcd member.
pub struct Member {
    pub name: String,
    pub ns: String,
    pub ip: String,
    pub child: Option<Child>,
}

pub struct PairLab {
    pub tag: String,
    pub switch: String,
    /// The operator's namespace: the CLI runs here, on the management bridge.
    pub ops: String,
    pub dir: PathBuf,
    /// The steward binary every process runs (`STEWARD_NETNS_BIN` or the test's debug build).
    pub bin: String,
    pub ctl: [Ctl; 2],
    /// controller-0, controller-1, worker-0, worker-1.
    pub machines: Vec<Machine>,
    pub members: Vec<Member>,
    namespaces: Vec<String>,
    token: String,
}

impl Drop for PairLab {
    fn drop(&mut self) {
        let children = self
            .machines
            .iter_mut()
            .map(|m| &mut m.child)
            .chain(self.ctl.iter_mut().map(|c| &mut c.child))
            .chain(self.members.iter_mut().map(|m| &mut m.child));
        for c in children {
            if let Some(mut c) = c.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        if std::env::var_os("STEWARD_NETNS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl PairLab {
    pub fn new() -> PairLab {
        let pid = std::process::id();
        let tag = format!("stw{pid}");
        let dir = std::env::temp_dir().join(format!("steward-netns-pair-{pid}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ctl = [0, 1].map(|i| Ctl {
            name: format!("controller-{i}"),
            ns: format!("{tag}-c{i}"),
            mgmt_ip: format!("10.255.0.{}", i + 1),
            dir: dir.join(format!("ctl{i}")),
            child: None,
        });
        let mut lab = PairLab {
            switch: format!("{tag}-sw"),
            ops: format!("{tag}-op"),
            bin: std::env::var("STEWARD_NETNS_BIN").unwrap_or_else(|_| STEWARD.to_string()),
            machines: Vec::new(),
            members: Vec::new(),
            namespaces: Vec::new(),
            token: String::new(),
            ctl,
            tag,
            dir,
        };
        let sw = lab.switch.clone();
        lab.add_ns(&sw);
        for br in ["brm", "brs"] {
            ok(&["ip", "-n", &sw, "link", "add", br, "type", "bridge"]);
            ok(&["ip", "-n", &sw, "link", "set", br, "up"]);
        }
        let ops = lab.ops.clone();
        lab.add_ns(&ops);
        lab.wire(&ops, "m", 9, "10.255.0.100");
        for i in 0..2 {
            let (ns, ip) = (lab.ctl[i].ns.clone(), lab.ctl[i].mgmt_ip.clone());
            lab.add_ns(&ns);
            lab.wire(&ns, "m", i, &ip);
            lab.wire(&ns, "s", i, &format!("10.255.2.{}", i + 1));
        }
        let plan = [
            ("controller-0", "controller"),
            ("controller-1", "controller"),
            ("worker-0", "worker"),
            ("worker-1", "worker"),
        ];
        for (i, (name, personality)) in plan.into_iter().enumerate() {
            let (ns, mgmt_ip) = if i < 2 {
                (lab.ctl[i].ns.clone(), lab.ctl[i].mgmt_ip.clone())
            } else {
                let ns = format!("{}-h{i}", lab.tag);
                let ip = format!("10.255.0.{}", i + 1);
                lab.add_ns(&ns);
                lab.wire(&ns, "m", i, &ip);
                (ns, ip)
            };
            // The nodes' side of "who sent node commands": one counting rule per controller.
            for c in 0..2 {
                let src = format!("10.255.0.{}", c + 1);
                let port = NODE_PORT.to_string();
                let comment = format!("from-controller-{c}");
                ok(&[
                    "ip",
                    "netns",
                    "exec",
                    &ns,
                    "iptables",
                    "-A",
                    "INPUT",
                    "-s",
                    &src,
                    "-p",
                    "udp",
                    "--dport",
                    &port,
                    "-m",
                    "comment",
                    "--comment",
                    &comment,
                    "-j",
                    "ACCEPT",
                ]);
            }
            let dir = lab.dir.join(name);
            std::fs::create_dir_all(&dir).unwrap();
            lab.machines.push(Machine {
                name: name.to_string(),
                personality,
                ns,
                mgmt_ip,
                dir,
                child: None,
            });
        }
        for i in 0..3 {
            let ns = format!("{}-e{i}", lab.tag);
            let ip = format!("10.255.2.{}", 11 + i);
            lab.add_ns(&ns);
            lab.wire(&ns, "s", 5 + i, &ip);
            lab.members.push(Member {
                name: format!("e{i}"),
                ns,
                ip,
                child: None,
            });
        }
        lab
    }

    fn add_ns(&mut self, ns: &str) {
        ok(&["ip", "netns", "add", ns]);
        self.namespaces.push(ns.to_string());
        ok(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }

    /// A veth from bridge `br{net}` in the switch namespace to `eth{net}` in `ns`, with `ip`/24.
    fn wire(&self, ns: &str, net: &str, index: usize, ip: &str) {
        let sw = &self.switch;
        let outer = format!("{}{net}{index}", self.tag);
        let inner = format!("eth{net}");
        let br = format!("br{net}");
        ok(&[
            "ip", "-n", sw, "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns",
            ns,
        ]);
        ok(&["ip", "-n", sw, "link", "set", &outer, "master", &br]);
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

    // ---- etcd ----

    pub fn store_url(&self) -> String {
        let hosts: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}:2379", m.ip))
            .collect();
        format!("etcd://{}", hosts.join(","))
    }

    /// Start member `i` (again: it keeps its data dir, and rejoins as itself).
    pub fn start_member(&mut self, i: usize) {
        let cluster: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("{}=http://{}:2380", m.name, m.ip))
            .collect();
        let m = &self.members[i];
        let log = append(&self.dir.join(format!("{}.log", m.name)));
        let client = format!("http://{}:2379", m.ip);
        let peer = format!("http://{}:2380", m.ip);
        let bin = steward_testpeers::etcd::etcd_bin();
        let child = Command::new("ip")
            .args(["netns", "exec", &m.ns])
            .arg(bin)
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(self.dir.join(format!("{}.etcd", m.name)))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &cluster.join(",")])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &self.tag])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .env_remove("ETCD_DATA_DIR")
            .env_remove("ETCD_NAME")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.members[i].child = Some(child);
    }

    /// SIGKILL member `i` (a crash: no graceful leave).
    pub fn kill_member(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The member etcd has as its raft leader (each member's `/v3/maintenance/status`: its own id
    /// and the leader's), if a running member names one.
    pub fn etcd_leader(&self) -> Option<usize> {
        let status: Vec<Option<serde_json::Value>> = self
            .members
            .iter()
            .map(|m| {
                let addr = format!("{}:2379", m.ip);
                let (code, body) = http(
                    &self.ctl[0].ns,
                    "POST",
                    &addr,
                    "/v3/maintenance/status",
                    None,
                )?;
                (code == 200)
                    .then(|| serde_json::from_str(&body).ok())
                    .flatten()
            })
            .collect();
        let leader = status
            .iter()
            .flatten()
            .find_map(|v| v["leader"].as_str().map(str::to_string))?;
        status.iter().position(|v| {
            v.as_ref().and_then(|v| v["header"]["member_id"].as_str()) == Some(&leader)
        })
    }

    /// Every running member answers `/health` with a leader, asked from controller-0's namespace.
    pub fn wait_etcd_healthy(&self) {
        for m in self.members.iter().filter(|m| m.child.is_some()) {
            wait_until(BOOT, &format!("etcd member {} healthy", m.name), || {
                http(
                    &self.ctl[0].ns,
                    "GET",
                    &format!("{}:2379", m.ip),
                    "/health",
                    None,
                )
                .is_some_and(|(status, body)| status == 200 && body.contains("true"))
            });
        }
    }

    // ---- controllers ----

    /// Start controller `i` and wait until its API serves (in whatever role).
    pub fn start_ctl(&mut self, i: usize) {
        let c = &self.ctl[i];
        std::fs::create_dir_all(&c.dir).unwrap();
        let url_file = c.dir.join("url");
        let _ = std::fs::remove_file(&url_file);
        // Appended: a restarted controller keeps the earlier runs' role lines.
        let out = append(&c.dir.with_extension("out"));
        let log = append(&c.dir.with_extension("log"));
        let child = Command::new("ip")
            .args(["netns", "exec", &c.ns, &self.bin, "controller"])
            .args(["--lab", "--time-scale", SCALE])
            .args(["--store", &self.store_url(), "--name", &c.name])
            .args(["--advertise-url", &c.url()])
            .args(["--listen", &format!("{}:{API_PORT}", c.mgmt_ip)])
            .args(["--lease-ttl-ms", &TTL.as_millis().to_string()])
            .arg("--data-dir")
            .arg(&c.dir)
            .args(["--mgmt-bind", &format!("{}:{CTL_PORT}", c.mgmt_ip)])
            .args(["--node-port", &NODE_PORT.to_string(), "--no-bmc-events"])
            .arg("--url-file")
            .arg(&url_file)
            .env("STEWARD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(out)
            .stderr(log)
            .spawn()
            .unwrap();
        self.ctl[i].child = Some(child);
        wait_until(BOOT, &format!("controller-{i} serves"), || {
            url_file.exists()
        });
    }

    /// SIGKILL controller `i` (`ip netns exec` execs steward, so the child is the controller).
    pub fn kill_ctl(&mut self, i: usize) {
        if let Some(mut c) = self.ctl[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Both controllers install the same cluster secret, store key and API token (as an installer
    /// does): copied from controller-0's data dir, never through etcd.
    pub fn share_secrets(&mut self) {
        let (from, to) = (&self.ctl[0].dir, &self.ctl[1].dir);
        std::fs::create_dir_all(to.join("store")).unwrap();
        for f in ["cluster.secret", "api.token", "store/secret.key"] {
            std::fs::copy(from.join(f), to.join(f)).unwrap();
        }
        self.token = std::fs::read_to_string(from.join("api.token"))
            .unwrap()
            .trim()
            .to_string();
    }

    /// The role lines controller `i` printed (every run of it).
    pub fn roles(&self, i: usize) -> Vec<String> {
        std::fs::read_to_string(self.ctl[i].dir.with_extension("out"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("role: "))
            .map(str::to_string)
            .collect()
    }

    /// When controller `i` last logged a line containing `what` (wall clock, ms since the Unix
    /// epoch: its log's timestamps, to the millisecond).
    pub fn logged_at(&self, i: usize, what: &str) -> Option<u64> {
        let log = std::fs::read_to_string(self.ctl[i].dir.with_extension("log")).ok()?;
        let line = log.lines().rev().find(|l| l.contains(what))?;
        parse_rfc3339_ms(&format!("{}Z", line.get(..23)?))
    }

    /// When controller `i` last logged that it steps down: at its acting deadline, on hearing its
    /// lease is gone, or because its controller stopped itself after a failed store write.
    pub fn step_down_logged_at(&self, i: usize) -> Option<u64> {
        [": stepping down", "stopped: resigning"]
            .iter()
            .filter_map(|w| self.logged_at(i, w))
            .max()
    }

    /// Running, and its last role line says active.
    pub fn says_active(&self, i: usize) -> bool {
        self.ctl[i].child.is_some()
            && self
                .roles(i)
                .last()
                .is_some_and(|r| r.starts_with("role: active"))
    }

    /// Its last role line names `active` as the active.
    pub fn standby_of(&self, i: usize, active: usize) -> bool {
        self.roles(i)
            .last()
            .is_some_and(|r| r.starts_with(&format!("role: standby (active: controller-{active} ")))
    }

    /// Controller `i` serves a write as the active does: a host add with an empty body is
    /// answered (refused as invalid) instead of 503 "standby" or "changing role".
    pub fn answers_writes(&self, i: usize) -> bool {
        let addr = format!("{}:{API_PORT}", self.ctl[i].mgmt_ip);
        match http(&self.ops, "POST", &addr, "/v1/ihosts", Some(&self.token)) {
            Some((401, body)) => panic!("the API token was refused: {body}"),
            Some((status, _)) => status != 503,
            None => false,
        }
    }

    /// The controller that says it is active, if exactly one does.
    pub fn active(&self) -> Option<usize> {
        match (self.says_active(0), self.says_active(1)) {
            (true, false) => Some(0),
            (false, true) => Some(1),
            _ => None,
        }
    }

    // ---- machines ----

    pub fn start_machine(&mut self, i: usize) {
        let m = &self.machines[i];
        let keys = m.dir.join("node.keys");
        if !keys.exists() {
            ok(&[
                &self.bin,
                "controller",
                "provision-node",
                &m.name,
                "--data-dir",
                self.ctl[0].dir.to_str().unwrap(),
                "--out",
                keys.to_str().unwrap(),
            ]);
        }
        let log = append(&m.dir.with_extension("log"));
        let child = Command::new("ip")
            .args(["netns", "exec", &m.ns, &self.bin, "simhost"])
            .args(["--name", &m.name])
            .arg("--dir")
            .arg(&m.dir)
            .args(["--mgmt-ip", &m.mgmt_ip])
            .args(["--node-port", &NODE_PORT.to_string()])
            .args([
                "--controller",
                &format!("controller-0={}:{CTL_PORT}", self.ctl[0].mgmt_ip),
            ])
            .args([
                "--also-controller",
                &format!("controller-1={}:{CTL_PORT}", self.ctl[1].mgmt_ip),
            ])
            .args(["--time-scale", SCALE])
            .env("STEWARD_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.machines[i].child = Some(child);
    }

    /// How many times machine `i` has booted (its own boot record: resets and power cycles
    /// count too).
    pub fn boots(&self, i: usize) -> u64 {
        let path = self.machines[i].dir.join("persistent/boot.json");
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["boot_count"].as_u64())
            .unwrap_or(0)
    }

    pub fn all_boots(&self) -> Vec<u64> {
        (0..self.machines.len()).map(|i| self.boots(i)).collect()
    }

    /// Node-protocol datagrams that reached the machines from controller `c`'s address, summed
    /// over every machine (the counting rules of [`PairLab::new`]).
    pub fn node_datagrams_from(&self, c: usize) -> u64 {
        let comment = format!("from-controller-{c}");
        self.machines
            .iter()
            .map(|m| {
                let o = sh(&[
                    "ip", "netns", "exec", &m.ns, "iptables", "-L", "INPUT", "-v", "-n", "-x",
                ]);
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .filter(|l| l.contains(&comment))
                    .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .sum()
    }

    // ---- the CLI ----

    /// `steward ARGS` from the operator's namespace, sent to controller `at` (a standby's 503
    /// makes the CLI retry at the active it names).
    pub fn cli_at(&self, at: usize, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.ops, &self.bin])
            .args(args)
            .args(["--url", &self.ctl[at].url()])
            .env("STEWARD_TOKEN", &self.token)
            .output()
            .unwrap()
    }

    /// `steward ARGS`, retried at either controller while the request was not taken: nothing
    /// listening, or a 503 of a controller changing role or a standby that names no active yet.
    /// Admission refusals and other failures are not retried (the test fails with them).
    pub fn cli(&self, args: &[&str]) -> String {
        let start = Instant::now();
        let mut at = self.active().unwrap_or(0);
        loop {
            let o = self.cli_at(at, args);
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            if o.status.success() {
                return String::from_utf8_lossy(&o.stdout).into_owned();
            }
            let not_taken = o.status.code() == Some(3)
                || err.contains("changing role")
                || err.contains("is the standby")
                || err.contains("not loaded its mirror");
            assert!(
                not_taken && start.elapsed() < BOOT,
                "steward {args:?} at {} failed: {}{err}",
                self.ctl[at].url(),
                String::from_utf8_lossy(&o.stdout)
            );
            at = 1 - at;
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `host show --json` from whichever controller answers (the standby's mirror lags the store
    /// by up to a second; callers wait for end states, which stay).
    pub fn host(&self, name: &str) -> Option<serde_json::Value> {
        let at = self.active().unwrap_or(0);
        [at, 1 - at].into_iter().find_map(|c| {
            let o = self.cli_at(c, &["host", "show", name, "--json"]);
            o.status
                .success()
                .then(|| serde_json::from_slice(&o.stdout).ok())
                .flatten()
        })
    }

    /// (administrative, operational, availability), or empty strings while nobody answers.
    pub fn state(&self, name: &str) -> (String, String, String) {
        let h = self.host(name).unwrap_or_default();
        let f = |k: &str| h[k].as_str().unwrap_or_default().to_string();
        (f("administrative"), f("operational"), f("availability"))
    }

    pub fn wait_state(&self, name: &str, want: (&str, &str, &str)) {
        let deadline = Instant::now() + BOOT;
        loop {
            let last = self.state(name);
            if (last.0.as_str(), last.1.as_str(), last.2.as_str()) == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: wanted {want:?} within {BOOT:?}, is {last:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The host has an action running (its task shows a stage).
    pub fn action_running(&self, name: &str, action: &str) -> bool {
        self.host(name).is_some_and(|h| {
            h["action"].as_str() == Some(action) && !h["task"].as_str().unwrap_or("").is_empty()
        })
    }

    /// Customer-log texts, oldest first, from whichever controller answers.
    pub fn event_texts(&self) -> Vec<String> {
        let out = self.cli(&["event", "list", "--json", "--limit", "10000"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["events"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| e["reason_text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Active alarm ids with their entity (`200.004 host=worker-0`).
    pub fn alarm_list(&self) -> Vec<String> {
        let out = self.cli(&["alarm", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v["alarms"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|a| {
                format!(
                    "{} {}",
                    a["alarm_id"].as_str().unwrap_or_default(),
                    a["entity_instance_id"].as_str().unwrap_or_default()
                )
            })
            .collect()
    }

    pub fn machine_names(&self) -> Vec<String> {
        self.machines.iter().map(|m| m.name.clone()).collect()
    }
}

fn append(path: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

/// One HTTP/1.1 request from namespace `ns` to `addr` (bash's `/dev/tcp`, at most 5 s); the
/// status and the body, or `None` when nothing answered.
pub fn http(
    ns: &str,
    method: &str,
    addr: &str,
    path: &str,
    token: Option<&str>,
) -> Option<(u16, String)> {
    let (host, port) = addr.split_once(':')?;
    let auth = token.map_or(String::new(), |t| {
        format!("Authorization: Bearer {t}\\r\\n")
    });
    let body = if method == "GET" { "" } else { "{}" };
    let script = format!(
        "exec 3<>/dev/tcp/{host}/{port} && printf '{method} {path} HTTP/1.1\\r\\nHost: {addr}\\r\\n{auth}Content-Type: application/json\\r\\nContent-Length: {}\\r\\nConnection: close\\r\\n\\r\\n{body}' >&3 && cat <&3",
        body.len()
    );
    let o = sh(&[
        "ip", "netns", "exec", ns, "timeout", "5", "bash", "-c", &script,
    ]);
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    Some((status, body))
}
