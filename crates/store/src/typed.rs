//! The typed layer: the maintenance core's records on the generic [`Store`], in the key layout of
//! the crate docs. Values are serde_json; BMC passwords are sealed by a [`SecretBox`].
//!
//! Single records are read and written with [`TypedStore`]'s methods; everything one core step
//! produces (host record, alarm changes, customer logs, journal entries, action id) goes into one
//! [`Batch`] and commits atomically.

use crate::{
    log_seq, Committed, Expect, Op, Password, Sealed, SecretBox, Store, StoreError, Versioned,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use steward_maintenance::alarm::{Alarm, AlarmId, CustomerLog};
use steward_maintenance::host::HostRecord;
use steward_maintenance::{ActionId, JournalEntry, NodeSettings};

/// Key names and prefixes.
pub mod keys {
    use steward_maintenance::alarm::AlarmId;

    pub const HOSTS: &str = "hosts/";
    pub const BMC: &str = "bmc/";
    pub const ALARMS: &str = "alarms/";
    pub const EVENTS: &str = "events/";
    pub const JOURNAL: &str = "journal/";
    pub const NEXT_ACTION_ID: &str = "meta/next_action_id";
    /// Each host's integer id and its creation and last-change times ([`super::HostIdentity`]).
    pub const HOST_IDS: &str = "hostids/";
    /// The next integer host id to hand out (ids are never reused).
    pub const NEXT_HOST_ID: &str = "meta/next_host_id";
    /// The node settings the controller pushes to every agent.
    pub const NODE_SETTINGS: &str = "meta/node_settings";

    pub fn host(name: &str) -> String {
        format!("{HOSTS}{name}")
    }

    pub fn bmc(host: &str) -> String {
        format!("{BMC}{host}")
    }

    pub fn host_id(name: &str) -> String {
        format!("{HOST_IDS}{name}")
    }

    pub fn alarm(id: AlarmId, host: &str) -> String {
        format!("{ALARMS}{}/{host}", id.code())
    }
}

/// A log entry with the wall-clock time it was recorded (milliseconds since the Unix epoch).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamped<T> {
    pub at_ms: u64,
    pub entry: T,
}

/// What the API shows of a host beyond its maintenance record: the integer id sysinv's clients
/// address it by (given at add, never reused, kept across restarts) and when the host was added and
/// last changed (milliseconds since the Unix epoch). The controller keeps it, not the core: none of
/// it takes part in maintenance decisions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostIdentity {
    pub id: u64,
    pub created_at_ms: u64,
    pub updated_at_ms: u64,
}

/// The credentials of a host's BMC. The password is sealed in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcCredential {
    pub username: String,
    pub password: Password,
}

/// How a [`BmcCredential`] is stored.
#[derive(Serialize, Deserialize)]
struct StoredBmc {
    username: String,
    password: Sealed,
}

/// Milliseconds since the Unix epoch, for [`Stamped::at_ms`].
pub fn unix_ms_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn encode<T: Serialize>(key: &str, v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Backend(format!("encoding {key}: {e}")))
}

fn decode<T: DeserializeOwned>(key: &str, v: &Versioned) -> Result<T, StoreError> {
    serde_json::from_slice(&v.value).map_err(|e| StoreError::Corrupt {
        key: key.to_owned(),
        reason: e.to_string(),
    })
}

/// Typed access to the store as the writer of one epoch.
pub struct TypedStore {
    store: Arc<dyn Store>,
    secrets: SecretBox,
    epoch: u64,
}

impl std::fmt::Debug for TypedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedStore")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl TypedStore {
    /// Writes are made as `epoch`, which the caller has acquired (or 0 on a store that never had one).
    pub fn new(store: Arc<dyn Store>, secrets: SecretBox, epoch: u64) -> Self {
        TypedStore {
            store,
            secrets,
            epoch,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<(T, u64)>, StoreError> {
        match self.store.get(key)? {
            Some(v) => Ok(Some((decode(key, &v)?, v.revision))),
            None => Ok(None),
        }
    }

    fn list<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T, u64)>, StoreError> {
        self.store
            .list(prefix)?
            .into_iter()
            .map(|(k, v)| Ok((k.clone(), decode(&k, &v)?, v.revision)))
            .collect()
    }

    /// A batch of writes committed together by [`Batch::commit`].
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            typed: self,
            ops: Vec::new(),
        }
    }

    // --- hosts ---

    /// A host's record and its revision.
    pub fn host(&self, name: &str) -> Result<Option<(HostRecord, u64)>, StoreError> {
        self.get(&keys::host(name))
    }

    /// Every host's record and revision, by name.
    pub fn hosts(&self) -> Result<Vec<(HostRecord, u64)>, StoreError> {
        Ok(self
            .list(keys::HOSTS)?
            .into_iter()
            .map(|(_, r, rev)| (r, rev))
            .collect())
    }

    pub fn put_host(&self, record: &HostRecord, expect: Expect) -> Result<u64, StoreError> {
        let mut b = self.batch();
        b.put_host(record, expect)?;
        Ok(b.commit()?.revision)
    }

    /// Delete a host with its BMC credentials and active alarms, in one commit.
    pub fn remove_host(&self, name: &str, expect: Expect) -> Result<u64, StoreError> {
        let mut ops = vec![
            Op::Delete {
                key: keys::host(name),
                expect,
            },
            Op::Delete {
                key: keys::bmc(name),
                expect: Expect::Any,
            },
            Op::Delete {
                key: keys::host_id(name),
                expect: Expect::Any,
            },
        ];
        for (k, alarm, _) in self.list::<Alarm>(keys::ALARMS)? {
            if alarm.host == name {
                ops.push(Op::Delete {
                    key: k,
                    expect: Expect::Any,
                });
            }
        }
        Ok(self.store.txn(&ops, self.epoch)?.revision)
    }

    // --- host identities ---

    /// Every host's identity, by host name.
    pub fn host_identities(&self) -> Result<Vec<(String, HostIdentity)>, StoreError> {
        Ok(self
            .list::<HostIdentity>(keys::HOST_IDS)?
            .into_iter()
            .map(|(k, v, _)| (k[keys::HOST_IDS.len()..].to_string(), v))
            .collect())
    }

    /// The integer id the next new host gets (1 on a new store).
    pub fn peek_host_id(&self) -> Result<u64, StoreError> {
        Ok(self
            .get::<u64>(keys::NEXT_HOST_ID)?
            .map(|(n, _)| n)
            .unwrap_or(1))
    }

    // --- BMC credentials ---

    pub fn bmc(&self, host: &str) -> Result<Option<BmcCredential>, StoreError> {
        let key = keys::bmc(host);
        match self.get::<StoredBmc>(&key)? {
            Some((s, _)) => Ok(Some(BmcCredential {
                password: self.secrets.open_password(&key, &s.password)?,
                username: s.username,
            })),
            None => Ok(None),
        }
    }

    pub fn put_bmc(&self, host: &str, cred: &BmcCredential) -> Result<u64, StoreError> {
        let mut b = self.batch();
        b.put_bmc(host, cred)?;
        Ok(b.commit()?.revision)
    }

    /// Open every stored BMC credential: a controller calls this at start so that a lost or
    /// replaced `secret.key` (a new one is created when the file is missing) is reported at once,
    /// naming the records it cannot read, instead of at the first BMC operation.
    pub fn verify_bmc_secrets(&self) -> Result<usize, StoreError> {
        let records = self.list::<StoredBmc>(keys::BMC)?;
        let mut unreadable = Vec::new();
        for (key, stored, _) in &records {
            if self.secrets.open(key, &stored.password).is_err() {
                unreadable.push(key.clone());
            }
        }
        if unreadable.is_empty() {
            Ok(records.len())
        } else {
            Err(StoreError::SecretKey {
                path: self.secrets.path().to_owned(),
                reason: format!(
                    "cannot decrypt {}: the key file is not the one these passwords were sealed with; \
                     restore the original secret.key, or re-provision these BMCs' passwords",
                    unreadable.join(", ")
                ),
            })
        }
    }

    pub fn delete_bmc(&self, host: &str) -> Result<u64, StoreError> {
        self.store.delete(&keys::bmc(host), Expect::Any, self.epoch)
    }

    // --- alarms ---

    /// The active alarm set, ordered by (id, host).
    pub fn alarms(&self) -> Result<Vec<Alarm>, StoreError> {
        Ok(self
            .list(keys::ALARMS)?
            .into_iter()
            .map(|(_, a, _)| a)
            .collect())
    }

    pub fn alarm(&self, id: AlarmId, host: &str) -> Result<Option<Alarm>, StoreError> {
        Ok(self.get(&keys::alarm(id, host))?.map(|(a, _)| a))
    }

    // --- logs ---

    /// The retained customer logs with their sequence numbers, oldest first.
    pub fn events(&self) -> Result<Vec<(u64, Stamped<CustomerLog>)>, StoreError> {
        self.log(keys::EVENTS)
    }

    /// The retained action journal with sequence numbers, oldest first.
    pub fn journal(&self) -> Result<Vec<(u64, Stamped<JournalEntry>)>, StoreError> {
        self.log(keys::JOURNAL)
    }

    fn log<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(u64, T)>, StoreError> {
        self.list(prefix)?
            .into_iter()
            .map(|(k, v, _)| {
                let seq = log_seq(prefix, &k).ok_or_else(|| StoreError::Corrupt {
                    key: k.clone(),
                    reason: "not a log key".into(),
                })?;
                Ok((seq, v))
            })
            .collect()
    }

    // --- node settings ---

    /// The node settings the controller pushes (default: none set, generation 0) and their
    /// revision (None: never stored).
    pub fn node_settings(&self) -> Result<(NodeSettings, Option<u64>), StoreError> {
        Ok(match self.get::<NodeSettings>(keys::NODE_SETTINGS)? {
            Some((s, rev)) => (s, Some(rev)),
            None => (NodeSettings::default(), None),
        })
    }

    /// Replace the node settings if they are still at `revision` (compare-and-swap); returns the
    /// new revision.
    pub fn put_node_settings(
        &self,
        settings: &NodeSettings,
        revision: Option<u64>,
    ) -> Result<u64, StoreError> {
        let value = encode(keys::NODE_SETTINGS, settings)?;
        let expect = revision.map_or(Expect::Absent, Expect::Revision);
        let put = Op::Put {
            key: keys::NODE_SETTINGS.to_string(),
            value,
            expect,
        };
        Ok(self.store.txn(&[put], self.epoch)?.revision)
    }

    // --- action ids ---

    /// The id the next [`TypedStore::allocate_action_id`] would hand out.
    pub fn peek_action_id(&self) -> Result<ActionId, StoreError> {
        Ok(ActionId(
            self.get::<u64>(keys::NEXT_ACTION_ID)?
                .map(|(n, _)| n)
                .unwrap_or(1),
        ))
    }

    /// Hand out a new action id, unique for the life of the store (compare-and-swap, retried on
    /// conflict).
    pub fn allocate_action_id(&self) -> Result<ActionId, StoreError> {
        loop {
            let mut b = self.batch();
            let id = b.claim_action_id()?;
            match b.commit() {
                Ok(_) => return Ok(id),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes gathered for one atomic commit.
pub struct Batch<'a> {
    typed: &'a TypedStore,
    ops: Vec<Op>,
}

impl Batch<'_> {
    pub fn put_host(
        &mut self,
        record: &HostRecord,
        expect: Expect,
    ) -> Result<&mut Self, StoreError> {
        let key = keys::host(&record.spec.name);
        let value = encode(&key, record)?;
        self.ops.push(Op::Put { key, value, expect });
        Ok(self)
    }

    pub fn put_bmc(&mut self, host: &str, cred: &BmcCredential) -> Result<&mut Self, StoreError> {
        let key = keys::bmc(host);
        let stored = StoredBmc {
            username: cred.username.clone(),
            password: self.typed.secrets.seal_password(&key, &cred.password)?,
        };
        let value = encode(&key, &stored)?;
        self.ops.push(Op::Put {
            key,
            value,
            expect: Expect::Any,
        });
        Ok(self)
    }

    /// Store `name`'s identity (its id, creation and last-change times).
    pub fn put_host_identity(
        &mut self,
        name: &str,
        identity: &HostIdentity,
    ) -> Result<&mut Self, StoreError> {
        let key = keys::host_id(name);
        let value = encode(&key, identity)?;
        self.ops.push(Op::Put {
            key,
            value,
            expect: Expect::Any,
        });
        Ok(self)
    }

    /// Forget `name`'s identity (the host is deleted; its id is not given out again).
    pub fn delete_host_identity(&mut self, name: &str) -> &mut Self {
        self.ops.push(Op::Delete {
            key: keys::host_id(name),
            expect: Expect::Any,
        });
        self
    }

    /// Record the next integer host id to hand out.
    pub fn set_next_host_id(&mut self, next: u64) -> Result<&mut Self, StoreError> {
        let value = encode(keys::NEXT_HOST_ID, &next)?;
        self.ops.push(Op::Put {
            key: keys::NEXT_HOST_ID.into(),
            value,
            expect: Expect::Any,
        });
        Ok(self)
    }

    /// Make `alarm` active (replacing the same (id, host) at another severity).
    pub fn raise_alarm(&mut self, alarm: &Alarm) -> Result<&mut Self, StoreError> {
        let key = keys::alarm(alarm.id, &alarm.host);
        let value = encode(&key, alarm)?;
        self.ops.push(Op::Put {
            key,
            value,
            expect: Expect::Any,
        });
        Ok(self)
    }

    pub fn clear_alarm(&mut self, id: AlarmId, host: &str) -> &mut Self {
        self.ops.push(Op::Delete {
            key: keys::alarm(id, host),
            expect: Expect::Any,
        });
        self
    }

    pub fn event(&mut self, at_ms: u64, log: &CustomerLog) -> Result<&mut Self, StoreError> {
        let value = encode(keys::EVENTS, &Stamped { at_ms, entry: log })?;
        self.ops.push(Op::Append {
            prefix: keys::EVENTS.into(),
            value,
        });
        Ok(self)
    }

    pub fn journal(&mut self, at_ms: u64, entry: &JournalEntry) -> Result<&mut Self, StoreError> {
        let value = encode(keys::JOURNAL, &Stamped { at_ms, entry })?;
        self.ops.push(Op::Append {
            prefix: keys::JOURNAL.into(),
            value,
        });
        Ok(self)
    }

    /// Claim the next action id in this batch: the commit fails with a conflict if another writer
    /// claimed it first.
    pub fn claim_action_id(&mut self) -> Result<ActionId, StoreError> {
        let current = self.typed.store.get(keys::NEXT_ACTION_ID)?;
        let (next, expect) = match &current {
            Some(v) => (
                decode::<u64>(keys::NEXT_ACTION_ID, v)?,
                Expect::Revision(v.revision),
            ),
            None => (1, Expect::Absent),
        };
        self.ops.push(Op::Put {
            key: keys::NEXT_ACTION_ID.into(),
            value: encode(keys::NEXT_ACTION_ID, &(next + 1))?,
            expect,
        });
        Ok(ActionId(next))
    }

    /// A raw op, for records this layer does not know.
    pub fn op(&mut self, op: Op) -> &mut Self {
        self.ops.push(op);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Commit every write of the batch, or none.
    pub fn commit(self) -> Result<Committed, StoreError> {
        self.typed.store.txn(&self.ops, self.typed.epoch)
    }
}
