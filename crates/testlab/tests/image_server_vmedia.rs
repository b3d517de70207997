//! The lab image server as a real BMC's virtual-media source: `sushy-emulator --fake` downloads the
//! ISO from the controller's image server when the Redfish client inserts its URL, and the slot
//! reads back with that image.

use steward_bmc_redfish::{ClientConfig, RedfishClient};
use steward_wiring::image_server::{serve_images, ImageServerOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bmc_mounts_an_image_from_the_image_server() {
    if !steward_testpeers::require_sushy() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("steward-install.iso"), vec![7u8; 65_536]).unwrap();
    let served = serve_images(ImageServerOptions {
        dir: dir.path().to_path_buf(),
        bind: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .expect("image server");
    let peer = steward_testpeers::Sushy::start();
    let bmc = RedfishClient::connect(ClientConfig::new(peer.address(), "admin", "password"))
        .await
        .expect("connect");
    let url = served.url_of("steward-install.iso");
    let slot = bmc
        .insert_media(&url, true)
        .await
        .unwrap_or_else(|e| panic!("insert {url}: {e}\n{}", peer.log_tail()));
    assert_eq!(slot.image.as_deref(), Some(url.as_str()));
    let status = bmc.cd_media_status().await.expect("status");
    assert!(status.has_media(), "{status:?}");
    assert_eq!(status.image_name.as_deref(), Some("steward-install.iso"));

    // A name the server does not have: the emulator cannot fetch it and the insert fails.
    let missing = served.url_of("no-such.iso");
    assert!(bmc.insert_media(&missing, true).await.is_err());
    bmc.eject_media().await.expect("eject");
    served.stop().await;
}
