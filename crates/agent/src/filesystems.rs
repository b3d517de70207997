//! Filesystem monitor policy, sans-IO (docs/node-monitoring.md#filesystems): what a sample of one mount
//! point means, and the report the controller gets when that changes.
//!
//! The runtime samples every configured mount point periodically (is it mounted, read-only, how
//! much space and how many inodes are free) and feeds the samples in. Like the link monitor, a
//! report goes out at once on a change and every report is repeated each `repeat_ms`.

use serde::Serialize;
use steward_types::{FsState, MonitorEvent};

/// One configured mount point.
#[derive(Clone, Debug, PartialEq)]
pub struct FsWatch {
    pub mount: String,
    /// Fault when free space falls below this share of the filesystem, in percent (0: off).
    pub min_free_space_pct: f64,
    /// Fault when free inodes fall below this share, in percent (0: off).
    pub min_free_inodes_pct: f64,
}

/// One observation of a mount point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FsSample {
    /// The path does not exist or is not a mount point.
    Missing,
    Mounted {
        read_only: bool,
        /// Free space available to unprivileged users, in percent of the filesystem.
        free_space_pct: f64,
        /// Free inodes, in percent; None when the filesystem has no inode limit.
        free_inodes_pct: Option<f64>,
    },
}

/// What the status socket shows for one mount point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FsStatus {
    pub mount: String,
    pub state: FsState,
    pub free_space_pct: Option<f64>,
    pub free_inodes_pct: Option<f64>,
}

/// The worst thing a sample shows against its thresholds.
pub fn evaluate(watch: &FsWatch, sample: FsSample) -> FsState {
    match sample {
        FsSample::Missing => FsState::Missing,
        FsSample::Mounted {
            read_only: true, ..
        } => FsState::ReadOnly,
        FsSample::Mounted {
            free_space_pct,
            free_inodes_pct,
            ..
        } => {
            if free_space_pct < watch.min_free_space_pct {
                FsState::SpaceLow
            } else if free_inodes_pct.is_some_and(|i| i < watch.min_free_inodes_pct) {
                FsState::InodesLow
            } else {
                FsState::Ok
            }
        }
    }
}

#[derive(Debug)]
struct Watched {
    watch: FsWatch,
    status: Option<FsStatus>,
    reported: Option<FsState>,
}

/// The filesystem monitor's state for every configured mount point.
#[derive(Debug)]
pub struct FsMonitor {
    mounts: Vec<Watched>,
    repeat_ms: u64,
    next_repeat_ms: u64,
}

impl FsMonitor {
    pub fn new(watches: Vec<FsWatch>, repeat_ms: u64) -> Self {
        FsMonitor {
            mounts: watches
                .into_iter()
                .map(|watch| Watched {
                    watch,
                    status: None,
                    reported: None,
                })
                .collect(),
            repeat_ms: repeat_ms.max(1),
            next_repeat_ms: repeat_ms,
        }
    }

    pub fn watches(&self) -> impl Iterator<Item = &FsWatch> {
        self.mounts.iter().map(|m| &m.watch)
    }

    /// A new sample of `mount`; the report if its state changed (or was never reported).
    pub fn observe(&mut self, mount: &str, sample: FsSample) -> Option<MonitorEvent> {
        let m = self.mounts.iter_mut().find(|m| m.watch.mount == mount)?;
        let state = evaluate(&m.watch, sample);
        let (space, inodes) = match sample {
            FsSample::Missing => (None, None),
            FsSample::Mounted {
                free_space_pct,
                free_inodes_pct,
                ..
            } => (Some(free_space_pct), free_inodes_pct),
        };
        m.status = Some(FsStatus {
            mount: mount.to_string(),
            state,
            free_space_pct: space,
            free_inodes_pct: inodes,
        });
        if m.reported == Some(state) {
            return None;
        }
        m.reported = Some(state);
        Some(MonitorEvent::Filesystem {
            mount: mount.to_string(),
            state,
        })
    }

    pub fn poll_timeout(&self) -> u64 {
        self.next_repeat_ms
    }

    /// The periodic repeat of every mount point's last state.
    pub fn handle_timeout(&mut self, now_ms: u64) -> Vec<MonitorEvent> {
        if now_ms < self.next_repeat_ms {
            return Vec::new();
        }
        self.next_repeat_ms = now_ms + self.repeat_ms;
        self.mounts
            .iter()
            .filter_map(|m| {
                m.reported.map(|state| MonitorEvent::Filesystem {
                    mount: m.watch.mount.clone(),
                    state,
                })
            })
            .collect()
    }

    pub fn status(&self) -> Vec<FsStatus> {
        self.mounts
            .iter()
            .map(|m| {
                m.status.clone().unwrap_or(FsStatus {
                    mount: m.watch.mount.clone(),
                    state: FsState::Ok,
                    free_space_pct: None,
                    free_inodes_pct: None,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch() -> FsWatch {
        FsWatch {
            mount: "/var/log".into(),
            min_free_space_pct: 10.0,
            min_free_inodes_pct: 5.0,
        }
    }

    fn mounted(read_only: bool, space: f64, inodes: Option<f64>) -> FsSample {
        FsSample::Mounted {
            read_only,
            free_space_pct: space,
            free_inodes_pct: inodes,
        }
    }

    #[test]
    fn the_worst_finding_wins() {
        let w = watch();
        assert_eq!(evaluate(&w, FsSample::Missing), FsState::Missing);
        assert_eq!(
            evaluate(&w, mounted(true, 1.0, Some(1.0))),
            FsState::ReadOnly
        );
        assert_eq!(
            evaluate(&w, mounted(false, 9.9, Some(1.0))),
            FsState::SpaceLow
        );
        assert_eq!(
            evaluate(&w, mounted(false, 50.0, Some(4.9))),
            FsState::InodesLow
        );
        assert_eq!(evaluate(&w, mounted(false, 50.0, None)), FsState::Ok);
        assert_eq!(evaluate(&w, mounted(false, 10.0, Some(5.0))), FsState::Ok);
        let off = FsWatch {
            min_free_space_pct: 0.0,
            min_free_inodes_pct: 0.0,
            ..w
        };
        assert_eq!(evaluate(&off, mounted(false, 0.0, Some(0.0))), FsState::Ok);
    }

    #[test]
    fn reports_on_change_and_repeats_each_period() {
        let mut m = FsMonitor::new(vec![watch()], 30_000);
        let ok = mounted(false, 50.0, Some(50.0));
        let ev = |state| MonitorEvent::Filesystem {
            mount: "/var/log".into(),
            state,
        };
        assert_eq!(m.observe("/var/log", ok), Some(ev(FsState::Ok)));
        assert_eq!(m.observe("/var/log", ok), None);
        assert_eq!(
            m.observe("/var/log", mounted(true, 50.0, Some(50.0))),
            Some(ev(FsState::ReadOnly))
        );
        assert_eq!(m.observe("/elsewhere", FsSample::Missing), None);
        assert!(m.handle_timeout(29_999).is_empty());
        assert_eq!(m.handle_timeout(30_000), vec![ev(FsState::ReadOnly)]);
        assert_eq!(m.status()[0].state, FsState::ReadOnly);
    }
}
