//! The client against a hostile BMC: a real `sushy-emulator --fake` behind the fault-injecting
//! proxy of `steward_testpeers::hostile`. Each test shows the client notices the one lie the
//! proxy tells, with an error that says what went wrong and names the BMC.

mod common;

use std::time::Duration;

use steward_bmc_redfish::{
    BootEnabled, BootOverride, BootTarget, ClientConfig, RedfishClient, RedfishError,
};
use steward_testpeers::hostile::{Fault, HostileBmc};
use steward_testpeers::{require_sushy, Sushy};

async fn connect(url: &str) -> RedfishClient {
    let mut cfg = ClientConfig::new(url, "admin", "password");
    cfg.retry_base_delay = Duration::from_millis(50);
    cfg.max_retries = 1;
    RedfishClient::connect(cfg)
        .await
        .unwrap_or_else(|e| panic!("connect through the proxy at {url}: {e}"))
}

fn image() -> String {
    let port = common::serve_image(vec![0u8; 4096]);
    format!("http://127.0.0.1:{port}/steward-install.iso")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_accepted_but_never_mounted() {
    if !require_sushy() {
        return;
    }
    let bmc = HostileBmc::start(Sushy::start(), &[Fault::InsertNeverMounts]);
    let client = connect(&bmc.address()).await;
    let image = image();
    let err = client
        .insert_media(&image, true)
        .await
        .expect_err("the proxy hides the mounted image");
    let msg = err.to_string();
    assert!(matches!(err, RedfishError::NotApplied { .. }), "{err:?}");
    assert!(msg.contains(&bmc.address()), "names the BMC: {msg}");
    assert!(msg.contains("Inserted=Some(false)"), "{msg}");
    assert!(bmc.injected(Fault::InsertNeverMounts) > 0);
    let status = client.cd_media_status().await.expect("status");
    assert!(!status.has_media(), "{status:?}");

    // The emulator behind really did mount it: the lie is the proxy's alone.
    let honest = connect(&bmc.upstream_address()).await;
    let truth = honest.cd_media_status().await.expect("honest status");
    assert_eq!(
        truth.image.as_deref(),
        Some(image.as_str()),
        "{}",
        bmc.log_tail()
    );

    // An honest proxy again: the same client sees the image.
    bmc.set_faults(&[]);
    assert!(client.cd_media_status().await.expect("status").has_media());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_override_read_back_differs() {
    if !require_sushy() {
        return;
    }
    let bmc = HostileBmc::start(Sushy::start(), &[Fault::BootOverrideReadBackDiffers]);
    let client = connect(&bmc.address()).await;
    let err = client
        .set_boot_override(&BootOverride {
            target: BootTarget::Cd,
            enabled: BootEnabled::Once,
            mode: None,
        })
        .await
        .expect_err("the proxy shows another target");
    let msg = err.to_string();
    assert!(matches!(err, RedfishError::NotApplied { .. }), "{err:?}");
    assert!(msg.contains(&bmc.address()), "names the BMC: {msg}");
    assert!(
        msg.contains("target Some(Hdd)") && msg.contains("wanted Cd"),
        "{msg}"
    );
    assert_eq!(bmc.injected(Fault::BootOverrideReadBackDiffers), 1);

    // Asking for Hdd reads back as Pxe.
    let err = client
        .set_boot_override(&BootOverride {
            target: BootTarget::Hdd,
            enabled: BootEnabled::Once,
            mode: None,
        })
        .await
        .expect_err("the proxy shows another target");
    assert!(err.to_string().contains("target Some(Pxe)"), "{err}");

    let honest = connect(&bmc.upstream_address()).await;
    let truth = honest.boot_settings().await.expect("honest boot settings");
    assert_eq!(truth.target, Some(BootTarget::Hdd));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eject_refused() {
    if !require_sushy() {
        return;
    }
    let bmc = HostileBmc::start(Sushy::start(), &[Fault::EjectRefused]);
    let client = connect(&bmc.address()).await;
    let image = image();
    client
        .insert_media(&image, true)
        .await
        .unwrap_or_else(|e| panic!("insert is not affected: {e}\n{}", bmc.log_tail()));
    let err = client.eject_media().await.expect_err("eject refused");
    let msg = err.to_string();
    match &err {
        RedfishError::Http {
            method,
            status,
            url,
            ..
        } => {
            assert_eq!((method.as_str(), *status), ("POST", 500));
            assert!(url.starts_with(&bmc.address()), "{url}");
            assert!(url.ends_with("EjectMedia"), "{url}");
        }
        other => panic!("expected Http 500, got {other:?}"),
    }
    assert!(msg.contains("the virtual media device is busy"), "{msg}");
    // One refusal per attempt: the client retried a 500 once, then gave up.
    assert_eq!(bmc.injected(Fault::EjectRefused), 2);
    assert!(client.cd_media_status().await.expect("status").has_media());

    bmc.set_faults(&[]);
    client
        .eject_media()
        .await
        .expect("eject once the BMC relents");
    assert!(!client.cd_media_status().await.expect("status").has_media());
}
