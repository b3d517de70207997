//! The machine under the agent: boot record, reboot, wipe, inventory. [`LinuxMachine`] is the
//! real host; a simulated host (steward-simhost) implements [`Machine`] over its simulated disk
//! and power.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use steward_protocol::{
    CpuSummary, Disk, Inventory, MemorySummary, Port, MAX_INVENTORY_ITEMS, MAX_NAME,
};

/// What the machine says about its current boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootInfo {
    /// Changes on every boot (the controller's proof that a reboot happened).
    pub boot_id: u64,
    /// Time since this boot.
    pub uptime: Duration,
}

/// The machine the agent runs on.
pub trait Machine: Send + Sync + 'static {
    fn boot(&self) -> BootInfo;
    /// Reboot (the agent has acked the command already). Called on a blocking thread (tokio
    /// `spawn_blocking`, inside the runtime); may not return.
    fn reboot(&self);
    /// Wipe the disk, then reboot. Called on a blocking thread, as `reboot`.
    fn wipe_disk(&self);
    fn inventory(&self) -> Inventory;
}

/// A real Linux host: boot id and uptime from /proc, inventory from /proc and /sys, reboot and
/// wipe by running configured commands.
#[derive(Clone, Debug)]
pub struct LinuxMachine {
    /// Program and arguments (default `systemctl reboot`).
    pub reboot_command: Vec<String>,
    /// Program and arguments run before the reboot on wipe-disk, after the agent erased the
    /// install disks' labels (`crate::safety`; default: none — configure it deliberately).
    pub wipe_command: Option<Vec<String>>,
    /// Root of /proc and /sys (default `/`; tests point it at a fake tree).
    pub root: PathBuf,
}

impl Default for LinuxMachine {
    fn default() -> Self {
        LinuxMachine {
            reboot_command: vec!["systemctl".into(), "reboot".into()],
            wipe_command: None,
            root: PathBuf::from("/"),
        }
    }
}

/// FNV-1a 64: a stable hash of the boot id text (std's hasher may change between releases).
fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel)).ok()
}

fn short(s: &str) -> String {
    let s = s.trim();
    let mut end = s.len().min(MAX_NAME);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn run(argv: &[String], what: &str) {
    let Some((prog, args)) = argv.split_first() else {
        tracing::error!("no {what} command configured");
        return;
    };
    match Command::new(prog).args(args).status() {
        Ok(s) if s.success() => {}
        Ok(s) => tracing::error!("{what} command {argv:?} exited with {s}"),
        Err(e) => tracing::error!("cannot run {what} command {argv:?}: {e}"),
    }
}

impl LinuxMachine {
    fn cpus(&self) -> CpuSummary {
        let text = read(&self.root, "proc/cpuinfo").unwrap_or_default();
        let mut threads = 0u16;
        let mut model = String::new();
        let mut sockets = std::collections::BTreeSet::new();
        let mut cores = std::collections::BTreeSet::new();
        let mut phys = String::new();
        for line in text.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            match k {
                "processor" => threads = threads.saturating_add(1),
                "model name" if model.is_empty() => model = v.to_string(),
                "physical id" => {
                    phys = v.to_string();
                    sockets.insert(v.to_string());
                }
                "core id" => {
                    cores.insert((phys.clone(), v.to_string()));
                }
                _ => {}
            }
        }
        // The wire allows 64 bytes of model name; cut at a character boundary.
        let mut cut = model.len().min(64);
        while !model.is_char_boundary(cut) {
            cut -= 1;
        }
        model.truncate(cut);
        CpuSummary {
            sockets: (sockets.len() as u16).max(1),
            cores: if cores.is_empty() {
                threads
            } else {
                cores.len() as u16
            },
            threads,
            model,
        }
    }

    fn memory(&self) -> MemorySummary {
        let text = read(&self.root, "proc/meminfo").unwrap_or_default();
        let kib = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|r| r.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        MemorySummary {
            total_mib: kib("MemTotal:") / 1024,
            available_mib: kib("MemAvailable:") / 1024,
        }
    }

    /// The names in `rel` (under the root) that `keep` accepts, sorted, at most as many as one
    /// inventory carries.
    fn entries(&self, rel: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join(rel))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| keep(n))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names.truncate(MAX_INVENTORY_ITEMS);
        names
    }

    fn disks(&self) -> Vec<Disk> {
        self.entries("sys/block", |n| {
            !n.starts_with("loop") && !n.starts_with("ram")
        })
        .into_iter()
        .map(|n| {
            let base = format!("sys/block/{n}");
            let sectors: u64 = read(&self.root, &format!("{base}/size"))
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            Disk {
                device: short(&n),
                size_mib: sectors / 2048,
                rotational: read(&self.root, &format!("{base}/queue/rotational"))
                    .is_some_and(|s| s.trim() == "1"),
                serial: short(
                    &read(&self.root, &format!("{base}/device/serial")).unwrap_or_default(),
                ),
            }
        })
        .collect()
    }

    fn ports(&self) -> Vec<Port> {
        self.entries("sys/class/net", |n| n != "lo")
            .into_iter()
            .map(|n| {
                let base = format!("sys/class/net/{n}");
                let mut mac = [0u8; 6];
                if let Some(text) = read(&self.root, &format!("{base}/address")) {
                    for (i, part) in text.trim().split(':').take(6).enumerate() {
                        mac[i] = u8::from_str_radix(part, 16).unwrap_or(0);
                    }
                }
                // `speed` reads -1 or fails on a link that is down.
                let speed = read(&self.root, &format!("{base}/speed"))
                    .and_then(|s| s.trim().parse::<i64>().ok())
                    .filter(|s| *s > 0)
                    .map_or(0, |s| s.min(u32::MAX as i64) as u32);
                Port {
                    name: short(&n),
                    mac,
                    speed_mbps: speed,
                    link_up: read(&self.root, &format!("{base}/operstate"))
                        .is_some_and(|s| s.trim() == "up"),
                }
            })
            .collect()
    }
}

impl Machine for LinuxMachine {
    fn boot(&self) -> BootInfo {
        let boot_id = read(&self.root, "proc/sys/kernel/random/boot_id")
            .map(|s| fnv1a64(s.trim().as_bytes()))
            .unwrap_or(0);
        let uptime = read(&self.root, "proc/uptime")
            .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map_or(Duration::ZERO, Duration::from_secs_f64);
        BootInfo { boot_id, uptime }
    }

    fn reboot(&self) {
        tracing::warn!("rebooting: {:?}", self.reboot_command);
        run(&self.reboot_command, "reboot");
    }

    fn wipe_disk(&self) {
        match &self.wipe_command {
            Some(w) => {
                tracing::warn!("wiping the disk: {w:?}");
                run(w, "wipe");
            }
            None => tracing::info!("wipe-disk: no wipe command configured; rebooting"),
        }
        self.reboot();
    }

    fn inventory(&self) -> Inventory {
        Inventory {
            cpus: self.cpus(),
            memory: self.memory(),
            disks: self.disks(),
            ports: self.ports(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_fake_tree() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let w = |p: &str, s: &str| {
            let p = d.path().join(p);
            let _ = std::fs::create_dir_all(p.parent().unwrap_or(d.path()));
            let _ = std::fs::write(p, s);
        };
        w("proc/sys/kernel/random/boot_id", "0f6c-11\n");
        w("proc/uptime", "123.45 99.0\n");
        w(
            "proc/cpuinfo",
            "processor\t: 0\nmodel name\t: Xeon\nphysical id\t: 0\ncore id\t: 0\n\nprocessor\t: 1\nmodel name\t: Xeon\nphysical id\t: 0\ncore id\t: 1\n",
        );
        w(
            "proc/meminfo",
            "MemTotal:       16384000 kB\nMemAvailable:    8192000 kB\n",
        );
        w("sys/block/sda/size", "2097152\n");
        w("sys/block/sda/queue/rotational", "1\n");
        w("sys/class/net/eth0/address", "52:54:00:12:34:56\n");
        w("sys/class/net/eth0/speed", "1000\n");
        w("sys/class/net/eth0/operstate", "up\n");
        let m = LinuxMachine {
            root: d.path().to_path_buf(),
            ..LinuxMachine::default()
        };
        let b = m.boot();
        assert_eq!(b.boot_id, fnv1a64(b"0f6c-11"));
        assert_eq!(b.uptime.as_secs(), 123);
        let inv = m.inventory();
        assert_eq!(
            (inv.cpus.sockets, inv.cpus.cores, inv.cpus.threads),
            (1, 2, 2)
        );
        assert_eq!(inv.cpus.model, "Xeon");
        assert_eq!(inv.memory.total_mib, 16000);
        assert_eq!(inv.disks[0].size_mib, 1024);
        assert!(inv.disks[0].rotational);
        assert_eq!(inv.ports[0].mac, [0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert!(inv.ports[0].link_up);
    }
}
