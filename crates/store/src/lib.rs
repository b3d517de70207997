//! The controller's persistent store (ARCHITECTURE.md, crates/store): keyed records with
//! compare-and-swap and a fencing epoch on every write.
//!
//! The [`Store`] trait is deliberately the shape of etcd's KV API, so that the replicated backend is a
//! second implementation of the trait and not a rewrite. Two implementations live here:
//!
//! * [`RedbStore`]: the default, embedded in one file `<data-dir>/steward.redb`;
//! * [`MemStore`]: an in-memory reference implementation, used as the model in property tests and
//!   handy for tests of the layers above.
//!
//! A controller opens its data dir like this:
//!
//! ```no_run
//! use std::sync::Arc;
//! use steward_store::{typed::TypedStore, RedbStore, Retention, SecretBox, Store};
//! # fn main() -> Result<(), steward_store::StoreError> {
//! let dir = std::path::Path::new("/var/lib/steward");
//! let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir, Retention::default())?);
//! let epoch = store.epoch()? + 1; // single controller; with etcd the lease gives the epoch
//! store.acquire_epoch(epoch)?;
//! let typed = TypedStore::new(store, SecretBox::load_or_create(dir)?, epoch);
//! typed.verify_bmc_secrets()?;
//! # Ok(()) }
//! ```
//!
//! The [`typed`] module maps the maintenance core's records onto keys; [`SecretBox`] encrypts BMC
//! passwords at rest.
//!
//! # Key layout
//!
//! Keys are UTF-8 strings in `/`-separated namespaces; values are bytes (serde_json of the typed records).
//!
//! | key                       | value                                                   |
//! |---------------------------|---------------------------------------------------------|
//! | `hosts/<name>`            | `steward_maintenance::host::HostRecord`                 |
//! | `bmc/<name>`              | [`typed::BmcCredential`], password sealed by [`SecretBox`] |
//! | `alarms/<id>/<host>`      | `steward_maintenance::alarm::Alarm` (the active set; `<id>` is e.g. `200.004`) |
//! | `events/<seq:020>`        | [`typed::Stamped`]`<CustomerLog>` (appended log)         |
//! | `journal/<seq:020>`       | [`typed::Stamped`]`<JournalEntry>` (appended log)        |
//! | `meta/next_action_id`     | the next `ActionId` to hand out (u64, JSON)             |
//! | `hostids/<name>`          | [`typed::HostIdentity`]: the host's integer id, added/changed times |
//! | `meta/next_host_id`       | the next integer host id to hand out (u64, JSON; never reused) |
//!
//! Outside the key space the store keeps its own bookkeeping: the fencing epoch (`meta/epoch`), the
//! store revision, and per-log sequence counters. They are read with [`Store::epoch`] and
//! [`Store::revision`] and are never returned by [`Store::list`].
//!
//! # Guarantees
//!
//! * **Revisions.** The store has one revision counter, starting at 0. Every committed write (a
//!   [`Store::txn`] with at least one op, and so every `put`, `delete` and `append`) raises it by exactly
//!   one, and every key the write touched carries that revision (etcd's `mod_revision`). A revision
//!   is therefore never reused, even for a key deleted and created again.
//! * **Compare-and-swap.** Each write carries an [`Expect`]: `Any`, `Absent` (the key does not exist)
//!   or `Revision(r)` (the key exists with revision `r`). A failed expectation is
//!   [`StoreError::Conflict`] with the current revision, and nothing is written.
//! * **Atomic batches.** [`Store::txn`] applies its ops in order (each op sees the ones before it) and
//!   commits all of them or none: one failed expectation aborts the whole batch. A core step's host
//!   record, alarms, event and journal entries are written in one txn.
//! * **Fencing.** The store holds the highest epoch acquired. [`Store::acquire_epoch`] only raises it;
//!   every write names its writer's epoch and is refused with [`StoreError::Fenced`] if that is lower
//!   than the current one (a deposed controller can never write after a newer one took over) and
//!   with [`StoreError::EpochAhead`] if it is higher (an epoch must be acquired before it is used).
//! * **Durability.** [`RedbStore`] fsyncs every commit before acknowledging it
//!   (`redb::Durability::Immediate`): a write that returned `Ok` survives a SIGKILL or a power cut
//!   at any instant, and a killed writer leaves a file that opens cleanly (`tests/crash.rs`).
//! * **Logs.** [`Store::append`] gives a log entry the next sequence number of its prefix (from 1,
//!   never reused) under the key `<prefix><seq:020>`, so keys sort in append order; a [`Retention`]
//!   bound per prefix trims the oldest entries in the same commit.
//! * **Crash-safe creation.** A new store file is built under a temporary name and linked into
//!   place, so a controller killed on its very first start leaves either no store or a complete one.
//! * **Files.** `steward.redb` and `secret.key` are created with mode 0600; a `secret.key` readable by
//!   others is refused. BMC passwords are sealed (ChaCha20-Poly1305, random nonce per record, the
//!   record's key as associated data): neither the stored JSON nor any byte of the file holds them.
//!   [`typed::TypedStore::verify_bmc_secrets`] reports a lost or replaced key at start.
//! * **Single writer.** The redb file is locked: a second controller on the same data dir is refused
//!   at open ("another steward controller is using this data dir").

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod mem;
mod redb_store;
mod secret;
pub mod typed;
pub mod writeahead;

pub use mem::MemStore;
pub use redb_store::{RedbStore, DB_FILE};
pub use secret::{Password, Sealed, SecretBox, KEY_FILE};

use std::collections::BTreeMap;
use std::path::PathBuf;

/// A value with the store revision of its last write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    pub revision: u64,
    pub value: Vec<u8>,
}

/// The condition a write puts on the key's current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Write whatever the key's state.
    Any,
    /// The key must not exist.
    Absent,
    /// The key must exist with exactly this revision.
    Revision(u64),
}

impl Expect {
    /// Whether a key whose current revision is `current` (None: absent) satisfies the expectation.
    pub fn holds(self, current: Option<u64>) -> bool {
        match self {
            Expect::Any => true,
            Expect::Absent => current.is_none(),
            Expect::Revision(r) => current == Some(r),
        }
    }
}

/// One operation of a [`Store::txn`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
        expect: Expect,
    },
    Delete {
        key: String,
        expect: Expect,
    },
    /// Append to the log under `prefix` (see [`Store::append`]); appends never conflict.
    Append {
        prefix: String,
        value: Vec<u8>,
    },
}

/// What a committed [`Store::txn`] did.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Committed {
    /// The store revision after the commit (the revision of every key written), or the unchanged
    /// revision for an empty batch.
    pub revision: u64,
    /// The sequence numbers given to the batch's [`Op::Append`]s, in order.
    pub seqs: Vec<u64>,
}

/// Errors of the store. `Conflict` and `Fenced` are expected outcomes the caller acts on; the rest
/// are faults.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A compare-and-swap expectation failed; nothing was written.
    #[error("conflict on {key}: expected {expected:?}, current revision {current:?}")]
    Conflict {
        key: String,
        expected: Expect,
        current: Option<u64>,
    },
    /// The writer's epoch is older than the store's: another controller took over.
    #[error("fenced: epoch {epoch} is older than the store's epoch {current_epoch}; another controller took over")]
    Fenced { epoch: u64, current_epoch: u64 },
    /// The writer's epoch was never acquired.
    #[error("epoch {epoch} is ahead of the store's epoch {current_epoch}: acquire it first")]
    EpochAhead { epoch: u64, current_epoch: u64 },
    #[error("invalid key {0:?}: keys are non-empty and contain no NUL")]
    InvalidKey(String),
    /// The store could not be opened; the message names the file and the fix.
    #[error("{0}")]
    Open(String),
    #[error("store backend error: {0}")]
    Backend(String),
    #[error("corrupt store data at {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("secret key {path}: {reason}")]
    SecretKey { path: PathBuf, reason: String },
    #[error("cannot decrypt {key}: wrong secret.key or tampered record")]
    Decrypt { key: String },
}

/// Bound on the number of entries kept per log prefix; the oldest are trimmed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    pub default_max: u64,
    pub per_prefix: BTreeMap<String, u64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            default_max: 10_000,
            per_prefix: BTreeMap::new(),
        }
    }
}

impl Retention {
    pub fn uniform(max: u64) -> Self {
        Retention {
            default_max: max,
            per_prefix: BTreeMap::new(),
        }
    }

    pub fn with(mut self, prefix: &str, max: u64) -> Self {
        self.per_prefix.insert(prefix.to_owned(), max);
        self
    }

    /// The bound for `prefix` (at least 1).
    pub fn max_for(&self, prefix: &str) -> u64 {
        self.per_prefix
            .get(prefix)
            .copied()
            .unwrap_or(self.default_max)
            .max(1)
    }
}

/// The key of entry `seq` of the log under `prefix`: zero-padded so keys sort in append order.
pub fn log_key(prefix: &str, seq: u64) -> String {
    format!("{prefix}{seq:020}")
}

/// The sequence number in a log key made by [`log_key`].
pub fn log_seq(prefix: &str, key: &str) -> Option<u64> {
    key.strip_prefix(prefix)?.parse().ok()
}

pub(crate) fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.contains('\0') {
        return Err(StoreError::InvalidKey(key.to_owned()));
    }
    Ok(())
}

pub(crate) fn check_epoch(epoch: u64, current_epoch: u64) -> Result<(), StoreError> {
    if epoch < current_epoch {
        Err(StoreError::Fenced {
            epoch,
            current_epoch,
        })
    } else if epoch > current_epoch {
        Err(StoreError::EpochAhead {
            epoch,
            current_epoch,
        })
    } else {
        Ok(())
    }
}

/// The store interface. Implementations are linearizable: each call is atomic, and every write checks
/// its epoch and expectations and commits in one step.
pub trait Store: Send + Sync {
    /// The value and revision of `key`.
    fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Every key starting with `prefix`, in byte order of the key.
    fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError>;

    /// Apply `ops` in order, all or nothing, as writer `epoch`.
    fn txn(&self, ops: &[Op], epoch: u64) -> Result<Committed, StoreError>;

    /// Raise the store's epoch to `epoch`, which must be greater than the current one (else
    /// [`StoreError::Fenced`]). Writes with an older epoch are refused from then on.
    fn acquire_epoch(&self, epoch: u64) -> Result<(), StoreError>;

    /// The highest epoch acquired (0 for a new store).
    fn epoch(&self) -> Result<u64, StoreError>;

    /// The store revision: the revision of the last committed write (0 for a new store).
    fn revision(&self) -> Result<u64, StoreError>;

    /// Write `key` if `expect` holds; returns the new revision.
    fn put(&self, key: &str, value: &[u8], expect: Expect, epoch: u64) -> Result<u64, StoreError> {
        let op = Op::Put {
            key: key.to_owned(),
            value: value.to_vec(),
            expect,
        };
        Ok(self.txn(&[op], epoch)?.revision)
    }

    /// Delete `key` if `expect` holds (deleting an absent key with `Any` succeeds); returns the new
    /// revision.
    fn delete(&self, key: &str, expect: Expect, epoch: u64) -> Result<u64, StoreError> {
        let op = Op::Delete {
            key: key.to_owned(),
            expect,
        };
        Ok(self.txn(&[op], epoch)?.revision)
    }

    /// Append `value` to the log under `prefix` at key [`log_key`]`(prefix, seq)`; returns `seq`.
    /// Entries beyond the prefix's [`Retention`] bound are trimmed, oldest first, in the same commit.
    fn append(&self, prefix: &str, value: &[u8], epoch: u64) -> Result<u64, StoreError> {
        let op = Op::Append {
            prefix: prefix.to_owned(),
            value: value.to_vec(),
        };
        Ok(self.txn(&[op], epoch)?.seqs[0])
    }
}

#[cfg(test)]
mod tests;
