//! Invariants judged from parts of the world the core never sees: the simulated disks of the nodes
//! ([`node_side`]).

pub mod node_side;
