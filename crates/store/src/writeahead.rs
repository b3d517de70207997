//! The write-ahead step of a controller, sans-IO: drain every effect of one core step, write what
//! must survive a crash (host records, alarms, customer logs, the action journal, the next action
//! id) in **one** transaction, and hand back the effects that act on the outside world, to be
//! carried out only after the commit succeeded. Time comes in as `now_ms` (the stamp of the log and
//! journal entries), so the controller's actor and the deterministic simulator run the same code.
//!
//! If the commit fails, nothing of the step is durable and the caller must not act on any of it:
//! the controller stops (fail-stop) and restarts from what the store holds.

use crate::typed::{HostIdentity, TypedStore};
use crate::{Expect, Op, StoreError};
use std::collections::HashMap;
use steward_maintenance::action::JournalEntry;
use steward_maintenance::alarm::{AlarmChange, CustomerLog};
use steward_maintenance::io::Effect;
use steward_maintenance::Maintenance;

/// What one step made durable (for the caller's read caches), and what it must carry out now.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// The stamp of the step's log and journal entries.
    pub at_ms: u64,
    /// Hosts whose records were written.
    pub hosts: Vec<String>,
    pub alarms: Vec<AlarmChange>,
    pub events: Vec<CustomerLog>,
    pub journal: Vec<JournalEntry>,
    /// Effects on the world outside the store, in the core's order: commands to nodes, BMC
    /// requests, heartbeat controls, swacts, and the links' forgetting of a deleted host.
    pub outside: Vec<Effect>,
    /// A transaction was committed (false: the step wrote nothing).
    pub committed: bool,
}

/// Every host's integer id (what the API, and StarlingX's client, address hosts by) with its
/// creation and last-change times, as stored, and the id the next new host gets. Ids are given in
/// the same transaction as the host's first record and never reused.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostIds {
    pub identities: HashMap<String, HostIdentity>,
    pub next: u64,
}

impl HostIds {
    pub fn load(store: &TypedStore) -> Result<HostIds, StoreError> {
        Ok(HostIds {
            identities: store.host_identities()?.into_iter().collect(),
            next: store.peek_host_id()?,
        })
    }

    /// Give every host in `names` that has none yet (stored before ids existed) an id, in one
    /// commit stamped `now_ms`.
    pub fn identify(
        &mut self,
        store: &TypedStore,
        names: impl IntoIterator<Item = String>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let mut batch = store.batch();
        let mut next = self.next;
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
        self.next = next;
        self.identities.extend(new);
        Ok(())
    }
}

/// Drain `core`'s effects, commit the durable ones to `store` in one transaction stamped `now_ms`,
/// and return the step. On error nothing was written; the effects drained are lost with it, and the
/// caller must stop acting (the core's view is now ahead of the store).
///
/// `ids` is updated only once the commit succeeded.
pub fn drain(
    core: &mut Maintenance,
    store: &TypedStore,
    ids: &mut HostIds,
    now_ms: u64,
) -> Result<Step, StoreError> {
    let mut effects = Vec::new();
    while let Some(effect) = core.poll_effect() {
        effects.push(effect);
    }
    commit(core, effects, store, ids, now_ms)
}

/// [`drain`] for effects already polled from `core` (in the core's order): a driver that looks at
/// each effect first (the simulator's invariants) commits through the same code.
pub fn commit(
    core: &Maintenance,
    effects: Vec<Effect>,
    store: &TypedStore,
    ids: &mut HostIds,
    now_ms: u64,
) -> Result<Step, StoreError> {
    let mut batch = store.batch();
    let mut step = Step {
        at_ms: now_ms,
        ..Step::default()
    };
    // Identities written by this step (None: removed), and the id counter after it.
    let mut identities: HashMap<String, Option<HostIdentity>> = HashMap::new();
    let mut next_host_id = ids.next;
    for effect in effects {
        // Every variant by name: a new effect must be placed on one side or the other on purpose.
        match effect {
            Effect::HostChanged { host } => {
                if let Some(rec) = core.host(&host) {
                    batch.put_host(rec, Expect::Any)?;
                    // A host seen for the first time (an add) takes the next id.
                    let known = match identities.get(&host) {
                        Some(written) => *written,
                        None => ids.identities.get(&host).copied(),
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
                    identities.insert(host.clone(), Some(identity));
                }
                step.hosts.push(host);
            }
            Effect::HostRemoved { host } => {
                batch.delete_host_identity(&host);
                identities.insert(host.clone(), None);
                batch.op(Op::Delete {
                    key: crate::typed::keys::host(&host),
                    expect: Expect::Any,
                });
                batch.op(Op::Delete {
                    key: crate::typed::keys::bmc(&host),
                    expect: Expect::Any,
                });
                // The links forget the host too, once the delete is durable.
                step.outside.push(Effect::HostRemoved { host });
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
                step.alarms.push(change);
            }
            Effect::Log(log) => {
                batch.event(now_ms, &log)?;
                step.events.push(log);
            }
            Effect::Journal(entry) => {
                batch.journal(now_ms, &entry)?;
                step.journal.push(entry);
            }
            e @ (Effect::Send { .. }
            | Effect::Bmc { .. }
            | Effect::Heartbeat { .. }
            | Effect::Swact { .. }) => step.outside.push(e),
        }
    }
    if batch.is_empty() {
        return Ok(step);
    }
    let next = serde_json::to_vec(&core.next_action_id())
        .map_err(|e| StoreError::Backend(format!("encoding the next action id: {e}")))?;
    batch.op(Op::Put {
        key: crate::typed::keys::NEXT_ACTION_ID.into(),
        value: next,
        expect: Expect::Any,
    });
    if next_host_id != ids.next {
        batch.set_next_host_id(next_host_id)?;
    }
    batch.commit()?;
    step.committed = true;
    ids.next = next_host_id;
    for (name, identity) in identities {
        match identity {
            Some(i) => ids.identities.insert(name, i),
            None => ids.identities.remove(&name),
        };
    }
    Ok(step)
}

/// What a controller restarts from: everything [`Maintenance::restore`] takes, read from `store`.
#[derive(Clone, Debug)]
pub struct Durable {
    pub hosts: Vec<steward_maintenance::host::HostRecord>,
    pub alarms: Vec<(
        steward_maintenance::alarm::AlarmId,
        String,
        steward_maintenance::alarm::Severity,
    )>,
    pub next_action_id: u64,
}

impl Durable {
    pub fn load(store: &TypedStore) -> Result<Durable, StoreError> {
        Ok(Durable {
            hosts: store.hosts()?.into_iter().map(|(r, _)| r).collect(),
            alarms: store
                .alarms()?
                .into_iter()
                .map(|a| (a.id, a.host.clone(), a.severity))
                .collect(),
            next_action_id: store.peek_action_id()?.0,
        })
    }
}
