//! A simulated host as its BMC and its disk would show it: power, boot, boot id, the disk the node
//! agent keeps its files on, the real [`steward_agent::Agent`] while it runs, its two network links,
//! and the faults injected into it.
//!
//! The behaviour (carrying out the agent's effects, what a boot does) lives in [`crate::world`],
//! which owns the clock and the event queue; this module holds the data.

use crate::heartbeat::HbLink;
use crate::network::Link;
use std::time::Duration;
use steward_agent::{Agent, FlagFile, FlagPair, LockState};
use steward_maintenance::state::{Network, Personality};
use steward_maintenance::{Instant, NodeSettings};

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

/// What the node agent keeps on the host's disk, as the runtime (`steward-node`) lays it out: the
/// volatile lock flag on a tmpfs (gone at every boot), the backup flag and the agent's state file
/// (confirmed admin state, pushed settings) on persistent storage (gone only with a wipe).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimDisk {
    pub volatile_flag: bool,
    pub backup_flag: bool,
    /// The admin state the controller last confirmed, as the agent persisted it.
    pub lock_state: Option<LockState>,
    pub settings: NodeSettings,
    /// The highest controller epoch the agent accepted (fencing survives reboots).
    pub highest_epoch: u64,
}

impl SimDisk {
    /// The flag files as the agent would observe them.
    pub fn flags(&self) -> FlagPair {
        FlagPair {
            volatile: self.volatile_flag,
            backup: self.backup_flag,
        }
    }

    pub fn set_flag(&mut self, file: FlagFile, present: bool) {
        match file {
            FlagFile::Volatile => self.volatile_flag = present,
            FlagFile::Backup => self.backup_flag = present,
        }
    }

    /// A power cycle: the tmpfs is gone.
    pub fn boot(&mut self) {
        self.volatile_flag = false;
    }

    /// A wipe (reinstall): nothing of the old install survives.
    pub fn wipe(&mut self) {
        *self = SimDisk::default();
    }
}

/// One simulated host.
#[derive(Debug)]
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
    pub disk: SimDisk,
    /// The real node agent, while the machine runs (kept, frozen, while hung).
    pub agent: Option<Agent>,
    /// When the agent's timer event is scheduled (`None`: none pending).
    pub agent_timer: Option<Instant>,
    /// Next boot comes up as a fresh install (wipe disk, or netboot-once then reset).
    pub fresh_install_pending: bool,
    /// Fresh installs this machine has really booted (ground truth of the reinstall invariants).
    pub installs: u64,
    pub links: [Link; 2],
    /// The host's link on the pxeboot network, when it has a pxeboot address: alive reports and
    /// reboot commands only (docs/protocol.md#the-pxeboot-network); never heartbeated.
    pub pxeboot: Option<Link>,
    pub hb: [HbLink; 2],
    pub bmc: Option<SimBmc>,
    /// The BMC's virtual CD and one-time boot override (reinstall by virtual media).
    pub vmedia: crate::vmedia::VirtualCd,
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

    /// Answering on the pxeboot network.
    pub fn pxeboot_reachable(&self) -> bool {
        self.phase == Phase::Up && self.pxeboot.is_some_and(|l| !l.cut)
    }

    pub fn powered(&self) -> bool {
        self.phase != Phase::Off
    }
}
