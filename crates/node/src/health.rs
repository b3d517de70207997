//! Configuration health from marker files and a LUKS check command (docs/node-supervision.md#flags).
//! What is observed here feeds only the configured/healthy/subfunction/LUKS flags; the node's
//! monitors never do.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use steward_agent::ConfigHealth;
use tokio::task::JoinHandle;

/// Where the configuration system leaves its markers. Every one is optional: unset keeps the
/// agent's answer without markers (configured, healthy, subfunction configured, LUKS fine).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthMarkers {
    /// Present once the initial configuration completed (StarlingX:
    /// `/etc/platform/.initial_config_complete`).
    pub configured: Option<PathBuf>,
    /// Present when the configuration passed (`/var/run/.config_pass`).
    pub config_pass: Option<PathBuf>,
    /// Present when the configuration failed (`/var/run/.config_fail`).
    pub config_fail: Option<PathBuf>,
    /// Present once the worker subfunction is configured, on all-in-one hosts
    /// (`/var/run/.worker_config_complete`).
    pub subf_configured: Option<PathBuf>,
    /// Shell command checking the encrypted volume; a non-zero exit is a LUKS failure.
    pub luks_check: Option<String>,
    /// Period of the LUKS check (default 60 s).
    pub luks_check_period: Duration,
}

impl HealthMarkers {
    pub fn none() -> HealthMarkers {
        HealthMarkers {
            luks_check_period: Duration::from_secs(60),
            ..HealthMarkers::default()
        }
    }

    /// The health as the files show it now, with the last LUKS result.
    pub fn observe(&self, luks_failed: bool) -> ConfigHealth {
        let present = |p: &Option<PathBuf>, unset: bool| p.as_ref().map_or(unset, |p| p.exists());
        ConfigHealth {
            configured: present(&self.configured, true),
            passed: present(&self.config_pass, true),
            failed: present(&self.config_fail, false),
            subf_configured: present(&self.subf_configured, true),
            luks_failed,
        }
    }
}

/// The LUKS check, run every period; its last result in `failed`. Aborted when dropped.
pub struct LuksCheck {
    pub failed: Arc<AtomicBool>,
    task: Option<JoinHandle<()>>,
}

impl LuksCheck {
    /// Start checking (nothing to run: never failed).
    pub fn spawn(markers: &HealthMarkers) -> LuksCheck {
        let failed = Arc::new(AtomicBool::new(false));
        let task = markers.luks_check.clone().map(|cmd| {
            let failed = failed.clone();
            let period = markers.luks_check_period.max(Duration::from_secs(1));
            tokio::spawn(async move {
                loop {
                    let (ok, detail) = crate::pmon::run_shell(&cmd, Duration::from_secs(30)).await;
                    let was_failed = failed.swap(!ok, Ordering::Relaxed);
                    if was_failed == ok {
                        if ok {
                            tracing::info!("LUKS check passes again");
                        } else {
                            tracing::error!("LUKS check failed: {detail}");
                        }
                    }
                    tokio::time::sleep(period).await;
                }
            })
        });
        LuksCheck { failed, task }
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }
}

impl Drop for LuksCheck {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_markers_keep_the_old_answer_and_set_ones_follow_the_files() {
        assert_eq!(
            HealthMarkers::none().observe(false),
            ConfigHealth::default()
        );
        let dir = tempfile::tempdir().unwrap();
        let m = HealthMarkers {
            configured: Some(dir.path().join("config_complete")),
            config_pass: Some(dir.path().join(".config_pass")),
            config_fail: Some(dir.path().join(".config_fail")),
            subf_configured: Some(dir.path().join(".worker_config_complete")),
            ..HealthMarkers::none()
        };
        let h = m.observe(false);
        assert!(!h.configured && !h.passed && !h.failed && !h.subf_configured);
        for f in ["config_complete", ".config_pass", ".worker_config_complete"] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        assert_eq!(m.observe(false), ConfigHealth::default());
        std::fs::write(dir.path().join(".config_fail"), "").unwrap();
        assert!(m.observe(true).failed && m.observe(true).luks_failed);
    }
}
