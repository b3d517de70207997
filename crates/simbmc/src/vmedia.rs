//! Virtual media: the Manager's one virtual CD slot, as BMCs expose it for installs.
//!
//! `InsertMedia` takes an `http(s)` image URL; the BMC then "mounts" it the way a real one does,
//! by reading it over HTTP: a `HEAD` for its size, then a range `GET` of the ISO 9660 volume
//! descriptor. Only a reachable ISO image on a loopback address mounts (`Inserted` true); anything
//! else is accepted but stays unmounted (`Inserted` false, the reason in the event log), so a
//! client that reads the slot back sees the failure the way it would on real hardware. The
//! simulated BMC never reaches beyond this machine: image URLs naming any other host are not
//! fetched.
//!
//! A one-time boot override to `Cd` with a mounted image boots the machine from it
//! ([`crate::PowerTarget::booting_from_media`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Json;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};
use tracing::{info, warn};

use crate::fault::{echo, Fault};
use crate::service::{lock, Authed, RfPath, Shared, MANAGER_ID, V1};

/// The one slot's id (iDRAC names its virtual CD `CD` too).
pub(crate) const SLOT_ID: &str = "CD";
const INSERT: &str = "VirtualMedia.InsertMedia";
const EJECT: &str = "VirtualMedia.EjectMedia";
/// How long one fetch of the image may take while mounting it.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// ISO 9660: the primary volume descriptor starts at sector 16 (of 2048 bytes) with type 1 and
/// the identifier `CD001`.
const VOLUME_DESCRIPTOR_AT: u64 = 16 * 2048;
const ISO_MAGIC: &[u8] = b"CD001";

/// What the virtual CD holds, as the BMC reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MediaState {
    /// The image URL inserted (mounted or not); `None`: empty.
    pub image: Option<String>,
    /// The image is mounted: the machine can boot from it.
    pub inserted: bool,
    pub write_protected: bool,
    /// Why the last insert did not mount, if it did not.
    pub mount_error: Option<String>,
}

impl MediaState {
    /// The mounted image's URL, if one is mounted.
    pub fn mounted(&self) -> Option<&str> {
        self.image.as_deref().filter(|_| self.inserted)
    }

    /// The last path segment of the image URL (Redfish `ImageName`).
    fn image_name(&self) -> Option<String> {
        let image = self.image.as_deref()?;
        let path = image.split(['?', '#']).next().unwrap_or(image);
        path.rsplit('/')
            .next()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    }
}

/// A minimal ISO 9660 image (no files: a primary volume descriptor named `volume_id` and the set
/// terminator), small enough to serve as a lab's placeholder install image: the simulated BMC
/// mounts it, a real BMC would too.
pub fn placeholder_iso(volume_id: &str) -> Vec<u8> {
    const SECTOR: usize = 2048;
    let mut iso = vec![0u8; 18 * SECTOR];
    let pvd = VOLUME_DESCRIPTOR_AT as usize;
    iso[pvd] = 1;
    iso[pvd + 1..pvd + 6].copy_from_slice(ISO_MAGIC);
    iso[pvd + 6] = 1;
    // System identifier (bytes 8..40) and volume identifier (40..72): d-characters, space padded.
    let mut id = [b' '; 32];
    for (d, c) in id
        .iter_mut()
        .zip(volume_id.bytes().filter(u8::is_ascii_graphic))
    {
        *d = c.to_ascii_uppercase();
    }
    iso[pvd + 8..pvd + 40].fill(b' ');
    iso[pvd + 40..pvd + 72].copy_from_slice(&id);
    // Volume space size in sectors, both-endian.
    let sectors = (iso.len() / SECTOR) as u32;
    iso[pvd + 80..pvd + 84].copy_from_slice(&sectors.to_le_bytes());
    iso[pvd + 84..pvd + 88].copy_from_slice(&sectors.to_be_bytes());
    let term = pvd + SECTOR;
    iso[term] = 255;
    iso[term + 1..term + 6].copy_from_slice(ISO_MAGIC);
    iso[term + 6] = 1;
    iso
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/redfish/v1/Managers/{id}/VirtualMedia", get(collection))
        .route("/redfish/v1/Managers/{id}/VirtualMedia/{slot}", get(slot))
        .route(
            "/redfish/v1/Managers/{id}/VirtualMedia/{slot}/Actions/VirtualMedia.InsertMedia",
            post(insert),
        )
        .route(
            "/redfish/v1/Managers/{id}/VirtualMedia/{slot}/Actions/VirtualMedia.EjectMedia",
            post(eject),
        )
}

pub(crate) fn collection_path() -> String {
    format!("{V1}/Managers/{MANAGER_ID}/VirtualMedia")
}

fn slot_path() -> String {
    format!("{}/{SLOT_ID}", collection_path())
}

fn check_manager(id: &str) -> Result<(), Fault> {
    if id == MANAGER_ID {
        Ok(())
    } else {
        Err(Fault::ResourceNotFound {
            kind: "Manager",
            name: echo(id),
        })
    }
}

fn check_slot(id: &str, slot: &str) -> Result<(), Fault> {
    check_manager(id)?;
    if slot == SLOT_ID {
        Ok(())
    } else {
        Err(Fault::ResourceNotFound {
            kind: "VirtualMedia",
            name: echo(slot),
        })
    }
}

async fn collection(_: Authed, RfPath(id): RfPath<String>) -> Result<Json<Value>, Fault> {
    check_manager(&id)?;
    Ok(Json(json!({
        "@odata.id": collection_path(),
        "@odata.type": "#VirtualMediaCollection.VirtualMediaCollection",
        "Name": "Virtual Media Services",
        "Members@odata.count": 1,
        "Members": [{ "@odata.id": slot_path() }],
    })))
}

fn slot_doc(m: &MediaState) -> Value {
    let path = slot_path();
    let protocol = m.image.as_deref().map(|i| {
        if i.to_ascii_lowercase().starts_with("https:") {
            "HTTPS"
        } else {
            "HTTP"
        }
    });
    json!({
        "@odata.id": path,
        "@odata.type": "#VirtualMedia.v1_6_0.VirtualMedia",
        "Id": SLOT_ID,
        "Name": "Virtual CD",
        "MediaTypes": ["CD", "DVD"],
        "Image": m.image,
        "ImageName": m.image_name(),
        "Inserted": m.inserted,
        "WriteProtected": m.write_protected,
        "ConnectedVia": if m.inserted { "URI" } else { "NotConnected" },
        "TransferMethod": "Stream",
        "TransferProtocolType": protocol,
        "Status": {
            "State": if m.inserted { "Enabled" } else { "Disabled" },
            "Health": if m.mount_error.is_some() { "Warning" } else { "OK" },
        },
        "Actions": {
            "#VirtualMedia.InsertMedia": { "target": format!("{path}/Actions/{INSERT}") },
            "#VirtualMedia.EjectMedia": { "target": format!("{path}/Actions/{EJECT}") },
        },
    })
}

async fn slot(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath((id, slot)): RfPath<(String, String)>,
) -> Result<Json<Value>, Fault> {
    check_slot(&id, &slot)?;
    Ok(Json(slot_doc(&lock(&sh.media))))
}

/// An action body: a JSON object, or nothing at all (actions without parameters are often sent
/// with an empty body).
fn action_body(bytes: &Bytes) -> Result<Map<String, Value>, Fault> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(Fault::NotAnObject),
        Err(e) => Err(Fault::MalformedJson(e.to_string())),
    }
}

/// A validated `InsertMedia` request.
#[derive(Debug, PartialEq, Eq)]
struct InsertRequest {
    image: String,
    inserted: bool,
    write_protected: bool,
}

fn parse_insert(body: &Map<String, Value>) -> Result<InsertRequest, Fault> {
    let bool_param = |name: &str| match body.get(name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(Fault::PropertyValueTypeError(name.to_owned())),
    };
    for key in body.keys() {
        if !matches!(
            key.as_str(),
            "Image"
                | "Inserted"
                | "WriteProtected"
                | "TransferProtocolType"
                | "TransferMethod"
                | "UserName"
                | "Password"
        ) {
            return Err(Fault::ActionParameterUnknown {
                action: INSERT,
                parameter: echo(key),
            });
        }
    }
    let image = match body.get("Image") {
        None | Some(Value::Null) => {
            return Err(Fault::ActionParameterMissing {
                action: INSERT,
                parameter: "Image",
            })
        }
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(Fault::PropertyValueTypeError("Image".into())),
    };
    let lower = image.to_ascii_lowercase();
    let scheme = if lower.starts_with("http://") {
        "HTTP"
    } else if lower.starts_with("https://") {
        "HTTPS"
    } else {
        return Err(Fault::PropertyValueFormatError {
            property: "Image",
            value: echo(&image),
        });
    };
    match body.get("TransferProtocolType") {
        None => {}
        Some(Value::String(p)) if p == scheme => {}
        Some(Value::String(p)) => {
            return Err(Fault::PropertyValueNotInList {
                property: "TransferProtocolType".into(),
                value: echo(p),
            })
        }
        Some(_) => return Err(Fault::PropertyValueTypeError("TransferProtocolType".into())),
    }
    match body.get("TransferMethod") {
        None => {}
        Some(Value::String(m)) if m == "Stream" => {}
        // Upload (copying the image into the BMC's own storage) is not offered.
        Some(Value::String(m)) => {
            return Err(Fault::PropertyValueNotInList {
                property: "TransferMethod".into(),
                value: echo(m),
            })
        }
        Some(_) => return Err(Fault::PropertyValueTypeError("TransferMethod".into())),
    }
    for key in ["UserName", "Password"] {
        if !matches!(body.get(key), None | Some(Value::String(_))) {
            return Err(Fault::PropertyValueTypeError(key.into()));
        }
    }
    Ok(InsertRequest {
        image,
        inserted: bool_param("Inserted")?.unwrap_or(true),
        write_protected: bool_param("WriteProtected")?.unwrap_or(true),
    })
}

async fn insert(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath((id, slot)): RfPath<(String, String)>,
    bytes: Bytes,
) -> Result<StatusCode, Fault> {
    check_slot(&id, &slot)?;
    let req = parse_insert(&action_body(&bytes)?)?;
    if let Some(held) = lock(&sh.media).image.clone() {
        return Err(Fault::ResourceInUse(format!(
            "the virtual CD holds {}; eject it first",
            echo(&held)
        )));
    }
    // Mount outside the lock: the fetch takes a while, reads of the slot must not wait for it.
    let mounted = if req.inserted {
        mount(&sh.media_http, &req.image).await
    } else {
        Err("inserted with Inserted false: not connected".to_owned())
    };
    let system = sh.cfg.system_id.clone();
    let severity = if mounted.is_ok() { "OK" } else { "Warning" };
    let message = match &mounted {
        Ok(size) => {
            info!(system = %system, image = %echo(&req.image), size, "simulated BMC: virtual media mounted");
            format!("Virtual media {} mounted ({size} bytes)", echo(&req.image))
        }
        Err(why) => {
            warn!(system = %system, image = %echo(&req.image), reason = %why, "simulated BMC: virtual media not mounted");
            format!("Virtual media {} not mounted: {why}", echo(&req.image))
        }
    };
    {
        let mut m = lock(&sh.media);
        *m = MediaState {
            image: Some(req.image),
            inserted: mounted.is_ok(),
            write_protected: req.write_protected,
            mount_error: mounted.err(),
        };
    }
    sh.event(severity, message);
    Ok(StatusCode::NO_CONTENT)
}

async fn eject(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath((id, slot)): RfPath<(String, String)>,
    bytes: Bytes,
) -> Result<StatusCode, Fault> {
    check_slot(&id, &slot)?;
    // EjectMedia has no parameters; whatever object is sent is ignored, as BMCs do.
    action_body(&bytes)?;
    let old = std::mem::take(&mut *lock(&sh.media));
    if let Some(image) = old.image {
        info!(system = %sh.cfg.system_id, image = %echo(&image), "simulated BMC: virtual media ejected");
        sh.event("OK", format!("Virtual media {} ejected", echo(&image)));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The host part of an image URL is this machine: a loopback address or `localhost`.
fn loopback_host(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Read the image the way a BMC streams it: its size, then the ISO 9660 volume descriptor by a
/// range request. `Ok(size)` when it is a reachable ISO image; otherwise why not.
pub(crate) async fn mount(http: &reqwest::Client, image: &str) -> Result<u64, String> {
    let url = reqwest::Url::parse(image).map_err(|e| format!("not a URL: {e}"))?;
    if !loopback_host(&url) {
        return Err(format!(
            "{} is not a loopback address: the simulated BMC fetches images from this machine only",
            url.host_str().unwrap_or("(no host)")
        ));
    }
    let head = http
        .head(url.clone())
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("cannot reach the image: {e}"))?;
    if !head.status().is_success() {
        return Err(format!("the image server answers {}", head.status()));
    }
    let size: u64 = head
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or("the image server sends no Content-Length")?;
    let descriptor_end = VOLUME_DESCRIPTOR_AT + 1 + ISO_MAGIC.len() as u64;
    if size < descriptor_end {
        return Err(format!("not an ISO 9660 image ({size} bytes)"));
    }
    let resp = http
        .get(url)
        .header(
            reqwest::header::RANGE,
            format!("bytes={VOLUME_DESCRIPTOR_AT}-{}", descriptor_end - 1),
        )
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(|e| format!("cannot read the image: {e}"))?;
    if resp.status() != reqwest::StatusCode::PARTIAL_CONTENT {
        return Err(format!(
            "the image server answers a range request with {} (206 needed to stream it)",
            resp.status()
        ));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("cannot read the image: {e}"))?;
    if bytes.len() != 1 + ISO_MAGIC.len() || &bytes[1..] != ISO_MAGIC {
        return Err("not an ISO 9660 image (no volume descriptor)".into());
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn insert_bodies() {
        let ok = parse_insert(&body(json!({"Image": "http://127.0.0.1:9/a.iso"}))).unwrap();
        assert!(ok.inserted && ok.write_protected);
        // The shapes steward's client sends, in its order.
        for b in [
            json!({"Image": "http://h/a.iso", "Inserted": true, "WriteProtected": true}),
            json!({"Image": "http://h/a.iso", "TransferProtocolType": "HTTP"}),
            json!({"Image": "https://h/a.iso", "TransferProtocolType": "HTTPS", "TransferMethod": "Stream"}),
        ] {
            assert!(parse_insert(&body(b.clone())).is_ok(), "{b}");
        }
        for b in [
            json!({}),
            json!({"Image": 5}),
            json!({"Image": "nfs://h/a.iso"}),
            json!({"Image": "http://h/a.iso", "TransferProtocolType": "HTTPS"}),
            json!({"Image": "http://h/a.iso", "TransferMethod": "Upload"}),
            json!({"Image": "http://h/a.iso", "Inserted": "yes"}),
            json!({"Image": "http://h/a.iso", "Colour": "blue"}),
        ] {
            assert!(parse_insert(&body(b.clone())).is_err(), "{b}");
        }
    }

    #[test]
    fn empty_action_body_is_no_parameters() {
        assert!(action_body(&Bytes::from_static(b"")).unwrap().is_empty());
        assert!(action_body(&Bytes::from_static(b" {} "))
            .unwrap()
            .is_empty());
        assert!(action_body(&Bytes::from_static(b"[]")).is_err());
    }

    #[test]
    fn image_name_is_the_last_segment() {
        let m = |i: &str| MediaState {
            image: Some(i.into()),
            ..MediaState::default()
        };
        assert_eq!(
            m("http://h:1/images/lab.iso?x=1").image_name().as_deref(),
            Some("lab.iso")
        );
        assert_eq!(m("http://h/").image_name(), None);
        assert_eq!(MediaState::default().image_name(), None);
    }

    #[test]
    fn placeholder_is_an_iso_9660_image() {
        let iso = placeholder_iso("steward lab");
        let at = VOLUME_DESCRIPTOR_AT as usize;
        assert_eq!(iso.len() % 2048, 0);
        assert_eq!(&iso[at + 1..at + 6], ISO_MAGIC);
        assert_eq!(&iso[at + 40..at + 50], b"STEWARDLAB");
    }

    #[test]
    fn only_loopback_images_are_fetched() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(loopback_host(&u("http://127.0.0.1:8089/images/a.iso")));
        assert!(loopback_host(&u("http://127.3.0.9/a.iso")));
        assert!(loopback_host(&u("http://[::1]:80/a.iso")));
        assert!(loopback_host(&u("http://localhost/a.iso")));
        assert!(!loopback_host(&u("http://10.0.0.1/a.iso")));
        assert!(!loopback_host(&u("http://example.com/a.iso")));
    }
}
