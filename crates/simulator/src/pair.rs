//! The controller pair: two controller processes, on controller-0 and controller-1, and a lease server
//! ([`crate::lease`]); the holder of the lease is the active controller, and the world's core is the
//! active's. docs/controller-pair.md describes the rule; this module is what the simulator models of it.
//!
//! - **Clocks.** Each controller reads its own monotonic clock: an offset and a rate error within
//!   `RATE_ERROR_BOUND_PPM` of the simulator's time. The lease server's clock is the simulator's.
//! - **The active** keeps a [`LeaseClock`]: every keepalive period (2 s) it sends a keepalive over its
//!   link to the lease server (delay 1–20 ms, a partition drops, a delay fault adds up to 3 s); the
//!   ack moves its acting deadline; a failed keepalive (the server no longer has the lease) means lost.
//!   Before every step that acts — a node command, a BMC operation, a store write — it asks
//!   `may_act(now)` on its own clock; if not, the step's effects are dropped (counted) and the process
//!   steps down: it forgets its core and becomes standby. At each keepalive tick it steps down too once
//!   its deadline has passed.
//! - **The standby** asks the lease server for the lease every keepalive period (as a watch on the
//!   leader key would, at most that late). Granted, it **takes over**: it restores the core from the
//!   durable store under a new epoch (as a restart does: [`World::take_over`]), on its own host, with
//!   the heartbeat state it kept as standby. It pulses too: in the event-level heartbeat model a host's
//!   heartbeat state is its reachability, which the standby saw all along, so the new active starts
//!   counting from it — a reachable host is not accused, an unreachable one is lost one ladder later.
//! - **Faults** ([`PairFault`]): a controller paused (SIGSTOP) and resumed — the active's loop stalls as
//!   [`crate::Fault::ControllerStall`] does, and on resume its first step asks `may_act`; a crash (the
//!   process restarts as standby after a while; its lease is left to expire); a partition or a delay of
//!   one controller's link to the lease server; a graceful swact (the active stops acting, revokes its
//!   lease, and the standby, watching, takes it).
//! - **Not modelled:** the controllers' hosts as machines of the pair (the pair seeds leave both
//!   controller hosts out of host faults and operator requests), etcd's own replication, the store
//!   fencing a deposed active's writes by lease (the simulator's store fences by epoch at the takeover;
//!   so the lease rule is what keeps a deposed active quiet until then), and the pulse-level heartbeat.
//!
//! Ground truth for the invariants is the lease server: who held a live lease at the instant of a step.
//!
//! - `one_active_at_a_time`: every step that acts (node command, BMC operation or store write) comes
//!   from the controller the lease server has as the live holder at that instant.
//! - `no_false_failure_across_takeover`: within [`TAKEOVER_WINDOW`] of a takeover, no heartbeat-loss or
//!   failure alarm (200.004/005/009) and no automatic reboot or reset for a host that was in service at
//!   the takeover and that the simulator has not troubled since ([`crate::Truth::troubled`]).
//! - `actions_end_across_restarts` and `no_acknowledged_change_lost` hold across takeovers as across
//!   restarts: a takeover is judged by the restart checks.
//!
//! Deliberate bugs of the pair driver (this module stands in for the pair runtime), chosen by the core's
//! build variable like the core's own (`STEWARD_MUTATION`, read through
//! [`steward_maintenance::MUTATION`]): `pair-ignores-lease-deadline` (the active acts past its deadline
//! until it hears the lease is gone) and `pair-no-takeover-grace` (the new active did not pulse as
//! standby: its first heartbeat round counts the whole takeover gap as misses).

use crate::invariants::{Invariant, Violation};
use crate::lease::LeaseServer;
use crate::prng::Rng;
use crate::world::World;
use std::collections::BTreeSet;
use std::time::Duration;
use steward_leadership::{LeaseClock, RATE_ERROR_BOUND_PPM};
use steward_maintenance::alarm::{AlarmChange, AlarmId};
use steward_maintenance::io::{Effect, Event, HeartbeatEvent};
use steward_maintenance::state::Network;
use steward_maintenance::{Cause, Instant};

/// How long after a takeover `no_false_failure_across_takeover` watches the hosts.
pub const TAKEOVER_WINDOW: Duration = Duration::from_secs(30);

/// The planted pair-driver bugs (see the module docs).
fn mutation(name: &str) -> bool {
    steward_maintenance::MUTATION == name
}

/// A controller's own monotonic clock: `offset + now · (1 + ppm/10⁶)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControllerClock {
    pub offset_ms: u64,
    pub ppm: i64,
}

impl ControllerClock {
    pub fn read(self, now: Instant) -> Instant {
        let t = i128::from(now.as_millis()) * (1_000_000 + i128::from(self.ppm)) / 1_000_000;
        Instant::from_millis(self.offset_ms + u64::try_from(t.max(0)).unwrap_or(0))
    }

    /// Simulated time for `d` of this clock.
    pub fn world_duration(self, d: Duration) -> Duration {
        let ms = d.as_millis() as i128 * 1_000_000 / (1_000_000 + i128::from(self.ppm));
        Duration::from_millis(u64::try_from(ms.max(1)).unwrap_or(1))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Active,
    Standby,
    /// The process is dead; it restarts as standby.
    Down,
}

/// One controller process of the pair.
#[derive(Clone, Debug)]
pub struct Member {
    /// Its host's index in the world.
    pub host: usize,
    pub clock: ControllerClock,
    pub lease: LeaseClock,
    /// The server's id of the lease it holds.
    pub lease_id: Option<u64>,
    pub role: Role,
    pub paused_until: Option<Instant>,
    pub partitioned_until: Option<Instant>,
    pub delayed_until: Option<(Instant, Duration)>,
    /// Bumped at every crash, so that a dead process's timers and replies are ignored.
    pub incarnation: u64,
    /// The one pending loop tick (older ones are stale).
    next_tick: Option<Instant>,
}

impl Member {
    fn paused(&self, now: Instant) -> bool {
        self.paused_until.is_some_and(|t| now < t)
    }
}

/// A fault of the pair, injected by a script or the runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairFault {
    /// Stop controller `ctl`'s process for this long, then resume it.
    Pause { ctl: usize, duration: Duration },
    /// Controller `ctl`'s process dies; it restarts as standby after `down`.
    Crash { ctl: usize, down: Duration },
    /// Controller `ctl`'s link to the lease server drops everything for this long.
    PartitionLease { ctl: usize, duration: Duration },
    /// Controller `ctl`'s link to the lease server takes `extra` longer for `duration`.
    DelayLease {
        ctl: usize,
        extra: Duration,
        duration: Duration,
    },
    /// The active hands over to the standby.
    Swact,
    /// End every partition and delay.
    Heal,
}

/// The pair's own scheduled happenings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PairEvent {
    /// Controller `ctl`'s loop: keepalive (active) or lease attempt (standby). Stale unless `at` is
    /// the member's pending tick.
    Tick {
        ctl: usize,
        at: Instant,
    },
    KeepaliveArrives {
        ctl: usize,
        lease: u64,
        id: steward_leadership::KeepaliveId,
        inc: u64,
    },
    KeepaliveReply {
        ctl: usize,
        lease: u64,
        id: steward_leadership::KeepaliveId,
        ok: bool,
        inc: u64,
    },
    GrantArrives {
        ctl: usize,
        sent_at: Instant,
        inc: u64,
    },
    GrantReply {
        ctl: usize,
        lease: u64,
        sent_at: Instant,
        inc: u64,
    },
    RevokeArrives {
        lease: u64,
    },
    Resume {
        ctl: usize,
    },
    Restart {
        ctl: usize,
        inc: u64,
    },
    Fault(PairFault),
}

/// A takeover, for the invariants and the report.
#[derive(Clone, Debug)]
pub struct Takeover {
    pub at: Instant,
    pub to: usize,
    /// Hosts in service (by the simulator's record) at the takeover.
    pub in_service: BTreeSet<String>,
    /// Hosts the `pair-no-takeover-grace` mutation has accused.
    charged: BTreeSet<String>,
}

/// Counters of the pair.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PairStats {
    pub takeovers: u64,
    pub swacts: u64,
    pub step_downs: u64,
    /// Steps whose effects were dropped because the active's deadline had passed.
    pub dropped_steps: u64,
    pub dropped_effects: u64,
    /// Events for the controller that arrived while none was active.
    pub undelivered: u64,
    pub keepalives: u64,
    pub pauses: u64,
    pub crashes: u64,
    pub partitions: u64,
    /// Longest time without an active controller.
    pub longest_gap: Duration,
}

/// The pair's state in the world.
#[derive(Clone, Debug)]
pub struct Pair {
    pub server: LeaseServer,
    pub members: [Member; 2],
    /// The controller whose core the world runs, while it acts.
    pub active: Option<usize>,
    pub takeovers: Vec<Takeover>,
    pub stats: PairStats,
    no_active_since: Option<Instant>,
    swact_started: Option<Instant>,
    /// Graceful swact times (from the request to the takeover).
    pub swact_times: Vec<Duration>,
    /// When the active last stopped acting (stepped down, crashed or swacted).
    pub last_step_down: Option<Instant>,
}

impl Pair {
    /// Controller-0 (world host `hosts[0]`) holds the lease from the start; controller-1 is standby.
    pub fn new(rng: &mut Rng, hosts: [usize; 2]) -> Pair {
        let bound = RATE_ERROR_BOUND_PPM as i64;
        let mut member = |host| Member {
            host,
            clock: ControllerClock {
                offset_ms: rng.range(0, 1_000_000_000),
                ppm: rng.range(0, 2 * bound as u64 + 1) as i64 - bound,
            },
            lease: LeaseClock::with_defaults(),
            lease_id: None,
            role: Role::Standby,
            paused_until: None,
            partitioned_until: None,
            delayed_until: None,
            incarnation: 0,
            next_tick: None,
        };
        let members = [member(hosts[0]), member(hosts[1])];
        let mut pair = Pair {
            server: LeaseServer::new(members[0].lease.ttl()),
            members,
            active: None,
            takeovers: Vec::new(),
            stats: PairStats::default(),
            no_active_since: None,
            swact_started: None,
            swact_times: Vec::new(),
            last_step_down: None,
        };
        let id = pair
            .server
            .grant(0, Instant::ZERO)
            .expect("a fresh lease server grants");
        let m = &mut pair.members[0];
        m.lease.lease_granted(m.clock.read(Instant::ZERO));
        m.lease_id = Some(id);
        m.role = Role::Active;
        pair.active = Some(0);
        pair
    }

    /// Whether a controller acts now (the world runs its core).
    pub fn acting(&self) -> bool {
        self.active.is_some()
    }

    fn host_ctl(&self, host: usize) -> Option<usize> {
        self.members.iter().position(|m| m.host == host)
    }
}

/// What the pair says about a step of the core.
pub(crate) enum Gate {
    Act,
    /// Not carried out: the active may not act.
    Dropped,
}

fn acts(e: &Effect) -> bool {
    matches!(
        e,
        Effect::Send { .. }
            | Effect::Bmc { .. }
            | Effect::HostChanged { .. }
            | Effect::HostRemoved { .. }
            | Effect::Alarm(_)
            | Effect::Log(_)
            | Effect::Journal(_)
    )
}

fn describe(effects: &[Effect]) -> String {
    let mut out: Vec<String> = effects
        .iter()
        .filter(|e| acts(e))
        .take(4)
        .map(|e| match e {
            Effect::Send { host, command, .. } => format!("{command:?} to {host}"),
            Effect::Bmc { host, op, .. } => format!("bmc {op:?} of {host}"),
            other => format!("store write ({})", effect_kind(other)),
        })
        .collect();
    if out.is_empty() {
        out.push("nothing".into());
    }
    out.join(", ")
}

fn effect_kind(e: &Effect) -> &'static str {
    match e {
        Effect::HostChanged { .. } => "host record",
        Effect::HostRemoved { .. } => "host removal",
        Effect::Alarm(_) => "alarm",
        Effect::Log(_) => "log",
        Effect::Journal(_) => "journal",
        _ => "other",
    }
}

impl World {
    fn pair_mut(&mut self) -> &mut Pair {
        self.pair.as_mut().expect("pair mode")
    }

    fn lease_link_delay(&mut self, ctl: usize) -> Option<Duration> {
        let now = self.now;
        let m = &self.pair.as_ref().expect("pair mode").members[ctl];
        if m.partitioned_until.is_some_and(|t| now < t) {
            return None;
        }
        let extra = match m.delayed_until {
            Some((t, extra)) if now < t => extra,
            _ => Duration::ZERO,
        };
        let d = self
            .rng
            .duration(Duration::from_millis(1), Duration::from_millis(20));
        Some(d + extra)
    }

    fn schedule_pair(&mut self, after: Duration, ev: PairEvent) {
        let at = self.now + after;
        self.schedule_pair_at(at, ev);
    }

    /// Start the pair's loops (called once the world is built).
    pub(crate) fn pair_start(&mut self) {
        for ctl in 0..2 {
            let first = self
                .rng
                .duration(Duration::from_millis(1), Duration::from_millis(2_000));
            self.arm_tick(ctl, first);
        }
    }

    /// (Re)arm controller `ctl`'s loop `after` from now, replacing any pending tick.
    fn arm_tick(&mut self, ctl: usize, after: Duration) {
        let at = self.now + after;
        self.pair_mut().members[ctl].next_tick = Some(at);
        self.schedule_pair_at(at, PairEvent::Tick { ctl, at });
    }

    /// Inject a fault of the pair now.
    pub fn inject_pair(&mut self, fault: PairFault) -> Result<(), Violation> {
        self.pair_event(PairEvent::Fault(fault))
    }

    /// Judge a step before it is carried out: one the active may not take is dropped (and the
    /// process steps down); one taken by a controller that is not the lease's live holder is a
    /// violation of `one_active_at_a_time`.
    pub(crate) fn pair_gate(&mut self, effects: &[Effect]) -> Result<Gate, Violation> {
        let now = self.now;
        let Some(pair) = self.pair.as_mut() else {
            return Ok(Gate::Act);
        };
        if !effects.iter().any(acts) {
            return Ok(Gate::Act);
        }
        let Some(ctl) = pair.active else {
            pair.stats.dropped_steps += 1;
            pair.stats.dropped_effects += effects.len() as u64;
            return Ok(Gate::Dropped);
        };
        let m = &pair.members[ctl];
        let own_now = m.clock.read(now);
        if !m.lease.may_act(own_now) && !mutation("pair-ignores-lease-deadline") {
            pair.stats.dropped_steps += 1;
            pair.stats.dropped_effects += effects.len() as u64;
            let what = describe(effects);
            self.step_down(ctl, &format!("deadline passed; dropped {what}"));
            return Ok(Gate::Dropped);
        }
        let pair = self.pair.as_ref().expect("pair mode");
        let holder = pair.server.holder(now);
        if holder != Some(ctl) {
            let name = self.nodes[pair.members[ctl].host].name.clone();
            let lease = pair.server.lease();
            let v = Violation::new(
                Invariant::OneActiveAtATime,
                now,
                Some(&name),
                format!(
                    "controller {name} acted ({}) while the lease server had {} as holder \
                     (lease {lease:?}; its acting deadline {:?} on its clock at {:?})",
                    describe(effects),
                    holder.map_or("nobody".to_string(), |h| self.nodes[pair.members[h].host]
                        .name
                        .clone()),
                    pair.members[ctl].lease.acting_deadline(),
                    own_now,
                ),
            );
            return Err(self.decorate(v));
        }
        Ok(Gate::Act)
    }

    /// `no_false_failure_across_takeover`, for effects carried out.
    pub(crate) fn pair_check_effects(&self, effects: &[Effect]) -> Result<(), Violation> {
        let Some(pair) = self.pair.as_ref() else {
            return Ok(());
        };
        let Some(t) = pair.takeovers.last() else {
            return Ok(());
        };
        if self.now.since(t.at) > TAKEOVER_WINDOW {
            return Ok(());
        }
        for e in effects {
            let (host, what) = match e {
                Effect::Alarm(AlarmChange::Raise(a))
                    if matches!(
                        a.id,
                        AlarmId::Enable | AlarmId::MgmtHeartbeat | AlarmId::ClusterHeartbeat
                    ) =>
                {
                    (&a.host, format!("alarm {} raised", a.id))
                }
                Effect::Send {
                    host,
                    command,
                    cause: Cause::AutoRecovery,
                    ..
                } if command.is_destructive() => (host, format!("automatic {command:?}")),
                Effect::Bmc {
                    host,
                    op,
                    cause: Cause::AutoRecovery,
                    ..
                } if op.is_destructive() => (host, format!("automatic bmc {op:?}")),
                _ => continue,
            };
            if t.in_service.contains(host) && !self.checker.truth.troubled(host, self.now) {
                let v = Violation::new(
                    Invariant::NoFalseFailureAcrossTakeover,
                    self.now,
                    Some(host),
                    format!(
                        "{what} for {host}, in service at the takeover {} ms ago and untroubled since",
                        self.now.since(t.at).as_millis()
                    ),
                );
                return Err(self.decorate(v));
            }
        }
        Ok(())
    }

    fn step_down(&mut self, ctl: usize, why: &str) {
        let now = self.now;
        let pair = self.pair_mut();
        let m = &mut pair.members[ctl];
        m.lease.lost();
        m.lease_id = None;
        if m.role == Role::Active {
            m.role = Role::Standby;
        }
        if pair.active == Some(ctl) {
            pair.active = None;
            pair.no_active_since = Some(now);
            pair.last_step_down = Some(now);
            pair.stats.step_downs += 1;
            // Its loop no longer runs the core: whatever stall it was in is its own.
            self.stall_until = None;
            let h = self.pair_mut().members[ctl].host;
            let name = self.nodes[h].name.clone();
            self.note_pair(format!("pair: {name} steps down: {why}"));
        }
    }

    fn take_over_as(&mut self, ctl: usize) -> Result<(), Violation> {
        let now = self.now;
        let host = self.pair_mut().members[ctl].host;
        let name = self.nodes[host].name.clone();
        let in_service: BTreeSet<String> = self
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .filter(|n| *n != name && self.checker.truth.in_service(n, now))
            .collect();
        {
            let pair = self.pair_mut();
            pair.active = Some(ctl);
            pair.members[ctl].role = Role::Active;
            pair.stats.takeovers += 1;
            if let Some(since) = pair.no_active_since.take() {
                pair.stats.longest_gap = pair.stats.longest_gap.max(now.since(since));
            }
            if let Some(s) = pair.swact_started.take() {
                pair.swact_times.push(now.since(s));
            }
            pair.takeovers.push(Takeover {
                at: now,
                to: ctl,
                in_service,
                charged: BTreeSet::new(),
            });
        }
        self.take_over(host, &format!("{name} takes over"))
    }

    /// The active's core started heartbeat monitoring of `host` (event-level model).
    pub(crate) fn pair_heartbeat_started(&mut self, host: &str) {
        if !mutation("pair-no-takeover-grace") {
            return;
        }
        let now = self.now;
        let Some(pair) = self.pair.as_mut() else {
            return;
        };
        let Some(t) = pair.takeovers.last_mut() else {
            return;
        };
        if now.since(t.at) > TAKEOVER_WINDOW
            || !t.in_service.contains(host)
            || !t.charged.insert(host.to_string())
        {
            return;
        }
        // The new active did not pulse as standby: its first round counts the whole takeover gap as
        // misses, and it takes ten answered rounds to clear.
        let Some(&i) = self.index.get(host) else {
            return;
        };
        for net in Network::ALL {
            if !self.nodes[i].has(net) {
                continue;
            }
            for (after, event) in [
                (Duration::from_millis(1), HeartbeatEvent::Loss),
                (crate::heartbeat::CLEAR_AFTER, HeartbeatEvent::LossClear),
            ] {
                let ev = Event::Heartbeat {
                    host: host.to_string(),
                    network: net,
                    event,
                    tally: None,
                };
                self.schedule_to_core(after, ev);
            }
        }
    }

    fn note_pair(&mut self, line: String) {
        self.note_line(line);
    }

    /// A pair event is due.
    pub(crate) fn pair_event(&mut self, ev: PairEvent) -> Result<(), Violation> {
        let now = self.now;
        match ev {
            PairEvent::Tick { ctl, at } => {
                let m = &mut self.pair_mut().members[ctl];
                if m.next_tick != Some(at) {
                    return Ok(());
                }
                m.next_tick = None;
                if m.role == Role::Down || m.paused(now) {
                    // A paused loop ticks again at resume; a dead one at restart.
                    return Ok(());
                }
                let inc = m.incarnation;
                let period = m.clock.world_duration(m.lease.keepalive_period());
                let own_now = m.clock.read(now);
                match m.role {
                    Role::Active => {
                        let may = m.lease.may_act(own_now);
                        if !may && !mutation("pair-ignores-lease-deadline") {
                            self.step_down(ctl, "deadline passed");
                        } else if let Some(lease) = m.lease_id {
                            let id = self.pair_mut().members[ctl].lease.keepalive_sent(own_now);
                            self.pair_mut().stats.keepalives += 1;
                            if let Some(d) = self.lease_link_delay(ctl) {
                                self.schedule_pair(
                                    d,
                                    PairEvent::KeepaliveArrives {
                                        ctl,
                                        lease,
                                        id,
                                        inc,
                                    },
                                );
                            }
                        }
                    }
                    Role::Standby => {
                        if let Some(d) = self.lease_link_delay(ctl) {
                            self.schedule_pair(
                                d,
                                PairEvent::GrantArrives {
                                    ctl,
                                    sent_at: own_now,
                                    inc,
                                },
                            );
                        }
                    }
                    Role::Down => {}
                }
                self.arm_tick(ctl, period);
            }
            PairEvent::KeepaliveArrives {
                ctl,
                lease,
                id,
                inc,
            } => {
                let ok = self.pair_mut().server.keepalive(lease, now);
                if let Some(d) = self.lease_link_delay(ctl) {
                    self.schedule_pair(
                        d,
                        PairEvent::KeepaliveReply {
                            ctl,
                            lease,
                            id,
                            ok,
                            inc,
                        },
                    );
                }
            }
            PairEvent::KeepaliveReply {
                ctl,
                lease,
                id,
                ok,
                inc,
            } => {
                let m = &self.pair_mut().members[ctl];
                if m.incarnation != inc || m.lease_id != Some(lease) {
                    return Ok(());
                }
                if let Some(t) = m.paused_until.filter(|t| now < *t) {
                    // Waits in the stopped process's socket.
                    self.schedule_pair_at(
                        t,
                        PairEvent::KeepaliveReply {
                            ctl,
                            lease,
                            id,
                            ok,
                            inc,
                        },
                    );
                    return Ok(());
                }
                if ok {
                    self.pair_mut().members[ctl].lease.keepalive_acked(id);
                } else {
                    self.step_down(ctl, "the lease server no longer has its lease");
                }
            }
            PairEvent::GrantArrives { ctl, sent_at, inc } => {
                if let Some(lease) = self.pair_mut().server.grant(ctl, now) {
                    if let Some(d) = self.lease_link_delay(ctl) {
                        self.schedule_pair(
                            d,
                            PairEvent::GrantReply {
                                ctl,
                                lease,
                                sent_at,
                                inc,
                            },
                        );
                    }
                    // A lost reply leaves the lease to expire unheld.
                }
            }
            PairEvent::GrantReply {
                ctl,
                lease,
                sent_at,
                inc,
            } => {
                let m = &self.pair_mut().members[ctl];
                if m.incarnation != inc || m.role != Role::Standby {
                    return Ok(());
                }
                if let Some(t) = m.paused_until.filter(|t| now < *t) {
                    self.schedule_pair_at(
                        t,
                        PairEvent::GrantReply {
                            ctl,
                            lease,
                            sent_at,
                            inc,
                        },
                    );
                    return Ok(());
                }
                if self.pair_mut().active.is_some() {
                    // Cannot happen while the rule holds: the old active's deadline came before the
                    // server let the lease go. The gate judges what it does next.
                    let old = self.pair_mut().active.expect("checked");
                    let h = self.pair_mut().members[old].host;
                    let name = self.nodes[h].name.clone();
                    self.note_pair(format!("pair: new lease while {name} still acts"));
                }
                let m = &mut self.pair_mut().members[ctl];
                m.lease.lease_granted(sent_at);
                m.lease_id = Some(lease);
                self.take_over_as(ctl)?;
            }
            PairEvent::RevokeArrives { lease } => self.pair_mut().server.revoke(lease, now),
            PairEvent::Resume { ctl } => {
                let m = &mut self.pair_mut().members[ctl];
                if m.paused_until.is_some_and(|t| t <= now) {
                    m.paused_until = None;
                    self.arm_tick(ctl, Duration::ZERO);
                }
            }
            PairEvent::Restart { ctl, inc } => {
                let m = &mut self.pair_mut().members[ctl];
                if m.incarnation == inc && m.role == Role::Down {
                    m.role = Role::Standby;
                    m.paused_until = None;
                    self.arm_tick(ctl, Duration::ZERO);
                }
            }
            PairEvent::Fault(f) => self.pair_fault(f)?,
        }
        Ok(())
    }

    fn pair_fault(&mut self, f: PairFault) -> Result<(), Violation> {
        let now = self.now;
        self.note_pair(format!("pair fault {f:?}"));
        match f {
            PairFault::Pause { ctl, duration } => {
                let until = now + duration;
                let pair = self.pair_mut();
                pair.stats.pauses += 1;
                let m = &mut pair.members[ctl];
                if m.role == Role::Down {
                    return Ok(());
                }
                m.paused_until = Some(m.paused_until.map_or(until, |t| t.max(until)));
                if pair.active == Some(ctl) {
                    // The active's whole loop stops: core, heartbeat, timers.
                    self.stall_until = Some(self.stall_until.map_or(until, |t| t.max(until)));
                }
                self.schedule_pair_at(until, PairEvent::Resume { ctl });
            }
            PairFault::Crash { ctl, down } => {
                let pair = self.pair_mut();
                pair.stats.crashes += 1;
                let m = &mut pair.members[ctl];
                if m.role == Role::Down {
                    return Ok(());
                }
                if pair.active == Some(ctl) {
                    self.step_down(ctl, "process crashed");
                }
                let m = &mut self.pair_mut().members[ctl];
                m.role = Role::Down;
                m.lease.lost();
                m.lease_id = None;
                m.incarnation += 1;
                let inc = m.incarnation;
                self.schedule_pair(down, PairEvent::Restart { ctl, inc });
            }
            PairFault::PartitionLease { ctl, duration } => {
                let pair = self.pair_mut();
                pair.stats.partitions += 1;
                pair.members[ctl].partitioned_until = Some(now + duration);
            }
            PairFault::DelayLease {
                ctl,
                extra,
                duration,
            } => {
                self.pair_mut().members[ctl].delayed_until = Some((now + duration, extra));
            }
            PairFault::Swact => {
                let Some(ctl) = self.pair_mut().active else {
                    return Ok(());
                };
                let other = 1 - ctl;
                let m = &self.pair_mut().members[other];
                if m.role != Role::Standby || m.paused(now) {
                    return Ok(());
                }
                self.pair_mut().stats.swacts += 1;
                self.pair_mut().swact_started = Some(now);
                // Stop acting first, then let the lease go; the standby watching the key asks at once.
                let lease = self.pair_mut().members[ctl].lease_id;
                self.step_down(ctl, "swact");
                if let (Some(lease), Some(d)) = (lease, self.lease_link_delay(ctl)) {
                    self.schedule_pair(d, PairEvent::RevokeArrives { lease });
                    self.arm_tick(other, d + Duration::from_millis(1));
                }
            }
            PairFault::Heal => {
                for m in &mut self.pair_mut().members {
                    m.partitioned_until = None;
                    m.delayed_until = None;
                }
            }
        }
        Ok(())
    }

    /// Pair mode with no controller acting.
    pub fn pair_acting(&self) -> bool {
        self.pair.as_ref().is_some_and(Pair::acting)
    }

    /// The controller whose host this is, in pair mode.
    pub fn pair_controller_of(&self, host: &str) -> Option<usize> {
        let i = *self.index.get(host)?;
        self.pair.as_ref()?.host_ctl(i)
    }
}
