//! # steward-heartbeat — heartbeat miss accounting, sans-IO
//!
//! The controller sends a pulse per network every `period` (100 ms); every monitored host answers
//! with the pulse's sequence number. When a round closes, each host that did not answer it gets a
//! miss; consecutive misses raise `MinorSet` at 4 (management only), `DegradeSet` at 6 and `Loss` at 10
//! (docs/heartbeat.md#thresholds). After a loss, 10 consecutive answered rounds clear it; before
//! a loss, one answered round clears minor and degrade.
//!
//! **No false accusations** (memberlist's Lifeguard in spirit): rounds are closed by `on_tick(now)`.
//! When the controller itself ran late — its loop was starved, stopped or the clock jumped — the
//! rounds it could not run on time are not counted against anyone: a round closed later than
//! `period + lateness_tolerance` after it opened is void. Monotonic time only, passed in by the driver.
//!
//! Drivers must hand in every reply already received before calling `on_tick`: a starved controller
//! whose socket buffer holds the answers would otherwise accuse hosts that did answer.
//!
//! Shape (as quinn-proto): `start`/`stop` hosts, feed `on_reply` and `on_tick`, take `poll()` outputs
//! (pulses to send and events for the maintenance core), sleep until `next_tick()`.

pub mod pmon_watch;

pub use pmon_watch::{PmonWatch, DEFAULT_PMON_MISSING_THRESHOLD};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use steward_maintenance::io::{HeartbeatEvent, PulseTally};
use steward_maintenance::state::Network;
use steward_maintenance::Instant;

/// Thresholds and timing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeartbeatConfig {
    pub period: Duration,
    pub minor_threshold: u32,
    pub degrade_threshold: u32,
    pub loss_threshold: u32,
    /// Answered rounds in a row that clear a loss.
    pub clear_after_loss: u32,
    /// The same for a loss on the cluster network. 1 when cluster loss only degrades
    /// (`policy.cluster_degrade_only`): nothing was failed, so the first answer restores the host.
    pub cluster_clear_after_loss: u32,
    /// How late a round may close and still count (beyond one period).
    pub lateness_tolerance: Duration,
}

impl Default for HeartbeatConfig {
    fn default() -> Self {
        HeartbeatConfig {
            period: Duration::from_millis(100),
            minor_threshold: 4,
            degrade_threshold: 6,
            loss_threshold: 10,
            clear_after_loss: 10,
            cluster_clear_after_loss: 10,
            lateness_tolerance: Duration::from_millis(50),
        }
    }
}

impl HeartbeatConfig {
    /// From the maintenance configuration's `[heartbeat]` table and policy.
    pub fn from_config(cfg: &steward_maintenance::Config) -> HeartbeatConfig {
        let h = &cfg.heartbeat;
        HeartbeatConfig {
            period: Duration::from_millis(h.period_ms),
            minor_threshold: h.minor_threshold,
            degrade_threshold: h.degrade_threshold,
            loss_threshold: h.loss_threshold,
            clear_after_loss: h.clear_after_loss,
            cluster_clear_after_loss: if cfg.policy.cluster_degrade_only {
                1
            } else {
                h.clear_after_loss
            },
            lateness_tolerance: Duration::from_millis(h.lateness_tolerance_ms),
        }
    }

    /// Answered rounds in a row that clear a loss on `network`.
    pub fn clear_after_loss_on(&self, network: Network) -> u32 {
        match network {
            Network::Mgmt => self.clear_after_loss,
            Network::Cluster => self.cluster_clear_after_loss,
        }
    }
}

/// A bad heartbeat configuration, named by its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl HeartbeatConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.period.is_zero() {
            return Err(ConfigError(
                "heartbeat.period must be greater than 0".into(),
            ));
        }
        if !(self.minor_threshold <= self.degrade_threshold
            && self.degrade_threshold <= self.loss_threshold)
            || self.minor_threshold == 0
        {
            return Err(ConfigError(
                "heartbeat thresholds must satisfy 0 < minor_threshold <= degrade_threshold <= loss_threshold"
                    .into(),
            ));
        }
        if self.clear_after_loss == 0 || self.cluster_clear_after_loss == 0 {
            return Err(ConfigError(
                "heartbeat.clear_after_loss must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// What the driver must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send pulse `seq` on `network` to every host in `hosts`.
    Pulse {
        network: Network,
        seq: u64,
        hosts: Vec<String>,
    },
    /// Tell the maintenance core.
    Event {
        host: String,
        network: Network,
        event: HeartbeatEvent,
        /// The misses behind a minor, degrade or loss (none for clears).
        tally: Option<PulseTally>,
    },
}

#[derive(Clone, Debug, Default)]
struct Link {
    /// The last sequence this host answered.
    answered: Option<u64>,
    /// The first round this host is pulsed in: a host started while a round is open was not sent that
    /// round's pulse and is not judged on it.
    first_round: u64,
    /// Rounds opened before this instant are not judged ([`Monitor::start_counting_from`]).
    count_from: Option<Instant>,
    misses: u32,
    good_since_loss: u32,
    minor: bool,
    degrade: bool,
    lost: bool,
}

/// What the monitor has seen of one host on one network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkSeen {
    /// Consecutive rounds unanswered, up to the last closed round.
    pub misses: u32,
    /// The last round it answered since its monitoring started.
    pub last_answered: Option<u64>,
    /// Whether a loss was declared and not yet cleared.
    pub lost: bool,
}

/// Per-network round state.
#[derive(Clone, Debug)]
struct Round {
    seq: u64,
    opened: Instant,
}

/// Heartbeat accounting for every monitored host.
pub struct Monitor {
    cfg: HeartbeatConfig,
    links: BTreeMap<(String, Network), Link>,
    rounds: BTreeMap<Network, Round>,
    next_seq: u64,
    next_tick: Instant,
    out: VecDeque<Output>,
    /// Rounds not counted because the controller itself ran late.
    pub void_rounds: u64,
}

impl Monitor {
    pub fn new(cfg: HeartbeatConfig, now: Instant) -> Monitor {
        Monitor {
            next_tick: now,
            cfg,
            links: BTreeMap::new(),
            rounds: BTreeMap::new(),
            next_seq: 1,
            out: VecDeque::new(),
            void_rounds: 0,
        }
    }

    /// Start monitoring `host` on `network` afresh (no misses carried over). Counting begins with the
    /// next round: the open one's pulse went out before the host was started.
    pub fn start(&mut self, host: &str, network: Network) {
        let link = Link {
            first_round: self.next_seq,
            ..Link::default()
        };
        self.links.insert((host.to_string(), network), link);
    }

    /// Start monitoring `host` on `network` afresh, but judge no round opened before `from`: a host
    /// another controller saw answering until now is not accused for the first rounds of this one
    /// (the takeover gap of a controller pair, docs/controller-pair.md). A loss still comes after
    /// the normal thresholds, counted from `from`.
    pub fn start_counting_from(&mut self, host: &str, network: Network, from: Instant) {
        let link = Link {
            first_round: self.next_seq,
            count_from: Some(from),
            ..Link::default()
        };
        self.links.insert((host.to_string(), network), link);
    }

    /// What the monitor has seen of `host` on `network`, if it is monitored there.
    pub fn seen(&self, host: &str, network: Network) -> Option<LinkSeen> {
        self.links
            .get(&(host.to_string(), network))
            .map(|l| LinkSeen {
                misses: l.misses,
                last_answered: l.answered,
                lost: l.lost,
            })
    }

    /// Every monitored host and network with what the monitor has seen of it.
    pub fn all_seen(&self) -> impl Iterator<Item = (&str, Network, LinkSeen)> + '_ {
        self.links.iter().map(|((h, n), l)| {
            (
                h.as_str(),
                *n,
                LinkSeen {
                    misses: l.misses,
                    last_answered: l.answered,
                    lost: l.lost,
                },
            )
        })
    }

    /// Stop monitoring `host` on every network.
    pub fn stop(&mut self, host: &str) {
        self.links.retain(|(h, _), _| h != host);
    }

    /// Change the pulse period (MNFA backoff multiplies it by 4, recovery restores it; thresholds
    /// are unchanged, docs/heartbeat.md#mnfa-backoff). Takes effect from the next tick; the open
    /// round closes on the new period's schedule and the lateness guard measures against the new
    /// period.
    pub fn set_period(&mut self, period: Duration) {
        if period.is_zero() || period == self.cfg.period {
            return;
        }
        let opened = self.rounds.values().map(|r| r.opened).min();
        self.cfg.period = period;
        if let Some(opened) = opened {
            self.next_tick = opened + period;
        }
    }

    /// The current pulse period.
    pub fn period(&self) -> Duration {
        self.cfg.period
    }

    /// Rounds opened so far (the sequence of the latest pulse).
    pub fn rounds_opened(&self) -> u64 {
        self.next_seq - 1
    }

    pub fn is_monitored(&self, host: &str, network: Network) -> bool {
        self.links.contains_key(&(host.to_string(), network))
    }

    /// A host answered pulse `seq` on `network`. Answers to rounds already closed are ignored.
    pub fn on_reply(&mut self, host: &str, network: Network, seq: u64) {
        let open = self.rounds.get(&network).map(|r| r.seq);
        if let Some(link) = self.links.get_mut(&(host.to_string(), network)) {
            if open == Some(seq) {
                link.answered = Some(seq);
            }
        }
    }

    /// When `on_tick` must be called next.
    pub fn next_tick(&self) -> Instant {
        self.next_tick
    }

    /// Close the open round on each network (counting misses, unless the controller was late) and
    /// open the next one.
    pub fn on_tick(&mut self, now: Instant) {
        if now < self.next_tick {
            return;
        }
        let networks: Vec<Network> = {
            let mut n: Vec<Network> = self.links.keys().map(|(_, net)| *net).collect();
            n.sort();
            n.dedup();
            n
        };
        for network in &networks {
            if let Some(round) = self.rounds.get(network).cloned() {
                let late = now.since(round.opened) > self.cfg.period + self.cfg.lateness_tolerance;
                if late {
                    self.void_rounds += 1;
                } else {
                    self.close_round(*network, &round);
                }
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.rounds.clear();
        for network in networks {
            let hosts: Vec<String> = self
                .links
                .keys()
                .filter(|(_, n)| *n == network)
                .map(|(h, _)| h.clone())
                .collect();
            self.rounds.insert(network, Round { seq, opened: now });
            self.out.push_back(Output::Pulse {
                network,
                seq,
                hosts,
            });
        }
        // The next tick keeps the cadence; after a stall it restarts from now.
        let next = self.next_tick + self.cfg.period;
        self.next_tick = if next <= now {
            now + self.cfg.period
        } else {
            next
        };
    }

    fn close_round(&mut self, network: Network, round: &Round) {
        let cfg = self.cfg.clone();
        let seq = round.seq;
        let mut events = Vec::new();
        for ((host, net), link) in self.links.iter_mut() {
            if *net != network || seq < link.first_round {
                continue;
            }
            if link.count_from.is_some_and(|from| round.opened < from) {
                continue;
            }
            let answered = link.answered == Some(seq);
            let ev = |e| (host.clone(), *net, e, None);
            if answered {
                link.misses = 0;
                if link.lost {
                    link.good_since_loss += 1;
                    if link.good_since_loss >= cfg.clear_after_loss_on(network) {
                        link.lost = false;
                        link.degrade = false;
                        link.minor = false;
                        link.good_since_loss = 0;
                        events.push(ev(HeartbeatEvent::LossClear));
                        events.push(ev(HeartbeatEvent::DegradeClear));
                        if network == Network::Mgmt {
                            events.push(ev(HeartbeatEvent::MinorClear));
                        }
                    }
                } else {
                    if link.degrade {
                        link.degrade = false;
                        events.push(ev(HeartbeatEvent::DegradeClear));
                    }
                    if link.minor {
                        link.minor = false;
                        events.push(ev(HeartbeatEvent::MinorClear));
                    }
                }
                continue;
            }
            link.good_since_loss = 0;
            link.misses = link.misses.saturating_add(1);
            let tally = Some(PulseTally {
                misses: link.misses,
                round: seq,
                last_answered: link.answered,
            });
            let ev = |e| (host.clone(), *net, e, tally);
            // Minor is a management-network notion (docs/heartbeat.md#thresholds).
            if network == Network::Mgmt && link.misses == cfg.minor_threshold && !link.minor {
                link.minor = true;
                events.push(ev(HeartbeatEvent::MinorSet));
            }
            if link.misses == cfg.degrade_threshold && !link.degrade {
                link.degrade = true;
                events.push(ev(HeartbeatEvent::DegradeSet));
            }
            if link.misses == cfg.loss_threshold && !link.lost {
                link.lost = true;
                events.push(ev(HeartbeatEvent::Loss));
            }
        }
        for (host, network, event, tally) in events {
            self.out.push_back(Output::Event {
                host,
                network,
                event,
                tally,
            });
        }
    }

    /// The next output, in order.
    pub fn poll(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests;
