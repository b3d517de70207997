//! What the REST API learns from the links: the agents' inventory and applied node settings (node
//! link), and datagram counters of the node link and the heartbeat service for `/metrics`.

use std::sync::Arc;
use steward_heartbeat_udp::HeartbeatHandle;
use steward_node_link::UdpNodeLink;

pub(crate) fn extras(
    node_link: UdpNodeLink,
    heartbeat: Arc<HeartbeatHandle>,
) -> steward_api::ApiExtras {
    steward_api::ApiExtras {
        inventory: Some(Arc::new(LinkInventory(node_link.clone()))),
        node_settings: Some(Arc::new(LinkInventory(node_link.clone()))),
        link_metrics: Some(Arc::new(LinkCounters {
            node: node_link,
            heartbeat,
        })),
    }
}

/// What the node link learned from the agents: inventory, applied node settings.
struct LinkInventory(UdpNodeLink);

impl steward_api::InventorySource for LinkInventory {
    fn inventory(&self, host: &str) -> Option<(steward_protocol::Inventory, u64)> {
        self.0.inventory(host).map(|r| (r.inventory, r.at_ms))
    }
}

impl steward_api::NodeSettingsSource for LinkInventory {
    fn host_settings(&self, host: &str) -> Option<(Option<u64>, Option<String>)> {
        self.0
            .settings_status(host)
            .1
            .map(|h| (h.reported, h.refused))
    }
}

/// Datagram counters of the node link and the heartbeat service, for `/metrics`.
struct LinkCounters {
    node: UdpNodeLink,
    heartbeat: Arc<HeartbeatHandle>,
}

impl steward_api::LinkMetrics for LinkCounters {
    fn samples(&self) -> Vec<steward_api::LinkSample> {
        use steward_api::LinkSample;
        let n = self.node.stats();
        let h = self.heartbeat.stats();
        let mut v = vec![
            LinkSample {
                link: "node",
                outcome: "accepted".into(),
                value: n.accepted,
            },
            LinkSample {
                link: "node",
                outcome: "sent".into(),
                value: n.sent,
            },
            LinkSample {
                link: "heartbeat",
                outcome: "accepted".into(),
                value: h.replies,
            },
            LinkSample {
                link: "heartbeat",
                outcome: "sent".into(),
                value: h.pulses_sent,
            },
            LinkSample {
                link: "heartbeat",
                outcome: "wrong_network".into(),
                value: h.dropped_wrong_network,
            },
            LinkSample {
                link: "heartbeat",
                outcome: "unexpected_kind".into(),
                value: h.dropped_unexpected_kind,
            },
        ];
        for (d, count) in n.drops {
            v.push(LinkSample {
                link: "node",
                outcome: d.as_str().into(),
                value: count,
            });
        }
        for (d, count) in h.dropped.iter() {
            v.push(LinkSample {
                link: "heartbeat",
                outcome: d.as_str().into(),
                value: count,
            });
        }
        v
    }
}
