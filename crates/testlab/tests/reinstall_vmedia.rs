//! Reinstall by Redfish virtual media through the whole controller (core stages, BMC workers, the
//! `steward-bmc` client) against real `sushy-emulator --fake` BMCs, with the install image served by
//! the controller's own image server (docs/handlers.md#reinstall):
//!
//! * an honest BMC: every BMC stage is read back from the emulator itself (media inserted with the
//!   image URL, one-time boot from the virtual CD, powered on) while the core waits for the fresh
//!   install; no host boots behind the emulator, so that last stage is the simulator's to judge;
//! * a hostile BMC (the insert is accepted but never mounts, `steward_testpeers::hostile`): the
//!   reinstall fails with a named reason, the critical "reinstall failed" log, and the emulator
//!   behind the proxy holds the truth: powered off, nothing inserted, the host still locked.

use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use steward_bmc_redfish::{ClientConfig, RedfishClient};
use steward_maintenance::action::{ActionOutcome, OperatorAction};
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, InstallMethod, InstallSpec};
use steward_maintenance::state::SystemType;
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{machineless_host, LabSpec, TestLab};
use steward_testpeers::hostile::{Fault, HostileBmc};
use steward_testpeers::Sushy;
use steward_wiring::image_server::{serve_images, ImageServerOptions};

const ISO: &str = "steward-install.iso";

async fn host_json(api: &str, name: &str) -> Value {
    reqwest::get(format!("{api}/v1/ihosts/{name}"))
        .await
        .expect("API answers")
        .json()
        .await
        .expect("JSON")
}

async fn redfish(address: String) -> RedfishClient {
    RedfishClient::connect(ClientConfig::new(address, "admin", "password"))
        .await
        .expect("connect to the emulator")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinstall_by_virtual_media_reads_back_every_stage_and_fails_cleanly_on_a_hostile_bmc() {
    if !steward_testpeers::require_sushy() {
        return;
    }
    let images = tempfile::tempdir().unwrap();
    std::fs::write(images.path().join(ISO), vec![7u8; 65_536]).unwrap();
    let served = serve_images(ImageServerOptions {
        dir: images.path().to_path_buf(),
        bind: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .expect("image server");
    let image = served.url_of(ISO);
    let honest = Sushy::start();
    let hostile = HostileBmc::start(Sushy::start(), &[Fault::InsertNeverMounts]);

    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let spec = LabSpec {
        hosts: Vec::new(),
        in_service: false,
        api: Some(steward_api::Auth {
            tokens: Vec::new(),
            loopback_without_token: true,
        }),
        // Timers 10× faster, not the rig's 50×: a BMC query then has 3 s (not 0.6 s) to answer
        // through the emulator on a loaded machine; the mount wait is 12 s.
        scale: 10,
        ..LabSpec::standard()
    };
    let lab = TestLab::start(store, SecretBox::from_key([7; 32]), spec).await;
    let handle = lab.handle.clone();
    let api = lab.api_url().expect("API");
    for (i, (name, address)) in [
        ("worker-0", honest.address()),
        ("worker-1", hostile.address()),
    ]
    .into_iter()
    .enumerate()
    {
        let mut host = machineless_host(name, 20 + i as u32);
        host.install = InstallSpec {
            image: Some(image.clone()),
            method: Some(InstallMethod::VirtualMedia),
        };
        handle
            .add_host(HostRecord::new_install(host, SystemType::Standard))
            .await
            .unwrap();
        let bmc = BmcSpec {
            protocol: BmcProtocol::Redfish,
            address,
            username: "admin".into(),
        };
        handle
            .set_bmc_credentials(name, bmc, "password".into())
            .await
            .unwrap();
    }

    // The hostile BMC: accepted, never mounted → a named failure, cleaned up.
    let id = handle
        .request("worker-1", OperatorAction::Reinstall)
        .await
        .expect("a locked host's reinstall is accepted");
    let mut tasks = Vec::new();
    let outcome = handle
        .wait(id, Duration::from_millis(20), |rec| {
            tasks.push(rec.task.clone())
        })
        .await
        .unwrap();
    let ActionOutcome::Failed { reason } = outcome else {
        panic!(
            "the reinstall must fail: {outcome:?}\n{}",
            hostile.log_tail()
        );
    };
    assert!(reason.contains("not mounted"), "{reason}");
    assert!(hostile.injected(Fault::InsertNeverMounts) > 0);
    assert!(tasks.len() > 1, "progress in the task line: {tasks:?}");
    let host = host_json(&api, "worker-1").await;
    assert_eq!(host["administrative"], "locked", "{host}");
    assert_eq!(host["install_state"], "failed", "{host}");
    assert!(
        host["install_state_info"]
            .as_str()
            .unwrap_or("")
            .contains("not mounted"),
        "{host}"
    );
    let events = handle.events(1000).await.unwrap();
    assert!(
        events.iter().any(|e| e.entry.host == "worker-1"
            && e.entry.critical
            && e.entry.text.contains("reinstall failed")),
        "a critical 'reinstall failed' log: {events:?}"
    );
    // The truth behind the proxy: powered off, nothing left inserted.
    let truth = redfish(hostile.upstream_address()).await;
    assert_eq!(
        truth.power_state().await.unwrap(),
        steward_bmc_redfish::PowerState::Off
    );
    let slot = truth.cd_media_status().await.unwrap();
    assert!(
        !slot.has_media(),
        "media ejected after the failure: {slot:?}"
    );

    // The honest BMC: every stage up to the wait for the fresh install, read back from the
    // emulator.
    handle
        .request("worker-0", OperatorAction::Reinstall)
        .await
        .expect("accepted");
    let mut last = Value::Null;
    for _ in 0..6000 {
        last = host_json(&api, "worker-0").await;
        if last["install_state"] == "installing" || last["install_state"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        last["install_state"],
        "installing",
        "{last}\n{}",
        honest.log_tail()
    );
    let bmc = redfish(honest.address()).await;
    let slot = bmc.cd_media_status().await.unwrap();
    assert!(slot.has_media(), "{slot:?}");
    assert_eq!(slot.image.as_deref(), Some(image.as_str()), "{slot:?}");
    assert_eq!(
        bmc.power_state().await.unwrap(),
        steward_bmc_redfish::PowerState::On
    );
    let boot = bmc.boot_settings().await.unwrap();
    assert!(
        matches!(
            boot.target,
            Some(steward_bmc_redfish::BootTarget::Cd | steward_bmc_redfish::BootTarget::UsbCd)
        ),
        "{boot:?}"
    );
    lab.shutdown().await;
    served.stop().await;
}
