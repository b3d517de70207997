//! Sensors and sensor groups in sysinv's `isensor` / `isensorgroup` shapes (docs/sensors.md):
//!
//! | method and path | what |
//! |---|---|
//! | `GET /v1/ihosts/{id}/isensors` | `{"isensors": [isensor…]}` |
//! | `GET /v1/ihosts/{id}/isensorgroups` | `{"isensorgroups": [isensorgroup…]}` |
//! | `GET`, `PATCH /v1/isensors/{uuid}` | one sensor; PATCH `suppress`, `actions_*`, `t_*` |
//! | `GET`, `PATCH /v1/isensorgroups/{uuid}` | one group; PATCH `suppress`, `actions_*_group`, `audit_interval_group`, `t_*_group` |
//! | `POST /v1/isensorgroups/relearn` | `{"host_uuid": id}` (or `?host_uuid=`): learn the host's sensors again (202) |
//!
//! PATCH bodies are sysinv's JSON-patch lists (`[{"op": "replace", "path": "/suppress", "value":
//! "True"}]`); `suppress` takes `"True"`/`"False"` as sysinv sends it, or a JSON boolean. Beyond
//! sysinv, a sensor shows its last `value`, the BMC's own thresholds and when it was read.

use crate::error::ApiError;
use crate::handlers::rfc3339;
use crate::ihost::{parse_json, PatchOp};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use std::time::Duration;
use steward_controller::sensor_audit::StoredSensorAlarm;
use steward_controller::{GroupPatch, GroupView, SensorPatch, SensorView};
use steward_sensors::{Action, ActionOverrides, Thresholds};

type ApiResult<T> = Result<T, ApiError>;

/// The debounce the monitor applies, as sysinv's `algorithm` field names it.
const ALGORITHM: &str = "debounce-2.v1";

fn suppress_word(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

fn thresholds_json(t: &Thresholds, suffix: &str, out: &mut Map<String, Value>) {
    for (name, v) in [
        ("t_critical_lower", t.lower_critical),
        ("t_major_lower", t.lower_major),
        ("t_minor_lower", t.lower_minor),
        ("t_minor_upper", t.upper_minor),
        ("t_major_upper", t.upper_major),
        ("t_critical_upper", t.upper_critical),
    ] {
        out.insert(format!("{name}{suffix}"), json!(v));
    }
}

fn time_or_null(ms: u64) -> Value {
    if ms == 0 {
        Value::Null
    } else {
        json!(rfc3339(ms))
    }
}

/// One sensor in the `isensor` shape.
pub fn isensor(v: &SensorView) -> Value {
    let r = &v.record;
    let b = &r.bmc_thresholds;
    let mut m = Map::new();
    m.insert("uuid".into(), json!(v.uuid));
    m.insert("host_uuid".into(), json!(v.host_uuid));
    m.insert("hostname".into(), json!(v.host));
    m.insert("sensorgroup_uuid".into(), json!(v.group_uuid));
    m.insert("sensorname".into(), json!(r.name));
    m.insert("sensortype".into(), json!(r.group.sensor_type()));
    m.insert("datatype".into(), json!(r.datatype));
    m.insert("path".into(), json!(""));
    m.insert("state".into(), json!(r.state));
    m.insert("status".into(), json!(r.status.as_str()));
    m.insert("suppress".into(), json!(suppress_word(r.suppress)));
    let o = &r.action_overrides;
    m.insert("actions_minor".into(), json!(o.minor.map(Action::as_str)));
    m.insert("actions_major".into(), json!(o.major.map(Action::as_str)));
    m.insert(
        "actions_critical".into(),
        json!(o.critical.map(Action::as_str)),
    );
    m.insert("algorithm".into(), json!(ALGORITHM));
    m.insert("audit_interval".into(), json!(v.audit_interval_secs));
    thresholds_json(&r.thresholds, "", &mut m);
    m.insert(
        "unit_base".into(),
        json!(r.unit.clone().unwrap_or_default()),
    );
    m.insert("unit_rate".into(), json!(""));
    m.insert("unit_modifier".into(), json!(""));
    m.insert("capabilities".into(), json!({}));
    m.insert("value".into(), json!(v.value));
    m.insert(
        "bmc_thresholds".into(),
        json!({
            "lower_non_recoverable": b.lower_non_recoverable,
            "lower_critical": b.lower_critical,
            "lower_non_critical": b.lower_non_critical,
            "upper_non_critical": b.upper_non_critical,
            "upper_critical": b.upper_critical,
            "upper_non_recoverable": b.upper_non_recoverable,
        }),
    );
    m.insert("updated_at".into(), time_or_null(v.read_at_ms));
    Value::Object(m)
}

/// One group in the `isensorgroup` shape.
pub fn isensorgroup(v: &GroupView) -> Value {
    let g = &v.record;
    let mut m = Map::new();
    m.insert("uuid".into(), json!(v.uuid));
    m.insert("host_uuid".into(), json!(v.host_uuid));
    m.insert("hostname".into(), json!(v.host));
    m.insert("sensorgroupname".into(), json!(g.kind.name()));
    m.insert("sensortype".into(), json!(g.kind.sensor_type()));
    m.insert("datatype".into(), json!("discrete"));
    m.insert("path".into(), json!("na"));
    m.insert("state".into(), json!(g.state));
    m.insert("suppress".into(), json!(suppress_word(g.suppress)));
    m.insert("audit_interval_group".into(), json!(v.audit_interval_secs));
    m.insert(
        "actions_minor_group".into(),
        json!(g.actions.minor.as_str()),
    );
    m.insert(
        "actions_major_group".into(),
        json!(g.actions.major.as_str()),
    );
    m.insert(
        "actions_critical_group".into(),
        json!(g.actions.critical.as_str()),
    );
    m.insert("actions_minor_choices".into(), json!("ignore,log,alarm"));
    m.insert("actions_major_choices".into(), json!("ignore,log,alarm"));
    m.insert(
        "actions_critical_choices".into(),
        json!(if v.destructive_allowed {
            "ignore,log,alarm,reset,power-cycle"
        } else {
            "ignore,log,alarm"
        }),
    );
    m.insert("algorithm".into(), json!(ALGORITHM));
    thresholds_json(&g.thresholds, "_group", &mut m);
    m.insert("sensors".into(), json!(v.sensors));
    Value::Object(m)
}

/// The active sensor alarms in `/v1/alarms`' row shape, with their sensor or group entity.
pub(crate) async fn alarm_rows(st: &AppState) -> ApiResult<Vec<Value>> {
    Ok(st
        .handle
        .sensor_alarms()
        .await?
        .iter()
        .map(alarm_row)
        .collect())
}

/// One sensor alarm as `/v1/alarms` lists it (and `/v1/stream`'s `alarm-raised` carries it).
pub(crate) fn alarm_row(a: &StoredSensorAlarm) -> Value {
    json!({
        "alarm_id": a.alarm.id.code(),
        "entity_instance_id": a.alarm.entity,
        "hostname": a.alarm.host,
        "severity": a.alarm.severity,
        "reason_text": a.alarm.reason,
        "proposed_repair_action": a.alarm.repair,
        "service_affecting": a.alarm.service_affecting,
        "timestamp": rfc3339(a.raised_at_ms),
    })
}

pub async fn host_sensors(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let view = st.handle.host_sensors(&id).await?;
    let list: Vec<Value> = view.sensors.iter().map(isensor).collect();
    Ok(Json(json!({ "isensors": list })))
}

/// `GET /v1/ihosts/{id}/sel`: the host's BMC event log (IPMI SEL or Redfish log service), read
/// from the BMC now, oldest first. 409 without a BMC, 503 when the BMC does not answer.
pub async fn host_sel(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let host = st.handle.host(&id).await?.map(|h| h.name().to_string());
    let Some(host) = host else {
        return Err(ApiError::NotFound(format!(
            "host '{id}' not found; `steward host list` shows the known hosts"
        )));
    };
    let records = st.handle.bmc_event_log(&host).await?.map_err(|why| {
        ApiError::Unavailable(format!(
            "{host}: the BMC's event log could not be read: {why}"
        ))
    })?;
    Ok(Json(json!({ "hostname": host, "sel": records })))
}

pub async fn host_groups(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let view = st.handle.host_sensors(&id).await?;
    let list: Vec<Value> = view.groups.iter().map(isensorgroup).collect();
    Ok(Json(json!({ "isensorgroups": list })))
}

fn no_sensor(uuid: &str) -> ApiError {
    ApiError::NotFound(format!(
        "sensor {uuid} not found; GET /v1/ihosts/{{id}}/isensors lists a host's sensors"
    ))
}

fn no_group(uuid: &str) -> ApiError {
    ApiError::NotFound(format!(
        "sensor group {uuid} not found; GET /v1/ihosts/{{id}}/isensorgroups lists a host's groups"
    ))
}

pub async fn show_sensor(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = st
        .handle
        .sensor(&uuid)
        .await?
        .ok_or_else(|| no_sensor(&uuid))?;
    Ok(Json(isensor(&v)))
}

pub async fn show_group(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<Value>> {
    let v = st
        .handle
        .sensor_group(&uuid)
        .await?
        .ok_or_else(|| no_group(&uuid))?;
    Ok(Json(isensorgroup(&v)))
}

fn parse_bool(path: &str, v: &Value) -> ApiResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ApiError::BadRequest(format!(
            "{path} must be \"True\" or \"False\" (or a JSON boolean), not {v}"
        ))),
    }
}

/// An action, or `None` for null/"" (a sensor then follows its group).
fn parse_action(path: &str, v: &Value) -> ApiResult<Option<Action>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => s
            .parse::<Action>()
            .map(Some)
            .map_err(|e| ApiError::BadRequest(format!("{path}: {e}"))),
        _ => Err(ApiError::BadRequest(format!(
            "{path} must be one of ignore, log, alarm, reset, power-cycle, not {v}"
        ))),
    }
}

fn parse_number(path: &str, v: &Value) -> ApiResult<Option<f64>> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => Ok(n.as_f64()),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .map(Some)
            .map_err(|_| ApiError::BadRequest(format!("{path} must be a number, not {s:?}"))),
        _ => Err(ApiError::BadRequest(format!(
            "{path} must be a number, not {v}"
        ))),
    }
}

/// Set the threshold named by `field` (without suffix); false when it is not a threshold.
fn set_threshold(t: &mut Thresholds, field: &str, value: Option<f64>) -> bool {
    let slot = match field {
        "t_critical_lower" => &mut t.lower_critical,
        "t_major_lower" => &mut t.lower_major,
        "t_minor_lower" => &mut t.lower_minor,
        "t_minor_upper" => &mut t.upper_minor,
        "t_major_upper" => &mut t.upper_major,
        "t_critical_upper" => &mut t.upper_critical,
        _ => return false,
    };
    *slot = value;
    true
}

fn check_op(op: &PatchOp) -> ApiResult<&str> {
    if op.op != "replace" && op.op != "add" {
        return Err(ApiError::BadRequest(format!(
            "op {:?} is not supported; use \"replace\"",
            op.op
        )));
    }
    Ok(op.path.trim_start_matches('/'))
}

fn parse_sensor_patch(ops: &[PatchOp], current: &SensorView) -> ApiResult<SensorPatch> {
    let mut patch = SensorPatch::default();
    let mut actions: Option<ActionOverrides> = None;
    let mut thresholds: Option<Thresholds> = None;
    for op in ops {
        let field = check_op(op)?;
        match field {
            "suppress" => patch.suppress = Some(parse_bool(field, &op.value)?),
            "actions_minor" | "actions_major" | "actions_critical" => {
                let a = actions.get_or_insert(current.record.action_overrides);
                let v = parse_action(field, &op.value)?;
                match field {
                    "actions_minor" => a.minor = v,
                    "actions_major" => a.major = v,
                    _ => a.critical = v,
                }
            }
            _ => {
                let t = thresholds.get_or_insert(current.record.thresholds);
                // The field is checked before its value: an unknown field is named as such.
                if !set_threshold(t, field, None) {
                    return Err(ApiError::BadRequest(format!(
                        "/{field} cannot be changed; a sensor's patchable fields are suppress, actions_minor, actions_major, actions_critical and t_{{minor,major,critical}}_{{lower,upper}}"
                    )));
                }
                set_threshold(t, field, parse_number(field, &op.value)?);
            }
        }
    }
    patch.actions = actions;
    patch.thresholds = thresholds;
    Ok(patch)
}

fn parse_group_patch(ops: &[PatchOp], current: &GroupView) -> ApiResult<GroupPatch> {
    let mut patch = GroupPatch::default();
    let mut thresholds: Option<Thresholds> = None;
    for op in ops {
        let field = check_op(op)?;
        match field {
            "suppress" => patch.suppress = Some(parse_bool(field, &op.value)?),
            "actions_minor_group" | "actions_major_group" | "actions_critical_group" => {
                let Some(a) = parse_action(field, &op.value)? else {
                    return Err(ApiError::BadRequest(format!(
                        "{field} needs an action: ignore, log, alarm (critical also reset, power-cycle)"
                    )));
                };
                match field {
                    "actions_minor_group" => patch.minor = Some(a),
                    "actions_major_group" => patch.major = Some(a),
                    _ => patch.critical = Some(a),
                }
            }
            "audit_interval_group" => {
                let secs = parse_number(field, &op.value)?
                    .filter(|s| s.fract() == 0.0 && *s >= 0.0)
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "{field} must be a whole number of seconds (10 to 86400)"
                        ))
                    })?;
                patch.audit_interval = Some(Duration::from_secs(secs as u64));
            }
            _ => {
                let base = field.strip_suffix("_group").unwrap_or("");
                let t = thresholds.get_or_insert(current.record.thresholds);
                if !field.ends_with("_group") || !set_threshold(t, base, None) {
                    return Err(ApiError::BadRequest(format!(
                        "/{field} cannot be changed; a group's patchable fields are suppress, actions_minor_group, actions_major_group, actions_critical_group, audit_interval_group and t_{{minor,major,critical}}_{{lower,upper}}_group"
                    )));
                }
                set_threshold(t, base, parse_number(field, &op.value)?);
            }
        }
    }
    patch.thresholds = thresholds;
    Ok(patch)
}

pub async fn patch_sensor(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ops: Vec<PatchOp> = parse_json(&body, "PATCH list")?;
    let current = st
        .handle
        .sensor(&uuid)
        .await?
        .ok_or_else(|| no_sensor(&uuid))?;
    let patch = parse_sensor_patch(&ops, &current)?;
    let v = st.handle.patch_sensor(&uuid, patch).await?;
    Ok(Json(isensor(&v)))
}

pub async fn patch_group(
    State(st): State<AppState>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let ops: Vec<PatchOp> = parse_json(&body, "PATCH list")?;
    let current = st
        .handle
        .sensor_group(&uuid)
        .await?
        .ok_or_else(|| no_group(&uuid))?;
    let patch = parse_group_patch(&ops, &current)?;
    let v = st.handle.patch_sensor_group(&uuid, patch).await?;
    Ok(Json(isensorgroup(&v)))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelearnQuery {
    host_uuid: Option<String>,
}

pub async fn relearn(
    State(st): State<AppState>,
    query: Result<Query<RelearnQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<impl IntoResponse> {
    let from_query = query.ok().and_then(|Query(q)| q.host_uuid);
    // A body, when there is one, is checked even if the query names the host: unknown fields are
    // refused rather than ignored (found by the API fuzzer).
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        // Read as a plain JSON value: a typed `Option` would take `null` for "absent".
        let v: Value = parse_json(&body, "relearn request")?;
        let refuse = |why: String| Err(ApiError::BadRequest(format!("relearn request: {why}")));
        let Value::Object(map) = v else {
            return refuse("the body must be a JSON object {\"host_uuid\": …}".into());
        };
        if let Some(k) = map.keys().find(|k| *k != "host_uuid") {
            return refuse(format!("unknown field '{k}' (only host_uuid)"));
        }
        match map.get("host_uuid") {
            Some(Value::String(h)) => Some(h.clone()),
            None => None,
            Some(other) => {
                return refuse(format!(
                    "host_uuid must be a string (the host's uuid, id or name), not {other}"
                ))
            }
        }
    };
    let host = from_query.or(from_body).ok_or_else(|| {
        ApiError::BadRequest(
            "relearn needs host_uuid (the host's uuid, id or name), in the body or the query"
                .into(),
        )
    })?;
    st.handle.relearn_sensors(&host).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `/v1/openapi.json`: the base document with the sensor routes and schemas merged in (kept in
/// `openapi_sensors.json`, beside the base).
pub async fn openapi() -> impl IntoResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| merged_openapi().to_string());
    ([(header::CONTENT_TYPE, "application/json")], doc.as_str())
}

pub(crate) fn merged_openapi() -> Value {
    let mut base: Value =
        serde_json::from_str(include_str!("openapi.json")).unwrap_or_else(|_| json!({}));
    let extra: Value =
        serde_json::from_str(include_str!("openapi_sensors.json")).unwrap_or_else(|_| json!({}));
    for (section, target) in [("paths", "/paths"), ("schemas", "/components/schemas")] {
        if let (Some(Value::Object(dst)), Some(Value::Object(src))) =
            (base.pointer_mut(target), extra.get(section))
        {
            for (k, v) in src {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
    describe_metrics(&mut base);
    base
}

/// `/metrics`' entry lists every family the registry exports, generated from the registry itself
/// (`x-metric-families` and the description), so a new family is documented the day it is added.
fn describe_metrics(doc: &mut Value) {
    let Some(get) = doc.pointer_mut("/paths/~1metrics/get") else {
        return;
    };
    let families = crate::metrics::families();
    let mut text = String::from("Prometheus text format. Families:\n");
    for f in &families {
        text.push_str(&format!("\n- `{}` ({}): {}", f.name, f.kind, f.help));
    }
    get["summary"] = json!("Prometheus metrics (every family is listed in the description)");
    get["description"] = json!(text);
    get["x-metric-families"] = Value::Array(
        families
            .iter()
            .map(|f| json!({ "name": f.name, "type": f.kind, "help": f.help }))
            .collect(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_merged_document_has_every_sensor_route_and_schema() {
        let doc = merged_openapi();
        for p in [
            "/v1/ihosts/{id}/isensors",
            "/v1/ihosts/{id}/isensorgroups",
            "/v1/isensors/{uuid}",
            "/v1/isensorgroups/{uuid}",
            "/v1/isensorgroups/relearn",
            "/v1/ihosts",
        ] {
            assert!(doc["paths"].get(p).is_some(), "{p}");
        }
        for s in ["ISensor", "ISensorGroup", "IHost"] {
            assert!(doc["components"]["schemas"].get(s).is_some(), "{s}");
        }
    }

    #[test]
    fn suppress_and_thresholds_parse_like_sysinv() {
        assert!(parse_bool("suppress", &json!("True")).unwrap());
        assert!(!parse_bool("suppress", &json!(false)).unwrap());
        assert!(parse_bool("suppress", &json!("maybe")).is_err());
        assert_eq!(parse_number("t", &json!("85.000")).unwrap(), Some(85.0));
        assert_eq!(parse_number("t", &json!(null)).unwrap(), None);
        assert!(parse_number("t", &json!("hot")).is_err());
        assert_eq!(
            parse_action("a", &json!("powercycle")).unwrap(),
            Some(Action::PowerCycle)
        );
        assert_eq!(parse_action("a", &json!("")).unwrap(), None);
        let mut t = Thresholds::default();
        assert!(set_threshold(&mut t, "t_critical_upper", Some(90.0)));
        assert!(!set_threshold(&mut t, "sensorname", Some(1.0)));
        assert_eq!(t.upper_critical, Some(90.0));
    }
}
