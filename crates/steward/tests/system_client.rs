//! StarlingX's own `system` client (sysinv's cgtsclient, unchanged) against steward: every
//! `system host-*` command of maintenance, run as an operator would against a cluster of processes
//! (`steward controller` and `steward simhost` with the real node agent and a Redfish BMC), its
//! output parsed, and the cluster's state checked afterwards through steward's own API.
//!
//! The client is a peer, not part of the repository: `STEWARD_CGTS_CLIENT` names its checkout
//! (`scripts/test-all` and `scripts/setup` default it to the peer folder that sits beside the clone),
//! run by the venv `scripts/setup` makes (`$HOME/.cache/steward/cgts-venv`, or `STEWARD_CGTS_VENV`).
//! Without them the test fails when `CI` is set and prints SKIPPED otherwise.

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_steward");
const SCALE: &str = "20";
const BMC_PASSWORD: &str = "system-client-bmc";
/// This test's loopback block (127.9.0.0/16): the controller .0.1, hosts .0.10…, BMCs .1.x.
const BLOCK: u8 = 9;

// Killed on drop, so a failing test leaves nothing behind.
use steward_testpeers::process::{
    free_tcp_port as free_tcp, free_udp_port as free_udp, KillOnDrop as Proc,
};

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, BLOCK, 0, last)
}

/// The client's checkout and the venv's python, or None (after failing under CI) when missing.
fn client_paths() -> Option<(PathBuf, PathBuf)> {
    let peer = std::env::var_os("STEWARD_CGTS_CLIENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    let venv = std::env::var_os("STEWARD_CGTS_VENV")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/steward/cgts-venv"))
        })
        .unwrap_or_else(|| PathBuf::from("/nonexistent"));
    let python = venv.join("bin/python");
    let missing = if !peer.join("cgtsclient/shell.py").exists() {
        Some(format!(
            "the cgts-client peer is not at {} (set STEWARD_CGTS_CLIENT to its checkout; \
             scripts/test-all defaults it to the peers folder beside the clone)",
            peer.display()
        ))
    } else if !python.exists() {
        Some(format!(
            "no venv for the client at {} (run scripts/setup, or set STEWARD_CGTS_VENV)",
            venv.display()
        ))
    } else {
        None
    };
    match missing {
        None => Some((peer, python)),
        Some(why) if std::env::var_os("CI").is_some() => panic!("{why}, and CI is set"),
        Some(why) => {
            eprintln!("\n*** SKIPPED: {why} ***\n");
            None
        }
    }
}

struct Cluster {
    dir: PathBuf,
    api_port: u16,
    ctl_addr: SocketAddr,
    node_port: u16,
    url: String,
    peer: PathBuf,
    python: PathBuf,
}

/// One `system` run: exit status, stdout, stderr.
struct Run {
    ok: bool,
    out: String,
    err: String,
}

impl Cluster {
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
        let o = Command::new(BIN)
            .args(["controller", "provision-node", name])
            .arg("--data-dir")
            .arg(self.dir.join("ctl"))
            .arg("--out")
            .arg(&keys)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
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

    /// `system <args>`: the unchanged client, with the token in Keystone's header.
    fn system(&self, args: &[&str]) -> Run {
        let token = std::fs::read_to_string(self.dir.join("ctl/api.token")).unwrap();
        let pythonpath = format!(
            "{}:{}",
            self.peer.display(),
            self.peer.join("stub").display()
        );
        let o = Command::new(&self.python)
            .args([
                "-c",
                "import sys; from cgtsclient.shell import main; sys.exit(main())",
            ])
            .args(["--system-url", &self.url, "--os-auth-token", token.trim()])
            .args(args)
            .env("PYTHONPATH", pythonpath)
            .env("COLUMNS", "250")
            .current_dir(&self.dir)
            .output()
            .unwrap();
        Run {
            ok: o.status.success(),
            out: String::from_utf8_lossy(&o.stdout).to_string(),
            err: String::from_utf8_lossy(&o.stderr).to_string(),
        }
    }

    /// `system <args>` that must succeed; its stdout.
    fn system_ok(&self, args: &[&str]) -> String {
        let r = self.system(args);
        assert!(
            r.ok,
            "system {args:?} failed:\n{}{}\ncontroller log tail:\n{}",
            r.out,
            r.err,
            tail(&self.dir.join("controller.log"))
        );
        r.out
    }

    /// `system <args>` that must be refused; its stderr.
    fn system_refused(&self, args: &[&str]) -> String {
        let r = self.system(args);
        assert!(!r.ok, "system {args:?} should fail:\n{}{}", r.out, r.err);
        r.err
    }

    /// steward's own CLI.
    fn steward(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("STEWARD_URL", &self.url)
            .env_remove("STEWARD_TOKEN")
            .output()
            .unwrap()
    }

    fn steward_ok(&self, args: &[&str]) -> String {
        let o = self.steward(args);
        assert!(
            o.status.success(),
            "steward {args:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).to_string()
    }

    /// One host through steward's own API, or None when it does not exist.
    fn host(&self, name: &str) -> Option<Value> {
        let o = self.steward(&["host", "show", name, "--json"]);
        o.status
            .success()
            .then(|| serde_json::from_slice(&o.stdout).unwrap())
    }

    /// The host's "admin-oper-avail" once no action runs on it (None while one does).
    fn states(&self, name: &str) -> Option<String> {
        let v = self.host(name)?;
        if v["action"] != "none" {
            return None;
        }
        Some(format!(
            "{}-{}-{}",
            v["administrative"].as_str()?,
            v["operational"].as_str()?,
            v["availability"].as_str()?
        ))
    }

    fn wait_state(&self, host: &str, want: &str) {
        let mut last = None;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            last = self.states(host);
            if last.as_deref() == Some(want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{host}: expected {want}, still {last:?}\ncontroller log tail:\n{}",
            tail(&self.dir.join("controller.log"))
        );
    }

    /// GET on steward's API (lab mode: loopback needs no token) as JSON.
    fn api_get(&self, path: &str) -> Value {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.api_port)).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
    }

    fn simhost_status(&self, name: &str, key: &str) -> String {
        let st = steward_simhost::control_blocking(&self.dir.join(name), "status").unwrap();
        let prefix = format!("{key}=");
        st.split_whitespace()
            .find_map(|w| w.strip_prefix(prefix.as_str()).map(str::to_string))
            .unwrap_or_default()
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

fn tail(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The rows of the client's tables, header first, cells trimmed. The client wraps long header
/// names and values onto more lines: header lines are joined per column, and a data line whose
/// first cell is empty continues the row above.
fn table(out: &str) -> Vec<Vec<String>> {
    let cells = |l: &str| -> Vec<String> {
        l.trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut separators = 0;
    for line in out.lines() {
        if line.starts_with('+') {
            separators += 1;
            continue;
        }
        if !line.starts_with('|') {
            continue;
        }
        let new = cells(line);
        let continues = match rows.last() {
            Some(_) if separators == 1 => true, // the header, wrapped
            Some(_) => new.first().is_some_and(|c| c.is_empty()),
            None => false,
        };
        match rows.last_mut() {
            Some(last) if continues => {
                for (cell, more) in last.iter_mut().zip(new) {
                    cell.push_str(&more);
                }
            }
            _ => rows.push(new),
        }
    }
    rows
}

/// A `Property | Value` table (host-show) as pairs.
fn properties(out: &str) -> Vec<(String, String)> {
    table(out)
        .into_iter()
        .skip(1)
        .filter_map(|row| match row.as_slice() {
            [k, v] => Some((k.clone(), v.clone())),
            _ => None,
        })
        .collect()
}

fn property(out: &str, key: &str) -> String {
    properties(out)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no {key} in:\n{out}"))
}

/// The data rows of a list table as maps from column name to cell.
fn rows(out: &str) -> Vec<std::collections::HashMap<String, String>> {
    let t = table(out);
    let Some((header, data)) = t.split_first() else {
        return Vec::new();
    };
    data.iter()
        .map(|r| header.iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

#[test]
fn the_system_client_drives_every_host_command() {
    let Some((peer, python)) = client_paths() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ctl_ip = ip(1);
    let api_port = free_tcp();
    let c = Cluster {
        dir: tmp.path().to_path_buf(),
        api_port,
        ctl_addr: SocketAddr::new(ctl_ip.into(), free_udp(ctl_ip)),
        node_port: free_udp(ip(10)),
        url: format!("http://127.0.0.1:{api_port}"),
        peer,
        python,
    };
    let bmc_w0 = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, BLOCK, 1, 11)), free_tcp());
    let ctl = c.controller();
    let _h0 = c.simhost("controller-0", ip(10), None);
    let _h1 = c.simhost("worker-0", ip(11), Some(bmc_w0));
    let _h2 = c.simhost("worker-1", ip(12), None);
    c.steward_ok(&[
        "host",
        "add",
        "controller-0",
        "--personality",
        "controller",
        "--mgmt-ip",
        &ip(10).to_string(),
    ]);

    // host-bulk-add: the sysinv hosts file, uploaded as a multipart form.
    let hosts_xml = c.dir.join("hosts.xml");
    std::fs::write(
        &hosts_xml,
        format!(
            "<?xml version=\"1.0\" ?>\n<hosts>\n  <host>\n    <hostname>worker-0</hostname>\n    \
             <personality>worker</personality>\n    <mgmt_ip>{}</mgmt_ip>\n    \
             <bm_type>redfish</bm_type>\n    <bm_ip>http://{bmc_w0}</bm_ip>\n    \
             <bm_username>admin</bm_username>\n    <bm_password>{BMC_PASSWORD}</bm_password>\n  \
             </host>\n  <host>\n    <hostname>worker-1</hostname>\n    \
             <personality>worker</personality>\n    <mgmt_ip>{}</mgmt_ip>\n  </host>\n  \
             <host>\n    <hostname>controller-0</hostname>\n    \
             <personality>controller</personality>\n  </host>\n</hosts>\n",
            ip(11),
            ip(12)
        ),
    )
    .unwrap();
    let out = c.system_ok(&["host-bulk-add", hosts_xml.to_str().unwrap()]);
    assert!(out.contains("Success: worker-0, worker-1"), "{out}");
    assert!(
        out.contains("controller-0: Host-add Rejected"),
        "the duplicate is reported: {out}"
    );
    let w0 = c.host("worker-0").expect("worker-0 added");
    assert_eq!(w0["bm_type"], "redfish");

    // host-add takes a name, personality and MAC, no management address: steward cannot reach
    // such a host (it has no address pool), so it stays locked and offline; it is deleted below.
    let out = c.system_ok(&[
        "host-add",
        "-n",
        "worker-2",
        "-p",
        "worker",
        "-m",
        "08:00:27:00:09:13",
    ]);
    assert_eq!(property(&out, "hostname"), "worker-2");
    assert_eq!(property(&out, "personality"), "worker");
    assert_eq!(property(&out, "administrative"), "locked");
    let w2 = c.host("worker-2").expect("worker-2 added");
    assert_eq!(w2["mgmt_mac"], "08:00:27:00:09:13");
    assert_eq!(property(&out, "id"), w2["id"].to_string());

    // The controller's own host into service (unlocked in the background meanwhile).
    c.wait_state("controller-0", "locked-disabled-online");
    c.system_ok(&["host-unlock", "controller-0"]);

    // host-list: every host with steward's integer id and states.
    c.wait_state("worker-0", "locked-disabled-online");
    let listed = rows(&c.system_ok(&["host-list"]));
    let ours = c.api_get("/v1/ihosts");
    let ours = ours["ihosts"].as_array().unwrap();
    assert_eq!(listed.len(), ours.len(), "{listed:?}");
    for h in ours {
        let row = listed
            .iter()
            .find(|r| r["hostname"] == h["hostname"].as_str().unwrap())
            .unwrap_or_else(|| panic!("{} not listed: {listed:?}", h["hostname"]));
        assert_eq!(row["id"], h["id"].to_string());
        assert_eq!(row["personality"], h["personality"].as_str().unwrap());
        // controller-0 is unlocking meanwhile; the workers stand still.
        if h["hostname"] == "worker-0" {
            assert_eq!(row["administrative"], h["administrative"].as_str().unwrap());
            assert_eq!(row["availability"], h["availability"].as_str().unwrap());
        }
    }
    let w0_id = c.host("worker-0").unwrap()["id"].to_string();

    // host-show by name and by id.
    let show = c.system_ok(&["host-show", "worker-0"]);
    assert_eq!(property(&show, "id"), w0_id);
    assert_eq!(property(&show, "hostname"), "worker-0");
    assert_eq!(property(&show, "availability"), "online");
    assert_eq!(property(&show, "bm_type"), "redfish");
    assert_eq!(property(&show, "install_state"), "installed");
    assert!(property(&show, "created_at").starts_with("20"), "{show}");
    let by_id = c.system_ok(&["host-show", &w0_id]);
    assert_eq!(property(&by_id, "hostname"), "worker-0");

    // host-update: a field steward keeps, and one it does not (refused, naming the field).
    let out = c.system_ok(&["host-update", "worker-0", "bm_username=operator"]);
    assert_eq!(property(&out, "bm_username"), "operator");
    assert_eq!(c.host("worker-0").unwrap()["bm_username"], "operator");
    let why = c.system_refused(&["host-update", "worker-0", "location=rack-9"]);
    assert!(why.contains("'location' cannot be changed"), "{why}");
    c.system_ok(&["host-update", "worker-0", "bm_username=admin"]);

    // host-unlock, host-lock: a round trip, the states read back through steward.
    let out = c.system_ok(&["host-unlock", "worker-0"]);
    assert_eq!(property(&out, "hostname"), "worker-0");
    c.wait_state("worker-0", "unlocked-enabled-available");
    let out = c.system_ok(&["host-lock", "worker-0"]);
    assert_eq!(property(&out, "hostname"), "worker-0");
    c.wait_state("worker-0", "locked-disabled-online");

    // A refused lock: steward's reason reaches the operator, the exit status is not 0.
    c.wait_state("controller-0", "unlocked-enabled-available");
    let why = c.system_refused(&["host-lock", "controller-0"]);
    assert!(why.contains("Cannot lock the active controller"), "{why}");
    let why = c.system_refused(&["host-lock", "--force", "--unsafe", "worker-0"]);
    assert!(why.contains("an unsafe lock"), "{why}");
    // A refused swact (no standby controller): steward's reason again.
    let why = c.system_refused(&["host-swact", "controller-0"]);
    assert!(
        !why.trim().is_empty() && !why.contains("Traceback"),
        "{why}"
    );

    // host-reboot (through the agent) and host-reset (through the BMC): a new boot each time.
    for command in ["host-reboot", "host-reset"] {
        let before = c.simhost_status("worker-0", "boot_id");
        c.system_ok(&[command, "worker-0"]);
        wait_until(
            &format!("a new boot after {command}"),
            Duration::from_secs(60),
            || c.simhost_status("worker-0", "boot_id") != before,
        );
        c.wait_state("worker-0", "locked-disabled-online");
    }

    // host-power-off / host-power-on through the Redfish BMC.
    c.system_ok(&["host-power-off", "worker-0"]);
    wait_until("worker-0 powered off", Duration::from_secs(60), || {
        c.simhost_status("worker-0", "power") == "off"
    });
    c.wait_state("worker-0", "locked-disabled-power-off");
    c.system_ok(&["host-power-on", "worker-0"]);
    wait_until("worker-0 powered on", Duration::from_secs(60), || {
        c.simhost_status("worker-0", "power") == "on"
    });
    c.wait_state("worker-0", "locked-disabled-online");

    // The inventory the agent reported, as the client lists it.
    wait_until("worker-0's inventory", Duration::from_secs(30), || {
        c.api_get("/v1/ihosts/worker-0/icpus")["icpus"].is_array()
    });
    let cpu_list = c.system_ok(&["host-cpu-list", "worker-0"]);
    let cpus = rows(&cpu_list);
    let our_cpus = c.api_get("/v1/ihosts/worker-0/icpus");
    assert_eq!(
        cpus.len(),
        our_cpus["icpus"].as_array().unwrap().len(),
        "{cpu_list}"
    );
    assert!(!cpus.is_empty());
    assert_eq!(
        cpus[0]["uuid"],
        our_cpus["icpus"][0]["uuid"].as_str().unwrap()
    );
    let memory = rows(&c.system_ok(&["host-memory-list", "worker-0"]));
    let our_memory = c.api_get("/v1/ihosts/worker-0/imemorys");
    assert_eq!(
        memory[0]["mem_total(MiB)"],
        our_memory["imemorys"][0]["memtotal_mib"].to_string()
    );
    let disks = rows(&c.system_ok(&["host-disk-list", "worker-0"]));
    let our_disks = c.api_get("/v1/ihosts/worker-0/idisks");
    assert_eq!(disks.len(), our_disks["idisks"].as_array().unwrap().len());
    assert!(disks
        .iter()
        .any(|d| d["device_node"] == our_disks["idisks"][0]["device_node"].as_str().unwrap()));
    let ports = rows(&c.system_ok(&["host-port-list", "worker-0"]));
    let our_ports = c.api_get("/v1/ihosts/worker-0/ports");
    assert_eq!(ports.len(), our_ports["ports"].as_array().unwrap().len());

    // host-unlock --force (sysinv's force-unlock) on worker-1, then lock it back.
    c.wait_state("worker-1", "locked-disabled-online");
    c.system_ok(&["host-unlock", "--force", "worker-1"]);
    c.wait_state("worker-1", "unlocked-enabled-available");
    c.system_ok(&["host-lock", "worker-1"]);
    c.wait_state("worker-1", "locked-disabled-online");

    // host-reinstall: the host is installed again and comes back online.
    let before = c.simhost_status("worker-1", "boot_id");
    c.system_ok(&["host-reinstall", "worker-1"]);
    wait_until(
        "a new boot after host-reinstall",
        Duration::from_secs(60),
        || c.simhost_status("worker-1", "boot_id") != before,
    );
    c.wait_state("worker-1", "locked-disabled-online");

    // host-bulk-export: the hosts file, never with a password. The client writes the `content`
    // string to a file opened in binary mode, which Python 3 refuses (the same against sysinv);
    // the request and the answer's shape are what it reaches.
    let export = c.dir.join("export.xml");
    let out = c.system(&["host-bulk-export", "--filename", export.to_str().unwrap()]);
    let content = if out.ok {
        std::fs::read_to_string(&export).unwrap()
    } else {
        assert!(
            out.err.contains("a bytes-like object is required"),
            "{}{}",
            out.out,
            out.err
        );
        c.api_get("/v1/ihosts/bulk_export")["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        content.contains("<hostname>worker-0</hostname>"),
        "{content}"
    );
    assert!(!content.contains(BMC_PASSWORD), "{content}");

    // A restarted controller keeps every id.
    let ids_before = rows(&c.system_ok(&["host-list"]));
    drop(ctl);
    let ctl = c.controller();
    let ids_after = rows(&c.system_ok(&["host-list"]));
    let pairs = |rs: &[std::collections::HashMap<String, String>]| {
        let mut v: Vec<(String, String)> = rs
            .iter()
            .map(|r| (r["id"].clone(), r["hostname"].clone()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(pairs(&ids_before), pairs(&ids_after));

    // host-delete: the host is gone from steward, and its id is not given out again.
    let w2_id = c.host("worker-2").unwrap()["id"].as_u64().unwrap();
    let out = c.system_ok(&["host-delete", "worker-2"]);
    assert!(out.contains("Deleted host worker-2"), "{out}");
    wait_until("worker-2 deleted", Duration::from_secs(60), || {
        c.host("worker-2").is_none()
    });
    let why = c.system_refused(&["host-show", &w2_id.to_string()]);
    assert!(why.contains("not found"), "{why}");
    let out = c.system_ok(&["host-add", "-n", "worker-2", "-p", "worker"]);
    let new_id: u64 = property(&out, "id").parse().unwrap();
    assert!(
        new_id > w2_id,
        "ids are never reused: {new_id} after {w2_id}"
    );
    drop(ctl);
}
