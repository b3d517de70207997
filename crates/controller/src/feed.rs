//! The live feed: every durable change an operator watches (a host's record, an alarm raised or
//! cleared — the core's and the sensor audit's —, a customer-log event), numbered in commit order,
//! for `GET /v1/stream` and `steward watch`.
//!
//! The actor publishes a step's changes only after the step's store transaction committed (the
//! core's, then the sensor audit's, which commits its own), so the feed never shows a decision a
//! crash could take back. Each item gets the next sequence number of
//! this controller's run; its id for clients is `<epoch>-<seq>` so that an id from an earlier run
//! (another epoch) is recognised as such instead of being mistaken for a position in this one.
//!
//! A bounded replay buffer keeps the newest items: a client that reconnects with the id of the last
//! item it saw gets everything after it, or — when the buffer no longer reaches back that far, or the
//! id is from another run — a [`Resume::Gap`] it must report, so nothing is skipped silently.

use crate::handle::HostEntry;
use crate::sensor_audit::StoredSensorAlarm;
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use steward_maintenance::alarm::{Alarm, AlarmId, CustomerLog};
use steward_sensors::SensorAlarmId;
use steward_store::typed::Stamped;
use tokio::sync::broadcast;

/// How many items the replay buffer keeps by default: a few minutes of a busy 1,000-host cluster.
pub const DEFAULT_REPLAY: usize = 4_096;

/// One change as the feed carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedItem {
    /// A host's record as it is after the step (states, task, action…).
    Host(Box<HostEntry>),
    /// A host was deleted.
    HostRemoved {
        host: String,
    },
    AlarmRaised(Alarm),
    AlarmCleared {
        id: AlarmId,
        host: String,
    },
    Event(Stamped<CustomerLog>),
    /// A sensor alarm (200.007, 200.014, 200.015) the sensor audit raised or changed in severity,
    /// with its sensor or group entity. The audit commits in its own transaction, apart from the
    /// core's step, and publishes after it.
    SensorAlarmRaised(StoredSensorAlarm),
    /// A sensor alarm the sensor audit cleared.
    SensorAlarmCleared {
        id: SensorAlarmId,
        host: String,
        /// The full entity instance, e.g. `host=worker-1.sensor=CPU1 Temp`.
        entity: String,
    },
}

/// Where an item stands in the feed: the controller's epoch and the item's sequence number in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeedId {
    pub epoch: u64,
    pub seq: u64,
}

impl fmt::Display for FeedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

impl std::str::FromStr for FeedId {
    type Err = String;

    fn from_str(s: &str) -> Result<FeedId, String> {
        let bad = || format!("'{s}' is not a stream id (expected <epoch>-<sequence>, e.g. 3-120)");
        let (epoch, seq) = s.trim().split_once('-').ok_or_else(bad)?;
        Ok(FeedId {
            epoch: epoch.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

/// An item with its id.
#[derive(Clone, Debug, PartialEq)]
pub struct FeedEntry {
    pub id: FeedId,
    pub item: FeedItem,
}

/// What a (re)connecting client is given before the live items.
#[derive(Debug)]
pub enum Resume {
    /// Every item after the client's last one, oldest first (empty for a new client).
    Replay(Vec<Arc<FeedEntry>>),
    /// The buffer cannot continue from the client's id: items were lost to it. `oldest` is the
    /// oldest item still held (None: none held), `reason` says why in an operator's words. The client
    /// should fetch the current state again; the live items follow.
    Gap {
        reason: String,
        oldest: Option<FeedId>,
    },
}

/// A subscription: what to replay, then the live items.
pub struct Subscription {
    pub resume: Resume,
    /// The newest item published when the subscription was taken (sequence 0: none yet); the live
    /// items are the ones after it.
    pub position: FeedId,
    pub live: broadcast::Receiver<Arc<FeedEntry>>,
}

struct Ring {
    next_seq: u64,
    items: VecDeque<Arc<FeedEntry>>,
    capacity: usize,
}

/// The feed, shared by the actor (publisher) and the API (subscribers).
pub struct Feed {
    epoch: u64,
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Arc<FeedEntry>>,
}

impl fmt::Debug for Feed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Feed").field("epoch", &self.epoch).finish()
    }
}

impl Feed {
    /// A feed for the controller run with fencing `epoch`, keeping the newest `capacity` items.
    pub fn new(epoch: u64, capacity: usize) -> Feed {
        let capacity = capacity.max(1);
        // The live channel is shorter than the replay buffer: a subscriber it laps resumes from the
        // buffer, which still holds what it missed, unless it fell behind the buffer too.
        let (tx, _) = broadcast::channel((capacity / 4).max(1));
        Feed {
            epoch,
            ring: Mutex::new(Ring {
                next_seq: 1,
                items: VecDeque::with_capacity(capacity),
                capacity,
            }),
            tx,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves the ring consistent (push and pop are single
        // steps), so a poisoned lock is still usable.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number and keep `items`, and hand them to every live subscriber.
    pub fn publish(&self, items: impl IntoIterator<Item = FeedItem>) {
        let mut ring = self.ring();
        for item in items {
            let entry = Arc::new(FeedEntry {
                id: FeedId {
                    epoch: self.epoch,
                    seq: ring.next_seq,
                },
                item,
            });
            ring.next_seq += 1;
            if ring.items.len() == ring.capacity {
                ring.items.pop_front();
            }
            ring.items.push_back(entry.clone());
            // Sent under the lock, so a subscriber that took the ring's state under the same lock
            // sees every later item exactly once. No subscriber is not an error.
            let _ = self.tx.send(entry);
        }
    }

    /// Subscribe after `last` (the id of the last item the client saw; None: a new client that
    /// wants only what comes next).
    pub fn subscribe(&self, last: Option<FeedId>) -> Subscription {
        let ring = self.ring();
        let live = self.tx.subscribe();
        let resume = match last {
            None => Resume::Replay(Vec::new()),
            Some(last) => resume_after(&ring, self.epoch, last),
        };
        Subscription {
            resume,
            position: FeedId {
                epoch: self.epoch,
                seq: ring.next_seq - 1,
            },
            live,
        }
    }
}

fn resume_after(ring: &Ring, epoch: u64, last: FeedId) -> Resume {
    let oldest = ring.items.front().map(|e| e.id);
    if last.epoch != epoch {
        return Resume::Gap {
            reason: format!(
                "the controller restarted since event {last} (now epoch {epoch}); reload the current state"
            ),
            oldest,
        };
    }
    if last.seq >= ring.next_seq {
        return Resume::Gap {
            reason: format!(
                "event {last} was never sent by this controller (the newest is {epoch}-{}); reload the current state",
                ring.next_seq - 1
            ),
            oldest,
        };
    }
    // The client holds everything up to `last`: it can continue if the next one is still here.
    let first_held = oldest.map_or(ring.next_seq, |id| id.seq);
    if last.seq + 1 < first_held {
        return Resume::Gap {
            reason: format!(
                "events {epoch}-{} to {epoch}-{} are no longer held for replay (the buffer keeps the newest {}); reload the current state",
                last.seq + 1,
                first_held - 1,
                ring.capacity
            ),
            oldest,
        };
    }
    Resume::Replay(
        ring.items
            .iter()
            .filter(|e| e.id.seq > last.seq)
            .cloned()
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_maintenance::alarm::LogId;

    fn event(n: u64) -> FeedItem {
        FeedItem::Event(Stamped {
            at_ms: n,
            entry: CustomerLog {
                id: LogId::Command,
                host: "worker-0".into(),
                text: format!("event {n}"),
                critical: false,
            },
        })
    }

    fn seqs(r: &Resume) -> Vec<u64> {
        match r {
            Resume::Replay(v) => v.iter().map(|e| e.id.seq).collect(),
            Resume::Gap { reason, .. } => panic!("unexpected gap: {reason}"),
        }
    }

    #[test]
    fn ids_round_trip_and_bad_ones_are_refused() {
        let id = FeedId { epoch: 3, seq: 120 };
        assert_eq!(id.to_string(), "3-120");
        assert_eq!("3-120".parse::<FeedId>(), Ok(id));
        assert!("120".parse::<FeedId>().is_err());
        assert!("a-b".parse::<FeedId>().is_err());
    }

    #[test]
    fn resumes_after_the_last_seen_item() {
        let feed = Feed::new(2, 8);
        feed.publish((1..=5).map(event));
        let sub = feed.subscribe(Some(FeedId { epoch: 2, seq: 3 }));
        assert_eq!(seqs(&sub.resume), [4, 5]);
        // Up to date: nothing to replay, and no gap.
        let sub = feed.subscribe(Some(FeedId { epoch: 2, seq: 5 }));
        assert_eq!(seqs(&sub.resume), Vec::<u64>::new());
        // A new client gets only what comes next.
        let mut sub = feed.subscribe(None);
        assert_eq!(seqs(&sub.resume), Vec::<u64>::new());
        feed.publish([event(6)]);
        assert_eq!(sub.live.try_recv().unwrap().id.seq, 6);
    }

    #[test]
    fn an_id_older_than_the_buffer_is_a_gap_not_a_silent_skip() {
        let feed = Feed::new(1, 4);
        feed.publish((1..=10).map(event));
        // Holds 7..=10: after 6 is still continuous, after 5 lost 6.
        assert_eq!(
            seqs(&feed.subscribe(Some(FeedId { epoch: 1, seq: 6 })).resume),
            [7, 8, 9, 10]
        );
        match feed.subscribe(Some(FeedId { epoch: 1, seq: 2 })).resume {
            Resume::Gap { reason, oldest } => {
                assert!(reason.contains("1-3 to 1-6"), "{reason}");
                assert_eq!(oldest, Some(FeedId { epoch: 1, seq: 7 }));
            }
            r => panic!("expected a gap, got {r:?}"),
        }
    }

    #[test]
    fn an_id_from_another_run_or_the_future_is_a_gap() {
        let feed = Feed::new(5, 4);
        feed.publish((1..=2).map(event));
        for last in [FeedId { epoch: 4, seq: 1 }, FeedId { epoch: 5, seq: 9 }] {
            assert!(
                matches!(feed.subscribe(Some(last)).resume, Resume::Gap { .. }),
                "{last}"
            );
        }
    }
}
