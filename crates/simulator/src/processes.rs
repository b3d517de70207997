//! The node's process monitor policy ([`steward_process_policy::ProcessMonitor`]) under random
//! process deaths, failed starts and failed health checks, on simulated time
//! (docs/node-supervision.md#restart-policy).
//!
//! One seed fixes a node's processes (severity, allowed restarts, interval, debounce, quorum, health
//! command) and every event. The simulator plays the node runtime: it carries out `Start` after a
//! random start time (the start succeeds with a new pid, or fails), `Kill` after a short delay,
//! `RunHealth` with a random verdict, and kills running processes at random. It keeps its **own**
//! record of each process — its failures since it last ran for the debounce, and whether it should
//! be escalated — from these raw events only, and checks after every step:
//!
//! - **escalation**: the monitor reports a process escalated exactly when the record says more
//!   than `restarts` failures happened since its last stable spell; each escalation is reported
//!   once and cleared once (the reports alternate per process, raise first);
//! - **quorum**: quorum is lost exactly when a quorum process is escalated by the record;
//! - **restart**: a dead or failed process gets its `Start` no later than its interval after the
//!   failure, and never while one is in flight;
//! - **no stale death**: a death of an instance already replaced changes nothing.

use crate::prng::Rng;
use std::collections::BTreeMap;
use steward_process_policy::{Effect, Phase, ProcessConfig, ProcessMonitor, Severity};

/// What one run did (for the tier's summary).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessRun {
    pub deaths: u64,
    pub failed_starts: u64,
    pub health_kills: u64,
    pub escalations: u64,
    pub clears: u64,
    pub restarts: u64,
}

/// The simulator's own record of one process.
#[derive(Clone, Debug, Default)]
struct Truth {
    /// The live instance and when it started (None: dead or starting).
    running: Option<(u32, u64)>,
    /// A start is in flight.
    starting: bool,
    /// When the last failure happened while no start followed yet.
    failed_at: Option<u64>,
    failures_since_stable: u32,
    escalated: bool,
    /// The last report seen: Some(true) raised, Some(false) cleared.
    last_report: Option<bool>,
}

/// Scheduled runtime events: a start, a kill and a health check finishing.
#[derive(Clone, Debug)]
enum Pending {
    Started { process: String, ok: bool },
    Killed { process: String, pid: u32 },
    Checked { process: String, ok: bool },
}

/// Run `steps` random events for one node with a few processes; `Err` names the first violated
/// invariant with the time and process.
pub fn run(seed: u64, steps: usize) -> Result<ProcessRun, String> {
    let mut rng = Rng::new(seed);
    let n = rng.range(1, 5) as usize;
    let mut configs = Vec::new();
    for i in 0..n {
        let severity = *rng.pick(&[Severity::Minor, Severity::Major, Severity::Critical]);
        let mut c = ProcessConfig::new(&format!("p{i}"), "/sim/pid", "start", severity);
        c.restarts = rng.below(4) as u32;
        c.interval_ms = rng.range(10, 500);
        c.debounce_ms = rng.range(200, 3_000);
        c.quorum = rng.chance(0.3);
        if rng.chance(0.5) {
            c.health = Some("check".into());
            c.health_interval_ms = rng.range(50, 1_000);
        }
        configs.push(c);
    }
    let cfg: BTreeMap<String, ProcessConfig> = configs
        .iter()
        .map(|c| (c.name.clone(), c.clone()))
        .collect();
    let mut m = ProcessMonitor::new();
    let mut truth: BTreeMap<String, Truth> = BTreeMap::new();
    let mut pending: Vec<(u64, Pending)> = Vec::new();
    let mut stats = ProcessRun::default();
    let mut now = 0u64;
    let mut next_pid = 1u32;
    let fx = m.configure(now, configs);
    let mut ctx = Ctx {
        cfg: &cfg,
        truth: &mut truth,
        pending: &mut pending,
        stats: &mut stats,
        rng: &mut rng,
    };
    ctx.apply(now, fx)?;
    for _ in 0..steps {
        // The next thing: a pending runtime event, a monitor deadline, or a random death.
        let next_pending = ctx.pending.iter().map(|(t, _)| *t).min();
        let next_tick = m.next_deadline();
        let death_at = now + ctx.rng.range(1, 2_000);
        let t = [next_pending, next_tick, Some(death_at)]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(death_at);
        now = now.max(t);
        let fx = if next_pending == Some(t) {
            let i = ctx
                .pending
                .iter()
                .position(|(at, _)| *at == t)
                .ok_or("pending event vanished")?;
            let (_, p) = ctx.pending.remove(i);
            match p {
                Pending::Started { process, ok } => {
                    let tr = ctx.truth.entry(process.clone()).or_default();
                    tr.starting = false;
                    if ok {
                        let pid = next_pid;
                        next_pid += 1;
                        tr.running = Some((pid, now));
                        tr.failed_at = None;
                        m.running(now, &process, pid)
                    } else {
                        ctx.stats.failed_starts += 1;
                        ctx.truth_failed(&process, now);
                        m.start_failed(now, &process, "exit 1")
                    }
                }
                Pending::Killed { process, pid } => ctx.death(&mut m, now, &process, pid),
                Pending::Checked { process, ok } => m.health(now, &process, ok, "sim"),
            }
        } else if next_tick == Some(t) {
            ctx.stable_spells(now);
            m.tick(now)
        } else {
            // A random running process dies.
            let live: Vec<(String, u32)> = ctx
                .truth
                .iter()
                .filter_map(|(p, tr)| tr.running.map(|(pid, _)| (p.clone(), pid)))
                .collect();
            if live.is_empty() {
                Vec::new()
            } else {
                let (p, pid) = ctx.rng.pick(&live).clone();
                ctx.stats.deaths += 1;
                // A late report of an earlier pid sometimes comes too: it must change nothing.
                if pid > 1 && ctx.rng.chance(0.1) && !m.died(now, &p, pid - 1, "stale").is_empty() {
                    return Err(format!(
                        "t={now} {p}: a stale death of pid {} had effects",
                        pid - 1
                    ));
                }
                ctx.death(&mut m, now, &p, pid)
            }
        };
        ctx.stable_spells(now);
        ctx.apply(now, fx)?;
        ctx.check(&m, now)?;
    }
    Ok(stats)
}

struct Ctx<'a> {
    cfg: &'a BTreeMap<String, ProcessConfig>,
    truth: &'a mut BTreeMap<String, Truth>,
    pending: &'a mut Vec<(u64, Pending)>,
    stats: &'a mut ProcessRun,
    rng: &'a mut Rng,
}

impl Ctx<'_> {
    fn death(&mut self, m: &mut ProcessMonitor, now: u64, process: &str, pid: u32) -> Vec<Effect> {
        let tr = self.truth.entry(process.into()).or_default();
        if tr.running.map(|r| r.0) != Some(pid) {
            return m.died(now, process, pid, "stale");
        }
        tr.running = None;
        self.truth_failed(process, now);
        m.died(now, process, pid, "SIGKILL")
    }

    /// A process that has run for its debounce is stable: the record forgets its failures.
    fn stable_spells(&mut self, now: u64) {
        for (p, tr) in self.truth.iter_mut() {
            if let Some((_, since)) = tr.running {
                if now.saturating_sub(since) >= self.cfg[p].debounce_ms
                    && tr.failures_since_stable > 0
                {
                    tr.failures_since_stable = 0;
                    tr.escalated = false;
                }
            }
        }
    }

    fn truth_failed(&mut self, process: &str, now: u64) {
        let restarts = self.cfg[process].restarts;
        let tr = self.truth.entry(process.into()).or_default();
        tr.failures_since_stable += 1;
        tr.failed_at = Some(now);
        if tr.failures_since_stable > restarts {
            tr.escalated = true;
        }
    }

    fn apply(&mut self, now: u64, fx: Vec<Effect>) -> Result<(), String> {
        for e in fx {
            match e {
                Effect::Start { process } => {
                    let tr = self.truth.entry(process.clone()).or_default();
                    if tr.starting || tr.running.is_some() {
                        return Err(format!(
                            "t={now} {process}: Start while one is in flight or running"
                        ));
                    }
                    if let Some(at) = tr.failed_at {
                        let interval = self.cfg[&process].interval_ms;
                        if now > at + interval {
                            return Err(format!(
                                "t={now} {process}: restarted {} ms after the failure (interval {interval})",
                                now - at
                            ));
                        }
                    }
                    tr.starting = true;
                    self.stats.restarts += 1;
                    let ok = self.rng.chance(0.8);
                    let at = now + self.rng.range(1, 300);
                    self.pending.push((at, Pending::Started { process, ok }));
                }
                Effect::Kill { process, pid, .. } => {
                    self.stats.health_kills += 1;
                    let at = now + self.rng.range(1, 50);
                    self.pending.push((at, Pending::Killed { process, pid }));
                }
                Effect::RunHealth { process } => {
                    let ok = self.rng.chance(0.9);
                    let at = now + self.rng.range(1, 100);
                    self.pending.push((at, Pending::Checked { process, ok }));
                }
                Effect::Report { process, severity } => {
                    let raised = severity.is_some();
                    let tr = self.truth.entry(process.clone()).or_default();
                    let expected_first = tr.last_report.is_none() && raised;
                    if !(expected_first || tr.last_report == Some(!raised)) {
                        return Err(format!(
                            "t={now} {process}: report {severity:?} does not alternate (last {:?})",
                            tr.last_report
                        ));
                    }
                    if raised && severity != Some(self.cfg[&process].severity) {
                        return Err(format!("t={now} {process}: escalated at {severity:?}"));
                    }
                    tr.last_report = Some(raised);
                    if raised {
                        self.stats.escalations += 1;
                    } else {
                        self.stats.clears += 1;
                    }
                }
                Effect::Quorum { .. } | Effect::Forget { .. } | Effect::Log { .. } => {}
            }
        }
        Ok(())
    }

    fn check(&self, m: &ProcessMonitor, now: u64) -> Result<(), String> {
        if m.next_deadline().is_some_and(|d| d <= now) {
            // The monitor's tick for this instant comes in the next step (events at the same time
            // go first); judge after it.
            return Ok(());
        }
        for s in m.status() {
            let tr = self.truth.get(&s.name).cloned().unwrap_or_default();
            if s.escalated.is_some() != tr.escalated {
                return Err(format!(
                    "t={now} {}: monitor escalated {:?}, record says {} ({} failures since stable, {} allowed)",
                    s.name, s.escalated, tr.escalated, tr.failures_since_stable, self.cfg[&s.name].restarts
                ));
            }
            if tr.last_report.unwrap_or(false) != tr.escalated {
                return Err(format!(
                    "t={now} {}: reports disagree with the record",
                    s.name
                ));
            }
            let running = matches!(s.phase, Phase::Running { .. });
            if running != tr.running.is_some() {
                return Err(format!(
                    "t={now} {}: monitor phase {:?}, record {:?}",
                    s.name, s.phase, tr.running
                ));
            }
        }
        let quorum = self
            .truth
            .iter()
            .any(|(p, t)| t.escalated && self.cfg[p].quorum);
        if m.quorum_lost() != quorum {
            return Err(format!(
                "t={now}: quorum lost {} but the record says {quorum}",
                m.quorum_lost()
            ));
        }
        Ok(())
    }
}
