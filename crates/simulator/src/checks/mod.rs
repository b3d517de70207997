//! Invariants judged from parts of the world the core never sees: the simulated disks of the nodes
//! ([`node_side`]), the controller's durable store across restarts ([`restart`]), the simulated
//! machines and BMCs a reinstall works on ([`reinstall`]) and the simulated pxeboot links
//! ([`pxeboot`]).

pub mod node_side;
pub mod pxeboot;
pub mod reinstall;
pub mod restart;
