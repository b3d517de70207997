//! The node's link and filesystem monitors as one task (docs/node-monitoring.md): it owns the sans-IO
//! policies (`steward_agent::LinkMonitor`, `steward_agent::FsMonitor`), feeds them the kernel's
//! link notifications and periodic filesystem samples, hands their reports to the agent's loop
//! (which sends them to every controller on every network) and writes their state to the status
//! board.

use crate::links::{resolve_ports, LinkEvents, LinkNote};
use crate::status::{self, StatusBoard};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_agent::{FsMonitor, FsSample, FsWatch, LinkMonitor, LinkWatch};
use steward_types::{FsState, LinkNetwork, MonitorEvent};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What the monitors watch. Empty (the default): no monitor task runs.
#[derive(Clone, Debug)]
pub struct MonitorsConfig {
    /// The interface carrying each network (a bond, a VLAN or a port).
    pub links: Vec<(LinkNetwork, String)>,
    /// Where sysfs is mounted; bonds and VLANs are resolved to their ports under it.
    pub sys_root: PathBuf,
    pub filesystems: Vec<FsWatch>,
    /// How often each filesystem is sampled.
    pub fs_period: Duration,
    /// How often every report is repeated to the controllers, changed or not.
    pub repeat: Duration,
    /// A lab machine has no links or filesystems of its own: these stand in for the kernel
    /// (`steward lab link-down …`). None: the real kernel.
    pub lab: Option<LabFaults>,
}

/// The links and filesystems of a simulated lab machine, which the lab's fault commands change:
/// every configured port is up and every filesystem healthy until a fault says otherwise. Shared
/// by the machine and every agent it boots, so a fault outlives a simulated reboot, as a pulled
/// cable would.
#[derive(Clone, Debug, Default)]
pub struct LabFaults {
    inner: Arc<LabFaultsInner>,
}

#[derive(Debug, Default)]
struct LabFaultsInner {
    state: Mutex<LabFaultSet>,
    changed: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct LabFaultSet {
    ports_down: BTreeSet<String>,
    filesystems: BTreeMap<String, FsState>,
}

impl LabFaults {
    fn with<T>(&self, f: impl FnOnce(&mut LabFaultSet) -> T) -> T {
        let mut g = self.inner.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// Cut (`up = false`) or restore a port.
    pub fn set_port(&self, port: &str, up: bool) {
        self.with(|s| {
            if up {
                s.ports_down.remove(port);
            } else {
                s.ports_down.insert(port.to_string());
            }
        });
        self.inner.changed.notify_one();
    }

    /// Put a mount point in `state` (`FsState::Ok` restores it).
    pub fn set_filesystem(&self, mount: &str, state: FsState) {
        self.with(|s| {
            if state.is_ok() {
                s.filesystems.remove(mount);
            } else {
                s.filesystems.insert(mount.to_string(), state);
            }
        });
        self.inner.changed.notify_one();
    }

    fn port_up(&self, port: &str) -> bool {
        self.with(|s| !s.ports_down.contains(port))
    }

    /// A sample that the policy judges as the fault set says.
    fn sample(&self, mount: &str) -> FsSample {
        let state = self.with(|s| s.filesystems.get(mount).copied());
        let healthy = FsSample::Mounted {
            read_only: false,
            free_space_pct: 50.0,
            free_inodes_pct: Some(50.0),
        };
        match state {
            None | Some(FsState::Ok) => healthy,
            Some(FsState::Missing) => FsSample::Missing,
            Some(FsState::ReadOnly) => FsSample::Mounted {
                read_only: true,
                free_space_pct: 50.0,
                free_inodes_pct: Some(50.0),
            },
            Some(FsState::SpaceLow) => FsSample::Mounted {
                read_only: false,
                free_space_pct: 0.0,
                free_inodes_pct: Some(50.0),
            },
            Some(FsState::InodesLow) => FsSample::Mounted {
                read_only: false,
                free_space_pct: 50.0,
                free_inodes_pct: Some(0.0),
            },
        }
    }
}

impl Default for MonitorsConfig {
    fn default() -> Self {
        MonitorsConfig {
            links: Vec::new(),
            sys_root: PathBuf::from("/sys"),
            filesystems: Vec::new(),
            fs_period: Duration::from_secs(15),
            repeat: Duration::from_secs(30),
            lab: None,
        }
    }
}

/// The monitors file (`steward node --monitors FILE`), TOML; see docs/config.md#node-monitors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    sys_root: Option<PathBuf>,
    fs_period_ms: Option<u64>,
    repeat_ms: Option<u64>,
    #[serde(default)]
    links: Links,
    #[serde(default)]
    filesystem: Vec<FsEntry>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Links {
    mgmt: Option<String>,
    cluster: Option<String>,
    oam: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FsEntry {
    mount: String,
    #[serde(default)]
    min_free_space_percent: f64,
    #[serde(default)]
    min_free_inodes_percent: f64,
}

impl MonitorsConfig {
    pub fn is_empty(&self) -> bool {
        self.links.is_empty() && self.filesystems.is_empty()
    }

    /// Parse a monitors file; the message names what is wrong.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut c = MonitorsConfig::default();
        if let Some(r) = f.sys_root {
            c.sys_root = r;
        }
        for (ms, slot) in [
            (f.fs_period_ms, &mut c.fs_period),
            (f.repeat_ms, &mut c.repeat),
        ] {
            match ms {
                Some(0) => return Err("fs_period_ms and repeat_ms must be > 0".into()),
                Some(ms) => *slot = Duration::from_millis(ms),
                None => {}
            }
        }
        for (net, name) in [
            (LinkNetwork::Mgmt, f.links.mgmt),
            (LinkNetwork::Cluster, f.links.cluster),
            (LinkNetwork::Oam, f.links.oam),
        ] {
            if let Some(name) = name {
                if name.is_empty() || name.len() > 15 || name.contains('/') {
                    return Err(format!(
                        "links.{}: {name:?} is not an interface name",
                        net.name()
                    ));
                }
                c.links.push((net, name));
            }
        }
        for e in f.filesystem {
            if !e.mount.starts_with('/') || e.mount.len() > steward_protocol::MAX_MOUNT {
                return Err(format!(
                    "filesystem mount {:?} must be an absolute path of at most {} bytes",
                    e.mount,
                    steward_protocol::MAX_MOUNT
                ));
            }
            for v in [e.min_free_space_percent, e.min_free_inodes_percent] {
                if !(0.0..=100.0).contains(&v) {
                    return Err(format!("{}: thresholds are percentages (0..=100)", e.mount));
                }
            }
            c.filesystems.push(FsWatch {
                mount: e.mount,
                min_free_space_pct: e.min_free_space_percent,
                min_free_inodes_pct: e.min_free_inodes_percent,
            });
        }
        Ok(c)
    }
}

/// Start the monitors; their reports arrive on `reports`. Must run inside a tokio runtime.
pub fn spawn(
    cfg: MonitorsConfig,
    board: StatusBoard,
    reports: mpsc::Sender<MonitorEvent>,
) -> JoinHandle<()> {
    tokio::spawn(run(cfg, board, reports))
}

async fn next_notes(events: &mut Option<LinkEvents>) -> std::io::Result<Vec<LinkNote>> {
    match events {
        Some(e) => e.next().await,
        None => std::future::pending().await,
    }
}

async fn run(cfg: MonitorsConfig, board: StatusBoard, reports: mpsc::Sender<MonitorEvent>) {
    let started = Instant::now();
    let now_ms = || started.elapsed().as_millis().min(u64::MAX as u128) as u64;
    let repeat_ms = cfg.repeat.as_millis().min(u64::MAX as u128) as u64;
    let watches: Vec<LinkWatch> = cfg
        .links
        .iter()
        .map(|(network, interface)| LinkWatch {
            network: *network,
            interface: interface.clone(),
            ports: resolve_ports(&cfg.sys_root, interface),
        })
        .collect();
    for w in &watches {
        tracing::info!(network = w.network.name(), interface = %w.interface, ports = ?w.ports, "link monitor");
    }
    let mut links = LinkMonitor::new(watches, repeat_ms);
    let mut fs = FsMonitor::new(cfg.filesystems.clone(), repeat_ms);
    let mut events = None;
    let lab = cfg.lab.clone();
    if let Some(lab) = &lab {
        let ports: Vec<String> = links.ports().map(str::to_string).collect();
        let mut out = Vec::new();
        for p in &ports {
            out.extend(links.observe(0, p, lab.port_up(p)));
        }
        out.extend(links.listed(0));
        for ev in out {
            if reports.send(ev).await.is_err() {
                return;
            }
        }
    }
    // With real links and no subscription (not yet, or it failed), try again at this time.
    let mut subscribe_at = (lab.is_none() && !cfg.links.is_empty()).then_some(0u64);
    let never = u64::MAX;
    let mut next_sample = if cfg.filesystems.is_empty() { never } else { 0 };
    loop {
        if subscribe_at.is_some_and(|t| now_ms() >= t) {
            match LinkEvents::subscribe().await {
                Ok(e) => {
                    events = Some(e);
                    subscribe_at = None;
                }
                Err(e) => {
                    tracing::error!(
                        "cannot subscribe to link changes (rtnetlink): {e}; again in 1 s"
                    );
                    subscribe_at = Some(now_ms() + 1000);
                }
            }
        }
        let due = [
            subscribe_at.unwrap_or(never),
            links.poll_timeout().unwrap_or(never),
            if cfg.filesystems.is_empty() {
                never
            } else {
                fs.poll_timeout()
            },
            next_sample,
        ]
        .into_iter()
        .min()
        .unwrap_or(never);
        let sleep = if due == never {
            Duration::from_secs(3600)
        } else {
            Duration::from_millis(due.saturating_sub(now_ms()))
        };
        let mut out = Vec::new();
        let lab_changed = async {
            match &lab {
                Some(l) => l.inner.changed.notified().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = lab_changed => {
                // A lab fault changed: the simulated kernel tells at once, as the real one does.
                let now = now_ms();
                if let Some(l) = &lab {
                    let ports: Vec<String> = links.ports().map(str::to_string).collect();
                    for p in &ports {
                        out.extend(links.observe(now, p, l.port_up(p)));
                    }
                }
                next_sample = next_sample.min(now);
            }
            r = next_notes(&mut events) => match r {
                Ok(notes) => {
                    let now = now_ms();
                    for note in notes {
                        out.extend(match note {
                            LinkNote::Link { name, running } => links.observe(now, &name, running),
                            LinkNote::Removed { name } => links.observe(now, &name, false),
                            LinkNote::DumpDone => links.listed(now),
                        });
                    }
                }
                Err(e) => {
                    // E.g. ENOBUFS after a burst of changes: some were lost, so subscribe and
                    // list again (the listing corrects every port).
                    tracing::warn!("link notifications failed ({e}); subscribing again");
                    events = None;
                    subscribe_at = Some(now_ms() + 200);
                }
            },
            _ = tokio::time::sleep(sleep) => {
                let now = now_ms();
                if now >= next_sample {
                    let mounts: Vec<String> = fs.watches().map(|w| w.mount.clone()).collect();
                    let samples = match &lab {
                        Some(l) => mounts.into_iter().map(|m| {
                            let s = l.sample(&m);
                            (m, s)
                        }).collect(),
                        // statvfs can hang on a dead filesystem: never on the runtime's thread.
                        None => tokio::task::spawn_blocking(move || {
                            mounts
                                .into_iter()
                                .map(|m| {
                                    let s = crate::fsmon::sample(std::path::Path::new(&m));
                                    (m, s)
                                })
                                .collect::<Vec<_>>()
                        })
                        .await
                        .unwrap_or_default(),
                    };
                    for (m, s) in samples {
                        out.extend(fs.observe(&m, s));
                    }
                    next_sample = now_ms() + cfg.fs_period.as_millis().min(u64::MAX as u128) as u64;
                }
                out.extend(links.handle_timeout(now));
                if !cfg.filesystems.is_empty() {
                    out.extend(fs.handle_timeout(now));
                }
            }
        }
        status::update(&board, |s| {
            s.links = links.status();
            s.filesystems = fs.status();
        });
        for ev in out {
            tracing::info!("monitor report: {ev:?}");
            if reports.send(ev).await.is_err() {
                return; // the agent stopped
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_monitors_file_parses_and_bad_values_are_named() {
        let c = MonitorsConfig::from_toml(
            r#"
            sys_root = "/tmp/sys"
            fs_period_ms = 500
            [links]
            mgmt = "bond0"
            oam = "eth3"
            [[filesystem]]
            mount = "/var/log"
            min_free_space_percent = 10
            "#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.links,
            vec![
                (LinkNetwork::Mgmt, "bond0".to_string()),
                (LinkNetwork::Oam, "eth3".to_string())
            ]
        );
        assert_eq!(c.fs_period, Duration::from_millis(500));
        assert_eq!(c.repeat, Duration::from_secs(30));
        assert_eq!(c.filesystems[0].min_free_space_pct, 10.0);
        for (bad, says) in [
            ("[links]\nmgmt = \"a/b\"", "links.mgmt"),
            ("[[filesystem]]\nmount = \"var\"", "absolute"),
            (
                "[[filesystem]]\nmount = \"/v\"\nmin_free_space_percent = 120",
                "percent",
            ),
            ("repeat_ms = 0", "> 0"),
            ("[links]\nstorage = \"eth0\"", "unknown field"),
        ] {
            let e = MonitorsConfig::from_toml(bad).err().unwrap_or_default();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
