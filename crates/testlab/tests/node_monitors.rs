//! The lab's link and filesystem faults end to end (docs/node-monitoring.md#lab-faults): a port cut on a
//! host's simulated kernel reaches its agent's link monitor, the report crosses the real node link,
//! and the controller raises the link alarm and degrades the host; restoring it clears both. The
//! same for a filesystem turned read-only.

use std::sync::Arc;
use std::time::Duration;
use steward_maintenance::alarm::{AlarmId, Severity};
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{LabSpec, TestLab};
use steward_types::FsState;

async fn alarm(lab: &TestLab, id: AlarmId) -> Option<Severity> {
    let alarms = lab.handle.alarms().await.unwrap_or_default();
    alarms
        .iter()
        .find(|a| a.id == id && a.host == "worker-0")
        .map(|a| a.severity)
}

/// Until worker-0 has alarm `id` at `want` (20 s: a bound on a hung rig, not a timing assertion).
async fn wait_alarm(lab: &TestLab, id: AlarmId, want: Option<Severity>) {
    for _ in 0..2000 {
        if alarm(lab, id).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("alarm {id} of worker-0 never became {want:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_port_and_a_read_only_filesystem_raise_and_clear_their_alarms() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let spec = LabSpec {
        monitors: true,
        ..LabSpec::standard()
    };
    let lab = TestLab::start(store, SecretBox::from_key([9; 32]), spec).await;
    lab.wait_until_settled().await;
    let faults = lab
        .host("worker-0")
        .lab_faults()
        .expect("the rig runs the lab's monitors")
        .clone();

    faults.set_port("eth0", false);
    wait_alarm(&lab, AlarmId::MgmtInterface, Some(Severity::Critical)).await;
    assert_eq!(alarm(&lab, AlarmId::MgmtPort).await, Some(Severity::Major));
    lab.wait_until("worker-0 degraded", |hosts| {
        hosts
            .iter()
            .any(|h| h.name() == "worker-0" && h.states.avail.as_str() == "degraded")
    })
    .await;
    faults.set_port("eth0", true);
    wait_alarm(&lab, AlarmId::MgmtInterface, None).await;
    assert_eq!(alarm(&lab, AlarmId::MgmtPort).await, None);

    faults.set_filesystem("/var/log", FsState::ReadOnly);
    wait_alarm(&lab, AlarmId::Filesystem, Some(Severity::Critical)).await;
    faults.set_filesystem("/var/log", FsState::Ok);
    wait_alarm(&lab, AlarmId::Filesystem, None).await;
    lab.wait_until("worker-0 available again", |hosts| {
        hosts
            .iter()
            .any(|h| h.name() == "worker-0" && h.states.avail.as_str() == "available")
    })
    .await;
    lab.shutdown().await;
}
