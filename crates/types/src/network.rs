//! The networks a host is reached on.

use serde::{Deserialize, Serialize};

/// The networks a host is reached on. Management always exists; cluster is optional.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_the_position_in_all() {
        for (i, n) in Network::ALL.iter().enumerate() {
            assert_eq!(n.index(), i);
        }
    }
}
