//! Redfish push end to end: the rig's controller subscribes each simulated Redfish BMC to its event
//! receiver; a critical reading the BMC pushes an event about raises 200.007 long before the audit
//! interval, and the pushed recovery clears it. The audit interval is set to a day first, so
//! only the reads the events trigger can see either change.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use steward_simbmc::SensorOverride;
use support::{Lab, TOKEN};

async fn call(lab: &Lab, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", lab.url))
        .bearer_auth(TOKEN)
        .timeout(Duration::from_secs(30));
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

/// Poll `path` until `f` holds (bounded only so a broken build fails instead of hanging).
async fn until(lab: &Lab, path: &str, f: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..240 {
        let body = call(lab, reqwest::Method::GET, path, None).await;
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

/// Push an event about `sensor` from `host`'s BMC; waits until the BMC holds the controller's
/// subscription (made after the BMC's first good probe), so the event has somewhere to go.
async fn push(lab: &Lab, host: &str, sensor: &str) {
    for _ in 0..240 {
        if lab.rig.host(host).push_sensor_event(sensor).unwrap() > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{host}'s BMC never got an event subscription");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_critical_reading_raises_200_007_without_waiting_for_the_audit() {
    let lab = Lab::start(false).await;
    let groups = until(&lab, "/v1/ihosts/worker-0/isensorgroups", |b| {
        b["isensorgroups"].as_array().is_some_and(|a| !a.is_empty())
    })
    .await;
    // One interval per host: a day, so the periodic audit reads worker-0 no more in this test.
    let group = groups["isensorgroups"][0]["uuid"]
        .as_str()
        .unwrap()
        .to_string();
    let body = json!([{"op": "replace", "path": "/audit_interval_group", "value": 86_400}]);
    let patched = call(
        &lab,
        reqwest::Method::PATCH,
        &format!("/v1/isensorgroups/{group}"),
        Some(body),
    )
    .await;
    assert_eq!(patched["audit_interval_group"], json!(86_400));
    let read_at = |b: &Value| {
        b["isensors"]
            .as_array()
            .and_then(|a| a.first())
            .map(|s| s["updated_at"].clone())
    };
    let before = call(
        &lab,
        reqwest::Method::GET,
        "/v1/ihosts/worker-0/isensors",
        None,
    )
    .await;

    let host = lab.rig.host("worker-0");
    host.set_sensor("CPU1 Temp", Some(SensorOverride::Value(97.0)))
        .unwrap();
    push(&lab, "worker-0", "CPU1 Temp").await;
    let entity = "host=worker-0.sensor=CPU1 Temp";
    let alarms = until(&lab, "/v1/alarms", |b| sensor_alarm(b, entity).is_some()).await;
    let a = sensor_alarm(&alarms, entity).unwrap();
    assert_eq!(a["alarm_id"], "200.007");
    assert_eq!(a["severity"], "critical");
    let after = call(
        &lab,
        reqwest::Method::GET,
        "/v1/ihosts/worker-0/isensors",
        None,
    )
    .await;
    assert_ne!(
        read_at(&before),
        read_at(&after),
        "the event triggered reads"
    );

    // Back to normal, pushed: cleared the same way.
    host.set_sensor("CPU1 Temp", None).unwrap();
    push(&lab, "worker-0", "CPU1 Temp").await;
    until(&lab, "/v1/alarms", |b| sensor_alarm(b, entity).is_none()).await;
    lab.rig.shutdown().await;
}
