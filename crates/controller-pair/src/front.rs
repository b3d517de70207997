//! The pair's REST front: one listener on the controller's advertised address that serves the
//! routes of the role the controller has now. The active serves everything; the standby serves
//! reads from its mirror and refuses writes with 503, naming the active's URL in the JSON body and
//! in the `X-Steward-Active-Url` header (the CLI retries there once).

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// The header naming the active controller's API URL on a standby's refusal.
pub const ACTIVE_URL_HEADER: &str = "x-steward-active-url";

/// What the front serves.
#[derive(Clone, Default)]
pub(crate) enum Serving {
    /// Between roles (taking over, stepping down): every request is refused with 503.
    #[default]
    Changing,
    Active(Router),
    Standby {
        /// The mirror's routes (reads only); `None` until the first mirror is loaded.
        mirror: Option<Router>,
        active_url: Option<String>,
    },
}

#[derive(Clone)]
pub(crate) struct Front {
    serving: Arc<RwLock<Serving>>,
    /// The API's token check, done by the front itself before a standby's refusal: only a client
    /// the API would serve learns where the active is.
    auth: Arc<steward_api::Auth>,
}

impl Front {
    pub(crate) fn new(auth: steward_api::Auth) -> Front {
        Front {
            serving: Arc::default(),
            auth: Arc::new(auth),
        }
    }

    pub(crate) fn set(&self, s: Serving) {
        if let Ok(mut g) = self.serving.write() {
            *g = s;
        }
    }

    /// The standby learned the active's URL or loaded a newer mirror.
    pub(crate) fn set_standby(&self, mirror: Option<Router>, active_url: Option<String>) {
        self.set(Serving::Standby { mirror, active_url });
    }

    fn current(&self) -> Serving {
        self.serving.read().map(|g| g.clone()).unwrap_or_default()
    }

    /// Serve on `listener` until the returned task is aborted.
    pub(crate) fn serve(&self, listener: tokio::net::TcpListener) -> JoinHandle<()> {
        let app = Router::new().fallback(route).with_state(self.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            {
                tracing::error!("the controller pair's API front stopped: {e}");
            }
        })
    }
}

async fn route(State(front): State<Front>, req: Request) -> Response {
    let serving = front.current();
    if !matches!(serving, Serving::Active(_)) {
        // The active's own router checks the token; a standby's or a changing front's refusal
        // names the active, so it checks first.
        if let Some(refused) = front.auth.refusal(&req) {
            return refused;
        }
    }
    match serving {
        Serving::Active(router) => forward(router, req).await,
        Serving::Standby { mirror, active_url } => {
            let read = matches!(*req.method(), Method::GET | Method::HEAD);
            match (read, mirror) {
                (true, Some(router)) => forward(router, req).await,
                (true, None) => refuse(
                    "this controller is the standby and has not loaded its mirror yet",
                    active_url.as_deref(),
                ),
                (false, _) => refuse(
                    "this controller is the standby: writes go to the active controller",
                    active_url.as_deref(),
                ),
            }
        }
        Serving::Changing => refuse("the controller is changing role; try again", None),
    }
}

async fn forward(router: Router, req: Request) -> Response {
    match router.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// 503 with the active's URL (when known) in the body and the header, and a retry hint.
fn refuse(message: &str, active_url: Option<&str>) -> Response {
    let body = serde_json::json!({
        "error": message,
        "active_url": active_url,
    });
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    if let Some(url) = active_url.and_then(|u| HeaderValue::from_str(u).ok()) {
        r.headers_mut().insert(ACTIVE_URL_HEADER, url);
    }
    r
}
