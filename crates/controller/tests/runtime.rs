//! The runtime end to end on a real rig (`steward-testlab`): real time with scaled timers, a real
//! redb store in a temp dir, the real core, and real simulated hosts (node agent over UDP, Redfish
//! BMC, heartbeat) on loopback. Checks that operator actions complete, refusals come back with the
//! core's reason, and a restarted controller resumes from the store (write-ahead persistence).

use std::sync::Arc;
use std::time::Duration;
use steward_controller::*;
use steward_maintenance::{ActionOutcome, OperatorAction};
use steward_store::{RedbStore, Retention, SecretBox, Store};
use steward_testlab::{LabSpec, TestLab};

fn open(dir: &std::path::Path) -> Arc<dyn Store> {
    Arc::new(RedbStore::open(dir, Retention::default()).unwrap())
}

fn secrets() -> SecretBox {
    SecretBox::from_key([7; 32])
}

// Real sockets and real time: paused tokio time cannot drive the agents, so the timers are scaled
// instead and every wait polls with a generous bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_and_unlock_through_the_runtime_and_resume_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut lab = TestLab::start(open(dir.path()), secrets(), LabSpec::standard()).await;
    lab.wait_until_settled().await;
    let handle = lab.handle.clone();

    let refused = handle
        .request("controller-0", OperatorAction::Lock)
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .starts_with("Cannot lock the active controller"),
        "{refused}"
    );
    assert!(matches!(
        handle.request("nope", OperatorAction::Lock).await,
        Err(HandleError::UnknownHost(_))
    ));

    let lock = handle
        .request("worker-0", OperatorAction::Lock)
        .await
        .unwrap();
    let outcome = handle
        .wait(lock, Duration::from_millis(100), |_| {})
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::Completed);
    let w = handle.host("worker-0").await.unwrap().unwrap();
    assert_eq!(w.states.to_string(), "locked-disabled-online");
    assert!(handle
        .alarms()
        .await
        .unwrap()
        .iter()
        .any(|a| a.host == "worker-0" && a.id.code() == "200.001"));

    // Unlock, and stop the controller half way through: once the unlock is under way (admin
    // unlocked, the real agent told to reboot, the host not yet enabled). The toy model's fixed
    // 300 ms point is replaced by this observed state, which the real reboot makes last long
    // enough (boot delay) to be seen.
    let boot_before = lab.host("worker-0").status().boot_id;
    let unlock = handle
        .request("worker-0", OperatorAction::Unlock)
        .await
        .unwrap();
    lab.wait_until("worker-0 unlocking", |hosts| {
        hosts.iter().any(|h| {
            h.name() == "worker-0" && h.states.to_string().starts_with("unlocked-disabled")
        })
    })
    .await;
    lab.stop_controller().await;

    // A new controller on the same data dir resumes the unlock (the store is the only memory);
    // the machines kept running, as they do when a controller process dies.
    lab.start_controller(open(dir.path()), secrets()).await;
    let handle = lab.handle.clone();
    let outcome = handle
        .wait(unlock, Duration::from_millis(100), |_| {})
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::Completed);
    let w = handle.host("worker-0").await.unwrap().unwrap();
    assert_eq!(w.states.to_string(), "unlocked-enabled-available");
    // Real behaviour the toy model only pretended: the unlock rebooted the machine.
    assert_ne!(lab.host("worker-0").status().boot_id, boot_before);
    let events = handle.events(1000).await.unwrap();
    assert!(events.iter().any(|e| e.entry.text == "worker-0 unlock"));
    // Lookup by uuid works like lookup by name.
    let uuid = &lab.specs()[2].uuid;
    assert_eq!(handle.host(uuid).await.unwrap().unwrap().name(), "worker-0");
    lab.shutdown().await;
}
