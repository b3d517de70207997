//! The host watchdog (docs/node-supervision.md#watchdog): pets the hardware watchdog device so a
//! hung host is reset by the hardware, and lets it fire on purpose when the process monitor
//! reports the host's quorum lost.
//!
//! - Every `pet_interval` one byte is written to the device (any byte but `V` pets it).
//! - A clean stop writes `V` (the "magic close": the driver disarms instead of resetting).
//! - Quorum lost (a quorum process escalated): the reason is logged at once; if it still holds
//!   after `quorum_loss_delay`, petting stops (logged first) and the hardware resets the host.
//!   Quorum restored before that: petting goes on. On a locked host the loss is only logged:
//!   an operator is working on it.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Byte written to pet (anything but the magic `V`).
const PET: &[u8] = b"1";
/// The magic close.
const MAGIC_CLOSE: &[u8] = b"V";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchdogConfig {
    /// The watchdog device (default `/dev/watchdog`); tests use a file or a FIFO.
    pub device: PathBuf,
    /// Time between pets (default 1 s; well inside the hardware's timeout).
    pub pet_interval: Duration,
    /// How long a quorum loss may last before petting stops (default 60 s).
    pub quorum_loss_delay: Duration,
}

impl WatchdogConfig {
    pub fn new(device: impl Into<PathBuf>) -> WatchdogConfig {
        WatchdogConfig {
            device: device.into(),
            pet_interval: Duration::from_secs(1),
            quorum_loss_delay: Duration::from_secs(60),
        }
    }
}

/// Counters of the running watchdog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchdogStats {
    pub pets: u64,
    pub write_errors: u64,
    /// Petting stopped on quorum loss.
    pub stopped_for_quorum: bool,
}

/// A running watchdog. [`WatchdogHandle::stop`] disarms it; dropping the handle without stopping
/// leaves the device armed (what a crashed agent does: the hardware then resets the host).
pub struct WatchdogHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    stats: Arc<Mutex<WatchdogStats>>,
}

impl WatchdogHandle {
    pub fn stats(&self) -> WatchdogStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Clean stop: `V` is written and the device closed.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for WatchdogHandle {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Open the device and start petting. `quorum` carries the escalated quorum processes (empty:
/// quorum held); `locked` is the host's lock flag as the agent keeps it.
pub fn spawn(
    cfg: WatchdogConfig,
    quorum: watch::Receiver<Vec<String>>,
    locked: Arc<AtomicBool>,
) -> std::io::Result<WatchdogHandle> {
    // Write-only, never created: a missing device is a configuration error, not a new file.
    let device = std::fs::OpenOptions::new()
        .write(true)
        .open(&cfg.device)
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot open the watchdog {}: {e}", cfg.device.display()),
            )
        })?;
    let stats = Arc::new(Mutex::new(WatchdogStats::default()));
    let (stop_tx, stop_rx) = oneshot::channel();
    let task = tokio::spawn(run(cfg, device, quorum, locked, stats.clone(), stop_rx));
    Ok(WatchdogHandle {
        stop: Some(stop_tx),
        task: Some(task),
        stats,
    })
}

async fn run(
    cfg: WatchdogConfig,
    mut device: std::fs::File,
    mut quorum: watch::Receiver<Vec<String>>,
    locked: Arc<AtomicBool>,
    stats: Arc<Mutex<WatchdogStats>>,
    mut stop: oneshot::Receiver<()>,
) {
    let stat = |f: &dyn Fn(&mut WatchdogStats)| {
        if let Ok(mut s) = stats.lock() {
            f(&mut s);
        }
    };
    // When the current quorum loss began (None: quorum held, or only logged on a locked host).
    let mut lost_since: Option<Instant> = None;
    let mut petting = true;
    let mut next_pet = Instant::now();
    let mut quorum_open = true;
    let mut logged_locked = false;
    loop {
        let lost = quorum.borrow_and_update().clone();
        if lost.is_empty() {
            logged_locked = false;
            if lost_since.take().is_some() || !petting {
                tracing::warn!("watchdog: quorum restored, petting");
                petting = true;
                stat(&|s| s.stopped_for_quorum = false);
            }
        } else if lost_since.is_none() {
            if locked.load(Ordering::Relaxed) {
                // Logged once per loss; an unlock later starts the delay.
                if !logged_locked {
                    tracing::warn!(processes = ?lost, "watchdog: quorum lost on a locked host; only logged");
                    logged_locked = true;
                }
            } else {
                tracing::error!(processes = ?lost, delay_ms = cfg.quorum_loss_delay.as_millis() as u64,
                    "watchdog: quorum lost; petting stops after the delay unless it is restored");
                lost_since = Some(Instant::now());
            }
        }
        if let Some(since) = lost_since {
            if petting && since.elapsed() >= cfg.quorum_loss_delay {
                if locked.load(Ordering::Relaxed) {
                    tracing::warn!(processes = ?lost, "watchdog: host locked meanwhile; quorum loss only logged");
                    lost_since = None;
                } else {
                    tracing::error!(processes = ?lost,
                        "watchdog: quorum still lost; stopping the pets, the hardware watchdog will reset this host");
                    petting = false;
                    stat(&|s| s.stopped_for_quorum = true);
                }
            }
        }
        if petting && Instant::now() >= next_pet {
            match device.write_all(PET).and_then(|_| device.flush()) {
                Ok(()) => stat(&|s| s.pets += 1),
                Err(e) => {
                    stat(&|s| s.write_errors += 1);
                    tracing::error!(device = %cfg.device.display(), "watchdog: cannot pet: {e}");
                }
            }
            next_pet = Instant::now() + cfg.pet_interval;
        }
        let mut wake = next_pet;
        if let Some(since) = lost_since.filter(|_| petting) {
            wake = wake.min(since + cfg.quorum_loss_delay);
        }
        if !petting {
            wake = Instant::now() + cfg.pet_interval;
        }
        tokio::select! {
            _ = &mut stop => break,
            r = async {
                if quorum_open {
                    quorum.changed().await
                } else {
                    std::future::pending().await
                }
            } => {
                // The process monitor is gone: go on as the quorum last stood.
                quorum_open = r.is_ok();
            }
            _ = tokio::time::sleep_until(wake) => {}
        }
    }
    if let Err(e) = device.write_all(MAGIC_CLOSE).and_then(|_| device.flush()) {
        tracing::error!(device = %cfg.device.display(), "watchdog: cannot disarm on stop: {e}");
    } else {
        tracing::info!("watchdog: disarmed (clean stop)");
    }
}
