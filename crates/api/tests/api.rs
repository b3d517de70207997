//! The REST API over real HTTP on 127.0.0.1 against a real controller with real simulated hosts
//! (node agents over UDP, Redfish BMCs; see `steward-testlab`).

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use support::{Lab, TOKEN};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn get(lab: &Lab, path: &str) -> (StatusCode, Value) {
    let r = client()
        .get(format!("{}{path}", lab.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn send(lab: &Lab, method: reqwest::Method, path: &str, body: &str) -> (StatusCode, Value) {
    let r = client()
        .request(method, format!("{}{path}", lab.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn action(lab: &Lab, host: &str, action: &str) -> (StatusCode, Value) {
    let body = json!([{"op": "replace", "path": "/action", "value": action}]).to_string();
    send(
        lab,
        reqwest::Method::PATCH,
        &format!("/v1/ihosts/{host}"),
        &body,
    )
    .await
}

/// Poll GET /v1/actions/{id} until the action ends (generous limit: a noisy 2-core machine).
async fn wait_action(lab: &Lab, id: u64) -> Value {
    for _ in 0..1200 {
        let (status, body) = get(lab, &format!("/v1/actions/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["state"] != "running" {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("action {id} did not end");
}

/// The reason in sysinv's error body (`error_message`: a JSON string with `faultstring`).
fn error_text(body: &Value) -> String {
    steward_api::error_reason(body).unwrap_or_else(|| panic!("no error text in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_list_show_add_and_actions() {
    let lab = Lab::start(false).await;

    // List: {"ihosts": [...]} with the sysinv field names.
    let (status, body) = get(&lab, "/v1/ihosts").await;
    assert_eq!(status, StatusCode::OK);
    let hosts = body["ihosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 3);
    let w = hosts.iter().find(|h| h["hostname"] == "worker-0").unwrap();
    for field in [
        "uuid",
        "hostname",
        "personality",
        "administrative",
        "operational",
        "availability",
        "task",
        "action",
        "mgmt_ip",
        "bm_type",
        "bm_ip",
        "bm_username",
        "uptime",
    ] {
        assert!(w.get(field).is_some(), "{field} missing from {w}");
    }
    assert_eq!(w["administrative"], "unlocked");
    assert_eq!(w["availability"], "available");
    assert_eq!(w["personality"], "worker");
    assert_eq!(w["bm_type"], "redfish");
    assert_eq!(w["mgmt_ip"], lab.mgmt_ip("worker-0").as_str());

    // Show by name and by uuid.
    let (status, by_name) = get(&lab, "/v1/ihosts/worker-0").await;
    assert_eq!(status, StatusCode::OK);
    let (status, by_uuid) = get(&lab, &format!("/v1/ihosts/{}", lab.uuid("worker-0"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_name["uuid"], by_uuid["uuid"]);
    assert_eq!(by_uuid["hostname"], "worker-0");

    // Unknown host: 404 with a JSON error, for show and for actions.
    let (status, body) = get(&lab, "/v1/ihosts/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(error_text(&body).contains("'nope' not found"), "{body}");
    let (status, body) = action(&lab, "nope", "lock").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Admission refusal: 409 with the core's message, and nothing changes.
    let (status, body) = action(&lab, "controller-0", "lock").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        error_text(&body).starts_with("Cannot lock the active controller"),
        "{body}"
    );
    let (_, c0) = get(&lab, "/v1/ihosts/controller-0").await;
    assert_eq!(c0["administrative"], "unlocked");

    // 400s: malformed JSON, unknown path, bad action, bad op; nothing changes.
    let (status, body) = send(&lab, reqwest::Method::PATCH, "/v1/ihosts/worker-0", "[{").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).contains("invalid PATCH list"), "{body}");
    let bad_path = json!([{"op": "replace", "path": "/hostname", "value": "x"}]).to_string();
    let (status, body) = send(
        &lab,
        reqwest::Method::PATCH,
        "/v1/ihosts/worker-0",
        &bad_path,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_text(&body).contains("'hostname' cannot be changed: steward keeps only action"),
        "{body}"
    );
    let (status, body) = action(&lab, "worker-0", "explode").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_text(&body)
            .contains("'explode' is not a host action; use one of unlock, force-unlock, lock"),
        "{body}"
    );
    let (_, w) = get(&lab, "/v1/ihosts/worker-0").await;
    assert_eq!(w["administrative"], "unlocked");

    // Lock worker-0: accepted with an action id that GET /v1/actions follows to completion.
    let (status, body) = action(&lab, "worker-0", "lock").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["action_id"].as_u64().expect("action_id");
    assert_eq!(body["hostname"], "worker-0");
    let end = wait_action(&lab, id).await;
    assert_eq!(end["state"], "completed", "{end}");
    assert_eq!(end["hostname"], "worker-0");
    let (_, w) = get(&lab, "/v1/ihosts/worker-0").await;
    assert_eq!(
        (
            w["administrative"].as_str(),
            w["operational"].as_str(),
            w["availability"].as_str()
        ),
        (Some("locked"), Some("disabled"), Some("online")),
        "{w}"
    );
    // The lock alarm is listed, and an event records the command.
    let (_, alarms) = get(&lab, "/v1/alarms").await;
    assert!(
        alarms["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["alarm_id"] == "200.001" && a["entity_instance_id"] == "host=worker-0"),
        "{alarms}"
    );
    let (_, events) = get(&lab, "/v1/events?limit=1000").await;
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["reason_text"] == "worker-0 lock"),
        "{events}"
    );

    // Unlock by uuid.
    // The unlock really reboots worker-0 (through its agent) and waits for it to come back.
    let (status, body) = action(&lab, &lab.uuid("worker-0"), "unlock").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let end = wait_action(&lab, body["action_id"].as_u64().unwrap()).await;
    assert_eq!(end["state"], "completed", "{end}");
    let (_, w) = get(&lab, "/v1/ihosts/worker-0").await;
    assert_eq!(w["administrative"], "unlocked");
    assert_eq!(w["operational"], "enabled");

    // Unknown and malformed action ids.
    let (status, _) = get(&lab, "/v1/actions/999999").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&lab, "/v1/actions/xyz").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Add a host: locked, new install; bm_password accepted and never echoed. It has no machine;
    // its addresses are on loopback (127.4.x.x, which no rig uses) because the real node link,
    // heartbeat service and BMC workers do send to them.
    let new = json!({
        "hostname": "worker-1", "personality": "worker", "mgmt_ip": "127.4.0.44",
        "mgmt_mac": "08:00:27:00:00:44", "bm_type": "ipmi", "bm_ip": "127.4.0.45",
        "bm_username": "root", "bm_password": "s3cret-pw"
    });
    let (status, body) = send(&lab, reqwest::Method::POST, "/v1/ihosts", &new.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["hostname"], "worker-1");
    assert_eq!(body["administrative"], "locked");
    assert_eq!(body["bm_type"], "ipmi");
    assert_eq!(body["bm_username"], "root");
    assert!(!body.to_string().contains("s3cret-pw"), "{body}");
    assert!(body.get("bm_password").is_none());
    uuid_like(body["uuid"].as_str().unwrap());
    let (status, _) = get(&lab, "/v1/ihosts/worker-1").await;
    assert_eq!(status, StatusCode::OK);
    // The same name again is refused by admission (409); unknown fields and bad JSON are 400.
    let (status, body) = send(&lab, reqwest::Method::POST, "/v1/ihosts", &new.to_string()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = send(
        &lab,
        reqwest::Method::POST,
        "/v1/ihosts",
        &json!({"hostname": "w9", "personality": "worker", "colour": "red"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_text(&body).contains("unknown field `colour`"),
        "{body}"
    );
    let (status, body) = send(&lab, reqwest::Method::POST, "/v1/ihosts", "{\"hostname\":").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).contains("invalid host"), "{body}");
    let (status, body) = send(
        &lab,
        reqwest::Method::POST,
        "/v1/ihosts",
        &json!({"hostname": "w9", "personality": "router"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_text(&body).contains("'router' is not a valid"),
        "{body}"
    );
    let (_, all) = get(&lab, "/v1/ihosts").await;
    assert_eq!(
        all["ihosts"].as_array().unwrap().len(),
        4,
        "nothing added by refused requests"
    );

    // bulk_export, then bulk_add of an exported file (existing names are rejected per host).
    let (status, export) = get(&lab, "/v1/ihosts/bulk_export").await;
    assert_eq!(status, StatusCode::OK);
    let xml = export["content"].as_str().unwrap();
    assert!(xml.contains("<hostname>worker-1</hostname>"), "{xml}");
    assert!(xml.contains("<bm_password/>"), "{xml}");
    let file = "<?xml version=\"1.0\" ?>\n<hosts>\n\t<host>\n\t\t<hostname>storage-0</hostname>\n\t\t<personality>storage</personality>\n\t\t<mgmt_mac>08:00:27:00:00:55</mgmt_mac>\n\t\t<mgmt_ip>127.4.0.55</mgmt_ip>\n\t\t<location><locn>rack 2</locn></location>\n\t\t<bm_type/>\n\t\t<boot_device>sda</boot_device>\n\t</host>\n\t<host>\n\t\t<hostname>worker-0</hostname>\n\t\t<personality>worker</personality>\n\t</host>\n</hosts>\n";
    let r = client()
        .post(format!("{}/v1/ihosts/bulk_add", lab.url))
        .bearer_auth(TOKEN)
        .header("content-type", "application/xml")
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["success"], "storage-0", "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("worker-0: Host-add Rejected"),
        "{body}"
    );

    // DELETE runs the delete action on a locked host.
    let (status, body) = send(&lab, reqwest::Method::DELETE, "/v1/ihosts/storage-0", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let end = wait_action(&lab, body["action_id"].as_u64().unwrap()).await;
    assert_eq!(end["state"], "completed", "{end}");
    let (status, _) = get(&lab, "/v1/ihosts/storage-0").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Metrics: hosts by state, actions accepted and refused, alarms.
    let r = client()
        .get(format!("{}/metrics", lab.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(text.contains("steward_hosts{"), "{text}");
    assert!(
        text.contains("steward_actions_accepted_total{action=\"lock\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("steward_actions_refused_total{action=\"lock\"} 1"),
        "{text}"
    );
    assert!(text.contains("steward_alarms_active{severity="), "{text}");
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "not a sample line: {line}");
    }
    assert!(text.trim_end().ends_with("# EOF"));

    // OpenAPI document parses and covers the endpoints.
    let (status, doc) = get(&lab, "/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for p in [
        "/v1/ihosts",
        "/v1/ihosts/{id}",
        "/v1/ihosts/{id}/icpus",
        "/v1/ihosts/{id}/imemorys",
        "/v1/ihosts/{id}/inodes",
        "/v1/ihosts/{id}/idisks",
        "/v1/ihosts/{id}/ports",
        "/v1/ihosts/bulk_add",
        "/v1/ihosts/bulk_export",
        "/v1/actions/{id}",
        "/v1/node-settings",
        "/v1/alarms",
        "/v1/events",
        "/metrics",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} missing");
    }

    // Unknown route: JSON 404.
    let (status, body) = get(&lab, "/v1/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    error_text(&body);
}

fn uuid_like(s: &str) {
    assert_eq!(s.len(), 36, "{s}");
    assert_eq!(s.matches('-').count(), 4, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_required_unless_loopback_is_exempt() {
    let lab = Lab::start(false).await;
    let r = client()
        .get(format!("{}/v1/ihosts", lab.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert!(error_text(&body).contains("a token is required"), "{body}");
    let r = client()
        .get(format!("{}/v1/ihosts", lab.url))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body: Value = r.json().await.unwrap();
    assert!(error_text(&body).contains("not valid"), "{body}");
    // A refused token changes nothing.
    let r = client()
        .patch(format!("{}/v1/ihosts/worker-0", lab.url))
        .body(json!([{"op": "replace", "path": "/action", "value": "lock"}]).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let w = lab.handle.host("worker-0").await.unwrap().unwrap();
    assert_eq!(w.states.admin.as_str(), "unlocked");
    // Keystone's header (what sysinv's `system` client sends) carries the same token.
    let r = client()
        .get(format!("{}/v1/ihosts", lab.url))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = client()
        .get(format!("{}/v1/ihosts", lab.url))
        .header("X-Auth-Token", "wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let lab = Lab::start(true).await;
    let r = client()
        .get(format!("{}/v1/ihosts", lab.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "lab mode: loopback needs no token"
    );
}

#[test]
fn the_token_file_is_created_once_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let a = steward_api::Auth::load_or_create(dir.path()).unwrap();
    assert_eq!(a.tokens.len(), 1);
    assert_eq!(a.tokens[0].len(), 64);
    assert!(a.tokens[0].chars().all(|c| c.is_ascii_hexdigit()));
    assert!(!a.loopback_without_token);
    let path = dir.path().join(steward_api::TOKEN_FILE);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let b = steward_api::Auth::load_or_create(dir.path()).unwrap();
    assert_eq!(a.tokens, b.tokens, "an existing token is kept");
}

/// Every error answer, axum's own rejections included, has sysinv's body: `error_message` holding a
/// JSON string with `faultstring` (what sysinv's client and steward's CLI print).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_has_the_sysinv_error_body() {
    let lab = Lab::start(false).await;
    let check = |status: StatusCode, want: StatusCode, body: &Value, text: &str| {
        assert_eq!(status, want, "{body}");
        let inner: Value = serde_json::from_str(
            body["error_message"]
                .as_str()
                .expect("error_message string"),
        )
        .expect("error_message holds JSON");
        assert!(inner["debuginfo"].is_null(), "{body}");
        let reason = inner["faultstring"].as_str().expect("faultstring");
        assert!(reason.contains(text), "{reason}");
    };
    let (status, body) = get(&lab, "/v1/ihosts/nope").await;
    check(
        status,
        StatusCode::NOT_FOUND,
        &body,
        "host 'nope' not found",
    );
    let (status, body) = get(&lab, "/v1/nothing-here").await;
    check(status, StatusCode::NOT_FOUND, &body, "no such endpoint");
    let (status, body) = send(&lab, reqwest::Method::POST, "/v1/ihosts", "{").await;
    check(status, StatusCode::BAD_REQUEST, &body, "invalid host");
    let (status, body) = action(&lab, "controller-0", "lock").await;
    check(
        status,
        StatusCode::CONFLICT,
        &body,
        "Cannot lock the active controller",
    );
    // axum's rejections: a method the path does not have, a body over the limit.
    let (status, body) = send(&lab, reqwest::Method::PUT, "/v1/ihosts", "{}").await;
    check(
        status,
        StatusCode::METHOD_NOT_ALLOWED,
        &body,
        "this path does not take that method",
    );
    let huge = "x".repeat(3 * 1024 * 1024);
    let (status, body) = send(&lab, reqwest::Method::POST, "/v1/ihosts", &huge).await;
    check(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        &body,
        "the request body is too large",
    );
}

/// Hosts have a stable integer id; `/v1/ihosts/{id}` takes it as well as the uuid and the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_have_integer_ids_and_sysinv_fields() {
    let lab = Lab::start(false).await;
    let (_, list) = get(&lab, "/v1/ihosts").await;
    let hosts = list["ihosts"].as_array().unwrap().clone();
    let mut ids: Vec<u64> = hosts.iter().map(|h| h["id"].as_u64().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), hosts.len(), "distinct ids: {list}");
    assert!(ids.iter().all(|&i| i > 0), "{list}");
    for h in &hosts {
        let id = h["id"].as_u64().unwrap();
        let (status, by_id) = get(&lab, &format!("/v1/ihosts/{id}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(by_id["hostname"], h["hostname"]);
        for field in [
            "subfunctions",
            "subfunction_oper",
            "subfunction_avail",
            "peers",
            "install_state",
            "install_state_info",
            "created_at",
            "updated_at",
        ] {
            assert!(h.get(field).is_some(), "{field} missing: {h}");
        }
        assert!(h["peers"].is_null());
        assert_eq!(h["install_state"], "installed", "{h}");
        let created = h["created_at"].as_str().unwrap();
        assert!(
            created.len() == "2014-10-01T20:06:44.302456+00:00".len()
                && created.ends_with("+00:00"),
            "{created}"
        );
    }
    let worker = hosts.iter().find(|h| h["hostname"] == "worker-0").unwrap();
    assert_eq!(worker["subfunctions"], "worker");
    assert_eq!(worker["subfunction_oper"], "disabled");
    assert_eq!(worker["subfunction_avail"], "not-installed");
    let id = worker["id"].as_u64().unwrap();

    // An action by integer id; the id survives the change and `updated_at` moves.
    let (status, body) = send(
        &lab,
        reqwest::Method::PATCH,
        &format!("/v1/ihosts/{id}"),
        &json!([{"op": "replace", "path": "/action", "value": "lock"}]).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["id"].as_u64(), Some(id));
    assert_eq!(body["hostname"], "worker-0");
    wait_action(&lab, body["action_id"].as_u64().unwrap()).await;
    let (_, after) = get(&lab, "/v1/ihosts/worker-0").await;
    assert_eq!(after["administrative"], "locked");
    assert_eq!(after["created_at"], worker["created_at"]);
    assert!(after["updated_at"].as_str() >= worker["updated_at"].as_str());

    // A new host takes the next id; a deleted host's id is not given again.
    let max = *ids.iter().max().unwrap();
    let (status, added) = send(
        &lab,
        reqwest::Method::POST,
        "/v1/ihosts",
        &json!({"hostname": "worker-9", "personality": "worker"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["id"].as_u64(), Some(max + 1), "{added}");
    assert_eq!(
        added["install_state"],
        Value::Null,
        "never heard from: {added}"
    );
    let (status, _) = send(&lab, reqwest::Method::DELETE, "/v1/ihosts/worker-9", "").await;
    assert_eq!(status, StatusCode::OK);
    // The DELETE answers once the host is gone (as sysinv's does): read right after it, the host
    // and its sub-resources are not found.
    for path in ["/v1/ihosts/worker-9", "/v1/ihosts/worker-9/isensors"] {
        assert_eq!(get(&lab, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        get(&lab, &format!("/v1/ihosts/{}", max + 1)).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, again) = send(
        &lab,
        reqwest::Method::POST,
        "/v1/ihosts",
        &json!({"hostname": "worker-9", "personality": "worker"}).to_string(),
    )
    .await;
    assert_eq!(
        again["id"].as_u64(),
        Some(max + 2),
        "ids are never reused: {again}"
    );
    // A name of digits would read as an id: refused.
    let (status, body) = send(
        &lab,
        reqwest::Method::POST,
        "/v1/ihosts",
        &json!({"hostname": "42", "personality": "worker"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_text(&body).contains("not only digits"), "{body}");
}

/// An address that cannot be one is refused with a 400 naming the field, on add, bulk add and
/// modify, and nothing is stored (it used to be stored: `bm_ip: "10.0.0.1; rm -rf /"` answered 201
/// and raised the BMC access alarm later).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_addresses_are_refused_naming_the_field() {
    let lab = Lab::start(false).await;
    let bmc = json!({"bm_type": "redfish", "bm_username": "root", "bm_password": "pw"});
    for (field, value) in [
        ("mgmt_ip", "999.1.1.1"),
        ("cluster_ip", "10.0.0"),
        ("pxeboot_ip", "169.254.202"),
        ("mgmt_mac", "08:00:27:zz:00:01"),
        ("bm_ip", "10.0.0.1; rm -rf /"),
        ("bm_ip", "999.1.1.1"),
    ] {
        let mut new = json!({"hostname": "worker-7", "personality": "worker"});
        if field == "bm_ip" {
            new.as_object_mut()
                .unwrap()
                .extend(bmc.as_object().unwrap().clone());
        }
        new[field] = json!(value);
        let (status, body) =
            send(&lab, reqwest::Method::POST, "/v1/ihosts", &new.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}={value}: {body}");
        let reason = error_text(&body);
        assert!(reason.starts_with(&format!("{field} '")), "{reason}");
        assert_eq!(
            get(&lab, "/v1/ihosts/worker-7").await.0,
            StatusCode::NOT_FOUND,
            "{field}={value} was stored"
        );
    }

    // bulk_add: a file with a bad host is refused whole, naming the host and the field; its good
    // host is not added either (fix the file and send it again).
    let file = "<hosts><host><hostname>worker-8</hostname><personality>worker</personality>\
                <mgmt_ip>127.4.0.88</mgmt_ip></host><host><hostname>worker-7</hostname>\
                <personality>worker</personality><mgmt_ip>999.1.1.1</mgmt_ip></host></hosts>";
    let r = client()
        .post(format!("{}/v1/ihosts/bulk_add", lab.url))
        .bearer_auth(TOKEN)
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body: Value = r.json().await.unwrap();
    assert!(
        error_text(&body).starts_with("worker-7: mgmt_ip '999.1.1.1'"),
        "{body}"
    );
    for name in ["worker-7", "worker-8"] {
        let (status, _) = get(&lab, &format!("/v1/ihosts/{name}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name} was added");
    }

    // Modify: refused, the BMC address the host had is kept.
    let (_, before) = get(&lab, "/v1/ihosts/worker-0").await;
    for value in ["10.0.0.1; rm -rf /", "999.1.1.1", "http://bmc/redfish/v1"] {
        let patch = json!([{"op": "replace", "path": "/bm_ip", "value": value}]).to_string();
        let (status, body) =
            send(&lab, reqwest::Method::PATCH, "/v1/ihosts/worker-0", &patch).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{value}: {body}");
        assert!(error_text(&body).starts_with("bm_ip '"), "{body}");
    }
    let (_, after) = get(&lab, "/v1/ihosts/worker-0").await;
    assert_eq!(after["bm_ip"], before["bm_ip"]);
    assert!(before["bm_ip"].as_str().is_some(), "{before}");
}

/// What `/v1/openapi.json` says is out of bounds is refused (the API fuzzer's negative cases): an
/// events limit above the documented maximum (it was silently capped), a uuid not in its
/// hyphenated form (it was stored rewritten, so the client's own uuid did not find the host), a
/// value with spaces around it (it was trimmed, though the document's formats have none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_bounds_are_enforced() {
    let lab = Lab::start(false).await;
    let (status, body) = get(&lab, "/v1/events?limit=10001").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(error_text(&body).contains("limit=10000"), "{body}");
    let (status, body) = get(&lab, "/v1/events?limit=10000").await;
    assert_eq!(status, StatusCode::OK, "{body}");

    for (field, value) in [
        ("uuid", "5eed1ab000004000800000000000abcd"),
        ("uuid", "{5eed1ab0-0000-4000-8000-00000000abcd}"),
        ("uuid", "urn:uuid:5eed1ab0-0000-4000-8000-00000000abcd"),
        ("mgmt_ip", " 127.4.0.77"),
        ("hostname", "worker-7 "),
        ("personality", " worker"),
    ] {
        let mut new = json!({"hostname": "worker-7", "personality": "worker"});
        new[field] = json!(value);
        let (status, body) =
            send(&lab, reqwest::Method::POST, "/v1/ihosts", &new.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{field}={value:?}: {body}");
    }
    let (status, body) = send(
        &lab,
        reqwest::Method::POST,
        "/v1/ihosts",
        &json!({"hostname": "worker-7", "personality": "worker",
                "uuid": "5eed1ab0-0000-4000-8000-00000000abcd"})
        .to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = get(&lab, "/v1/ihosts/5eed1ab0-0000-4000-8000-00000000abcd").await;
    assert_eq!(status, StatusCode::OK);

    // A bulk add without hosts (no body at all, as the fuzzer sent it) was a 200 that added none.
    for (content_type, body) in [
        (None, ""),
        (Some("application/xml"), "<hosts></hosts>"),
        (Some("application/json"), r#"{"ihosts": []}"#),
    ] {
        let mut req = client()
            .post(format!("{}/v1/ihosts/bulk_add", lab.url))
            .bearer_auth(TOKEN)
            .body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body:?}");
        let body: Value = r.json().await.unwrap();
        assert!(error_text(&body).contains("holds no host"), "{body}");
    }
}
