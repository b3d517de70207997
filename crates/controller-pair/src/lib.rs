//! # steward-controller-pair — two controllers, one active
//!
//! The runtime that makes `steward controller --store etcd://…` one of a pair
//! (docs/controller-pair.md). Each controller campaigns for an etcd leader key bound to its lease;
//! the holder is **active**: it builds the controller ([`steward_wiring::ControllerBuilder`]) on
//! the shared store fenced by its lease, keeps the lease alive every TTL/3 and stops acting at
//! its acting deadline (send time of the last acknowledged keepalive + TTL − margin, on its own
//! monotonic clock) if the lease is not renewed. The other is **standby**: it keeps a lease of its
//! own ready, reloads a read-only mirror of the store, serves reads and refuses writes with 503
//! naming the active's URL. A swact ([`runtime::PairHandle::swact`], or the core's
//! `Effect::Swact`) steps the active down and revokes its lease, and the standby wins.
//!
//! | module | what |
//! |---|---|
//! | [`etcd`] | the five etcd calls of the election (JSON gateway) and the leader record |
//! | [`runtime`] | the role loop: standby ⇄ active |
//! | `front` | the API listener that serves the current role's routes |
//! | [`mirror`] | the standby's read-only view of the store |
//! | [`standby_heartbeat`] | the standby's own pulses, and the heartbeat seed of the active it becomes |
//!
//! The acting deadline is `steward_leadership::LeaseClock` (sans-IO).

pub mod etcd;
mod front;
pub mod mirror;
pub mod runtime;
pub mod standby_heartbeat;

pub use etcd::{endpoints_of, Etcd, LeaderRecord};
pub use front::ACTIVE_URL_HEADER;
pub use mirror::MirrorSpec;
pub use runtime::{Grant, Pair, PairHandle, PairSpec, Role, DEFAULT_LEADER_KEY, DEFAULT_TTL};
pub use standby_heartbeat::{StandbyPulseSpec, StandbySeen, DEFAULT_TAKEOVER_GRACE};
