//! The controller's store on etcd (ARCHITECTURE.md, crates/store-etcd): [`EtcdStore`] implements
//! [`steward_store::Store`] with the same compare-and-swap, atomic batch, fencing and log semantics
//! as the embedded store, so the maintenance core and the typed layer cannot tell the two apart.
//! It is what lets two controllers share one replicated state; etcd does the consensus.
//!
//! ```no_run
//! use steward_store::Store;
//! use steward_store_etcd::{parse_etcd_url, EtcdOptions, EtcdStore};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let endpoints = parse_etcd_url("etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379")?;
//! let store = EtcdStore::connect(&endpoints, EtcdOptions::default())?;
//! let epoch = store.epoch()? + 1;
//! store.acquire_epoch(epoch)?;
//! # Ok(()) }
//! ```
//!
//! # Layout in etcd
//!
//! Everything lives under [`EtcdOptions::prefix`] (default `/steward/`), so several stores can share
//! a cluster:
//!
//! | etcd key                     | what                                                        |
//! |------------------------------|-------------------------------------------------------------|
//! | `<prefix>r/<store key>`      | a record (the value bytes as given)                          |
//! | `<prefix>_/epoch`            | the fencing epoch (decimal; absent = 0)                      |
//! | `<prefix>_/revision`         | written by every committed batch: its `mod_revision` is [`Store::revision`] |
//! | `<prefix>_/log/<log prefix>` | a log's counter `"<first> <next>"` (first seq possibly present, next to hand out) |
//!
//! # How the semantics map onto etcd
//!
//! * **Revisions** are etcd's `mod_revision`. etcd's revision is cluster-wide, so a store's
//!   revisions are not dense: another client's write (another prefix, a leader key) raises it too.
//!   What the trait promises holds: every committed batch raises [`Store::revision`] (the revision
//!   marker is written by each one, so even a batch that only deletes an absent key counts), every
//!   key a batch writes carries the batch's revision, and a revision is never reused. The
//!   conformance tests run with [`steward_store::conformance::Revisions::Increasing`].
//! * **A batch is one etcd Txn.** etcd compares only see the state before a Txn and a Txn may not
//!   touch a key twice, so a batch is first evaluated on a snapshot read at one revision, op by op
//!   as the reference store does, and committed as one Txn of its net writes under compares that
//!   the snapshot still holds: the writer's epoch is the store's (`value(epoch) == epoch`), the
//!   lease fence if any, every key an expectation was judged on and every log counter unchanged, and
//!   the revision marker unchanged (no other batch of this store committed in between). If a
//!   compare fails the batch is evaluated again on a fresh snapshot, which yields the precise
//!   error (`Conflict` with the current revision, `Fenced`, `EpochAhead`) or commits.
//! * **Logs.** An append takes the next sequence from its prefix's counter, written in the same
//!   Txn; retention deletes the oldest entries in the same Txn (a large backlog, after the bound
//!   was lowered, as one range delete).
//! * **Fencing by lease.** [`EtcdStore::with_fence`] adds a compare that a leader key is held by a
//!   lease to every write: a deposed active whose lease expired cannot write even with the right
//!   epoch; it gets [`StoreError::Fenced`].
//! * **Sync over async.** The trait is sync and is called from a tokio task; requests run on the
//!   store's own thread and runtime (`worker`) and fail with [`StoreError::Backend`] naming the
//!   endpoints after [`EtcdOptions::timeout`]. Without quorum etcd answers at once "no leader".
//!
//! Differences from the embedded store, none of which the callers rely on:
//! * revisions are sparse (above);
//! * an expectation on a key that an earlier op of the same batch wrote names the revision the batch
//!   will commit at; it is predicted as the snapshot's revision + 1, which is exact unless another
//!   client wrote to etcd between the snapshot and the commit;
//! * a batch is bounded by etcd's `--max-txn-ops` (128 by default) net writes;
//! * trimming a backlog of more than [`TRIM_SINGLE_MAX`] entries at once deletes the key range
//!   between the oldest and the newest trimmed entry, which would also remove a non-log key that
//!   sorts inside it (`events/00000000000000000003x`); no caller writes such keys.

mod plan;
mod url;
mod worker;

pub use url::{parse_etcd_url, EtcdUrlError};

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, DeleteOptions, GetOptions, KeyValue, Txn, TxnOp, TxnOpResponse,
};
use steward_store::{log_key, Committed, Op, Retention, Store, StoreError, Versioned};

use plan::{LogCounter, Plan, Snapshot, Write};
use worker::Worker;

/// Up to this many trimmed log entries are deleted one key at a time; more as one range delete.
pub const TRIM_SINGLE_MAX: u64 = 16;

/// How many times a batch is re-evaluated when another writer of the same store committed between
/// its snapshot and its commit, before giving up with a `Backend` error.
const COMMIT_ATTEMPTS: usize = 16;

/// Page size of [`Store::list`]: large lists are read in pages at one revision.
const LIST_PAGE: i64 = 500;

/// Options of [`EtcdStore::connect`].
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Every key of the store lives under this etcd key prefix.
    pub prefix: String,
    pub retention: Retention,
    /// Bound on each store call (one read, or one batch with its retries).
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        EtcdOptions {
            prefix: "/steward/".into(),
            retention: Retention::default(),
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
        }
    }
}

/// A leader key that must be held by a lease for a write to commit.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Fence {
    key: String,
    lease: i64,
}

/// The store's etcd key names.
#[derive(Debug)]
struct Keys {
    prefix: String,
}

impl Keys {
    fn record(&self, key: &str) -> String {
        format!("{}r/{key}", self.prefix)
    }

    fn records(&self) -> String {
        format!("{}r/", self.prefix)
    }

    fn epoch(&self) -> String {
        format!("{}_/epoch", self.prefix)
    }

    fn marker(&self) -> String {
        format!("{}_/revision", self.prefix)
    }

    fn log(&self, prefix: &str) -> String {
        format!("{}_/log/{prefix}", self.prefix)
    }
}

/// [`Store`] on an etcd cluster. Cheap to clone: clones share the client thread.
#[derive(Clone)]
pub struct EtcdStore {
    worker: Arc<Worker>,
    keys: Arc<Keys>,
    retention: Arc<Retention>,
    fence: Option<Fence>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.worker.endpoints)
            .field("prefix", &self.keys.prefix)
            .field("fence", &self.fence)
            .finish()
    }
}

fn backend(endpoints: &str, e: etcd_client::Error) -> StoreError {
    StoreError::Backend(format!("etcd at {endpoints}: {e}"))
}

fn as_rev(r: i64) -> u64 {
    u64::try_from(r).unwrap_or(0)
}

fn as_etcd_rev(r: u64) -> i64 {
    i64::try_from(r).unwrap_or(i64::MAX)
}

/// The compare that `key` is in the state `current` (None: absent; else its `mod_revision`).
fn unchanged(key: String, current: Option<u64>) -> Compare {
    match current {
        None => Compare::create_revision(key, CompareOp::Equal, 0),
        Some(r) => Compare::mod_revision(key, CompareOp::Equal, as_etcd_rev(r)),
    }
}

/// The end of the etcd range holding every key that starts with `prefix`.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0] // every key
}

/// The first KeyValue of the Get response at `index` of a Txn's responses.
fn kv_at(responses: &[TxnOpResponse], index: usize) -> Option<&KeyValue> {
    match responses.get(index) {
        Some(TxnOpResponse::Get(get)) => get.kvs().first(),
        _ => None,
    }
}

/// What a write needs to know besides the keys it touches.
struct Head {
    epoch: u64,
    epoch_rev: Option<u64>,
    marker: Option<u64>,
    /// The lease holding the fence key (0: none or absent), if the store is fenced.
    fence_lease: Option<i64>,
}

impl EtcdStore {
    /// Connect to the etcd cluster at `endpoints` (`http://HOST:PORT`, as [`parse_etcd_url`] gives)
    /// and check that it answers.
    pub fn connect(endpoints: &[String], opts: EtcdOptions) -> Result<EtcdStore, StoreError> {
        if endpoints.is_empty() {
            return Err(StoreError::Open("no etcd endpoint given".into()));
        }
        if opts.prefix.is_empty() || opts.prefix.contains('\0') {
            return Err(StoreError::Open(format!(
                "invalid etcd key prefix {:?}",
                opts.prefix
            )));
        }
        let worker = Worker::start(endpoints, opts.timeout, opts.connect_timeout)?;
        let store = EtcdStore {
            worker: Arc::new(worker),
            keys: Arc::new(Keys {
                prefix: opts.prefix,
            }),
            retention: Arc::new(opts.retention),
            fence: None,
        };
        store.epoch().map_err(|e| match e {
            StoreError::Backend(m) => StoreError::Open(format!("cannot open the store: {m}")),
            other => other,
        })?;
        Ok(store)
    }

    /// This store, with every write (and [`Store::acquire_epoch`]) conditional on `leader_key`
    /// being held by lease `lease_id`: once the lease expires or is revoked, writes fail with
    /// [`StoreError::Fenced`].
    pub fn with_fence(mut self, leader_key: impl Into<String>, lease_id: i64) -> EtcdStore {
        self.fence = Some(Fence {
            key: leader_key.into(),
            lease: lease_id,
        });
        self
    }

    /// The endpoints, comma-separated (as error messages name them).
    pub fn endpoints(&self) -> &str {
        &self.worker.endpoints
    }

    /// The etcd key prefix the store lives under.
    pub fn prefix(&self) -> &str {
        &self.keys.prefix
    }

    fn call<T, F, Fut>(&self, request: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Client, String) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let endpoints = self.worker.endpoints.clone();
        self.worker.call(move |client| request(client, endpoints))
    }

    /// One linearizable read of `keys` at one revision (a Txn of Gets).
    async fn read(
        client: &mut Client,
        endpoints: &str,
        keys: Vec<String>,
    ) -> Result<(u64, Vec<Option<KeyValue>>), StoreError> {
        let gets: Vec<TxnOp> = keys.into_iter().map(|k| TxnOp::get(k, None)).collect();
        let resp = client
            .txn(Txn::new().and_then(gets))
            .await
            .map_err(|e| backend(endpoints, e))?;
        let revision = resp.header().map(|h| as_rev(h.revision())).unwrap_or(0);
        let responses = resp.op_responses();
        let kvs = (0..responses.len())
            .map(|i| kv_at(&responses, i).cloned())
            .collect();
        Ok((revision, kvs))
    }

    fn parse_epoch(keys: &Keys, kv: Option<&KeyValue>) -> Result<(u64, Option<u64>), StoreError> {
        let Some(kv) = kv else {
            return Ok((0, None));
        };
        let epoch = std::str::from_utf8(kv.value())
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| StoreError::Corrupt {
                key: keys.epoch(),
                reason: "the epoch is not a decimal number".into(),
            })?;
        Ok((epoch, Some(as_rev(kv.mod_revision()))))
    }

    /// The compares every write carries: the epoch and the lease fence.
    fn fencing_compares(keys: &Keys, fence: &Option<Fence>, epoch: u64) -> Vec<Compare> {
        let mut compares = vec![if epoch == 0 {
            Compare::create_revision(keys.epoch(), CompareOp::Equal, 0)
        } else {
            Compare::value(keys.epoch(), CompareOp::Equal, epoch.to_string())
        }];
        if let Some(f) = fence {
            compares.push(Compare::lease(f.key.clone(), CompareOp::Equal, f.lease));
        }
        compares
    }

    fn check_fence(fence: &Option<Fence>, head: &Head, epoch: u64) -> Result<(), StoreError> {
        if let (Some(f), Some(held_by)) = (fence, head.fence_lease) {
            if held_by != f.lease {
                tracing::warn!(
                    leader_key = %f.key,
                    lease = f.lease,
                    held_by,
                    "etcd store write refused: this controller's lease no longer holds the leader key"
                );
                return Err(StoreError::Fenced {
                    epoch,
                    current_epoch: head.epoch,
                });
            }
        }
        Ok(())
    }

    /// Read the head (epoch, marker, fence) and the state of `records` and `logs`.
    async fn snapshot(
        client: &mut Client,
        endpoints: &str,
        keys: &Keys,
        fence: &Option<Fence>,
        records: &[String],
        logs: &[String],
    ) -> Result<(Head, Snapshot), StoreError> {
        let mut names = vec![keys.epoch(), keys.marker()];
        if let Some(f) = fence {
            names.push(f.key.clone());
        }
        let head_len = names.len();
        names.extend(records.iter().map(|k| keys.record(k)));
        names.extend(logs.iter().map(|p| keys.log(p)));
        let (revision, kvs) = Self::read(client, endpoints, names).await?;
        let (epoch, epoch_rev) = Self::parse_epoch(keys, kvs[0].as_ref())?;
        let head = Head {
            epoch,
            epoch_rev,
            marker: kvs[1].as_ref().map(|kv| as_rev(kv.mod_revision())),
            fence_lease: fence
                .as_ref()
                .map(|_| kvs[2].as_ref().map(|kv| kv.lease()).unwrap_or(0)),
        };
        let mut snap = Snapshot {
            revision,
            ..Snapshot::default()
        };
        let mut rest = kvs.into_iter().skip(head_len);
        for key in records {
            let kv = rest.next().flatten();
            snap.records
                .insert(key.clone(), kv.map(|kv| as_rev(kv.mod_revision())));
        }
        for prefix in logs {
            let kv = rest.next().flatten();
            let counter = match kv {
                None => None,
                Some(kv) => Some((
                    LogCounter::decode(kv.value()).ok_or_else(|| StoreError::Corrupt {
                        key: keys.log(prefix),
                        reason: "the log counter is not \"<first> <next>\"".into(),
                    })?,
                    as_rev(kv.mod_revision()),
                )),
            };
            snap.logs.insert(prefix.clone(), counter.map(|(c, _)| c));
            snap.counter_revs
                .insert(prefix.clone(), counter.map(|(_, r)| r));
        }
        Ok((head, snap))
    }

    /// The commit Txn of `plan`, made on `snap` for writer `epoch`.
    fn commit_txn(
        keys: &Keys,
        fence: &Option<Fence>,
        epoch: u64,
        head: &Head,
        snap: &Snapshot,
        plan: &Plan,
    ) -> Txn {
        let mut compares = Self::fencing_compares(keys, fence, epoch);
        compares.push(unchanged(keys.marker(), head.marker));
        for (key, current) in &plan.judged {
            compares.push(unchanged(keys.record(key), *current));
        }
        for prefix in plan.counters.keys() {
            compares.push(unchanged(
                keys.log(prefix),
                snap.counter_revs.get(prefix).copied().flatten(),
            ));
        }
        let mut ops = Vec::new();
        for (key, write) in &plan.writes {
            ops.push(match write {
                Write::Put(value) => TxnOp::put(keys.record(key), value.clone(), None),
                Write::Delete => TxnOp::delete(keys.record(key), None),
            });
        }
        for (prefix, (from, to)) in &plan.trims {
            if to - from <= TRIM_SINGLE_MAX {
                for seq in *from..*to {
                    let key = log_key(prefix, seq);
                    if !plan.writes.contains_key(&key) {
                        ops.push(TxnOp::delete(keys.record(&key), None));
                    }
                }
            } else {
                // One range, split around the keys the batch writes by name (a Txn may not touch
                // a key twice). Keys hold no NUL, so `key + "\0"` is the next possible key.
                let (lo, hi) = (log_key(prefix, *from), log_key(prefix, *to));
                let mut start = keys.record(&lo);
                for key in plan.writes.range(lo..hi.clone()).map(|(k, _)| k) {
                    let at = keys.record(key);
                    if start < at {
                        ops.push(TxnOp::delete(
                            start.clone(),
                            Some(DeleteOptions::new().with_range(at.clone())),
                        ));
                    }
                    start = format!("{at}\0");
                }
                let end = keys.record(&hi);
                if start < end {
                    ops.push(TxnOp::delete(
                        start,
                        Some(DeleteOptions::new().with_range(end)),
                    ));
                }
            }
        }
        for (prefix, counter) in &plan.counters {
            ops.push(TxnOp::put(keys.log(prefix), counter.encode(), None));
        }
        ops.push(TxnOp::put(keys.marker(), epoch.to_string(), None));
        Txn::new().when(compares).and_then(ops)
    }
}

impl Store for EtcdStore {
    fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let name = self.keys.record(key);
        self.call(move |mut client, endpoints| async move {
            let resp = client
                .get(name, None)
                .await
                .map_err(|e| backend(&endpoints, e))?;
            Ok(resp.kvs().first().map(|kv| Versioned {
                revision: as_rev(kv.mod_revision()),
                value: kv.value().to_vec(),
            }))
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        let base = self.keys.records();
        let from = self.keys.record(prefix);
        self.call(move |mut client, endpoints| async move {
            let end = prefix_end(&from);
            let mut out = Vec::new();
            let mut start = from.into_bytes();
            let mut at_revision = 0;
            loop {
                let mut opts = GetOptions::new()
                    .with_range(end.clone())
                    .with_limit(LIST_PAGE);
                if at_revision > 0 {
                    opts = opts.with_revision(at_revision);
                }
                let resp = client
                    .get(start.clone(), Some(opts))
                    .await
                    .map_err(|e| backend(&endpoints, e))?;
                if at_revision == 0 {
                    at_revision = resp.header().map(|h| h.revision()).unwrap_or(0);
                }
                for kv in resp.kvs() {
                    let name = String::from_utf8_lossy(kv.key());
                    let key = name.strip_prefix(&base).unwrap_or(&name).to_owned();
                    out.push((
                        key,
                        Versioned {
                            revision: as_rev(kv.mod_revision()),
                            value: kv.value().to_vec(),
                        },
                    ));
                }
                match resp.kvs().last() {
                    Some(last) if resp.more() => {
                        start = last.key().to_vec();
                        start.push(0);
                    }
                    _ => return Ok(out),
                }
            }
        })
    }

    fn txn(&self, ops: &[Op], epoch: u64) -> Result<Committed, StoreError> {
        let ops = ops.to_vec();
        let keys = self.keys.clone();
        let fence = self.fence.clone();
        let retention = self.retention.clone();
        self.call(move |mut client, endpoints| async move {
            let (records, logs) = plan::touched(&ops);
            for _ in 0..COMMIT_ATTEMPTS {
                let (head, snap) =
                    Self::snapshot(&mut client, &endpoints, &keys, &fence, &records, &logs).await?;
                steward_store_check_epoch(epoch, head.epoch)?;
                Self::check_fence(&fence, &head, epoch)?;
                if ops.is_empty() {
                    return Ok(Committed {
                        revision: head.marker.unwrap_or(0),
                        seqs: vec![],
                    });
                }
                let plan = plan::plan(&ops, &snap, &retention)?;
                let txn = Self::commit_txn(&keys, &fence, epoch, &head, &snap, &plan);
                let resp = client.txn(txn).await.map_err(|e| backend(&endpoints, e))?;
                if !resp.succeeded() {
                    continue; // something moved since the snapshot: judge again on a fresh one
                }
                let revision = resp.header().map(|h| as_rev(h.revision())).unwrap_or(0);
                if plan.uses_predicted_revision && revision != snap.revision + 1 {
                    tracing::warn!(
                        predicted = snap.revision + 1,
                        committed = revision,
                        "etcd store batch named its own commit revision, but another etcd client \
                         wrote in between"
                    );
                }
                return Ok(Committed {
                    revision,
                    seqs: plan.seqs,
                });
            }
            Err(StoreError::Backend(format!(
                "etcd at {endpoints}: the batch conflicted with other writers of the store \
                 {COMMIT_ATTEMPTS} times (two controllers writing with the same epoch?)"
            )))
        })
    }

    fn acquire_epoch(&self, epoch: u64) -> Result<(), StoreError> {
        let keys = self.keys.clone();
        let fence = self.fence.clone();
        self.call(move |mut client, endpoints| async move {
            for _ in 0..COMMIT_ATTEMPTS {
                let (head, _) =
                    Self::snapshot(&mut client, &endpoints, &keys, &fence, &[], &[]).await?;
                if epoch <= head.epoch {
                    return Err(StoreError::Fenced {
                        epoch,
                        current_epoch: head.epoch,
                    });
                }
                Self::check_fence(&fence, &head, epoch)?;
                let mut compares = vec![unchanged(keys.epoch(), head.epoch_rev)];
                if let Some(f) = &fence {
                    compares.push(Compare::lease(f.key.clone(), CompareOp::Equal, f.lease));
                }
                let txn = Txn::new().when(compares).and_then(vec![TxnOp::put(
                    keys.epoch(),
                    epoch.to_string(),
                    None,
                )]);
                let resp = client.txn(txn).await.map_err(|e| backend(&endpoints, e))?;
                if resp.succeeded() {
                    return Ok(());
                }
            }
            Err(StoreError::Backend(format!(
                "etcd at {endpoints}: the epoch kept changing under acquire_epoch"
            )))
        })
    }

    fn epoch(&self) -> Result<u64, StoreError> {
        let keys = self.keys.clone();
        self.call(move |mut client, endpoints| async move {
            let resp = client
                .get(keys.epoch(), None)
                .await
                .map_err(|e| backend(&endpoints, e))?;
            Ok(Self::parse_epoch(&keys, resp.kvs().first())?.0)
        })
    }

    fn revision(&self) -> Result<u64, StoreError> {
        let marker = self.keys.marker();
        self.call(move |mut client, endpoints| async move {
            let resp = client
                .get(marker, None)
                .await
                .map_err(|e| backend(&endpoints, e))?;
            Ok(resp
                .kvs()
                .first()
                .map(|kv| as_rev(kv.mod_revision()))
                .unwrap_or(0))
        })
    }
}

/// The trait's epoch rule (the same check the embedded stores make).
fn steward_store_check_epoch(epoch: u64, current_epoch: u64) -> Result<(), StoreError> {
    use std::cmp::Ordering;
    match epoch.cmp(&current_epoch) {
        Ordering::Less => Err(StoreError::Fenced {
            epoch,
            current_epoch,
        }),
        Ordering::Greater => Err(StoreError::EpochAhead {
            epoch,
            current_epoch,
        }),
        Ordering::Equal => Ok(()),
    }
}
