//! The process monitor end to end: a real agent on a rig host watches `sleep` processes the test
//! kills; the controller shows what each severity does (docs/node-supervision.md#escalation).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use steward_maintenance::alarm::{AlarmId, Severity};
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{LabSpec, TestLab};

fn process_file(name: &str, pidfile: &Path, severity: &str, restarts: u32) -> String {
    format!(
        "name = \"{name}\"\npidfile = \"{p}\"\nstart = \"sleep 600 & echo $! > {p}\"\n\
         severity = \"{severity}\"\nrestarts = {restarts}\ninterval_ms = 50\n\
         startup_delay_ms = 50\ndebounce_ms = 500\n",
        p = pidfile.display()
    )
}

fn read_pid(pidfile: &Path) -> Option<i32> {
    std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

/// Waits for a live pid in `pidfile` other than `not`.
async fn live_pid(pidfile: &Path, not: Option<i32>) -> i32 {
    loop {
        if let Some(pid) = read_pid(pidfile).filter(|p| Some(*p) != not) {
            let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit_once(')')
                    .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
            });
            if alive {
                return pid;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn kill(pid: i32) {
    // SAFETY: kill(2) on a pid the agent's start command wrote for this test.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}

/// Ends the last instances when the test ends.
struct Reap(Vec<PathBuf>);
impl Drop for Reap {
    fn drop(&mut self) {
        for p in &self.0 {
            if let Some(pid) = read_pid(p) {
                kill(pid);
            }
        }
    }
}

async fn process_alarm(lab: &TestLab, host: &str) -> Option<Severity> {
    let alarms = lab.handle.alarms().await.expect("the controller answers");
    alarms
        .iter()
        .find(|a| a.id == AlarmId::Process && a.host == host)
        .map(|a| a.severity)
}

async fn wait_alarm(lab: &TestLab, host: &str, want: Option<Severity>) {
    while process_alarm(lab, host).await != want {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn state_of(hosts: &[steward_maintenance::host::HostRecord], name: &str) -> String {
    hosts
        .iter()
        .find(|h| h.spec.name == name)
        .map(|h| h.states.to_string())
        .unwrap_or_default()
}

fn lab_with(processes: Vec<(String, String, String)>) -> LabSpec {
    LabSpec {
        processes,
        ..LabSpec::standard()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minor_alarms_only_and_major_degrades_until_the_process_is_stable() {
    let pids = tempfile::tempdir().unwrap();
    let minor = pids.path().join("minor.pid");
    let major = pids.path().join("major.pid");
    let _reap = Reap(vec![minor.clone(), major.clone()]);
    let spec = lab_with(vec![
        (
            "worker-0".into(),
            "minor.toml".into(),
            process_file("ntpd", &minor, "minor", 0),
        ),
        (
            "worker-0".into(),
            "major.toml".into(),
            process_file("collectd", &major, "major", 0),
        ),
    ]);
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let lab = TestLab::start(store, SecretBox::from_key([7; 32]), spec).await;
    lab.wait_until_settled().await;

    kill(live_pid(&minor, None).await);
    wait_alarm(&lab, "worker-0", Some(Severity::Minor)).await;
    assert_eq!(
        state_of(&lab.handle.hosts().await.unwrap(), "worker-0"),
        "unlocked-enabled-available",
        "a minor process failure never degrades"
    );
    // Restarted and stable for the debounce: cleared.
    wait_alarm(&lab, "worker-0", None).await;

    kill(live_pid(&major, None).await);
    lab.wait_until("worker-0 degraded", |h| {
        state_of(h, "worker-0") == "unlocked-enabled-degraded"
    })
    .await;
    assert_eq!(process_alarm(&lab, "worker-0").await, Some(Severity::Major));
    lab.wait_until("worker-0 available again", |h| {
        state_of(h, "worker-0") == "unlocked-enabled-available"
    })
    .await;
    wait_alarm(&lab, "worker-0", None).await;
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_critical_process_killed_past_its_restarts_fails_and_recovers_the_host() {
    let pids = tempfile::tempdir().unwrap();
    let crit = pids.path().join("crit.pid");
    let _reap = Reap(vec![crit.clone()]);
    let spec = lab_with(vec![(
        "worker-0".into(),
        "crit.toml".into(),
        process_file("sm", &crit, "critical", 1),
    )]);
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let lab = TestLab::start(store, SecretBox::from_key([8; 32]), spec).await;
    lab.wait_until_settled().await;

    let first = live_pid(&crit, None).await;
    kill(first);
    // One restart is allowed: the host stays in service.
    let second = live_pid(&crit, Some(first)).await;
    assert_eq!(
        state_of(&lab.handle.hosts().await.unwrap(), "worker-0"),
        "unlocked-enabled-available"
    );
    kill(second);
    lab.wait_until("worker-0 failed", |h| {
        state_of(h, "worker-0").starts_with("unlocked-disabled")
    })
    .await;
    // Recovered through the reboot: the new boot's monitor starts over, the alarm clears.
    lab.wait_until("worker-0 recovered", |h| {
        state_of(h, "worker-0") == "unlocked-enabled-available"
    })
    .await;
    wait_alarm(&lab, "worker-0", None).await;
    lab.shutdown().await;
}
