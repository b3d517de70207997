//! The simulated BMC's virtual media, driven by steward's own Redfish client and by raw requests
//! over real HTTP on loopback: the slot as a real BMC exposes it, InsertMedia / EjectMedia, the
//! mount that really reads the image (a reachable ISO mounts; an unreachable URL, a file that is
//! no ISO and a server without range requests do not), and a one-time `Cd` boot that tells the
//! machine to boot from the mounted image (or, without one, from its disk).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{json, Value};
use steward_bmc_redfish::{
    BootEnabled, BootMode, BootOverride, BootTarget, ClientConfig, RedfishClient,
};
use steward_simbmc::{placeholder_iso, BootDevice, Power, PowerTarget, SimBmc, SimBmcConfig};

const USER: &str = "root";
const PASSWORD: &str = "vmedia-pw";

/// A machine that remembers how each boot started.
#[derive(Default)]
struct Machine {
    power: Mutex<Option<Power>>,
    boots: Mutex<Vec<(BootDevice, Option<String>)>>,
}

impl Machine {
    fn boots(&self) -> Vec<(BootDevice, Option<String>)> {
        self.boots.lock().unwrap().clone()
    }
}

impl PowerTarget for Machine {
    fn power(&self) -> Power {
        self.power.lock().unwrap().unwrap_or(Power::Off)
    }
    fn power_on(&self) {
        *self.power.lock().unwrap() = Some(Power::On);
    }
    fn power_off(&self) {
        *self.power.lock().unwrap() = Some(Power::Off);
    }
    fn reset(&self) {
        self.power_on();
    }
    fn power_cycle(&self) {
        self.power_on();
    }
    fn booting_from(&self, device: BootDevice) {
        self.boots.lock().unwrap().push((device, None));
    }
    fn booting_from_media(&self, image: &str) {
        if let Some(last) = self.boots.lock().unwrap().last_mut() {
            last.1 = Some(image.to_string());
        }
    }
}

/// A small image server: `/good.iso` (an ISO, ranges honoured), `/plain.bin` (not an ISO),
/// `/noranges.iso` (an ISO whose server ignores ranges); anything else 404.
async fn image_server() -> String {
    async fn serve(uri: axum::http::Uri, headers: HeaderMap) -> axum::response::Response {
        let (body, ranges) = match uri.path() {
            "/good.iso" => (placeholder_iso("good"), true),
            "/noranges.iso" => (placeholder_iso("noranges"), false),
            "/plain.bin" => (vec![7u8; 65_536], true),
            _ => return StatusCode::NOT_FOUND.into_response(),
        };
        let range = headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("bytes="))
            .and_then(|v| v.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?)));
        match range {
            Some((a, b)) if ranges && b < body.len() && a <= b => {
                let len = body.len();
                (
                    StatusCode::PARTIAL_CONTENT,
                    [(header::CONTENT_RANGE, format!("bytes {a}-{b}/{len}"))],
                    body[a..=b].to_vec(),
                )
                    .into_response()
            }
            _ => (StatusCode::OK, body).into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().fallback(serve)).await;
    });
    format!("http://{addr}")
}

async fn start() -> (SimBmc, Arc<Machine>, RedfishClient) {
    let machine = Arc::new(Machine::default());
    let bmc = SimBmc::start(
        SimBmcConfig::new("worker-0", USER, PASSWORD),
        machine.clone(),
    )
    .await
    .unwrap();
    let mut c = ClientConfig::new(bmc.url(), USER, PASSWORD);
    c.max_retries = 0;
    c.retry_base_delay = Duration::from_millis(10);
    let client = RedfishClient::connect(c).await.unwrap();
    (bmc, machine, client)
}

async fn raw_post(bmc: &SimBmc, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", bmc.url()))
        .basic_auth(USER, Some(PASSWORD));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

const SLOT: &str = "/redfish/v1/Managers/BMC/VirtualMedia/CD";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cd_slot_as_a_client_finds_it_and_a_mounted_image_boots_once() {
    let images = image_server().await;
    let (bmc, machine, client) = start().await;

    // The client finds the slot through the Manager (the System links none, as on iDRAC).
    let slots = client.cd_slots().await.unwrap();
    assert_eq!(slots.len(), 1);
    let slot = &slots[0];
    assert_eq!(slot.odata_id, SLOT);
    assert_eq!(slot.media_types, ["CD", "DVD"]);
    assert_eq!(slot.inserted, Some(false));
    assert_eq!(slot.image, None);
    assert_eq!(slot.connected_via.as_deref(), Some("NotConnected"));
    assert!(slot.insert_target.is_some() && slot.eject_target.is_some());

    // Insert: the BMC fetches the image and reads it back mounted.
    let good = format!("{images}/good.iso");
    let back = client.insert_media(&good, true).await.unwrap();
    assert_eq!(back.image.as_deref(), Some(good.as_str()));
    assert_eq!(back.image_name.as_deref(), Some("good.iso"));
    assert!(back.has_media());
    assert_eq!(back.write_protected, Some(true));
    assert_eq!(back.connected_via.as_deref(), Some("URI"));
    assert_eq!(bmc.media().mounted(), Some(good.as_str()));

    // A second insert while one is held: 409, the held image stays.
    let (status, err) = raw_post(
        &bmc,
        &format!("{SLOT}/Actions/VirtualMedia.InsertMedia"),
        Some(json!({"Image": format!("{images}/plain.bin")})),
    )
    .await;
    assert_eq!(status, 409, "{err}");
    assert_eq!(err["error"]["code"], "Base.1.18.ResourceInUse");
    assert_eq!(bmc.media().mounted(), Some(good.as_str()));

    // Boot override Cd, UEFI or legacy, read back as set.
    let allowed = client.boot_settings().await.unwrap();
    assert!(allowed.allowed_targets.unwrap().iter().any(|t| t == "Cd"));
    for mode in [BootMode::Legacy, BootMode::Uefi] {
        let set = client
            .set_boot_override(&BootOverride {
                target: BootTarget::Cd,
                enabled: BootEnabled::Once,
                mode: Some(mode),
            })
            .await
            .unwrap();
        assert_eq!(set.target, Some(BootTarget::Cd));
        assert_eq!(set.enabled, Some(BootEnabled::Once));
        assert_eq!(set.mode, Some(mode));
    }
    // Power on: the one boot starts from the mounted image; the override is used up.
    client
        .power(steward_bmc_redfish::PowerAction::On)
        .await
        .unwrap();
    assert_eq!(machine.boots(), [(BootDevice::Cd, Some(good.clone()))]);
    let after = client.boot_settings().await.unwrap();
    assert_eq!(after.enabled, Some(BootEnabled::Disabled));

    // Eject: empty, read back; ejecting an empty slot is accepted too (no body at all).
    client.eject_media().await.unwrap();
    assert_eq!(bmc.media(), Default::default());
    let (status, _) = raw_post(
        &bmc,
        &format!("{SLOT}/Actions/VirtualMedia.EjectMedia"),
        None,
    )
    .await;
    assert_eq!(status, 204);

    // Cd once without media: the firmware finds nothing to boot there and goes to the disk.
    client
        .set_boot_override(&BootOverride {
            target: BootTarget::Cd,
            enabled: BootEnabled::Once,
            mode: None,
        })
        .await
        .unwrap();
    client
        .power(steward_bmc_redfish::PowerAction::Reset)
        .await
        .unwrap();
    assert_eq!(machine.boots().last(), Some(&(BootDevice::Cd, None)));

    // The event log tells the story.
    let log = reqwest::Client::new()
        .get(format!(
            "{}/redfish/v1/Managers/BMC/LogServices/SEL/Entries",
            bmc.url()
        ))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(log.contains("good.iso mounted"), "{log}");
    assert!(log.contains("good.iso ejected"), "{log}");
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_that_cannot_be_mounted_stay_not_inserted() {
    let images = image_server().await;
    let (bmc, machine, client) = start().await;
    // A port nothing listens on: take one and let it go.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let cases = [
        (
            format!("http://{closed}/gone.iso"),
            "cannot reach the image",
        ),
        (format!("{images}/missing.iso"), "404"),
        (format!("{images}/plain.bin"), "not an ISO 9660 image"),
        (format!("{images}/noranges.iso"), "range request"),
        // Never fetched: the simulated BMC reaches no other machine.
        (
            "http://192.0.2.1/install.iso".to_string(),
            "not a loopback address",
        ),
    ];
    for (image, why) in cases {
        // Accepted (as real BMCs accept and mount later), read back not inserted.
        let err = client.insert_media(&image, true).await.unwrap_err();
        assert!(
            matches!(err, steward_bmc_redfish::RedfishError::NotApplied { .. }),
            "{image}: {err}"
        );
        let slot = client.cd_media_status().await.unwrap();
        assert_eq!(slot.image.as_deref(), Some(image.as_str()));
        assert!(!slot.has_media(), "{image}");
        let media = bmc.media();
        assert!(!media.inserted);
        let reason = media.mount_error.unwrap_or_default();
        assert!(reason.contains(why), "{image}: {reason}");
        // A Cd boot with an unmounted image boots from the disk.
        client
            .set_boot_override(&BootOverride {
                target: BootTarget::Cd,
                enabled: BootEnabled::Once,
                mode: None,
            })
            .await
            .unwrap();
        client
            .power(steward_bmc_redfish::PowerAction::Reset)
            .await
            .unwrap();
        assert_eq!(machine.boots().last(), Some(&(BootDevice::Cd, None)));
        client.eject_media().await.unwrap();
        assert_eq!(bmc.media().image, None);
    }

    // Requests a BMC refuses, with Redfish errors.
    let insert = format!("{SLOT}/Actions/VirtualMedia.InsertMedia");
    for (body, code) in [
        (json!({}), "ActionParameterMissing"),
        (
            json!({"Image": "ftp://127.0.0.1/a.iso"}),
            "PropertyValueFormatError",
        ),
        (
            json!({"Image": "http://127.0.0.1/a.iso", "TransferMethod": "Upload"}),
            "PropertyValueNotInList",
        ),
        (
            json!({"Image": "http://127.0.0.1/a.iso", "Slot": 2}),
            "ActionParameterUnknown",
        ),
    ] {
        let (status, err) = raw_post(&bmc, &insert, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(err["error"]["code"], format!("Base.1.18.{code}"), "{body}");
    }
    assert_eq!(
        bmc.media().image,
        None,
        "nothing inserted by a refused request"
    );
    let (status, _) = raw_post(
        &bmc,
        "/redfish/v1/Managers/BMC/VirtualMedia/Floppy/Actions/VirtualMedia.EjectMedia",
        None,
    )
    .await;
    assert_eq!(status, 404);
    // Credentials are needed as everywhere else.
    let status = reqwest::get(format!("{}{SLOT}", bmc.url()))
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    bmc.shutdown().await;
}
