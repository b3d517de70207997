//! The one error type of the API and its mapping to HTTP. Every error answer has sysinv's body,
//! `{"error_message": "{\"faultstring\": \"<reason>\", \"debuginfo\": null}"}` (a JSON string
//! inside JSON), which StarlingX's `system` client and steward's CLI both print; the reason names the
//! problem and the fix. [`uniform_errors`] gives axum's own rejections (bad body, too large, wrong
//! method) the same shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use steward_controller::HandleError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, an unknown field or path, a bad value (400).
    #[error("{0}")]
    BadRequest(String),
    /// No token, or a wrong one (401).
    #[error("{0}")]
    Unauthorized(String),
    /// No such host, action or route (404).
    #[error("{0}")]
    NotFound(String),
    /// The core's admission refused the action, or the host already exists (409).
    #[error("{0}")]
    Conflict(String),
    /// The controller is stopping (503).
    #[error("{0}")]
    Unavailable(String),
    /// The controller could not persist the change (500).
    #[error("{0}")]
    Internal(String),
    /// The host's BMC failed the operation (502).
    #[error("{0}")]
    BadGateway(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
        }
    }
}

impl From<HandleError> for ApiError {
    fn from(e: HandleError) -> Self {
        let text = e.to_string();
        match e {
            HandleError::UnknownHost(_) => ApiError::NotFound(text),
            HandleError::Refused(_) => ApiError::Conflict(text),
            HandleError::Invalid(_) => ApiError::BadRequest(text),
            HandleError::Store(_) => ApiError::Internal(text),
            HandleError::Stopped => ApiError::Unavailable(text),
            HandleError::Bmc(_) => ApiError::BadGateway(text),
        }
    }
}

/// The error body for `reason`.
pub fn error_body(reason: &str) -> serde_json::Value {
    let inner = serde_json::json!({ "faultstring": reason, "debuginfo": null });
    serde_json::json!({ "error_message": inner.to_string() })
}

/// The reason inside an error body of [`error_body`]'s shape, if it is one.
pub fn error_reason(body: &serde_json::Value) -> Option<String> {
    let inner: serde_json::Value = serde_json::from_str(body["error_message"].as_str()?).ok()?;
    inner["faultstring"].as_str().map(str::to_string)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut res = (status, Json(error_body(&self.to_string()))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}

/// Longest rejection text kept when rewriting it (axum's are one line).
const REJECTION_TEXT_LIMIT: usize = 4096;

/// Rewrite every error answer that is not already JSON (axum's rejections: a malformed or
/// oversized body, a wrong content type, a method the path does not have) into the error body,
/// keeping its status.
pub(crate) async fn uniform_errors(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, REJECTION_TEXT_LIMIT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let reason = match (status, text.is_empty()) {
        (StatusCode::METHOD_NOT_ALLOWED, _) => format!(
            "this path does not take {}; GET /v1/openapi.json lists the methods of each path",
            parts
                .headers
                .get(axum::http::header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .map(|allow| format!("that method (it takes {allow})"))
                .unwrap_or_else(|| "that method".into())
        ),
        (StatusCode::PAYLOAD_TOO_LARGE, _) => format!(
            "the request body is too large ({text}); send at most 2 MiB (bulk_add: split the hosts file)"
        ),
        (_, false) => format!("{text}; see GET /v1/openapi.json for the shapes"),
        (_, true) => format!(
            "{}; see GET /v1/openapi.json",
            status.canonical_reason().unwrap_or("request failed")
        ),
    };
    let mut res = (status, Json(error_body(&reason))).into_response();
    for (name, value) in parts.headers.iter() {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            res.headers_mut().insert(name, value.clone());
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn reason_of(res: Response) -> (StatusCode, String) {
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        (status, error_reason(&body).expect("sysinv's error body"))
    }

    #[tokio::test]
    async fn plain_text_rejections_get_the_error_body_and_keep_their_status() {
        for status in [
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::BAD_GATEWAY,
        ] {
            let res = (status, "Failed to parse the request body").into_response();
            let (got, reason) = reason_of(uniform_errors(res).await).await;
            assert_eq!(got, status);
            assert!(
                reason.starts_with("Failed to parse the request body"),
                "{reason}"
            );
        }
        // Already in shape, and successes: untouched.
        let res = ApiError::Conflict("Cannot lock the active controller".into()).into_response();
        let (got, reason) = reason_of(uniform_errors(res).await).await;
        assert_eq!(got, StatusCode::CONFLICT);
        assert_eq!(reason, "Cannot lock the active controller");
        let ok = uniform_errors((StatusCode::OK, "fine").into_response()).await;
        let bytes = axum::body::to_bytes(ok.into_body(), 64).await.unwrap();
        assert_eq!(&bytes[..], b"fine");
    }
}
