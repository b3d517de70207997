//! Starting, finding and stopping one monitored process.

use super::Pidfd;
use std::path::Path;
use std::time::Duration;
use steward_process_policy::{ProcessConfig, Target};
use tokio::process::Command;

/// A start or stop command running longer than this has failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// After the stop command, how long the process may take to end before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Attach to the live instance, or start one: run the start command, wait the startup delay and
/// attach to the pid it left.
pub async fn ensure_running(cfg: &ProcessConfig) -> Result<Pidfd, String> {
    if let Some(p) = attach(cfg).await {
        return Ok(p);
    }
    let start = match (&cfg.start, &cfg.target) {
        (Some(cmd), _) => cmd.clone(),
        (None, Target::Unit(unit)) => format!("systemctl start {}", shell_quote(unit)),
        (None, Target::Pidfile(_)) => return Err("no start command".into()),
    };
    let (ok, detail) = run_shell(&start, COMMAND_TIMEOUT).await;
    if !ok {
        return Err(format!("start command: {detail}"));
    }
    tokio::time::sleep(Duration::from_millis(cfg.startup_delay_ms)).await;
    attach(cfg)
        .await
        .ok_or_else(|| "no live process after the start command and startup delay".to_string())
}

/// A pidfd on the live instance, if there is one. The pid is read again after the pidfd is open:
/// a pid read from a stale file and reused by an unrelated process in between would otherwise be
/// watched in its place.
///
/// A pid file left by an instance that died before the agent looked (a reboot, an agent restart)
/// may name a pid an unrelated, younger process has since: a process that started after the pid
/// file was written is not the one it names.
async fn attach(cfg: &ProcessConfig) -> Option<Pidfd> {
    let pid = current_pid(&cfg.target).await?;
    let pidfd = Pidfd::open(pid).ok()?;
    if let Target::Pidfile(path) = &cfg.target {
        if born_after(pid, Path::new(path)) {
            tracing::warn!(process = %cfg.name, pid, "pid file is older than the process with its pid: stale, not attached");
            return None;
        }
    }
    (current_pid(&cfg.target).await == Some(pid) && !pidfd.has_exited()).then_some(pidfd)
}

/// The process `pid` started more than a second after `pidfile` was last written (Linux:
/// `/proc/<pid>/stat` start time since boot, `/proc/stat` boot time). Unknown: false.
fn born_after(pid: u32, pidfile: &Path) -> bool {
    let started = || -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name (which may hold spaces): state is field 3, starttime 22.
        let rest = stat.rsplit_once(')')?.1;
        let ticks: f64 = rest.split_whitespace().nth(19)?.parse().ok()?;
        let btime: f64 = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        (hz > 0).then(|| btime + ticks / hz as f64)
    };
    let written = std::fs::metadata(pidfile)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64());
    match (started(), written) {
        (Some(s), Some(w)) => s > w + 1.0,
        _ => false,
    }
}

async fn current_pid(target: &Target) -> Option<u32> {
    match target {
        // A pid file is a few bytes on a local filesystem: read in place.
        Target::Pidfile(path) => std::fs::read_to_string(path)
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|p| *p > 0),
        Target::Unit(unit) => {
            let out = Command::new("systemctl")
                .args(["show", "--property=MainPID", "--value", unit])
                .kill_on_drop(true)
                .output()
                .await
                .ok()?;
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|p| *p > 0)
        }
    }
}

/// End this instance: the stop command if there is one (a unit: `systemctl stop`), then SIGKILL
/// to exactly this process if it is still there after a grace period.
pub async fn stop(cfg: &ProcessConfig, pidfd: &Pidfd) {
    let stop = match (&cfg.stop, &cfg.target) {
        (Some(cmd), _) => Some(cmd.clone()),
        (None, Target::Unit(unit)) => Some(format!("systemctl stop {}", shell_quote(unit))),
        (None, Target::Pidfile(_)) => None,
    };
    if let Some(cmd) = stop {
        let (ok, detail) = run_shell(&cmd, COMMAND_TIMEOUT).await;
        if !ok {
            tracing::warn!(process = %cfg.name, "stop command failed: {detail}");
        }
        if tokio::time::timeout(STOP_GRACE, pidfd.exited())
            .await
            .is_ok()
        {
            return;
        }
    }
    if let Err(e) = pidfd.signal(libc::SIGKILL) {
        if e.raw_os_error() != Some(libc::ESRCH) {
            tracing::warn!(process = %cfg.name, pid = pidfd.pid(), "cannot kill: {e}");
        }
    }
}

/// Run `cmd` with `sh -c`; (exit status 0, a short description of the outcome).
pub async fn run_shell(cmd: &str, timeout: Duration) -> (bool, String) {
    let child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return (false, format!("cannot run: {e}")),
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => (true, "exit 0".into()),
        Ok(Ok(status)) => (false, status.to_string()),
        Ok(Err(e)) => (false, format!("cannot wait: {e}")),
        Err(_) => (false, format!("timed out after {} ms", timeout.as_millis())),
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
