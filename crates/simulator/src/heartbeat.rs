//! Heartbeat accounting at event level.
//!
//! The real heartbeat service pulses every 100 ms and counts misses: minor at 4 (management only),
//! degrade at 6, loss at 10, and clears after 10 good pulses. Simulating every pulse of 1,000 hosts would
//! dominate the run, so this model works on *reachability changes* instead: when a monitored host becomes
//! unreachable on a network at `t`, it schedules minor at `t+400ms`, degrade at `t+600ms` and loss at
//! `t+1000ms`; when it is reachable again, the events that were raised clear after one second of good
//! pulses. Every change bumps a generation number so that stale timers are ignored.

use std::time::Duration;
use steward_maintenance::{HeartbeatEvent, Instant};

pub const MINOR_AFTER: Duration = Duration::from_millis(400);
pub const DEGRADE_AFTER: Duration = Duration::from_millis(600);
pub const LOSS_AFTER: Duration = Duration::from_millis(1000);
pub const CLEAR_AFTER: Duration = Duration::from_millis(1000);

/// A step of the miss ladder, or the clear after good pulses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HbStep {
    Minor,
    Degrade,
    Loss,
    Clear,
}

/// A timer the driver must schedule: call [`HbLink::fire`] with `step` and `gen` after `after`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HbTimer {
    pub after: Duration,
    pub step: HbStep,
    pub gen: u64,
}

/// Heartbeat accounting of one host on one network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HbLink {
    pub monitored: bool,
    pub reachable: bool,
    pub minor: bool,
    pub degrade: bool,
    pub lost: bool,
    pub gen: u64,
    /// Minor is only raised on the management network.
    pub mgmt: bool,
    /// Model variant: what was raised survives a stop, and a later start of a reachable host clears it
    /// after one second of good pulses (instead of starting from a silent clean slate).
    pub clear_after_restart: bool,
    /// The generation a stop ended and when: the real Monitor closes a round for every host and
    /// network before the core reacts to any of its events, so a step due at the very instant of
    /// the stop (the other network's ladder of a host that went down on both at once) still fires.
    pub stopped: Option<(u64, Instant)>,
}

impl HbLink {
    pub fn new(mgmt: bool, reachable: bool) -> HbLink {
        HbLink {
            mgmt,
            reachable,
            ..HbLink::default()
        }
    }

    fn ladder(&self) -> Vec<HbTimer> {
        let gen = self.gen;
        let mut v = Vec::with_capacity(3);
        if self.mgmt {
            v.push(HbTimer {
                after: MINOR_AFTER,
                step: HbStep::Minor,
                gen,
            });
        }
        v.push(HbTimer {
            after: DEGRADE_AFTER,
            step: HbStep::Degrade,
            gen,
        });
        v.push(HbTimer {
            after: LOSS_AFTER,
            step: HbStep::Loss,
            gen,
        });
        v
    }

    fn raised(&self) -> bool {
        self.minor || self.degrade || self.lost
    }

    /// Monitoring starts: counting begins from a clean slate.
    pub fn start(&mut self) -> Vec<HbTimer> {
        self.monitored = true;
        self.gen += 1;
        if self.clear_after_restart && self.raised() {
            return if self.reachable {
                vec![HbTimer {
                    after: CLEAR_AFTER,
                    step: HbStep::Clear,
                    gen: self.gen,
                }]
            } else {
                self.ladder()
            };
        }
        self.minor = false;
        self.degrade = false;
        self.lost = false;
        if self.reachable {
            Vec::new()
        } else {
            self.ladder()
        }
    }

    /// Monitoring stops: no more events, and counting state is forgotten (as the real service does).
    pub fn stop(&mut self) {
        self.stopped = None;
        self.monitored = false;
        self.gen += 1;
        if self.clear_after_restart {
            return;
        }
        self.minor = false;
        self.degrade = false;
        self.lost = false;
    }

    /// The host became reachable or unreachable on this network.
    pub fn set_reachable(&mut self, reachable: bool) -> Vec<HbTimer> {
        if reachable == self.reachable {
            return Vec::new();
        }
        self.reachable = reachable;
        self.gen += 1;
        if !self.monitored {
            return Vec::new();
        }
        if !reachable {
            self.ladder()
        } else if self.raised() {
            vec![HbTimer {
                after: CLEAR_AFTER,
                step: HbStep::Clear,
                gen: self.gen,
            }]
        } else {
            Vec::new()
        }
    }

    /// Monitoring stops at `now`; steps of the old generation due at `now` still fire.
    pub fn stop_at(&mut self, now: Instant) {
        let was = (self.monitored, self.gen);
        self.stop();
        if was.0 {
            self.stopped = Some((was.1, now));
        }
    }

    /// A timer came due: the events to hand to the core (empty if the timer is stale).
    pub fn fire(&mut self, step: HbStep, gen: u64) -> Vec<HeartbeatEvent> {
        if gen != self.gen || !self.monitored {
            return Vec::new();
        }
        self.fire_step(step)
    }

    /// [`HbLink::fire`] at `now`, honouring a stop at this very instant (see [`HbLink::stopped`]).
    pub fn fire_at(&mut self, step: HbStep, gen: u64, now: Instant) -> Vec<HeartbeatEvent> {
        if self.stopped == Some((gen, now)) && step != HbStep::Clear {
            return self.fire_step(step);
        }
        self.fire(step, gen)
    }

    fn fire_step(&mut self, step: HbStep) -> Vec<HeartbeatEvent> {
        let mut out = Vec::new();
        match step {
            HbStep::Minor if !self.minor && !self.reachable => {
                self.minor = true;
                out.push(HeartbeatEvent::MinorSet);
            }
            HbStep::Degrade if !self.degrade && !self.reachable => {
                self.degrade = true;
                out.push(HeartbeatEvent::DegradeSet);
            }
            HbStep::Loss if !self.lost && !self.reachable => {
                self.lost = true;
                out.push(HeartbeatEvent::Loss);
            }
            HbStep::Clear if self.reachable => {
                if self.lost {
                    out.push(HeartbeatEvent::LossClear);
                }
                if self.degrade {
                    out.push(HeartbeatEvent::DegradeClear);
                }
                if self.minor {
                    out.push(HeartbeatEvent::MinorClear);
                }
                self.minor = false;
                self.degrade = false;
                self.lost = false;
            }
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HeartbeatEvent::*;

    fn fire_all(l: &mut HbLink, timers: &[HbTimer]) -> Vec<HeartbeatEvent> {
        timers.iter().flat_map(|t| l.fire(t.step, t.gen)).collect()
    }

    #[test]
    fn loss_ladder_then_clear_on_mgmt() {
        let mut l = HbLink::new(true, true);
        assert!(l.start().is_empty());
        let t = l.set_reachable(false);
        assert_eq!(
            t.iter().map(|t| t.after.as_millis()).collect::<Vec<_>>(),
            vec![400, 600, 1000]
        );
        assert_eq!(fire_all(&mut l, &t), vec![MinorSet, DegradeSet, Loss]);
        let t = l.set_reachable(true);
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].after, CLEAR_AFTER);
        assert_eq!(
            fire_all(&mut l, &t),
            vec![LossClear, DegradeClear, MinorClear]
        );
        assert!(!l.minor && !l.degrade && !l.lost);
    }

    #[test]
    fn cluster_has_no_minor_and_short_blips_are_cancelled() {
        let mut l = HbLink::new(false, true);
        l.start();
        let t = l.set_reachable(false);
        assert_eq!(t.len(), 2);
        // Back before any step fired: the ladder is stale.
        let back = l.set_reachable(true);
        assert!(back.is_empty(), "nothing raised, nothing to clear");
        assert!(fire_all(&mut l, &t).is_empty());
    }

    #[test]
    fn partial_ladder_clears_only_what_was_raised() {
        let mut l = HbLink::new(true, true);
        l.start();
        let t = l.set_reachable(false);
        assert_eq!(l.fire(t[0].step, t[0].gen), vec![MinorSet]);
        let c = l.set_reachable(true);
        assert!(
            fire_all(&mut l, &t).is_empty(),
            "degrade/loss timers are stale"
        );
        assert_eq!(fire_all(&mut l, &c), vec![MinorClear]);
    }

    #[test]
    fn unmonitored_host_produces_nothing_and_start_on_dead_host_runs_ladder() {
        let mut l = HbLink::new(true, true);
        assert!(l.set_reachable(false).is_empty());
        let t = l.start();
        assert_eq!(fire_all(&mut l, &t), vec![MinorSet, DegradeSet, Loss]);
        l.stop();
        assert!(l.set_reachable(true).is_empty());
        assert!(!l.lost);
    }

    #[test]
    fn clear_after_restart_variant_reports_recovery_of_what_was_raised() {
        let mut l = HbLink {
            clear_after_restart: true,
            ..HbLink::new(true, true)
        };
        l.start();
        let t = l.set_reachable(false);
        fire_all(&mut l, &t);
        l.stop();
        assert!(
            l.set_reachable(true).is_empty(),
            "not monitored: nothing scheduled"
        );
        let c = l.start();
        assert_eq!(
            fire_all(&mut l, &c),
            vec![LossClear, DegradeClear, MinorClear]
        );
    }

    #[test]
    fn flapping_back_down_before_clear_keeps_raised_state() {
        let mut l = HbLink::new(true, true);
        l.start();
        let t = l.set_reachable(false);
        fire_all(&mut l, &t);
        let c = l.set_reachable(true);
        let t2 = l.set_reachable(false);
        assert!(
            fire_all(&mut l, &c).is_empty(),
            "clear cancelled by the new outage"
        );
        assert!(
            fire_all(&mut l, &t2).is_empty(),
            "already raised: no duplicate events"
        );
        assert!(l.lost);
    }
}
