//! `steward node collect`: the node's part of a support bundle, gathered on the host itself (run it
//! there, or over ssh: `ssh worker-0 steward-node collect --output - > worker-0.tar.gz`). The
//! node protocol's datagrams are too small to carry it to the controller.
//!
//! One `.tar.gz` with `MANIFEST.json` listing every file and what could not be gathered, and why:
//! the agent's persisted state, the lock flag pair (present or not, modified when), what the running
//! agent's status socket says (links, filesystems, flags), the go-enabled and services scripts
//! (names and modes: their results are in the agent's log), the key file's metadata — never its
//! keys — and the agent's recent log from the journal.
//!
//! Secrets never reach the bundle: JSON values under a key naming a password, secret, token or key
//! are replaced, and the key file's hex keys are blanked wherever they appear in any text.

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// What to gather: the agent's paths, as it runs with them.
#[derive(Clone, Debug)]
pub struct CollectPaths {
    pub keys: PathBuf,
    pub state_dir: PathBuf,
    pub lock_flag: PathBuf,
    pub lock_flag_backup: PathBuf,
    pub goenabled_dir: PathBuf,
    pub services_dir: PathBuf,
    pub status_socket: PathBuf,
    /// The systemd unit whose journal is the agent's log; `None`: no log.
    pub unit: Option<String>,
    /// Journal lines to keep.
    pub log_lines: u32,
}

/// What a secret is replaced by in a support bundle (the node's and the controller's).
pub const REDACTED: &str = "<redacted>";

/// Whether a JSON key names a secret (shared with `steward collect`).
pub fn secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "passphrase",
        "private",
        "key",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// The bundle being written: its folder, the secrets to blank, the manifest's entries.
struct Bundle {
    root: PathBuf,
    secrets: Vec<String>,
    files: Vec<Value>,
    missing: Vec<Value>,
}

impl Bundle {
    fn blank(&self, mut text: String) -> String {
        for s in &self.secrets {
            if !s.is_empty() && text.contains(s.as_str()) {
                text = text.replace(s.as_str(), REDACTED);
            }
        }
        text
    }

    fn redact(&self, v: Value) -> Value {
        match v {
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = if secret_key(&k) && !v.is_null() {
                            Value::String(REDACTED.into())
                        } else {
                            self.redact(v)
                        };
                        (k, v)
                    })
                    .collect::<Map<String, Value>>(),
            ),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| self.redact(v)).collect())
            }
            Value::String(s) => Value::String(self.blank(s)),
            other => other,
        }
    }

    fn write_text(&mut self, rel: &str, what: &str, text: String) -> Result<()> {
        let text = self.blank(text);
        let path = self.root.join(rel);
        std::fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
        self.files
            .push(json!({ "path": rel, "what": what, "bytes": text.len() }));
        Ok(())
    }

    fn write_json(&mut self, rel: &str, what: &str, body: Value) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.redact(body))
            .with_context(|| format!("cannot encode {rel}"))?;
        self.write_text(rel, what, format!("{text}\n"))
    }

    fn missing(&mut self, what: &str, why: String) {
        self.missing.push(json!({ "what": what, "why": why }));
    }
}

/// A file's presence, size, mode and modification time (seconds since the epoch).
fn file_facts(path: &Path) -> Value {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(m) => json!({
            "path": path,
            "present": true,
            "bytes": m.len(),
            "mode": format!("{:o}", m.permissions().mode() & 0o7777),
            "modified_unix": m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
        }),
        Err(e) => json!({ "path": path, "present": false, "error": e.to_string() }),
    }
}

/// The hex keys of the key file, to blank wherever they appear (the file itself is never copied).
fn key_strings(keys: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(keys) else {
        return Vec::new();
    };
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(&text) else {
        return Vec::new();
    };
    doc.into_iter()
        .filter(|(k, _)| k != "hostname")
        .filter_map(|(_, v)| v.as_str().map(str::to_string))
        .filter(|s| s.len() >= 16)
        .collect()
}

fn scripts(dir: &Path) -> Value {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut list: Vec<Value> = entries
                .flatten()
                .map(|e| {
                    let mode = e.metadata().map(|m| m.permissions().mode()).unwrap_or(0);
                    json!({
                        "name": e.file_name().to_string_lossy(),
                        "mode": format!("{:o}", mode & 0o7777),
                        "executable": mode & 0o111 != 0,
                    })
                })
                .collect();
            list.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
            json!({ "dir": dir, "scripts": list })
        }
        Err(e) => json!({ "dir": dir, "error": e.to_string() }),
    }
}

/// A private working folder, removed when dropped (no tempfile dependency in the agent's binary).
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<WorkDir> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "steward-node-collect.{}.{nanos}",
            std::process::id()
        ));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Gather everything into `<work>/<name>/` and pack it as `output` (`-`: standard output).
pub fn collect(paths: &CollectPaths, output: Option<&Path>) -> Result<PathBuf> {
    let host = crate::keyfile::load(&paths.keys)
        .map(|(h, _)| h)
        .unwrap_or_else(|_| "unknown-host".into());
    let name = format!("steward-node-collect-{host}");
    let work = WorkDir::new()?;
    let root = work.0.join(&name);
    std::fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    let mut b = Bundle {
        root,
        secrets: key_strings(&paths.keys),
        files: Vec::new(),
        missing: Vec::new(),
    };

    let state_path = crate::state::path(&paths.state_dir);
    match std::fs::read_to_string(&state_path) {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(v) => b.write_json("agent-state.json", "the agent's persisted state", v)?,
            Err(e) => {
                b.write_text(
                    "agent-state.json",
                    "the agent's persisted state (not JSON)",
                    text,
                )?;
                b.missing(
                    "agent state as JSON",
                    format!("{}: {e}", state_path.display()),
                );
            }
        },
        Err(e) => b.missing("agent state", format!("{}: {e}", state_path.display())),
    }
    b.write_json(
        "lock-flags.json",
        "the node-locked flag pair (volatile, non-volatile backup)",
        json!({
            "volatile": file_facts(&paths.lock_flag),
            "backup": file_facts(&paths.lock_flag_backup),
        }),
    )?;
    b.write_json(
        "key-file.json",
        "the key file's metadata (the keys are never collected)",
        file_facts(&paths.keys),
    )?;
    b.write_json(
        "scripts.json",
        "go-enabled and services scripts (their results are in the agent's log)",
        json!({
            "goenabled": scripts(&paths.goenabled_dir),
            "services": scripts(&paths.services_dir),
        }),
    )?;
    match crate::status::query(&paths.status_socket) {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(v) => b.write_json(
                "status.json",
                "the running agent's status: links, filesystems, flags",
                v,
            )?,
            Err(e) => b.missing("agent status", format!("not JSON: {e}")),
        },
        Err(e) => b.missing(
            "agent status",
            format!(
                "{}: {e} (is the agent running?)",
                paths.status_socket.display()
            ),
        ),
    }
    match &paths.unit {
        None => b.missing(
            "agent log",
            "no systemd unit to read the journal of (`--unit none`; a lab machine's agent logs to the lab's own output)"
                .into(),
        ),
        Some(unit) => match std::process::Command::new("journalctl")
            .args(["--no-pager", "-o", "short-iso", "-u", unit, "-n"])
            .arg(paths.log_lines.to_string())
            .output()
        {
            Ok(out) if out.status.success() => b.write_text(
                "agent.log",
                &format!("the journal of {unit}"),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )?,
            Ok(out) => b.missing(
                "agent log",
                format!(
                    "journalctl -u {unit}: {} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ),
            Err(e) => b.missing("agent log", format!("cannot run journalctl: {e}")),
        },
    }

    let manifest = json!({
        "kind": "steward node collect",
        "host": host,
        "collected_unix": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        "files": b.files,
        "missing": b.missing,
    });
    let text = serde_json::to_string_pretty(&manifest).context("cannot encode the manifest")?;
    std::fs::write(b.root.join("MANIFEST.json"), format!("{text}\n"))
        .context("cannot write the manifest")?;

    let output = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(format!("{name}.tar.gz")));
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&output)
        .arg("-C")
        .arg(&work.0)
        .arg(&name)
        .status()
        .context("cannot run tar")?;
    if !status.success() {
        bail!("tar could not write {} ({status})", output.display());
    }
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_and_key_strings_are_redacted_at_any_depth() {
        let b = Bundle {
            root: PathBuf::new(),
            secrets: vec!["ab".repeat(32)],
            files: Vec::new(),
            missing: Vec::new(),
        };
        let v = b.redact(json!({
            "session": 7,
            "nested": [{"own_key": "x", "note": format!("saw {}", "ab".repeat(32))}],
        }));
        assert_eq!(v["session"], 7);
        assert_eq!(v["nested"][0]["own_key"], REDACTED);
        assert_eq!(v["nested"][0]["note"], format!("saw {REDACTED}"));
    }
}
