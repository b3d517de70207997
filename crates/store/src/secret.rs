//! Encryption at rest for BMC passwords.
//!
//! [`SecretBox`] holds a 32-byte key read from `<data-dir>/secret.key` (created on first start from
//! the OS random source, mode 0600, written to a temporary file and linked into place so a crash never
//! leaves a half-written key). Records are sealed with ChaCha20-Poly1305 under a fresh random 96-bit
//! nonce, with the record's key as associated data so a sealed value cannot be moved to another
//! record. [`Password`] never prints its content.

use crate::StoreError;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// The key file's name inside the data dir.
pub const KEY_FILE: &str = "secret.key";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// A password. Debug and Display print `<redacted>`; it has no serde impl, so it can only reach the
/// store sealed. The bytes are overwritten on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }

    /// The plaintext, for handing to a BMC client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Drop for Password {
    fn drop(&mut self) {
        // SAFETY: zero bytes are valid UTF-8; the string is dropped right after.
        for b in unsafe { self.0.as_bytes_mut() } {
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// A sealed value as stored: hex nonce and hex ciphertext (with its 16-byte tag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    pub nonce: String,
    pub ciphertext: String,
}

/// Seals and opens secrets with the data dir's key.
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
    path: PathBuf,
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn random(buf: &mut [u8]) -> Result<(), StoreError> {
    getrandom::getrandom(buf).map_err(|e| StoreError::Backend(format!("OS random source: {e}")))
}

impl SecretBox {
    /// A box over an explicit key (tests, or a key held elsewhere).
    pub fn from_key(key: [u8; KEY_LEN]) -> Self {
        SecretBox {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            path: PathBuf::new(),
        }
    }

    /// Load `<data-dir>/secret.key`, creating it (32 random bytes, mode 0600) on first start.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(KEY_FILE);
        let err = |reason: String| StoreError::SecretKey {
            path: path.clone(),
            reason,
        };
        fs::create_dir_all(data_dir).map_err(|e| err(format!("cannot create data dir: {e}")))?;
        match fs::symlink_metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => Self::create(data_dir, &path)?,
            Err(e) => return Err(err(format!("{e}; fix the data dir's permissions"))),
        }
        let mut file = fs::File::open(&path).map_err(|e| {
            err(format!(
                "{e}; the controller must be able to read its key (check owner and mode)"
            ))
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = file
                .metadata()
                .map_err(|e| err(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(err(format!(
                    "mode {:o} lets other users read the key; run `chmod 600 {}`",
                    mode & 0o777,
                    path.display()
                )));
            }
        }
        let mut key = Vec::new();
        file.read_to_end(&mut key).map_err(|e| err(e.to_string()))?;
        let key: [u8; KEY_LEN] = key.as_slice().try_into().map_err(|_| {
            err(format!(
                "holds {} bytes, expected {KEY_LEN}; restore it from a backup (the BMC passwords \
                 sealed with it cannot be read without it)",
                key.len()
            ))
        })?;
        Ok(SecretBox {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            path,
        })
    }

    fn create(data_dir: &Path, path: &Path) -> Result<(), StoreError> {
        let err = |reason: String| StoreError::SecretKey {
            path: path.to_owned(),
            reason,
        };
        let mut key = [0u8; KEY_LEN];
        random(&mut key)?;
        let tmp = data_dir.join(format!("{KEY_FILE}.tmp.{}", std::process::id()));
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&tmp)
            .map_err(|e| err(format!("cannot create {}: {e}", tmp.display())))?;
        f.write_all(&key)
            .and_then(|_| f.sync_all())
            .map_err(|e| err(format!("cannot write {}: {e}", tmp.display())))?;
        drop(f);
        // Link, not rename: never replace a key another process created meanwhile.
        let linked = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(err(format!("cannot create: {e}"))),
        }
        if let Ok(dir) = fs::File::open(data_dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// The key file this box was loaded from (empty for [`SecretBox::from_key`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Seal `plaintext` for the record at `key` (bound as associated data).
    pub fn seal(&self, key: &str, plaintext: &[u8]) -> Result<Sealed, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        random(&mut nonce)?;
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: key.as_bytes(),
                },
            )
            .map_err(|_| StoreError::Backend("encryption failed".into()))?;
        Ok(Sealed {
            nonce: hex(&nonce),
            ciphertext: hex(&ct),
        })
    }

    /// Open a value sealed for the record at `key`.
    pub fn open(&self, key: &str, sealed: &Sealed) -> Result<Vec<u8>, StoreError> {
        let bad = || StoreError::Decrypt {
            key: key.to_owned(),
        };
        let nonce = unhex(&sealed.nonce)
            .filter(|n| n.len() == NONCE_LEN)
            .ok_or_else(bad)?;
        let ct = unhex(&sealed.ciphertext).ok_or_else(bad)?;
        self.cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: key.as_bytes(),
                },
            )
            .map_err(|_| bad())
    }

    pub fn seal_password(&self, key: &str, password: &Password) -> Result<Sealed, StoreError> {
        self.seal(key, password.expose().as_bytes())
    }

    pub fn open_password(&self, key: &str, sealed: &Sealed) -> Result<Password, StoreError> {
        let bytes = self.open(key, sealed)?;
        String::from_utf8(bytes)
            .map(Password)
            .map_err(|_| StoreError::Decrypt {
                key: key.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_prints() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p} {p:?}"), "<redacted> <redacted>");
        assert_eq!(p.expose(), "hunter2");
    }

    #[test]
    fn seal_round_trip_fresh_nonce_and_bound_to_key() {
        let b = SecretBox::from_key([7; 32]);
        let p = Password::new("s3cret");
        let a = b.seal_password("bmc/h1", &p).unwrap();
        let a2 = b.seal_password("bmc/h1", &p).unwrap();
        assert_ne!(a.nonce, a2.nonce);
        assert_eq!(b.open_password("bmc/h1", &a).unwrap(), p);
        assert!(matches!(
            b.open_password("bmc/h2", &a),
            Err(StoreError::Decrypt { .. })
        ));
        let other = SecretBox::from_key([8; 32]);
        assert!(other.open_password("bmc/h1", &a).is_err());
    }

    #[test]
    fn key_file_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let b1 = SecretBox::load_or_create(dir.path()).unwrap();
        let sealed = b1.seal("k", b"x").unwrap();
        let b2 = SecretBox::load_or_create(dir.path()).unwrap();
        assert_eq!(b2.open("k", &sealed).unwrap(), b"x");
        let path = dir.path().join(KEY_FILE);
        assert_eq!(fs::read(&path).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            let e = SecretBox::load_or_create(dir.path()).unwrap_err();
            assert!(e.to_string().contains("chmod 600"), "{e}");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
        fs::write(&path, b"short").unwrap();
        let e = SecretBox::load_or_create(dir.path()).unwrap_err();
        assert!(e.to_string().contains("expected 32"), "{e}");
        // No temporary files left behind.
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(KEY_FILE)]);
    }
}
