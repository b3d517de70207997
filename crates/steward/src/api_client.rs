//! A small client of the steward REST API for the CLI, and the CLI's exit-code errors.

use serde_json::Value;
use std::time::Duration;

/// A failure with its documented exit status.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Refused, not found, failed: exit 1.
    #[error("{0}")]
    Failed(String),
    /// Bad arguments: exit 2.
    #[error("{0}")]
    Usage(String),
    /// The API cannot be reached: exit 3.
    #[error("{0}")]
    Unreachable(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
        }
    }
}

/// The header a standby controller names the active's API URL in when it refuses a write.
const ACTIVE_URL_HEADER: &str = steward_controller_pair::ACTIVE_URL_HEADER;

pub struct ApiClient {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Option<String>,
}

impl ApiClient {
    pub fn new(url: &str, token: Option<&str>) -> Result<ApiClient, CliError> {
        let base = reqwest::Url::parse(url).map_err(|e| {
            CliError::Usage(format!(
                "--url '{url}' is not a URL ({e}); use e.g. http://127.0.0.1:6385"
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(CliError::Usage(format!(
                "--url '{url}' must start with http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CliError::Failed(format!("cannot build the HTTP client: {e}")))?;
        Ok(ApiClient {
            http,
            base,
            token: token.map(str::to_string).filter(|t| !t.is_empty()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base.as_str().trim_end_matches('/'), path)
    }

    pub async fn get(&self, path: &str) -> Result<Value, CliError> {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// GET that answers `None` on 404.
    pub async fn get_optional(&self, path: &str) -> Result<Option<Value>, CliError> {
        match self.exchange(reqwest::Method::GET, path, None).await? {
            (reqwest::StatusCode::NOT_FOUND, _) => Ok(None),
            (status, body) => Self::check(status, body).map(Some),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, CliError> {
        self.call(method, path, (!body.is_null()).then_some(body))
            .await
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let (status, body) = self.exchange(method, path, body).await?;
        Self::check(status, body)
    }

    /// One request; a 503 from the standby of a controller pair that names the active's URL
    /// (docs/controller-pair.md) is sent once more, there.
    async fn exchange(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(reqwest::StatusCode, Value), CliError> {
        let (status, value, active) = self
            .exchange_at(&self.url(path), method.clone(), body)
            .await?;
        match active {
            Some(active) if status == reqwest::StatusCode::SERVICE_UNAVAILABLE => {
                let url = format!("{}{}", active.trim_end_matches('/'), path);
                let (status, value, _) = self.exchange_at(&url, method, body).await?;
                Ok((status, value))
            }
            _ => Ok((status, value)),
        }
    }

    async fn exchange_at(
        &self,
        url: &str,
        method: reqwest::Method,
        body: Option<&Value>,
    ) -> Result<(reqwest::StatusCode, Value, Option<String>), CliError> {
        let mut req = self.http.request(method, url);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|e| {
            CliError::Unreachable(format!(
                "cannot reach the steward API at {}: {}; start the controller or point --url/STEWARD_URL at it",
                self.base,
                error_chain(&e)
            ))
        })?;
        let status = res.status();
        let active = res
            .headers()
            .get(ACTIVE_URL_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .map(str::to_string);
        let bytes = res.bytes().await.map_err(|e| {
            CliError::Unreachable(format!("the API at {} stopped answering: {e}", self.base))
        })?;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).trim().to_string()));
        Ok((status, value, active))
    }

    /// GET an endpoint that never ends (`/v1/stream`): no overall timeout, only the connect one;
    /// `last_event_id` resumes after that item. An error status is read and reported as
    /// [`Self::get`] does.
    pub async fn open_stream(
        &self,
        path: &str,
        last_event_id: Option<&str>,
    ) -> Result<reqwest::Response, CliError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CliError::Failed(format!("cannot build the HTTP client: {e}")))?;
        let mut req = http.get(self.url(path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let res = req.send().await.map_err(|e| {
            CliError::Unreachable(format!(
                "cannot reach the steward API at {}: {}; start the controller or point --url/STEWARD_URL at it",
                self.base,
                error_chain(&e)
            ))
        })?;
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status();
        let bytes = res.bytes().await.unwrap_or_default();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).trim().to_string()));
        Err(match Self::check(status, value) {
            Err(e) => e,
            Ok(_) => CliError::Failed(format!("the stream answered HTTP {}", status.as_u16())),
        })
    }

    fn check(status: reqwest::StatusCode, body: Value) -> Result<Value, CliError> {
        if status.is_success() {
            return Ok(body);
        }
        // sysinv's error body (a JSON string with `faultstring` inside); `error` is what steward
        // answered before it took that shape.
        let reason = steward_api::error_reason(&body)
            .or_else(|| body["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| body.to_string());
        Err(CliError::Failed(format!(
            "{reason} (HTTP {})",
            status.as_u16()
        )))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
