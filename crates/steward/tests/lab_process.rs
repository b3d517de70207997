//! `steward lab` with its monitored lab processes, driven as a newcomer would: the lab runs with
//! one `steward simhost` process per host (`--processes`, the path that hands each agent its
//! process directory by `--pmon-dir`), and `steward lab kill-process` kills `lab-minor` past its
//! one allowed restart: alarm 200.006 minor is raised on that host and nothing else happens to it
//! (docs/node-supervision.md#lab).
//!
//! The lab binds the fixed lab addresses (127.1.0.1 …), so this is the only test that runs one.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_steward");
const HOST: &str = "controller-1";

/// Stops the lab when dropped (SIGINT, then a kill if it does not end).
use steward_testpeers::process::InterruptOnDrop as Lab;

/// A failure bound only (the lab on a loaded machine), never a measured limit.
fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let limit = Duration::from_secs(180);
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what}: not within {limit:?}");
}

fn steward(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("STEWARD_URL", url)
        .env_remove("STEWARD_TOKEN")
        .output()
        .unwrap()
}

fn json(url: &str, args: &[&str]) -> Option<Value> {
    let o = steward(url, args);
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).ok())
        .flatten()
}

/// Every alarm as (id, entity, severity).
fn alarms(url: &str) -> Vec<(String, String, String)> {
    let v = json(url, &["alarm", "list", "--json"]).expect("alarm list");
    let s = |a: &Value, k: &str| a[k].as_str().unwrap_or("").to_string();
    v["alarms"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|a| {
            (
                s(a, "alarm_id"),
                s(a, "entity_instance_id"),
                s(a, "severity"),
            )
        })
        .collect()
}

fn states(url: &str, host: &str) -> Option<String> {
    let v = json(url, &["host", "show", host, "--json"])?;
    Some(format!(
        "{}-{}-{}",
        v["administrative"].as_str()?,
        v["operational"].as_str()?,
        v["availability"].as_str()?
    ))
}

/// The agent's status socket shows `process` running.
fn monitored(host_dir: &Path, process: &str) -> bool {
    let o = Command::new(BIN)
        .args(["node", "status", "--json", "--socket"])
        .arg(host_dir.join("node-status.sock"))
        .output()
        .unwrap();
    let Ok(v) = serde_json::from_slice::<Value>(&o.stdout) else {
        return false;
    };
    v["processes"].as_array().is_some_and(|ps| {
        ps.iter()
            .any(|p| p["name"] == process && p["phase"] == "running")
    })
}

#[test]
fn kill_process_on_lab_minor_twice_raises_200_006_minor_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lab");
    let url_file = dir.path().join("url");
    let log = std::fs::File::create(dir.path().join("lab.log")).unwrap();
    let lab = Lab(Command::new(BIN)
        .args([
            "lab",
            "--fast",
            "--hosts",
            "2",
            "--processes",
            "--listen",
            "127.0.0.1:0",
            // The lab's image server (reinstall by virtual media) on a free port too.
            "--image-bind",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(&data)
        .arg("--url-file")
        .arg(&url_file)
        .env("STEWARD_LOG", "warn")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .unwrap());
    wait_until("the lab serves its API", || url_file.exists());
    let url = std::fs::read_to_string(&url_file)
        .unwrap()
        .trim()
        .to_string();
    let host_dir = data.join(HOST);
    for h in ["controller-0", HOST] {
        wait_until(&format!("{h} available"), || {
            states(&url, h).as_deref() == Some("unlocked-enabled-available")
        });
    }
    wait_until("lab-minor monitored", || monitored(&host_dir, "lab-minor"));
    assert_eq!(alarms(&url), vec![], "a quiet lab has no alarms");

    // Clear errors for a host or a process the lab does not have.
    let data_s = data.to_str().unwrap();
    let o = steward(
        &url,
        &[
            "lab",
            "kill-process",
            "worker-9",
            "lab-minor",
            "--data-dir",
            data_s,
        ],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no lab host 'worker-9'"));
    let o = steward(
        &url,
        &["lab", "kill-process", HOST, "sshd", "--data-dir", data_s],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("lab-critical, lab-minor"));

    let o = steward(
        &url,
        &[
            "lab",
            "kill-process",
            HOST,
            "lab-minor",
            "--times",
            "2",
            "--data-dir",
            data_s,
        ],
    );
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(out.matches("killed lab-minor").count(), 2, "{out}");
    assert_eq!(out.matches("lab-minor restarted").count(), 1, "{out}");

    let want = (
        "200.006".to_string(),
        format!("host={HOST}"),
        "minor".to_string(),
    );
    let mut seen = Vec::new();
    wait_until("200.006 minor raised", || {
        seen = alarms(&url);
        seen.contains(&want)
    });
    assert_eq!(seen, vec![want], "200.006 minor and no other alarm");
    // A minor process neither fails nor degrades its host.
    assert_eq!(
        states(&url, HOST).as_deref(),
        Some("unlocked-enabled-available")
    );
    // Past its debounce the restarted process is stable again and the alarm clears.
    wait_until("200.006 cleared", || alarms(&url).is_empty());
    support_bundle_has_the_simulated_hosts_part(&url, &data, dir.path());
    reinstall_by_virtual_media_from_the_cli(&url, &host_dir);
    drop(lab);
    // The lab's processes do not outlive it (they end at once; a zombie has ended).
    for name in ["lab-critical", "lab-minor"] {
        wait_until(&format!("{name} ended with the lab"), || {
            steward_simhost::lab::lab_process_pid(&host_dir, name).is_none()
        });
    }
}

/// `steward collect HOST` against the lab (the one lab this file runs): the simulated host's node
/// part is in the bundle, gathered from its machine's files, and no secret is: not the BMC
/// password, not the API token, not the agent's keys (inside the node part's own tarball too).
fn support_bundle_has_the_simulated_hosts_part(url: &str, data: &Path, tmp: &Path) {
    let bundle = tmp.join("bundle.tar.gz");
    let o = Command::new(BIN)
        .args(["collect", HOST, "--output"])
        .arg(&bundle)
        .arg("--lab-dir")
        .arg(data)
        .env("STEWARD_URL", url)
        .env_remove("STEWARD_TOKEN")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let out = tmp.join("bundle");
    std::fs::create_dir(&out).unwrap();
    let x = |archive: &Path, into: &Path| {
        let ok = Command::new("tar")
            .arg("-xzf")
            .arg(archive)
            .arg("-C")
            .arg(into)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{}", archive.display());
    };
    x(&bundle, &out);
    let root = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("MANIFEST.json")).unwrap())
            .unwrap();
    let part = manifest["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["part"] == format!("{HOST} node part"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(part["status"], "collected", "{manifest:#}");
    x(&root.join(format!("nodes/{HOST}.tar.gz")), &out);
    let node = out.join(format!("steward-node-collect-{HOST}"));
    let node_manifest = std::fs::read_to_string(node.join("MANIFEST.json")).unwrap();
    assert!(node_manifest.contains("status.json"), "{node_manifest}");
    // Every byte of both, against every secret the lab holds.
    let mut secrets = vec!["lab-bmc-password".to_string()];
    secrets.push(
        std::fs::read_to_string(data.join("api.token"))
            .unwrap()
            .trim()
            .to_string(),
    );
    let keys: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join(HOST).join("node.keys")).unwrap())
            .unwrap();
    for (k, v) in keys.as_object().unwrap() {
        if k != "hostname" {
            secrets.push(v.as_str().unwrap().to_string());
        }
    }
    let mut all = Vec::new();
    let mut stack = vec![out.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                all.extend(std::fs::read(&p).unwrap());
            }
        }
    }
    for s in &secrets {
        assert!(s.len() >= 16, "{s}");
        assert!(
            !all.windows(s.len()).any(|w| w == s.as_bytes()),
            "{s} in the bundle"
        );
    }
}

/// `steward host lock worker-0 --wait && steward host reinstall worker-0 --wait` in the lab, as the
/// README shows it: the reinstall goes through the simulated BMC's virtual media from the lab's image
/// server, the CLI follows it with the install state, and the machine comes back as a fresh install
/// of the lab's image (its own install record says so), locked.
fn reinstall_by_virtual_media_from_the_cli(url: &str, host_dir: &Path) {
    let run = |args: &[&str]| {
        let o = steward(url, args);
        let out = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success(),
            "{args:?}: {out}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out
    };
    let boot_before = std::fs::read_to_string(host_dir.join("persistent/boot.json")).ok();
    run(&["host", "lock", HOST, "--wait", "--timeout", "120"]);
    let out = run(&["host", "reinstall", HOST, "--wait", "--timeout", "300"]);
    assert!(out.contains("install_state:"), "no progress shown: {out}");
    assert!(
        out.contains(&format!("{HOST}: reinstall completed")),
        "{out}"
    );
    assert_eq!(
        states(url, HOST).as_deref(),
        Some("locked-disabled-online"),
        "{out}"
    );
    let record = std::fs::read_to_string(host_dir.join("persistent/install.json"))
        .expect("the installer wrote its install record");
    assert!(record.contains(steward_simhost::lab::LAB_IMAGE), "{record}");
    let boot_after = std::fs::read_to_string(host_dir.join("persistent/boot.json")).ok();
    assert_ne!(boot_before, boot_after, "the machine booted the installer");
}
