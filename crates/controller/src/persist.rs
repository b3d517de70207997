//! Turning the core's effects into one store transaction per step (write-ahead), and keeping the
//! actor's read caches (alarms, recent events, action statuses) in step with what was written.

use crate::handle::ActionStatus;
use std::collections::{BTreeMap, HashMap, VecDeque};
use steward_maintenance::action::{ActionId, JournalEntry};
use steward_maintenance::alarm::{Alarm, AlarmChange, AlarmId, CustomerLog};
use steward_maintenance::io::Effect;
use steward_maintenance::Maintenance;
use steward_store::typed::{keys, unix_ms_now, Stamped, TypedStore};
use steward_store::{Expect, Op, StoreError};

/// How many recent events the actor keeps in memory for the API (the store keeps more).
pub(crate) const RECENT_EVENTS: usize = 2_000;

/// What the API reads without touching the store.
#[derive(Default)]
pub(crate) struct Caches {
    pub alarms: BTreeMap<(AlarmId, String), Alarm>,
    pub events: VecDeque<Stamped<CustomerLog>>,
    pub actions: HashMap<ActionId, ActionStatus>,
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
        Ok(c)
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
    while let Some(effect) = core.poll_effect() {
        match effect {
            Effect::HostChanged { host } => {
                if let Some(rec) = core.host(&host) {
                    batch.put_host(rec, Expect::Any)?;
                }
            }
            Effect::HostRemoved { host } => {
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
    batch.commit()?;
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
