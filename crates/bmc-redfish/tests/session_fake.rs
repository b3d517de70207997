//! Session-auth, retry and If-Match behaviour against a tiny in-process Redfish fake.
//!
//! Neither sushy peer implements sessions (sushy-emulator has no SessionService, sushy-static
//! answers the login POST with a bare 204), so these protocol rules are checked against a
//! loopback fake that does: tokens, Location, 401 on expired tokens, DELETE logout, 409/503
//! injection and an ETag that PATCH must echo in If-Match (428 otherwise, like Lenovo XCC).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use steward_bmc_redfish::{
    AuthKind, AuthMode, BootEnabled, BootOverride, BootTarget, ClientConfig, PowerAction,
    PowerState, RedfishClient, RedfishError,
};

const ETAG: &str = "\"etag-7\"";

#[derive(Default)]
struct State {
    tokens: HashSet<String>,
    logins: u32,
    logouts: Vec<String>,
    conflicts_left: u32,
    busy_left: u32,
    power: String,
    boot_target: String,
    if_match_seen: Vec<String>,
}

struct Fake {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Fake {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(State {
            power: "Off".into(),
            boot_target: "None".into(),
            ..State::default()
        }));
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let st = st.clone();
                std::thread::spawn(move || handle(conn, &st));
            }
        });
        Self { port, state }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().expect("fake state"))
    }
}

fn respond(s: &mut TcpStream, status: u16, headers: &[(&str, String)], body: Option<Value>) {
    let text = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!(
        "HTTP/1.1 {status} X\r\nConnection: close\r\nContent-Length: {}\r\n",
        text.len()
    );
    if !text.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(text.as_bytes());
}

fn handle(stream: TcpStream, state: &Mutex<State>) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut rd = BufReader::new(stream);
    let mut line = String::new();
    if rd.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if rd.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if rd.read_exact(&mut body).is_err() {
        return;
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut st = state.lock().expect("state");
    let path = path.trim_end_matches('/');
    let sys = "/redfish/v1/Systems/1";

    if method == "GET" && path == "/redfish/v1" {
        return respond(
            &mut out,
            200,
            &[],
            Some(json!({"RedfishVersion": "1.17.0", "Vendor": "Contoso",
                "Systems": {"@odata.id": "/redfish/v1/Systems"},
                "SessionService": {"@odata.id": "/redfish/v1/SessionService"},
                "Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}}})),
        );
    }
    if method == "POST" && path == "/redfish/v1/SessionService/Sessions" {
        if body["UserName"] == "admin" && body["Password"] == "pw" {
            st.logins += 1;
            let token = format!("tok-{}", st.logins);
            st.tokens.insert(token.clone());
            let loc = format!("/redfish/v1/SessionService/Sessions/{}", st.logins);
            return respond(
                &mut out,
                201,
                &[("X-Auth-Token", token), ("Location", loc.clone())],
                Some(json!({"@odata.id": loc})),
            );
        }
        return respond(
            &mut out,
            401,
            &[],
            Some(json!({"error": {"message": "bad credentials"}})),
        );
    }
    let authed = headers
        .get("x-auth-token")
        .is_some_and(|t| st.tokens.contains(t));
    if !authed {
        return respond(&mut out, 401, &[], None);
    }
    match (method.as_str(), path) {
        ("DELETE", p) if p.starts_with("/redfish/v1/SessionService/Sessions/") => {
            if let Some(t) = headers.get("x-auth-token") {
                st.tokens.remove(t);
            }
            st.logouts.push(p.to_owned());
            respond(&mut out, 204, &[], None)
        }
        ("GET", "/redfish/v1/Systems") => respond(
            &mut out,
            200,
            &[],
            Some(json!({"Members": [{"@odata.id": sys}]})),
        ),
        ("GET", p) if p == sys => {
            if st.busy_left > 0 {
                st.busy_left -= 1;
                return respond(&mut out, 503, &[], None);
            }
            let doc = json!({"@odata.id": sys, "Id": "1", "Manufacturer": "Contoso", "PowerState": st.power,
                "Boot": {"BootSourceOverrideTarget": st.boot_target, "BootSourceOverrideEnabled": "Once",
                         "BootSourceOverrideTarget@Redfish.AllowableValues": ["None", "Pxe", "Cd", "Hdd"]},
                "Actions": {"#ComputerSystem.Reset": {"target": format!("{sys}/Actions/ComputerSystem.Reset"),
                    "ResetType@Redfish.AllowableValues": ["On", "ForceOff", "PowerCycle"]}}});
            respond(&mut out, 200, &[("ETag", ETAG.to_owned())], Some(doc))
        }
        ("POST", p) if p == format!("{sys}/Actions/ComputerSystem.Reset") => {
            if st.conflicts_left > 0 {
                st.conflicts_left -= 1;
                return respond(
                    &mut out,
                    409,
                    &[],
                    Some(json!({"error": {"message": "operation in progress"}})),
                );
            }
            match body["ResetType"].as_str() {
                Some("On") => st.power = "On".into(),
                Some("ForceOff") => st.power = "Off".into(),
                _ => {}
            }
            respond(&mut out, 204, &[], None)
        }
        ("PATCH", p) if p == sys => {
            let tag = headers.get("if-match").cloned().unwrap_or_default();
            st.if_match_seen.push(tag.clone());
            if tag != ETAG {
                return respond(
                    &mut out,
                    428,
                    &[],
                    Some(json!({"error": {"message": "If-Match required"}})),
                );
            }
            if let Some(t) = body
                .pointer("/Boot/BootSourceOverrideTarget")
                .and_then(Value::as_str)
            {
                st.boot_target = t.to_owned();
            }
            respond(&mut out, 204, &[], None)
        }
        _ => respond(&mut out, 404, &[], None),
    }
}

fn config(url: &str, password: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new(url, "admin", password);
    cfg.retry_base_delay = Duration::from_millis(10);
    cfg
}

#[tokio::test]
async fn session_login_reuse_relogin_and_logout() {
    let fake = Fake::start();
    let bmc = RedfishClient::connect(config(&fake.url(), "pw"))
        .await
        .expect("connect");
    assert_eq!(bmc.auth_kind().await, AuthKind::Session);
    for _ in 0..3 {
        assert_eq!(bmc.power_state().await.expect("state"), PowerState::Off);
    }
    assert_eq!(
        fake.with(|s| s.logins),
        1,
        "one session reused by all calls"
    );

    // The BMC expires the session (idle timeout): one re-login, call succeeds.
    fake.with(|s| s.tokens.clear());
    assert_eq!(
        bmc.power_state().await.expect("state after expiry"),
        PowerState::Off
    );
    assert_eq!(fake.with(|s| s.logins), 2);
    assert!(
        !format!("{bmc:?}").contains("tok-"),
        "token leaked into Debug"
    );
    assert!(
        !format!("{bmc:?}").contains("\"pw\""),
        "password leaked into Debug"
    );

    bmc.close().await.expect("logout");
    fake.with(|s| {
        assert_eq!(
            s.logouts,
            vec!["/redfish/v1/SessionService/Sessions/2".to_owned()]
        );
        assert!(s.tokens.is_empty(), "session deleted on close");
    });
}

#[tokio::test]
async fn wrong_password_on_session_login_is_auth_error() {
    let fake = Fake::start();
    match RedfishClient::connect(config(&fake.url(), "nope")).await {
        Err(e @ RedfishError::AuthFailed { status: 401, .. }) => {
            assert!(
                e.to_string().contains("check bm_username/bm_password"),
                "{e}"
            );
        }
        other => panic!("expected AuthFailed, got {other:?}"),
    }
    // Basic only against a session-only BMC: 401 → typed auth error, no re-login loop.
    let mut basic = config(&fake.url(), "pw");
    basic.auth = AuthMode::Basic;
    assert!(matches!(
        RedfishClient::connect(basic).await,
        Err(RedfishError::AuthFailed { .. })
    ));
}

#[tokio::test]
async fn conflicts_and_busy_are_retried_boundedly() {
    let fake = Fake::start();
    let bmc = RedfishClient::connect(config(&fake.url(), "pw"))
        .await
        .expect("connect");
    fake.with(|s| s.conflicts_left = 2);
    bmc.power(PowerAction::On).await.expect("On after two 409s");
    assert_eq!(bmc.power_state().await.expect("state"), PowerState::On);

    fake.with(|s| s.busy_left = 2);
    assert_eq!(
        bmc.power_state().await.expect("state after two 503s"),
        PowerState::On
    );

    fake.with(|s| s.conflicts_left = 100);
    match bmc.power(PowerAction::OffForced).await {
        Err(e @ RedfishError::Http { status: 409, .. }) => {
            assert!(e.to_string().contains("operation in progress"), "{e}");
            assert!(e.is_transient());
        }
        other => panic!("expected 409 after bounded retries, got {other:?}"),
    }
    // 1 first attempt + max_retries (3) consumed from the 100 injected conflicts.
    assert_eq!(fake.with(|s| s.conflicts_left), 96);
    // Persistent 409 while already in the target state ("already on", iDRAC PSU501): success.
    bmc.power(PowerAction::On)
        .await
        .expect("409 but already On");
    assert_eq!(fake.with(|s| s.conflicts_left), 92);
    bmc.close().await.expect("close");
}

#[tokio::test]
async fn patch_sends_if_match_from_etag() {
    let fake = Fake::start();
    let bmc = RedfishClient::connect(config(&fake.url(), "pw"))
        .await
        .expect("connect");
    let back = bmc
        .set_boot_override(&BootOverride {
            target: BootTarget::Pxe,
            enabled: BootEnabled::Once,
            mode: None,
        })
        .await
        .expect("boot override");
    assert_eq!(back.target, Some(BootTarget::Pxe));
    assert_eq!(
        fake.with(|s| s.if_match_seen.clone()),
        vec![ETAG.to_owned()]
    );
    bmc.close().await.expect("close");
}
