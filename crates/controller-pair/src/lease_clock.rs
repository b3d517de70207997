//! The active's lease clock until `steward-leadership` is merged: the acting deadline is the send
//! time of the last acknowledged keepalive + ttl − margin, on this controller's monotonic clock
//! (docs/controller-pair.md).

use std::time::Duration;
use steward_maintenance::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeepaliveId(u64);

#[derive(Clone, Debug)]
pub struct LeaseClock {
    ttl: Duration,
    margin: Duration,
    next_id: u64,
    first_id: u64,
    outstanding: Vec<(KeepaliveId, Instant)>,
    anchor: Option<Instant>,
}

impl LeaseClock {
    pub fn new(ttl: Duration, margin: Duration) -> Result<Self, String> {
        if margin >= ttl {
            return Err(format!("margin {margin:?} must be below ttl {ttl:?}"));
        }
        Ok(LeaseClock {
            ttl,
            margin,
            next_id: 0,
            first_id: 0,
            outstanding: Vec::new(),
            anchor: None,
        })
    }
    pub fn keepalive_period(&self) -> Duration {
        self.ttl / 3
    }
    pub fn lease_granted(&mut self, sent_at: Instant) {
        self.outstanding.clear();
        self.first_id = self.next_id;
        self.anchor = Some(sent_at);
    }
    pub fn keepalive_sent(&mut self, now: Instant) -> KeepaliveId {
        let id = KeepaliveId(self.next_id);
        self.next_id += 1;
        self.outstanding.push((id, now));
        if self.outstanding.len() > 64 {
            self.outstanding.remove(0);
        }
        id
    }
    pub fn keepalive_acked(&mut self, id: KeepaliveId) {
        let Some(anchor) = self.anchor else { return };
        if id.0 < self.first_id {
            return;
        }
        let Some(pos) = self.outstanding.iter().position(|(k, _)| *k == id) else {
            return;
        };
        let sent = self.outstanding[pos].1;
        self.outstanding.drain(..=pos);
        if sent > anchor {
            self.anchor = Some(sent);
        }
    }
    pub fn lost(&mut self) {
        self.anchor = None;
        self.outstanding.clear();
    }
    pub fn acting_deadline(&self) -> Option<Instant> {
        self.anchor.map(|a| a + (self.ttl - self.margin))
    }
    pub fn may_act(&self, now: Instant) -> bool {
        self.acting_deadline().is_some_and(|d| now < d)
    }
}
