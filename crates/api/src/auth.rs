//! Bearer tokens. The token file lives in the data directory; requests carry
//! `Authorization: Bearer <token>`, or the same token as `X-Auth-Token: <token>` (the Keystone
//! header sysinv's `system` client sends). In lab mode, loopback clients may omit it.

use crate::error::ApiError;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// The token file's name inside the data directory.
pub const TOKEN_FILE: &str = "api.token";

/// Who may call the API.
#[derive(Clone, Debug)]
pub struct Auth {
    /// Accepted bearer tokens.
    pub tokens: Vec<String>,
    /// Lab mode: clients on 127.0.0.0/8 or ::1 need no token.
    pub loopback_without_token: bool,
}

impl Auth {
    /// Read `<data_dir>/api.token`, creating it (32 random bytes as hex, mode 0600) when missing.
    /// The loopback exemption is off; lab mode sets it.
    pub fn load_or_create(data_dir: &Path) -> io::Result<Auth> {
        let path = data_dir.join(TOKEN_FILE);
        let token = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                getrandom::getrandom(&mut bytes).map_err(io::Error::other)?;
                let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    opts.mode(0o600);
                }
                let mut f = opts.open(&path)?;
                writeln!(f, "{token}")?;
                f.sync_all()?;
                token
            }
            Err(e) => return Err(e),
        };
        if token.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} is empty; delete it and steward creates a new token",
                    path.display()
                ),
            ));
        }
        Ok(Auth {
            tokens: vec![token],
            loopback_without_token: false,
        })
    }

    fn accepts(&self, presented: &str) -> bool {
        // Compare every byte so the time taken does not tell how much of a token matched.
        self.tokens.iter().any(|t| {
            t.len() == presented.len()
                && t.bytes()
                    .zip(presented.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    }
}

pub(crate) async fn require_token(
    State(auth): State<Arc<Auth>>,
    req: Request,
    next: Next,
) -> Response {
    match auth.refusal(&req) {
        None => next.run(req).await,
        Some(refused) => refused,
    }
}

impl Auth {
    /// `None` when `req` may be served (a valid token, or loopback in lab mode); else the 401 to
    /// answer. Also used in front of the API, e.g. by a standby controller before it tells a client
    /// where the active is.
    pub fn refusal(&self, req: &Request) -> Option<Response> {
        let auth = self;
        let loopback = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ci| ci.0.ip().is_loopback());
        if auth.loopback_without_token && loopback {
            return None;
        }
        let header = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let keystone = req
            .headers()
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok());
        let presented = header
            .and_then(|h| h.strip_prefix("Bearer "))
            .or(keystone)
            .map(str::trim);
        match presented {
        Some(t) if auth.accepts(t) => None,
        Some(_) => Some(ApiError::Unauthorized(
            "the token is not valid; use the token in <data-dir>/api.token (steward --token or STEWARD_TOKEN)"
                .into(),
        )
        .into_response()),
        None => Some(ApiError::Unauthorized(
            "a token is required: send 'Authorization: Bearer <token>' (or 'X-Auth-Token: <token>') with the token in <data-dir>/api.token (steward --token or STEWARD_TOKEN)"
                .into(),
        )
        .into_response()),
    }
    }
}
