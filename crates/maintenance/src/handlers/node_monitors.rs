//! The node's own link and filesystem monitors (docs/node-monitoring.md): their reports become alarms at
//! once and, when a whole network or a filesystem is lost, a degrade.
//!
//! The agent repeats its reports periodically, so every report is taken as the full truth about
//! its network or mount point: handling one twice changes nothing (the alarm book keeps raises and
//! clears single), and a controller that restarted learns the state again within one period.

use super::HostRt;
use crate::alarm::{AlarmId, Severity};
use crate::core::Maintenance;
use crate::io::{FsState, LinkNetwork};
use crate::state::DegradeMask;

impl Maintenance {
    /// The interface carrying `network` has `down` of its `ports` physical ports down.
    ///
    /// One port down raises the network's port alarm (major); the interface alarm is major while
    /// some ports still carry traffic (a bond running on fewer members) and critical when none
    /// does. Only a network with every port down degrades the host: the heartbeat on it decides
    /// whether the host also fails (docs/recovery.md#heartbeat-failure, `cluster_degrade_only`).
    pub(crate) fn link_event(
        &mut self,
        h: &mut HostRt,
        network: LinkNetwork,
        interface: &str,
        down: u8,
        ports: u8,
    ) {
        let name = h.name().to_string();
        let (port_alarm, interface_alarm) = AlarmId::link_alarms(network);
        let net = network.name();
        let all_down = ports > 0 && down >= ports;
        if down == 0 {
            self.clear(&name, port_alarm);
            self.clear(&name, interface_alarm);
        } else {
            let reason =
                format!("{name} {net} interface {interface}: {down} of {ports} ports down");
            self.raise_with_reason(&name, port_alarm, Severity::Major, reason.clone());
            let severity = if all_down {
                Severity::Critical
            } else {
                Severity::Major
            };
            self.raise_with_reason(&name, interface_alarm, severity, reason);
        }
        h.links_down[network.index()] = all_down;
        self.monitor_degrade(h);
    }

    /// The mount point `mount` is in `state`. One alarm per host covers every mount point: critical
    /// while one is read-only or missing, major while one is only short of space or inodes; its
    /// reason names each faulty mount.
    pub(crate) fn filesystem_event(&mut self, h: &mut HostRt, mount: String, state: FsState) {
        let name = h.name().to_string();
        if state.is_ok() {
            h.fs_faults.remove(&mount);
        } else {
            h.fs_faults.insert(mount, state);
        }
        match h.fs_faults.values().max() {
            None => self.clear(&name, AlarmId::Filesystem),
            Some(worst) => {
                let severity = if *worst >= FsState::ReadOnly {
                    Severity::Critical
                } else {
                    Severity::Major
                };
                let faults: Vec<String> = h
                    .fs_faults
                    .iter()
                    .map(|(m, s)| format!("{m} {}", s.describe()))
                    .collect();
                let reason = format!("{name} filesystem fault: {}", faults.join(", "));
                self.raise_with_reason(&name, AlarmId::Filesystem, severity, reason);
            }
        }
        self.monitor_degrade(h);
    }

    /// Set or clear the link and filesystem degrade causes from what the monitors last reported.
    /// A cause is only set on an unlocked host (a locked one is out of service anyway); a clear
    /// always applies.
    fn monitor_degrade(&mut self, h: &mut HostRt) {
        let before = h.rec.degrade;
        for (bit, faulty) in [
            (DegradeMask::LINK, h.links_down.iter().any(|d| *d)),
            (DegradeMask::FILESYSTEM, !h.fs_faults.is_empty()),
        ] {
            if !faulty {
                h.rec.degrade.clear(bit);
            } else if h.unlocked() {
                h.rec.degrade.set(bit);
            }
        }
        if h.rec.degrade != before {
            let name = h.name().to_string();
            self.changed(&name);
        }
    }
}
