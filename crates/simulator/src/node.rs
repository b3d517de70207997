//! A simulated host as its node agent and BMC would show it: power, boot, boot id, lock flags,
//! go-enabled results, its two network links, and the faults injected into it.
//!
//! The behaviour (what the agent does with a command, what a boot does) lives in [`crate::world`],
//! which owns the clock and the event queue; this module holds the data.

use crate::heartbeat::HbLink;
use crate::network::Link;
use std::collections::VecDeque;
use std::time::Duration;
use steward_maintenance::state::{Network, Personality};
use steward_maintenance::{CommandId, Instant, NodeFlags};

/// Where a host is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No power.
    Off,
    /// Power on, booting (no agent yet).
    Booting,
    /// Agent running: sends alive reports, answers commands and pulses.
    Up,
    /// Power on but frozen: answers nothing until reset, or healed.
    Hung,
}

/// A host's BMC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimBmc {
    pub reachable: bool,
}

/// One simulated host.
#[derive(Clone, Debug)]
pub struct SimNode {
    pub name: String,
    pub personality: Personality,
    /// The node runs the worker subfunction too (AIO controller).
    pub aio_controller: bool,
    pub has_cluster: bool,
    pub phase: Phase,
    /// Bumped on every power or boot transition; timers carry it and die when it changed.
    pub epoch: u64,
    pub boot_id: u64,
    pub booted_at: Instant,
    /// Uptime already accumulated at `booted_at` (the initial cluster has been up for days).
    pub uptime_base: Duration,
    pub lock_volatile: bool,
    pub lock_persist: bool,
    pub main_goenabled: bool,
    pub subf_goenabled: bool,
    pub main_goenable_failed: bool,
    pub subf_goenable_failed: bool,
    /// Next boot comes up as a fresh install (wipe disk, or netboot-once then reset).
    pub fresh_install_pending: bool,
    pub links: [Link; 2],
    pub hb: [HbLink; 2],
    pub bmc: Option<SimBmc>,
    /// Recently executed command ids (duplicates are acked again but not re-executed).
    pub seen_commands: VecDeque<CommandId>,
    // ----- faults -----
    /// Lost power by a fault (heal powers it back on).
    pub crashed: bool,
    /// Go-enabled tests that will fail, main and subfunction alike.
    pub goenabled_failures: u32,
    /// The next boot never finishes.
    pub boot_failure: bool,
    /// The current boot never finishes (a boot failure struck).
    pub boot_stuck: bool,
    /// Removed from the core (delete): keeps running but nobody listens.
    pub removed: bool,
}

impl SimNode {
    pub fn uptime(&self, now: Instant) -> Duration {
        self.uptime_base + now.since(self.booted_at)
    }

    pub fn has(&self, net: Network) -> bool {
        net == Network::Mgmt || self.has_cluster
    }

    pub fn networks(&self) -> impl Iterator<Item = Network> + '_ {
        Network::ALL.into_iter().filter(|n| self.has(*n))
    }

    /// Answering on this network (alive reports, acks, heartbeat pulses).
    pub fn reachable(&self, net: Network) -> bool {
        self.phase == Phase::Up && self.has(net) && !self.links[net.index()].cut
    }

    pub fn powered(&self) -> bool {
        self.phase != Phase::Off
    }

    /// Flags carried in every alive report (mtc-fsm.md §3.5).
    pub fn flags(&self) -> NodeFlags {
        NodeFlags {
            configured: true,
            healthy: true,
            locked: self.lock_volatile,
            subf_configured: self.aio_controller,
            main_goenabled: self.main_goenabled,
            subf_goenabled: self.subf_goenabled,
            main_goenable_failed: self.main_goenable_failed,
            subf_goenable_failed: self.subf_goenable_failed,
            ..NodeFlags::default()
        }
    }

    /// Remember a command id; true if it was new.
    pub fn first_sight(&mut self, id: CommandId) -> bool {
        if self.seen_commands.contains(&id) {
            return false;
        }
        if self.seen_commands.len() >= 16 {
            self.seen_commands.pop_front();
        }
        self.seen_commands.push_back(id);
        true
    }
}
