//! The node's local status (docs/node-monitoring.md#local-status): a Unix socket that answers every
//! connection with one JSON document of what this node's monitors see, then closes. `steward node
//! status` prints it.
//!
//! The document is an object whose top-level keys are sections; a reader ignores sections it does
//! not know, so a monitor added later only adds a key. `processes` is `null` on a node without a
//! process monitor, else each monitored process's state as the monitor sees it at the answer.

use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use steward_agent::{FsStatus, LinkStatus};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

/// What `steward node status` shows.
#[derive(Clone, Debug, Default, Serialize)]
pub struct NodeStatus {
    pub host: String,
    pub links: Vec<LinkStatus>,
    pub filesystems: Vec<FsStatus>,
    pub flags: StatusFlags,
    /// The process monitor's section (each process's state); `null` while this node runs none.
    pub processes: serde_json::Value,
}

/// The node's own flags as the agent keeps them.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct StatusFlags {
    /// The volatile lock flag (the node is locked).
    pub locked: bool,
    /// The non-volatile backup of the lock flag.
    pub locked_backup: bool,
    /// Some monitored network has every port down.
    pub link_down: bool,
    /// Some monitored filesystem is faulty.
    pub filesystem_fault: bool,
}

/// Reads the process monitor's current section (`processes`) when the socket answers.
pub type ProcessSection = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// The status every part of the agent writes its section into.
pub type StatusBoard = Arc<Mutex<NodeStatus>>;

/// Update the board under its lock (a poisoned lock is taken over: the status is only shown).
pub fn update(board: &StatusBoard, f: impl FnOnce(&mut NodeStatus)) {
    let mut g = board.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut g);
    g.flags.link_down = g
        .links
        .iter()
        .any(|l| !l.ports.is_empty() && l.down as usize >= l.ports.len());
    g.flags.filesystem_fault = g.filesystems.iter().any(|f| !f.state.is_ok());
}

fn render(board: &StatusBoard) -> String {
    let g = board.lock().unwrap_or_else(|p| p.into_inner());
    let mut s =
        serde_json::to_string_pretty(&*g).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// Serve `board` on a Unix socket at `path` (a stale socket file there is replaced). Must run
/// inside a tokio runtime; the server ends when the handle is aborted.
/// `processes`, when the node runs a process monitor, fills that section at each answer.
pub fn serve(
    path: &Path,
    board: StatusBoard,
    processes: Option<ProcessSection>,
) -> std::io::Result<JoinHandle<()>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    let path: PathBuf = path.to_path_buf();
    Ok(tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((mut stream, _)) => {
                    if let Some(p) = &processes {
                        let section = p();
                        update(&board, |s| s.processes = section);
                    }
                    let text = render(&board);
                    // One slow reader must not hold up the next: each answer is its own task.
                    tokio::spawn(async move {
                        let _ = stream.write_all(text.as_bytes()).await;
                        let _ = stream.shutdown().await;
                    });
                }
                Err(e) => {
                    tracing::warn!(socket = %path.display(), "status socket accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }))
}

/// Read the status document from the socket at `path` (blocking; for the command line).
pub fn query(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut stream = std::os::unix::net::UnixStream::connect(path)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut text = String::new();
    stream.read_to_string(&mut text)?;
    Ok(text)
}
