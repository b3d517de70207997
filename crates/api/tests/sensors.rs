//! The sensor routes over real HTTP against the test rig's controller and its simulated hosts, whose
//! Redfish BMCs report ten sensors (read every 10 s in lab mode): sysinv `isensor`/`isensorgroup`
//! shapes, PATCH of suppression, actions and the audit interval (and their refusals), relearn, and a
//! critical reading injected into a simulated BMC showing in `/v1/alarms` and clearing.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use steward_simbmc::SensorOverride;
use support::{Lab, TOKEN};

async fn call(
    lab: &Lab,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", lab.url))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(30));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(lab: &Lab, path: &str) -> (StatusCode, Value) {
    call(lab, reqwest::Method::GET, path, None).await
}

async fn patch(lab: &Lab, path: &str, field: &str, value: Value) -> (StatusCode, Value) {
    let body = json!([{"op": "replace", "path": format!("/{field}"), "value": value}]);
    call(lab, reqwest::Method::PATCH, path, Some(body)).await
}

/// Poll `path` until `f` holds on its body (reads are 10 s apart; generous for a busy machine).
async fn until(lab: &Lab, path: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..240 {
        let (status, body) = get(lab, path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if f(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{path} never satisfied the condition; last: {last}");
}

fn sensor_alarm(body: &Value, entity: &str) -> Option<Value> {
    body["alarms"]
        .as_array()?
        .iter()
        .find(|a| a["entity_instance_id"] == entity)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensors_and_groups_in_sysinv_shapes_patch_relearn_and_alarm() {
    let lab = Lab::start(false).await;
    let list = until(&lab, "/v1/ihosts/worker-0/isensors", |b| {
        b["isensors"].as_array().is_some_and(|a| a.len() == 10)
    })
    .await;
    let sensors = list["isensors"].as_array().unwrap();
    let cpu = sensors
        .iter()
        .find(|s| s["sensorname"] == "CPU1 Temp")
        .expect("CPU1 Temp")
        .clone();
    assert_eq!(cpu["sensortype"], "temperature");
    assert_eq!(cpu["datatype"], "analog");
    assert_eq!(cpu["status"], "ok");
    assert_eq!(cpu["state"], "enabled");
    assert_eq!(cpu["suppress"], "False");
    assert_eq!(cpu["value"], json!(45.0));
    assert_eq!(cpu["unit_base"], "C");
    assert_eq!(cpu["host_uuid"], json!(lab.uuid("worker-0")));
    assert_eq!(cpu["bmc_thresholds"]["upper_critical"], json!(95.0));
    let cpu_uuid = cpu["uuid"].as_str().unwrap().to_string();

    // The same host by integer id; its groups.
    let (status, groups) = get(&lab, "/v1/ihosts/worker-0/isensorgroups").await;
    assert_eq!(status, StatusCode::OK);
    let groups = groups["isensorgroups"].as_array().unwrap().clone();
    let mut names: Vec<&str> = groups
        .iter()
        .map(|g| g["sensorgroupname"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "server fans",
            "server power",
            "server temperature",
            "server voltage"
        ]
    );
    let temp = groups
        .iter()
        .find(|g| g["sensorgroupname"] == "server temperature")
        .unwrap();
    assert_eq!(temp["audit_interval_group"], json!(10));
    assert_eq!(temp["actions_critical_group"], "alarm");
    assert_eq!(temp["sensorgroupname"], "server temperature");
    assert_eq!(cpu["sensorgroup_uuid"], temp["uuid"]);
    let temp_uuid = temp["uuid"].as_str().unwrap().to_string();

    // One sensor by uuid; an unknown one is a 404 with sysinv's error body.
    let (status, one) = get(&lab, &format!("/v1/isensors/{cpu_uuid}")).await;
    assert_eq!(
        (status, one["sensorname"].clone()),
        (StatusCode::OK, json!("CPU1 Temp"))
    );
    let (status, body) = get(&lab, "/v1/isensors/no-such-sensor").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(steward_api::error_reason(&body)
        .unwrap()
        .contains("not found"));

    // PATCH: suppress as sysinv sends it; refusals name the field.
    let sensor_path = format!("/v1/isensors/{cpu_uuid}");
    let (status, body) = patch(&lab, &sensor_path, "suppress", json!("True")).await;
    assert_eq!(
        (status, body["suppress"].clone()),
        (StatusCode::OK, json!("True"))
    );
    let (status, _) = patch(&lab, &sensor_path, "suppress", json!("False")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = patch(&lab, &sensor_path, "sensorname", json!("x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(steward_api::error_reason(&body)
        .unwrap()
        .contains("suppress"));
    let group_path = format!("/v1/isensorgroups/{temp_uuid}");
    let (status, body) = patch(&lab, &group_path, "actions_major_group", json!("reset")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = patch(&lab, &group_path, "audit_interval_group", json!(5)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = patch(&lab, &group_path, "audit_interval_group", json!(12)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["audit_interval_group"], json!(12));
    // One interval per host: every group shows it.
    let (_, groups) = get(&lab, "/v1/ihosts/worker-0/isensorgroups").await;
    assert!(groups["isensorgroups"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["audit_interval_group"] == json!(12)));

    // A critical CPU temperature on the simulated BMC: 200.007 after two reads, then cleared.
    lab.rig
        .host("worker-0")
        .set_sensor("CPU1 Temp", Some(SensorOverride::Value(97.0)))
        .unwrap();
    let entity = "host=worker-0.sensor=CPU1 Temp";
    let alarms = until(&lab, "/v1/alarms", |b| sensor_alarm(b, entity).is_some()).await;
    let a = sensor_alarm(&alarms, entity).unwrap();
    assert_eq!(a["alarm_id"], "200.007");
    assert_eq!(a["severity"], "critical");
    let (_, host) = get(&lab, "/v1/ihosts/worker-0").await;
    assert_eq!(host["availability"], "degraded", "{host}");
    lab.rig
        .host("worker-0")
        .set_sensor("CPU1 Temp", None)
        .unwrap();
    until(&lab, "/v1/alarms", |b| sensor_alarm(b, entity).is_none()).await;

    // Relearn: accepted for a known host (by uuid), 404 for an unknown one.
    let (status, _) = call(
        &lab,
        reqwest::Method::POST,
        "/v1/isensorgroups/relearn",
        Some(json!({"host_uuid": lab.uuid("worker-0")})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _) = call(
        &lab,
        reqwest::Method::POST,
        "/v1/isensorgroups/relearn?host_uuid=worker-9",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A body with a field it does not know is refused, even when the query names the host (the
    // API fuzzer found it accepted and ignored).
    let (status, body) = call(
        &lab,
        reqwest::Method::POST,
        &format!(
            "/v1/isensorgroups/relearn?host_uuid={}",
            lab.uuid("worker-0")
        ),
        Some(json!({"hostname": "worker-0"})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = call(
        &lab,
        reqwest::Method::POST,
        &format!(
            "/v1/isensorgroups/relearn?host_uuid={}",
            lab.uuid("worker-0")
        ),
        Some(json!({"host_uuid": null})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The document describes the routes.
    let (_, doc) = get(&lab, "/v1/openapi.json").await;
    assert!(doc["paths"]["/v1/isensors/{uuid}"]["patch"].is_object());
    assert!(doc["components"]["schemas"]["ISensorGroup"].is_object());
    lab.rig.shutdown().await;
}
