//! Session and transport: address parsing, TLS choice, authentication (session with basic
//! fallback, one re-login on 401, logout on close), `OData-Version`, retries with backoff,
//! and mapping of transport failures to [`RedfishError`].

use std::fmt;
use std::time::Duration;

use reqwest::{header, Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};
use url::Url;

use crate::error::{RedfishError, Result};
use crate::json::{link, link_array, str_at, string_at};
use crate::quirks::Quirks;

/// BMC user name and password. `Debug` never prints the password.
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: String,
}

impl Credentials {
    /// Wrap a user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The user name (safe to log).
    pub fn username(&self) -> &str {
        &self.username
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How the client authenticates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthMode {
    /// Try a SessionService session, fall back to HTTP Basic when sessions are unavailable.
    #[default]
    Auto,
    /// Require a session; fail when the service has no SessionService.
    Session,
    /// HTTP Basic on every request.
    Basic,
}

/// Client configuration. Construct with [`ClientConfig::new`] and adjust fields.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `https://host[:port]`, `http://127.0.0.1:port` (loopback only) or a bare host (https implied).
    pub endpoint: String,
    /// BMC credentials.
    pub credentials: Credentials,
    /// Accept self-signed / invalid certificates (many BMCs ship with one).
    pub insecure: bool,
    /// Authentication strategy.
    pub auth: AuthMode,
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout; BMCs are slow, StarlingX uses 30 s for redfishtool.
    pub request_timeout: Duration,
    /// Retries on 409 and retryable 5xx replies (not counting the first attempt).
    pub max_retries: u32,
    /// First retry delay; doubles on each further retry, capped at 16x.
    pub retry_base_delay: Duration,
    /// Pick this ComputerSystem (its `Id` or `@odata.id`) instead of the first member.
    pub system_id: Option<String>,
}

impl ClientConfig {
    /// Defaults: auto auth, certificate verification on, 10 s connect, 30 s request, 3 retries from 1 s.
    pub fn new(
        endpoint: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            endpoint: endpoint.into(),
            credentials: Credentials::new(username, password),
            insecure: false,
            auth: AuthMode::Auto,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_retries: 3,
            retry_base_delay: Duration::from_secs(1),
            system_id: None,
        }
    }
}

/// Facts from the service root (`/redfish/v1/`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceRoot {
    /// `RedfishVersion`, e.g. `1.5.0`.
    pub redfish_version: Option<String>,
    /// `Vendor` (Redfish ≥ 1.5, often absent).
    pub vendor: Option<String>,
    /// `Product`.
    pub product: Option<String>,
    /// `UUID`.
    pub uuid: Option<String>,
    pub(crate) systems: Option<String>,
    pub(crate) managers: Option<String>,
    pub(crate) chassis: Option<String>,
    pub(crate) sessions: Option<String>,
    pub(crate) event_service: Option<String>,
}

impl ServiceRoot {
    /// Parse a service root document.
    pub fn from_json(v: &Value) -> Self {
        let session_service = link(v, "SessionService");
        // Links.Sessions is the spec'd login URI; older services only link SessionService.
        let sessions = v
            .pointer("/Links/Sessions/@odata.id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| session_service.map(|s| format!("{}/Sessions", s.trim_end_matches('/'))));
        Self {
            redfish_version: string_at(v, "/RedfishVersion"),
            vendor: string_at(v, "/Vendor"),
            product: string_at(v, "/Product"),
            uuid: string_at(v, "/UUID"),
            systems: link(v, "Systems"),
            managers: link(v, "Managers"),
            chassis: link(v, "Chassis"),
            sessions,
            event_service: link(v, "EventService"),
        }
    }
}

/// The resources this client works on, found once at connect time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Topology {
    /// `@odata.id` of the chosen ComputerSystem.
    pub system: String,
    /// `@odata.id` of the managing BMC, when one is linked or listed.
    pub manager: Option<String>,
    /// `@odata.id` of the chassis linked to the system (or all chassis when not linked).
    pub chassis: Vec<String>,
    /// System `Manufacturer`.
    pub manufacturer: Option<String>,
    /// System `Model`.
    pub model: Option<String>,
    /// Manager `FirmwareVersion`.
    pub firmware: Option<String>,
}

/// Which authentication the client currently uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// HTTP Basic on every request.
    Basic,
    /// `X-Auth-Token` from a SessionService session.
    Session,
}

#[derive(Clone)]
enum AuthState {
    Basic,
    Session {
        token: String,
        location: Option<String>,
    },
}

/// A decoded reply.
#[derive(Debug)]
pub(crate) struct Reply {
    pub etag: Option<String>,
    /// `Location` of a created resource.
    pub location: Option<String>,
    pub body: Value,
}

/// A connected Redfish client: one session (or basic auth) per client, reused by all calls.
/// Call [`RedfishClient::close`] to log the session out; dropping leaves it to expire on the BMC.
pub struct RedfishClient {
    http: reqwest::Client,
    base: Url,
    pub(crate) cfg: ClientConfig,
    auth: Mutex<(AuthState, u64)>,
    pub(crate) root: ServiceRoot,
    pub(crate) topology: Topology,
    pub(crate) quirks: Quirks,
}

impl fmt::Debug for RedfishClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedfishClient")
            .field("base", &self.base.as_str())
            .field("username", &self.cfg.credentials.username)
            .field("topology", &self.topology)
            .finish_non_exhaustive()
    }
}

/// Parse the endpoint into a base URL; plain http only for loopback peers.
pub fn parse_endpoint(endpoint: &str) -> Result<Url> {
    let bad = |detail: &str| RedfishError::InvalidAddress {
        address: endpoint.to_owned(),
        detail: detail.to_owned(),
    };
    let trimmed = endpoint.trim();
    if trimmed.is_empty() {
        return Err(bad("empty address"));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else if trimmed.matches(':').count() > 1 && !trimmed.starts_with('[') {
        // Bare IPv6 literal: URLs need it bracketed.
        format!("https://[{trimmed}]")
    } else {
        format!("https://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| bad(&e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(a)) => a.is_loopback(),
                Some(url::Host::Ipv6(a)) => a.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if !loopback {
                return Err(bad(
                    "plain http:// is only allowed for loopback test peers; use https:// (with --insecure for self-signed certificates)",
                ));
            }
        }
        other => return Err(bad(&format!("unsupported scheme '{other}', use https://"))),
    }
    if url.host().is_none() {
        return Err(bad("no host"));
    }
    url.set_path("/");
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

/// 409 (e.g. power-on conflict) and transient 5xx are retried; 501/505 are final answers.
fn retryable(status: StatusCode) -> bool {
    matches!(status.as_u16(), 409 | 500 | 502 | 503 | 504)
}

/// Best human-readable message out of a Redfish error body.
pub(crate) fn error_message(body: &Value) -> String {
    str_at(body, "/error/message")
        .or_else(|| {
            body.pointer("/error/@Message.ExtendedInfo/0/Message")
                .and_then(Value::as_str)
        })
        .map(str::to_owned)
        .unwrap_or_else(|| {
            let s = body.to_string();
            if s == "null" {
                "no details in reply".to_owned()
            } else {
                s.chars().take(300).collect()
            }
        })
}

/// All sources of an error, joined; reqwest hides the interesting part (TLS, ECONNREFUSED) in them.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

impl RedfishClient {
    /// Connect: read the service root, authenticate, discover System/Manager/Chassis and look
    /// up vendor quirks. Fails with a typed error when the BMC is unreachable or rejects the
    /// credentials.
    pub async fn connect(cfg: ClientConfig) -> Result<Self> {
        let base = parse_endpoint(&cfg.endpoint)?;
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(cfg.insecure)
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(concat!("steward-bmc-redfish/", env!("CARGO_PKG_VERSION")))
            // Follow BMC http->https style redirects only on the same host: reqwest strips
            // Authorization across hosts but not our X-Auth-Token header.
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same_host = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.host_str() == attempt.url().host_str());
                if attempt.previous().len() >= 5 || !same_host {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }))
            .build()
            .map_err(|e| RedfishError::Client(error_chain(&e)))?;
        let mut client = Self {
            http,
            base,
            cfg,
            auth: Mutex::new((AuthState::Basic, 0)),
            root: ServiceRoot::default(),
            topology: Topology::default(),
            quirks: Quirks::default(),
        };
        // The service root must be readable without credentials, but some BMCs want them anyway;
        // the initial Basic state covers both.
        let root = client.get("/redfish/v1/").await?;
        client.root = ServiceRoot::from_json(&root.body);
        info!(
            base = %client.base,
            version = client.root.redfish_version.as_deref().unwrap_or("?"),
            "redfish service root"
        );
        client.quirks = Quirks::lookup(client.root.vendor.as_deref(), None, None);
        let state = client.login().await?;
        *client.auth.get_mut() = (state, 1);
        client.topology = client.discover().await?;
        client.quirks = Quirks::lookup(
            client
                .topology
                .manufacturer
                .as_deref()
                .or(client.root.vendor.as_deref()),
            client.topology.model.as_deref(),
            client.topology.firmware.as_deref(),
        );
        debug!(quirks = ?client.quirks, "vendor quirks");
        Ok(client)
    }

    /// Service root facts (RedfishVersion, vendor).
    pub fn service_root(&self) -> &ServiceRoot {
        &self.root
    }

    /// Resources found at connect time.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Vendor quirks in effect for this BMC.
    pub fn quirks(&self) -> &Quirks {
        &self.quirks
    }

    /// Current authentication kind.
    pub async fn auth_kind(&self) -> AuthKind {
        match self.auth.lock().await.0 {
            AuthState::Basic => AuthKind::Basic,
            AuthState::Session { .. } => AuthKind::Session,
        }
    }

    /// Log out (DELETE the session resource). Basic auth has nothing to release.
    pub async fn close(self) -> Result<()> {
        let state = self.auth.lock().await.0.clone();
        if let AuthState::Session {
            location: Some(loc),
            ..
        } = &state
        {
            let url = self.url_for(loc)?;
            let resp = self
                .send_once(&Method::DELETE, &url, None, None, &state)
                .await?;
            let status = resp.status();
            if !status.is_success() && status != StatusCode::NOT_FOUND {
                warn!(%url, %status, "session logout failed; the BMC will expire it");
                return Err(RedfishError::Http {
                    method: "DELETE".into(),
                    url: url.to_string(),
                    status: status.as_u16(),
                    message: "session logout failed".into(),
                });
            }
            info!(%url, "session closed");
        }
        Ok(())
    }

    /// A read-back mismatch on this BMC.
    pub(crate) fn not_applied(&self, detail: String) -> RedfishError {
        RedfishError::NotApplied {
            bmc: self.base.as_str().trim_end_matches('/').to_owned(),
            detail,
        }
    }

    /// Absolute URL for an `@odata.id`/`target`/`Location` (path or full URL).
    pub(crate) fn url_for(&self, path: &str) -> Result<Url> {
        self.base
            .join(path)
            .map_err(|e| RedfishError::UnexpectedShape {
                url: self.base.to_string(),
                detail: format!("cannot resolve link '{path}': {e}"),
            })
    }

    async fn login(&self) -> Result<AuthState> {
        if self.cfg.auth == AuthMode::Basic {
            return Ok(AuthState::Basic);
        }
        let auto = self.cfg.auth == AuthMode::Auto;
        let Some(sessions) = self.root.sessions.clone() else {
            if auto {
                info!(base = %self.base, "no SessionService; using basic auth");
                return Ok(AuthState::Basic);
            }
            return Err(RedfishError::NotFound {
                what: "SessionService (session auth was required)".into(),
                url: self.base.to_string(),
            });
        };
        if auto && self.quirks.no_sessions {
            return Ok(AuthState::Basic);
        }
        let url = self.url_for(&sessions)?;
        let body = json!({
            "UserName": self.cfg.credentials.username,
            "Password": self.cfg.credentials.password,
        });
        // No auth header on the login POST itself.
        let resp = self
            .http
            .post(url.clone())
            .header("OData-Version", "4.0")
            .header(header::ACCEPT, "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|e| self.transport_error(&Method::POST, &url, &e))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(RedfishError::AuthFailed {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }
        let token = resp
            .headers()
            .get("X-Auth-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let reply_body: Value = resp.json().await.unwrap_or(Value::Null);
        match (status.is_success(), token) {
            (true, Some(token)) => {
                let location = location.or_else(|| string_at(&reply_body, "/@odata.id"));
                info!(%url, user = %self.cfg.credentials.username, "session created");
                Ok(AuthState::Session { token, location })
            }
            _ if auto => {
                // 404/405/501 or a 2xx without a token (static mockup servers): sessions unusable.
                info!(%url, %status, "session login unavailable; falling back to basic auth");
                Ok(AuthState::Basic)
            }
            (true, None) => Err(RedfishError::UnexpectedShape {
                url: url.to_string(),
                detail: "session created but no X-Auth-Token header returned".into(),
            }),
            (false, _) => Err(RedfishError::Http {
                method: "POST".into(),
                url: url.to_string(),
                status: status.as_u16(),
                message: error_message(&reply_body),
            }),
        }
    }

    /// Re-login once after a 401, unless another task already did (generation changed).
    async fn relogin(&self, seen_generation: u64) -> Result<()> {
        let mut guard = self.auth.lock().await;
        if guard.1 != seen_generation {
            return Ok(());
        }
        warn!(base = %self.base, "BMC returned 401; re-authenticating once");
        let state = self.login().await?;
        *guard = (state, seen_generation + 1);
        Ok(())
    }

    fn transport_error(&self, method: &Method, url: &Url, e: &reqwest::Error) -> RedfishError {
        let chain = error_chain(e);
        if e.is_timeout() {
            return RedfishError::Timeout {
                method: method.to_string(),
                url: url.to_string(),
                timeout: self.cfg.request_timeout,
            };
        }
        let lower = chain.to_ascii_lowercase();
        if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
            RedfishError::Tls {
                url: url.to_string(),
                detail: chain,
            }
        } else {
            RedfishError::Unreachable {
                url: url.to_string(),
                detail: chain,
            }
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&Value>,
        if_match: Option<&str>,
        auth: &AuthState,
    ) -> Result<reqwest::Response> {
        let mut rb = self
            .http
            .request(method.clone(), url.clone())
            .header("OData-Version", "4.0")
            .header(header::ACCEPT, "application/json");
        rb = match auth {
            AuthState::Basic => rb.basic_auth(
                &self.cfg.credentials.username,
                Some(&self.cfg.credentials.password),
            ),
            AuthState::Session { token, .. } => rb.header("X-Auth-Token", token),
        };
        if let Some(b) = body {
            rb = rb.json(b);
        }
        if let Some(tag) = if_match {
            rb = rb.header(header::IF_MATCH, tag);
        }
        rb.send()
            .await
            .map_err(|e| self.transport_error(method, url, &e))
    }

    fn backoff(&self, attempt: u32, status: StatusCode) -> Duration {
        let exp = self
            .cfg
            .retry_base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(4));
        if status == StatusCode::CONFLICT {
            exp.max(self.quirks.conflict_retry_delay)
        } else {
            exp
        }
    }

    /// One logical request: auth, retries on 409/5xx, one re-login on 401, decode JSON.
    pub(crate) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
    ) -> Result<Reply> {
        let url = self.url_for(path)?;
        let mut relogged = false;
        let mut attempt: u32 = 0;
        loop {
            let (state, generation) = self.auth.lock().await.clone();
            let resp = self
                .send_once(&method, &url, body, if_match, &state)
                .await?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED {
                if !relogged && matches!(state, AuthState::Session { .. }) {
                    relogged = true;
                    self.relogin(generation).await?;
                    continue;
                }
                return Err(RedfishError::AuthFailed {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            }
            let max = if status == StatusCode::CONFLICT {
                self.cfg.max_retries.max(self.quirks.conflict_retries)
            } else {
                self.cfg.max_retries
            };
            if retryable(status) && attempt < max {
                attempt += 1;
                let delay = self.backoff(attempt, status);
                warn!(%method, %url, %status, attempt, ?delay, "BMC busy; retrying");
                drop(resp);
                tokio::time::sleep(delay).await;
                continue;
            }
            let etag = resp
                .headers()
                .get(header::ETAG)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let location = resp
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| self.transport_error(&method, &url, &e))?;
            let parsed: Option<Value> = if bytes.iter().all(u8::is_ascii_whitespace) {
                Some(Value::Null)
            } else {
                serde_json::from_slice(&bytes).ok()
            };
            if !status.is_success() {
                let message = match &parsed {
                    Some(v) => error_message(v),
                    None => String::from_utf8_lossy(&bytes).chars().take(300).collect(),
                };
                return Err(RedfishError::Http {
                    method: method.to_string(),
                    url: url.to_string(),
                    status: status.as_u16(),
                    message,
                });
            }
            let Some(body) = parsed else {
                return Err(RedfishError::UnexpectedShape {
                    url: url.to_string(),
                    detail: "reply body is not JSON".into(),
                });
            };
            debug!(%method, %url, %status, "redfish request done");
            return Ok(Reply {
                etag,
                location,
                body,
            });
        }
    }

    /// GET and decode; the body must be a JSON object.
    pub(crate) async fn get(&self, path: &str) -> Result<Reply> {
        let reply = self.request(Method::GET, path, None, None).await?;
        if !reply.body.is_object() {
            return Err(RedfishError::UnexpectedShape {
                url: self.url_for(path)?.to_string(),
                detail: "expected a JSON object".into(),
            });
        }
        Ok(reply)
    }

    /// GET any resource as raw JSON (for callers that need a property this crate does not model).
    pub async fn get_json(&self, path: &str) -> Result<Value> {
        Ok(self.get(path).await?.body)
    }

    /// POST a JSON body (actions).
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Reply> {
        self.request(Method::POST, path, Some(body), None).await
    }

    /// PATCH with If-Match: GET first to learn the ETag (header or `@odata.etag`) when the
    /// service provides one. On 412/428 re-read the ETag once; some BMCs reject their own weak
    /// ETags, so the retry strips `W/` when the quirk table says so.
    pub(crate) async fn patch(&self, path: &str, body: &Value) -> Result<Reply> {
        let current = self.get(path).await?;
        let etag = current
            .etag
            .clone()
            .or_else(|| string_at(&current.body, "/@odata.etag"));
        match self
            .request(Method::PATCH, path, Some(body), etag.as_deref())
            .await
        {
            Err(RedfishError::Http { status, .. }) if status == 412 || status == 428 => {
                let fresh = self.get(path).await?;
                let tag = fresh
                    .etag
                    .or_else(|| string_at(&fresh.body, "/@odata.etag"))
                    .map(|t| {
                        if self.quirks.strip_weak_etag {
                            t.trim_start_matches("W/").to_owned()
                        } else {
                            t
                        }
                    });
                self.request(Method::PATCH, path, Some(body), tag.as_deref())
                    .await
            }
            other => other,
        }
    }

    /// `@odata.id` of every member of a collection.
    pub(crate) async fn members(&self, collection: &str) -> Result<Vec<String>> {
        let reply = self.get(collection).await?;
        if reply.body.get("Members").is_none() {
            return Err(RedfishError::UnexpectedShape {
                url: self.url_for(collection)?.to_string(),
                detail: "collection without a Members array".into(),
            });
        }
        Ok(link_array(&reply.body, "/Members"))
    }

    async fn discover(&self) -> Result<Topology> {
        let systems_path = self
            .root
            .systems
            .clone()
            .ok_or_else(|| RedfishError::NotFound {
                what: "Systems collection link in the service root".into(),
                url: self.base.to_string(),
            })?;
        let systems = self.members(&systems_path).await?;
        let system = match &self.cfg.system_id {
            Some(want) => systems
                .iter()
                .find(|s| {
                    s.trim_end_matches('/') == want.trim_end_matches('/')
                        || s.trim_end_matches('/').rsplit('/').next() == Some(want.as_str())
                })
                .cloned()
                .ok_or_else(|| RedfishError::NotFound {
                    what: format!("ComputerSystem '{want}' (members: {})", systems.join(", ")),
                    url: self
                        .url_for(&systems_path)
                        .map(|u| u.to_string())
                        .unwrap_or_default(),
                })?,
            None => systems
                .first()
                .cloned()
                .ok_or_else(|| RedfishError::NotFound {
                    what: "any ComputerSystem member".into(),
                    url: self
                        .url_for(&systems_path)
                        .map(|u| u.to_string())
                        .unwrap_or_default(),
                })?,
        };
        let sys = self.get(&system).await?.body;
        let mut manager = link_array(&sys, "/Links/ManagedBy").into_iter().next();
        if manager.is_none() {
            if let Some(m) = &self.root.managers {
                manager = self
                    .members(m)
                    .await
                    .ok()
                    .and_then(|v| v.into_iter().next());
            }
        }
        let mut chassis = link_array(&sys, "/Links/Chassis");
        if chassis.is_empty() {
            if let Some(c) = &self.root.chassis {
                chassis = self.members(c).await.unwrap_or_default();
            }
        }
        let firmware = match &manager {
            Some(m) => match self.get(m).await {
                Ok(r) => string_at(&r.body, "/FirmwareVersion"),
                Err(e) => {
                    warn!(manager = %m, error = %e, "cannot read manager; firmware unknown");
                    None
                }
            },
            None => None,
        };
        Ok(Topology {
            system,
            manager,
            chassis,
            manufacturer: string_at(&sys, "/Manufacturer"),
            model: string_at(&sys, "/Model"),
            firmware,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_parsing() {
        assert_eq!(
            parse_endpoint("10.0.0.5").map(|u| u.to_string()).ok(),
            Some("https://10.0.0.5/".to_owned())
        );
        assert_eq!(
            parse_endpoint("fd00::5").map(|u| u.to_string()).ok(),
            Some("https://[fd00::5]/".to_owned())
        );
        assert!(parse_endpoint("http://127.0.0.1:8000").is_ok());
        assert!(parse_endpoint("http://localhost:8000").is_ok());
        assert!(matches!(
            parse_endpoint("http://10.0.0.5"),
            Err(RedfishError::InvalidAddress { .. })
        ));
        assert!(parse_endpoint("ftp://x").is_err());
        assert!(parse_endpoint("").is_err());
    }

    #[test]
    fn credentials_debug_redacts_password() {
        let c = ClientConfig::new("https://bmc", "root", "s3cr3t-pw");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t-pw"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn service_root_sessions_link() {
        let v = json!({"RedfishVersion": "1.15.0", "SessionService": {"@odata.id": "/redfish/v1/SessionService"},
                       "Systems": {"@odata.id": "/redfish/v1/Systems"}});
        let r = ServiceRoot::from_json(&v);
        assert_eq!(
            r.sessions.as_deref(),
            Some("/redfish/v1/SessionService/Sessions")
        );
        let v = json!({"Links": {"Sessions": {"@odata.id": "/x/Sessions"}}});
        assert_eq!(
            ServiceRoot::from_json(&v).sessions.as_deref(),
            Some("/x/Sessions")
        );
        assert_eq!(ServiceRoot::from_json(&json!({})).sessions, None);
    }

    #[test]
    fn error_message_extraction() {
        let v = json!({"error": {"message": "Power state PowerCycle is not supported"}});
        assert_eq!(error_message(&v), "Power state PowerCycle is not supported");
        let v = json!({"error": {"@Message.ExtendedInfo": [{"Message": "busy"}]}});
        assert_eq!(error_message(&v), "busy");
        assert_eq!(error_message(&Value::Null), "no details in reply");
    }

    #[test]
    fn retry_classes() {
        assert!(retryable(StatusCode::CONFLICT));
        assert!(retryable(StatusCode::SERVICE_UNAVAILABLE));
        assert!(!retryable(StatusCode::NOT_IMPLEMENTED));
        assert!(!retryable(StatusCode::BAD_REQUEST));
    }
}
