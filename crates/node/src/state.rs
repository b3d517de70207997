//! The agent's non-volatile state file `<state_dir>/node-state.json`: session high-water mark,
//! last admin state the controller confirmed, highest controller epoch accepted, the node settings
//! a controller last pushed. Written
//! atomically (temporary file, fsync, rename), so aborting the agent at any point leaves either
//! the old or the new file.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use steward_agent::LockState;
use steward_types::NodeSettings;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// Session of the current (or last) run; the next run picks a greater one.
    pub session: Option<u64>,
    /// Last admin state the controller confirmed (LOCKED / UNLOCKED).
    pub lock_state: Option<LockState>,
    /// Highest controller epoch accepted (fencing of deposed controllers survives restarts).
    #[serde(default)]
    pub highest_epoch: u64,
    /// Node settings a controller last pushed (config push); they survive reboots.
    #[serde(default)]
    pub settings: NodeSettings,
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("node-state.json")
}

impl NodeState {
    /// Load; a missing file is a fresh node. An unreadable or corrupt file is reported so the
    /// caller can log it and start fresh (locked, the safe side).
    pub fn load(state_dir: &Path) -> Result<NodeState, String> {
        let p = path(state_dir);
        match std::fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{} is corrupt ({e}); starting as a new install",
                    p.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(NodeState::default()),
            Err(e) => Err(format!(
                "cannot read {}: {e}; starting as a new install",
                p.display()
            )),
        }
    }

    pub fn save(&self, state_dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(state_dir)?;
        let p = path(state_dir);
        // A temporary name of its own per write: a runtime being aborted may still be finishing a
        // save while its successor starts, and a shared name let one rename the other's file away.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = state_dir.join(format!("node-state.json.tmp.{}.{n}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, &p)
    }
}
