//! The host watchdog on a plain file standing in for /dev/watchdog (this kernel has no softdog):
//! pets while quorum holds, stops after the delay on quorum loss, only logs on a locked host,
//! writes the magic `V` on a clean stop.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use steward_node::watchdog::{self, WatchdogConfig, WatchdogHandle};
use tokio::sync::watch;

fn config(device: &Path) -> WatchdogConfig {
    WatchdogConfig {
        device: device.to_path_buf(),
        pet_interval: Duration::from_millis(10),
        quorum_loss_delay: Duration::from_millis(100),
    }
}

async fn pets_reach(w: &WatchdogHandle, n: u64) {
    while w.stats().pets < n {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn pets_then_stops_on_quorum_loss_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("watchdog");
    std::fs::write(&dev, "").unwrap();
    let (quorum_tx, quorum_rx) = watch::channel(Vec::<String>::new());
    let w = watchdog::spawn(config(&dev), quorum_rx, Arc::new(AtomicBool::new(false))).unwrap();
    pets_reach(&w, 3).await;
    quorum_tx.send_replace(vec!["sm".into()]);
    while !w.stats().stopped_for_quorum {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pets = w.stats().pets;
    let written = std::fs::read(&dev).unwrap();
    assert!(written.iter().all(|b| *b == b'1'));
    assert_eq!(written.len() as u64, pets);
    // No more pets while quorum stays lost.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(w.stats().pets, pets);
    assert!(std::fs::read(&dev).unwrap().len() as u64 == pets);
    // Restored: petting again.
    quorum_tx.send_replace(Vec::new());
    pets_reach(&w, pets + 2).await;
    w.stop().await;
    assert_eq!(std::fs::read(&dev).unwrap().last(), Some(&b'V'));
}

#[tokio::test]
async fn a_short_quorum_loss_never_stops_the_pets() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("watchdog");
    std::fs::write(&dev, "").unwrap();
    let mut cfg = config(&dev);
    cfg.quorum_loss_delay = Duration::from_secs(3600);
    let (quorum_tx, quorum_rx) = watch::channel(Vec::<String>::new());
    let w = watchdog::spawn(cfg, quorum_rx, Arc::new(AtomicBool::new(false))).unwrap();
    quorum_tx.send_replace(vec!["sm".into()]);
    let before = w.stats().pets;
    pets_reach(&w, before + 5).await;
    quorum_tx.send_replace(Vec::new());
    pets_reach(&w, before + 10).await;
    assert!(!w.stats().stopped_for_quorum);
}

#[tokio::test]
async fn a_locked_host_only_logs_the_quorum_loss() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("watchdog");
    std::fs::write(&dev, "").unwrap();
    let (quorum_tx, quorum_rx) = watch::channel(Vec::<String>::new());
    let w = watchdog::spawn(config(&dev), quorum_rx, Arc::new(AtomicBool::new(true))).unwrap();
    quorum_tx.send_replace(vec!["sm".into()]);
    // Well past the delay, still petting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pets = w.stats().pets;
    pets_reach(&w, pets + 3).await;
    assert!(!w.stats().stopped_for_quorum);
}

#[tokio::test]
async fn a_missing_device_is_an_error_not_a_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("nope");
    let (_tx, rx) = watch::channel(Vec::<String>::new());
    let err = watchdog::spawn(config(&dev), rx, Arc::new(AtomicBool::new(false)))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("cannot open the watchdog"));
    assert!(!dev.exists());
}
