//! # steward-api — the REST API of the maintenance controller
//!
//! An axum router over a [`ControllerHandle`]. Host resources use the field names and JSON shapes of
//! the StarlingX sysinv `ihosts` API (README.md, "REST API and CLI"), so existing tooling
//! reads them; alarms and events use the FM names (`alarm_id`, `entity_instance_id`, `reason_text`).
//!
//! | method and path | what |
//! |---|---|
//! | `GET /v1/ihosts` | `{"ihosts": [ihost…]}` |
//! | `POST /v1/ihosts` | add a host (locked, new install); `bm_password` is stored encrypted, never echoed |
//! | `GET /v1/ihosts/{id}` | one ihost (`id` = integer id, uuid or hostname) |
//! | `PATCH /v1/ihosts/{id}` | JSON-patch list: `/action` (lock, unlock, …) or the `bm_*` fields |
//! | `DELETE /v1/ihosts/{id}` | the `delete` action |
//! | `POST /v1/ihosts/bulk_add` | sysinv hosts XML (raw, or as the `file` part of a multipart form as `system host-bulk-add` sends it; or `{"ihosts":[…]}` JSON) → `{"success": "...", "error": "..."}` |
//! | `GET /v1/ihosts/bulk_export` | `{"content": hosts XML}` |
//! | `GET /v1/ihosts/{id}/icpus`, `imemorys`, `inodes`, `idisks`, `ports` | hardware the host's node agent reported |
//! | `GET /v1/ihosts/{id}/secure_boot`, `PATCH` with `{"enabled": bool}` | UEFI secure boot read from (or set on) the host's Redfish BMC now; a change applies at the next reset; the host shows the last read state as `secure_boot` (steward's addition) |
//! | `GET /v1/actions/{id}` | where an accepted action stands (steward's addition) |
//! | `GET /v1/ihosts/{id}/actions` | the host's actions still in the journal, oldest first (steward's addition) |
//! | `GET /v1/ihosts/{id}/sel` | the host's BMC event log (IPMI SEL or Redfish log service), read now |
//! | `GET /v1/ihosts/{id}/isensors`, `isensorgroups`; `GET/PATCH /v1/isensors/{uuid}`, `/v1/isensorgroups/{uuid}`; `POST /v1/isensorgroups/relearn` | sensors and groups in sysinv's shapes (`sensors` module, docs/sensors.md) |
//! | `GET /v1/alarms`, `GET /v1/events?limit=N` | active alarms (sensor alarms 200.007/014/015 with their sensor entity), newest customer-log events |
//! | `GET /v1/stream` | Server-Sent Events of host changes, alarms and events, resumable with `Last-Event-ID` (`stream`) |
//! | `GET /v1/openapi.json` | OpenAPI 3 description of all of this |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /ui/` | the web dashboard (`steward-web`; `/` redirects there), no token needed for the page |
//!
//! Every route sits in one table ([`route_paths`] lists it); `tests/openapi.rs` checks that the
//! document has each, and `tests/api_fuzz.rs` runs schemathesis from the document against the API.
//! Addresses (`mgmt_ip`, `cluster_ip`, `mgmt_mac`, `bm_ip`) are checked before anything is stored.
//!
//! Handlers are thin: parse, call the handle, map [`ApiError`] to a status and sysinv's error body
//! `{"error_message": "{\"faultstring\": \"…\", \"debuginfo\": null}"}` ([`error_body`]; axum's
//! own rejections are rewritten into it too). Accepted actions answer with an `action_id` that
//! `GET /v1/actions/{id}` follows.
//!
//! Hosts are addressed by hostname, uuid or integer `id` (sysinv's clients use the id). Requests
//! carry the token as `Authorization: Bearer <token>` or as `X-Auth-Token: <token>` (Keystone's
//! header, which sysinv's `system` client sends).

mod address;
mod auth;
mod bulk;
mod error;
mod handlers;
mod ihost;
pub mod inventory;
mod metrics;
pub mod node_settings;
mod sensors;
mod stream;

pub use auth::{Auth, TOKEN_FILE};
pub use error::{error_body, error_reason, ApiError};
pub use inventory::InventorySource;
pub use metrics::{
    families as metric_families, parse_families, FamilyInfo, LinkMetrics, LinkSample,
};
pub use node_settings::NodeSettingsSource;
/// Where the web dashboard is served, relative to the API's base URL.
pub use steward_web::PATH as DASHBOARD_PATH;

/// What the API serves beyond the controller handle, when the controller has it.
#[derive(Clone, Default)]
pub struct ApiExtras {
    /// Hosts' hardware inventory (the node link) behind `/v1/ihosts/{id}/icpus|imemorys|idisks|ports`;
    /// without it those answer 404.
    pub inventory: Option<Arc<dyn InventorySource>>,
    /// Datagram counters of the protocol links for `/metrics`.
    pub link_metrics: Option<Arc<dyn LinkMetrics>>,
    /// Each host's applied node-settings generation, for `GET /v1/node-settings`; without it every
    /// host shows "pending".
    pub node_settings: Option<Arc<dyn NodeSettingsSource>>,
}

use axum::routing::{get, post, MethodRouter};
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use steward_controller::ControllerHandle;

/// What every handler gets: the controller handle and the metrics registry.
#[derive(Clone)]
pub(crate) struct AppState {
    pub handle: ControllerHandle,
    pub metrics: Arc<metrics::Metrics>,
    pub extras: ApiExtras,
}

/// The OpenAPI 3.0 document `GET /v1/openapi.json` serves: `openapi.json` with the sensor routes of
/// `openapi_sensors.json` merged in.
pub fn openapi_document() -> serde_json::Value {
    sensors::merged_openapi()
}

/// Every route of the API, path and methods: the router is built from this table, and the test
/// `tests/openapi.rs` walks it to check that `GET /v1/openapi.json` documents each path and method.
fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        (
            "/v1/ihosts",
            get(handlers::list_hosts).post(handlers::add_host),
        ),
        ("/v1/ihosts/bulk_add", post(handlers::bulk_add)),
        ("/v1/ihosts/bulk_export", get(handlers::bulk_export)),
        (
            "/v1/ihosts/{id}",
            get(handlers::show_host)
                .patch(handlers::patch_host)
                .delete(handlers::delete_host),
        ),
        ("/v1/ihosts/{id}/icpus", get(handlers::host_cpus)),
        ("/v1/ihosts/{id}/imemorys", get(handlers::host_memory)),
        ("/v1/ihosts/{id}/inodes", get(handlers::host_nodes)),
        ("/v1/ihosts/{id}/idisks", get(handlers::host_disks)),
        ("/v1/ihosts/{id}/ports", get(handlers::host_ports)),
        (
            "/v1/ihosts/{id}/secure_boot",
            get(handlers::show_secure_boot).patch(handlers::patch_secure_boot),
        ),
        ("/v1/ihosts/{id}/actions", get(handlers::host_actions)),
        ("/v1/actions/{id}", get(handlers::show_action)),
        (
            "/v1/node-settings",
            get(node_settings::show).patch(node_settings::patch),
        ),
        ("/v1/ihosts/{id}/isensors", get(sensors::host_sensors)),
        ("/v1/ihosts/{id}/isensorgroups", get(sensors::host_groups)),
        ("/v1/ihosts/{id}/sel", get(sensors::host_sel)),
        (
            "/v1/isensors/{uuid}",
            get(sensors::show_sensor).patch(sensors::patch_sensor),
        ),
        ("/v1/isensorgroups/relearn", post(sensors::relearn)),
        (
            "/v1/isensorgroups/{uuid}",
            get(sensors::show_group).patch(sensors::patch_group),
        ),
        ("/v1/alarms", get(handlers::list_alarms)),
        ("/v1/events", get(handlers::list_events)),
        ("/v1/stream", get(stream::stream)),
        ("/v1/openapi.json", get(handlers::openapi)),
        ("/metrics", get(handlers::metrics)),
    ]
}

/// The path of every route (with `{param}` placeholders), in the order the router takes them.
pub fn route_paths() -> Vec<&'static str> {
    routes().into_iter().map(|(path, _)| path).collect()
}

/// The API as a router. It must be served with connect info (`into_make_service_with_connect_info::<SocketAddr>()`,
/// as [`serve`] does) for the loopback exemption to apply; without it every request needs a token.
pub fn router(handle: ControllerHandle, auth: Auth) -> Router {
    router_with(handle, auth, ApiExtras::default())
}

/// As [`router`], with what the controller adds ([`ApiExtras`]: inventory, link metrics).
pub fn router_with(handle: ControllerHandle, auth: Auth, extras: ApiExtras) -> Router {
    let state = AppState {
        metrics: Arc::new(metrics::Metrics::new(handle.telemetry())),
        handle,
        extras,
    };
    let v1 = routes()
        .into_iter()
        .fold(Router::new(), |router, (path, methods)| {
            router.route(path, methods)
        });
    v1.fallback(handlers::not_found)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(auth),
            auth::require_token,
        ))
        .layer(axum::middleware::map_response(error::uniform_errors))
        .with_state(state)
        // The dashboard's page and assets need no token (the API calls they make do).
        .merge(steward_web::router())
}

/// Serve the API on `listener` until the process ends.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: ControllerHandle,
    auth: Auth,
) -> std::io::Result<()> {
    serve_with(listener, handle, auth, ApiExtras::default()).await
}

/// As [`serve`], with the [`ApiExtras`] of [`router_with`].
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    handle: ControllerHandle,
    auth: Auth,
    extras: ApiExtras,
) -> std::io::Result<()> {
    let app = router_with(handle, auth, extras);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}
