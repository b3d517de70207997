//! Key hierarchy: cluster secret → per-node keys (HKDF-SHA256), and the MAC itself (HMAC-SHA256).

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

type HmacSha256 = Hmac<Sha256>;

/// Minimum cluster secret length in bytes.
pub const MIN_SECRET_LEN: usize = 32;
/// Maximum cluster secret length in bytes (anything longer is a configuration mistake).
pub const MAX_SECRET_LEN: usize = 1024;

/// HKDF info label of the key a node signs its own messages with.
pub const NODE_KEY_LABEL: &[u8] = b"steward node key v1";
/// HKDF info label of the key the controllers sign messages *to one node* with.
pub const CONTROLLER_KEY_LABEL: &[u8] = b"steward controller key v1";

/// HKDF info label of the cluster-wide key heartbeat pulses are signed with (no hostname after it).
pub const PULSE_KEY_LABEL: &[u8] = b"steward pulse key v1";

/// Errors building keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("cluster secret must be {MIN_SECRET_LEN}..={MAX_SECRET_LEN} bytes, got {0}")]
    SecretLength(usize),
}

/// The cluster secret. Held by the controllers only; nodes get their [`NodeKeys`]. Zeroized on drop,
/// never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ClusterSecret(Vec<u8>);

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

impl ClusterSecret {
    /// A secret of 32 to 1024 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, KeyError> {
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&bytes.len()) {
            return Err(KeyError::SecretLength(bytes.len()));
        }
        Ok(ClusterSecret(bytes.to_vec()))
    }

    /// Key node `hostname` signs its messages with:
    /// HKDF-SHA256(salt = none, ikm = secret, info = "steward node key v1" || hostname).
    pub fn node_key(&self, hostname: &str) -> MacKey {
        self.derive(NODE_KEY_LABEL, hostname)
    }

    /// Key the controllers sign messages to node `hostname` with:
    /// HKDF-SHA256(salt = none, ikm = secret, info = "steward controller key v1" || hostname).
    ///
    /// Per recipient, because HMAC is symmetric: a single cluster-wide controller key would sit
    /// on every node and let any compromised node forge controller messages to all the others.
    pub fn controller_key(&self, hostname: &str) -> MacKey {
        self.derive(CONTROLLER_KEY_LABEL, hostname)
    }

    /// Key every heartbeat pulse is signed with, the same for the whole cluster:
    /// HKDF-SHA256(salt = none, ikm = secret, info = "steward pulse key v1").
    ///
    /// Cluster-wide on purpose: one multicast (or one sealed-once unicast) pulse cannot carry a MAC
    /// per recipient. Every node holds it to *verify pulses only*; the verifier refuses any other
    /// message signed with it. A compromised node can therefore forge pulses, which only elicit
    /// answers; it cannot forge a command (per-recipient controller key) nor another node's
    /// answer (per-node key). See the crate docs.
    pub fn pulse_key(&self) -> MacKey {
        self.derive(PULSE_KEY_LABEL, "")
    }

    /// The keys node `hostname` is provisioned with.
    pub fn node_keys(&self, hostname: &str) -> NodeKeys {
        NodeKeys {
            own: self.node_key(hostname),
            controller: self.controller_key(hostname),
            pulse: self.pulse_key(),
        }
    }

    fn derive(&self, label: &[u8], hostname: &str) -> MacKey {
        let mut info = Zeroizing::new(Vec::with_capacity(label.len() + hostname.len()));
        info.extend_from_slice(label);
        info.extend_from_slice(hostname.as_bytes());
        let mut okm = [0u8; 32];
        hkdf_sha256(&[], &self.0, &info, &mut okm);
        let key = MacKey(okm);
        okm.zeroize();
        key
    }
}

/// What one node holds: its own signing key and the key that controllers' messages to it are
/// signed with. Neither lets it sign as another node, nor as the controller towards another node.
#[derive(Clone, Debug)]
pub struct NodeKeys {
    pub own: MacKey,
    pub controller: MacKey,
    /// Verifies heartbeat pulses only (cluster-wide; see [`ClusterSecret::pulse_key`]).
    pub pulse: MacKey,
}

/// A 32-byte HMAC-SHA256 key. Zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct MacKey([u8; 32]);

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey(<redacted>)")
    }
}

impl MacKey {
    /// A key from raw bytes (as read from a node's provisioned key file).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        MacKey(bytes)
    }

    /// Raw bytes, for writing a node's key file at provisioning. Handle with care.
    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HMAC-SHA256(key, data) truncated to [`crate::MAC_LEN`] bytes.
    pub fn tag(&self, data: &[u8]) -> [u8; crate::MAC_LEN] {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0).expect("any key length");
        mac.update(data);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; crate::MAC_LEN];
        out.copy_from_slice(&full[..crate::MAC_LEN]);
        out
    }

    /// Constant-time check of a truncated tag.
    pub fn verify(&self, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.0).expect("any key length");
        mac.update(data);
        mac.verify_truncated_left(tag).is_ok() && tag.len() == crate::MAC_LEN
    }
}

/// HKDF-SHA256 (RFC 5869) extract-then-expand; `out.len()` ≤ 255 × 32.
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    assert!(out.len() <= 255 * 32, "HKDF output too long");
    let zero_salt = [0u8; 32];
    let salt = if salt.is_empty() {
        &zero_salt[..]
    } else {
        salt
    };
    let mut ext = <HmacSha256 as Mac>::new_from_slice(salt).expect("any key length");
    ext.update(ikm);
    let mut prk = Zeroizing::new([0u8; 32]);
    let mut t = ext.finalize().into_bytes();
    prk.copy_from_slice(&t);
    t.as_mut_slice().zeroize();
    let mut prev = Zeroizing::new(Vec::<u8>::new());
    for (i, chunk) in out.chunks_mut(32).enumerate() {
        let mut m = <HmacSha256 as Mac>::new_from_slice(&prk[..]).expect("any key length");
        m.update(&prev);
        m.update(info);
        m.update(&[(i + 1) as u8]);
        let mut t = m.finalize().into_bytes();
        chunk.copy_from_slice(&t[..chunk.len()]);
        prev.clear();
        prev.extend_from_slice(&t);
        t.as_mut_slice().zeroize();
    }
}
