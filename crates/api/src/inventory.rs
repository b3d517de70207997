//! Hardware inventory reported by each host's node agent, in the sysinv shapes:
//! `GET /v1/ihosts/{id}/icpus`, `/imemorys`, `/idisks`, `/ports`.
//!
//! The agent sends a summary (sockets, cores, threads, model; memory; up to 8 disks and ports); the
//! per-CPU list sysinv shows is expanded from it (CPU *n* = core *n* mod cores, thread *n* / cores;
//! cores spread evenly over sockets as NUMA nodes).

use serde::Serialize;
use steward_protocol::Inventory;

/// Where the API finds the latest inventory of a host (the controller's node link).
pub trait InventorySource: Send + Sync + 'static {
    /// The latest report of `host` and when it came (ms since the Unix epoch), if any.
    fn inventory(&self, host: &str) -> Option<(Inventory, u64)>;
}

#[derive(Serialize)]
pub struct ICpu {
    pub cpu: u32,
    pub core: u32,
    pub thread: u32,
    pub numa_node: u32,
    pub cpu_model: String,
    pub ihost_uuid: String,
}

#[derive(Serialize)]
pub struct IMemory {
    pub numa_node: u32,
    pub memtotal_mib: u64,
    pub memavail_mib: u64,
    pub ihost_uuid: String,
}

#[derive(Serialize)]
pub struct IDisk {
    pub device_node: String,
    pub device_type: &'static str,
    pub size_mib: u64,
    pub serial_id: String,
    pub ihost_uuid: String,
}

#[derive(Serialize)]
pub struct IPort {
    pub name: String,
    pub mac: String,
    pub speed: u32,
    pub link_up: bool,
    pub ihost_uuid: String,
}

pub fn cpus(inv: &Inventory, host_uuid: &str) -> Vec<ICpu> {
    let c = &inv.cpus;
    let cores = u32::from(c.cores.max(1));
    let sockets = u32::from(c.sockets.max(1));
    let per_socket = (cores / sockets).max(1);
    (0..u32::from(c.threads.max(c.cores)))
        .map(|n| {
            let core = n % cores;
            ICpu {
                cpu: n,
                core,
                thread: n / cores,
                numa_node: (core / per_socket).min(sockets - 1),
                cpu_model: c.model.clone(),
                ihost_uuid: host_uuid.to_string(),
            }
        })
        .collect()
}

pub fn memory(inv: &Inventory, host_uuid: &str) -> Vec<IMemory> {
    vec![IMemory {
        numa_node: 0,
        memtotal_mib: inv.memory.total_mib,
        memavail_mib: inv.memory.available_mib,
        ihost_uuid: host_uuid.to_string(),
    }]
}

pub fn disks(inv: &Inventory, host_uuid: &str) -> Vec<IDisk> {
    inv.disks
        .iter()
        .map(|d| IDisk {
            device_node: format!("/dev/{}", d.device),
            device_type: if d.rotational { "HDD" } else { "SSD" },
            size_mib: d.size_mib,
            serial_id: d.serial.clone(),
            ihost_uuid: host_uuid.to_string(),
        })
        .collect()
}

pub fn ports(inv: &Inventory, host_uuid: &str) -> Vec<IPort> {
    inv.ports
        .iter()
        .map(|p| IPort {
            name: p.name.clone(),
            mac: p
                .mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            speed: p.speed_mbps,
            link_up: p.link_up,
            ihost_uuid: host_uuid.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_protocol::{CpuSummary, MemorySummary};

    #[test]
    fn cpus_expand_over_cores_threads_and_sockets() {
        let inv = Inventory {
            cpus: CpuSummary {
                sockets: 2,
                cores: 4,
                threads: 8,
                model: "m".into(),
            },
            memory: MemorySummary::default(),
            disks: vec![],
            ports: vec![],
        };
        let v = cpus(&inv, "u");
        assert_eq!(v.len(), 8);
        let t: Vec<_> = v.iter().map(|c| (c.core, c.thread, c.numa_node)).collect();
        assert_eq!(t[0], (0, 0, 0));
        assert_eq!(t[3], (3, 0, 1));
        assert_eq!(t[4], (0, 1, 0));
        assert_eq!(t[7], (3, 1, 1));
    }
}
