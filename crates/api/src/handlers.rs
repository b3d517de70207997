//! The handlers: parse, call the controller handle, shape the answer. Nothing else.

use crate::bulk;
use crate::error::ApiError;
use crate::ihost::{self, IHost, NewHost, Patch, PatchOp};
use crate::inventory;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use steward_controller::ActionStatus;
use steward_controller::HostEntry;
use steward_maintenance::action::{ActionId, ActionOutcome, OperatorAction};
use steward_maintenance::host::BmcSpec;
use steward_maintenance::state::{Personality, SystemType};

type ApiResult<T> = Result<T, ApiError>;

fn unknown_host(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "host '{id}' not found; GET /v1/ihosts (steward host list) shows the known hosts"
    ))
}

/// A host by hostname, uuid or integer id, with its identity.
async fn find(st: &AppState, id: &str) -> ApiResult<HostEntry> {
    st.handle
        .host_entry(id)
        .await?
        .ok_or_else(|| unknown_host(id))
}

/// `{"ihosts": [...]}`, serialized straight from the typed list (no intermediate JSON tree: with
/// thousands of hosts that tree was most of the request's time).
#[derive(serde::Serialize)]
pub struct IHostList {
    ihosts: Vec<IHost>,
}

pub async fn list_hosts(State(st): State<AppState>) -> ApiResult<Json<IHostList>> {
    let mut secure_boot = st.handle.secure_boot_seen().await?;
    let ihosts: Vec<IHost> = st
        .handle
        .host_entries()
        .await?
        .iter()
        .map(|e| {
            let mut h = IHost::from_entry(e);
            h.secure_boot = secure_boot.remove(&h.hostname);
            h
        })
        .collect();
    Ok(Json(IHostList { ihosts }))
}

/// The latest inventory of host `id` (uuid or name) with the host's uuid.
async fn inventory_of(st: &AppState, id: &str) -> ApiResult<(steward_protocol::Inventory, String)> {
    let rec = find(st, id).await?.record;
    let src = st.extras.inventory.as_ref().ok_or_else(|| {
        ApiError::NotFound("this controller has no node link: no inventory is collected".into())
    })?;
    let (inv, _) = src.inventory(rec.name()).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no inventory from {} yet: its node agent reports it at start and every minute",
            rec.name()
        ))
    })?;
    Ok((inv, rec.spec.uuid.clone()))
}

pub async fn host_cpus(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (inv, uuid) = inventory_of(&st, &id).await?;
    Ok(Json(json!({ "icpus": inventory::cpus(&inv, &uuid) })))
}

pub async fn host_memory(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (inv, uuid) = inventory_of(&st, &id).await?;
    Ok(Json(json!({ "imemorys": inventory::memory(&inv, &uuid) })))
}

pub async fn host_nodes(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (inv, uuid) = inventory_of(&st, &id).await?;
    Ok(Json(json!({ "inodes": inventory::nodes(&inv, &uuid) })))
}

pub async fn host_disks(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (inv, uuid) = inventory_of(&st, &id).await?;
    Ok(Json(json!({ "idisks": inventory::disks(&inv, &uuid) })))
}

pub async fn host_ports(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let (inv, uuid) = inventory_of(&st, &id).await?;
    Ok(Json(json!({ "ports": inventory::ports(&inv, &uuid) })))
}

pub async fn show_host(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<IHost>> {
    let mut h = IHost::from_entry(&find(&st, &id).await?);
    h.secure_boot = st.handle.secure_boot_seen().await?.remove(&h.hostname);
    Ok(Json(h))
}

/// `GET /v1/ihosts/{id}/secure_boot`: read the host's secure boot state from its BMC now.
pub async fn show_secure_boot(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let seen = st.handle.secure_boot(&id, None).await?;
    Ok(Json(secure_boot_json(&seen, None)))
}

/// `PATCH /v1/ihosts/{id}/secure_boot` with `{"enabled": true|false}`: change it on the BMC
/// (applied at the host's next reset) and answer the state read back.
pub async fn patch_secure_boot(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Change {
        enabled: bool,
    }
    let change: Change = crate::ihost::parse_json(&body, "secure boot change")?;
    let seen = st.handle.secure_boot(&id, Some(change.enabled)).await?;
    Ok(Json(secure_boot_json(&seen, Some(change.enabled))))
}

fn secure_boot_json(seen: &steward_controller::SecureBootSeen, change: Option<bool>) -> Value {
    let mut v = json!({ "secure_boot": seen });
    if change.is_some() {
        v["note"] = json!("the BMC applies the change at the host's next reset");
    }
    v
}

/// The handle does not tell the system type: a system whose controllers run the worker subfunction
/// is all-in-one. (A first AIO controller is added by the bootstrap, not through this API.)
async fn system_type(st: &AppState) -> ApiResult<SystemType> {
    let aio = st
        .handle
        .hosts()
        .await?
        .iter()
        .any(|h| h.spec.personality == Personality::Controller && h.subf.is_some());
    Ok(if aio {
        SystemType::AioDuplex
    } else {
        SystemType::Standard
    })
}

async fn provision(st: &AppState, new: NewHost) -> ApiResult<HostEntry> {
    let p = new.into_provision(system_type(st).await?)?;
    add_provisioned(st, p).await
}

/// Add a host whose fields were checked ([`NewHost::into_provision`]); admission may still refuse.
async fn add_provisioned(st: &AppState, p: ihost::Provision) -> ApiResult<HostEntry> {
    let name = p.record.spec.name.clone();
    st.handle.add_host(p.record).await?;
    if let Some((spec, password)) = p.bmc {
        st.handle.set_bmc_credentials(&name, spec, password).await?;
    }
    find(st, &name).await
}

pub async fn add_host(State(st): State<AppState>, body: Bytes) -> ApiResult<impl IntoResponse> {
    let new: NewHost = ihost::parse_json(&body, "host")?;
    let rec = provision(&st, new).await?;
    Ok((StatusCode::CREATED, Json(IHost::from_entry(&rec))))
}

async fn act(st: &AppState, id: &str, action: OperatorAction) -> ApiResult<IHost> {
    // Resolve first so that an unknown host is a 404, not counted as a refusal.
    let before = find(st, id).await?;
    match st.handle.request(id, action).await {
        Ok(aid) => {
            st.metrics.count(action.action().as_str(), true);
            let shown = match find(st, id).await {
                Ok(r) => IHost::from_entry(&r),
                // A deleted host may already be gone: shown as it was, being deleted.
                Err(_) => IHost {
                    task: "Deleting".into(),
                    action: "delete",
                    ..IHost::from_entry(&before)
                },
            };
            Ok(shown.with_action(aid))
        }
        Err(e) => {
            if matches!(e, steward_controller::HandleError::Refused(_)) {
                st.metrics.count(action.action().as_str(), false);
            }
            Err(e.into())
        }
    }
}

pub async fn patch_host(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<IHost>> {
    let ops: Vec<PatchOp> = ihost::parse_json(&body, "PATCH list")?;
    let patch = ihost::parse_patch(ops)?;
    let rec = find(&st, &id).await?.record;
    match patch {
        Patch::Action(a) => Ok(Json(act(&st, &id, a).await?)),
        Patch::Bmc {
            bm_type,
            bm_ip,
            bm_username,
            bm_password,
            install_image,
            install_method,
        } => {
            let name = rec.spec.name.clone();
            let touches_bmc = bm_type.is_some()
                || bm_ip.is_some()
                || bm_username.is_some()
                || bm_password.is_some();
            if install_image.is_some() || install_method.is_some() {
                // Checked against the BMC the host will have after this PATCH.
                let protocol = match &bm_type {
                    Some(t) => ihost::parse_bm_type(t)?,
                    None => rec.spec.bmc.as_ref().map(|b| b.protocol),
                };
                let cur = &rec.spec.install;
                let image = install_image.or_else(|| cur.image.clone());
                let method = install_method.or_else(|| cur.method.map(|m| m.as_str().into()));
                let install = ihost::parse_install(image.as_deref(), method.as_deref(), protocol)?;
                st.handle.set_install(&name, install).await?;
            }
            if !touches_bmc {
                return Ok(Json(IHost::from_entry(&find(&st, &name).await?)));
            }
            let cur = rec.spec.bmc.clone();
            let protocol = match bm_type {
                Some(t) => ihost::parse_bm_type(&t)?,
                None => cur.as_ref().map(|b| b.protocol),
            };
            match protocol {
                None => st.handle.set_bmc(&name, None).await?,
                Some(protocol) => {
                    let address = bm_ip
                        .or_else(|| cur.as_ref().map(|b| b.address.clone()))
                        .filter(|s| !s.is_empty());
                    let username = bm_username
                        .or_else(|| cur.as_ref().map(|b| b.username.clone()))
                        .filter(|s| !s.is_empty());
                    let (Some(address), Some(username)) = (address, username) else {
                        return Err(ApiError::BadRequest(
                            "a BMC needs bm_ip and bm_username; patch them together with bm_type"
                                .into(),
                        ));
                    };
                    let spec = BmcSpec {
                        protocol,
                        address,
                        username,
                    };
                    match bm_password.filter(|p| !p.is_empty()) {
                        Some(pw) => st.handle.set_bmc_credentials(&name, spec, pw).await?,
                        None => st.handle.set_bmc(&name, Some(spec)).await?,
                    }
                }
            }
            Ok(Json(IHost::from_entry(&find(&st, &name).await?)))
        }
    }
}

/// How long `DELETE` waits for the deletion to end before answering. A locked host the node need not
/// be told about is gone within a step; one still deleting after this answers as it stands.
const DELETE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

pub async fn delete_host(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<IHost>> {
    let shown = act(&st, &id, OperatorAction::Delete).await?;
    // sysinv answers a DELETE once the host is gone: so a client that reads the host (or its
    // sensors, inventory…) right after its DELETE does not find it still there.
    if let Some(aid) = shown.action_id {
        let poll = std::time::Duration::from_millis(10);
        let _ =
            tokio::time::timeout(DELETE_WAIT, st.handle.wait(ActionId(aid), poll, |_| {})).await;
    }
    Ok(Json(shown))
}

pub async fn bulk_add(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_json = content_type.contains("json");
    let file: &[u8] = if content_type.starts_with("multipart/form-data") {
        bulk::multipart_file(content_type, &body)?
    } else {
        &body
    };
    let hosts: Vec<NewHost> = if is_json {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Many {
            ihosts: Vec<NewHost>,
        }
        ihost::parse_json::<Many>(&body, "bulk_add body ({\"ihosts\": [...]})")?.ihosts
    } else {
        let text = std::str::from_utf8(file)
            .map_err(|_| ApiError::BadRequest("the hosts file is not UTF-8 text".into()))?;
        bulk::parse_hosts_xml(text)?
    };
    if hosts.is_empty() {
        // An empty body (or a file without <host>) is a mistake, not a successful no-op.
        return Err(ApiError::BadRequest(
            "the hosts file holds no host; send <hosts><host><hostname>…</hostname><personality>…</personality></host></hosts> (GET /v1/ihosts/bulk_export writes one)".into(),
        ));
    }
    // Every host's fields are checked before any is added: a file with a malformed host is
    // refused whole (400 naming the host and the field), never half applied. What admission
    // refuses (a name already taken) is reported per host, as sysinv does.
    let system = system_type(&st).await?;
    let mut checked = Vec::with_capacity(hosts.len());
    for (i, h) in hosts.into_iter().enumerate() {
        let label = h
            .hostname
            .clone()
            .unwrap_or_else(|| format!("host #{}", i + 1));
        let p = h.into_provision(system).map_err(|e| {
            ApiError::BadRequest(format!(
                "{label}: {e}; nothing was added, fix the file and send it again"
            ))
        })?;
        checked.push((label, p));
    }
    let (mut ok, mut errors) = (Vec::new(), Vec::new());
    for (label, p) in checked {
        match add_provisioned(&st, p).await {
            Ok(r) => ok.push(r.record.spec.name),
            Err(e) => errors.push(format!("{label}: Host-add Rejected: {e}")),
        }
    }
    Ok(Json(
        json!({ "success": ok.join(", "), "error": errors.join("; ") }),
    ))
}

pub async fn bulk_export(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let hosts = st.handle.hosts().await?;
    Ok(Json(json!({ "content": bulk::export_hosts_xml(&hosts) })))
}

/// `a12` or `12`.
fn parse_action_id(s: &str) -> ApiResult<ActionId> {
    s.strip_prefix('a')
        .unwrap_or(s)
        .parse::<u64>()
        .map(ActionId)
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "'{s}' is not an action id; use the action_id a PATCH or DELETE returned (a number)"
            ))
        })
}

pub fn action_json(id: ActionId, status: &ActionStatus) -> Value {
    match status {
        ActionStatus::Running { host } => {
            json!({ "action_id": id.0, "hostname": host, "state": "running" })
        }
        ActionStatus::Ended { host, outcome } => match outcome {
            ActionOutcome::Completed => {
                json!({ "action_id": id.0, "hostname": host, "state": "completed" })
            }
            ActionOutcome::Failed { reason } => {
                json!({ "action_id": id.0, "hostname": host, "state": "failed", "reason": reason })
            }
            ActionOutcome::SupersededBy { action } => json!({
                "action_id": id.0, "hostname": host, "state": "superseded",
                "superseded_by": action.0,
                "reason": format!("superseded by action {}", action.0),
            }),
        },
    }
}

/// `GET /v1/ihosts/{id}/actions`: the host's actions the controller still knows, oldest first.
pub async fn host_actions(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let rec = find(&st, &id).await?.record;
    let actions: Vec<Value> = st
        .handle
        .host_actions(rec.name())
        .await?
        .iter()
        .map(|(aid, status)| action_json(*aid, status))
        .collect();
    Ok(Json(json!({ "actions": actions })))
}

pub async fn show_action(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let aid = parse_action_id(&id)?;
    let status = st.handle.action(aid).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no action {}; action ids come from PATCH /v1/ihosts/{{id}} and DELETE",
            aid.0
        ))
    })?;
    Ok(Json(action_json(aid, &status)))
}

pub async fn list_alarms(State(st): State<AppState>) -> ApiResult<Json<Value>> {
    let mut alarms: Vec<Value> = st
        .handle
        .alarms()
        .await?
        .iter()
        .map(|a| {
            json!({
                "alarm_id": a.id.code(),
                "entity_instance_id": a.entity(),
                "hostname": a.host,
                "severity": a.severity,
                "reason_text": a.reason,
                "proposed_repair_action": a.repair,
            })
        })
        .collect();
    alarms.extend(crate::sensors::alarm_rows(&st).await?);
    Ok(Json(json!({ "alarms": alarms })))
}

/// The most events one `GET /v1/events` returns (the document's `maximum` of `limit`).
const MAX_EVENTS: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    limit: Option<usize>,
}

pub async fn list_events(
    State(st): State<AppState>,
    query: Result<Query<EventsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = query.map_err(|e| {
        ApiError::BadRequest(format!("{}; the only parameter is limit=N", e.body_text()))
    })?;
    let limit = q.limit.unwrap_or(100);
    if limit > MAX_EVENTS {
        return Err(ApiError::BadRequest(format!(
            "limit={limit} is more than the {MAX_EVENTS} events one request returns; ask for at most limit={MAX_EVENTS}"
        )));
    }
    let events: Vec<Value> = st
        .handle
        .events(limit)
        .await?
        .iter()
        .map(|e| {
            json!({
                "event_log_id": e.entry.id.code(),
                "entity_instance_id": format!("host={}", e.entry.host),
                "hostname": e.entry.host,
                "reason_text": e.entry.text,
                "severity": if e.entry.critical { "critical" } else { "not-applicable" },
                "timestamp": rfc3339(e.at_ms),
            })
        })
        .collect();
    Ok(Json(json!({ "events": events })))
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(at_ms: u64) -> String {
    let (y, m, d, hh, mm, ss, ms) = civil(at_ms);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}Z")
}

/// Milliseconds since the epoch as (year, month, day, hour, minute, second, millisecond) in UTC
/// (civil-from-days, H. Hinnant).
pub fn civil(at_ms: u64) -> (i64, i64, i64, u64, u64, u64, u64) {
    let secs = at_ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60, at_ms % 1000)
}

/// The document with the sensor routes merged in (`sensors::openapi`).
pub async fn openapi() -> impl IntoResponse {
    crate::sensors::openapi().await
}

pub async fn metrics(State(st): State<AppState>) -> ApiResult<impl IntoResponse> {
    let hosts = st.handle.hosts().await?;
    let alarms = st.handle.alarms().await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        st.metrics.render(
            &hosts,
            &alarms,
            &st.extras
                .link_metrics
                .as_ref()
                .map(|m| m.samples())
                .unwrap_or_default(),
        ),
    ))
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound(
        "no such endpoint; GET /v1/openapi.json lists them (/v1/ihosts, /v1/actions/{id}, /v1/alarms, /v1/events, /metrics)".into(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_formats_epoch_milliseconds() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        assert_eq!(super::rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
