//! Invariants of controller restarts, judged from the durable store (what a restarted controller
//! really has) and the simulator's own record of the requests it made:
//!
//! - `no_acknowledged_change_lost`: an operator request the controller answered with an action id
//!   (its step committed) is in the durable journal as accepted, whatever crashed later.
//! - `actions_end_across_restarts`: after settling, every action the durable journal shows accepted
//!   also shows ended (completed, failed or superseded), restarts or not.
//! - `durable_state_matches_core`: after settling, the durable alarms are exactly the core's (which
//!   the quiescence checks hold to the host states), and every host record in the store is the
//!   core's: a restart now would come back to the same cluster.

use crate::invariants::{Invariant, Violation};
use std::collections::{BTreeMap, BTreeSet};
use steward_maintenance::action::{ActionId, JournalEntry, OperatorAction};
use steward_maintenance::alarm::{AlarmId, Severity};
use steward_maintenance::host::HostRecord;
use steward_maintenance::{Instant, Maintenance};
use steward_store::typed::TypedStore;
use steward_store::StoreError;

/// Records acknowledged requests; judges the store at the end.
#[derive(Debug, Default)]
pub struct RestartChecker {
    acknowledged: Vec<(ActionId, String, OperatorAction, Instant)>,
}

fn store_violation(now: Instant, e: StoreError) -> Violation {
    Violation::new(
        Invariant::DurableStateMatchesCore,
        now,
        None,
        format!("the simulated store cannot be read: {e}"),
    )
}

impl RestartChecker {
    /// The controller answered `id` for this request: its step is durable.
    pub fn acknowledged(&mut self, id: ActionId, host: &str, action: OperatorAction, at: Instant) {
        self.acknowledged.push((id, host.to_string(), action, at));
    }

    /// Right after a restart, and at the end: every acknowledged request is durably accepted.
    pub fn check_acknowledged(&self, store: &TypedStore, now: Instant) -> Result<(), Violation> {
        let journal = store.journal().map_err(|e| store_violation(now, e))?;
        let accepted: BTreeSet<ActionId> = journal
            .iter()
            .filter_map(|(_, j)| match &j.entry {
                JournalEntry::Accepted { id, .. } => Some(*id),
                JournalEntry::Ended { .. } => None,
            })
            .collect();
        for (id, host, action, at) in &self.acknowledged {
            if !accepted.contains(id) {
                return Err(Violation::new(
                    Invariant::NoAcknowledgedChangeLost,
                    now,
                    Some(host),
                    format!(
                        "{action} of {host} was acknowledged as {id} at t={}ms but the durable \
                         journal has no acceptance of it",
                        at.as_millis()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// After settling.
    pub fn at_quiescence(
        &self,
        store: &TypedStore,
        core: &Maintenance,
        now: Instant,
    ) -> Result<(), Violation> {
        self.check_acknowledged(store, now)?;
        let journal = store.journal().map_err(|e| store_violation(now, e))?;
        let mut open: BTreeMap<ActionId, String> = BTreeMap::new();
        for (_, j) in &journal {
            match &j.entry {
                JournalEntry::Accepted { id, host, action } => {
                    open.insert(*id, format!("{action} {host}"));
                }
                JournalEntry::Ended { id, .. } => {
                    open.remove(id);
                }
            }
        }
        if let Some((id, what)) = open.into_iter().next() {
            return Err(Violation::new(
                Invariant::ActionsEndAcrossRestarts,
                now,
                None,
                format!("action {id} ({what}) is accepted in the durable journal and never ended"),
            ));
        }
        let durable: BTreeMap<(AlarmId, String), Severity> = store
            .alarms()
            .map_err(|e| store_violation(now, e))?
            .into_iter()
            .map(|a| ((a.id, a.host), a.severity))
            .collect();
        let book: BTreeMap<(AlarmId, String), Severity> = core
            .alarms()
            .iter()
            .map(|(id, h, s)| ((id, h.to_string()), s))
            .collect();
        if durable != book {
            return Err(Violation::new(
                Invariant::DurableStateMatchesCore,
                now,
                None,
                format!("durable alarms {durable:?} are not the core's {book:?}"),
            ));
        }
        let hosts = store.hosts().map_err(|e| store_violation(now, e))?;
        if hosts.len() != core.hosts().count() {
            return Err(Violation::new(
                Invariant::DurableStateMatchesCore,
                now,
                None,
                format!(
                    "{} host records in the store, {} in the core",
                    hosts.len(),
                    core.hosts().count()
                ),
            ));
        }
        // The last reported uptime is refreshed by every alive report and persisted only with
        // other changes: it is the one field allowed to lag.
        let comparable = |r: &HostRecord| HostRecord {
            uptime: Default::default(),
            ..r.clone()
        };
        for (rec, _) in hosts {
            let name = rec.name().to_string();
            if core.host(&name).map(comparable) != Some(comparable(&rec)) {
                return Err(Violation::new(
                    Invariant::DurableStateMatchesCore,
                    now,
                    Some(&name),
                    format!(
                        "durable record is not the core's: durable {rec:?}, core {:?}",
                        core.host(&name)
                    ),
                ));
            }
        }
        Ok(())
    }
}
