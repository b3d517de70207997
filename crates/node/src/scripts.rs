//! Running a script set: every executable in a directory, in parallel, with one argument and a
//! timeout each; a script over its timeout is killed (with its process group).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use steward_agent::{summarize, RunOutcome, ScriptExit};
use tokio::task::JoinSet;

/// Most scripts run from one directory (a bound, not a expectation).
pub const MAX_SCRIPTS: usize = 64;

/// The executables of `dir`, by name, hidden files and editor leftovers skipped.
fn executables(dir: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.ends_with('~') {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            out.push((name, path));
        }
    }
    out.sort();
    Ok(out)
}

async fn run_one(path: PathBuf, arg: &'static str, timeout: Duration) -> ScriptExit {
    let mut cmd = tokio::process::Command::new(&path);
    cmd.arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Own process group, so a timeout kills what the script started too; kill_on_drop so
        // aborting the agent (a simulated reboot) never leaves a script behind.
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return ScriptExit::NotStarted {
                error: e.to_string(),
            }
        }
    };
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => ScriptExit::Passed,
        Ok(Ok(status)) => ScriptExit::Failed {
            code: status.code(),
        },
        Ok(Err(e)) => ScriptExit::NotStarted {
            error: e.to_string(),
        },
        Err(_) => {
            if let Some(pid) = child.id() {
                // SAFETY: kill(2) with a negative pid signals the process group we created for
                // this child; no memory is involved.
                unsafe {
                    libc::kill(-(pid as i32), libc::SIGKILL);
                }
            }
            let _ = child.kill().await;
            ScriptExit::TimedOut
        }
    }
}

/// Run every executable of `dir` with `arg`, in parallel, each within `timeout`.
/// A missing or empty directory passes (there is nothing to fail), as in StarlingX.
pub async fn run_dir(dir: &Path, arg: &'static str, timeout: Duration) -> RunOutcome {
    let scripts = match executables(dir) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return RunOutcome {
                passed: true,
                detail: format!("no scripts ({} does not exist)", dir.display()),
            }
        }
        Err(e) => {
            return RunOutcome {
                passed: false,
                detail: format!("cannot list {}: {e}", dir.display()),
            }
        }
    };
    if scripts.len() > MAX_SCRIPTS {
        return RunOutcome {
            passed: false,
            detail: format!(
                "{} holds {} scripts, more than {MAX_SCRIPTS}",
                dir.display(),
                scripts.len()
            ),
        };
    }
    let mut set = JoinSet::new();
    for (name, path) in scripts {
        set.spawn(async move { (name, run_one(path, arg, timeout).await) });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(x) => results.push(x),
            Err(e) => results.push((
                "<runner>".to_string(),
                ScriptExit::NotStarted {
                    error: e.to_string(),
                },
            )),
        }
    }
    summarize(results)
}
