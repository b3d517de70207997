//! The process monitor on real processes: `sleep` started by a start command, killed with SIGKILL
//! and SIGSEGV, seen dead through its pidfd and restarted; a restart storm escalating; a failing
//! health command; reload.

use std::path::{Path, PathBuf};
use std::time::Duration;
use steward_node::pmon::{self, PmonHandle};
use steward_process_policy::{Phase, ProcessStatus};
use steward_types::{MonitorEvent, Severity};
use tokio::sync::mpsc;

/// A process config file for a `sleep` that writes its pid to `<dir>/<name>.pid`.
fn write_config(dir: &Path, name: &str, extra: &str) -> PathBuf {
    let pidfile = dir.join(format!("{name}.pid"));
    let text = format!(
        "name = \"{name}\"\npidfile = \"{p}\"\nstart = \"sleep 600 & echo $! > {p}\"\n\
         interval_ms = 50\nstartup_delay_ms = 50\ndebounce_ms = 60000\n{extra}\n",
        p = pidfile.display()
    );
    std::fs::write(dir.join(format!("{name}.toml")), text).unwrap();
    pidfile
}

fn status_of(h: &PmonHandle, name: &str) -> Option<ProcessStatus> {
    h.status().into_iter().find(|s| s.name == name)
}

/// Wait (polling the status the monitor publishes) until `name` runs as a pid other than `not`.
async fn running_pid(h: &PmonHandle, name: &str, not: Option<u32>) -> u32 {
    loop {
        if let Some(ProcessStatus {
            phase: Phase::Running { pid, .. },
            ..
        }) = status_of(h, name)
        {
            if Some(pid) != not {
                return pid;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn kill(pid: u32, signal: i32) {
    // SAFETY: plain kill(2) on a pid this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, signal) }, 0);
}

/// The process is gone or a zombie (its new parent may not have reaped it yet).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
    }
}

/// Ends the last instance when the test ends, whatever happened.
struct Reap(PathBuf);
impl Drop for Reap {
    fn drop(&mut self) {
        if let Some(pid) = std::fs::read_to_string(&self.0)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        {
            // SAFETY: kill(2) on the pid our own start command wrote.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_sigsegv_deaths_are_seen_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = write_config(dir.path(), "sleeper", "severity = \"minor\"\nrestarts = 5");
    let _reap = Reap(pidfile.clone());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let h = pmon::spawn(dir.path().to_path_buf(), tx);
    let first = running_pid(&h, "sleeper", None).await;
    kill(first, libc::SIGKILL);
    let second = running_pid(&h, "sleeper", Some(first)).await;
    kill(second, libc::SIGSEGV);
    let third = running_pid(&h, "sleeper", Some(second)).await;
    assert_ne!(third, first);
    let s = status_of(&h, "sleeper").unwrap();
    assert_eq!(s.restarts_total, 2);
    assert_eq!(s.failures, 2);
    assert_eq!(s.escalated, None);
    assert!(
        rx.try_recv().is_err(),
        "within the allowance: nothing reported"
    );
    assert!(h.running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_storm_escalates_and_loses_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = write_config(
        dir.path(),
        "sm",
        "severity = \"critical\"\nrestarts = 2\nquorum = true",
    );
    let _reap = Reap(pidfile);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let h = pmon::spawn(dir.path().to_path_buf(), tx);
    let mut quorum = h.quorum();
    let mut pid = running_pid(&h, "sm", None).await;
    for _ in 0..3 {
        kill(pid, libc::SIGKILL);
        pid = running_pid(&h, "sm", Some(pid)).await;
    }
    assert_eq!(
        rx.recv().await,
        Some(MonitorEvent::Process {
            process: "sm".into(),
            severity: Severity::Critical
        })
    );
    quorum
        .wait_for(|lost| lost == &["sm".to_string()])
        .await
        .unwrap();
    assert_eq!(
        status_of(&h, "sm").unwrap().escalated,
        Some(steward_process_policy::Severity::Critical)
    );
    // Restarts go on after the escalation.
    assert!(matches!(
        status_of(&h, "sm").unwrap().phase,
        Phase::Running { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_health_command_ends_the_instance_and_it_is_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("healthy");
    std::fs::write(&ok, "").unwrap();
    let pidfile = write_config(
        dir.path(),
        "checked",
        &format!(
            "severity = \"major\"\nhealth = \"test -f {}\"\nhealth_interval_ms = 50",
            ok.display()
        ),
    );
    let _reap = Reap(pidfile);
    let (tx, _rx) = mpsc::unbounded_channel();
    let h = pmon::spawn(dir.path().to_path_buf(), tx);
    let first = running_pid(&h, "checked", None).await;
    std::fs::remove_file(&ok).unwrap();
    let second = running_pid(&h, "checked", Some(first)).await;
    std::fs::write(&ok, "").unwrap();
    assert_ne!(first, second);
    assert!(ended(first), "the unhealthy instance was killed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_already_running_is_attached_not_started_twice() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = write_config(dir.path(), "early", "severity = \"minor\"");
    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    std::fs::write(&pidfile, child.id().to_string()).unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let h = pmon::spawn(dir.path().to_path_buf(), tx);
    assert_eq!(running_pid(&h, "early", None).await, child.id());
    drop(h);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_picks_up_a_new_process_and_skips_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_config(dir.path(), "a", "severity = \"minor\"");
    let _reap_a = Reap(a);
    std::fs::write(dir.path().join("broken.toml"), "name = ").unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let h = pmon::spawn(dir.path().to_path_buf(), tx);
    running_pid(&h, "a", None).await;
    let b = write_config(dir.path(), "b", "severity = \"major\"");
    let _reap_b = Reap(b);
    h.reload();
    running_pid(&h, "b", None).await;
    let names: Vec<String> = h.status().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_pid_file_naming_a_younger_process_is_not_attached() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = write_config(dir.path(), "stale", "severity = \"minor\"");
    let _reap = Reap(pidfile.clone());
    // An unrelated process has the pid the file names, but started an hour after it was written.
    let mut other = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    std::fs::write(&pidfile, other.id().to_string()).unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(&pidfile)
        .status()
        .unwrap();
    assert!(touched.success());
    let (tx, _rx) = mpsc::unbounded_channel();
    let h = pmon::spawn(dir.path().to_path_buf(), tx);
    let pid = running_pid(&h, "stale", None).await;
    assert_ne!(
        pid,
        other.id(),
        "the younger process was not taken for the monitored one"
    );
    drop(h);
    other.kill().unwrap();
    other.wait().unwrap();
}
