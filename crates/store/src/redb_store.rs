//! [`RedbStore`]: the embedded [`Store`] in one redb file, `<data-dir>/steward.redb`.
//!
//! Two tables: `records` maps a key to its revision (8 bytes, big-endian) followed by the value, and
//! `sys` holds the bookkeeping (`epoch`, `revision`, and `log_first/<prefix>` / `log_next/<prefix>`
//! per log). Every call is one redb transaction; writes are committed with
//! `Durability::Immediate`, which fsyncs before the commit returns.

use crate::{
    check_epoch, check_key, log_key, Committed, Op, Retention, Store, StoreError, Versioned,
};
use redb::{Database, DatabaseError, Durability, ReadableTable, TableDefinition, WriteTransaction};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The store file's name inside the data dir.
pub const DB_FILE: &str = "steward.redb";

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
const SYS: TableDefinition<&str, u64> = TableDefinition::new("sys");

const EPOCH: &str = "epoch";
const REVISION: &str = "revision";

/// The embedded store. One process at a time may hold a data dir open.
pub struct RedbStore {
    db: Database,
    path: PathBuf,
    retention: Retention,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .field("retention", &self.retention)
            .finish()
    }
}

fn backend(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(e.into().to_string())
}

fn encode(revision: u64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    out.extend_from_slice(&revision.to_be_bytes());
    out.extend_from_slice(value);
    out
}

fn decode(key: &str, raw: &[u8]) -> Result<Versioned, StoreError> {
    if raw.len() < 8 {
        return Err(StoreError::Corrupt {
            key: key.to_owned(),
            reason: format!("record of {} bytes has no revision", raw.len()),
        });
    }
    let (rev, value) = raw.split_at(8);
    Ok(Versioned {
        revision: u64::from_be_bytes(rev.try_into().expect("8 bytes")),
        value: value.to_vec(),
    })
}

fn open_error(path: &Path, e: DatabaseError) -> StoreError {
    let p = path.display();
    StoreError::Open(match e {
        DatabaseError::DatabaseAlreadyOpen => format!(
            "cannot open {p}: another steward controller is using this data dir (the file is locked); \
             stop that controller, or give this one another --data-dir"
        ),
        DatabaseError::Storage(redb::StorageError::Io(io)) if io.kind() == ErrorKind::PermissionDenied => {
            format!(
                "cannot open {p}: permission denied; the controller needs read and write access to the \
                 data dir and this file (fix owner/mode, or pass another --data-dir)"
            )
        }
        DatabaseError::UpgradeRequired(v) => format!(
            "cannot open {p}: the file is in an old format (version {v}); upgrade it with the steward \
             release that wrote it, or move it aside to start empty"
        ),
        other => format!(
            "cannot open {p}: {other}; if the file is damaged, restore it from a backup or move it aside \
             to start with an empty store"
        ),
    })
}

const TMP_PREFIX: &str = "steward.redb.creating.";

fn init_tables(db: &Database) -> Result<(), StoreError> {
    let wtx = db.begin_write().map_err(backend)?;
    {
        wtx.open_table(RECORDS).map_err(backend)?;
        wtx.open_table(SYS).map_err(backend)?;
    }
    wtx.commit().map_err(backend)
}

/// Create a new, initialised store file under a temporary name and link it into place: redb's own
/// file creation is not atomic, and a controller killed while creating it would leave a file that
/// does not open.
fn create_atomically(data_dir: &Path, path: &Path) -> Result<(), StoreError> {
    let tmp = data_dir.join(format!("{TMP_PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let db = Database::create(&tmp).map_err(|e| open_error(&tmp, e))?;
    init_tables(&db)?;
    drop(db);
    let io = |what: &str, e: std::io::Error| {
        StoreError::Open(format!(
            "cannot {what} {}: {e}; fix the data dir's permissions or pass another --data-dir",
            path.display()
        ))
    };
    // The store is the controller's alone (BMC passwords are sealed, but hosts and alarms are not).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| io("set the mode of", e))?;
    }
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("sync the new store", e))?;
    // Link, not rename: never replace a store another process created meanwhile.
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        // Another process created it (and may have removed our temporary as stale): use theirs.
        Err(e)
            if matches!(e.kind(), ErrorKind::AlreadyExists | ErrorKind::NotFound)
                && path.exists() => {}
        Err(e) => return Err(io("create", e)),
    }
    std::fs::File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io("sync the data dir of", e))
}

/// Temporaries left by controllers killed while creating the store. Called with the store open, so
/// the store exists and no creation can still be under way.
fn remove_stale_temporaries(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl RedbStore {
    /// Open (creating if needed) the store in `data_dir`, which is created if missing. A file left by
    /// a killed controller is recovered on open.
    pub fn open(data_dir: &Path, retention: Retention) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Open(format!(
                "cannot create data dir {}: {e}; fix its permissions or pass another --data-dir",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE);
        if !path.exists() {
            create_atomically(data_dir, &path)?;
        }
        let db = Database::open(&path).map_err(|e| open_error(&path, e))?;
        init_tables(&db)?;
        remove_stale_temporaries(data_dir);
        Ok(RedbStore {
            db,
            path,
            retention,
        })
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sys_get(&self, name: &str) -> Result<u64, StoreError> {
        let rtx = self.db.begin_read().map_err(backend)?;
        let sys = rtx.open_table(SYS).map_err(backend)?;
        let v = sys.get(name).map_err(backend)?.map(|g| g.value());
        Ok(v.unwrap_or(0))
    }

    fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        let mut wtx = self.db.begin_write().map_err(backend)?;
        wtx.set_durability(Durability::Immediate);
        Ok(wtx)
    }

    fn apply(
        &self,
        wtx: &WriteTransaction,
        ops: &[Op],
        epoch: u64,
    ) -> Result<Committed, StoreError> {
        let mut sys = wtx.open_table(SYS).map_err(backend)?;
        let mut records = wtx.open_table(RECORDS).map_err(backend)?;
        let current_epoch = sys
            .get(EPOCH)
            .map_err(backend)?
            .map(|g| g.value())
            .unwrap_or(0);
        check_epoch(epoch, current_epoch)?;
        let old = sys
            .get(REVISION)
            .map_err(backend)?
            .map(|g| g.value())
            .unwrap_or(0);
        if ops.is_empty() {
            return Ok(Committed {
                revision: old,
                seqs: vec![],
            });
        }
        let revision = old + 1;
        let mut seqs = Vec::new();
        for op in ops {
            match op {
                Op::Put { key, value, expect } => {
                    check_key(key)?;
                    let current = match records.get(key.as_str()).map_err(backend)? {
                        Some(g) => Some(decode(key, g.value())?.revision),
                        None => None,
                    };
                    if !expect.holds(current) {
                        return Err(StoreError::Conflict {
                            key: key.clone(),
                            expected: *expect,
                            current,
                        });
                    }
                    records
                        .insert(key.as_str(), encode(revision, value).as_slice())
                        .map_err(backend)?;
                }
                Op::Delete { key, expect } => {
                    check_key(key)?;
                    let current = match records.get(key.as_str()).map_err(backend)? {
                        Some(g) => Some(decode(key, g.value())?.revision),
                        None => None,
                    };
                    if !expect.holds(current) {
                        return Err(StoreError::Conflict {
                            key: key.clone(),
                            expected: *expect,
                            current,
                        });
                    }
                    records.remove(key.as_str()).map_err(backend)?;
                }
                Op::Append { prefix, value } => {
                    if prefix.contains('\0') {
                        return Err(StoreError::InvalidKey(prefix.clone()));
                    }
                    let first_name = format!("log_first/{prefix}");
                    let next_name = format!("log_next/{prefix}");
                    let mut first = sys
                        .get(first_name.as_str())
                        .map_err(backend)?
                        .map(|g| g.value())
                        .unwrap_or(1);
                    let seq = sys
                        .get(next_name.as_str())
                        .map_err(backend)?
                        .map(|g| g.value())
                        .unwrap_or(1);
                    let seq_next = seq + 1;
                    records
                        .insert(
                            log_key(prefix, seq).as_str(),
                            encode(revision, value).as_slice(),
                        )
                        .map_err(backend)?;
                    let max = self.retention.max_for(prefix);
                    while seq_next - first > max {
                        records
                            .remove(log_key(prefix, first).as_str())
                            .map_err(backend)?;
                        first += 1;
                    }
                    sys.insert(first_name.as_str(), first).map_err(backend)?;
                    sys.insert(next_name.as_str(), seq_next).map_err(backend)?;
                    seqs.push(seq);
                }
            }
        }
        sys.insert(REVISION, revision).map_err(backend)?;
        Ok(Committed { revision, seqs })
    }
}

impl Store for RedbStore {
    fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let rtx = self.db.begin_read().map_err(backend)?;
        let records = rtx.open_table(RECORDS).map_err(backend)?;
        let raw = records.get(key).map_err(backend)?;
        raw.map(|g| decode(key, g.value())).transpose()
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        let rtx = self.db.begin_read().map_err(backend)?;
        let records = rtx.open_table(RECORDS).map_err(backend)?;
        let mut out = Vec::new();
        for item in records.range::<&str>(prefix..).map_err(backend)? {
            let (k, v) = item.map_err(backend)?;
            let key = k.value();
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key.to_owned(), decode(key, v.value())?));
        }
        Ok(out)
    }

    fn txn(&self, ops: &[Op], epoch: u64) -> Result<Committed, StoreError> {
        let wtx = self.begin_write()?;
        match self.apply(&wtx, ops, epoch) {
            Ok(done) => {
                if ops.is_empty() {
                    wtx.abort().map_err(backend)?;
                } else {
                    wtx.commit().map_err(backend)?;
                }
                Ok(done)
            }
            Err(e) => {
                wtx.abort().map_err(backend)?;
                Err(e)
            }
        }
    }

    fn acquire_epoch(&self, epoch: u64) -> Result<(), StoreError> {
        let wtx = self.begin_write()?;
        let current_epoch = {
            let mut sys = wtx.open_table(SYS).map_err(backend)?;
            let current = sys
                .get(EPOCH)
                .map_err(backend)?
                .map(|g| g.value())
                .unwrap_or(0);
            if epoch > current {
                sys.insert(EPOCH, epoch).map_err(backend)?;
            }
            current
        };
        if epoch <= current_epoch {
            wtx.abort().map_err(backend)?;
            return Err(StoreError::Fenced {
                epoch,
                current_epoch,
            });
        }
        wtx.commit().map_err(backend)?;
        Ok(())
    }

    fn epoch(&self) -> Result<u64, StoreError> {
        self.sys_get(EPOCH)
    }

    fn revision(&self) -> Result<u64, StoreError> {
        self.sys_get(REVISION)
    }
}
