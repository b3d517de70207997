//! Redfish error replies. Every failure a handler can hit is one [`Fault`]; it maps to one
//! HTTP status and one DMTF Base registry message, so clients see the same `error` shape a
//! real BMC sends (`error.code`, `error.message`, `@Message.ExtendedInfo`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Base registry version quoted in `MessageId`s.
const REGISTRY: &str = "Base.1.18";

/// Longest piece of request input echoed back in an error message: replies stay small
/// whatever a client sends.
const ECHO_MAX: usize = 64;

/// Request input as it may appear in an error message: truncated, never the password
/// (callers only pass property names and enumeration values here).
pub(crate) fn echo(s: &str) -> String {
    if s.chars().count() <= ECHO_MAX {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(ECHO_MAX).collect();
        t.push('…');
        t
    }
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Fault {
    /// No credentials, an unknown or expired `X-Auth-Token`, or wrong basic credentials.
    #[error("There is no valid session established with the implementation; log in via SessionService or use basic authentication.")]
    NoValidSession,

    /// Login with a wrong user name or password. Deliberately does not say which one.
    #[error("Invalid user name or password.")]
    BadCredentials,

    #[error("The request body submitted was malformed JSON and could not be parsed by the receiving service: {0}")]
    MalformedJson(String),

    #[error("The request body is larger than this service accepts ({0} bytes at most).")]
    BodyTooLarge(usize),

    #[error("The request body must be a JSON object.")]
    NotAnObject,

    #[error("The property {0} is a required property and must be included in the request.")]
    PropertyMissing(&'static str),

    #[error(
        "The value '{value}' for the property {property} is not in the list of acceptable values."
    )]
    PropertyValueNotInList { property: String, value: String },

    #[error("The value for the property {0} is of a different type than the property can accept.")]
    PropertyValueTypeError(String),

    #[error("The property {0} is a read only property and cannot be assigned a value.")]
    PropertyNotWritable(String),

    #[error("The property {0} is not in the list of valid properties for the resource.")]
    PropertyUnknown(String),

    #[error("The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.")]
    ResetTypeMissing,

    #[error("The value '{0}' for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values.")]
    ResetTypeNotInList(String),

    #[error("The ETag supplied in If-Match does not match the current ETag of the resource; read the resource again and retry.")]
    PreconditionFailed,

    #[error("The requested resource of type {kind} named '{name}' was not found.")]
    ResourceNotFound { kind: &'static str, name: String },

    #[error("The resource at the URI '{0}' was not found.")]
    ResourceMissingAtUri(String),

    #[error("The value '{value}' for the property {property} is not in a format the property can accept.")]
    PropertyValueFormatError {
        property: &'static str,
        value: String,
    },

    #[error("The create operation failed: this service keeps at most {0} of these resources; delete one first.")]
    CreateLimitReached(usize),

    #[error("The HTTP method is not allowed on this resource.")]
    MethodNotAllowed,

    #[error(
        "The action {action} requires the parameter {parameter} to be present in the request body."
    )]
    ActionParameterMissing {
        action: &'static str,
        parameter: &'static str,
    },

    #[error("The action {action} was submitted with the invalid parameter {parameter}.")]
    ActionParameterUnknown {
        action: &'static str,
        parameter: String,
    },

    #[error("The change to the requested resource failed because the resource is in use or in transition: {0}")]
    ResourceInUse(String),

    #[error("The session limit has been exceeded; log out an existing session or wait for one to expire.")]
    SessionLimit,

    #[error("The request failed due to an internal service error: {0}")]
    Internal(String),
}

impl Fault {
    fn status(&self) -> StatusCode {
        match self {
            Fault::NoValidSession | Fault::BadCredentials => StatusCode::UNAUTHORIZED,
            Fault::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Fault::MalformedJson(_)
            | Fault::NotAnObject
            | Fault::PropertyMissing(_)
            | Fault::PropertyValueNotInList { .. }
            | Fault::PropertyValueTypeError(_)
            | Fault::PropertyNotWritable(_)
            | Fault::PropertyUnknown(_)
            | Fault::PropertyValueFormatError { .. }
            | Fault::ResetTypeMissing
            | Fault::ResetTypeNotInList(_)
            | Fault::ActionParameterMissing { .. }
            | Fault::ActionParameterUnknown { .. } => StatusCode::BAD_REQUEST,
            Fault::ResourceInUse(_) => StatusCode::CONFLICT,
            Fault::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Fault::ResourceNotFound { .. } | Fault::ResourceMissingAtUri(_) => {
                StatusCode::NOT_FOUND
            }
            Fault::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Fault::SessionLimit | Fault::CreateLimitReached(_) => StatusCode::SERVICE_UNAVAILABLE,
            Fault::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The Base registry message this fault corresponds to.
    fn message_key(&self) -> &'static str {
        match self {
            Fault::NoValidSession => "NoValidSession",
            Fault::BadCredentials => "ResourceAtUriUnauthorized",
            Fault::MalformedJson(_) => "MalformedJSON",
            Fault::BodyTooLarge(_) => "PayloadTooLarge",
            Fault::NotAnObject => "UnrecognizedRequestBody",
            Fault::PropertyMissing(_) => "PropertyMissing",
            Fault::PropertyValueNotInList { .. } => "PropertyValueNotInList",
            Fault::PropertyValueTypeError(_) => "PropertyValueTypeError",
            Fault::PropertyNotWritable(_) => "PropertyNotWritable",
            Fault::PropertyUnknown(_) => "PropertyUnknown",
            Fault::PropertyValueFormatError { .. } => "PropertyValueFormatError",
            Fault::CreateLimitReached(_) => "CreateLimitReachedForResource",
            Fault::ResetTypeMissing | Fault::ActionParameterMissing { .. } => {
                "ActionParameterMissing"
            }
            Fault::ActionParameterUnknown { .. } => "ActionParameterUnknown",
            Fault::ResourceInUse(_) => "ResourceInUse",
            Fault::ResetTypeNotInList(_) => "ActionParameterValueNotInList",
            Fault::PreconditionFailed => "PreconditionFailed",
            Fault::ResourceNotFound { .. } => "ResourceNotFound",
            Fault::ResourceMissingAtUri(_) => "ResourceMissingAtURI",
            Fault::MethodNotAllowed => "OperationNotAllowed",
            Fault::SessionLimit => "SessionLimitExceeded",
            Fault::Internal(_) => "InternalError",
        }
    }
}

impl IntoResponse for Fault {
    fn into_response(self) -> Response {
        let status = self.status();
        let id = format!("{REGISTRY}.{}", self.message_key());
        let message = self.to_string();
        let severity = if status.is_server_error() {
            "Critical"
        } else {
            "Warning"
        };
        let body = json!({
            "error": {
                "code": id,
                "message": message,
                "@Message.ExtendedInfo": [{
                    "@odata.type": "#Message.v1_1_1.Message",
                    "MessageId": id,
                    "Message": message,
                    "MessageSeverity": severity,
                    "Resolution": "Correct the request and resubmit it.",
                }],
            }
        });
        let mut resp = (status, Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 7235: a 401 names the scheme the client may retry with.
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"steward-simbmc\""),
            );
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_truncates_long_input() {
        assert_eq!(echo("Pxe"), "Pxe");
        let long = "x".repeat(500);
        let e = echo(&long);
        assert!(e.chars().count() <= ECHO_MAX + 1, "{e}");
    }

    #[test]
    fn statuses() {
        assert_eq!(Fault::NoValidSession.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            Fault::PreconditionFailed.status(),
            StatusCode::PRECONDITION_FAILED
        );
        assert_eq!(
            Fault::ResetTypeNotInList("Suspend".into()).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            Fault::BodyTooLarge(1).status(),
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
