//! Heartbeat at pulse level: the real sans-IO [`steward_heartbeat::Monitor`] driven over the
//! simulated network.
//!
//! The event-level model ([`crate::heartbeat`]) is cheap but cannot show that random pulse loss, delay,
//! duplication or a late controller loop never accuses a healthy host. In pulse mode
//! ([`crate::WorldConfig::pulses`], `Scenario::pulse_heartbeat`, `steward-sim --pulses`) the world
//! drives the Monitor the way the UDP service (`steward-heartbeat-udp`) does:
//!
//! - the Monitor's `next_tick()` is one of the world's deadlines; at a tick every reply already received
//!   has been handed in (`on_reply`), then `on_tick(now)` closes the round and opens the next;
//! - every pulse of the new round crosses the host's link on that network (loss, delay, duplication,
//!   cut), a running node (`Phase::Up`) answers each pulse it receives, and the answer crosses the link
//!   back;
//! - `HeartbeatEvent`s go to the core at the tick that raised them, and the core's `HeartbeatControl`
//!   effects drive the Monitor: `Start` (every network the host has), `Stop`, `Backoff` (period ×
//!   [`PulseConfig::backoff_factor`]) and `Recover` (base period).
//!
//! A controller stall ([`crate::Fault::ControllerStall`]) freezes the controller's loop for a while: no
//! ticks, no replies handed in, no core events or timers; when it resumes, everything queued is handled
//! in arrival order, then the Monitor ticks (its lateness guard voids the round the stall spanned), then
//! the core's overdue timers run.

use std::time::Duration;
use steward_heartbeat::{HeartbeatConfig, Monitor};
use steward_maintenance::state::Network;
use steward_maintenance::{HeartbeatEvent, Instant};

/// Pulse-level heartbeat settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulseConfig {
    /// Period, thresholds and lateness tolerance of the Monitor (defaults: 100 ms, 4/6/10, 10 to clear,
    /// 50 ms). Not scaled with the core's timers: the heartbeat runs at real speed.
    pub heartbeat: HeartbeatConfig,
    /// MNFA backoff multiplies the period by this (default 4, docs/heartbeat.md#mnfa-backoff).
    pub backoff_factor: u32,
}

impl PulseConfig {
    /// As the controller runs it: the `[heartbeat]` table and the policy of `cfg`.
    pub fn from_config(cfg: &steward_maintenance::Config) -> PulseConfig {
        PulseConfig {
            heartbeat: HeartbeatConfig::from_config(cfg),
            backoff_factor: cfg.heartbeat.mnfa_backoff_factor,
        }
    }
}

impl Default for PulseConfig {
    fn default() -> Self {
        PulseConfig {
            heartbeat: HeartbeatConfig::default(),
            backoff_factor: 4,
        }
    }
}

/// One heartbeat event the Monitor raised, with the round that raised it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HbRecord {
    pub at: Instant,
    pub host: String,
    pub network: Network,
    pub event: HeartbeatEvent,
    /// The round (pulse sequence number) whose close raised the event.
    pub round: u64,
    /// The last round whose answer from this host on this network counted, or the round open when
    /// monitoring (re)started (the Monitor judges a host from the next round on).
    pub last_answered: u64,
}

impl HbRecord {
    /// Rounds judged without an answer, from the one after `last_answered` to the one that raised
    /// this (for a clear: 0).
    pub fn missed_rounds(&self) -> u64 {
        self.round.saturating_sub(self.last_answered)
    }
}

/// Counters of the pulse-level heartbeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PulseStats {
    pub ticks: u64,
    pub pulses_sent: u64,
    /// Answers handed to the Monitor while their round was open.
    pub replies: u64,
    /// Answers that came after their round closed, or from a host no longer monitored.
    pub stale_replies: u64,
    /// Rounds not counted because the controller ran late (the Monitor's lateness guard).
    pub void_rounds: u64,
    pub events: u64,
}

/// The Monitor and what the world keeps around it.
pub struct PulseHeartbeat {
    pub cfg: PulseConfig,
    pub monitor: Monitor,
    pub backoff: bool,
    /// Per host (world index) and network: the last round whose answer counted.
    pub last_answered: Vec<[u64; 2]>,
    /// Every event the Monitor raised, in order.
    pub log: Vec<HbRecord>,
    pub stats: PulseStats,
}

impl PulseHeartbeat {
    pub fn new(cfg: PulseConfig, hosts: usize, now: Instant) -> PulseHeartbeat {
        cfg.heartbeat
            .validate()
            .unwrap_or_else(|e| panic!("pulse heartbeat configuration: {e}"));
        assert!(cfg.backoff_factor >= 1, "backoff_factor must be at least 1");
        PulseHeartbeat {
            monitor: Monitor::new(cfg.heartbeat.clone(), now),
            cfg,
            backoff: false,
            last_answered: vec![[0; 2]; hosts],
            log: Vec::new(),
            stats: PulseStats::default(),
        }
    }

    /// MNFA backoff on or off: the period follows.
    pub fn set_backoff(&mut self, on: bool) {
        self.backoff = on;
        let base = self.cfg.heartbeat.period;
        let period = if on {
            base * self.cfg.backoff_factor
        } else {
            base
        };
        self.monitor.set_period(period);
    }

    /// The current pulse period.
    pub fn period(&self) -> Duration {
        self.monitor.period()
    }

    /// Events of one kind, optionally for one host.
    pub fn events(
        &self,
        event: HeartbeatEvent,
        host: Option<&str>,
    ) -> impl Iterator<Item = &HbRecord> {
        let host = host.map(str::to_string);
        self.log.iter().filter(move |r| {
            r.event == event
                && match &host {
                    None => true,
                    Some(h) => *h == r.host,
                }
        })
    }
}
