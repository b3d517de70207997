//! Reinstall by virtual media in the lab, end to end: the real controller reinstalls a locked
//! simulated worker through its simulated Redfish BMC, from the lab's placeholder image served by
//! the controller's own image server (docs/handlers.md#reinstall, the lab note). The BMC mounts
//! the image by reading it, the machine booted once from the virtual CD comes back as a new
//! install, and the controller sees every install stage on the way.
//!
//! Judged from the machine itself (its disk, boot id, install record, its BMC's virtual CD), not
//! from the controller's view. And the failing case: an image URL nothing serves never mounts; the
//! reinstall fails with the critical 200.022 log naming the reason, and the machine is left locked,
//! powered off, with nothing inserted.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_controller::feed::FeedItem;
use steward_maintenance::action::{ActionOutcome, OperatorAction};
use steward_maintenance::host::{InstallMethod, InstallSpec, InstallState};
use steward_maintenance::state::{AdminState, PowerState};
use steward_simhost::lab::{write_lab_image, LAB_IMAGE};
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{LabSpec, TestLab};
use steward_wiring::image_server::{serve_images, ImageServerOptions};

/// Install progress as published: (install_state, install_state_info), in order.
type Progress = Arc<Mutex<Vec<(Option<InstallState>, String)>>>;

/// Every install progress the controller published for `host`, in order.
fn record_progress(lab: &TestLab, host: &'static str) -> Progress {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut sub = lab.handle.feed().subscribe(None);
    let out = seen.clone();
    tokio::spawn(async move {
        loop {
            match sub.live.recv().await {
                Ok(entry) => {
                    if let FeedItem::Host(h) = &entry.item {
                        if h.record.name() == host {
                            let p = &h.record.install;
                            let mut v = out.lock().unwrap();
                            if v.last() != Some(&(p.state, p.info.clone())) {
                                v.push((p.state, p.info.clone()));
                            }
                        }
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    out.lock()
                        .unwrap()
                        .push((None, format!("feed lagged by {n}")));
                }
                Err(_) => return,
            }
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_reinstall_by_virtual_media_installs_the_worker_afresh_and_fails_cleanly() {
    let images = tempfile::tempdir().unwrap();
    write_lab_image(images.path()).unwrap();
    let served = serve_images(ImageServerOptions {
        dir: images.path().to_path_buf(),
        bind: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .expect("image server");
    let image = served.url_of(LAB_IMAGE);
    // A port nothing listens on: taken and let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = format!("http://{closed}/images/{LAB_IMAGE}");

    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let spec = LabSpec {
        hosts: vec!["controller-0".into(), "worker-0".into(), "worker-1".into()],
        // Timers 10× faster: the mount wait is 12 s, a BMC request has 6 s.
        scale: 10,
        ..LabSpec::standard()
    };
    let lab = TestLab::start(store, SecretBox::from_key([9; 32]), spec).await;
    lab.wait_until_settled().await;
    let handle = lab.handle.clone();
    for (name, url) in [("worker-0", &image), ("worker-1", &unreachable)] {
        handle
            .set_install(
                name,
                InstallSpec {
                    image: Some(url.clone()),
                    method: Some(InstallMethod::VirtualMedia),
                },
            )
            .await
            .unwrap();
        let id = handle.request(name, OperatorAction::Lock).await.unwrap();
        let outcome = handle
            .wait(id, Duration::from_millis(20), |_| {})
            .await
            .unwrap();
        assert_eq!(outcome, ActionOutcome::Completed, "lock {name}");
    }

    // ---- worker-0: a fresh install from the lab's image ----
    let w0 = lab.host("worker-0");
    let persistent = w0.dir().join("persistent");
    std::fs::write(persistent.join("old-install-data"), b"x").unwrap();
    let boot_before = w0.status().boot_id;
    let progress = record_progress(&lab, "worker-0");
    let id = handle
        .request("worker-0", OperatorAction::Reinstall)
        .await
        .expect("a locked host's reinstall is accepted");
    let mut tasks: Vec<String> = Vec::new();
    let outcome = handle
        .wait(id, Duration::from_millis(20), |rec| {
            if tasks.last() != Some(&rec.task) {
                tasks.push(rec.task.clone())
            }
        })
        .await
        .unwrap();
    assert_eq!(
        outcome,
        ActionOutcome::Completed,
        "tasks {tasks:?}, progress {:?}",
        progress.lock().unwrap()
    );
    let seen = progress.lock().unwrap().clone();
    let states: BTreeSet<String> = seen
        .iter()
        .filter_map(|(s, _)| s.map(|s| format!("{s:?}")))
        .collect();
    for want in [
        "Preinstall",
        "Booting",
        "Installing",
        "Postinstall",
        "Completed",
    ] {
        assert!(states.contains(want), "install state {want} seen: {seen:?}");
    }
    for stage in [
        "ejecting virtual media",
        "powering off",
        "inserting the install image",
        "waiting for the BMC to mount the image",
        "setting one-time boot from virtual CD",
        "powering on into the installer",
        "waiting for the new install to report",
        "ejecting the image",
    ] {
        assert!(
            seen.iter().any(|(_, info)| info == stage),
            "stage '{stage}' seen: {seen:?}"
        );
    }
    assert!(tasks.len() > 3, "progress in the task line: {tasks:?}");
    // The machine's own truth: a new install from the lab's image, media out of the BMC.
    assert_ne!(w0.status().boot_id, boot_before, "booted again");
    let installed = w0.install_record().expect("installed from the virtual CD");
    assert_eq!(installed.image, image);
    assert_eq!(installed.image_name, LAB_IMAGE);
    assert!(
        !persistent.join("old-install-data").exists(),
        "the old install's disk is wiped"
    );
    assert_eq!(w0.boot_record().unwrap().boot_count, 1);
    assert_eq!(w0.bmc_media().unwrap().image, None, "media ejected");
    assert_eq!(w0.power(), PowerState::On);
    lab.wait_until("worker-0 locked, its new install reporting", |hosts| {
        hosts
            .iter()
            .any(|h| h.name() == "worker-0" && h.states.admin == AdminState::Locked)
    })
    .await;
    assert_eq!(
        w0.lock_flags(),
        Some((true, true)),
        "the new install is locked"
    );
    let events = handle.events(1000).await.unwrap();
    assert!(
        events.iter().any(|e| e.entry.host == "worker-0"
            && e.entry.text.contains("reinstall completed successfully")),
        "{events:?}"
    );

    // ---- worker-1: the image never mounts ----
    let w1 = lab.host("worker-1");
    let boot_before = w1.status().boot_id;
    let id = handle
        .request("worker-1", OperatorAction::Reinstall)
        .await
        .unwrap();
    let outcome = handle
        .wait(id, Duration::from_millis(20), |_| {})
        .await
        .unwrap();
    let ActionOutcome::Failed { reason } = outcome else {
        panic!("the reinstall must fail: {outcome:?}");
    };
    assert!(reason.contains("not mounted"), "{reason}");
    let events = handle.events(1000).await.unwrap();
    let failed = events
        .iter()
        .find(|e| e.entry.host == "worker-1" && e.entry.text.contains("reinstall failed"))
        .unwrap_or_else(|| panic!("a 'reinstall failed' log: {events:?}"));
    assert!(failed.entry.critical, "{failed:?}");
    assert_eq!(failed.entry.id.code(), "200.022");
    assert!(failed.entry.text.contains("not mounted"), "{failed:?}");
    let rec = handle.host("worker-1").await.unwrap().unwrap();
    assert_eq!(rec.states.admin, AdminState::Locked);
    assert_eq!(rec.install.state, Some(InstallState::Failed));
    assert_eq!(w1.power(), PowerState::Off, "left powered off");
    assert_eq!(w1.bmc_media().unwrap().image, None, "media ejected");
    assert_eq!(w1.install_record(), None, "never installed");
    assert_eq!(w1.status().boot_id, boot_before, "never booted");

    lab.shutdown().await;
    served.stop().await;
}
