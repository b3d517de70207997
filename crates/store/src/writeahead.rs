//! The write-ahead step of a controller, sans-IO: drain every effect of one core step, write what
//! must survive a crash (host records, alarms, customer logs, the action journal, the next action
//! id) in **one** transaction, and hand back the effects that act on the outside world, to be
//! carried out only after the commit succeeded. Time comes in as `now_ms` (the stamp of the log and
//! journal entries), so the controller's actor and the deterministic simulator run the same code.
//!
//! If the commit fails, nothing of the step is durable and the caller must not act on any of it:
//! the controller stops (fail-stop) and restarts from what the store holds.

use crate::typed::TypedStore;
use crate::{Expect, Op, StoreError};
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

/// Drain `core`'s effects, commit the durable ones to `store` in one transaction stamped `now_ms`,
/// and return the step. On error nothing was written; the effects drained are lost with it, and the
/// caller must stop acting (the core's view is now ahead of the store).
pub fn drain(core: &mut Maintenance, store: &TypedStore, now_ms: u64) -> Result<Step, StoreError> {
    let mut effects = Vec::new();
    while let Some(effect) = core.poll_effect() {
        effects.push(effect);
    }
    commit(core, effects, store, now_ms)
}

/// [`drain`] for effects already polled from `core` (in the core's order): a driver that looks at
/// each effect first (the simulator's invariants) commits through the same code.
pub fn commit(
    core: &Maintenance,
    effects: Vec<Effect>,
    store: &TypedStore,
    now_ms: u64,
) -> Result<Step, StoreError> {
    let mut batch = store.batch();
    let mut step = Step {
        at_ms: now_ms,
        ..Step::default()
    };
    for effect in effects {
        // Every variant by name: a new effect must be placed on one side or the other on purpose.
        match effect {
            Effect::HostChanged { host } => {
                if let Some(rec) = core.host(&host) {
                    batch.put_host(rec, Expect::Any)?;
                }
                step.hosts.push(host);
            }
            Effect::HostRemoved { host } => {
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
    batch.commit()?;
    step.committed = true;
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
