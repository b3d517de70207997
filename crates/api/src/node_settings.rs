//! `GET /v1/node-settings` and `PATCH /v1/node-settings`: the timings every node agent is pushed
//! (config push), and where each host stands with them.
//!
//! PATCH takes a JSON object of fields: a number sets one, `null` clears it (the node's own
//! configuration applies), an absent field stays. Every accepted PATCH takes a new generation and is
//! pushed to every agent — an empty object `{}` pushes the same values again.

use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use steward_controller::NodeSettingsPatch;
use steward_maintenance::NodeSettings;

/// Where the API learns each host's applied generation (the controller's node link).
pub trait NodeSettingsSource: Send + Sync + 'static {
    /// The generation `host`'s agent last reported (None: no report yet) and the reason it refused
    /// the current one, if it did.
    fn host_settings(&self, host: &str) -> Option<(Option<u64>, Option<String>)>;
}

#[derive(Serialize)]
pub struct HostSettingsView {
    pub hostname: String,
    /// What the agent last reported running (null: not heard from yet).
    pub generation: Option<u64>,
    /// "in-sync", "pending" (not yet reported the current generation) or "refused".
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

#[derive(Serialize)]
pub struct NodeSettingsView {
    #[serde(flatten)]
    pub settings: NodeSettings,
    pub hosts: Vec<HostSettingsView>,
}

async fn view(st: &AppState, settings: NodeSettings) -> Result<NodeSettingsView, ApiError> {
    let mut hosts = Vec::new();
    for rec in st.handle.hosts().await? {
        let name = rec.spec.name;
        let (generation, refused) = st
            .extras
            .node_settings
            .as_ref()
            .and_then(|s| s.host_settings(&name))
            .unwrap_or((None, None));
        let state = if refused.is_some() {
            "refused"
        } else if generation.is_some_and(|g| g >= settings.generation) {
            "in-sync"
        } else {
            "pending"
        };
        hosts.push(HostSettingsView {
            hostname: name,
            generation,
            state,
            refused,
        });
    }
    Ok(NodeSettingsView { settings, hosts })
}

pub(crate) async fn show(State(st): State<AppState>) -> Result<Json<NodeSettingsView>, ApiError> {
    let settings = st.handle.node_settings().await?;
    Ok(Json(view(&st, settings).await?))
}

pub(crate) async fn patch(
    State(st): State<AppState>,
    body: Bytes,
) -> Result<Json<NodeSettingsView>, ApiError> {
    let patch = parse_patch(&body)?;
    let settings = st.handle.update_node_settings(patch).await?;
    Ok(Json(view(&st, settings).await?))
}

/// The body as a patch; every problem is a 400 naming the field and the fix, and nothing changes.
pub fn parse_patch(body: &[u8]) -> Result<NodeSettingsPatch, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "node settings PATCH is not valid JSON ({e}); send an object such as {{\"alive_period_ms\": 2000}}"
        ))
    })?;
    let Value::Object(fields) = value else {
        return Err(ApiError::BadRequest(
            "node settings PATCH must be a JSON object such as {\"alive_period_ms\": 2000}".into(),
        ));
    };
    let mut patch = NodeSettingsPatch::default();
    for (name, v) in fields {
        NodeSettings::field(&name).map_err(ApiError::BadRequest)?;
        let value = match v {
            Value::Null => None,
            Value::Number(n) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n > 0 => Some(n),
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "{name} must be a positive whole number (or null for the node's own value), not {n}"
                    )))
                }
            },
            other => {
                return Err(ApiError::BadRequest(format!(
                    "{name} must be a positive whole number (or null for the node's own value), not {other}"
                )))
            }
        };
        patch.set(&name, value).map_err(ApiError::BadRequest)?;
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_set_nulls_clear_absent_fields_stay() {
        let p = parse_patch(br#"{"alive_period_ms": 2000, "services_timeout_s": null}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let base = NodeSettings {
            services_timeout_s: Some(60),
            goenabled_timeout_s: Some(30),
            ..NodeSettings::default()
        };
        let after = p.apply(base);
        assert_eq!(after.alive_period_ms, Some(2000));
        assert_eq!(after.services_timeout_s, None);
        assert_eq!(after.goenabled_timeout_s, Some(30));
        assert_eq!(parse_patch(b"{}").ok(), Some(NodeSettingsPatch::default()));
    }

    #[test]
    fn bad_bodies_are_refused_naming_the_problem() {
        for (body, says) in [
            (
                &br#"{"alive_period": 5}"#[..],
                "unknown node setting 'alive_period'",
            ),
            (
                br#"{"alive_period_ms": "5s"}"#,
                "alive_period_ms must be a positive whole number",
            ),
            (br#"{"alive_period_ms": -1}"#, "alive_period_ms must be"),
            (br#"{"alive_period_ms": 0}"#, "alive_period_ms must be"),
            (br#"{"alive_period_ms": 1.5}"#, "alive_period_ms must be"),
            (
                br#"{"alive_period_ms": 99999999999}"#,
                "alive_period_ms must be",
            ),
            (br#"[1]"#, "must be a JSON object"),
            (br#"{"#, "not valid JSON"),
        ] {
            let e = parse_patch(body)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(says), "{} -> {e}", String::from_utf8_lossy(body));
        }
    }
}
