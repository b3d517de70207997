//! The Redfish resources: router, authentication, handlers and the JSON documents they serve.
//! Handlers stay thin: check auth, parse, act on the [`PowerTarget`], map failures to one
//! [`Fault`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tracing::{debug, info, warn};

use crate::eventlog::{self, EventLog};
use crate::events::{self, Subscriptions};
use crate::fault::{echo, Fault};
use crate::sensors::SensorBoard;
use crate::sessions::{Session, Sessions};
use crate::vmedia::{self, MediaState};
use crate::{BootDevice, Power, PowerTarget, SimBmcConfig};

pub(crate) const V1: &str = "/redfish/v1";
const SESSIONS: &str = "/redfish/v1/SessionService/Sessions";
/// The one manager; real BMCs use a fixed id too (OpenBMC `bmc`, iDRAC `iDRAC.Embedded.1`).
pub(crate) const MANAGER_ID: &str = "BMC";
/// The manager's one LogService, named like IPMI's System Event Log.
const LOG_ID: &str = "SEL";

/// The ResetType values this BMC performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResetType {
    On,
    ForceOff,
    GracefulShutdown,
    ForceRestart,
    GracefulRestart,
    PowerCycle,
    Nmi,
}

impl ResetType {
    /// In the order the BMC advertises them.
    const ALL: [ResetType; 7] = [
        ResetType::On,
        ResetType::ForceOff,
        ResetType::GracefulShutdown,
        ResetType::ForceRestart,
        ResetType::GracefulRestart,
        ResetType::PowerCycle,
        ResetType::Nmi,
    ];

    fn as_str(self) -> &'static str {
        match self {
            ResetType::On => "On",
            ResetType::ForceOff => "ForceOff",
            ResetType::GracefulShutdown => "GracefulShutdown",
            ResetType::ForceRestart => "ForceRestart",
            ResetType::GracefulRestart => "GracefulRestart",
            ResetType::PowerCycle => "PowerCycle",
            ResetType::Nmi => "Nmi",
        }
    }

    fn parse(s: &str) -> Option<ResetType> {
        ResetType::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// `ResetType@Redfish.AllowableValues`.
    fn allowable() -> Vec<&'static str> {
        ResetType::ALL.iter().map(|r| r.as_str()).collect()
    }
}

const BOOT_TARGETS: [&str; 5] = ["None", "Pxe", "Cd", "Hdd", "BiosSetup"];
const BOOT_ENABLED: [&str; 3] = ["Disabled", "Once", "Continuous"];
const BOOT_MODES: [&str; 2] = ["UEFI", "Legacy"];

/// The System's writable state: the boot override.
#[derive(Debug)]
struct BootState {
    target: &'static str,
    enabled: &'static str,
    mode: &'static str,
    /// Bumped on every change; part of the ETag.
    generation: u64,
}

impl BootState {
    /// The device the next boot uses; a `Once` override is used up by it.
    fn consume(&mut self) -> BootDevice {
        if self.enabled == "Disabled" {
            return BootDevice::Normal;
        }
        let device = match self.target {
            "Pxe" => BootDevice::Pxe,
            "Cd" => BootDevice::Cd,
            "Hdd" => BootDevice::Hdd,
            "BiosSetup" => BootDevice::BiosSetup,
            _ => BootDevice::Normal,
        };
        if self.enabled == "Once" {
            // What BMCs do after the one-time boot: the override switches itself off.
            self.enabled = "Disabled";
            self.target = "None";
            self.generation += 1;
        }
        device
    }
}

/// State shared by all handlers of one BMC.
pub(crate) struct Shared {
    pub cfg: SimBmcConfig,
    pub(crate) target: Arc<dyn PowerTarget>,
    pub requests: AtomicU64,
    sessions: Mutex<Sessions>,
    boot: Mutex<BootState>,
    events: Mutex<EventLog>,
    /// The machine's sensors and the faults injected into them.
    pub sensors: SensorBoard,
    /// Held from reading the power state to acting on it, so two concurrent resets cannot
    /// both see "off" and both power on (the trait promises `power_on` only while off).
    power_action: Mutex<()>,
    /// EventService subscriptions, and the client that delivers events to them.
    pub(crate) subscriptions: Mutex<Subscriptions>,
    pub(crate) http: reqwest::Client,
    /// The virtual CD.
    pub(crate) media: Mutex<MediaState>,
    /// Fetches install images to mount them: never through a proxy (they are on loopback).
    pub(crate) media_http: reqwest::Client,
}

/// Lock, ignoring poisoning: every critical section here is a few assignments that leave the
/// data consistent, and one panicked handler must not take the whole BMC down with it.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub fn new(cfg: SimBmcConfig, target: Arc<dyn PowerTarget>) -> Self {
        let sessions = Sessions::new(cfg.session_timeout, cfg.max_sessions);
        Shared {
            cfg,
            target,
            requests: AtomicU64::new(0),
            sessions: Mutex::new(sessions),
            boot: Mutex::new(BootState {
                target: "None",
                enabled: "Disabled",
                mode: "UEFI",
                generation: 0,
            }),
            events: Mutex::new(EventLog::default()),
            sensors: SensorBoard::default(),
            power_action: Mutex::new(()),
            subscriptions: Mutex::new(Subscriptions::default()),
            http: reqwest::Client::new(),
            media: Mutex::new(MediaState::default()),
            media_http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .unwrap_or_default(),
        }
    }

    pub(crate) fn event(&self, severity: &'static str, message: String) {
        lock(&self.events).record(severity, message);
    }

    pub fn clear_sessions(&self) {
        lock(&self.sessions).clear();
    }

    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len(Instant::now())
    }

    fn system_path(&self) -> String {
        format!("{V1}/Systems/{}", self.cfg.system_id)
    }

    fn manager_path(&self) -> String {
        format!("{V1}/Managers/{MANAGER_ID}")
    }

    fn log_path(&self) -> String {
        format!("{}/LogServices/{LOG_ID}", self.manager_path())
    }

    fn chassis_path(&self) -> String {
        format!("{V1}/Chassis/{}", self.cfg.system_id)
    }

    fn check_system(&self, id: &str) -> Result<(), Fault> {
        if id == self.cfg.system_id {
            Ok(())
        } else {
            Err(Fault::ResourceNotFound {
                kind: "ComputerSystem",
                name: echo(id),
            })
        }
    }

    fn check_chassis(&self, id: &str) -> Result<(), Fault> {
        if id == self.cfg.system_id {
            Ok(())
        } else {
            Err(Fault::ResourceNotFound {
                kind: "Chassis",
                name: echo(id),
            })
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let max_body = shared.cfg.max_body_bytes;
    Router::new()
        .route("/redfish", get(versions))
        .route("/redfish/v1", get(service_root))
        .route("/redfish/v1/", get(service_root))
        .route("/redfish/v1/SessionService", get(session_service))
        .route(SESSIONS, get(list_sessions).post(login))
        .route(
            "/redfish/v1/SessionService/Sessions/{id}",
            get(get_session).delete(logout),
        )
        .route("/redfish/v1/Systems", get(systems))
        .route(
            "/redfish/v1/Systems/{id}",
            get(get_system).patch(patch_system),
        )
        .route(
            "/redfish/v1/Systems/{id}/Actions/ComputerSystem.Reset",
            post(reset),
        )
        .route(
            "/redfish/v1/Systems/{id}/ResetActionInfo",
            get(reset_action_info),
        )
        .route("/redfish/v1/Managers", get(managers))
        .route("/redfish/v1/Managers/{id}", get(manager))
        .route("/redfish/v1/Managers/{id}/LogServices", get(log_services))
        .route(
            "/redfish/v1/Managers/{id}/LogServices/{log}",
            get(log_service),
        )
        .route(
            "/redfish/v1/Managers/{id}/LogServices/{log}/Entries",
            get(log_entries),
        )
        .route(
            "/redfish/v1/Managers/{id}/LogServices/{log}/Entries/{entry}",
            get(log_entry),
        )
        .route("/redfish/v1/Chassis", get(chassis_collection))
        .route("/redfish/v1/Chassis/{id}", get(chassis))
        .route("/redfish/v1/Chassis/{id}/Sensors", get(sensors))
        .route("/redfish/v1/Chassis/{id}/Sensors/{sensor}", get(sensor))
        .route("/redfish/v1/Chassis/{id}/Thermal", get(thermal))
        .merge(events::routes())
        .merge(vmedia::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(shared.clone(), frame))
        .with_state(shared)
}

/// Around every request: count it, and stamp the headers every Redfish reply carries.
async fn frame(State(sh): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    sh.requests.fetch_add(1, Ordering::Relaxed);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut resp = next.run(req).await;
    debug!(system = %sh.cfg.system_id, %method, path = %echo(&path), status = %resp.status(), "simulated BMC request");
    let h = resp.headers_mut();
    h.insert("OData-Version", HeaderValue::from_static("4.0"));
    // BMC state changes under the client's feet; nothing here may be cached.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn not_found(req: Request) -> Fault {
    Fault::ResourceMissingAtUri(echo(req.uri().path()))
}

async fn method_not_allowed() -> Fault {
    Fault::MethodNotAllowed
}

// ---- authentication ----

/// Proof that the request carried a live session token or valid basic credentials. Taking it
/// as a handler argument is what makes a resource require authentication.
pub(crate) struct Authed;

/// Equal-length-independent comparison whose time does not depend on where the inputs first
/// differ, so a password cannot be found byte by byte from response times.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    diff == 0
}

fn credentials_ok(cfg: &SimBmcConfig, user: &str, password: &str) -> bool {
    // Evaluate both so a wrong user name costs as much as a wrong password.
    let u = same_secret(user.as_bytes(), cfg.username.as_bytes());
    let p = same_secret(password.as_bytes(), cfg.password.as_bytes());
    u & p
}

/// `Authorization: Basic …` decoded to (user, password); `None` when absent or malformed.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl FromRequestParts<Arc<Shared>> for Authed {
    type Rejection = Fault;

    async fn from_request_parts(parts: &mut Parts, sh: &Arc<Shared>) -> Result<Self, Fault> {
        if let Some(token) = parts
            .headers
            .get("X-Auth-Token")
            .and_then(|v| v.to_str().ok())
        {
            if lock(&sh.sessions).touch(token, Instant::now()).is_some() {
                return Ok(Authed);
            }
        }
        match basic_credentials(&parts.headers) {
            Some((user, password)) if credentials_ok(&sh.cfg, &user, &password) => Ok(Authed),
            Some((user, _)) => {
                warn!(system = %sh.cfg.system_id, user = %echo(&user), "simulated BMC: basic authentication failed");
                Err(Fault::NoValidSession)
            }
            None => Err(Fault::NoValidSession),
        }
    }
}

// ---- request parts ----

/// Path parameters, with a Redfish 404 instead of axum's plain-text rejection when a segment
/// cannot be decoded (bad percent-encoding, invalid UTF-8).
pub(crate) struct RfPath<T>(pub T);

impl<T> FromRequestParts<Arc<Shared>> for RfPath<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = Fault;

    async fn from_request_parts(parts: &mut Parts, sh: &Arc<Shared>) -> Result<Self, Fault> {
        match Path::<T>::from_request_parts(parts, sh).await {
            Ok(Path(v)) => Ok(RfPath(v)),
            Err(_) => Err(Fault::ResourceMissingAtUri(echo(parts.uri.path()))),
        }
    }
}

// ---- request bodies ----

/// A JSON object request body, size-bounded, with Redfish errors for every way it can be bad.
pub(crate) struct JsonBody(pub Map<String, Value>);

impl FromRequest<Arc<Shared>> for JsonBody {
    type Rejection = Fault;

    async fn from_request(req: Request, sh: &Arc<Shared>) -> Result<Self, Fault> {
        let bytes = Bytes::from_request(req, sh).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Fault::BodyTooLarge(sh.cfg.max_body_bytes)
            } else {
                Fault::MalformedJson("the body could not be read".into())
            }
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(JsonBody(m)),
            Ok(_) => Err(Fault::NotAnObject),
            // serde's message names line and column only, never the input itself.
            Err(e) => Err(Fault::MalformedJson(e.to_string())),
        }
    }
}

/// One string property of a request body: missing, wrong type and disallowed values are
/// each their own error.
fn enum_value(
    body: &Map<String, Value>,
    property: &str,
    allowed: &[&'static str],
) -> Result<Option<&'static str>, Fault> {
    match body.get(property) {
        None => Ok(None),
        Some(Value::String(s)) => allowed
            .iter()
            .find(|a| **a == s.as_str())
            .map(|a| Some(*a))
            .ok_or_else(|| Fault::PropertyValueNotInList {
                property: property.to_owned(),
                value: echo(s),
            }),
        Some(_) => Err(Fault::PropertyValueTypeError(property.to_owned())),
    }
}

// ---- service root and sessions ----

async fn versions() -> Json<Value> {
    Json(json!({ "v1": "/redfish/v1/" }))
}

async fn service_root(State(sh): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "@odata.id": V1,
        "@odata.type": "#ServiceRoot.v1_15_0.ServiceRoot",
        "Id": "RootService",
        "Name": "Root Service",
        "RedfishVersion": "1.15.0",
        "Vendor": sh.cfg.manufacturer,
        "Product": format!("steward simulated BMC ({})", sh.cfg.model),
        "UUID": uuid_for(&sh.cfg.system_id, 0xb3c),
        "Systems": { "@odata.id": format!("{V1}/Systems") },
        "Managers": { "@odata.id": format!("{V1}/Managers") },
        "Chassis": { "@odata.id": format!("{V1}/Chassis") },
        "SessionService": { "@odata.id": format!("{V1}/SessionService") },
        "EventService": { "@odata.id": events::EVENT_SERVICE },
        "Links": { "Sessions": { "@odata.id": SESSIONS } },
    }))
}

/// A stable, UUID-shaped identifier derived from the hostname (FNV-1a), so a restarted lab
/// presents the same UUIDs.
fn uuid_for(name: &str, salt: u64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let lo = h.rotate_left(29) ^ 0x9e37_79b9_7f4a_7c15;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        lo >> 52,
        lo & 0xffff_ffff_ffff
    )
}

async fn session_service(_: Authed, State(sh): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "@odata.id": format!("{V1}/SessionService"),
        "@odata.type": "#SessionService.v1_1_8.SessionService",
        "Id": "SessionService",
        "Name": "Session Service",
        "ServiceEnabled": true,
        "SessionTimeout": sh.cfg.session_timeout.as_secs(),
        "Sessions": { "@odata.id": SESSIONS },
    }))
}

fn session_doc(s: &Session) -> Value {
    json!({
        "@odata.id": format!("{SESSIONS}/{}", s.id),
        "@odata.type": "#Session.v1_6_0.Session",
        "Id": s.id,
        "Name": "User Session",
        "UserName": s.user,
    })
}

async fn list_sessions(_: Authed, State(sh): State<Arc<Shared>>) -> Json<Value> {
    let ids = lock(&sh.sessions).ids(Instant::now());
    let members: Vec<Value> = ids
        .iter()
        .map(|id| json!({ "@odata.id": format!("{SESSIONS}/{id}") }))
        .collect();
    Json(json!({
        "@odata.id": SESSIONS,
        "@odata.type": "#SessionCollection.SessionCollection",
        "Name": "Session Collection",
        "Members@odata.count": members.len(),
        "Members": members,
    }))
}

/// 128 random bits, hex: a token nobody can guess from the ones they have seen.
fn new_token() -> Result<String, Fault> {
    let mut raw = [0u8; 16];
    getrandom::getrandom(&mut raw)
        .map_err(|e| Fault::Internal(format!("no randomness for a session token: {e}")))?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

/// Login: the one POST that needs no authentication.
async fn login(State(sh): State<Arc<Shared>>, JsonBody(body): JsonBody) -> Result<Response, Fault> {
    let text = |key: &'static str| match body.get(key) {
        None => Err(Fault::PropertyMissing(key)),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(Fault::PropertyValueTypeError(key.to_owned())),
    };
    let user = text("UserName")?;
    let password = text("Password")?;
    if !credentials_ok(&sh.cfg, user, password) {
        warn!(system = %sh.cfg.system_id, user = %echo(user), "simulated BMC: login refused");
        sh.event(
            "Warning",
            format!("Session login refused for user '{}'", echo(user)),
        );
        return Err(Fault::BadCredentials);
    }
    let token = new_token()?;
    let session = lock(&sh.sessions).create(user, token.clone(), Instant::now())?;
    info!(system = %sh.cfg.system_id, user = %echo(user), session = %session.id, "simulated BMC: session created");
    let location = format!("{SESSIONS}/{}", session.id);
    let mut resp = (StatusCode::CREATED, Json(session_doc(&session))).into_response();
    let h = resp.headers_mut();
    h.insert(
        "X-Auth-Token",
        HeaderValue::from_str(&token).map_err(|e| Fault::Internal(e.to_string()))?,
    );
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(|e| Fault::Internal(e.to_string()))?,
    );
    Ok(resp)
}

async fn get_session(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<Json<Value>, Fault> {
    lock(&sh.sessions)
        .get(&id, Instant::now())
        .map(|s| Json(session_doc(&s)))
        .ok_or(Fault::ResourceNotFound {
            kind: "Session",
            name: echo(&id),
        })
}

async fn logout(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<StatusCode, Fault> {
    if lock(&sh.sessions).remove(&id) {
        info!(system = %sh.cfg.system_id, session = %echo(&id), "simulated BMC: session closed");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Fault::ResourceNotFound {
            kind: "Session",
            name: echo(&id),
        })
    }
}

// ---- systems ----

fn collection(path: &str, odata_type: &str, name: &str, members: &[String]) -> Json<Value> {
    let members: Vec<Value> = members.iter().map(|m| json!({ "@odata.id": m })).collect();
    Json(json!({
        "@odata.id": path,
        "@odata.type": odata_type,
        "Name": name,
        "Members@odata.count": members.len(),
        "Members": members,
    }))
}

async fn systems(_: Authed, State(sh): State<Arc<Shared>>) -> Json<Value> {
    collection(
        &format!("{V1}/Systems"),
        "#ComputerSystemCollection.ComputerSystemCollection",
        "Computer System Collection",
        &[sh.system_path()],
    )
}

fn power_str(p: Power) -> &'static str {
    match p {
        Power::On => "On",
        Power::Off => "Off",
    }
}

/// Strong ETag of the System: changes whenever anything in it changes (boot override or
/// power state), so an If-Match PATCH based on a stale read is refused.
fn system_etag(boot: &BootState, power: Power) -> String {
    format!("\"{}-{}\"", boot.generation, power_str(power))
}

/// The ComputerSystem document and its ETag, read consistently under the boot lock.
fn system_doc(sh: &Shared) -> (Value, String) {
    let power = sh.target.power();
    let boot = lock(&sh.boot);
    let etag = system_etag(&boot, power);
    let path = sh.system_path();
    let doc = json!({
        "@odata.id": path,
        "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
        "@odata.etag": etag,
        "Id": sh.cfg.system_id,
        "Name": sh.cfg.system_id,
        "HostName": sh.cfg.system_id,
        "SystemType": "Physical",
        "Manufacturer": sh.cfg.manufacturer,
        "Model": sh.cfg.model,
        "SerialNumber": sh.cfg.serial_number,
        "UUID": uuid_for(&sh.cfg.system_id, 0),
        "BiosVersion": "SIM.1.0",
        "PowerState": power_str(power),
        "Status": { "State": "Enabled", "Health": "OK" },
        "Boot": {
            "BootSourceOverrideTarget": boot.target,
            "BootSourceOverrideTarget@Redfish.AllowableValues": BOOT_TARGETS,
            "BootSourceOverrideEnabled": boot.enabled,
            "BootSourceOverrideEnabled@Redfish.AllowableValues": BOOT_ENABLED,
            "BootSourceOverrideMode": boot.mode,
            "BootSourceOverrideMode@Redfish.AllowableValues": BOOT_MODES,
        },
        "Actions": {
            "#ComputerSystem.Reset": {
                "target": format!("{path}/Actions/ComputerSystem.Reset"),
                "ResetType@Redfish.AllowableValues": ResetType::allowable(),
                "@Redfish.ActionInfo": format!("{path}/ResetActionInfo"),
            }
        },
        "Links": {
            "Chassis": [{ "@odata.id": sh.chassis_path() }],
            "ManagedBy": [{ "@odata.id": format!("{V1}/Managers/{MANAGER_ID}") }],
        },
    });
    (doc, etag)
}

fn with_etag(doc: Value, etag: &str) -> Response {
    let mut resp = Json(doc).into_response();
    // Tags are built from digits and letters only, so this never fails; skip it if it did.
    if let Ok(v) = HeaderValue::from_str(etag) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

async fn get_system(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<Response, Fault> {
    sh.check_system(&id)?;
    let (doc, etag) = system_doc(&sh);
    Ok(with_etag(doc, &etag))
}

/// Read-only ComputerSystem properties a client might try to PATCH.
const READ_ONLY: [&str; 12] = [
    "@odata.id",
    "@odata.type",
    "@odata.etag",
    "Id",
    "Name",
    "HostName",
    "PowerState",
    "Manufacturer",
    "Model",
    "SerialNumber",
    "UUID",
    "Status",
];

/// `If-Match` satisfied by `etag`? `*` matches anything; a list matches if any entry does.
fn if_match_ok(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t == etag)
}

async fn patch_system(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, Fault> {
    sh.check_system(&id)?;
    // Validate the whole request before changing anything: a PATCH applies fully or not at all.
    let mut boot_req = None;
    for (key, value) in &body {
        match key.as_str() {
            "Boot" => match value {
                Value::Object(m) => boot_req = Some(m),
                _ => return Err(Fault::PropertyValueTypeError("Boot".into())),
            },
            k if READ_ONLY.contains(&k) => return Err(Fault::PropertyNotWritable(echo(k))),
            k => return Err(Fault::PropertyUnknown(echo(k))),
        }
    }
    let Some(boot_req) = boot_req else {
        return Err(Fault::PropertyMissing("Boot"));
    };
    for key in boot_req.keys() {
        if !matches!(
            key.as_str(),
            "BootSourceOverrideTarget" | "BootSourceOverrideEnabled" | "BootSourceOverrideMode"
        ) {
            return Err(Fault::PropertyNotWritable(format!("Boot/{}", echo(key))));
        }
    }
    let target = enum_value(boot_req, "BootSourceOverrideTarget", &BOOT_TARGETS)?;
    let enabled = enum_value(boot_req, "BootSourceOverrideEnabled", &BOOT_ENABLED)?;
    let mode = enum_value(boot_req, "BootSourceOverrideMode", &BOOT_MODES)?;

    let power = sh.target.power();
    {
        let mut boot = lock(&sh.boot);
        if let Some(want) = headers.get(header::IF_MATCH) {
            let current = system_etag(&boot, power);
            if !want.to_str().is_ok_and(|w| if_match_ok(w, &current)) {
                info!(system = %sh.cfg.system_id, "simulated BMC: If-Match does not match; 412");
                return Err(Fault::PreconditionFailed);
            }
        }
        if let Some(t) = target {
            boot.target = t;
        }
        if let Some(e) = enabled {
            boot.enabled = e;
        }
        if let Some(m) = mode {
            boot.mode = m;
        }
        boot.generation += 1;
        info!(system = %sh.cfg.system_id, target = boot.target, enabled = boot.enabled, mode = boot.mode, "simulated BMC: boot override set");
        let msg = format!(
            "Boot override set: target {}, enabled {}, mode {}",
            boot.target, boot.enabled, boot.mode
        );
        drop(boot);
        sh.event("OK", msg);
    }
    let (doc, etag) = system_doc(&sh);
    Ok(with_etag(doc, &etag))
}

async fn reset(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
    JsonBody(body): JsonBody,
) -> Result<StatusCode, Fault> {
    sh.check_system(&id)?;
    let reset_type = match body.get("ResetType") {
        None => return Err(Fault::ResetTypeMissing),
        Some(Value::String(s)) => {
            ResetType::parse(s).ok_or_else(|| Fault::ResetTypeNotInList(echo(s)))?
        }
        Some(other) => return Err(Fault::ResetTypeNotInList(echo(&other.to_string()))),
    };
    let t = &sh.target;
    let _serial = lock(&sh.power_action);
    let before = t.power();
    info!(system = %sh.cfg.system_id, reset_type = reset_type.as_str(), power = ?before, "simulated BMC: ComputerSystem.Reset");
    // The boot override is consumed only by actions that really boot the machine.
    let boot = || {
        let device = lock(&sh.boot).consume();
        t.booting_from(device);
        if device == BootDevice::Cd {
            // Without a mounted image the firmware finds no bootable CD and goes on to the disk.
            let mounted = lock(&sh.media).mounted().map(str::to_owned);
            if let Some(image) = mounted {
                info!(system = %sh.cfg.system_id, image = %echo(&image), "simulated BMC: booting from virtual media");
                t.booting_from_media(&image);
            }
        }
    };
    match reset_type {
        // Already in the requested state: succeed without touching the machine, as OpenBMC
        // does (iDRAC answers 409, which only costs the client retries).
        ResetType::On => {
            if before == Power::Off {
                boot();
                t.power_on();
            }
        }
        // The simhost has no OS to shut down in an orderly way; graceful and forced off are
        // the same hard off.
        ResetType::ForceOff | ResetType::GracefulShutdown => {
            if before == Power::On {
                t.power_off();
            }
        }
        ResetType::ForceRestart | ResetType::GracefulRestart => {
            boot();
            t.reset();
        }
        ResetType::PowerCycle => {
            boot();
            t.power_cycle();
        }
        // No kernel to interrupt: accepted and logged, so diagnostics flows can be exercised.
        ResetType::Nmi => {
            info!(system = %sh.cfg.system_id, "simulated BMC: NMI (no effect on a simulated host)");
        }
    }
    sh.event(
        "OK",
        format!(
            "ComputerSystem.Reset {}: power {} -> {}",
            reset_type.as_str(),
            power_str(before),
            power_str(t.power())
        ),
    );
    Ok(StatusCode::NO_CONTENT)
}

async fn reset_action_info(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<Json<Value>, Fault> {
    sh.check_system(&id)?;
    Ok(Json(json!({
        "@odata.id": format!("{}/ResetActionInfo", sh.system_path()),
        "@odata.type": "#ActionInfo.v1_3_0.ActionInfo",
        "Id": "ResetActionInfo",
        "Name": "Reset Action Info",
        "Parameters": [{
            "Name": "ResetType",
            "Required": true,
            "DataType": "String",
            "AllowableValues": ResetType::allowable(),
        }],
    })))
}

// ---- managers ----

async fn managers(_: Authed) -> Json<Value> {
    collection(
        &format!("{V1}/Managers"),
        "#ManagerCollection.ManagerCollection",
        "Manager Collection",
        &[format!("{V1}/Managers/{MANAGER_ID}")],
    )
}

async fn manager(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<Json<Value>, Fault> {
    if id != MANAGER_ID {
        return Err(Fault::ResourceNotFound {
            kind: "Manager",
            name: echo(&id),
        });
    }
    Ok(Json(json!({
        "@odata.id": format!("{V1}/Managers/{MANAGER_ID}"),
        "@odata.type": "#Manager.v1_17_0.Manager",
        "Id": MANAGER_ID,
        "Name": format!("BMC of {}", sh.cfg.system_id),
        "ManagerType": "BMC",
        "Manufacturer": sh.cfg.manufacturer,
        "Model": format!("{} BMC", sh.cfg.model),
        "FirmwareVersion": sh.cfg.firmware_version,
        "UUID": uuid_for(&sh.cfg.system_id, 1),
        "Status": { "State": "Enabled", "Health": "OK" },
        "LogServices": { "@odata.id": format!("{}/LogServices", sh.manager_path()) },
        "VirtualMedia": { "@odata.id": vmedia::collection_path() },
        "Links": {
            "ManagerForServers": [{ "@odata.id": sh.system_path() }],
            "ManagerForChassis": [{ "@odata.id": sh.chassis_path() }],
        },
    })))
}

fn check_log(id: &str, log: &str) -> Result<(), Fault> {
    if id != MANAGER_ID {
        return Err(Fault::ResourceNotFound {
            kind: "Manager",
            name: echo(id),
        });
    }
    if log != LOG_ID {
        return Err(Fault::ResourceNotFound {
            kind: "LogService",
            name: echo(log),
        });
    }
    Ok(())
}

async fn log_services(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<Json<Value>, Fault> {
    check_log(&id, LOG_ID)?;
    Ok(collection(
        &format!("{}/LogServices", sh.manager_path()),
        "#LogServiceCollection.LogServiceCollection",
        "Log Service Collection",
        &[sh.log_path()],
    ))
}

async fn log_service(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath((id, log)): RfPath<(String, String)>,
) -> Result<Json<Value>, Fault> {
    check_log(&id, &log)?;
    let path = sh.log_path();
    Ok(Json(json!({
        "@odata.id": path,
        "@odata.type": "#LogService.v1_5_0.LogService",
        "Id": LOG_ID,
        "Name": "System Event Log",
        "ServiceEnabled": true,
        "MaxNumberOfRecords": eventlog::CAPACITY,
        "OverWritePolicy": "WrapsWhenFull",
        "LogEntryType": "Event",
        "Entries": { "@odata.id": format!("{path}/Entries") },
    })))
}

async fn log_entries(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath((id, log)): RfPath<(String, String)>,
) -> Result<Json<Value>, Fault> {
    check_log(&id, &log)?;
    let path = format!("{}/Entries", sh.log_path());
    // Members are expanded, as BMCs commonly do for logs: one request reads the whole log.
    let members: Vec<Value> = lock(&sh.events).entries().map(|e| e.doc(&path)).collect();
    Ok(Json(json!({
        "@odata.id": path,
        "@odata.type": "#LogEntryCollection.LogEntryCollection",
        "Name": "Log Entry Collection",
        "Members@odata.count": members.len(),
        "Members": members,
    })))
}

async fn log_entry(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath((id, log, entry)): RfPath<(String, String, String)>,
) -> Result<Json<Value>, Fault> {
    check_log(&id, &log)?;
    let path = format!("{}/Entries", sh.log_path());
    lock(&sh.events)
        .entries()
        .find(|e| e.id.to_string() == entry)
        .map(|e| Json(e.doc(&path)))
        .ok_or(Fault::ResourceNotFound {
            kind: "LogEntry",
            name: echo(&entry),
        })
}

// ---- chassis and sensors ----

async fn chassis_collection(_: Authed, State(sh): State<Arc<Shared>>) -> Json<Value> {
    collection(
        &format!("{V1}/Chassis"),
        "#ChassisCollection.ChassisCollection",
        "Chassis Collection",
        &[sh.chassis_path()],
    )
}

async fn chassis(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<Json<Value>, Fault> {
    sh.check_chassis(&id)?;
    let path = sh.chassis_path();
    Ok(Json(json!({
        "@odata.id": path,
        "@odata.type": "#Chassis.v1_23_0.Chassis",
        "Id": sh.cfg.system_id,
        "Name": sh.cfg.system_id,
        "ChassisType": "RackMount",
        "Manufacturer": sh.cfg.manufacturer,
        "Model": sh.cfg.model,
        "SerialNumber": sh.cfg.serial_number,
        "PowerState": power_str(sh.target.power()),
        "Status": { "State": "Enabled", "Health": "OK" },
        "Sensors": { "@odata.id": format!("{path}/Sensors") },
        "Thermal": { "@odata.id": format!("{path}/Thermal") },
        "Links": {
            "ComputerSystems": [{ "@odata.id": sh.system_path() }],
            "ManagedBy": [{ "@odata.id": format!("{V1}/Managers/{MANAGER_ID}") }],
        },
    })))
}

async fn sensors(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<Json<Value>, Fault> {
    sh.check_chassis(&id)?;
    let chassis = sh.chassis_path();
    let members: Vec<String> = sh
        .sensors
        .present()
        .map(|s| format!("{chassis}/Sensors/{}", s.id))
        .collect();
    Ok(collection(
        &format!("{chassis}/Sensors"),
        "#SensorCollection.SensorCollection",
        "Sensors",
        &members,
    ))
}

async fn sensor(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath((id, sensor)): RfPath<(String, String)>,
) -> Result<Json<Value>, Fault> {
    sh.check_chassis(&id)?;
    let s = sh.sensors.get(&sensor).ok_or(Fault::ResourceNotFound {
        kind: "Sensor",
        name: echo(&sensor),
    })?;
    Ok(Json(sh.sensors.doc(
        s,
        &sh.chassis_path(),
        sh.target.power(),
    )))
}

async fn thermal(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<Json<Value>, Fault> {
    sh.check_chassis(&id)?;
    let power = sh.target.power();
    let path = format!("{}/Thermal", sh.chassis_path());
    let mut temperatures = Vec::new();
    let mut fans = Vec::new();
    // The legacy shape has temperatures and fans only (voltages and supplies are in `Power`).
    for s in sh.sensors.present() {
        let reading = sh.sensors.reading(s, power);
        let status = sh.sensors.status(s, power);
        match s.reading_type {
            "Rotational" => fans.push(json!({
                "@odata.id": format!("{path}#/Fans/{}", fans.len()),
                "MemberId": s.id,
                "Name": s.name,
                "Reading": reading,
                "ReadingUnits": "RPM",
                "LowerThresholdNonCritical": s.lower.map(|l| l.0),
                "LowerThresholdCritical": s.lower.map(|l| l.1),
                "Status": status,
            })),
            "Temperature" => temperatures.push(json!({
                "@odata.id": format!("{path}#/Temperatures/{}", temperatures.len()),
                "MemberId": s.id,
                "Name": s.name,
                "ReadingCelsius": reading,
                "UpperThresholdNonCritical": s.upper.map(|u| u.0),
                "UpperThresholdCritical": s.upper.map(|u| u.1),
                "Status": status,
            })),
            _ => {}
        }
    }
    Ok(Json(json!({
        "@odata.id": path,
        "@odata.type": "#Thermal.v1_7_0.Thermal",
        "Id": "Thermal",
        "Name": "Thermal",
        "Temperatures": temperatures,
        "Fans": fans,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_comparison() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
        assert!(same_secret(b"", b""));
    }

    #[test]
    fn if_match_forms() {
        assert!(if_match_ok("\"3-On\"", "\"3-On\""));
        assert!(if_match_ok("*", "\"3-On\""));
        assert!(if_match_ok("\"1-Off\", \"3-On\"", "\"3-On\""));
        assert!(!if_match_ok("\"2-On\"", "\"3-On\""));
        assert!(!if_match_ok("W/\"3-On\"", "\"3-On\""));
    }

    #[test]
    fn once_override_is_consumed_by_one_boot() {
        let mut b = BootState {
            target: "Pxe",
            enabled: "Once",
            mode: "UEFI",
            generation: 4,
        };
        assert_eq!(b.consume(), BootDevice::Pxe);
        assert_eq!((b.target, b.enabled, b.generation), ("None", "Disabled", 5));
        assert_eq!(b.consume(), BootDevice::Normal);
        let mut c = BootState {
            target: "Hdd",
            enabled: "Continuous",
            mode: "UEFI",
            generation: 0,
        };
        assert_eq!(c.consume(), BootDevice::Hdd);
        assert_eq!(c.consume(), BootDevice::Hdd);
    }

    #[test]
    fn basic_header_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(basic_credentials(&h), None);
        // "root:pa:ss" — a colon in the password belongs to the password.
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic cm9vdDpwYTpzcw=="),
        );
        assert_eq!(
            basic_credentials(&h),
            Some(("root".to_owned(), "pa:ss".to_owned()))
        );
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&h), None);
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer x"));
        assert_eq!(basic_credentials(&h), None);
    }

    #[test]
    fn uuid_shape_is_stable() {
        let a = uuid_for("controller-0", 0);
        assert_eq!(a, uuid_for("controller-0", 0));
        assert_ne!(a, uuid_for("controller-1", 0));
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
