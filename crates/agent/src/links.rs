//! Link monitor policy, sans-IO (docs/node-monitoring.md#links): which of a network's ports are down, and
//! the report the controller gets when that changes.
//!
//! The runtime resolves each configured interface to its physical ports once (a bond to its
//! members, a VLAN to its parent's ports) and feeds the kernel's link notifications in; this
//! module decides what they mean. A port counts as up only while the kernel says it is running
//! (carrier present and administratively up); a port the kernel never reported, or removed, is
//! down. Reports go out at once on a change and are repeated every `repeat_ms`, so a controller
//! that restarted, or missed one, learns the state again.

use serde::Serialize;
use steward_types::{LinkNetwork, MonitorEvent};

/// One monitored network: the configured interface and the ports it resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkWatch {
    pub network: LinkNetwork,
    /// As configured (a bond, a VLAN or a port).
    pub interface: String,
    /// Physical ports carrying it; never empty (a plain port is its own single member).
    pub ports: Vec<String>,
}

/// What the status socket shows for one port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortStatus {
    pub name: String,
    pub up: bool,
    /// Milliseconds on the monitor's clock of the last change (None: never seen).
    pub changed_ms: Option<u64>,
}

/// What the status socket shows for one network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LinkStatus {
    pub network: LinkNetwork,
    pub interface: String,
    pub ports: Vec<PortStatus>,
    pub down: u8,
}

#[derive(Debug)]
struct Watched {
    watch: LinkWatch,
    ports: Vec<PortStatus>,
    /// The `down` count last reported, so only a change is sent at once.
    reported: Option<u8>,
}

/// The link monitor's state for every configured network.
#[derive(Debug)]
pub struct LinkMonitor {
    nets: Vec<Watched>,
    repeat_ms: u64,
    next_repeat_ms: u64,
    /// The runtime's first full listing of the links has been seen: before it, a port not yet
    /// reported is unknown rather than down, and nothing is sent.
    started: bool,
}

/// Ports per interface are counted in a `u8` on the wire.
const MAX_PORTS: usize = u8::MAX as usize;

impl LinkMonitor {
    pub fn new(watches: Vec<LinkWatch>, repeat_ms: u64) -> Self {
        let nets = watches
            .into_iter()
            .map(|mut watch| {
                watch.ports.truncate(MAX_PORTS);
                let ports = watch
                    .ports
                    .iter()
                    .map(|p| PortStatus {
                        name: p.clone(),
                        up: false,
                        changed_ms: None,
                    })
                    .collect();
                Watched {
                    watch,
                    ports,
                    reported: None,
                }
            })
            .collect();
        LinkMonitor {
            nets,
            repeat_ms: repeat_ms.max(1),
            next_repeat_ms: 0,
            started: false,
        }
    }

    /// Every port name the monitor cares about (the runtime may filter notifications with it).
    pub fn ports(&self) -> impl Iterator<Item = &str> {
        self.nets
            .iter()
            .flat_map(|n| n.ports.iter().map(|p| p.name.as_str()))
    }

    /// The kernel says port `name` is running (`up`) or not; a removed port is `up = false`.
    /// Returns the reports for every network whose count of ports down changed.
    pub fn observe(&mut self, now_ms: u64, name: &str, up: bool) -> Vec<MonitorEvent> {
        for net in &mut self.nets {
            for p in net.ports.iter_mut().filter(|p| p.name == name) {
                if p.up != up || p.changed_ms.is_none() {
                    p.up = up;
                    p.changed_ms = Some(now_ms);
                }
            }
        }
        if self.started {
            self.changed_reports()
        } else {
            Vec::new()
        }
    }

    /// The runtime's initial listing is complete: every port it did not report is down. Returns
    /// the first report of every network.
    pub fn listed(&mut self, now_ms: u64) -> Vec<MonitorEvent> {
        self.started = true;
        self.next_repeat_ms = now_ms + self.repeat_ms;
        self.changed_reports()
    }

    /// When [`LinkMonitor::handle_timeout`] wants to run (None before the initial listing).
    pub fn poll_timeout(&self) -> Option<u64> {
        self.started.then_some(self.next_repeat_ms)
    }

    /// The periodic repeat: every network's report again, whether it changed or not.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Vec<MonitorEvent> {
        if !self.started || now_ms < self.next_repeat_ms {
            return Vec::new();
        }
        self.next_repeat_ms = now_ms + self.repeat_ms;
        for n in &mut self.nets {
            n.reported = None;
        }
        self.changed_reports()
    }

    pub fn status(&self) -> Vec<LinkStatus> {
        self.nets
            .iter()
            .map(|n| LinkStatus {
                network: n.watch.network,
                interface: n.watch.interface.clone(),
                ports: n.ports.clone(),
                down: down_count(&n.ports),
            })
            .collect()
    }

    fn changed_reports(&mut self) -> Vec<MonitorEvent> {
        let mut out = Vec::new();
        for n in &mut self.nets {
            let down = down_count(&n.ports);
            if n.reported == Some(down) {
                continue;
            }
            n.reported = Some(down);
            out.push(MonitorEvent::Link {
                network: n.watch.network,
                interface: n.watch.interface.clone(),
                down,
                ports: n.ports.len() as u8,
            });
        }
        out
    }
}

fn down_count(ports: &[PortStatus]) -> u8 {
    ports.iter().filter(|p| !p.up).count() as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor() -> LinkMonitor {
        LinkMonitor::new(
            vec![
                LinkWatch {
                    network: LinkNetwork::Mgmt,
                    interface: "bond0".into(),
                    ports: vec!["eth0".into(), "eth1".into()],
                },
                LinkWatch {
                    network: LinkNetwork::Cluster,
                    interface: "eth2".into(),
                    ports: vec!["eth2".into()],
                },
            ],
            30_000,
        )
    }

    fn link(network: LinkNetwork, interface: &str, down: u8, ports: u8) -> MonitorEvent {
        MonitorEvent::Link {
            network,
            interface: interface.into(),
            down,
            ports,
        }
    }

    #[test]
    fn nothing_is_sent_before_the_initial_listing_and_unlisted_ports_are_down() {
        let mut m = monitor();
        assert!(m.observe(0, "eth0", true).is_empty());
        assert!(m.observe(0, "eth2", true).is_empty());
        assert_eq!(
            m.listed(5),
            vec![
                link(LinkNetwork::Mgmt, "bond0", 1, 2),
                link(LinkNetwork::Cluster, "eth2", 0, 1)
            ]
        );
    }

    #[test]
    fn a_member_going_down_is_reported_at_once_and_only_on_change() {
        let mut m = monitor();
        for p in ["eth0", "eth1", "eth2"] {
            m.observe(0, p, true);
        }
        m.listed(0);
        assert_eq!(
            m.observe(10, "eth1", false),
            vec![link(LinkNetwork::Mgmt, "bond0", 1, 2)]
        );
        assert!(
            m.observe(11, "eth1", false).is_empty(),
            "no change, no report"
        );
        assert_eq!(
            m.observe(12, "eth0", false),
            vec![link(LinkNetwork::Mgmt, "bond0", 2, 2)]
        );
        assert_eq!(
            m.observe(13, "eth0", true),
            vec![link(LinkNetwork::Mgmt, "bond0", 1, 2)]
        );
        assert!(
            m.observe(14, "lo", false).is_empty(),
            "an unmonitored interface"
        );
        let s = m.status();
        assert_eq!(s[0].down, 1);
        assert_eq!(s[0].ports[1].changed_ms, Some(10));
    }

    #[test]
    fn every_network_is_repeated_each_period() {
        let mut m = monitor();
        m.listed(0);
        assert_eq!(m.poll_timeout(), Some(30_000));
        assert!(m.handle_timeout(29_999).is_empty());
        assert_eq!(m.handle_timeout(30_000).len(), 2);
        assert_eq!(m.poll_timeout(), Some(60_000));
    }
}
