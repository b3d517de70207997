//! `steward watch` end to end: the built binary follows `/v1/stream` of a real controller with
//! simulated hosts and shows a lock as it happens.

#[path = "../../api/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use steward_maintenance::action::OperatorAction;
use support::{Lab, TOKEN};

/// Kills the watcher however the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Lines from `rx` until one satisfies `f`; panics when the watcher's output ends first.
fn until(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, f: impl Fn(&str) -> bool) {
    loop {
        let line = rx
            .recv()
            .unwrap_or_else(|_| panic!("steward watch ended; it printed:\n{}", seen.join("\n")));
        let done = f(&line);
        seen.push(line);
        if done {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_shows_a_lock_live() {
    let lab = Lab::start(false).await;
    let child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["watch", "--host", "worker-0"])
        .env("STEWARD_URL", &lab.url)
        .env("STEWARD_TOKEN", TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    // First where the host stands (the stream is live by then), then the lock as it happens.
    let rx = tokio::task::spawn_blocking(move || {
        until(&rx, &mut seen, |l| {
            l.contains("worker-0") && l.contains("unlocked-enabled-available")
        });
        (rx, seen)
    })
    .await
    .unwrap();
    let (rx, mut seen) = rx;
    lab.handle
        .request("worker-0", OperatorAction::Lock)
        .await
        .unwrap();
    let seen = tokio::task::spawn_blocking(move || {
        until(&rx, &mut seen, |l| {
            l.contains("event") && l.contains("lock")
        });
        until(&rx, &mut seen, |l| {
            l.contains("worker-0") && l.ends_with("locked-disabled-online")
        });
        seen
    })
    .await
    .unwrap();
    // Only the host asked for.
    assert!(
        seen.iter().all(|l| l.contains("worker-0")),
        "{}",
        seen.join("\n")
    );
}
