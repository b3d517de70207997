//! A hostile BMC for reinstall tests: a fault-injecting HTTP proxy in front of a real
//! `sushy-emulator --fake`. Every request reaches the real emulator (its state is the truth the
//! fault lies about) and only the chosen replies are rewritten, so a test exercises the client's
//! real Redfish traffic and sees exactly one injected misbehaviour.
//!
//! | [`Fault`] | what the proxy does |
//! |---|---|
//! | [`Fault::InsertNeverMounts`] | `InsertMedia` is forwarded and answered 204; every VirtualMedia `GET` is rewritten to `Inserted: false` with no `Image`/`ImageName` (the BMC accepts the insert but never mounts it) |
//! | [`Fault::BootOverrideReadBackDiffers`] | after a `PATCH` of the System sets `Boot.BootSourceOverrideTarget`, a `GET` of the System shows another target (`Hdd`, or `Pxe` when `Hdd` was asked for) |
//! | [`Fault::EjectRefused`] | `EjectMedia` is not forwarded and is answered 500 with a Redfish error body |
//!
//! # Usage
//!
//! ```no_run
//! use steward_testpeers::hostile::{Fault, HostileBmc};
//! use steward_testpeers::{require_sushy, Sushy};
//!
//! if !require_sushy() {
//!     return; // loud skip outside CI, a failure on CI
//! }
//! let bmc = HostileBmc::start(Sushy::start(), &[Fault::InsertNeverMounts]);
//! let address = bmc.address(); // http://127.0.0.1:PORT: give this to the Redfish client
//! // ... drive the reinstall; the insert is accepted but never reads back as mounted ...
//! assert!(bmc.injected(Fault::InsertNeverMounts) > 0);
//! bmc.set_faults(&[]); // from now on an honest proxy in front of the same emulator
//! # let _ = address;
//! ```
//!
//! The proxy speaks one request per connection (`Connection: close`), which every HTTP client
//! handles; it forwards to the emulator over HTTP/1.0 so the reply is never chunked.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::Sushy;

/// One injected misbehaviour; see the module table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    InsertNeverMounts,
    BootOverrideReadBackDiffers,
    EjectRefused,
}

#[derive(Default)]
struct State {
    faults: Vec<Fault>,
    injected: HashMap<Fault, usize>,
    /// The last `BootSourceOverrideTarget` PATCHed to a System, by System path.
    patched_target: HashMap<String, String>,
}

impl State {
    fn active(&self, f: Fault) -> bool {
        self.faults.contains(&f)
    }

    fn count(&mut self, f: Fault) {
        *self.injected.entry(f).or_default() += 1;
    }
}

/// The proxy and the emulator behind it; both stop on Drop.
pub struct HostileBmc {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    upstream: Sushy,
}

impl HostileBmc {
    /// Put a proxy injecting `faults` in front of `upstream` (started with [`Sushy::start`]).
    pub fn start(upstream: Sushy, faults: &[Fault]) -> HostileBmc {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind hostile BMC proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let state = Arc::new(Mutex::new(State {
            faults: faults.to_vec(),
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp, up) = (state.clone(), stop.clone(), upstream.port);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || {
                    if let Err(e) = serve(conn, up, &st) {
                        let _ = writeln!(std::io::stderr(), "hostile BMC proxy: {e}");
                    }
                });
            }
        });
        HostileBmc {
            port,
            state,
            stop,
            upstream,
        }
    }

    /// The address to give the Redfish client (`http://127.0.0.1:PORT`).
    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The emulator's own address: an honest view of the same state, for assertions.
    pub fn upstream_address(&self) -> String {
        self.upstream.address()
    }

    /// Replace the active faults (an empty list makes the proxy honest).
    pub fn set_faults(&self, faults: &[Fault]) {
        lock(&self.state).faults = faults.to_vec();
    }

    /// How many replies `fault` has rewritten so far.
    pub fn injected(&self, fault: Fault) -> usize {
        lock(&self.state).injected.get(&fault).copied().unwrap_or(0)
    }

    pub fn log_tail(&self) -> String {
        self.upstream.log_tail()
    }
}

impl Drop for HostileBmc {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so its thread ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn serve(conn: TcpStream, upstream: u16, state: &Mutex<State>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut out = conn.try_clone()?;
    let Some(req) = read_request(&mut BufReader::new(conn))? else {
        return Ok(()); // the Drop wake-up, or a client that gave up
    };
    let resp = match before(&req, state) {
        Some(r) => r,
        None => after(&req, forward(&req, upstream)?, state),
    };
    write_response(&mut out, &resp)?;
    let _ = out.shutdown(Shutdown::Both);
    Ok(())
}

/// Faults that answer without asking the emulator, and bookkeeping of what was asked for.
fn before(req: &Request, state: &Mutex<State>) -> Option<Response> {
    let mut st = lock(state);
    if req.method == "POST" && req.path.ends_with("EjectMedia") && st.active(Fault::EjectRefused) {
        st.count(Fault::EjectRefused);
        let body = json!({"error": {
            "code": "Base.1.8.GeneralError",
            "message": "EjectMedia refused: the virtual media device is busy",
            "@Message.ExtendedInfo": [{
                "MessageId": "Base.1.8.GeneralError",
                "Message": "EjectMedia refused: the virtual media device is busy",
                "Severity": "Critical",
                "Resolution": "None"
            }]
        }});
        return Some(json_response(500, "Internal Server Error", &body));
    }
    if req.method == "PATCH" && is_system_path(&req.path) {
        if let Some(t) = serde_json::from_slice::<Value>(&req.body)
            .ok()
            .and_then(|v| {
                v.pointer("/Boot/BootSourceOverrideTarget")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
        {
            st.patched_target.insert(trim_slash(&req.path), t);
        }
    }
    None
}

/// Faults that rewrite the emulator's reply.
fn after(req: &Request, mut resp: Response, state: &Mutex<State>) -> Response {
    let mut st = lock(state);
    if req.method == "POST"
        && req.path.ends_with("InsertMedia")
        && st.active(Fault::InsertNeverMounts)
        && (200..300).contains(&resp.status)
    {
        st.count(Fault::InsertNeverMounts);
        resp.status = 204;
        resp.reason = "No Content".into();
        resp.body.clear();
        resp.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
        return resp;
    }
    if req.method != "GET" || resp.status != 200 {
        return resp;
    }
    let Ok(mut doc) = serde_json::from_slice::<Value>(&resp.body) else {
        return resp;
    };
    let mut changed = false;
    if st.active(Fault::InsertNeverMounts) && doc.get("MediaTypes").is_some() {
        doc["Inserted"] = json!(false);
        doc["Image"] = json!("");
        doc["ImageName"] = json!("");
        st.count(Fault::InsertNeverMounts);
        changed = true;
    }
    if st.active(Fault::BootOverrideReadBackDiffers) {
        let asked = st.patched_target.get(&trim_slash(&req.path)).cloned();
        let shown = doc
            .pointer("/Boot/BootSourceOverrideTarget")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let (Some(asked), Some(shown)) = (asked, shown) {
            if asked == shown {
                let other = if asked == "Hdd" { "Pxe" } else { "Hdd" };
                doc["Boot"]["BootSourceOverrideTarget"] = json!(other);
                st.count(Fault::BootOverrideReadBackDiffers);
                changed = true;
            }
        }
    }
    if changed {
        resp.body = doc.to_string().into_bytes();
        // The emulator's ETag described the true document.
        resp.headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case("etag"));
    }
    resp
}

/// `/redfish/v1/Systems/<id>` itself, not a sub-resource.
fn is_system_path(path: &str) -> bool {
    let p = trim_slash(path);
    p.strip_prefix("/redfish/v1/Systems/")
        .is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

fn trim_slash(path: &str) -> String {
    let p = path.split('?').next().unwrap_or(path);
    p.trim_end_matches('/').to_owned()
}

fn json_response(status: u16, reason: &str, body: &Value) -> Response {
    Response {
        status,
        reason: reason.into(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

fn read_request(rd: &mut impl BufRead) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    if rd.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let headers = read_headers(rd)?;
    let len = content_length(&headers);
    let mut body = vec![0u8; len];
    rd.read_exact(&mut body)?;
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn read_headers(rd: &mut impl BufRead) -> std::io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if rd.read_line(&mut h)? == 0 || h.trim().is_empty() {
            return Ok(headers);
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
}

fn content_length(headers: &[(String, String)]) -> usize {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Hop-by-hop and framing headers the proxy sets itself.
fn is_framing(name: &str) -> bool {
    [
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

fn forward(req: &Request, upstream: u16) -> std::io::Result<Response> {
    let mut up = TcpStream::connect(("127.0.0.1", upstream))?;
    up.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{} {} HTTP/1.0\r\n", req.method, req.path);
    for (k, v) in req.headers.iter().filter(|(k, _)| !is_framing(k)) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        req.body.len()
    ));
    up.write_all(head.as_bytes())?;
    up.write_all(&req.body)?;
    let mut rd = BufReader::new(up);
    let mut status_line = String::new();
    rd.read_line(&mut status_line)?;
    let mut parts = status_line.trim_end().splitn(3, ' ');
    let _version = parts.next();
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let reason = parts.next().unwrap_or("").to_owned();
    let headers = read_headers(&mut rd)?;
    let mut body = Vec::new();
    rd.read_to_end(&mut body)?;
    Ok(Response {
        status,
        reason,
        headers,
        body,
    })
}

fn write_response(out: &mut TcpStream, resp: &Response) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, resp.reason);
    for (k, v) in resp.headers.iter().filter(|(k, _)| !is_framing(k)) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        resp.body.len()
    ));
    out.write_all(head.as_bytes())?;
    out.write_all(&resp.body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_paths() {
        assert!(is_system_path("/redfish/v1/Systems/abc"));
        assert!(is_system_path("/redfish/v1/Systems/abc/"));
        assert!(!is_system_path("/redfish/v1/Systems/abc/SecureBoot"));
        assert!(!is_system_path("/redfish/v1/Systems"));
    }
}
