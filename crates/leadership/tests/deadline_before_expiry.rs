//! The rule, checked against a lease server with its own clock: for any sequence of keepalives (lost,
//! delayed, acknowledged out of order) and any rate error of the two clocks within
//! `RATE_ERROR_BOUND_PPM`, the active's acting deadline falls, in real time, before the moment the
//! server expires the lease — with at least `margin − rate_allowance(ttl)` to spare for the effect in
//! flight.
//!
//! Ground truth is real time in microseconds. The active reads its clock in whole milliseconds (the
//! core's `Instant`); the server keeps its lease on its own clock.

use proptest::prelude::*;
use std::time::Duration;
use steward_leadership::{rate_allowance, LeaseClock, RATE_ERROR_BOUND_PPM};
use steward_maintenance::Instant;

/// A clock running at `1 + ppm / 10⁶` of real time from `offset_us`.
#[derive(Clone, Copy, Debug)]
struct Clock {
    offset_us: i128,
    ppm: i128,
}

impl Clock {
    fn read_us(self, real_us: i128) -> i128 {
        self.offset_us + real_us * (1_000_000 + self.ppm) / 1_000_000
    }

    fn read(self, real_us: i128) -> Instant {
        Instant::from_millis(u64::try_from(self.read_us(real_us) / 1_000).unwrap())
    }

    /// The first real instant at which this clock shows at least `at_us`.
    fn real_when(self, at_us: i128) -> i128 {
        let d = (at_us - self.offset_us) * 1_000_000;
        let rate = 1_000_000 + self.ppm;
        (d + rate - 1).div_euclid(rate)
    }
}

#[derive(Clone, Debug)]
struct Keepalive {
    /// Real time since the previous send.
    gap_ms: u64,
    /// Delay to the server, or lost.
    to_server_ms: Option<u64>,
    /// Delay of the ack back, or lost.
    ack_ms: Option<u64>,
}

fn keepalive() -> impl Strategy<Value = Keepalive> {
    (
        0u64..4_000,
        prop::option::weighted(0.8, 0u64..4_000),
        prop::option::weighted(0.8, 0u64..4_000),
    )
        .prop_map(|(gap_ms, to_server_ms, ack_ms)| Keepalive {
            gap_ms,
            to_server_ms,
            ack_ms,
        })
}

fn rate() -> impl Strategy<Value = i128> {
    let bound = i128::from(RATE_ERROR_BOUND_PPM);
    prop_oneof![Just(-bound), Just(bound), -bound..=bound]
}

enum Step {
    Send(usize),
    Ack(usize),
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_active_stops_before_the_server_expires_its_lease(
        ttl_ms in 1_500u64..20_000,
        extra_margin_ms in 1u64..2_000,
        active_ppm in rate(),
        server_ppm in rate(),
        active_offset_ms in 0i128..1_000_000,
        server_offset_ms in 0i128..1_000_000,
        grant_delay_ms in 0u64..2_000,
        keepalives in prop::collection::vec(keepalive(), 0..40),
    ) {
        let ttl = Duration::from_millis(ttl_ms);
        let margin = rate_allowance(ttl) + Duration::from_millis(extra_margin_ms);
        prop_assume!(margin < ttl);
        let mut lease = LeaseClock::new(ttl, margin).unwrap();
        let active = Clock { offset_us: active_offset_ms * 1_000, ppm: active_ppm };
        let server = Clock { offset_us: server_offset_ms * 1_000, ppm: server_ppm };
        let ttl_us = i128::from(ttl_ms) * 1_000;
        let spare_us = (margin - rate_allowance(ttl)).as_micros() as i128;

        // Grant: requested at real 0, taken by the server `grant_delay` later.
        lease.lease_granted(active.read(0));
        let mut expiry_srv_us = server.read_us(i128::from(grant_delay_ms) * 1_000) + ttl_us;

        // Real times of every send and ack, then both in real-time order.
        let mut send_at = Vec::new();
        let mut t = 0i128;
        for k in &keepalives {
            t += i128::from(k.gap_ms) * 1_000;
            send_at.push(t);
        }
        let mut steps: Vec<(i128, Step)> = Vec::new();
        let mut arrives: Vec<Option<i128>> = Vec::new();
        for (i, k) in keepalives.iter().enumerate() {
            steps.push((send_at[i], Step::Send(i)));
            let at_server = k.to_server_ms.map(|d| send_at[i] + i128::from(d) * 1_000);
            arrives.push(at_server);
            if let (Some(r), Some(a)) = (at_server, k.ack_ms) {
                steps.push((r + i128::from(a) * 1_000, Step::Ack(i)));
            }
        }
        steps.sort_by_key(|(t, s)| (*t, matches!(s, Step::Send(_))));

        // The server renews on arrival only while the lease lives; an ack answers a renewal.
        let mut renewed = vec![false; keepalives.len()];
        let mut server_events: Vec<(i128, usize)> =
            arrives.iter().enumerate().filter_map(|(i, a)| a.map(|a| (a, i))).collect();
        server_events.sort();
        let mut expiry_real = Vec::new();
        for (r, i) in server_events {
            let now_srv = server.read_us(r);
            if now_srv < expiry_srv_us {
                expiry_srv_us = expiry_srv_us.max(now_srv + ttl_us);
                renewed[i] = true;
            }
            expiry_real.push((r, expiry_srv_us));
        }
        // The server's expiry as it stands at real time `t` (renewals up to `t` counted).
        let expiry_at = |t: i128, first: i128| -> i128 {
            let srv = expiry_real
                .iter()
                .take_while(|(r, _)| *r <= t)
                .last()
                .map_or(first, |(_, e)| *e);
            server.real_when(srv)
        };
        let first_expiry = server.read_us(i128::from(grant_delay_ms) * 1_000) + ttl_us;

        let mut ids = vec![None; keepalives.len()];
        for (t, step) in steps {
            match step {
                Step::Send(i) => ids[i] = Some(lease.keepalive_sent(active.read(t))),
                Step::Ack(i) => {
                    if renewed[i] {
                        lease.keepalive_acked(ids[i].unwrap());
                    }
                }
            }
            let deadline = lease.acting_deadline().unwrap();
            let deadline_real = active.real_when(i128::from(deadline.as_millis()) * 1_000);
            // Judge against the lease as the server will have it when our deadline comes: renewals
            // already made can only have moved it later.
            let expiry = expiry_at(t, first_expiry);
            prop_assert!(
                deadline_real + spare_us <= expiry + 2_000,
                "deadline at real {deadline_real} µs, server expiry at {expiry} µs, spare {spare_us} µs"
            );
            prop_assert!(deadline_real <= expiry);
        }
    }
}
