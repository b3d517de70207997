//! The heartbeat service as the controller's [`HeartbeatLink`], with hosts' addresses taken from
//! their records: pulses go to each network's address at the agents' heartbeat port. Shared by
//! `steward controller` and the test lab so both provision peers the same way.

use crate::service::HeartbeatHandle;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use steward_controller::links::HeartbeatLink;
use steward_maintenance::host::HostSpec;
use steward_maintenance::io::HeartbeatControl;
use steward_maintenance::state::Network;

pub struct PulseLink {
    service: Arc<HeartbeatHandle>,
    node_port: u16,
}

impl PulseLink {
    /// `node_port`: the UDP port every agent answers pulses on. The service is shared so its
    /// counters stay readable (metrics) while the controller owns the link.
    pub fn new(service: Arc<HeartbeatHandle>, node_port: u16) -> PulseLink {
        PulseLink { service, node_port }
    }
}

impl HeartbeatLink for PulseLink {
    fn control(&mut self, host: Option<&str>, control: HeartbeatControl) {
        self.service.apply(host, control);
    }

    fn provision(&mut self, spec: &HostSpec) {
        for (network, ip) in [
            (Network::Mgmt, &spec.mgmt_ip),
            (Network::Cluster, &spec.cluster_ip),
        ] {
            if let Some(Ok(ip)) = ip.as_deref().map(str::parse::<IpAddr>) {
                self.service
                    .set_peer(&spec.name, network, SocketAddr::new(ip, self.node_port));
            }
        }
    }

    fn forget(&mut self, host: &str) {
        self.service.remove_peer(host);
    }
}
