//! `steward lab --controllers 2` as an operator drives it (docs/controller-pair.md#the-lab): a local
//! etcd, two controller runtimes and a floating API address that follows the active one.
//!
//! Through the floating address only: a swact hands the role to controller-1; an unlock is started
//! and the active's host is crashed (`steward lab crash controller-1`: its runtime dies without
//! resigning); controller-0 takes over, the unlock ends, and no other host was ever failed. The
//! crashed controller comes back as standby once its host is up, and becomes active again on a
//! swact. The hand-over and takeover times are printed, never asserted.
//!
//! The lab binds the fixed lab addresses (127.1.0.1 …), so this test runs in a binary of its own
//! (test binaries run one after another) and never beside `lab_process.rs`.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_steward");

/// Stops the lab when dropped (SIGINT, then a kill if it does not end).
use steward_testpeers::process::InterruptOnDrop as Lab;

fn steward(url: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("STEWARD_URL", url)
        .env_remove("STEWARD_TOKEN")
        .output()
        .unwrap()
}

fn ok(url: &str, args: &[&str]) -> String {
    let o = steward(url, args);
    assert!(
        o.status.success(),
        "steward {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(url: &str, args: &[&str]) -> Option<Value> {
    let o = steward(url, args);
    o.status
        .success()
        .then(|| serde_json::from_slice(&o.stdout).ok())
        .flatten()
}

/// Every host's `administrative-operational-availability [task] action`, read through the
/// floating address.
fn hosts(url: &str) -> Vec<(String, String, String)> {
    let Some(v) = json(url, &["host", "list", "--json"]) else {
        return Vec::new();
    };
    let s = |h: &Value, k: &str| h[k].as_str().unwrap_or("").to_string();
    v["ihosts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|h| {
            (
                s(h, "hostname"),
                format!(
                    "{}-{}-{}",
                    s(h, "administrative"),
                    s(h, "operational"),
                    s(h, "availability")
                ),
                s(h, "task"),
            )
        })
        .collect()
}

/// The test's own record of what it saw through the floating address: every host it ever saw in
/// the `failed` availability.
#[derive(Default)]
struct Seen {
    failed: BTreeSet<String>,
}

impl Seen {
    fn look(&mut self, url: &str) -> Vec<(String, String, String)> {
        let h = hosts(url);
        for (name, states, _) in &h {
            if states.ends_with("-failed") {
                self.failed.insert(name.clone());
            }
        }
        h
    }
}

/// A failure bound only (the lab on a loaded machine), never a measured limit; looks at the hosts
/// on every poll.
fn wait_until(
    what: &str,
    url: &str,
    seen: &mut Seen,
    mut f: impl FnMut(&[(String, String, String)]) -> bool,
) {
    let limit = Duration::from_secs(120);
    let start = Instant::now();
    while start.elapsed() < limit {
        let h = seen.look(url);
        if f(&h) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not within {limit:?}; hosts: {:?}", seen.look(url));
}

/// The lab's "… is active" lines, in order.
fn active_lines(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" is active (epoch"))
        .map(str::to_string)
        .collect()
}

fn all_available(h: &[(String, String, String)], n: usize) -> bool {
    h.len() == n
        && h.iter()
            .all(|(_, s, t)| s == "unlocked-enabled-available" && t.is_empty())
}

fn state_of(h: &[(String, String, String)], host: &str) -> Option<String> {
    h.iter()
        .find(|(n, _, _)| n == host)
        .map(|(_, s, _)| s.clone())
}

#[test]
fn the_floating_address_follows_a_swact_and_a_crash_of_the_active_without_a_false_failure() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("lab");
    let url_file = dir.path().join("url");
    let log = dir.path().join("lab.log");
    let out = std::fs::File::create(&log).unwrap();
    let lab = Lab(Command::new(BIN)
        .args(["lab", "--fast", "--controllers", "2", "--hosts", "3"])
        .args(["--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&data)
        .arg("--url-file")
        .arg(&url_file)
        .env("STEWARD_LOG", "warn")
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .stdin(Stdio::null())
        .spawn()
        .unwrap());
    let mut seen = Seen::default();
    let start = Instant::now();
    while !url_file.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the lab did not serve; its output:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let url = std::fs::read_to_string(&url_file)
        .unwrap()
        .trim()
        .to_string();
    assert!(
        std::fs::read_to_string(data.join("api.url"))
            .unwrap()
            .contains(&url),
        "api.url names the floating address"
    );
    wait_until("every host in service", &url, &mut seen, |h| {
        all_available(h, 3)
    });
    assert!(
        active_lines(&log)[0].starts_with("controller-0"),
        "{:?}",
        active_lines(&log)
    );
    let status = Command::new(BIN)
        .args(["lab", "status", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&status.stdout);
    assert!(status.contains("controller-0   active"), "{status}");

    // Swact through the floating address: controller-1 becomes active.
    let t0 = Instant::now();
    ok(&url, &["host", "swact", "controller-0"]);
    wait_until("controller-1 takes the role", &url, &mut seen, |_| {
        active_lines(&log).len() == 2
    });
    let swact = t0.elapsed();
    assert!(
        active_lines(&log)[1].starts_with("controller-1"),
        "{:?}",
        active_lines(&log)
    );

    // A write through the floating address reaches the new active; an unlock is started and the
    // active's host crashes while it runs.
    ok(&url, &["host", "lock", "worker-0", "--wait"]);
    ok(&url, &["host", "unlock", "worker-0"]);
    wait_until("the unlock runs", &url, &mut seen, |h| {
        h.iter()
            .any(|(n, s, t)| n == "worker-0" && s.starts_with("unlocked") && !t.is_empty())
    });
    let t1 = Instant::now();
    let o = Command::new(BIN)
        .args(["lab", "crash", "controller-1", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    wait_until("controller-0 takes over", &url, &mut seen, |_| {
        active_lines(&log).len() == 3
    });
    let takeover = t1.elapsed();
    let line = active_lines(&log)[2].clone();
    assert!(
        line.starts_with("controller-0") && line.contains("after controller-1 crashed"),
        "{line}"
    );
    wait_until("the unlock ends on the new active", &url, &mut seen, |h| {
        state_of(h, "worker-0").as_deref() == Some("unlocked-enabled-available")
    });

    // The crashed controller's host comes back (its BMC powers it on, or heal does): its runtime
    // starts as standby.
    let _ = Command::new(BIN)
        .args(["lab", "heal", "controller-1", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    wait_until("controller-1 is standby again", &url, &mut seen, |_| {
        std::fs::read_to_string(data.join("controllers"))
            .is_ok_and(|s| s.contains("controller-1   standby"))
    });
    wait_until("every host in service again", &url, &mut seen, |h| {
        all_available(h, 3)
    });
    // The crashed runtime left nothing behind (its node link and heartbeat addresses are free):
    // controller-1 becomes active again on a swact.
    ok(&url, &["host", "swact", "controller-0"]);
    wait_until("controller-1 is active again", &url, &mut seen, |_| {
        active_lines(&log).len() == 4
    });
    assert!(
        active_lines(&log)[3].starts_with("controller-1"),
        "{:?}",
        active_lines(&log)
    );
    wait_until(
        "every host in service after the swact back",
        &url,
        &mut seen,
        |h| all_available(h, 3),
    );

    // No host but the crashed one was ever failed: not in the hosts the test saw, not in the
    // event log (200.004 "host failed" raised for any other).
    seen.failed.remove("controller-1");
    assert!(seen.failed.is_empty(), "hosts failed: {:?}", seen.failed);
    let events = json(&url, &["event", "list", "--limit", "1000", "--json"]).expect("events");
    let false_failures: Vec<&Value> = events["events"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|e| {
            e["event_log_id"] == "200.004"
                && !e["entity_instance_id"]
                    .as_str()
                    .unwrap_or("")
                    .contains("controller-1")
        })
        .collect();
    assert!(false_failures.is_empty(), "{false_failures:?}");
    eprintln!(
        "lab pair: swact through the floating address {swact:?} (command to the new active's \
         line); takeover after the active's crash {takeover:?} (lease TTL 3 s)"
    );
    eprintln!("{}", active_lines(&log).join("\n"));
    drop(lab);
}
