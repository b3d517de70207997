//! The node's key file: `{"hostname": "...", "own": "<64 hex>", "controller": "<64 hex>", "pulse": "<64 hex>"}`,
//! mode 0600, written atomically. Provisioned once per node from the cluster secret
//! (`ClusterSecret::node_keys`); the node never sees the secret itself.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use steward_protocol::{ClusterSecret, MacKey, NodeKeys};
use zeroize::{Zeroize, Zeroizing};

/// Why a key file could not be used. Each message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("key file {path} does not exist; provision it from the controller (hostname, own and controller keys)")]
    Missing { path: PathBuf },
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "key file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("key file {path} is not valid: {reason}")]
    Malformed { path: PathBuf, reason: String },
}

#[derive(Serialize, Deserialize)]
struct KeyFileJson {
    hostname: String,
    own: String,
    controller: String,
    pulse: String,
}

impl Drop for KeyFileJson {
    // The hex copies of the keys are as secret as the keys.
    fn drop(&mut self) {
        self.own.zeroize();
        self.controller.zeroize();
        self.pulse.zeroize();
    }
}

/// Derive node `hostname`'s keys from the cluster secret and write its key file (what a
/// controller or an installer does once per host).
pub fn provision(path: &Path, secret: &ClusterSecret, hostname: &str) -> std::io::Result<()> {
    if !steward_protocol::valid_hostname(hostname) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{hostname:?} is not a valid hostname"),
        ));
    }
    save(path, hostname, &secret.node_keys(hostname))
}

/// Lower-case hex of `bytes` (key files, the controller's cluster secret).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The bytes of a hex string (surrounding whitespace ignored); `None` unless every character is a
/// hex digit and their number is even.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.chunks(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

fn from_hex32(s: &str) -> Option<[u8; 32]> {
    let mut v = Zeroizing::new(from_hex(s)?);
    let out: [u8; 32] = v.as_slice().try_into().ok()?;
    v.zeroize();
    Some(out)
}

/// Write `contents` to `path` atomically (a temporary file in the same directory, then rename),
/// mode 0600 from its creation so it is never readable by others, not even briefly.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

/// Write the key file ([`write_private`]: atomic, mode 0600 from its creation).
pub fn save(path: &Path, hostname: &str, keys: &NodeKeys) -> std::io::Result<()> {
    let json = KeyFileJson {
        hostname: hostname.to_string(),
        own: to_hex(keys.own.expose_bytes()),
        controller: to_hex(keys.controller.expose_bytes()),
        pulse: to_hex(keys.pulse.expose_bytes()),
    };
    let text = Zeroizing::new(serde_json::to_vec_pretty(&json).map_err(std::io::Error::other)?);
    write_private(path, &text)
}

/// Read and check a key file: it exists, only its owner can read it, and it holds a valid
/// hostname and two 32-byte keys.
pub fn load(path: &Path) -> Result<(String, NodeKeys), KeyFileError> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => KeyFileError::Missing {
            path: path.to_path_buf(),
        },
        _ => KeyFileError::Read {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    // A key file is a few hundred bytes; refuse anything absurd before reading it.
    if meta.len() > 64 * 1024 {
        return Err(KeyFileError::Malformed {
            path: path.to_path_buf(),
            reason: format!("{} bytes is far too large for a key file", meta.len()),
        });
    }
    let text = Zeroizing::new(std::fs::read(path).map_err(|e| KeyFileError::Read {
        path: path.to_path_buf(),
        source: e,
    })?);
    let bad = |reason: String| KeyFileError::Malformed {
        path: path.to_path_buf(),
        reason,
    };
    let json: KeyFileJson = serde_json::from_slice(&text).map_err(|e| {
        bad(format!(
            "{e} (expected {{\"hostname\", \"own\", \"controller\", \"pulse\"}} with 64 hex digits per key)"
        ))
    })?;
    if !steward_protocol::valid_hostname(&json.hostname) {
        return Err(bad(format!("hostname {:?} is not valid", json.hostname)));
    }
    let mut own =
        from_hex32(&json.own).ok_or_else(|| bad("\"own\" must be 64 hex digits".into()))?;
    let mut controller = from_hex32(&json.controller)
        .ok_or_else(|| bad("\"controller\" must be 64 hex digits".into()))?;
    let mut pulse =
        from_hex32(&json.pulse).ok_or_else(|| bad("\"pulse\" must be 64 hex digits".into()))?;
    let keys = NodeKeys {
        own: MacKey::from_bytes(own),
        controller: MacKey::from_bytes(controller),
        pulse: MacKey::from_bytes(pulse),
    };
    own.zeroize();
    controller.zeroize();
    pulse.zeroize();
    Ok((json.hostname.clone(), keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_protocol::ClusterSecret;

    #[test]
    fn round_trip_and_errors() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("sub/keys.json");
        let secret = ClusterSecret::new(&[7u8; 32]).unwrap_or_else(|e| panic!("{e}"));
        let keys = secret.node_keys("worker-1");
        save(&path, "worker-1", &keys).unwrap_or_else(|e| panic!("{e}"));
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        let (h, k) = load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(h, "worker-1");
        assert_eq!(k.own, keys.own);
        assert_eq!(k.controller, keys.controller);

        let missing = load(&dir.path().join("nope")).err().map(|e| e.to_string());
        assert!(missing.is_some_and(|m| m.contains("does not exist")));

        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
        let perm = load(&path).err().map(|e| e.to_string());
        assert!(perm.is_some_and(|m| m.contains("chmod 600")));

        let _ = std::fs::write(
            &path,
            b"{\"hostname\":\"a\",\"own\":\"zz\",\"controller\":\"00\"}",
        );
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        let bad = load(&path).err().map(|e| e.to_string());
        assert!(bad.is_some_and(|m| m.contains("64 hex digits")));
    }
}
