//! Hostile Redfish peers: garbage JSON, 500s, endless 401s, a server that accepts and
//! never answers, truncated bodies and slammed connections. The client must come back
//! with a typed error within its configured (short) timeouts and retry budget: never
//! panic, never hang, never loop. A generous outer guard turns a hang into a failure;
//! there are no other wall-clock assertions.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steward_bmc_redfish::{AuthMode, ClientConfig, RedfishClient, RedfishError};

/// What the fake does with one request.
enum Reply {
    Status(u16, String),
    /// Keep the connection open and never answer.
    Hang,
    /// Write these bytes and close.
    Raw(Vec<u8>),
}

const ROOT: &str = r#"{"RedfishVersion":"1.17.0","Vendor":"Contoso","Systems":{"@odata.id":"/redfish/v1/Systems"},"Managers":{"@odata.id":"/redfish/v1/Managers"},"Chassis":{"@odata.id":"/redfish/v1/Chassis"},"SessionService":{"@odata.id":"/redfish/v1/SessionService"},"Links":{"Sessions":{"@odata.id":"/redfish/v1/SessionService/Sessions"}}}"#;

struct Fake {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl Fake {
    fn start(route: fn(&str, &str) -> Reply) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let n = requests.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let n = n.clone();
                std::thread::spawn(move || handle(conn, route, &n));
            }
        });
        Fake { port, requests }
    }

    fn cfg(&self) -> ClientConfig {
        let mut c = ClientConfig::new(format!("http://127.0.0.1:{}", self.port), "admin", "pw");
        c.connect_timeout = Duration::from_millis(500);
        c.request_timeout = Duration::from_millis(500);
        c.max_retries = 2;
        c.retry_base_delay = Duration::from_millis(10);
        c
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn handle(stream: TcpStream, route: fn(&str, &str) -> Reply, n: &AtomicUsize) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut rd = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let path = parts.next().unwrap_or("").to_string();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if rd.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; len.min(1 << 20)];
        if rd.read_exact(&mut body).is_err() {
            return;
        }
        n.fetch_add(1, Ordering::SeqCst);
        match route(&method, path.trim_end_matches('/')) {
            Reply::Status(status, text) => {
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    text.len()
                );
                if out.write_all(head.as_bytes()).is_err()
                    || out.write_all(text.as_bytes()).is_err()
                {
                    return;
                }
            }
            Reply::Hang => {
                std::thread::sleep(Duration::from_secs(60));
                return;
            }
            Reply::Raw(bytes) => {
                let _ = out.write_all(&bytes);
                return;
            }
        }
    }
}

/// Run `f` under an outer guard far above the client's own timeouts.
async fn guarded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: the client hung"),
    }
}

async fn connect_err(what: &str, fake: &Fake, cfg: ClientConfig) -> RedfishError {
    match guarded(what, RedfishClient::connect(cfg)).await {
        Ok(_) => panic!("{what}: connect succeeded against a hostile peer"),
        Err(e) => {
            // Messages are operator-facing: never empty, never the password.
            let msg = e.to_string();
            assert!(!msg.is_empty());
            assert!(!msg.contains("pw\""), "{msg}");
            eprintln!("{what}: {msg} ({} requests)", fake.requests());
            e
        }
    }
}

#[tokio::test]
async fn garbage_json_service_root_is_a_typed_error() {
    let f =
        Fake::start(|_, _| Reply::Status(200, "{\"RedfishVersion\": [1, 2,,, }} <html>".into()));
    let e = connect_err("garbage root", &f, f.cfg()).await;
    assert!(
        matches!(
            e,
            RedfishError::UnexpectedShape { .. } | RedfishError::Http { .. }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn garbage_json_after_login_is_a_typed_error() {
    let f = Fake::start(|m, p| {
        match (m, p) {
        ("GET", "/redfish/v1") => Reply::Status(200, ROOT.into()),
        ("POST", "/redfish/v1/SessionService/Sessions") => Reply::Raw(
            b"HTTP/1.1 201 Created\r\nX-Auth-Token: t1\r\nLocation: /redfish/v1/SessionService/Sessions/1\r\nContent-Length: 2\r\n\r\n{}"
                .to_vec(),
        ),
        // Wrong types everywhere: Members is a string, then plain binary junk.
        ("GET", "/redfish/v1/Systems") => Reply::Status(200, r#"{"Members": "nope"}"#.into()),
        _ => Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n\x00\xff\xfe{[".to_vec()),
    }
    });
    let e = connect_err("garbage after login", &f, f.cfg()).await;
    assert!(
        matches!(
            e,
            RedfishError::UnexpectedShape { .. }
                | RedfishError::NotFound { .. }
                | RedfishError::Unreachable { .. }
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn endless_500s_end_after_the_retry_budget() {
    let f = Fake::start(|_, _| Reply::Status(500, r#"{"error":{"message":"boom"}}"#.into()));
    let e = connect_err("500s", &f, f.cfg()).await;
    assert!(matches!(e, RedfishError::Http { status: 500, .. }), "{e:?}");
    assert!(e.is_transient());
    // First attempt + max_retries (2), nothing more.
    assert!(f.requests() <= 3, "{} requests", f.requests());
}

#[tokio::test]
async fn endless_401s_are_an_auth_error_not_a_loop() {
    // Root readable, then every login and every request is 401.
    let f = Fake::start(|m, p| match (m, p) {
        ("GET", "/redfish/v1") => Reply::Status(200, ROOT.into()),
        _ => Reply::Status(401, r#"{"error":{"message":"unauthorized"}}"#.into()),
    });
    let e = connect_err("401 loop", &f, f.cfg()).await;
    assert!(matches!(e, RedfishError::AuthFailed { .. }), "{e:?}");
    assert!(f.requests() < 10, "{} requests", f.requests());

    // Basic auth: the same.
    let mut cfg = f.cfg();
    cfg.auth = AuthMode::Basic;
    let before = f.requests();
    let e = connect_err("401 loop (basic)", &f, cfg).await;
    assert!(matches!(e, RedfishError::AuthFailed { .. }), "{e:?}");
    assert!(f.requests() - before < 10);
}

#[tokio::test]
async fn token_that_is_always_rejected_ends_after_one_relogin() {
    // Login "works", every authenticated request is then 401: the client may log in
    // again once, then must give up with an auth error.
    let f = Fake::start(|m, p| {
        match (m, p) {
        ("GET", "/redfish/v1") => Reply::Status(200, ROOT.into()),
        ("POST", "/redfish/v1/SessionService/Sessions") => Reply::Raw(
            b"HTTP/1.1 201 Created\r\nX-Auth-Token: t1\r\nLocation: /redfish/v1/SessionService/Sessions/1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                .to_vec(),
        ),
        _ => Reply::Status(401, "{}".into()),
    }
    });
    let e = connect_err("rejected token", &f, f.cfg()).await;
    assert!(matches!(e, RedfishError::AuthFailed { .. }), "{e:?}");
    assert!(f.requests() < 10, "{} requests", f.requests());
}

#[tokio::test]
async fn server_that_never_answers_times_out() {
    let f = Fake::start(|_, _| Reply::Hang);
    let e = connect_err("hang", &f, f.cfg()).await;
    assert!(matches!(e, RedfishError::Timeout { .. }), "{e:?}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn hang_after_login_times_out() {
    let f = Fake::start(|m, p| {
        match (m, p) {
        ("GET", "/redfish/v1") => Reply::Status(200, ROOT.into()),
        ("POST", "/redfish/v1/SessionService/Sessions") => Reply::Raw(
            b"HTTP/1.1 201 Created\r\nX-Auth-Token: t1\r\nLocation: /redfish/v1/SessionService/Sessions/1\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
                .to_vec(),
        ),
        _ => Reply::Hang,
    }
    });
    let e = connect_err("hang after login", &f, f.cfg()).await;
    assert!(matches!(e, RedfishError::Timeout { .. }), "{e:?}");
}

#[tokio::test]
async fn truncated_and_slammed_replies_are_errors() {
    // Content-Length promises more than is sent, then the connection closes.
    let f = Fake::start(|_, _| {
        Reply::Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n{\"RedfishVersion\":".to_vec())
    });
    let e = connect_err("truncated body", &f, f.cfg()).await;
    assert!(
        matches!(
            e,
            RedfishError::Unreachable { .. }
                | RedfishError::UnexpectedShape { .. }
                | RedfishError::Timeout { .. }
        ),
        "{e:?}"
    );

    // Not HTTP at all.
    let f = Fake::start(|_, _| Reply::Raw(b"\x16\x03\x01 SSH-2.0-OpenSSH_9.2\r\n".to_vec()));
    let e = connect_err("not http", &f, f.cfg()).await;
    assert!(
        matches!(
            e,
            RedfishError::Unreachable { .. } | RedfishError::Http { .. }
        ),
        "{e:?}"
    );

    // Oversized header block.
    let f = Fake::start(|_, _| {
        let mut v = b"HTTP/1.1 200 OK\r\nX-Junk: ".to_vec();
        v.extend(std::iter::repeat(b'a').take(1 << 20));
        v.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        Reply::Raw(v)
    });
    let _ = connect_err("oversized header", &f, f.cfg()).await;
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut cfg = ClientConfig::new(format!("http://127.0.0.1:{port}"), "admin", "pw");
    cfg.connect_timeout = Duration::from_millis(500);
    cfg.request_timeout = Duration::from_millis(500);
    cfg.max_retries = 1;
    cfg.retry_base_delay = Duration::from_millis(10);
    match guarded("closed port", RedfishClient::connect(cfg)).await {
        Err(e) => assert!(matches!(e, RedfishError::Unreachable { .. }), "{e:?}"),
        Ok(_) => panic!("connected to a closed port"),
    }
}
