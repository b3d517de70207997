//! Node-side invariants, judged from the simulated disk (ground truth) and from what crossed the
//! wire, never from what the agent or the core believe:
//!
//! - `lock_flags_follow_confirmed_state`: one flag-audit period after the last disturbance (a
//!   LOCKED/UNLOCKED the node accepted, a tampered flag file, an agent start), the two lock flag
//!   files are what the admin state the node last accepted asks for (a wiped disk counts as a
//!   fresh install: locked, both files).
//! - `locked_host_boots_locked`: once its agent has started, a host whose last accepted admin state
//!   is locked has the volatile flag again, whatever the reboot or power loss wiped.
//! - `command_runs_once_per_session`: a destructive command (reboot, wipe) is carried out at most
//!   once per (controller session, command id), counting the machine's real reboots and wipes.

use crate::invariants::{Invariant, Violation};
use crate::node::SimDisk;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use steward_agent::LockState;
use steward_maintenance::{CommandId, Instant, NodeCommand};

#[derive(Debug)]
struct HostTruth {
    /// The admin state of the last LOCKED/UNLOCKED the node accepted (ack Ok, first delivery of
    /// its id in its session).
    confirmed: LockState,
    /// The flags may be off until one audit period after this.
    disturbed_at: Instant,
    delivered: HashSet<(u64, CommandId)>,
    destructive_runs: HashMap<(u64, CommandId), u32>,
}

/// Watches the nodes' disks and the commands they accepted.
#[derive(Debug)]
pub struct NodeSideChecker {
    hosts: Vec<HostTruth>,
    audit_period: Duration,
}

impl NodeSideChecker {
    /// `initial`: each host's admin state as set up on its disk before the run.
    pub fn new(initial: impl IntoIterator<Item = LockState>, audit_period: Duration) -> Self {
        NodeSideChecker {
            hosts: initial
                .into_iter()
                .map(|confirmed| HostTruth {
                    confirmed,
                    disturbed_at: Instant::ZERO,
                    delivered: HashSet::new(),
                    destructive_runs: HashMap::new(),
                })
                .collect(),
            audit_period,
        }
    }

    /// The admin state node `i` last accepted (the fresh-install default after a wipe).
    pub fn confirmed(&self, i: usize) -> LockState {
        self.hosts[i].confirmed
    }

    /// A command reached node `i`'s running agent, which acked it `Ok`.
    pub fn command_accepted(
        &mut self,
        i: usize,
        now: Instant,
        session: u64,
        id: CommandId,
        command: NodeCommand,
    ) {
        let h = &mut self.hosts[i];
        if !h.delivered.insert((session, id)) {
            return; // a duplicate of a command already accepted: changes nothing
        }
        let state = match command {
            NodeCommand::Locked { persist } => LockState::Locked { persist },
            NodeCommand::Unlocked => LockState::Unlocked,
            _ => return,
        };
        h.confirmed = state;
        h.disturbed_at = now;
    }

    /// Node `i` really rebooted or wiped itself because of command `(session, id)`.
    pub fn destructive_run(
        &mut self,
        i: usize,
        host: &str,
        now: Instant,
        session: u64,
        id: CommandId,
        what: &str,
    ) -> Result<(), Violation> {
        let runs = self.hosts[i]
            .destructive_runs
            .entry((session, id))
            .or_default();
        *runs += 1;
        if *runs > 1 {
            return Err(Violation::new(
                Invariant::CommandRunsOncePerSession,
                now,
                Some(host),
                format!(
                    "{what} of command {} (controller session {session}) carried out {} times",
                    id.0, runs
                ),
            ));
        }
        Ok(())
    }

    /// Node `i`'s disk was wiped: it is a fresh install, which takes itself as locked.
    pub fn disk_wiped(&mut self, i: usize, now: Instant) {
        let h = &mut self.hosts[i];
        h.confirmed = LockState::FRESH_INSTALL;
        h.disturbed_at = now;
    }

    /// Something moved the flag files behind the agent's back (tampering), or the agent restarted.
    pub fn disturbed(&mut self, i: usize, now: Instant) {
        self.hosts[i].disturbed_at = now;
    }

    /// `lock_flags_follow_confirmed_state`, with node `i`'s agent running.
    pub fn check_flags(
        &self,
        i: usize,
        host: &str,
        now: Instant,
        disk: &SimDisk,
    ) -> Result<(), Violation> {
        let h = &self.hosts[i];
        if now < h.disturbed_at + self.audit_period {
            return Ok(());
        }
        let want = h.confirmed.target();
        if disk.flags() != want {
            return Err(Violation::new(
                Invariant::LockFlagsFollowConfirmedState,
                now,
                Some(host),
                format!(
                    "lock flags on disk volatile={} backup={} but the node last accepted {:?} \
                     (wants volatile={} backup={}) {} ms ago",
                    disk.volatile_flag,
                    disk.backup_flag,
                    h.confirmed,
                    want.volatile,
                    want.backup,
                    now.since(h.disturbed_at).as_millis()
                ),
            ));
        }
        Ok(())
    }

    /// `locked_host_boots_locked`, right after node `i`'s agent started.
    pub fn check_boot(
        &self,
        i: usize,
        host: &str,
        now: Instant,
        disk: &SimDisk,
    ) -> Result<(), Violation> {
        let h = &self.hosts[i];
        if h.confirmed.is_locked() && !disk.volatile_flag {
            return Err(Violation::new(
                Invariant::LockedHostBootsLocked,
                now,
                Some(host),
                format!(
                    "agent started without the volatile lock flag; the node last accepted {:?}",
                    h.confirmed
                ),
            ));
        }
        Ok(())
    }
}
