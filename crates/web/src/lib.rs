//! # steward-web — the web dashboard, embedded in the binary
//!
//! The front-end lives in the repository's `web/` folder (plain JavaScript, built with npm and
//! Vite: `cd web && npm ci && npm run build`). Its build output is committed in this crate's
//! `dist/` and compiled into the binary with `include_dir` (`build.rs` makes a change under `dist/`
//! rebuild the crate), so `cargo build` never needs npm and the
//! dashboard loads nothing from elsewhere. `scripts/check-web-bundle` (run by `scripts/test-all`)
//! rebuilds it and fails when the committed `dist/` differs from the sources.
//!
//! [`router`] serves it: `/` and `/ui` redirect to `/ui/`, `/ui/` is the page, `/ui/assets/…` its
//! script and style sheet. The page itself needs no token; everything it shows comes from the
//! REST API (`/v1/…`) and its live stream (`/v1/stream`), which do. What the page shows and how it
//! stays current: `docs/dashboard.md`.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use include_dir::{include_dir, Dir};

static DIST: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/dist");

/// Where the dashboard is served, relative to the API's base URL.
pub const PATH: &str = "/ui/";

/// The dashboard's routes, to merge into the API's router (they need no state).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to(PATH) }))
        .route("/ui", get(|| async { Redirect::to(PATH) }))
        .route("/ui/", get(|| async { file("index.html") }))
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>| async move { file(&path) }),
        )
}

fn file(path: &str) -> Response {
    match DIST.get_file(path) {
        Some(f) => (
            [
                (header::CONTENT_TYPE, content_type(path)),
                // File names are fixed (no content hash): a browser must ask again after an upgrade.
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            f.contents(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no file {path} in the dashboard; the dashboard is at {PATH}"),
        )
            .into_response(),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(path: &str) -> Response {
        router::<()>()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn serves_the_page_and_its_assets_from_the_binary() {
        let res = get("/ui/").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            res.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        // Every script and style sheet the page names is embedded and local (no CDN).
        for asset in ["/ui/assets/app.js", "/ui/assets/index.css"] {
            assert!(html.contains(asset), "{html}");
            let res = get(asset).await;
            assert_eq!(res.status(), StatusCode::OK, "{asset}");
        }
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "{html}"
        );
    }

    #[tokio::test]
    async fn the_root_redirects_and_unknown_files_are_404() {
        let res = get("/").await;
        assert!(res.status().is_redirection());
        assert_eq!(res.headers()[header::LOCATION], "/ui/");
        assert_eq!(get("/ui/nope.js").await.status(), StatusCode::NOT_FOUND);
    }
}
