//! The pxeboot alive audit (docs/recovery.md#pxeboot-alive-monitor): runs each host's
//! [`PxebootMonitor`] and turns its verdicts into alarm 200.003 and a customer log.

use super::HostRt;
use crate::alarm::{AlarmId, LogId, Severity};
use crate::core::Maintenance;
use crate::io::ProtocolNetwork;
use crate::pxeboot::{PxebootMonitor, PxebootVerdict};
use crate::state::SystemType;

impl Maintenance {
    /// Whether `h` is to be monitored on pxeboot: it has a pxeboot address, its agent says it
    /// reports there, and the system has more than one host (an all-in-one simplex has no other
    /// host to reach it from).
    fn pxeboot_monitored(&self, h: &HostRt) -> bool {
        self.system.system_type != SystemType::AioSimplex
            && h.rec.spec.has_pxeboot_network()
            && h.alive.flags.pxeboot_alive
    }

    pub(crate) fn pxeboot_audit(&mut self, h: &mut HostRt) {
        let name = h.name().to_string();
        let pxeboot = h.alive.reports[ProtocolNetwork::Pxeboot.index()];
        let other = h.alive.reports[ProtocolNetwork::Mgmt.index()]
            + h.alive.reports[ProtocolNetwork::Cluster.index()];
        if !self.pxeboot_monitored(h) {
            // Not heard from yet (a restarted controller): a restored alarm waits for the agent.
            if h.alive.last.is_none() && h.rec.spec.has_pxeboot_network() {
                return;
            }
            // No longer monitored (address removed, agent without pxeboot): nothing stays raised.
            h.pxeboot = None;
            if self.alarms.is_active(AlarmId::PxebootAlive, &name) {
                self.clear(&name, AlarmId::PxebootAlive);
                self.log(
                    &name,
                    LogId::Event,
                    format!("{name} pxeboot network no longer monitored"),
                );
            }
            return;
        }
        let cfg = self.cfg.pxeboot.clone();
        let now = self.now;
        let alarmed = self.alarms.is_active(AlarmId::PxebootAlive, &name);
        let m = h
            .pxeboot
            .get_or_insert_with(|| PxebootMonitor::new(now, pxeboot, other, alarmed, &cfg));
        match m.check(now, pxeboot, other, &cfg) {
            Some(PxebootVerdict::Raise) => {
                self.raise(&name, AlarmId::PxebootAlive, Severity::Minor);
                self.log(
                    &name,
                    LogId::Event,
                    format!("{name} pxeboot network communication failure"),
                );
            }
            Some(PxebootVerdict::Clear) => {
                if !cfg!(mutation = "pxeboot-alarm-never-clears") {
                    self.clear(&name, AlarmId::PxebootAlive);
                }
                self.log(
                    &name,
                    LogId::Event,
                    format!("{name} pxeboot network communication recovered"),
                );
            }
            None => {}
        }
    }
}
