//! # steward-leadership — when the active controller may act, sans-IO
//!
//! Two controllers share one cluster; the holder of an etcd lease is the active one. The lease server
//! (etcd) lets the lease expire `ttl` after the last keepalive it *received*, and only then can the
//! standby take the lease and start acting. The active must therefore stop acting — no node command,
//! no BMC action, no store write — before that moment, judged on its own monotonic clock, without
//! asking anyone. [`LeaseClock`] keeps that rule:
//!
//! ```text
//! acting deadline = send time of the last acknowledged keepalive + ttl − margin
//! ```
//!
//! * **Send time, not ack time.** The server renewed the lease when the keepalive *arrived*, somewhere
//!   between our send and the ack's arrival. The send time is the earliest that can have been, so a
//!   deadline counted from it can never be later than the server's expiry; counted from the ack, a slow
//!   ack would push our deadline past it.
//! * **An older ack never moves the deadline back** (nor forward past a newer one): acks that arrive out
//!   of order only ever raise the deadline to the newest send time acknowledged so far.
//! * **The margin** covers what the two monotonic clocks (ours and the lease server's) may disagree
//!   about the *length* of `ttl` — a rate error of up to [`RATE_ERROR_BOUND_PPM`] on each, see
//!   [`rate_allowance`] — plus the time the last effect decided before the deadline takes to reach its
//!   target. Clock *offsets* (skew) do not matter: only durations on one clock are compared.
//!
//! Defaults (docs/controller-pair.md): `ttl` 6 s, `margin` 1 s, a keepalive every 2 s (`ttl / 3`),
//! each clock within ±2 % of real time — the rate allowance is 236 ms of the 1 s margin, the rest
//! (764 ms) is left for the effect in flight.
//!
//! What this clock cannot cover is a process stopped *between* its `may_act(now)` check and its send:
//! a pause can be longer than any margin. Those writes are fenced by the store (every write of the
//! active carries its lease), and BMC actions check the lease again before they are sent.
//!
//! Time is the core's [`Instant`], handed in by the driver like every `now` of the core.

use std::collections::VecDeque;
use std::time::Duration;
use steward_maintenance::Instant;

/// The lease TTL asked of the server by default.
pub const DEFAULT_TTL: Duration = Duration::from_secs(6);
/// How long before its lease can expire the active stops acting, by default.
pub const DEFAULT_MARGIN: Duration = Duration::from_secs(1);
/// The rate error each monotonic clock (the controller's and the lease server's) may have, in parts per
/// million of real time, that the margin is sized for: 2 %. Monotonic clocks disciplined by NTP are
/// slewed by at most 500 ppm; the rest is headroom for virtual machines and clocks nobody disciplines.
pub const RATE_ERROR_BOUND_PPM: u64 = 20_000;

/// Keepalives outstanding (sent, not yet acknowledged) that are remembered. An ack of one forgotten is
/// ignored, which only ever makes the deadline earlier.
const MAX_OUTSTANDING: usize = 64;

/// Names one keepalive, so its ack can be matched with its send time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeepaliveId(u64);

impl KeepaliveId {
    pub const fn get(self) -> u64 {
        self.0
    }
}

/// A TTL and margin that cannot keep the rule.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LeaseClockError {
    #[error("lease margin {margin:?} must be shorter than the lease ttl {ttl:?}")]
    MarginNotBelowTtl { ttl: Duration, margin: Duration },
    #[error(
        "lease margin {margin:?} does not cover the clocks' rate error over a {ttl:?} ttl \
         (needs more than {needed:?})"
    )]
    MarginBelowRateAllowance {
        ttl: Duration,
        margin: Duration,
        needed: Duration,
    },
}

/// What an ack did to the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckOutcome {
    /// The keepalive was newer than any acknowledged before: the deadline moved on.
    Extended,
    /// A keepalive older than one already acknowledged: nothing changed.
    Stale,
    /// No keepalive of the current lease has this id (forgotten, of an earlier lease, or no lease is
    /// held): nothing changed.
    Unknown,
}

/// How much a `ttl` measured on two clocks, each off by up to [`RATE_ERROR_BOUND_PPM`], can disagree:
/// the active's clock running slow and the server's fast, the active's `ttl − margin` lasts
/// `(ttl − margin) / (1 − ρ)` of real time while the server's `ttl` lasts `ttl / (1 + ρ)`. The first is
/// shorter whenever `margin > ttl · 2ρ / (1 + ρ)`; this returns that bound, rounded up to the
/// millisecond.
pub fn rate_allowance(ttl: Duration) -> Duration {
    let rho = u128::from(RATE_ERROR_BOUND_PPM);
    let ttl_us = ttl.as_micros();
    let needed_us = (ttl_us * 2 * rho).div_ceil(1_000_000 + rho);
    Duration::from_millis(u64::try_from(needed_us.div_ceil(1_000)).unwrap_or(u64::MAX))
}

/// The active controller's view of its lease, kept on its own monotonic clock.
#[derive(Clone, Debug)]
pub struct LeaseClock {
    ttl: Duration,
    margin: Duration,
    next_id: u64,
    /// Id of the first keepalive of the current lease; acks of older ones are not this lease's.
    lease_first_id: u64,
    /// Sent, not yet acknowledged, oldest first.
    outstanding: VecDeque<(KeepaliveId, Instant)>,
    /// Send time of the newest acknowledged keepalive (or of the grant request), while a lease is held.
    anchor: Option<Instant>,
    last_sent: Option<Instant>,
}

impl LeaseClock {
    /// A clock holding no lease. `margin` must be below `ttl` and above [`rate_allowance`]`(ttl)`.
    pub fn new(ttl: Duration, margin: Duration) -> Result<Self, LeaseClockError> {
        if margin >= ttl {
            return Err(LeaseClockError::MarginNotBelowTtl { ttl, margin });
        }
        let needed = rate_allowance(ttl);
        if margin <= needed {
            return Err(LeaseClockError::MarginBelowRateAllowance {
                ttl,
                margin,
                needed,
            });
        }
        Ok(LeaseClock {
            ttl,
            margin,
            next_id: 0,
            lease_first_id: 0,
            outstanding: VecDeque::new(),
            anchor: None,
            last_sent: None,
        })
    }

    /// [`DEFAULT_TTL`] and [`DEFAULT_MARGIN`].
    pub fn with_defaults() -> Self {
        match LeaseClock::new(DEFAULT_TTL, DEFAULT_MARGIN) {
            Ok(clock) => clock,
            Err(e) => unreachable!("the defaults keep the rule: {e}"),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn margin(&self) -> Duration {
        self.margin
    }

    /// How often to send a keepalive: a third of the TTL, so two may be lost before the deadline.
    pub fn keepalive_period(&self) -> Duration {
        self.ttl / 3
    }

    /// When the next keepalive is due: a period after the last one sent (or now, if none was sent).
    pub fn next_keepalive_at(&self, now: Instant) -> Instant {
        match self.last_sent {
            Some(sent) => sent + self.keepalive_period(),
            None => now,
        }
    }

    /// The lease was granted (or the key taken) by a request sent at `sent_at`. A new lease: keepalives
    /// of any earlier one no longer count.
    pub fn lease_granted(&mut self, sent_at: Instant) {
        self.outstanding.clear();
        self.lease_first_id = self.next_id;
        self.anchor = Some(sent_at);
    }

    /// A keepalive is being sent now; its id matches the ack.
    pub fn keepalive_sent(&mut self, now: Instant) -> KeepaliveId {
        let id = KeepaliveId(self.next_id);
        self.next_id += 1;
        if self.outstanding.len() == MAX_OUTSTANDING {
            self.outstanding.pop_front();
        }
        self.outstanding.push_back((id, now));
        self.last_sent = Some(now);
        id
    }

    /// The server acknowledged keepalive `id` (it renewed the lease). The deadline moves to that
    /// keepalive's send time + ttl − margin if that is later than it was.
    pub fn keepalive_acked(&mut self, id: KeepaliveId) -> AckOutcome {
        let Some(anchor) = self.anchor else {
            return AckOutcome::Unknown;
        };
        if id.0 < self.lease_first_id {
            return AckOutcome::Unknown;
        }
        let Some(pos) = self.outstanding.iter().position(|(k, _)| *k == id) else {
            return AckOutcome::Unknown;
        };
        let sent = self.outstanding[pos].1;
        // Older keepalives can only be acknowledged with older send times: forget them with this one.
        self.outstanding.drain(..=pos);
        if sent > anchor {
            self.anchor = Some(sent);
            AckOutcome::Extended
        } else {
            AckOutcome::Stale
        }
    }

    /// The lease is gone: the server said so, it was released for a swact, or the caller gave up on it.
    /// Nothing is acted on until a new [`lease_granted`](Self::lease_granted).
    pub fn lost(&mut self) {
        self.anchor = None;
        self.outstanding.clear();
    }

    /// Whether a lease is held at all (its deadline may still have passed).
    pub fn holds_lease(&self) -> bool {
        self.anchor.is_some()
    }

    /// The instant, on this controller's clock, from which it must not act: the send time of the last
    /// acknowledged keepalive + ttl − margin. `None` while no lease is held.
    pub fn acting_deadline(&self) -> Option<Instant> {
        self.anchor.map(|a| a + (self.ttl - self.margin))
    }

    /// Whether this controller may act at `now`: it holds a lease and its deadline has not come.
    pub fn may_act(&self, now: Instant) -> bool {
        self.acting_deadline().is_some_and(|d| now < d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn clock() -> LeaseClock {
        LeaseClock::with_defaults()
    }

    #[test]
    fn no_lease_no_acting() {
        let c = clock();
        assert_eq!(c.acting_deadline(), None);
        assert!(!c.may_act(at(0)));
    }

    #[test]
    fn grant_gives_ttl_minus_margin_from_the_request() {
        let mut c = clock();
        c.lease_granted(at(1_000));
        assert_eq!(c.acting_deadline(), Some(at(6_000)));
        assert!(c.may_act(at(5_999)));
        assert!(!c.may_act(at(6_000)));
    }

    #[test]
    fn deadline_counts_from_the_send_not_the_ack() {
        let mut c = clock();
        c.lease_granted(at(0));
        let k = c.keepalive_sent(at(2_000));
        // The ack arrives 3 s later; only the send time counts.
        assert_eq!(c.keepalive_acked(k), AckOutcome::Extended);
        assert_eq!(c.acting_deadline(), Some(at(7_000)));
    }

    #[test]
    fn an_older_ack_never_moves_the_deadline_back() {
        let mut c = clock();
        c.lease_granted(at(0));
        let old = c.keepalive_sent(at(2_000));
        let new = c.keepalive_sent(at(4_000));
        assert_eq!(c.keepalive_acked(new), AckOutcome::Extended);
        assert_eq!(c.keepalive_acked(old), AckOutcome::Unknown);
        assert_eq!(c.acting_deadline(), Some(at(9_000)));
    }

    #[test]
    fn an_unacknowledged_keepalive_does_not_extend() {
        let mut c = clock();
        c.lease_granted(at(0));
        c.keepalive_sent(at(2_000));
        c.keepalive_sent(at(4_000));
        assert_eq!(c.acting_deadline(), Some(at(5_000)));
        assert!(!c.may_act(at(5_000)));
    }

    #[test]
    fn a_paused_process_notices_on_resume() {
        let mut c = clock();
        c.lease_granted(at(0));
        let k = c.keepalive_sent(at(2_000));
        c.keepalive_acked(k);
        // Stopped for 20 s, then resumed: the first question it asks is answered no.
        assert!(!c.may_act(at(22_000)));
    }

    #[test]
    fn lost_stops_acting_and_ignores_late_acks() {
        let mut c = clock();
        c.lease_granted(at(0));
        let k = c.keepalive_sent(at(1_000));
        c.lost();
        assert!(!c.may_act(at(1_500)));
        assert_eq!(c.keepalive_acked(k), AckOutcome::Unknown);
        assert!(!c.holds_lease());
    }

    #[test]
    fn keepalives_of_an_earlier_lease_do_not_count_for_a_new_one() {
        let mut c = clock();
        c.lease_granted(at(0));
        let k = c.keepalive_sent(at(1_000));
        c.lease_granted(at(500));
        assert_eq!(c.keepalive_acked(k), AckOutcome::Unknown);
        assert_eq!(c.acting_deadline(), Some(at(5_500)));
    }

    #[test]
    fn only_the_newest_outstanding_keepalives_are_remembered() {
        let mut c = clock();
        c.lease_granted(at(0));
        let first = c.keepalive_sent(at(1));
        for i in 0..MAX_OUTSTANDING as u64 {
            c.keepalive_sent(at(2 + i));
        }
        assert_eq!(c.keepalive_acked(first), AckOutcome::Unknown);
        assert_eq!(c.acting_deadline(), Some(at(5_000)));
    }

    #[test]
    fn keepalive_schedule_is_a_third_of_the_ttl() {
        let mut c = clock();
        assert_eq!(c.next_keepalive_at(at(7)), at(7));
        c.keepalive_sent(at(100));
        assert_eq!(c.next_keepalive_at(at(150)), at(2_100));
    }

    #[test]
    fn the_defaults_leave_room_for_the_effect_in_flight() {
        assert_eq!(rate_allowance(DEFAULT_TTL), Duration::from_millis(236));
        assert!(DEFAULT_MARGIN > rate_allowance(DEFAULT_TTL));
    }

    #[test]
    fn margins_that_cannot_keep_the_rule_are_refused() {
        assert!(matches!(
            LeaseClock::new(Duration::from_secs(6), Duration::from_secs(6)),
            Err(LeaseClockError::MarginNotBelowTtl { .. })
        ));
        assert!(matches!(
            LeaseClock::new(Duration::from_secs(6), Duration::from_millis(200)),
            Err(LeaseClockError::MarginBelowRateAllowance { .. })
        ));
        assert!(LeaseClock::new(Duration::from_secs(10), Duration::from_millis(500)).is_ok());
    }
}
