//! The networks a host is reached on.

use serde::{Deserialize, Serialize};

/// The heartbeat networks of a host. Management always exists; cluster is optional.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Mgmt,
    Cluster,
}

impl Network {
    pub const ALL: [Network; 2] = [Network::Mgmt, Network::Cluster];

    /// Position in [`Network::ALL`]: lets per-network state live in a `[T; 2]`.
    pub fn index(self) -> usize {
        match self {
            Network::Mgmt => 0,
            Network::Cluster => 1,
        }
    }
}

/// The networks protocol frames travel on: the two heartbeat networks and, optionally, the
/// pxeboot network (docs/protocol.md#the-pxeboot-network). Pxeboot carries alive reports, reboot
/// commands and their acks, never pulses: it is the way to reach a host whose management network
/// is broken without its BMC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolNetwork {
    Mgmt,
    Cluster,
    Pxeboot,
}

impl ProtocolNetwork {
    pub const ALL: [ProtocolNetwork; 3] = [
        ProtocolNetwork::Mgmt,
        ProtocolNetwork::Cluster,
        ProtocolNetwork::Pxeboot,
    ];

    /// Position in [`ProtocolNetwork::ALL`], for per-network arrays (`[T; 3]`). Management and
    /// cluster sit where [`Network::index`] puts them.
    pub fn index(self) -> usize {
        match self {
            ProtocolNetwork::Mgmt => 0,
            ProtocolNetwork::Cluster => 1,
            ProtocolNetwork::Pxeboot => 2,
        }
    }

    /// The heartbeat network this is, if it is one (pxeboot is not heartbeated).
    pub fn heartbeat(self) -> Option<Network> {
        match self {
            ProtocolNetwork::Mgmt => Some(Network::Mgmt),
            ProtocolNetwork::Cluster => Some(Network::Cluster),
            ProtocolNetwork::Pxeboot => None,
        }
    }

    /// The name operators know it by, as in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolNetwork::Mgmt => "mgmt",
            ProtocolNetwork::Cluster => "cluster",
            ProtocolNetwork::Pxeboot => "pxeboot",
        }
    }
}

impl From<Network> for ProtocolNetwork {
    fn from(n: Network) -> Self {
        match n {
            Network::Mgmt => ProtocolNetwork::Mgmt,
            Network::Cluster => ProtocolNetwork::Cluster,
        }
    }
}

impl PartialEq<Network> for ProtocolNetwork {
    fn eq(&self, other: &Network) -> bool {
        *self == ProtocolNetwork::from(*other)
    }
}

impl PartialEq<ProtocolNetwork> for Network {
    fn eq(&self, other: &ProtocolNetwork) -> bool {
        ProtocolNetwork::from(*self) == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all() {
        for (i, n) in Network::ALL.iter().enumerate() {
            assert_eq!(n.index(), i);
        }
        for (i, n) in ProtocolNetwork::ALL.iter().enumerate() {
            assert_eq!(n.index(), i);
        }
    }

    #[test]
    fn heartbeat_networks_keep_their_index_and_pxeboot_is_none() {
        for n in Network::ALL {
            let p = ProtocolNetwork::from(n);
            assert_eq!(p.index(), n.index());
            assert_eq!(p.heartbeat(), Some(n));
            assert_eq!(p, n);
        }
        assert_eq!(ProtocolNetwork::Pxeboot.heartbeat(), None);
    }
}
