//! Fault and report ingestion (docs/handlers.md#monitor-events): alive reports, acknowledgements,
//! heartbeat, BMC results, process and hardware monitor events, and multi-node failure avoidance
//! (docs/recovery.md#mnfa).

use super::{
    enable::EnableStage, recovery::RecoveryStage, subfunction::SubfStage, swact::SwactStage,
    HostRt, Stage,
};
use crate::action::Action;
use crate::alarm::{AlarmId, LogId, Severity};
use crate::config::HeartbeatFailureAction;
use crate::core::Maintenance;
use crate::host::ArCause;
use crate::io::*;
use crate::state::*;
use crate::task;

impl Maintenance {
    pub(crate) fn apply_event(&mut self, h: &mut HostRt, event: Event) {
        let name = h.name().to_string();
        match event {
            Event::Alive(a) => self.alive_report(h, a),
            Event::CommandAck { command, .. } => {
                if h.cmd.is_some_and(|(id, _)| id == command) {
                    h.cmd_acked = true;
                }
            }
            Event::GoEnabled {
                subfunction,
                passed,
                detail,
                ..
            } => {
                let slot = if subfunction {
                    &mut h.subf_goenabled
                } else {
                    &mut h.goenabled
                };
                *slot = Some((passed, detail));
            }
            Event::HostServices { passed, detail, .. } => h.services = Some((passed, detail)),
            Event::Heartbeat {
                network,
                event,
                tally,
                ..
            } => self.heartbeat_event(h, network, event, tally),
            Event::Bmc {
                request, outcome, ..
            } => {
                if let BmcOutcome::Done(p) = &outcome {
                    // The power state is part of the durable record: a change must be persisted.
                    if h.rec.power != *p {
                        h.rec.power = *p;
                        self.changed(&name);
                    }
                }
                if h.bmc_req == Some(request) {
                    h.bmc_result = Some(outcome);
                }
            }
            Event::BmcAccess { accessible, .. } => {
                if h.rec.bmc_accessible != accessible && h.rec.bmc_provisioned() {
                    h.rec.bmc_accessible = accessible;
                    h.bmc_alarm_at = (!accessible)
                        .then(|| self.now + self.cfg.timeouts.bmc_access_alarm_delay.0);
                    if accessible {
                        self.clear(&name, AlarmId::BmcAccess);
                    }
                    self.changed(&name);
                }
            }
            Event::Pmon { process, event, .. } => self.pmon_event(h, process, event),
            Event::Hwmon { event, .. } => self.hwmon_event(h, event),
            Event::Link {
                network,
                interface,
                down,
                ports,
                ..
            } => self.link_event(h, network, &interface, down, ports),
            Event::Filesystem { mount, state, .. } => self.filesystem_event(h, mount, state),
            Event::SwactResult { .. } => {}
        }
        self.mark_dirty(&name);
    }

    fn alive_report(&mut self, h: &mut HostRt, a: AliveReport) {
        let now = self.now;
        h.alive.per_net[a.network.index()] = Some(now);
        h.alive.reports[a.network.index()] += 1;
        if a.network == ProtocolNetwork::Pxeboot {
            // A pxeboot report feeds the pxeboot monitor only (docs/recovery.md#pxeboot-alive-monitor):
            // a host heard on pxeboot alone has a broken management network and must not pass
            // for answering (recovery would skip its reboot) or for up and in service.
            return;
        }
        let new_boot = h.alive.boot_id != Some(a.boot_id);
        let rebooted = new_boot && h.alive.boot_id.is_some();
        h.alive.last = Some(now);
        h.alive.boot_id = Some(a.boot_id);
        h.alive.uptime = a.uptime;
        h.alive.flags = a.flags;
        // A go-enabled test asked for and not yet acknowledged: this report may have left the node
        // before the request reached it, so a failure flag in it belongs to an earlier test.
        // Counting that stale failure would park a host early (a real agent's periodic report
        // crossing the request on the wire; found by the simulator's auto-recovery threshold
        // invariant). A pass is kept: the agent answers a request with a recent pass at once, and
        // with the ack lost the flags are the only way the pass arrives.
        match h.cmd {
            Some((_, NodeCommand::MainGoEnabled)) if !h.cmd_acked => {
                h.alive.flags.main_goenable_failed = false;
            }
            Some((_, NodeCommand::SubfGoEnabled)) if !h.cmd_acked => {
                h.alive.flags.subf_goenable_failed = false;
            }
            _ => {}
        }
        h.alive.count += 1;
        h.rec.uptime = a.uptime;
        if h.offline_audit.is_some() {
            // Any report pushes the offline decision out: a slow shutdown is not offline yet.
            h.offline_audit = Some(super::OfflineAudit {
                deadline: now + self.offline_window(),
            });
        }
        if rebooted {
            // A rebooted node's process monitor starts over and never clears what it reported
            // before; the controller's own verdict on the monitor (`pmond`) stays.
            let before = h.pmon_failed.len();
            h.pmon_failed.retain(|p, _| p == PMOND);
            if h.pmon_failed.len() != before {
                self.pmon_apply(h);
            }
        }
        if new_boot && h.rec.power != PowerState::On {
            h.rec.power = PowerState::On;
            let name = h.name().to_string();
            self.changed(&name);
        }
        self.lock_flag_check(h, a.network);
        // In service, flags are acted on at once (docs/protocol.md#health-flags): the first
        // go-enabled or services failure.
        if h.rec.states.in_service() && h.rec.action == Action::None {
            let f = a.flags;
            if f.main_goenable_failed || f.main_services_failed {
                let cause = if f.main_goenable_failed {
                    ArCause::GoEnable
                } else {
                    ArCause::HostServices
                };
                // The node itself reports a failure: it is answering, so this is no heartbeat
                // outage, and failing it takes it over as a critical sensor does. Left in the
                // multi-node failure pool it would wait there with its heartbeat stopped, never
                // to clear (MNFA stuck), or be recovered at MNFA's end without a test and failed
                // again by the same flag.
                self.mnfa_forget(h);
                if self.ar_manage(h, cause) {
                    self.force_full_enable(
                        h,
                        "in-service test or services failure reported by the node",
                    );
                }
            }
        }
    }

    /// Keep the node's lock flags in step with the admin state (docs/protocol.md#lock-flags).
    fn lock_flag_check(&mut self, h: &mut HostRt, network: ProtocolNetwork) {
        let reported = h.alive.flags.locked;
        let persist = self.system.system_type != SystemType::AioSimplex;
        let nets = vec![network];
        if h.locked() && !reported && h.rec.action != Action::Lock && h.rec.action != Action::Unlock
        {
            self.notify(h, NodeCommand::Locked { persist }, nets);
        } else if h.unlocked()
            && reported
            && !matches!(
                h.rec.action,
                Action::Unlock | Action::Enable | Action::Lock | Action::ForceLock
            )
        {
            self.notify(h, NodeCommand::Unlocked, nets);
        }
    }

    // ----- heartbeat (docs/recovery.md#heartbeat-failure) and MNFA (docs/recovery.md#mnfa) -----

    fn heartbeat_event(
        &mut self,
        h: &mut HostRt,
        net: Network,
        ev: HeartbeatEvent,
        tally: Option<PulseTally>,
    ) {
        let action = self.cfg.policy.heartbeat_failure_action;
        let i = net.index();
        let name = h.name().to_string();
        match ev {
            HeartbeatEvent::MinorSet => {
                h.hb[i].minor = true;
                self.mnfa_add(h, net);
            }
            HeartbeatEvent::DegradeSet => {
                if matches!(
                    action,
                    HeartbeatFailureAction::Fail | HeartbeatFailureAction::Degrade
                ) {
                    h.hb[i].degrade = true;
                    if h.unlocked() {
                        h.rec.degrade.set(net.degrade_bit());
                    }
                    self.mnfa_add(h, net);
                }
                self.raise(&name, hb_alarm(net), Severity::Major);
            }
            HeartbeatEvent::Loss => {
                h.hb[i].lost = true;
                // The alarm says that the host is lost; the log says why, in pulses, and stays
                // after the alarm clears.
                self.log(&name, LogId::Event, loss_text(&name, net, tally));
                self.raise(&name, hb_alarm(net), Severity::Critical);
                match action {
                    HeartbeatFailureAction::Fail => {
                        let degrade_only =
                            net == Network::Cluster && self.cfg.policy.cluster_degrade_only;
                        if degrade_only {
                            h.rec.degrade.set(net.degrade_bit());
                        } else {
                            self.heartbeat_failure(h, net);
                        }
                    }
                    HeartbeatFailureAction::Degrade => h.rec.degrade.set(net.degrade_bit()),
                    HeartbeatFailureAction::Alarm | HeartbeatFailureAction::None => {}
                }
            }
            HeartbeatEvent::MinorClear
            | HeartbeatEvent::DegradeClear
            | HeartbeatEvent::LossClear => {
                // Deliberate bug (mutation test only): the clear lands on the other network.
                let (i, net) = if cfg!(mutation = "clear-wrong-network") {
                    (1 - i, Network::ALL[1 - i])
                } else {
                    (i, net)
                };
                if ev == HeartbeatEvent::MinorClear {
                    h.hb[i].minor = false;
                }
                if ev != HeartbeatEvent::MinorClear {
                    h.hb[i].degrade = false;
                    h.hb[i].lost = false;
                    h.rec.degrade.clear(net.degrade_bit());
                }
                if !h.hb[i].lost && !h.hb[i].degrade && !cfg!(mutation = "keep-heartbeat-alarm") {
                    self.clear(&name, hb_alarm(net));
                }
                self.mnfa_clear(h, net);
            }
        }
        self.changed(&name);
    }

    /// `manage_heartbeat_failure` (docs/recovery.md#heartbeat-failure): an unlocked host stopped
    /// answering pulses.
    fn heartbeat_failure(&mut self, h: &mut HostRt, net: Network) {
        if !h.unlocked() {
            return;
        }
        let name = h.name().to_string();
        if self.mnfa.active && self.mnfa.pool.contains(&name) && !cfg!(mutation = "skip-mnfa") {
            return; // MNFA: pooled hosts are not failed or recovered.
        }
        if self.is_self(h) {
            return; // The controller does not fail itself on its own heartbeat.
        }
        // A loss during a soak is the soaking handler's to act on: it is noted in its stage.
        match &mut h.stage {
            Stage::Enable(EnableStage::HeartbeatSoak { lost, .. })
            | Stage::Subf(SubfStage::HeartbeatSoak { lost, .. })
            | Stage::Add(super::add::AddStage::HeartbeatSoak { lost, .. }) => {
                *lost = true;
                return;
            }
            Stage::Recovery(RecoveryStage::HeartbeatSoak { .. }) => {
                self.force_full_enable(h, "heartbeat loss during recovery soak");
                return;
            }
            _ => {}
        }
        if h.rec.action == Action::Recover {
            return; // already recovering
        }
        if matches!(h.rec.action, Action::Unlock | Action::Enable) {
            if self.ar_manage(h, ArCause::Heartbeat) {
                self.set_task(h, task::ENABLE_HEARTBEAT_FAILURE);
                self.enable_failure(h);
            }
            return;
        }
        if h.rec.states.oper == OperState::Enabled && h.rec.action == Action::None {
            let _ = net;
            let avail = if h.rec.power == PowerState::Off {
                Availability::PowerOff
            } else {
                Availability::Failed
            };
            self.set_oper_avail(h, OperState::Disabled, avail);
            self.set_action(h, Action::Recover, None);
        }
    }

    fn mnfa_add(&mut self, h: &mut HostRt, net: Network) {
        if !h.unlocked() || !self.mnfa_allowed() {
            return;
        }
        let name = h.name().to_string();
        if self.is_self(h) {
            return;
        }
        self.mnfa.counted[net.index()].insert(name.clone());
        if self.mnfa.active {
            if h.rec.states.oper == OperState::Enabled {
                self.mnfa_pool_add(h);
            }
            return;
        }
        if self.mnfa.counted[net.index()].len() as u32 >= self.cfg.thresholds.mnfa_threshold
            && !cfg!(mutation = "never-enter-mnfa")
        {
            self.mnfa_enter(h);
        }
    }

    fn mnfa_allowed(&self) -> bool {
        matches!(
            self.cfg.policy.heartbeat_failure_action,
            HeartbeatFailureAction::Fail | HeartbeatFailureAction::Degrade
        )
    }

    fn mnfa_pool_add(&mut self, h: &mut HostRt) {
        let name = h.name().to_string();
        if self.mnfa.pool.insert(name) {
            h.mnfa_token = true;
            self.set_task(h, task::GRACEFUL_RECOVERY_WAIT);
        }
    }

    /// Enter MNFA with `h` as the host that crossed the threshold.
    fn mnfa_enter(&mut self, h: &mut HostRt) {
        self.mnfa.active = true;
        let own = self.system.own_host.clone();
        self.log(
            &own,
            LogId::Event,
            "multi-node failure avoidance entered".into(),
        );
        self.emit(Effect::Heartbeat {
            host: None,
            control: HeartbeatControl::Backoff,
        });
        let t = self.cfg.timeouts.mnfa_timeout.0;
        self.mnfa.timeout_at = (!t.is_zero()).then(|| self.now + t);
        let counted: std::collections::BTreeSet<String> = self
            .mnfa
            .counted
            .iter()
            .flat_map(|s| s.iter().cloned())
            .collect();
        // Only hosts still in service join the pool (docs/recovery.md#mnfa); one already failed and
        // recovering keeps recovering: it was lost before the multi-node event began.
        if h.rec.states.oper == OperState::Enabled {
            self.mnfa_pool_add(h);
        }
        for other in counted {
            if other == h.name() {
                continue;
            }
            if let Some(mut o) = self.hosts.remove(&other) {
                if o.rec.states.oper == OperState::Enabled {
                    self.mnfa_pool_add(&mut o);
                }
                self.hosts.insert(other.clone(), o);
                self.mark_dirty(&other);
            }
        }
    }

    /// The host no longer takes part in multi-node failure accounting: the operator took it over,
    /// or its heartbeat monitoring restarted from zero. MNFA ends if the count drops below threshold.
    pub(crate) fn mnfa_forget(&mut self, h: &mut HostRt) {
        let name = h.name().to_string();
        let mut changed = false;
        for set in self.mnfa.counted.iter_mut() {
            changed |= set.remove(&name);
        }
        if self.mnfa.pool.remove(&name) {
            h.mnfa_token = false;
            if h.rec.task == task::GRACEFUL_RECOVERY_WAIT {
                self.set_task(h, "");
            }
            changed = true;
        }
        if changed && self.mnfa.active && self.mnfa_below_threshold() {
            self.mnfa_exit(false, Some(h));
        }
    }

    fn mnfa_below_threshold(&self) -> bool {
        let threshold = self.cfg.thresholds.mnfa_threshold;
        self.mnfa
            .counted
            .iter()
            .all(|c| (c.len() as u32) < threshold)
    }

    fn mnfa_clear(&mut self, h: &mut HostRt, net: Network) {
        let name = h.name().to_string();
        let i = net.index();
        if h.hb[i].minor || h.hb[i].degrade || h.hb[i].lost {
            return;
        }
        self.mnfa.counted[i].remove(&name);
        if !self.mnfa.active {
            return;
        }
        let clear_everywhere = h.hb.iter().all(|n| !n.minor && !n.degrade && !n.lost);
        if clear_everywhere && self.mnfa.pool.remove(&name) {
            self.mnfa_recover_host(h);
        }
        if self.mnfa_below_threshold() {
            self.mnfa_exit(false, Some(h));
        }
    }

    /// A pooled host answers again: recover it gracefully (no reboot if it never went down).
    fn mnfa_recover_host(&mut self, h: &mut HostRt) {
        if !h.unlocked() {
            h.mnfa_token = false;
            return;
        }
        if h.rec.states.oper == OperState::Enabled && h.rec.action == Action::None {
            // It never left service: only the task line needs clearing.
            h.mnfa_token = false;
            self.set_task(h, "");
            return;
        }
        self.restart_recovery(h);
        self.mark_dirty(h.name());
    }

    /// (Re)start graceful recovery from its first stage. A host held in the MNFA pool may have been
    /// mid-recovery; its stage timers were dropped while it waited, so it starts over.
    fn restart_recovery(&mut self, h: &mut HostRt) {
        if h.rec.action == Action::Recover {
            h.clear_pending_io();
            h.set_stage(Stage::Recovery(RecoveryStage::Start));
        } else {
            self.set_action(h, Action::Recover, None);
        }
        self.mark_dirty(h.name());
    }

    /// Leave MNFA. By timeout, pooled hosts are failed and fully re-enabled; otherwise each gets a
    /// graceful recovery.
    pub(crate) fn mnfa_exit(&mut self, timeout: bool, current: Option<&mut HostRt>) {
        if !self.mnfa.active {
            return;
        }
        self.mnfa.active = false;
        self.mnfa.timeout_at = None;
        let own = self.system.own_host.clone();
        let how = if timeout {
            "exited by timeout"
        } else {
            "exited"
        };
        self.log(
            &own,
            LogId::Event,
            format!("multi-node failure avoidance {how}"),
        );
        self.emit(Effect::Heartbeat {
            host: None,
            control: HeartbeatControl::Recover,
        });
        let pool = std::mem::take(&mut self.mnfa.pool);
        let mut current = current;
        for name in pool {
            // The host whose event ended MNFA is checked out of the map by the caller: release it
            // in place (simulator seed 1174/15: skipped, it stayed in a spent recovery soak for
            // good).
            if let Some(c) = current.as_deref_mut().filter(|c| c.name() == name) {
                self.mnfa_release(c, timeout);
                continue;
            }
            let Some(mut o) = self.hosts.remove(&name) else {
                continue;
            };
            self.mnfa_release(&mut o, timeout);
            self.hosts.insert(name.clone(), o);
        }
        self.mnfa.counted = Default::default();
    }

    /// A pooled host as MNFA ends: by timeout it is failed and fully re-enabled; otherwise one still
    /// down or disabled recovers gracefully from the start, and one that never left only has its task
    /// cleared.
    fn mnfa_release(&mut self, o: &mut HostRt, timeout: bool) {
        if timeout {
            o.mnfa_token = false;
            self.force_full_enable(o, "multi-node failure avoidance timed out");
        } else if o.unlocked() {
            let still_down = o.hb.iter().any(|n| n.lost || n.degrade);
            if still_down || o.rec.states.oper == OperState::Disabled {
                self.restart_recovery(o);
            } else {
                o.mnfa_token = false;
                self.set_task(o, "");
            }
        }
        self.mark_dirty(o.name());
    }

    // ----- process and hardware monitors (docs/handlers.md#monitor-events) -----

    fn pmon_event(&mut self, h: &mut HostRt, process: String, ev: PmonEvent) {
        let before = h.pmon_failed.get(&process).copied();
        let after = (ev != PmonEvent::Clear).then_some(ev);
        if before == after {
            // Node monitors repeat their state (UDP may lose a report): nothing new, unless the
            // alarm disagrees with what this core knows (a restarted controller holds the stored
            // alarm but not the processes behind it: the node's repeats put it right).
            let degrade = pmon_severity(h) >= Some(Severity::Major) && h.unlocked();
            if self.alarms.severity(AlarmId::Process, h.name()) != pmon_severity(h)
                || h.rec.degrade.has(crate::state::DegradeMask::PMON) != degrade
            {
                self.pmon_apply(h);
            }
            return;
        }
        match after {
            Some(ev) => h.pmon_failed.insert(process.clone(), ev),
            None => h.pmon_failed.remove(&process),
        };
        let name = h.name().to_string();
        let text = match after {
            None => format!("{name} process {process} recovered"),
            Some(ev) => format!(
                "{name} process {process} failed ({})",
                format!("{ev:?}").to_lowercase()
            ),
        };
        self.log(&name, LogId::Event, text);
        self.pmon_apply(h);
        if ev == PmonEvent::Critical {
            if !h.rec.states.in_service() || self.is_self(h) {
                // Degrade only: the active controller is never failed by its own pmon.
                return;
            }
            if self.ar_manage(h, ArCause::HostServices) {
                self.force_full_enable(h, "critical process failure");
            }
        }
    }

    /// Degrade bit and alarm 200.006 from the escalated processes: the alarm at the worst
    /// severity, naming each process; the degrade while a major or critical one is escalated on
    /// an unlocked host.
    fn pmon_apply(&mut self, h: &mut HostRt) {
        let name = h.name().to_string();
        let degrade = pmon_severity(h) >= Some(Severity::Major) && h.unlocked();
        if degrade {
            h.rec.degrade.set(crate::state::DegradeMask::PMON);
        } else {
            h.rec.degrade.clear(crate::state::DegradeMask::PMON);
        }
        match pmon_severity(h) {
            Some(sev) => {
                let list: Vec<String> = h
                    .pmon_failed
                    .iter()
                    .map(|(p, e)| format!("process={p} ({})", format!("{e:?}").to_lowercase()))
                    .collect();
                let reason = format!(
                    "{name} has monitored processes that failed beyond their allowed restarts: {}.",
                    list.join(", ")
                );
                let c = self
                    .alarms
                    .raise_with_reason(AlarmId::Process, &name, sev, reason);
                self.push_alarm(c);
            }
            None => self.clear(&name, AlarmId::Process),
        }
        self.changed(&name);
    }

    fn hwmon_event(&mut self, h: &mut HostRt, ev: HwmonEvent) {
        let name = h.name().to_string();
        match ev {
            HwmonEvent::DegradeSet => h.rec.degrade.set(crate::state::DegradeMask::HWMON),
            HwmonEvent::DegradeClear => h.rec.degrade.clear(crate::state::DegradeMask::HWMON),
            HwmonEvent::Reset => {
                if self.is_self(h) || !h.bmc_usable() || h.rec.action != Action::None {
                    self.log(
                        &name,
                        LogId::Command,
                        format!("{name} critical sensor reset request ignored"),
                    );
                    return;
                }
                // The sensor takes the host over, as an operator would: it no longer waits in the
                // multi-node failure pool (whose end would come from heartbeat clears that a reset
                // host may never send, leaving MNFA, and every pooled host, stuck).
                self.mnfa_forget(h);
                if h.rec.states.in_service() {
                    self.force_full_enable(h, "critical sensor");
                } else {
                    self.log(
                        &name,
                        LogId::Command,
                        format!("{name} auto reset (critical sensor)"),
                    );
                    self.set_action(h, Action::Reset, None);
                }
            }
            HwmonEvent::PowerCycle => {
                let pc = h.powercycle;
                if self.is_self(h)
                    || pc.blocked
                    || !h.rec.bmc_provisioned()
                    || !matches!(
                        h.rec.action,
                        Action::None | Action::Recover | Action::Enable
                    )
                {
                    self.log(
                        &name,
                        LogId::Command,
                        format!("{name} critical sensor power-cycle request ignored"),
                    );
                    return;
                }
                self.log(
                    &name,
                    LogId::Command,
                    format!("{name} auto power-cycle (critical sensor)"),
                );
                self.mnfa_forget(h); // taken over: see the reset above
                self.set_action(h, Action::PowerCycle, None);
            }
        }
        self.changed(&name);
    }

    pub(crate) fn swact_result(&mut self, completed: bool) {
        let names: Vec<String> = self
            .hosts
            .values()
            .filter(|h| matches!(h.stage, Stage::Swact(SwactStage::Wait { .. })))
            .map(|h| h.name().to_string())
            .collect();
        for n in names {
            if let Some(h) = self.hosts.get_mut(&n) {
                if let Stage::Swact(SwactStage::Wait { result, .. }) = &mut h.stage {
                    *result = Some(completed);
                }
            }
            self.mark_dirty(&n);
        }
    }
}

/// `worker-0 heartbeat loss (management network): 10 pulses in a row unanswered, up to pulse 1243
/// (last answered: 1233)`. Rounds the controller voided itself are not misses, so the gap between
/// the two numbers can exceed the count; both are given so an operator can see it.
pub(crate) fn loss_text(host: &str, net: Network, tally: Option<PulseTally>) -> String {
    let network = match net {
        Network::Mgmt => "management",
        Network::Cluster => "cluster-host",
    };
    let head = format!("{host} heartbeat loss ({network} network)");
    let Some(t) = tally else {
        return head;
    };
    let last = match t.last_answered {
        Some(n) => format!("last answered: {n}"),
        None => "none answered since monitoring started".to_string(),
    };
    format!(
        "{head}: {} pulses in a row unanswered, up to pulse {} ({last})",
        t.misses, t.round
    )
}

fn hb_alarm(net: Network) -> AlarmId {
    match net {
        Network::Mgmt => AlarmId::MgmtHeartbeat,
        Network::Cluster => AlarmId::ClusterHeartbeat,
    }
}

/// The 200.006 severity a host's escalated processes call for (none: no alarm).
fn pmon_severity(h: &HostRt) -> Option<Severity> {
    match h.pmon_failed.values().copied().max() {
        None | Some(PmonEvent::Clear) => None,
        Some(PmonEvent::Minor) => Some(Severity::Minor),
        Some(PmonEvent::Major) => Some(Severity::Major),
        Some(PmonEvent::Critical) => Some(Severity::Critical),
    }
}
