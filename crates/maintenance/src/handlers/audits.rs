//! The always-on audits of every pass (docs/handlers.md#audits: degrade, offline/online,
//! in-service/out-of-service tests, BMC access alarm).

use super::HostRt;
use crate::action::Action;
use crate::alarm::{AlarmId, Severity};
use crate::core::Maintenance;
use crate::host::ArCause;
use crate::io::NodeCommand;
use crate::state::*;

impl Maintenance {
    /// Degrade handler: available ⇄ degraded follows the degrade mask while unlocked-enabled.
    pub(crate) fn degrade_audit(&mut self, h: &mut HostRt) {
        let s = h.rec.states;
        if !s.is_unlocked_enabled() || h.rec.action != Action::None {
            return;
        }
        if h.rec.degrade.is_empty() && s.avail == Availability::Degraded {
            self.set_avail(h, Availability::Available);
        } else if !h.rec.degrade.is_empty() && s.avail == Availability::Available {
            self.set_avail(h, Availability::Degraded);
        }
    }

    /// Offline audit: runs while a handler waits for a host to go down.
    pub(crate) fn offline_audit(&mut self, h: &mut HostRt) {
        let Some(audit) = h.offline_audit else { return };
        if h.rec.states.avail == Availability::Offline {
            h.offline_audit = None;
            return;
        }
        if self.now >= audit.deadline {
            h.offline_audit = None;
            h.alive.count = 0;
            // A parked host (auto-recovery disabled) keeps showing `failed` until lock/unlock.
            if h.rec.states.avail != Availability::PowerOff && h.rec.ar_disabled.is_none() {
                self.set_avail(h, Availability::Offline);
            }
            self.locked_host_went_offline(h);
        }
    }

    /// Online audit: hosts not in service go online when they speak and offline after three silent
    /// periods. While locked, the lock flag is refreshed each period.
    pub(crate) fn online_audit(&mut self, h: &mut HostRt) {
        let now = self.now;
        if now < h.online_next {
            return;
        }
        let period = self.cfg.timeouts.online_period.0;
        h.online_next = now + period;
        let s = h.rec.states;
        let watched = !matches!(
            s.avail,
            Availability::Available
                | Availability::Degraded
                | Availability::OffDuty
                | Availability::InTest
                | Availability::NotInstalled
        ) && h.rec.ar_disabled.is_none()
            && !matches!(
                h.stage,
                super::Stage::Enable(super::enable::EnableStage::FailureWait { .. })
            );
        if h.locked() {
            let persist = self.system.system_type != SystemType::AioSimplex;
            if h.alive.last.is_some_and(|t| now.since(t) < period * 3) {
                self.notify(h, NodeCommand::Locked { persist }, h.networks());
            }
        }
        if !watched {
            return;
        }
        let heard = h.alive.last.is_some_and(|t| now.since(t) < period);
        if heard {
            h.online_misses = 0;
            h.online_hits += 1;
            // From power-off, five good periods in a row are needed (a BMC can glitch).
            let needed = if s.avail == Availability::PowerOff {
                5
            } else {
                1
            };
            if s.avail != Availability::Online
                && h.online_hits >= needed
                && h.rec.action != Action::PowerOff
            {
                self.set_avail(h, Availability::Online);
                if h.rec.subf.is_some() && h.locked() {
                    self.set_subf(h, OperState::Disabled, Availability::Online);
                }
            }
        } else {
            h.online_hits = 0;
            h.online_misses += 1;
            if h.online_misses >= 3 && s.avail == Availability::Online {
                self.set_avail(h, Availability::Offline);
                if h.rec.subf.is_some() && h.locked() {
                    self.set_subf(h, OperState::Disabled, Availability::Offline);
                }
                self.locked_host_went_offline(h);
            }
        }
    }

    /// A locked host went silent. Nothing is done to it: a locked host is never auto-recovered.
    #[cfg_attr(not(mutation = "recover-locked"), allow(unused_variables))]
    fn locked_host_went_offline(&mut self, h: &mut HostRt) {
        #[cfg(mutation = "recover-locked")]
        if h.locked() && h.rec.bmc_provisioned() && h.rec.action == Action::None {
            // Deliberate bug: "recover" a locked host with a BMC reset.
            self.bmc(h, crate::io::BmcOp::PowerReset);
            h.bmc_req = None;
        }
    }

    /// In-service test (docs/handlers.md#in-service-and-out-of-service-tests): health flags of an
    /// in-service host.
    pub(crate) fn insv_test(&mut self, h: &mut HostRt) {
        let now = self.now;
        if now < h.insv_next {
            return;
        }
        h.insv_next = now + self.cfg.timeouts.insv_test_period.0;
        let f = h.alive.flags;
        let name = h.name().to_string();
        // SM degraded flag ↔ SM degrade bit; LUKS flag ↔ 200.016.
        if f.sm_degraded {
            h.rec.degrade.set(DegradeMask::SM);
        } else {
            h.rec.degrade.clear(DegradeMask::SM);
        }
        if f.luks_failed {
            h.rec.degrade.set(DegradeMask::LUKS);
            self.raise(&name, AlarmId::Luks, Severity::Critical);
        } else if h.rec.degrade.has(DegradeMask::LUKS) {
            h.rec.degrade.clear(DegradeMask::LUKS);
            self.clear(&name, AlarmId::Luks);
        }
        if f.not_healthy {
            h.not_healthy_audits += 1;
            if h.not_healthy_audits >= 3 {
                h.not_healthy_audits = 0;
                if self.is_self(h) {
                    h.rec.degrade.set(DegradeMask::CONFIG);
                    self.raise(&name, AlarmId::Config, Severity::Critical);
                } else if self.ar_manage(h, ArCause::Config) {
                    self.force_full_enable(h, "node reports it is not healthy");
                }
            }
        } else {
            h.not_healthy_audits = 0;
            if f.healthy && self.alarms.is_active(AlarmId::Config, &name) {
                h.rec.degrade.clear(DegradeMask::CONFIG);
                self.clear(&name, AlarmId::Config);
            }
        }
        // AIO controller: the worker subfunction recovers on its own when it fails in service.
        if h.is_aio_controller(self.system.system_type) && h.unlocked() {
            if let Some(sf) = h.rec.subf {
                if sf.oper == OperState::Disabled
                    && h.rec.action == Action::None
                    && h.rec.states.in_service()
                {
                    self.set_action(h, Action::EnableSubf, None);
                }
            }
        }
    }

    /// Out-of-service test (docs/handlers.md#in-service-and-out-of-service-tests): alarm audit and
    /// lock-flag refresh.
    pub(crate) fn oos_test(&mut self, h: &mut HostRt) {
        let now = self.now;
        if now < h.oos_next {
            return;
        }
        h.oos_next = now + self.cfg.timeouts.oos_test_period.0;
        let name = h.name().to_string();
        // The lock alarm follows the admin state: a missed raise or clear is repaired
        // (docs/differences.md#the-lock-alarm-follows-the-admin-state).
        if h.locked() && h.rec.action == Action::None {
            self.raise(&name, AlarmId::Locked, Severity::Warning);
        } else if h.unlocked() {
            self.clear(&name, AlarmId::Locked);
        }
        if h.rec.states.in_service() && h.rec.action == Action::None {
            self.clear(&name, AlarmId::Enable);
        }
        if h.locked() && h.rec.states.avail == Availability::Online && !h.alive.flags.locked {
            let persist = self.system.system_type != SystemType::AioSimplex;
            self.notify(h, NodeCommand::Locked { persist }, h.networks());
        }
    }

    /// 200.010 (docs/handlers.md#bmc-access-audit): raised when a provisioned BMC stays
    /// inaccessible.
    pub(crate) fn bmc_access_audit(&mut self, h: &mut HostRt) {
        if !h.rec.bmc_provisioned() || h.rec.bmc_accessible {
            return;
        }
        if h.bmc_alarm_at.is_some_and(|at| self.now >= at) {
            h.bmc_alarm_at = None;
            let name = h.name().to_string();
            self.raise(&name, AlarmId::BmcAccess, Severity::Warning);
        }
    }
}
