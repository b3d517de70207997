//! Hardware inventory reported by each host's node agent, in the sysinv shapes:
//! `GET /v1/ihosts/{id}/icpus`, `/imemorys`, `/inodes`, `/idisks`, `/ports`.
//!
//! Every row has a `uuid` derived from the host's uuid, the kind of row and its index, so it is the
//! same on every request (steward keeps no inventory rows of its own). Disks show their whole size
//! as `available_mib`: steward does not partition them.
//!
//! The agent sends a summary (sockets, cores, threads, model; memory; up to 8 disks and ports); the
//! per-CPU list sysinv shows is expanded from it (CPU *n* = core *n* mod cores, thread *n* / cores;
//! cores spread evenly over sockets as NUMA nodes).

use serde::Serialize;
use std::collections::BTreeMap;
use steward_protocol::Inventory;

/// sysinv fields of a row that steward does not keep (hugepages, PCI addresses, …): present as
/// null, because sysinv's client reads every column it lists.
pub type NotKept = BTreeMap<&'static str, ()>;

fn not_kept(fields: &[&'static str]) -> NotKept {
    fields.iter().map(|f| (*f, ())).collect()
}

const MEMORY_NOT_KEPT: &[&str] = &[
    "platform_reserved_mib",
    "hugepages_configured",
    "vswitch_hugepages_size_mib",
    "vswitch_hugepages_nr",
    "vswitch_hugepages_avail",
    "vswitch_hugepages_reqd",
    "vm_hugepages_nr_4K",
    "vm_pending_as_percentage",
    "vm_hugepages_nr_2M",
    "vm_hugepages_avail_2M",
    "vm_hugepages_nr_2M_pending",
    "vm_hugepages_nr_1G",
    "vm_hugepages_avail_1G",
    "vm_hugepages_nr_1G_pending",
    "vm_hugepages_use_1G",
];
const DISK_NOT_KEPT: &[&str] = &["device_num", "device_path", "rpm"];
const PORT_NOT_KEPT: &[&str] = &["pciaddr", "dev_id", "numa_node", "dpdksupport", "pdevice"];

/// Where the API finds the latest inventory of a host (the controller's node link).
pub trait InventorySource: Send + Sync + 'static {
    /// The latest report of `host` and when it came (ms since the Unix epoch), if any.
    fn inventory(&self, host: &str) -> Option<(Inventory, u64)>;
}

/// A stable uuid for row `index` of `kind` on the host `host_uuid` (FNV-1a, 128 bits, mixed, with
/// the version nibble 8: "custom" in RFC 9562).
pub fn row_uuid(host_uuid: &str, kind: &str, index: usize) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in format!("{host_uuid}/{kind}/{index}").bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    // FNV alone changes few bits between neighbouring indexes: mix them over the whole value.
    for _ in 0..2 {
        h ^= h >> 67;
        h = h.wrapping_mul(0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645);
    }
    let h = (h & !(0xf << 76) | (0x8 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let x = format!("{h:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

#[derive(Serialize)]
pub struct ICpu {
    pub uuid: String,
    pub cpu: u32,
    pub core: u32,
    pub thread: u32,
    pub numa_node: u32,
    pub cpu_model: String,
    /// What the CPU is reserved for: steward reserves none (sysinv's `None`).
    pub allocated_function: &'static str,
    pub ihost_uuid: String,
}

#[derive(Serialize)]
pub struct IMemory {
    pub uuid: String,
    /// The NUMA node row (`/inodes`) this memory belongs to.
    pub inode_uuid: String,
    pub numa_node: u32,
    pub memtotal_mib: u64,
    pub memavail_mib: u64,
    pub ihost_uuid: String,
    #[serde(flatten)]
    pub not_kept: NotKept,
}

/// One NUMA node (sysinv's `inode`).
#[derive(Serialize)]
pub struct INode {
    pub uuid: String,
    pub numa_node: u32,
    pub ihost_uuid: String,
}

#[derive(Serialize)]
pub struct IDisk {
    pub uuid: String,
    pub device_node: String,
    pub device_type: &'static str,
    pub size_mib: u64,
    pub available_mib: u64,
    pub serial_id: String,
    pub ihost_uuid: String,
    #[serde(flatten)]
    pub not_kept: NotKept,
}

#[derive(Serialize)]
pub struct IPort {
    pub uuid: String,
    pub name: String,
    /// sysinv's port type: every port the agent reports is an Ethernet port.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub mac: String,
    pub speed: u32,
    pub link_up: bool,
    pub ihost_uuid: String,
    #[serde(flatten)]
    pub not_kept: NotKept,
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
                uuid: row_uuid(host_uuid, "cpu", n as usize),
                cpu: n,
                core,
                thread: n / cores,
                numa_node: (core / per_socket).min(sockets - 1),
                cpu_model: c.model.clone(),
                allocated_function: "None",
                ihost_uuid: host_uuid.to_string(),
            }
        })
        .collect()
}

pub fn memory(inv: &Inventory, host_uuid: &str) -> Vec<IMemory> {
    vec![IMemory {
        uuid: row_uuid(host_uuid, "memory", 0),
        inode_uuid: row_uuid(host_uuid, "node", 0),
        numa_node: 0,
        memtotal_mib: inv.memory.total_mib,
        memavail_mib: inv.memory.available_mib,
        ihost_uuid: host_uuid.to_string(),
        not_kept: not_kept(MEMORY_NOT_KEPT),
    }]
}

/// The NUMA nodes: one per socket (the memory summary is reported for the host as a whole and
/// shown on node 0).
pub fn nodes(inv: &Inventory, host_uuid: &str) -> Vec<INode> {
    (0..u32::from(inv.cpus.sockets.max(1)))
        .map(|n| INode {
            uuid: row_uuid(host_uuid, "node", n as usize),
            numa_node: n,
            ihost_uuid: host_uuid.to_string(),
        })
        .collect()
}

pub fn disks(inv: &Inventory, host_uuid: &str) -> Vec<IDisk> {
    inv.disks
        .iter()
        .enumerate()
        .map(|(i, d)| IDisk {
            uuid: row_uuid(host_uuid, "disk", i),
            device_node: format!("/dev/{}", d.device),
            device_type: if d.rotational { "HDD" } else { "SSD" },
            size_mib: d.size_mib,
            available_mib: d.size_mib,
            serial_id: d.serial.clone(),
            ihost_uuid: host_uuid.to_string(),
            not_kept: not_kept(DISK_NOT_KEPT),
        })
        .collect()
}

pub fn ports(inv: &Inventory, host_uuid: &str) -> Vec<IPort> {
    inv.ports
        .iter()
        .enumerate()
        .map(|(i, p)| IPort {
            uuid: row_uuid(host_uuid, "port", i),
            name: p.name.clone(),
            kind: "ethernet",
            mac: p
                .mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            speed: p.speed_mbps,
            link_up: p.link_up,
            ihost_uuid: host_uuid.to_string(),
            not_kept: not_kept(PORT_NOT_KEPT),
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

    #[test]
    fn row_uuids_are_stable_distinct_and_uuid_shaped() {
        let a = row_uuid("5eed1ab0-0000-4000-8000-000000000001", "cpu", 3);
        assert_eq!(
            a,
            row_uuid("5eed1ab0-0000-4000-8000-000000000001", "cpu", 3)
        );
        assert_ne!(
            a,
            row_uuid("5eed1ab0-0000-4000-8000-000000000002", "cpu", 3)
        );
        assert_ne!(
            a,
            row_uuid("5eed1ab0-0000-4000-8000-000000000001", "disk", 3)
        );
        let parsed = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
        assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122);
    }
}
