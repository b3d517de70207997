//! The maintenance handlers (docs/handlers.md). One module per handler; this one holds the
//! per-host runtime record, the pass, and the helpers every handler shares (state writes, tasks,
//! commands, BMC calls, action bookkeeping, auto-recovery accounting).
//!
//! # Each handler owns its stage data
//!
//! One handler owns a host at a time (the dispatch table picks it from the action and the state
//! triple), and [`HostRt::stage`] says where that handler is: `Stage::Reset(ResetStage::QueryWait
//! { attempt, deadline })`, `Stage::Enable(EnableStage::AliveWait { boot_before, deadline })`, …
//! Everything that only one handler needs travels in its stage variants: its deadlines, its retry
//! counts (reset attempts, reboot retries), the boot id it waits to see change, the alive count a
//! recovery waits to see grow, the heartbeat loss noted during a soak, the swact result, and the
//! shared sub-machines it runs (the reset progression, `ResetProg`; the power sub-FSM,
//! `PowerFsm`), which the caller keeps in its own stage and steps with
//! `step_reset_progression` / `step_power`. A stage is entered with [`HostRt::set_stage`]; an
//! action change (`set_action`) enters the new handler's first stage, so nothing of the previous
//! handler survives it.
//!
//! What stays on [`HostRt`] is shared on purpose, each field with its owner named: the audits'
//! clocks (online, offline, in-service, out-of-service), the BMC access alarm clock, the
//! power-cycle controls and their recovery monitor, the task-line clock, and the pending request
//! with its answer (the last tracked node command and its acknowledgement, the last BMC request and
//! its result, test and services results), which the owning handler reads and every action change
//! clears.
//!
//! # How the next deadline is derived
//!
//! [`Stage::deadline`] reads the owning handler's deadline from its stage data (a running reset
//! progression or power sub-FSM reports its own). [`HostRt::next_deadline`] is the earliest of
//! that and the shared clocks above; the core queues the host's wake-up at it after every pass.
//! Handlers test [`HostRt::due`]. Overall budgets (a reset progression's `overall`) are checked when
//! the progression steps and do not wake the host by themselves.
//!
//! A pass that finds the handler's deadline due and leaves the stage as it was (the handler is held,
//! e.g. by multi-node failure avoidance or a parked auto-recovery) *spends* it
//! ([`HostRt::spend_deadline`]): it no longer counts as due or as a wake-up until the handler enters
//! a stage, so a stale deadline never makes the driver spin. A stage entered during the pass with a
//! deadline of "now" (a wait configured to zero) makes the core run the host again at once. The
//! two are told apart by the stage generation ([`HostRt::stage_generation`], moved on by every
//! new stage value), not by comparing deadlines: a zero wait entered at the instant the previous
//! deadline fired has the same deadline value and is still a new wait. A host is run again at
//! most as many times as `core::run_dirty` has rounds in one call. A host that still has work at
//! that instant after the last round (a stage entered with a due deadline, or marked dirty) has its
//! deadline spent and is run again a little later ([`HostRt::rerun_at`], a second on): a long
//! chain of zero waits still ends, and even a handler that re-arms "now" for ever cannot make the
//! driver spin.
//!
//! # Adding a handler
//!
//! 1. A module with its stage enum: one variant per step, each carrying what that step needs
//!    (`deadline: Instant` for a wait, counters, sub-machines), and `fn deadline(&self) ->
//!    Option<Instant>` reading it.
//! 2. A [`Stage`] variant wrapping it, its arm in [`Stage::deadline`], and the first stage for its
//!    action in `set_action`.
//! 3. Its route in the dispatch table and in `Maintenance::pass`.
//! 4. The handler itself: match its stage, act on what arrived, and move on with `h.set_stage(…)`
//!    (a new deadline is a new stage value); end with `end_action` / `end_with_task`. Do not add
//!    fields to [`HostRt`] for one handler's use; if a field really is shared, name its owner.

mod add;
mod audits;
mod bmc_actions;
mod delete;
mod disable;
mod enable;
mod events;
mod node_monitors;
mod pxeboot_audit;
mod recovery;
mod reinstall;
pub use reinstall::install_plan;
mod reset_progression;
mod subfunction;
mod swact;

use crate::action::{Action, ActionId, ActionOutcome, OperatorAction};
use crate::alarm::{AlarmId, LogId, Severity};
use crate::config::{Config, HeartbeatFailureAction};
use crate::core::Maintenance;
use crate::dispatch::{self, DispatchInput, Route};
use crate::host::{ArCause, HostRecord};
use crate::io::*;
use crate::state::*;
use crate::task;
use crate::time::Instant;
use std::time::Duration;

/// What the core last heard from a host's node agent.
#[derive(Clone, Debug, Default)]
pub(crate) struct AliveState {
    pub last: Option<Instant>,
    /// When a report last came on each network, by `ProtocolNetwork::index`.
    pub per_net: [Option<Instant>; 3],
    /// Reports received on each network since the core knows the host, by
    /// `ProtocolNetwork::index` (never reset: the pxeboot monitor compares them).
    pub reports: [u64; 3],
    pub boot_id: Option<u64>,
    pub uptime: Duration,
    pub flags: NodeFlags,
    /// Counts alive reports since the counter was last reset (online/offline decisions).
    pub count: u64,
}

/// Heartbeat status of one network of a host, as reported by heartbeat accounting.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HbNet {
    pub minor: bool,
    pub degrade: bool,
    pub lost: bool,
}

/// The offline audit: started by actions that take a host down; declares it offline after silence.
#[derive(Clone, Copy, Debug)]
pub(crate) struct OfflineAudit {
    pub deadline: Instant,
}

/// Powercycle recovery controls that live across actions (docs/handlers.md#power-cycle).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PowercycleCtl {
    pub attempts: u32,
    pub blocked: bool,
    pub monitor_until: Option<Instant>,
}

/// Everything the core keeps per host besides the persisted record.
///
/// What belongs to one handler lives in that handler's [`Stage`] variant (its deadlines, retry
/// counts, reset progression, power sub-machine, the boot id it waits to see change). What is left
/// here is either shared by design (the audits' clocks, the pending request and its answer, facts
/// about the host that outlive an action) or owned by one audit; each field says who owns it.
pub(crate) struct HostRt {
    /// The persisted record (states, action, task, degrade mask, ...).
    pub rec: HostRecord,
    /// What the node agent last reported (written by event ingestion).
    pub alive: AliveState,
    /// Heartbeat status per network (written by event ingestion, read by MNFA).
    pub hb: [HbNet; 2],
    /// Auto-recovery failure counts per cause (owner: `ar_manage` / `ar_enable`).
    pub ar_counts: [u32; 5],
    /// The stage of the handler that owns the host, with that handler's data. Written through
    /// [`HostRt::set_stage`] whenever the stage (or its deadline) changes.
    pub stage: Stage,
    /// A handler deadline a pass saw come due and left as it was (the handler did not act on it,
    /// e.g. while MNFA holds the host). It no longer counts as due or as a wake-up, so a stale
    /// deadline never makes the driver spin; entering a stage clears it. Owned by the pass
    /// (`core::run_dirty`).
    deadline_spent: Option<Instant>,
    /// Counts the stages entered (a different stage value given to [`HostRt::set_stage`]). The
    /// pass compares it before and after running the handler to tell a wait entered during the
    /// pass from a deadline left as it was, even when both have the same value (a wait configured
    /// to zero entered at the instant the previous one fired). Owned by `set_stage`.
    stage_generation: u64,
    /// A host the last call cut off after its final round while it still had work at that instant
    /// (marked dirty, or a stage entered with a deadline already due) is run again at this time,
    /// its spent deadline counting again. Owned by `core::run_dirty`.
    pub rerun_at: Option<Instant>,
    /// Pending I/O: the last tracked node command and whether it was acknowledged, the last BMC
    /// request and its result, and test/services results. Written by `send`/`bmc` and by event
    /// ingestion, read by the handler that owns the host; cleared at every action change.
    pub cmd: Option<(CommandId, NodeCommand)>,
    pub cmd_acked: bool,
    pub bmc_req: Option<BmcRequestId>,
    pub bmc_result: Option<BmcOutcome>,
    pub goenabled: Option<(bool, String)>,
    pub subf_goenabled: Option<(bool, String)>,
    pub services: Option<(bool, String)>,
    /// Offline audit clock: armed by the handlers that take a host down, run by every pass.
    pub offline_audit: Option<OfflineAudit>,
    /// Online audit clock and counters (owner: `online_audit`; state writes reset the counters).
    pub online_next: Instant,
    pub online_misses: u32,
    pub online_hits: u32,
    /// In-service and out-of-service test clocks (owner: `insv_test` / `oos_test` and the pass).
    pub insv_next: Instant,
    pub oos_next: Instant,
    /// When the outcome line in the task field is cleared (owner: `hold_task` / `set_task`).
    pub task_clear_at: Option<Instant>,
    /// When power was last confirmed applied (written by the power, power-cycle, recovery and
    /// reinstall handlers; read by enable to skip a needless reboot).
    pub powered_on_at: Option<Instant>,
    /// Power-cycle controls that outlive one action, including its recovery monitor clock (owner:
    /// the power-cycle handler; reset by lock and by an operator's power-on).
    pub powercycle: PowercycleCtl,
    /// BMC access alarm clock: when alarm 200.010 is due if the BMC is still not accessible (owner:
    /// `bmc_access_audit`; armed by BMC provisioning and access events).
    pub bmc_alarm_at: Option<Instant>,
    /// Held by multi-node failure avoidance (owner: the MNFA code in `events`).
    pub mnfa_token: bool,
    /// Processes the node's monitor reported escalated, with their severity (owner: `pmon_event`;
    /// a new boot clears the node's own, docs/node-supervision.md#escalation).
    pub pmon_failed: std::collections::BTreeMap<String, crate::io::PmonEvent>,
    /// A forced full enable is under way (owner: `force_full_enable`; cleared by a new action).
    pub forcing_full_enable: bool,
    /// Consecutive in-service audits that found the node unhealthy (owner: `insv_test`).
    pub not_healthy_audits: u32,
    /// Graceful recoveries in a row without a full enable (owner: recovery; reset by enable).
    pub graceful_count: u32,
    /// This recovery began during dead office recovery: power on, never reboot or reset.
    pub dor_recovery: bool,
    /// The cause of the last counted auto-recovery failure; sets the retry interval.
    pub last_ar_cause: Option<ArCause>,
    /// The boot id known when power-on was last asked for: reports with it predate the boot
    /// (written by `bmc`, read by enable).
    pub boot_id_at_power_on: Option<u64>,
    /// The pxeboot alive monitor, while the host is monitored (owner: `pxeboot_audit`).
    pub pxeboot: Option<crate::pxeboot::PxebootMonitor>,
    /// Networks whose every port the node's link monitor last reported down, by
    /// `LinkNetwork::index` (owner: `node_monitors`).
    pub links_down: [bool; 3],
    /// Mount points the node's filesystem monitor last reported faulty (owner: `node_monitors`).
    pub fs_faults: std::collections::BTreeMap<String, FsState>,
    /// When the host's wake-up is queued in the core (owner: `core`).
    pub scheduled: Option<Instant>,
    /// Deleted: the core drops the host after this pass.
    pub removed: bool,
    /// Loaded from the store by a (re)started controller, its action not started again yet: the
    /// first enable of a resumed action checks whether its reboot already happened.
    pub resumed: bool,
}

/// The stage of the handler that owns the host, carrying that handler's data. One handler owns a
/// host at a time, so one field; a handler cannot reach another handler's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Idle,
    Add(add::AddStage),
    Enable(enable::EnableStage),
    Subf(subfunction::SubfStage),
    Recovery(recovery::RecoveryStage),
    Disable(disable::DisableStage),
    Reboot(reset_progression::RebootStage),
    Reset(bmc_actions::ResetStage),
    Power(bmc_actions::PowerStage),
    PowerCycle(bmc_actions::PcStage),
    Reinstall(reinstall::ReinstallStage),
    Swact(swact::SwactStage),
    Delete,
}

impl Stage {
    /// When the owning handler next needs a pass, read from its stage data.
    pub fn deadline(&self) -> Option<Instant> {
        match self {
            Stage::Idle | Stage::Delete => None,
            Stage::Add(s) => s.deadline(),
            Stage::Enable(s) => s.deadline(),
            Stage::Subf(s) => s.deadline(),
            Stage::Recovery(s) => s.deadline(),
            Stage::Disable(s) => s.deadline(),
            Stage::Reboot(s) => s.deadline(),
            Stage::Reset(s) => s.deadline(),
            Stage::Power(s) => s.deadline(),
            Stage::PowerCycle(s) => s.deadline(),
            Stage::Reinstall(s) => s.deadline(),
            Stage::Swact(s) => s.deadline(),
        }
    }
}

impl HostRt {
    /// A main go-enabled test was just asked for: the result flags of the last alive report belong
    /// to an earlier test (or boot) and must not pass or fail this one. A node that hangs after
    /// failing once would otherwise fail every retry on its stale report and be parked for one real
    /// failure.
    pub(crate) fn forget_main_test_flags(&mut self) {
        self.alive.flags.main_goenabled = false;
        self.alive.flags.main_goenable_failed = false;
    }

    /// As [`HostRt::forget_main_test_flags`], for the subfunction's test.
    pub(crate) fn forget_subf_test_flags(&mut self) {
        self.alive.flags.subf_goenabled = false;
        self.alive.flags.subf_goenable_failed = false;
    }

    pub fn new(rec: HostRecord, now: Instant, cfg: &Config) -> Self {
        let t = &cfg.timeouts;
        HostRt {
            rec,
            alive: AliveState::default(),
            hb: [HbNet::default(); 2],
            ar_counts: [0; 5],
            stage: Stage::Idle,
            deadline_spent: None,
            stage_generation: 0,
            rerun_at: None,
            cmd: None,
            cmd_acked: false,
            bmc_req: None,
            bmc_result: None,
            goenabled: None,
            subf_goenabled: None,
            services: None,
            offline_audit: None,
            online_next: now + t.online_period.0,
            online_misses: 0,
            online_hits: 0,
            insv_next: now + t.insv_test_period.0,
            oos_next: now + t.oos_test_period.0,
            task_clear_at: None,
            powered_on_at: None,
            powercycle: PowercycleCtl::default(),
            bmc_alarm_at: Some(now + t.bmc_access_alarm_delay.0),
            mnfa_token: false,
            pmon_failed: Default::default(),
            forcing_full_enable: false,
            not_healthy_audits: 0,
            graceful_count: 0,
            dor_recovery: false,
            last_ar_cause: None,
            boot_id_at_power_on: None,
            pxeboot: None,
            links_down: [false; 3],
            fs_faults: Default::default(),
            scheduled: None,
            removed: false,
            resumed: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.rec.spec.name
    }

    pub fn unlocked(&self) -> bool {
        self.rec.states.admin == AdminState::Unlocked
    }

    pub fn locked(&self) -> bool {
        self.rec.states.admin == AdminState::Locked
    }

    pub fn is_aio_controller(&self, system: SystemType) -> bool {
        system.is_aio() && self.rec.spec.personality == Personality::Controller
    }

    /// The earliest moment this host needs a pass.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut d = [
            self.handler_deadline(),
            self.offline_audit.map(|o| o.deadline),
            self.task_clear_at,
            self.bmc_alarm_at
                .filter(|_| self.rec.bmc_provisioned() && !self.rec.bmc_accessible),
            self.powercycle.monitor_until,
            self.rerun_at,
            Some(self.online_next),
            Some(self.insv_next),
            Some(self.oos_next),
            self.pxeboot.map(|m| m.next_check()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
        d.sort();
        d.first().copied()
    }

    /// Enter `stage`: the handler's data and deadline are now the new stage's.
    ///
    /// A stage value different from the current one counts as a new stage (its generation moves
    /// on), even if its deadline equals the old one. Storing the stage the handler already has
    /// (a sub-machine that is still running) is not a new stage: a due deadline it carries is
    /// still the one the pass saw.
    pub fn set_stage(&mut self, stage: Stage) {
        if stage != self.stage {
            self.stage_generation = self.stage_generation.wrapping_add(1);
        }
        self.stage = stage;
        self.deadline_spent = None;
    }

    /// How many stages the host has entered (see [`HostRt::set_stage`]); only its changes mean
    /// anything.
    pub fn stage_generation(&self) -> u64 {
        self.stage_generation
    }

    /// The owning handler's deadline, unless a pass already saw it come due and left it.
    pub fn handler_deadline(&self) -> Option<Instant> {
        self.stage
            .deadline()
            .filter(|d| Some(*d) != self.deadline_spent)
    }

    /// The owning handler's deadline has come.
    pub fn due(&self, now: Instant) -> bool {
        self.handler_deadline().is_some_and(|t| now >= t)
    }

    /// The pass saw the handler's deadline come due and the handler left it as it was: it stops
    /// counting (the handler waits for an event or a new stage instead).
    pub fn spend_deadline(&mut self) {
        self.deadline_spent = self.stage.deadline();
    }

    /// A spent deadline counts again (the host is run again after a call cut it off).
    pub fn resume_deadline(&mut self) {
        self.deadline_spent = None;
    }

    /// The heartbeat networks the host is provisioned on (commands other than reboot go there).
    pub fn networks(&self) -> Vec<ProtocolNetwork> {
        if self.rec.spec.has_cluster_network() {
            vec![ProtocolNetwork::Mgmt, ProtocolNetwork::Cluster]
        } else {
            vec![ProtocolNetwork::Mgmt]
        }
    }

    /// Where a reboot command goes: the heartbeat networks and pxeboot when the host has it, so a
    /// host whose management network is broken is still rebooted without its BMC
    /// (docs/protocol.md#the-pxeboot-network).
    pub fn reboot_networks(&self) -> Vec<ProtocolNetwork> {
        let mut nets = self.networks();
        if self.rec.spec.has_pxeboot_network() {
            nets.push(ProtocolNetwork::Pxeboot);
        }
        nets
    }

    pub fn bmc_usable(&self) -> bool {
        self.rec.bmc_provisioned() && self.rec.bmc_accessible
    }

    /// Take a finished BMC result.
    pub fn take_bmc(&mut self) -> Option<BmcOutcome> {
        if self.bmc_result.is_some() {
            self.bmc_req = None;
        }
        self.bmc_result.take()
    }

    pub fn clear_pending_io(&mut self) {
        self.cmd = None;
        self.cmd_acked = false;
        self.bmc_req = None;
        self.bmc_result = None;
        self.goenabled = None;
        self.subf_goenabled = None;
        self.services = None;
    }

    /// A report from a boot other than `before` (the boot id a handler recorded when it asked for
    /// a reboot, power-on or reinstall; `None` when none was known then).
    pub fn rebooted_since(&self, before: Option<u64>) -> bool {
        match (before, self.alive.boot_id) {
            (Some(before), Some(now)) => before != now,
            (None, Some(_)) => true,
            _ => false,
        }
    }
}

impl Maintenance {
    // ----- the pass -----

    pub(crate) fn pass(&mut self, h: &mut HostRt) {
        let now = self.now;
        if let Some(at) = h.task_clear_at {
            if now >= at {
                h.task_clear_at = None;
                self.set_task(h, "");
            }
        }
        if let Some(until) = h.powercycle.monitor_until {
            if now >= until {
                // No new critical event for the whole monitor window: start counting afresh.
                h.powercycle.monitor_until = None;
                h.powercycle.attempts = 0;
            }
        }
        self.bmc_access_audit(h);
        self.pxeboot_audit(h);
        self.degrade_audit(h);
        self.offline_audit(h);
        self.online_audit(h);

        let d = dispatch::dispatch(&DispatchInput {
            action: h.rec.action,
            states: h.rec.states,
            system: self.system.system_type,
            ar_disabled: h.rec.ar_disabled.is_some(),
            powercycle_idle: h.powercycle.attempts == 0 && !h.powercycle.blocked,
        });
        if d.insv_test {
            self.insv_test(h);
        }
        if d.oos_test {
            self.oos_test(h);
        }
        match d.route {
            Route::Delete => self.delete_handler(h),
            Route::Add => self.add_handler(h),
            Route::PowerCycle => self.powercycle_handler(h),
            Route::Reset => self.reset_handler(h),
            Route::Reboot => self.reboot_handler(h),
            Route::Enable => self.enable_handler(h),
            Route::Recovery => self.recovery_handler(h),
            Route::AutoPowerOn if !h.bmc_usable() => {} // nothing can power it on; the BMC audit alarms
            Route::AutoPowerOn => {
                self.log(
                    h.name(),
                    LogId::Command,
                    format!("{} auto power-on", h.name()),
                );
                self.set_action(h, Action::PowerOn, None);
                self.mark_dirty(h.name());
            }
            Route::EnableSubf => self.subf_handler(h),
            Route::Disable => self.disable_handler(h),
            // The deliberate bug drops this second guard too (admission is the first).
            Route::RejectOnUnlocked
                if cfg!(mutation = "reinstall-unlocked-host")
                    && h.rec.action == Action::Reinstall =>
            {
                self.reinstall_handler(h)
            }
            Route::RejectOnUnlocked => {
                let id = h.rec.action_id;
                self.end_action(
                    h,
                    ActionOutcome::Failed {
                        reason: "host is unlocked".into(),
                    },
                );
                let _ = id;
                self.set_task(h, "");
            }
            Route::Reinstall => self.reinstall_handler(h),
            Route::Power => self.power_handler(h),
            Route::Swact => self.swact_handler(h),
            Route::Idle => {}
            Route::AutoCorrect => self.auto_correct(h),
        }
        // Audits not dispatched this pass wait for their next period rather than stay due.
        let t = &self.cfg.timeouts;
        if now >= h.insv_next {
            h.insv_next = now + t.insv_test_period.0;
        }
        if now >= h.oos_next {
            h.oos_next = now + t.oos_test_period.0;
        }
    }

    /// Row 23: force an unsupported combination to a known one. Deliberate difference from
    /// StarlingX (docs/differences.md#auto-correction-never-reboots-a-locked-host): a locked host
    /// is corrected *without* the force-lock reboot, so auto-correction can never reboot a locked
    /// host.
    fn auto_correct(&mut self, h: &mut HostRt) {
        let (states, action) = dispatch::auto_correction(h.rec.states.admin);
        let from = h.rec.states;
        self.log(
            h.name(),
            LogId::StateChange,
            format!("{} auto-corrected from unsupported state {from}", h.name()),
        );
        self.write_states(h, states);
        self.set_action(h, action, None);
        self.mark_dirty(h.name());
    }

    // ----- operator actions -----

    pub(crate) fn operator_action(&mut self, h: &mut HostRt, op: OperatorAction, id: ActionId) {
        let name = h.name().to_string();
        // The operator takes this host over: multi-node failure avoidance no longer holds it.
        self.mnfa_forget(h);
        match op {
            OperatorAction::Unlock => {
                self.log(&name, LogId::Command, format!("{name} unlock"));
                // Admin state changes with the action (docs/lifecycle.md#state-change-logs): the
                // node is told at once.
                self.set_action(h, Action::Unlock, Some(id));
                h.rec.ar_disabled = None;
                h.ar_counts = [0; 5];
                self.clear(&name, AlarmId::Locked);
                let mut s = h.rec.states;
                s.admin = AdminState::Unlocked;
                self.write_states(h, s);
                self.send(
                    h,
                    NodeCommand::Unlocked,
                    vec![Network::Mgmt],
                    Cause::Routine,
                );
            }
            OperatorAction::Delete => {
                self.log(&name, LogId::Command, format!("{name} delete"));
                self.set_action(h, Action::Delete, Some(id));
            }
            other => {
                let verb = match other {
                    OperatorAction::Reboot => "manual reboot",
                    OperatorAction::Reset => "manual reset",
                    OperatorAction::PowerOn => "manual power-on",
                    OperatorAction::PowerOff => "manual power-off",
                    _ => other.action().as_str(),
                };
                self.log(&name, LogId::Command, format!("{name} {verb}"));
                self.set_action(h, other.action(), Some(id));
            }
        }
        self.mark_dirty(&name);
    }

    /// Change the host's action (docs/lifecycle.md#action-queue): a new action replaces the current
    /// one, except behind an add or a force-lock, where it waits in a queue of two. The replaced
    /// operator action is journaled as superseded.
    pub(crate) fn set_action(&mut self, h: &mut HostRt, action: Action, id: Option<ActionId>) {
        let cur = h.rec.action;
        if cur == action && id.is_none() {
            return;
        }
        if matches!(cur, Action::Add | Action::ForceLock) && action != Action::None && cur != action
        {
            if id.is_some() {
                // An operator request takes the host over from whatever the core queued for
                // itself (an automatic recovery resumed after a restart), as it would replace it
                // if it were running (simulator seed 2168/9 with restarts: a force-lock waited
                // behind a resumed recovery that rebooted the host).
                h.rec.queued.retain(|(_, queued_id)| queued_id.is_some());
            }
            let full = h.rec.queued.len() >= 2;
            let dup = h.rec.queued.iter().any(|(a, _)| *a == action);
            if !full && !dup {
                h.rec.queued.push((action, id));
                self.changed(h.name());
                return;
            }
            if let Some(new_id) = id {
                // No room: the newer request is not silently lost, it fails with a reason.
                let name = h.name().to_string();
                let reason = if dup {
                    format!("'{action}' is already queued behind '{cur}'")
                } else {
                    format!("'{cur}' in progress and the action queue is full")
                };
                self.journal_end(&name, new_id, ActionOutcome::Failed { reason });
                return;
            }
            return;
        }
        if let Some(old) = h.rec.action_id.take() {
            let name = h.name().to_string();
            let outcome = match id {
                Some(new) => ActionOutcome::SupersededBy { action: new },
                None => ActionOutcome::Failed {
                    reason: format!("interrupted by {action}"),
                },
            };
            self.journal_end(&name, old, outcome);
        }
        if !matches!(action, Action::Recover | Action::None) {
            h.dor_recovery = false;
        }
        if action != Action::None {
            // A new action is a new attempt: a forced full enable that never started is void.
            h.forcing_full_enable = false;
        }
        h.rec.action = action;
        h.rec.action_id = id;
        h.clear_pending_io();
        let stage = match action {
            Action::Add => Stage::Add(add::AddStage::StartDelay {
                deadline: self.now + self.cfg.timeouts.host_add_delay.0,
            }),
            Action::Unlock | Action::Enable => Stage::Enable(enable::EnableStage::Start),
            Action::EnableSubf => Stage::Subf(subfunction::SubfStage::Start),
            Action::Recover => Stage::Recovery(recovery::RecoveryStage::Start),
            Action::Lock | Action::ForceLock => Stage::Disable(disable::DisableStage::Start),
            Action::Reboot => Stage::Reboot(reset_progression::RebootStage::Start),
            Action::Reset => Stage::Reset(bmc_actions::ResetStage::Start),
            Action::PowerOn | Action::PowerOff => Stage::Power(bmc_actions::PowerStage::Start),
            Action::PowerCycle => Stage::PowerCycle(bmc_actions::PcStage::Start),
            Action::Reinstall => Stage::Reinstall(reinstall::ReinstallStage::Start),
            Action::Swact | Action::ForceSwact => Stage::Swact(swact::SwactStage::Start),
            Action::Delete => Stage::Delete,
            Action::None => Stage::Idle,
        };
        h.set_stage(stage);
        if action == Action::None && !h.rec.queued.is_empty() {
            let (next, next_id) = h.rec.queued.remove(0);
            self.set_action(h, next, next_id);
            self.mark_dirty(h.name());
        }
        self.changed(h.name());
    }

    /// The current action is over: journal its outcome, clear it, start what was queued.
    pub(crate) fn end_action(&mut self, h: &mut HostRt, outcome: ActionOutcome) {
        if let Some(id) = h.rec.action_id.take() {
            let name = h.name().to_string();
            self.journal_end(&name, id, outcome);
        }
        self.set_action(h, Action::None, None);
    }

    /// Why a destructive effect is being taken now.
    pub(crate) fn cause(&self, h: &HostRt) -> Cause {
        if let Some(id) = h.rec.action_id {
            Cause::Operator { action: id }
        } else if matches!(h.rec.action, Action::Reset | Action::PowerCycle) {
            // Without an operator id these two actions are only ever a critical sensor's. Derived
            // from the stored record, not a runtime flag, so a restarted controller resuming the
            // action still names the sensor (simulator seed 410/11 with restarts).
            Cause::CriticalSensor
        } else {
            Cause::AutoRecovery
        }
    }

    // ----- state writes, tasks, effects -----

    /// Write the state triple with its customer logs (docs/lifecycle.md#state-change-logs).
    pub(crate) fn write_states(&mut self, h: &mut HostRt, new: HostStates) {
        let old = h.rec.states;
        if old == new {
            return;
        }
        // A host that fails while dead office recovery is active is recovered by its rules, even
        // though this very failure may be the check-in that ends the DOR window.
        if new.avail == Availability::Failed && self.dor.is_some() {
            h.dor_recovery = true;
        }
        let name = h.name().to_string();
        let into_failed = new.avail == Availability::Failed && old.avail != Availability::Failed;
        if into_failed && new.oper == OperState::Disabled && old.oper == OperState::Enabled {
            self.log(&name, LogId::StateChange, format!("{name} failed"));
        } else {
            if old.oper != new.oper {
                let word = if new.oper == OperState::Enabled {
                    "enabled"
                } else {
                    "disabled"
                };
                self.log(&name, LogId::StateChange, format!("{name} {word}"));
            }
            if into_failed {
                self.log(&name, LogId::StateChange, format!("{name} failed"));
            }
        }
        if new.avail != old.avail {
            match new.avail {
                Availability::Offline => {
                    self.log(&name, LogId::StateChange, format!("{name} offline"))
                }
                Availability::Online if old.avail == Availability::Offline => {
                    self.log(&name, LogId::StateChange, format!("{name} online"))
                }
                Availability::PowerOff => {
                    self.log(&name, LogId::StateChange, format!("{name} is powered off"))
                }
                _ => {}
            }
            if matches!(old.avail, Availability::Online | Availability::Offline) {
                h.online_misses = 0;
                h.online_hits = 0;
            }
        }
        h.rec.states = new;
        // The DOR window ends once every unlocked host checked in, in whatever state
        // (docs/recovery.md#dead-office-recovery).
        if let Some(dor) = self.dor.as_mut() {
            dor.checked_in.insert(name.clone());
        }
        self.dor_check_done();
        self.changed(&name);
    }

    pub(crate) fn set_avail(&mut self, h: &mut HostRt, avail: Availability) {
        let mut s = h.rec.states;
        s.avail = avail;
        self.write_states(h, s);
    }

    pub(crate) fn set_oper_avail(&mut self, h: &mut HostRt, oper: OperState, avail: Availability) {
        let mut s = h.rec.states;
        s.oper = oper;
        s.avail = avail;
        self.write_states(h, s);
    }

    pub(crate) fn set_subf(&mut self, h: &mut HostRt, oper: OperState, avail: Availability) {
        if let Some(sf) = h.rec.subf.as_mut() {
            if sf.oper != oper || sf.avail != avail {
                *sf = SubfunctionStates { oper, avail };
                let name = h.name().to_string();
                self.changed(&name);
            }
        }
    }

    pub(crate) fn set_task(&mut self, h: &mut HostRt, text: &str) {
        if h.rec.task != text {
            h.rec.task = text.to_string();
            h.task_clear_at = None;
            let name = h.name().to_string();
            self.changed(&name);
        }
    }

    /// End the current action with an outcome line that stays visible for `task_display`.
    pub(crate) fn end_with_task(&mut self, h: &mut HostRt, text: &str, outcome: ActionOutcome) {
        self.hold_task(h, text);
        self.end_action(h, outcome);
    }

    /// An outcome line, shown for `task_display` and then cleared.
    pub(crate) fn hold_task(&mut self, h: &mut HostRt, text: &str) {
        self.set_task(h, text);
        h.task_clear_at = Some(self.now + self.cfg.timeouts.task_display.0);
    }

    /// Send a tracked command; `networks` are heartbeat networks (`Network`) or, for a reboot,
    /// `ProtocolNetwork`s including pxeboot.
    pub(crate) fn send<N: Into<ProtocolNetwork>>(
        &mut self,
        h: &mut HostRt,
        command: NodeCommand,
        networks: Vec<N>,
        cause: Cause,
    ) -> CommandId {
        let networks = networks.into_iter().map(Into::into).collect();
        let id = self.new_command_id();
        h.cmd = Some((id, command));
        h.cmd_acked = false;
        self.emit(Effect::Send {
            host: h.name().to_string(),
            id,
            command,
            networks,
            cause,
        });
        id
    }

    /// Send without tracking an acknowledgement (flag corrections, alive requests).
    pub(crate) fn notify<N: Into<ProtocolNetwork>>(
        &mut self,
        h: &HostRt,
        command: NodeCommand,
        networks: Vec<N>,
    ) {
        let networks = networks.into_iter().map(Into::into).collect();
        let id = self.new_command_id();
        self.emit(Effect::Send {
            host: h.name().to_string(),
            id,
            command,
            networks,
            cause: Cause::Routine,
        });
    }

    pub(crate) fn bmc(&mut self, h: &mut HostRt, op: BmcOp) {
        let id = self.new_bmc_id();
        h.bmc_req = Some(id);
        h.bmc_result = None;
        if op == BmcOp::PowerOn {
            h.boot_id_at_power_on = h.alive.boot_id;
        }
        let cause = if op.is_destructive() {
            self.cause(h)
        } else {
            Cause::Routine
        };
        self.emit(Effect::Bmc {
            host: h.name().to_string(),
            id,
            op,
            cause,
        });
    }

    pub(crate) fn heartbeat(&mut self, h: &mut HostRt, control: HeartbeatControl) {
        if control == HeartbeatControl::Start {
            self.heartbeat_fresh_start(h);
        }
        let host = Some(h.name().to_string());
        self.emit(Effect::Heartbeat { host, control });
    }

    /// Monitoring starts afresh (or ends on purpose): earlier misses no longer count (as
    /// StarlingX's START_HOST clears the heartbeat-failed flags and degrade bits), and neither do
    /// their alarms — accounting that restarts from zero would never clear them otherwise
    /// (docs/heartbeat.md#starting-and-stopping).
    pub(crate) fn heartbeat_fresh_start(&mut self, h: &mut HostRt) {
        let name = h.name().to_string();
        h.hb = Default::default();
        h.rec.degrade.clear(DegradeMask::HEARTBEAT_MGMT);
        h.rec.degrade.clear(DegradeMask::HEARTBEAT_CLUSTER);
        self.clear(&name, AlarmId::MgmtHeartbeat);
        self.clear(&name, AlarmId::ClusterHeartbeat);
        self.mnfa_forget(h);
    }

    /// Start the offline audit: silence for `offline_period × offline_threshold` means offline.
    pub(crate) fn start_offline_audit(&mut self, h: &mut HostRt) {
        let window = self.offline_window();
        h.offline_audit = Some(OfflineAudit {
            deadline: self.now + window,
        });
        self.notify(h, NodeCommand::RequestAlive, h.networks());
    }

    pub(crate) fn offline_window(&self) -> Duration {
        self.cfg.timeouts.offline_period.0 * self.cfg.thresholds.offline_threshold
    }

    pub(crate) fn boot_timeout(&self, h: &HostRt) -> Duration {
        if h.rec.spec.personality == Personality::Controller {
            self.cfg.timeouts.controller_boot_timeout.0
        } else {
            self.cfg.timeouts.worker_boot_timeout.0
        }
    }

    pub(crate) fn heartbeat_enabled(&self) -> bool {
        self.cfg.policy.heartbeat_failure_action != HeartbeatFailureAction::None
    }

    // ----- auto-recovery accounting (docs/recovery.md#auto-recovery-thresholds) -----

    fn ar_threshold(&self, c: ArCause) -> (u32, Duration) {
        let t = &self.cfg.thresholds;
        match c {
            ArCause::Config => (t.ar_config_threshold, t.ar_config_interval.0),
            ArCause::GoEnable => (t.ar_goenable_threshold, t.ar_goenable_interval.0),
            ArCause::HostServices => (t.ar_services_threshold, t.ar_services_interval.0),
            ArCause::Heartbeat => (t.ar_heartbeat_threshold, t.ar_heartbeat_interval.0),
            ArCause::Luks => (t.ar_luks_threshold, t.ar_luks_interval.0),
        }
    }

    pub(crate) fn ar_interval(&self, c: Option<ArCause>) -> Duration {
        c.map(|c| self.ar_threshold(c).1)
            .unwrap_or(self.cfg.timeouts.recovery_delay.0)
    }

    /// Count a failure of `cause`. Returns false when the threshold is passed and auto-recovery is now
    /// disabled (the caller must stop); the host is then parked failed until lock/unlock.
    pub(crate) fn ar_manage(&mut self, h: &mut HostRt, cause: ArCause) -> bool {
        if !h.unlocked() || h.rec.ar_disabled.is_some() || h.forcing_full_enable {
            return true;
        }
        h.ar_counts[cause.index()] += 1;
        h.last_ar_cause = Some(cause);
        let (threshold, _) = self.ar_threshold(cause);
        let within = if cfg!(mutation = "ar-threshold-off-by-one") {
            h.ar_counts[cause.index()] < threshold
        } else {
            h.ar_counts[cause.index()] <= threshold
        };
        if within {
            return true;
        }
        let name = h.name().to_string();
        if self.is_self(h) && self.system.system_type != SystemType::AioSimplex {
            // The active controller never parks itself out of service: degrade and ask for a standby.
            self.raise(&name, AlarmId::Enable, Severity::Critical);
            self.set_oper_avail(h, OperState::Enabled, Availability::Degraded);
            self.set_task(h, task::CRITICAL_NO_STANDBY);
            return false;
        }
        h.rec.ar_disabled = Some(cause);
        h.offline_audit = None;
        self.log(
            &name,
            LogId::StateChange,
            format!("{name} auto recovery disabled ({:?})", cause),
        );
        self.heartbeat(h, HeartbeatControl::Stop);
        self.set_oper_avail(h, OperState::Disabled, Availability::Failed);
        self.set_task(h, cause.banner());
        self.end_action(
            h,
            ActionOutcome::Failed {
                reason: cause.banner().to_string(),
            },
        );
        false
    }

    /// Re-arm auto-recovery after a success (docs/recovery.md#auto-recovery-thresholds).
    pub(crate) fn ar_enable(&mut self, h: &mut HostRt) {
        h.ar_counts = [0; 5];
        h.rec.ar_disabled = None;
    }

    /// Fail the host and restart its enable from scratch (docs/handlers.md#force-full-enable).
    /// Never overrides a lock.
    pub(crate) fn force_full_enable(&mut self, h: &mut HostRt, why: &str) {
        if h.rec.ar_disabled.is_some() || h.forcing_full_enable {
            return;
        }
        if matches!(h.rec.action, Action::Lock | Action::ForceLock) || h.locked() {
            return;
        }
        let name = h.name().to_string();
        h.forcing_full_enable = true;
        h.dor_recovery = false;
        self.log(
            &name,
            LogId::StateChange,
            format!("{name} is FAILED: {why}"),
        );
        self.raise(&name, AlarmId::Enable, Severity::Critical);
        if self.is_self(h) {
            // The active controller degrades instead of failing itself out of service.
            self.set_oper_avail(h, OperState::Enabled, Availability::Degraded);
            self.set_task(h, task::CRITICAL_NO_STANDBY);
            h.forcing_full_enable = false;
            return;
        }
        self.heartbeat(h, HeartbeatControl::Stop);
        self.set_oper_avail(h, OperState::Disabled, Availability::Failed);
        self.end_action(
            h,
            ActionOutcome::Failed {
                reason: why.to_string(),
            },
        );
        let interval = self.ar_interval(h.last_ar_cause);
        h.set_stage(Stage::Enable(enable::EnableStage::FailureWait {
            deadline: self.now + interval,
        }));
        self.mark_dirty(&name);
    }
}
