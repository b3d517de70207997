//! The standby pulses too (docs/controller-pair.md#the-standby-pulses): while standby, a controller
//! runs a heartbeat service of its own — its own addresses, its own sender name, the store's current
//! epoch — pulsing every host of its read-only mirror (reloaded every mirror period), and records
//! which hosts answer. It never acts on what it sees: the service's sink is a callback that only
//! counts, and nothing here holds a core, a node link or a BMC. When the standby wins the lease,
//! what it saw becomes the new active's [`HeartbeatSeed`].
//!
//! Agents fence pulses per sender (`steward-protocol`'s verifier), so the standby's pulses, with
//! an epoch no newer than the active's, are answered alongside the active's and cannot fence them.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use steward_heartbeat_udp::{
    HeartbeatHandle, HeartbeatSeed, HeartbeatService, HeartbeatStats, HostSeen, ServiceConfig, Sink,
};
use steward_maintenance::config::Config;
use steward_maintenance::host::HostRecord;
use steward_maintenance::state::Network;
use steward_protocol::ClusterSecret;
use steward_wiring::ControllerBuilder;

/// The default takeover grace: for this long after it starts, the new active does not accuse a
/// host its standby self saw answering (ten default pulse periods, one loss threshold).
pub const DEFAULT_TAKEOVER_GRACE: Duration = Duration::from_secs(1);

/// How a standby pulses: the same addresses, ports and heartbeat settings as its active self.
#[derive(Clone)]
pub struct StandbyPulseSpec {
    /// The controller's hostname: the sender name of its pulses; its own host is not pulsed.
    pub name: String,
    /// One socket per network (the heartbeat port on the management and cluster addresses).
    pub bind: Vec<(Network, SocketAddr)>,
    /// The UDP port node agents answer pulses on.
    pub node_port: u16,
    pub secret: ClusterSecret,
    /// Period and thresholds (`[heartbeat]`).
    pub config: Config,
    /// See [`DEFAULT_TAKEOVER_GRACE`].
    pub takeover_grace: Duration,
}

impl StandbyPulseSpec {
    /// The standby's pulses as the active built by `builder` would send them.
    pub fn of(builder: &ControllerBuilder, secret: ClusterSecret) -> StandbyPulseSpec {
        let mut bind = vec![(
            Network::Mgmt,
            SocketAddr::new(builder.mgmt_bind.ip(), builder.heartbeat_port),
        )];
        if let Some(c) = builder.cluster_bind {
            bind.push((
                Network::Cluster,
                SocketAddr::new(c.ip(), builder.heartbeat_port),
            ));
        }
        StandbyPulseSpec {
            name: builder.hostname.clone(),
            bind,
            node_port: builder.node_heartbeat_port,
            secret,
            config: builder.config.clone(),
            takeover_grace: DEFAULT_TAKEOVER_GRACE,
        }
    }
}

/// What the standby saw, shared with [`crate::PairHandle::standby_heartbeat`].
#[derive(Clone, Debug, Default)]
pub struct StandbySeen {
    /// Per host and network, as of the last mirror reload (empty while active).
    pub hosts: Vec<HostSeen>,
    /// The standby service's counters (pulses sent, replies taken, drops).
    pub stats: HeartbeatStats,
}

/// The standby's pulse counters for its read-only `/metrics`, as
/// `steward_protocol_datagrams{link="standby_heartbeat", outcome="sent"|"accepted"|…}` (the
/// active's own are `link="heartbeat"`).
pub(crate) struct StandbyCounters(pub(crate) Arc<std::sync::Mutex<StandbySeen>>);

impl steward_api::LinkMetrics for StandbyCounters {
    fn samples(&self) -> Vec<steward_api::LinkSample> {
        let s = self.0.lock().map(|s| s.stats.clone()).unwrap_or_default();
        let sample = |outcome: &str, value| steward_api::LinkSample {
            link: "standby_heartbeat",
            outcome: outcome.into(),
            value,
        };
        let mut v = vec![sample("sent", s.pulses_sent), sample("accepted", s.replies)];
        for (d, count) in s.dropped.iter() {
            v.push(sample(d.as_str(), count));
        }
        v
    }
}

/// The running standby heartbeat service.
pub(crate) struct StandbyPulses {
    service: HeartbeatHandle,
    spec: StandbyPulseSpec,
    /// Hosts given to the service, with the addresses they were given with.
    known: std::collections::HashMap<String, [Option<SocketAddr>; 2]>,
    /// Events the service would have raised: counted, never delivered to anything.
    ignored: Arc<AtomicU64>,
}

impl StandbyPulses {
    pub(crate) fn start(spec: &StandbyPulseSpec, epoch: u64) -> Result<StandbyPulses, String> {
        let mut cfg = ServiceConfig::new(&spec.name, spec.bind.clone()).with_config(&spec.config);
        cfg.epoch = epoch.max(1);
        let ignored = Arc::new(AtomicU64::new(0));
        let count = ignored.clone();
        // The standby never acts on what it sees: its events go nowhere.
        let sink = Sink::callback(move |_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        let service = HeartbeatService::spawn(cfg, spec.secret.clone(), sink)
            .map_err(|e| format!("standby heartbeat not started: {e}"))?;
        Ok(StandbyPulses {
            service,
            spec: spec.clone(),
            known: Default::default(),
            ignored,
        })
    }

    /// Pulse every host of the mirror but this controller's own; forget the ones gone.
    pub(crate) fn follow(&mut self, hosts: &[HostRecord]) {
        let mut present = HashSet::new();
        for h in hosts {
            let name = &h.spec.name;
            if *name == self.spec.name {
                continue;
            }
            present.insert(name.clone());
            let addr = |ip: &Option<String>| {
                ip.as_deref()
                    .and_then(|ip| ip.parse::<IpAddr>().ok())
                    .map(|ip| SocketAddr::new(ip, self.spec.node_port))
            };
            let addrs = [addr(&h.spec.mgmt_ip), addr(&h.spec.cluster_ip)];
            if self.known.get(name) == Some(&addrs) {
                continue;
            }
            if self.known.contains_key(name) {
                // Changed addresses: start over with the new ones.
                self.service.remove_peer(name);
            }
            for network in Network::ALL {
                if let Some(a) = addrs[network.index()] {
                    self.service.set_peer(name, network, a);
                }
            }
            self.service.start(name);
            self.known.insert(name.clone(), addrs);
        }
        let gone: Vec<String> = self
            .known
            .keys()
            .filter(|h| !present.contains(*h))
            .cloned()
            .collect();
        for h in gone {
            self.service.remove_peer(&h);
            self.known.remove(&h);
        }
    }

    pub(crate) async fn seen(&self) -> StandbySeen {
        let mut hosts = self.service.observed().await;
        hosts.sort_by(|a, b| (&a.host, a.network).cmp(&(&b.host, b.network)));
        StandbySeen {
            hosts,
            stats: self.service.stats(),
        }
    }

    /// The new active's heartbeat seed, from what was seen until now.
    pub(crate) async fn seed(&self) -> HeartbeatSeed {
        let seen = self.service.observed().await;
        let cfg = ServiceConfig::new(&self.spec.name, Vec::new()).with_config(&self.spec.config);
        HeartbeatSeed::from_seen(&seen, &cfg.heartbeat, self.spec.takeover_grace)
    }

    /// Stop pulsing; the sockets are closed when this returns (the active binds the same ports).
    pub(crate) async fn stop(self) {
        tracing::debug!(
            ignored_events = self.ignored.load(Ordering::Relaxed),
            "standby heartbeat stopped"
        );
        self.service.shutdown().await;
    }
}
