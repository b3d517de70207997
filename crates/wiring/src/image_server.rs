//! The built-in image server (docs/bmc.md#image-server): an optional plain-HTTP server for labs
//! that serves the install images in one directory under `/images/<file>`, so a BMC's virtual
//! media can fetch an ISO without another web server.
//!
//! - It listens on its own address (default loopback), apart from the API, and asks for no token:
//!   a BMC cannot send one. Serve only images that may be read by anyone reaching that address.
//! - tower-http's `ServeDir` answers `GET` and `HEAD` with `Range` (206, or 416 past the end),
//!   which BMCs use to stream an ISO in pieces. `ServeDir` ignores `If-Range`, so this module
//!   honours it: a range is served only while the file's `Last-Modified` still equals the
//!   `If-Range` validator; otherwise (an image replaced mid-download) the whole file comes back
//!   with 200, never a piece of the new file spliced into the old one.
//! - Paths with `..` or other non-normal components are refused (404); a directory is never
//!   listed (404). Symbolic links inside the directory are followed: whoever can place one there
//!   can place the file itself.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::task::JoinHandle;
use tower_http::services::ServeDir;

/// Where images are served from and on which address.
#[derive(Clone, Debug)]
pub struct ImageServerOptions {
    /// The directory holding the images (only files directly or below it are served).
    pub dir: PathBuf,
    /// The listen address; [`DEFAULT_IMAGE_BIND`] unless configured.
    pub bind: SocketAddr,
}

/// The default listen address: loopback only (a lab whose BMCs are simulated on this machine).
pub const DEFAULT_IMAGE_BIND: &str = "127.0.0.1:8089";

/// The path prefix images are served under.
pub const IMAGE_PATH: &str = "/images";

/// A running image server.
pub struct ServedImages {
    /// `http://ADDR:PORT/images/`: append a file name for a BMC's `Image`.
    pub url: String,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub(crate) task: JoinHandle<()>,
}

impl ServedImages {
    /// The URL a BMC fetches `file` (a name inside the image directory) from.
    pub fn url_of(&self, file: &str) -> String {
        format!("{}{file}", self.url)
    }

    /// Stop serving.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// The image router alone (for embedding and tests): `/images/<file>` from `dir`.
pub fn image_router(dir: PathBuf) -> Router {
    let files = ServeDir::new(dir).append_index_html_on_directories(false);
    let inner = Router::new().fallback(serve_file).with_state(files);
    Router::new().nest(IMAGE_PATH, inner)
}

/// `ServeDir` with `If-Range`: drop the `Range` when the validator is not the file's current
/// `Last-Modified` (ServeDir sends no ETag, so an entity-tag validator never matches).
async fn serve_file(State(mut files): State<ServeDir>, mut req: Request) -> Response {
    let if_range = req.headers().get(header::IF_RANGE).cloned();
    if let (Some(validator), true) = (if_range, req.headers().contains_key(header::RANGE)) {
        let mut head = Request::new(Body::empty());
        *head.method_mut() = Method::HEAD;
        *head.uri_mut() = req.uri().clone();
        let current = match files.try_call(head).await {
            Ok(r) => r.headers().get(header::LAST_MODIFIED).cloned(),
            Err(_) => None,
        };
        if current.as_ref() != Some(&validator) {
            req.headers_mut().remove(header::RANGE);
        }
    }
    match files.try_call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "image server cannot read a file");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Check the directory, bind, and serve until the process ends (or [`ServedImages::stop`]).
pub async fn serve_images(opts: ImageServerOptions) -> std::io::Result<ServedImages> {
    let meta = std::fs::metadata(&opts.dir).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("image directory {}: {e}", opts.dir.display()),
        )
    })?;
    if !meta.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("image directory {} is not a directory", opts.dir.display()),
        ));
    }
    let listener = tokio::net::TcpListener::bind(opts.bind)
        .await
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot bind the image server on {}: {e}", opts.bind),
            )
        })?;
    let addr = listener.local_addr()?;
    let app = image_router(opts.dir.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "image server stopped");
        }
    });
    tracing::info!(%addr, dir = %opts.dir.display(), "image server");
    Ok(ServedImages {
        url: format!("http://{addr}{IMAGE_PATH}/"),
        addr,
        dir: opts.dir,
        task,
    })
}
