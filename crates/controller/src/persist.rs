//! The actor's side of the write-ahead step ([`steward_store::writeahead`]): the wall clock in, and
//! the read caches (alarms, recent events, action statuses) kept in step with what was written.

use crate::feed::FeedItem;
use crate::handle::{ActionStatus, HostEntry};
use std::collections::{BTreeMap, HashMap, VecDeque};
use steward_maintenance::action::{ActionId, JournalEntry};
use steward_maintenance::alarm::{Alarm, AlarmChange, AlarmId, CustomerLog};
use steward_maintenance::io::Effect;
use steward_maintenance::Maintenance;
use steward_store::typed::{unix_ms_now, Stamped, TypedStore};
use steward_store::{writeahead, StoreError};

/// How many recent events the actor keeps in memory for the API (the store keeps more).
pub(crate) const RECENT_EVENTS: usize = 2_000;

/// What the API reads without touching the store.
#[derive(Default)]
pub(crate) struct Caches {
    pub alarms: BTreeMap<(AlarmId, String), Alarm>,
    pub events: VecDeque<Stamped<CustomerLog>>,
    pub actions: HashMap<ActionId, ActionStatus>,
    /// Each host's integer id and times, by name, as stored, and the id the next new host gets.
    pub ids: writeahead::HostIds,
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
        c.ids = writeahead::HostIds::load(store)?;
        Ok(c)
    }

    /// Give every host in `names` that has no identity yet (stored before ids existed) one, and
    /// persist them in one commit.
    pub fn identify(
        &mut self,
        store: &TypedStore,
        names: impl IntoIterator<Item = String>,
    ) -> Result<(), StoreError> {
        self.ids.identify(store, names, unix_ms_now())
    }

    pub(crate) fn push_event(&mut self, e: Stamped<CustomerLog>) {
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

/// What one write-ahead step made durable, for the actor to act on.
pub(crate) struct Drained {
    /// Effects on the outside world, to carry out now that the commit succeeded.
    pub outside: Vec<Effect>,
    /// The step's changes for the live feed.
    pub feed: Vec<FeedItem>,
    /// The journal lines that became durable.
    pub journal: Vec<JournalEntry>,
}

/// Drain every effect of the core through the write-ahead step (stamped with the wall clock), keep
/// the caches in step with what became durable, and return the effects that act on the outside
/// world, to be carried out only after the commit succeeded, with the step's changes for the live
/// feed (hosts, alarms, events, in that order) and the journal lines that became durable.
pub(crate) fn drain(
    core: &mut Maintenance,
    store: &TypedStore,
    caches: &mut Caches,
) -> Result<Drained, StoreError> {
    let step = writeahead::drain(core, store, &mut caches.ids, unix_ms_now())?;
    let mut feed = Vec::with_capacity(step.hosts.len() + step.alarms.len() + step.events.len());
    for name in &step.hosts {
        feed.push(match core.host(name) {
            Some(rec) => FeedItem::Host(Box::new(HostEntry {
                record: rec.clone(),
                identity: caches.ids.identities.get(name).copied().unwrap_or(
                    steward_store::typed::HostIdentity {
                        id: 0,
                        created_at_ms: 0,
                        updated_at_ms: 0,
                    },
                ),
            })),
            None => FeedItem::HostRemoved { host: name.clone() },
        });
    }
    // Only what is durable shows in the caches.
    for change in step.alarms {
        match change {
            AlarmChange::Raise(a) => {
                feed.push(FeedItem::AlarmRaised(a.clone()));
                caches.alarms.insert((a.id, a.host.clone()), a);
            }
            AlarmChange::Clear { id, host } => {
                feed.push(FeedItem::AlarmCleared {
                    id,
                    host: host.clone(),
                });
                caches.alarms.remove(&(id, host));
            }
        }
    }
    for e in step.events {
        let stamped = Stamped {
            at_ms: step.at_ms,
            entry: e,
        };
        feed.push(FeedItem::Event(stamped.clone()));
        caches.push_event(stamped);
    }
    for j in &step.journal {
        caches.note_journal(j);
    }
    Ok(Drained {
        outside: step.outside,
        feed,
        journal: step.journal,
    })
}
