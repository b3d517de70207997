//! [`MemStore`]: the in-memory reference implementation of [`Store`]. It is written for obviousness,
//! not speed (a txn works on a copy of the whole state), and serves as the model the embedded store is
//! checked against.

use crate::{
    check_epoch, check_key, log_key, Committed, Op, Retention, Store, StoreError, Versioned,
};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Clone, Debug, Default)]
struct State {
    records: BTreeMap<String, Versioned>,
    epoch: u64,
    revision: u64,
    /// Per log prefix: (first seq possibly present, next seq to hand out).
    logs: BTreeMap<String, (u64, u64)>,
}

/// An in-memory [`Store`]; nothing survives the value.
#[derive(Debug, Default)]
pub struct MemStore {
    state: Mutex<State>,
    retention: Retention,
}

impl MemStore {
    pub fn new(retention: Retention) -> Self {
        MemStore {
            state: Mutex::default(),
            retention,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Store for MemStore {
    fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        Ok(self.lock().records.get(key).cloned())
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        Ok(self
            .lock()
            .records
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn txn(&self, ops: &[Op], epoch: u64) -> Result<Committed, StoreError> {
        let mut guard = self.lock();
        check_epoch(epoch, guard.epoch)?;
        if ops.is_empty() {
            return Ok(Committed {
                revision: guard.revision,
                seqs: vec![],
            });
        }
        let mut next = guard.clone();
        next.revision += 1;
        let revision = next.revision;
        let mut seqs = Vec::new();
        for op in ops {
            match op {
                Op::Put { key, value, expect } => {
                    check_key(key)?;
                    let current = next.records.get(key).map(|v| v.revision);
                    if !expect.holds(current) {
                        return Err(StoreError::Conflict {
                            key: key.clone(),
                            expected: *expect,
                            current,
                        });
                    }
                    next.records.insert(
                        key.clone(),
                        Versioned {
                            revision,
                            value: value.clone(),
                        },
                    );
                }
                Op::Delete { key, expect } => {
                    check_key(key)?;
                    let current = next.records.get(key).map(|v| v.revision);
                    if !expect.holds(current) {
                        return Err(StoreError::Conflict {
                            key: key.clone(),
                            expected: *expect,
                            current,
                        });
                    }
                    next.records.remove(key);
                }
                Op::Append { prefix, value } => {
                    if prefix.contains('\0') {
                        return Err(StoreError::InvalidKey(prefix.clone()));
                    }
                    let (mut first, mut seq_next) =
                        next.logs.get(prefix).copied().unwrap_or((1, 1));
                    let seq = seq_next;
                    seq_next += 1;
                    next.records.insert(
                        log_key(prefix, seq),
                        Versioned {
                            revision,
                            value: value.clone(),
                        },
                    );
                    let max = self.retention.max_for(prefix);
                    while seq_next - first > max {
                        next.records.remove(&log_key(prefix, first));
                        first += 1;
                    }
                    next.logs.insert(prefix.clone(), (first, seq_next));
                    seqs.push(seq);
                }
            }
        }
        *guard = next;
        Ok(Committed { revision, seqs })
    }

    fn acquire_epoch(&self, epoch: u64) -> Result<(), StoreError> {
        let mut guard = self.lock();
        if epoch <= guard.epoch {
            return Err(StoreError::Fenced {
                epoch,
                current_epoch: guard.epoch,
            });
        }
        guard.epoch = epoch;
        Ok(())
    }

    fn epoch(&self) -> Result<u64, StoreError> {
        Ok(self.lock().epoch)
    }

    fn revision(&self) -> Result<u64, StoreError> {
        Ok(self.lock().revision)
    }
}
