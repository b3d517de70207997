//! Turning the core's effects into one store transaction per step (write-ahead), and keeping the
//! actor's read caches (alarms, recent events, action statuses) in step with what was written.

use crate::handle::ActionStatus;
use std::collections::{BTreeMap, HashMap, VecDeque};
use steward_maintenance::action::{ActionId, JournalEntry};
use steward_maintenance::alarm::{Alarm, AlarmChange, AlarmId, CustomerLog};
use steward_maintenance::io::Effect;
use steward_maintenance::Maintenance;
use steward_store::typed::{keys, unix_ms_now, HostIdentity, Stamped, TypedStore};
use steward_store::{Expect, Op, StoreError};

/// How many recent events the actor keeps in memory for the API (the store keeps more).
pub(crate) const RECENT_EVENTS: usize = 2_000;

/// What the API reads without touching the store.
#[derive(Default)]
pub(crate) struct Caches {
    pub alarms: BTreeMap<(AlarmId, String), Alarm>,
    pub events: VecDeque<Stamped<CustomerLog>>,
    pub actions: HashMap<ActionId, ActionStatus>,
    /// Each host's integer id and times, by name, as stored.
    pub identities: HashMap<String, HostIdentity>,
    /// The integer id the next new host gets.
    pub next_host_id: u64,
}

impl Caches {
    pub fn load(store: &TypedStore) -> Result<Caches, StoreError> {
        let mut c = Caches::default();
        for a in store.alarms()? {
            c.alarms.insert((a.id, a.host.clone()), a);
        }
        for (_, e) in store.events()? {
            c.push_event(e);
        }
        for (_, j) in store.journal()? {
            c.note_journal(&j.entry);
        }
        c.identities = store.host_identities()?.into_iter().collect();
        c.next_host_id = store.peek_host_id()?;
        Ok(c)
    }

    /// Give every host in `names` that has no identity yet (stored before ids existed) one, and
    /// persist them in one commit.
    pub fn identify(
        &mut self,
        store: &TypedStore,
        names: impl IntoIterator<Item = String>,
    ) -> Result<(), StoreError> {
        let now_ms = unix_ms_now();
        let mut batch = store.batch();
        let mut next = self.next_host_id;
        let mut new = Vec::new();
        for name in names {
            if self.identities.contains_key(&name) {
                continue;
            }
            let identity = HostIdentity {
                id: next,
                created_at_ms: now_ms,
                updated_at_ms: now_ms,
            };
            next += 1;
            batch.put_host_identity(&name, &identity)?;
            new.push((name, identity));
        }
        if new.is_empty() {
            return Ok(());
        }
        batch.set_next_host_id(next)?;
        batch.commit()?;
        self.next_host_id = next;
        self.identities.extend(new);
        Ok(())
    }

    fn push_event(&mut self, e: Stamped<CustomerLog>) {
        if self.events.len() == RECENT_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(e);
    }

    fn note_journal(&mut self, j: &JournalEntry) {
        match j {
            JournalEntry::Accepted { id, host, .. } => {
                self.actions
                    .insert(*id, ActionStatus::Running { host: host.clone() });
            }
            JournalEntry::Ended { id, host, outcome } => {
                self.actions.insert(
                    *id,
                    ActionStatus::Ended {
                        host: host.clone(),
                        outcome: outcome.clone(),
                    },
                );
            }
        }
    }
}

/// Drain every effect of the core: persist the records in one transaction, then return the effects
/// that act on the outside world, to be carried out only after the commit succeeded.
pub(crate) fn drain(
    core: &mut Maintenance,
    store: &TypedStore,
    caches: &mut Caches,
) -> Result<Vec<Effect>, StoreError> {
    let mut batch = store.batch();
    let mut outside = Vec::new();
    let now_ms = unix_ms_now();
    let mut journal = Vec::new();
    let mut events = Vec::new();
    let mut alarm_changes = Vec::new();
    // Identities written in this commit (None: removed), and the id counter after it.
    let mut identities: HashMap<String, Option<HostIdentity>> = HashMap::new();
    let mut next_host_id = caches.next_host_id;
    while let Some(effect) = core.poll_effect() {
        match effect {
            Effect::HostChanged { host } => {
                if let Some(rec) = core.host(&host) {
                    batch.put_host(rec, Expect::Any)?;
                    // A host seen for the first time (an add) takes the next id.
                    let known = match identities.get(&host) {
                        Some(written) => *written,
                        None => caches.identities.get(&host).copied(),
                    };
                    let identity = match known {
                        Some(i) => HostIdentity {
                            updated_at_ms: now_ms,
                            ..i
                        },
                        None => {
                            next_host_id += 1;
                            HostIdentity {
                                id: next_host_id - 1,
                                created_at_ms: now_ms,
                                updated_at_ms: now_ms,
                            }
                        }
                    };
                    batch.put_host_identity(&host, &identity)?;
                    identities.insert(host, Some(identity));
                }
            }
            Effect::HostRemoved { host } => {
                batch.delete_host_identity(&host);
                identities.insert(host.clone(), None);
                batch.op(Op::Delete {
                    key: keys::host(&host),
                    expect: Expect::Any,
                });
                batch.op(Op::Delete {
                    key: keys::bmc(&host),
                    expect: Expect::Any,
                });
                // The links forget the host too, once the delete is durable.
                outside.push(Effect::HostRemoved { host });
            }
            Effect::Alarm(change) => {
                match &change {
                    AlarmChange::Raise(a) => {
                        batch.raise_alarm(a)?;
                    }
                    AlarmChange::Clear { id, host } => {
                        batch.clear_alarm(*id, host);
                    }
                }
                alarm_changes.push(change);
            }
            Effect::Log(log) => {
                batch.event(now_ms, &log)?;
                events.push(log);
            }
            Effect::Journal(entry) => {
                batch.journal(now_ms, &entry)?;
                journal.push(entry);
            }
            other => outside.push(other),
        }
    }
    if batch.is_empty() {
        return Ok(outside);
    }
    let next = serde_json::to_vec(&core.next_action_id())
        .map_err(|e| StoreError::Backend(format!("encoding the next action id: {e}")))?;
    batch.op(Op::Put {
        key: keys::NEXT_ACTION_ID.into(),
        value: next,
        expect: Expect::Any,
    });
    if next_host_id != caches.next_host_id {
        batch.set_next_host_id(next_host_id)?;
    }
    batch.commit()?;
    caches.next_host_id = next_host_id;
    for (name, identity) in identities {
        match identity {
            Some(i) => caches.identities.insert(name, i),
            None => caches.identities.remove(&name),
        };
    }
    // Only what is durable shows in the caches.
    for change in alarm_changes {
        match change {
            AlarmChange::Raise(a) => {
                caches.alarms.insert((a.id, a.host.clone()), a);
            }
            AlarmChange::Clear { id, host } => {
                caches.alarms.remove(&(id, host));
            }
        }
    }
    for e in events {
        caches.push_event(Stamped {
            at_ms: now_ms,
            entry: e,
        });
    }
    for j in &journal {
        caches.note_journal(j);
    }
    Ok(outside)
}
