//! Invariants judged from parts of the world the core never sees: the simulated disks of the nodes
//! ([`node_side`]) and the controller's durable store across restarts ([`restart`]).

pub mod node_side;
pub mod restart;
