//! The restart and escalation policy over every monitored process.

use crate::config::{ProcessConfig, Severity};
use serde::Serialize;
use std::collections::BTreeMap;

/// What the runtime must do. Every effect names its process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Make the process run: attach to it if its pid is already alive (an agent restart must not
    /// start a second copy), otherwise run its start command, wait its startup delay and read its
    /// pid. Answer with [`ProcessMonitor::running`] or [`ProcessMonitor::start_failed`].
    Start { process: String },
    /// End this instance (its health check failed); its death comes back through
    /// [`ProcessMonitor::died`] like a crash.
    Kill {
        process: String,
        pid: u32,
        reason: String,
    },
    /// Run the health command; answer with [`ProcessMonitor::health`].
    RunHealth { process: String },
    /// Tell the controller: escalated at this severity, or `None` for cleared.
    Report {
        process: String,
        severity: Option<Severity>,
    },
    /// A quorum process escalated (`lost`) or became stable again.
    Quorum { process: String, lost: bool },
    /// Stop watching a process that left the configuration (its instance keeps running).
    Forget { process: String },
    /// A line for the node's log.
    Log { warn: bool, line: String },
}

/// Where a process is in its cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
pub enum Phase {
    /// Start asked; waiting for the runtime to attach.
    Starting,
    /// Watched: pid known, since `since` ms.
    Running { pid: u32, since: u64 },
    /// Dead or failed to start; restart due at `at` ms.
    Waiting { at: u64 },
}

/// A process's state, for the node's status and for tests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessStatus {
    pub name: String,
    #[serde(flatten)]
    pub phase: Phase,
    /// Failures since the process was last stable.
    pub failures: u32,
    /// Restarts done since the monitor started.
    pub restarts_total: u64,
    /// The escalation reported to the controller and not cleared yet.
    pub escalated: Option<Severity>,
}

struct Proc {
    cfg: ProcessConfig,
    phase: Phase,
    failures: u32,
    restarts_total: u64,
    escalated: Option<Severity>,
    /// When the next health command is due (only while running past the startup delay).
    next_health: u64,
    health_running: bool,
}

/// The policy for every monitored process of one node.
#[derive(Default)]
pub struct ProcessMonitor {
    procs: BTreeMap<String, Proc>,
}

impl ProcessMonitor {
    pub fn new() -> ProcessMonitor {
        ProcessMonitor::default()
    }

    /// Take a (new or reloaded) configuration. New processes are started; removed ones are
    /// forgotten (their escalation cleared); changed ones keep their state under the new settings.
    pub fn configure(&mut self, now: u64, configs: Vec<ProcessConfig>) -> Vec<Effect> {
        let mut fx = Vec::new();
        let mut wanted: BTreeMap<String, ProcessConfig> =
            configs.into_iter().map(|c| (c.name.clone(), c)).collect();
        let gone: Vec<String> = self
            .procs
            .keys()
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(p) = self.procs.remove(&name) {
                if p.escalated.is_some() {
                    fx.push(report(&name, None));
                    if p.cfg.quorum {
                        fx.push(Effect::Quorum {
                            process: name.clone(),
                            lost: false,
                        });
                    }
                }
                fx.push(log(false, format!("{name}: no longer monitored")));
                fx.push(Effect::Forget { process: name });
            }
        }
        for (name, cfg) in std::mem::take(&mut wanted) {
            match self.procs.get_mut(&name) {
                Some(p) => {
                    if p.cfg != cfg {
                        if let Some(old) = p.escalated {
                            // An escalated process follows its new settings at once.
                            if old != cfg.severity {
                                p.escalated = Some(cfg.severity);
                                fx.push(report(&name, Some(cfg.severity)));
                            }
                            if p.cfg.quorum != cfg.quorum {
                                fx.push(Effect::Quorum {
                                    process: name.clone(),
                                    lost: cfg.quorum,
                                });
                            }
                        }
                        p.cfg = cfg;
                        fx.push(log(false, format!("{name}: configuration reloaded")));
                    }
                }
                None => {
                    fx.push(log(false, format!("{name}: monitoring")));
                    fx.push(Effect::Start {
                        process: name.clone(),
                    });
                    self.procs.insert(
                        name,
                        Proc {
                            cfg,
                            phase: Phase::Starting,
                            failures: 0,
                            restarts_total: 0,
                            escalated: None,
                            next_health: now,
                            health_running: false,
                        },
                    );
                }
            }
        }
        fx
    }

    /// The runtime attached to `pid` of `process` (after a start or at discovery).
    pub fn running(&mut self, now: u64, process: &str, pid: u32) -> Vec<Effect> {
        let Some(p) = self.procs.get_mut(process) else {
            return Vec::new();
        };
        p.phase = Phase::Running { pid, since: now };
        // The start already waited the startup delay; the first check follows one interval on.
        p.next_health = now.saturating_add(p.cfg.health_interval_ms);
        p.health_running = false;
        vec![log(false, format!("{process}: running as pid {pid}"))]
    }

    /// The start command failed, or no live pid appeared after it.
    pub fn start_failed(&mut self, now: u64, process: &str, reason: &str) -> Vec<Effect> {
        match self.procs.get(process) {
            Some(p) if p.phase == Phase::Starting => {
                self.failed(now, process, format!("start failed: {reason}"))
            }
            _ => Vec::new(),
        }
    }

    /// `pid` of `process` ended. A pid that is not the watched one is ignored (a late report of an
    /// instance already replaced).
    pub fn died(&mut self, now: u64, process: &str, pid: u32, how: &str) -> Vec<Effect> {
        match self.procs.get(process) {
            Some(p) if matches!(p.phase, Phase::Running { pid: watched, .. } if watched == pid) => {
                self.failed(now, process, format!("pid {pid} died ({how})"))
            }
            _ => Vec::new(),
        }
    }

    /// Result of the health command.
    pub fn health(&mut self, _now: u64, process: &str, ok: bool, detail: &str) -> Vec<Effect> {
        let Some(p) = self.procs.get_mut(process) else {
            return Vec::new();
        };
        p.health_running = false;
        match p.phase {
            Phase::Running { pid, .. } if !ok => {
                let reason = format!("health check failed: {detail}");
                vec![
                    log(true, format!("{process}: {reason}; ending pid {pid}")),
                    Effect::Kill {
                        process: process.into(),
                        pid,
                        reason,
                    },
                ]
            }
            _ => Vec::new(),
        }
    }

    /// Timers: restarts due, stability reached, health checks due.
    pub fn tick(&mut self, now: u64) -> Vec<Effect> {
        let mut fx = Vec::new();
        for (name, p) in self.procs.iter_mut() {
            match p.phase {
                Phase::Waiting { at } if at <= now => {
                    p.phase = Phase::Starting;
                    p.restarts_total += 1;
                    fx.push(Effect::Start {
                        process: name.clone(),
                    });
                }
                Phase::Running { since, .. } => {
                    if p.failures > 0 && now.saturating_sub(since) >= p.cfg.debounce_ms {
                        p.failures = 0;
                        if p.escalated.take().is_some() {
                            fx.push(log(false, format!("{name}: stable again, cleared")));
                            fx.push(report(name, None));
                            if p.cfg.quorum {
                                fx.push(Effect::Quorum {
                                    process: name.clone(),
                                    lost: false,
                                });
                            }
                        }
                    }
                    if p.cfg.health.is_some() && !p.health_running && p.next_health <= now {
                        p.health_running = true;
                        p.next_health = now.saturating_add(p.cfg.health_interval_ms);
                        fx.push(Effect::RunHealth {
                            process: name.clone(),
                        });
                    }
                }
                _ => {}
            }
        }
        fx
    }

    /// When `tick` has something to do next (ms), if anything.
    pub fn next_deadline(&self) -> Option<u64> {
        self.procs
            .values()
            .filter_map(|p| match p.phase {
                Phase::Waiting { at } => Some(at),
                Phase::Running { since, .. } => {
                    let stable = (p.failures > 0).then(|| since.saturating_add(p.cfg.debounce_ms));
                    let health =
                        (p.cfg.health.is_some() && !p.health_running).then_some(p.next_health);
                    stable.into_iter().chain(health).min()
                }
                Phase::Starting => None,
            })
            .min()
    }

    /// No process is escalated.
    pub fn all_healthy(&self) -> bool {
        self.procs.values().all(|p| p.escalated.is_none())
    }

    /// A quorum process is escalated.
    pub fn quorum_lost(&self) -> bool {
        self.procs
            .values()
            .any(|p| p.cfg.quorum && p.escalated.is_some())
    }

    pub fn config(&self, process: &str) -> Option<&ProcessConfig> {
        self.procs.get(process).map(|p| &p.cfg)
    }

    /// Every process's state, by name.
    pub fn status(&self) -> Vec<ProcessStatus> {
        self.procs
            .iter()
            .map(|(name, p)| ProcessStatus {
                name: name.clone(),
                phase: p.phase,
                failures: p.failures,
                restarts_total: p.restarts_total,
                escalated: p.escalated,
            })
            .collect()
    }

    /// A death or failed start: count it, escalate past the allowed restarts, schedule the restart.
    fn failed(&mut self, now: u64, process: &str, why: String) -> Vec<Effect> {
        let Some(p) = self.procs.get_mut(process) else {
            return Vec::new();
        };
        let mut fx = Vec::new();
        p.failures = p.failures.saturating_add(1);
        p.health_running = false;
        p.phase = Phase::Waiting {
            at: now.saturating_add(p.cfg.interval_ms),
        };
        fx.push(log(
            true,
            format!(
                "{process}: {why}; failure {} of {} restarts allowed",
                p.failures, p.cfg.restarts
            ),
        ));
        if p.failures > p.cfg.restarts && p.escalated.is_none() {
            let sev = p.cfg.severity;
            p.escalated = Some(sev);
            fx.push(log(
                true,
                format!("{process}: restarts exhausted, escalating ({sev:?})"),
            ));
            fx.push(report(process, Some(sev)));
            if p.cfg.quorum {
                fx.push(Effect::Quorum {
                    process: process.into(),
                    lost: true,
                });
            }
        }
        fx
    }
}

fn report(process: &str, severity: Option<Severity>) -> Effect {
    Effect::Report {
        process: process.into(),
        severity,
    }
}

fn log(warn: bool, line: String) -> Effect {
    Effect::Log { warn, line }
}

#[cfg(test)]
mod tests;
