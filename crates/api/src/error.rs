//! The one error type of the API and its mapping to HTTP: every error is `{"error": "..."}` with a
//! message that names the problem and the fix.

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
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut res = (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        res
    }
}
