//! Pxeboot alarm invariant (docs/recovery.md#pxeboot-alive-monitor, alarm 200.003), judged from
//! what crossed the simulated pxeboot links and from the machines themselves:
//!
//! - never raised for a host whose pxeboot reports arrive: at a raise, no pxeboot report of that
//!   host reached the core in the last `miss_threshold - 1` check periods. The monitor forgives one
//!   miss per check that saw a report, so misses of an earlier outage can complete a loss after a
//!   few reports; but the loss that raises always ends with `miss_threshold - 1` checks in a row
//!   without one (from one miss left, a report takes it to none, a miss to two);
//! - raised when they stop: a host whose pxeboot link was cut while it stayed up and reachable on
//!   management for two check periods more than that (counted from the later of the cut, the
//!   host's last boot or loss of management, and the last controller restart) has 200.003 active
//!   when the link comes back;
//! - cleared when they resume: 200.003 is not active for a host whose pxeboot link has been back,
//!   and the host up and reachable on management, for two check periods more than `clear_after`
//!   checks (counted as above); checked as the run goes and after settling.

use crate::invariants::{Invariant, Violation};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use steward_maintenance::alarm::{AlarmChange, AlarmId};
use steward_maintenance::{Config, Effect, Instant};

#[derive(Clone, Debug, Default)]
struct HostPx {
    /// The last pxeboot alive report handed to the core.
    last_report: Option<Instant>,
    /// The pxeboot link is cut since then.
    cut_since: Option<Instant>,
    /// The pxeboot link is up since then (`None`: cut, or never seen).
    up_since: Option<Instant>,
    /// Up and reachable on management since then (`None`: not now).
    steady_since: Option<Instant>,
}

/// The pxeboot checker.
#[derive(Clone, Debug)]
pub struct PxebootChecker {
    /// The shortest pxeboot silence that may end with a raise.
    raise_after: Duration,
    /// Past this, an outage of a steady host must have raised it.
    must_raise_after: Duration,
    /// Past this, reports arriving from a steady host must have cleared it.
    must_clear_after: Duration,
    /// Pxeboot is monitored at all (not on an all-in-one simplex).
    monitored: bool,
    hosts: BTreeMap<String, HostPx>,
    active: BTreeSet<String>,
    restarted: Instant,
    /// Raises and clears of 200.003 seen.
    pub raised: u64,
    pub cleared: u64,
}

impl PxebootChecker {
    pub fn new(cfg: &Config, monitored: bool) -> Self {
        let period = cfg.pxeboot.check_period.0;
        let checks = cfg.pxeboot.checks_to_raise();
        PxebootChecker {
            raise_after: period * cfg.pxeboot.miss_threshold.saturating_sub(1),
            must_raise_after: period * (checks + 2),
            must_clear_after: period * (cfg.pxeboot.clear_after + 2),
            monitored,
            hosts: BTreeMap::new(),
            active: BTreeSet::new(),
            restarted: Instant::ZERO,
            raised: 0,
            cleared: 0,
        }
    }

    fn host(&mut self, name: &str) -> &mut HostPx {
        self.hosts.entry(name.to_string()).or_default()
    }

    /// `host` has a pxeboot link, up from `now`.
    pub fn host_added(&mut self, host: &str, now: Instant) {
        self.host(host).up_since = Some(now);
    }

    /// A pxeboot alive report of `host` was handed to the core.
    pub fn report_delivered(&mut self, host: &str, now: Instant) {
        self.host(host).last_report = Some(now);
    }

    /// Whether `host` is up and reachable on management now.
    pub fn steady(&mut self, host: &str, now: Instant, steady: bool) {
        let h = self.host(host);
        if !steady {
            h.steady_since = None;
        } else if h.steady_since.is_none() {
            h.steady_since = Some(now);
        }
    }

    /// The host's pxeboot link was cut or restored. A restore after a long enough outage of a
    /// steady host finds the alarm raised.
    pub fn link(&mut self, host: &str, now: Instant, cut: bool) -> Result<(), Violation> {
        let monitored = self.monitored;
        let restarted = self.restarted;
        let must = self.must_raise_after;
        let active = self.active.contains(host);
        let h = self.host(host);
        if cut {
            h.cut_since.get_or_insert(now);
            h.up_since = None;
            return Ok(());
        }
        let Some(cut_at) = h.cut_since.take() else {
            return Ok(());
        };
        h.up_since = Some(now);
        let Some(steady) = h.steady_since else {
            return Ok(());
        };
        let from = cut_at.max(steady).max(restarted);
        if monitored && now.since(from) >= must && !active {
            return Err(Violation::new(
                Invariant::PxebootAlarmFollowsReports,
                now,
                Some(host),
                format!(
                    "pxeboot cut since t={}ms, host up and reachable on management since t={}ms: \
                     no 200.003 after {} s without pxeboot reports",
                    cut_at.as_millis(),
                    steady.as_millis(),
                    now.since(from).as_secs()
                ),
            ));
        }
        Ok(())
    }

    /// The controller restarted with these alarms durable.
    pub fn controller_restarted<'a>(
        &mut self,
        now: Instant,
        alarms: impl IntoIterator<Item = (AlarmId, &'a str)>,
    ) {
        self.restarted = now;
        self.active = alarms
            .into_iter()
            .filter(|(id, _)| *id == AlarmId::PxebootAlive)
            .map(|(_, h)| h.to_string())
            .collect();
    }

    pub fn on_effect(&mut self, now: Instant, e: &Effect) -> Result<(), Violation> {
        match e {
            Effect::Alarm(AlarmChange::Raise(a)) if a.id == AlarmId::PxebootAlive => {
                self.raised += 1;
                self.active.insert(a.host.clone());
                let last = self.hosts.get(&a.host).and_then(|h| h.last_report);
                if let Some(last) = last.filter(|l| now.since(*l) < self.raise_after) {
                    return Err(Violation::new(
                        Invariant::PxebootAlarmFollowsReports,
                        now,
                        Some(&a.host),
                        format!(
                            "200.003 raised though a pxeboot report arrived at t={}ms, {} ms ago \
                             (the last loss needs {} s without one)",
                            last.as_millis(),
                            now.since(last).as_millis(),
                            self.raise_after.as_secs()
                        ),
                    ));
                }
            }
            Effect::Alarm(AlarmChange::Clear { id, host }) if *id == AlarmId::PxebootAlive => {
                self.cleared += 1;
                self.active.remove(host);
            }
            _ => {}
        }
        Ok(())
    }

    /// No 200.003 stays active on a host whose pxeboot reports have long been arriving again.
    pub fn check_clears(&self, now: Instant) -> Result<(), Violation> {
        if !self.monitored {
            return Ok(());
        }
        for host in &self.active {
            let Some(h) = self.hosts.get(host) else {
                continue;
            };
            let (Some(up), Some(steady)) = (h.up_since, h.steady_since) else {
                continue;
            };
            let from = up.max(steady).max(self.restarted);
            if now.since(from) >= self.must_clear_after {
                return Err(Violation::new(
                    Invariant::PxebootAlarmFollowsReports,
                    now,
                    Some(host),
                    format!(
                        "200.003 still active {} s after its pxeboot reports resumed (link back \
                         at t={}ms, host up and reachable on management since t={}ms)",
                        now.since(from).as_secs(),
                        up.as_millis(),
                        steady.as_millis()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// A host is gone from the core (deleted): its alarms went with it.
    pub fn host_removed(&mut self, host: &str) {
        self.active.remove(host);
        self.hosts.remove(host);
    }
}
