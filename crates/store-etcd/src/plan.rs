//! Turning a batch of [`Op`]s into one etcd transaction, without IO: the batch is evaluated against
//! a snapshot read at one etcd revision exactly as [`steward_store::MemStore`] evaluates it (in
//! order, each op seeing the ones before it), and the result is the net write per key plus the
//! preconditions under which that net write is the right one. etcd cannot do this itself: a Txn's
//! compares all see the state before the Txn and a Txn may not touch one key twice.

use std::collections::BTreeMap;

use steward_store::{log_key, Expect, Op, Retention, StoreError};

/// The store's state as read at one etcd revision, for the keys a batch touches.
#[derive(Clone, Debug, Default)]
pub(crate) struct Snapshot {
    /// The etcd revision the snapshot was read at.
    pub revision: u64,
    /// The store key → its `mod_revision` (None: absent), for every key the batch puts or deletes.
    pub records: BTreeMap<String, Option<u64>>,
    /// Log prefix → its counter (None: the log never had an entry).
    pub logs: BTreeMap<String, Option<LogCounter>>,
    /// Log prefix → its counter key's `mod_revision` (None: absent); the commit compares it.
    pub counter_revs: BTreeMap<String, Option<u64>>,
}

/// A log's bookkeeping: the first sequence possibly present and the next to hand out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LogCounter {
    pub first: u64,
    pub next: u64,
}

impl LogCounter {
    pub(crate) const NEW: LogCounter = LogCounter { first: 1, next: 1 };

    pub(crate) fn encode(self) -> Vec<u8> {
        format!("{} {}", self.first, self.next).into_bytes()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<LogCounter> {
        let s = std::str::from_utf8(bytes).ok()?;
        let (first, next) = s.split_once(' ')?;
        Some(LogCounter {
            first: first.parse().ok()?,
            next: next.parse().ok()?,
        })
    }
}

/// The final state of one key after the batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Write {
    Put(Vec<u8>),
    Delete,
}

/// What a batch does, net.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Store key → its final state, for keys the batch wrote by name.
    pub writes: BTreeMap<String, Write>,
    /// Log prefix → the sequence range `[from, to)` retention trimmed.
    pub trims: BTreeMap<String, (u64, u64)>,
    /// Log prefix → its counter after the batch.
    pub counters: BTreeMap<String, LogCounter>,
    /// The sequence numbers given to the batch's appends, in order.
    pub seqs: Vec<u64>,
    /// Store keys whose state before the batch an expectation was judged on: the commit must
    /// compare them unchanged (the key → its `mod_revision`, None: absent).
    pub judged: BTreeMap<String, Option<u64>>,
    /// Whether an expectation named the revision this batch is to commit at (a key written earlier
    /// in the same batch); it is predicted as the snapshot's revision + 1.
    pub uses_predicted_revision: bool,
}

/// The store keys and log prefixes a batch needs in its [`Snapshot`].
pub(crate) fn touched(ops: &[Op]) -> (Vec<String>, Vec<String>) {
    let mut keys = Vec::new();
    let mut logs = Vec::new();
    for op in ops {
        match op {
            Op::Put { key, .. } | Op::Delete { key, .. } => {
                if !keys.contains(key) {
                    keys.push(key.clone());
                }
            }
            Op::Append { prefix, .. } => {
                if !logs.contains(prefix) {
                    logs.push(prefix.clone());
                }
            }
        }
    }
    (keys, logs)
}

fn check_key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() || key.contains('\0') {
        return Err(StoreError::InvalidKey(key.to_owned()));
    }
    Ok(())
}

/// Evaluate `ops` on `snap`: the same outcome, op by op, as the reference store.
pub(crate) fn plan(ops: &[Op], snap: &Snapshot, retention: &Retention) -> Result<Plan, StoreError> {
    let predicted = snap.revision + 1;
    let mut plan = Plan::default();
    for op in ops {
        match op {
            Op::Put { key, value, expect } => {
                check_key(key)?;
                plan.judge(key, *expect, snap, predicted)?;
                plan.writes.insert(key.clone(), Write::Put(value.clone()));
            }
            Op::Delete { key, expect } => {
                check_key(key)?;
                plan.judge(key, *expect, snap, predicted)?;
                plan.writes.insert(key.clone(), Write::Delete);
            }
            Op::Append { prefix, value } => {
                if prefix.contains('\0') {
                    return Err(StoreError::InvalidKey(prefix.clone()));
                }
                let mut counter = match plan.counters.get(prefix) {
                    Some(c) => *c,
                    None => snap
                        .logs
                        .get(prefix)
                        .copied()
                        .flatten()
                        .unwrap_or(LogCounter::NEW),
                };
                let seq = counter.next;
                counter.next += 1;
                plan.writes
                    .insert(log_key(prefix, seq), Write::Put(value.clone()));
                let max = retention.max_for(prefix);
                if counter.next - counter.first > max {
                    let to = counter.next - max;
                    plan.trim(prefix, counter.first, to);
                    counter.first = to;
                }
                plan.counters.insert(prefix.clone(), counter);
                plan.seqs.push(seq);
            }
        }
    }
    Ok(plan)
}

impl Plan {
    /// The key's revision as the ops so far left it: written by the batch → the predicted commit
    /// revision; deleted or trimmed by the batch → absent; else as in the snapshot.
    fn current(&mut self, key: &str, snap: &Snapshot, predicted: u64) -> Option<u64> {
        match self.writes.get(key) {
            Some(Write::Put(_)) => {
                self.uses_predicted_revision = true;
                Some(predicted)
            }
            Some(Write::Delete) => None,
            None if self.trimmed(key) => None,
            None => snap.records.get(key).copied().flatten(),
        }
    }

    fn judge(
        &mut self,
        key: &str,
        expect: Expect,
        snap: &Snapshot,
        predicted: u64,
    ) -> Result<(), StoreError> {
        if expect == Expect::Any {
            return Ok(());
        }
        let from_snapshot = !self.writes.contains_key(key) && !self.trimmed(key);
        let current = self.current(key, snap, predicted);
        if !expect.holds(current) {
            return Err(StoreError::Conflict {
                key: key.to_owned(),
                expected: expect,
                current,
            });
        }
        if from_snapshot {
            self.judged.insert(key.to_owned(), current);
        }
        Ok(())
    }

    /// Whether `key` is a log entry this batch's retention removed.
    fn trimmed(&self, key: &str) -> bool {
        self.trims.iter().any(|(prefix, (from, to))| {
            steward_store::log_seq(prefix, key)
                .is_some_and(|s| (*from..*to).contains(&s) && log_key(prefix, s) == key)
        })
    }

    fn trim(&mut self, prefix: &str, from: u64, to: u64) {
        // Entries the batch itself wrote and now trims end up deleted, like the rest of the range.
        for seq in from..to {
            let key = log_key(prefix, seq);
            if self.writes.contains_key(&key) {
                self.writes.insert(key, Write::Delete);
            }
        }
        let range = self.trims.entry(prefix.to_owned()).or_insert((from, to));
        range.0 = range.0.min(from);
        range.1 = range.1.max(to);
    }

    #[cfg(test)]
    fn covered_by_trim(&self, key: &str) -> bool {
        self.trimmed(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(revision: u64, records: &[(&str, Option<u64>)]) -> Snapshot {
        Snapshot {
            revision,
            records: records.iter().map(|(k, r)| ((*k).to_owned(), *r)).collect(),
            ..Snapshot::default()
        }
    }

    fn put(key: &str, expect: Expect) -> Op {
        Op::Put {
            key: key.into(),
            value: b"v".to_vec(),
            expect,
        }
    }

    #[test]
    fn expectations_see_earlier_ops_of_the_batch() {
        let s = snap(10, &[("x", Some(4))]);
        let ops = [
            Op::Delete {
                key: "x".into(),
                expect: Expect::Revision(4),
            },
            put("x", Expect::Absent),
            put("x", Expect::Revision(11)),
        ];
        let p = plan(&ops, &s, &Retention::default()).unwrap();
        assert_eq!(p.writes["x"], Write::Put(b"v".to_vec()));
        // Only the first expectation was judged on the snapshot.
        assert_eq!(p.judged, BTreeMap::from([("x".to_owned(), Some(4))]));
        assert!(p.uses_predicted_revision);
        let e = plan(&[ops[0].clone(), ops[2].clone()], &s, &Retention::default());
        assert_eq!(
            e,
            Err(StoreError::Conflict {
                key: "x".into(),
                expected: Expect::Revision(11),
                current: None
            })
        );
    }

    #[test]
    fn appends_count_from_the_snapshot_and_trim_the_oldest() {
        let mut s = snap(3, &[]);
        s.logs
            .insert("e/".into(), Some(LogCounter { first: 4, next: 7 }));
        let ops: Vec<Op> = (0..3)
            .map(|i| Op::Append {
                prefix: "e/".into(),
                value: vec![i],
            })
            .collect();
        let p = plan(&ops, &s, &Retention::uniform(2)).unwrap();
        assert_eq!(p.seqs, [7, 8, 9]);
        assert_eq!(p.counters["e/"], LogCounter { first: 8, next: 10 });
        assert_eq!(p.trims["e/"], (4, 8));
        assert_eq!(p.writes[&log_key("e/", 7)], Write::Delete);
        assert!(p.covered_by_trim(&log_key("e/", 5)));
        assert!(!p.covered_by_trim(&log_key("e/", 8)));
        assert!(!p.covered_by_trim("e/00000000000000000005x"));
        // A counter never seen starts at 1.
        let p = plan(&ops[..1], &snap(0, &[]), &Retention::uniform(2)).unwrap();
        assert_eq!(p.seqs, [1]);
        assert_eq!(
            LogCounter::decode(&p.counters["e/"].encode()),
            Some(p.counters["e/"])
        );
    }

    #[test]
    fn invalid_keys_are_refused_in_op_order() {
        let ops = [put("a", Expect::Revision(1)), put("", Expect::Any)];
        assert!(matches!(
            plan(&ops, &snap(1, &[("a", None)]), &Retention::default()),
            Err(StoreError::Conflict { .. })
        ));
        assert!(matches!(
            plan(&ops[1..], &snap(1, &[]), &Retention::default()),
            Err(StoreError::InvalidKey(_))
        ));
    }
}
