//! The pxeboot alive monitor (docs/recovery.md#pxeboot-alive-monitor): one small state machine per
//! host that judges, every `check_period`, whether the host's alive reports still arrive on the
//! pxeboot network, and says when alarm 200.003 is to be raised or cleared.
//!
//! Pxeboot is not heartbeated: it carries alive reports and reboot commands, so a host whose
//! management network is broken can still be rebooted without its BMC. This monitor is how an
//! operator learns that this fallback path itself is gone.
//!
//! A check compares the number of pxeboot reports received with the number at the previous check:
//!
//! - advanced: one miss is forgiven; while alarmed, `clear_after` such checks in a row clear it;
//! - not advanced while the host still reports on its other networks: a miss; `miss_threshold`
//!   misses make one loss (and start the misses over); `loss_threshold` losses raise the alarm;
//! - nothing arrived on any network: the host is down or rebooting, which says nothing about
//!   pxeboot, so the check changes nothing.
//!
//! Sans-IO like the rest of the core: counts and `now` in, a verdict out.

use crate::config::Seconds;
use crate::time::Instant;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `[pxeboot]` in the configuration (docs/config.md#pxeboot).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PxebootMonitorConfig {
    /// How often each monitored host's pxeboot reports are checked.
    pub check_period: Seconds,
    /// Checks in a row without a pxeboot report (while the host reports elsewhere) that make a loss.
    pub miss_threshold: u32,
    /// Losses that raise alarm 200.003.
    pub loss_threshold: u32,
    /// Checks in a row with pxeboot reports that clear the alarm.
    pub clear_after: u32,
}

impl Default for PxebootMonitorConfig {
    fn default() -> Self {
        PxebootMonitorConfig {
            check_period: Seconds(Duration::from_secs(10)),
            miss_threshold: 3,
            loss_threshold: 2,
            clear_after: 6,
        }
    }
}

impl PxebootMonitorConfig {
    pub(crate) fn validate(&self) -> Result<(), crate::config::ConfigError> {
        let bad = |key, reason: &str| {
            Err(crate::config::ConfigError::Invalid {
                key,
                reason: reason.into(),
            })
        };
        if self.check_period.0 < Duration::from_secs(1) {
            return bad("pxeboot.check_period", "must be at least 1 second");
        }
        for (key, v) in [
            ("pxeboot.miss_threshold", self.miss_threshold),
            ("pxeboot.loss_threshold", self.loss_threshold),
            ("pxeboot.clear_after", self.clear_after),
        ] {
            if !(1..=1_000).contains(&v) {
                return bad(key, "must be 1..=1000");
            }
        }
        Ok(())
    }

    /// The shortest outage that can raise the alarm: this many checks without a pxeboot report
    /// (the first of them may come just after the last report).
    pub fn checks_to_raise(&self) -> u32 {
        self.miss_threshold.saturating_mul(self.loss_threshold)
    }
}

/// What a check decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PxebootVerdict {
    /// Raise 200.003: pxeboot reports stopped while the host kept reporting elsewhere.
    Raise,
    /// Clear 200.003: pxeboot reports came back and stayed.
    Clear,
}

/// The pxeboot alive monitor of one host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PxebootMonitor {
    /// Report counts (pxeboot, other networks) at the previous check.
    seen_pxeboot: u64,
    seen_other: u64,
    misses: u32,
    losses: u32,
    /// Checks in a row with pxeboot reports while alarmed.
    good: u32,
    alarmed: bool,
    next_check: Instant,
}

impl PxebootMonitor {
    /// Start monitoring with the counts as they are now; the first check is one period on.
    /// `alarmed`: the alarm is already raised (restored after a controller restart), so good
    /// checks are to clear it.
    pub fn new(
        now: Instant,
        pxeboot: u64,
        other: u64,
        alarmed: bool,
        cfg: &PxebootMonitorConfig,
    ) -> Self {
        PxebootMonitor {
            seen_pxeboot: pxeboot,
            seen_other: other,
            misses: 0,
            losses: 0,
            good: 0,
            alarmed,
            next_check: now + cfg.check_period.0,
        }
    }

    pub fn next_check(&self) -> Instant {
        self.next_check
    }

    /// The monitor holds the alarm raised.
    pub fn alarmed(&self) -> bool {
        self.alarmed
    }

    /// Run the check if it is due; `pxeboot` and `other` are the host's report counts so far.
    pub fn check(
        &mut self,
        now: Instant,
        pxeboot: u64,
        other: u64,
        cfg: &PxebootMonitorConfig,
    ) -> Option<PxebootVerdict> {
        if now < self.next_check {
            return None;
        }
        self.next_check = now + cfg.check_period.0;
        let advanced = pxeboot != self.seen_pxeboot;
        let elsewhere = other != self.seen_other;
        self.seen_pxeboot = pxeboot;
        self.seen_other = other;
        if advanced {
            self.misses = self.misses.saturating_sub(1);
            if !self.alarmed {
                if self.misses == 0 {
                    self.losses = 0;
                }
                return None;
            }
            self.good += 1;
            if self.good >= cfg.clear_after {
                *self = PxebootMonitor {
                    alarmed: false,
                    misses: 0,
                    losses: 0,
                    good: 0,
                    ..*self
                };
                return Some(PxebootVerdict::Clear);
            }
            return None;
        }
        if !elsewhere {
            // Silent everywhere: down or rebooting, not a pxeboot fault.
            return None;
        }
        self.good = 0;
        self.misses += 1;
        if self.misses < cfg.miss_threshold {
            return None;
        }
        self.misses = 0;
        self.losses = self.losses.saturating_add(1);
        if self.losses >= cfg.loss_threshold && !self.alarmed {
            self.alarmed = true;
            return Some(PxebootVerdict::Raise);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(s)
    }

    /// Runs checks every period from `start`; `pxeboot(i)` says whether check i saw a pxeboot
    /// report, every check sees one elsewhere. Returns each verdict with its check index.
    fn run(
        m: &mut PxebootMonitor,
        counts: &mut (u64, u64),
        from: u64,
        checks: u64,
        pxeboot: impl Fn(u64) -> bool,
    ) -> Vec<(u64, PxebootVerdict)> {
        let cfg = PxebootMonitorConfig::default();
        let mut out = Vec::new();
        for i in from..from + checks {
            counts.1 += 1;
            if pxeboot(i) {
                counts.0 += 1;
            }
            if let Some(v) = m.check(at(10 * (i + 1)), counts.0, counts.1, &cfg) {
                out.push((i, v));
            }
        }
        out
    }

    #[test]
    fn raises_after_two_losses_and_clears_after_six_good_checks() {
        let cfg = PxebootMonitorConfig::default();
        let mut m = PxebootMonitor::new(at(0), 0, 0, false, &cfg);
        let mut c = (0, 0);
        assert!(run(&mut m, &mut c, 0, 10, |_| true).is_empty());
        // Silent on pxeboot: 3 misses = 1 loss, 6 misses = 2 losses = alarm, at the 6th check.
        let v = run(&mut m, &mut c, 10, 10, |_| false);
        assert_eq!(v, vec![(15, PxebootVerdict::Raise)]);
        assert!(m.alarmed());
        // Back: five good checks are not enough, the sixth clears.
        let v = run(&mut m, &mut c, 20, 6, |_| true);
        assert_eq!(v, vec![(25, PxebootVerdict::Clear)]);
        assert!(!m.alarmed());
    }

    #[test]
    fn a_bad_check_while_alarmed_starts_the_clearing_over() {
        let cfg = PxebootMonitorConfig::default();
        let mut m = PxebootMonitor::new(at(0), 0, 0, false, &cfg);
        let mut c = (0, 0);
        assert_eq!(run(&mut m, &mut c, 0, 6, |_| false).len(), 1);
        // Five good, one bad, then six good: cleared only at the end.
        let v = run(&mut m, &mut c, 6, 12, |i| i != 11);
        assert_eq!(v, vec![(17, PxebootVerdict::Clear)]);
    }

    #[test]
    fn short_gaps_do_not_add_up_to_an_alarm() {
        let cfg = PxebootMonitorConfig::default();
        let mut m = PxebootMonitor::new(at(0), 0, 0, false, &cfg);
        let mut c = (0, 0);
        // A loss (3 misses), then reports again long enough to forgive it, then another loss.
        let v = run(&mut m, &mut c, 0, 20, |i| !(i < 3 || (10..13).contains(&i)));
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn a_host_silent_everywhere_is_not_a_pxeboot_failure() {
        let cfg = PxebootMonitorConfig::default();
        let mut m = PxebootMonitor::new(at(0), 5, 5, false, &cfg);
        for i in 1..100 {
            assert_eq!(m.check(at(10 * i), 5, 5, &cfg), None);
        }
        assert!(!m.alarmed());
    }

    #[test]
    fn a_restored_alarm_clears_after_good_checks() {
        let cfg = PxebootMonitorConfig::default();
        let mut m = PxebootMonitor::new(at(0), 0, 0, true, &cfg);
        let mut c = (0, 0);
        assert_eq!(
            run(&mut m, &mut c, 0, 6, |_| true),
            vec![(5, PxebootVerdict::Clear)]
        );
    }

    #[test]
    fn checks_only_when_due() {
        let cfg = PxebootMonitorConfig::default();
        let mut m = PxebootMonitor::new(at(0), 0, 0, false, &cfg);
        assert_eq!(m.next_check(), at(10));
        for s in 0..10 {
            assert_eq!(m.check(at(s), 0, s + 1, &cfg), None);
        }
        assert_eq!(m.next_check(), at(10));
        m.check(at(10), 0, 20, &cfg);
        assert_eq!(m.next_check(), at(20));
    }
}
