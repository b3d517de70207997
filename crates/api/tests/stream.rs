//! `GET /v1/stream` against a real controller with simulated hosts: a client that disconnects and
//! comes back with `Last-Event-ID` receives every item it missed, in order, none twice; an id the
//! buffer cannot continue from is reported as a `gap` event, never skipped silently.

mod support;

use serde_json::Value;
use std::time::Duration;
use steward_maintenance::action::{ActionOutcome, OperatorAction};
use support::Lab;

/// One parsed Server-Sent Event.
#[derive(Clone, Debug, PartialEq)]
struct Sse {
    id: Option<String>,
    event: String,
    data: Value,
}

/// A reader of `/v1/stream` that parses events as chunks arrive.
struct StreamClient {
    resp: reqwest::Response,
    buf: String,
}

impl StreamClient {
    async fn open(lab: &Lab, last_event_id: Option<&str>) -> StreamClient {
        let mut req = reqwest::Client::new().get(format!("{}/v1/stream", lab.url));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        StreamClient {
            resp,
            buf: String::new(),
        }
    }

    /// The next event (comments skipped).
    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Sse {
                    id: None,
                    event: "message".into(),
                    data: Value::Null,
                };
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                ev.data = serde_json::from_str(&data).unwrap();
                return ev;
            }
            let chunk = self.resp.chunk().await.unwrap().expect("the stream ended");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Events until one with `id` (inclusive).
    async fn until_id(&mut self, id: &str) -> Vec<Sse> {
        let mut out = Vec::new();
        loop {
            let ev = self.next().await;
            let done = ev.id.as_deref() == Some(id);
            out.push(ev);
            if done {
                return out;
            }
        }
    }
}

fn seq(ev: &Sse) -> u64 {
    let id = ev.id.as_deref().expect("an item has an id");
    id.split_once('-').unwrap().1.parse().unwrap()
}

async fn act(lab: &Lab, host: &str, action: OperatorAction) {
    let id = lab.handle.request(host, action).await.unwrap();
    let outcome = lab
        .handle
        .wait(id, Duration::from_millis(20), |_| {})
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumes_after_a_disconnect_without_losing_an_event() {
    let lab = Lab::start(true).await;
    // The reference client stays connected throughout.
    let mut reference = StreamClient::open(&lab, None).await;
    let hello = reference.next().await;
    assert_eq!(hello.event, "hello");
    assert_eq!(hello.id, None, "hello must not move the client's position");

    let mut client = StreamClient::open(&lab, None).await;
    let hello = client.next().await;
    assert_eq!(hello.event, "hello");
    let start: u64 = hello.data["position"]
        .as_str()
        .unwrap()
        .split_once('-')
        .unwrap()
        .1
        .parse()
        .unwrap();
    act(&lab, "worker-0", OperatorAction::Lock).await;
    // The client reads the lock's first few items, then loses its connection.
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(client.next().await);
    }
    let held = seen.last().unwrap().id.clone().unwrap();
    drop(client);

    // What happens while it is away: the lock's remaining items and a whole unlock.
    act(&lab, "worker-0", OperatorAction::Unlock).await;
    lab.rig
        .wait_until("worker-0 back in service", |hosts| {
            hosts.iter().any(|h| {
                h.name() == "worker-0"
                    && h.states.to_string() == "unlocked-enabled-available"
                    && h.task.is_empty()
            })
        })
        .await;
    let unlocked = lab.handle.host("worker-0").await.unwrap().unwrap();
    assert_eq!(unlocked.states.to_string(), "unlocked-enabled-available");

    // The reference client saw everything up to the last item published so far.
    let position = lab.handle.feed().subscribe(None).position.to_string();
    // (Anything published before the client connected is the reference's alone.)
    let everything: Vec<Sse> = reference
        .until_id(&position)
        .await
        .into_iter()
        .filter(|e| e.id.is_some() && seq(e) > start)
        .collect();

    let mut client = StreamClient::open(&lab, Some(&held)).await;
    assert_eq!(client.next().await.event, "hello");
    seen.extend(client.until_id(&position).await);

    // Same items, same order, same content; consecutive ids from the client's first position (no
    // loss, no repeat).
    assert_eq!(seq(&seen[0]), start + 1);
    assert_eq!(seen, everything);
    for pair in seen.windows(2) {
        assert_eq!(seq(&pair[1]), seq(&pair[0]) + 1, "{pair:?}");
    }
    // And they tell the story: worker-0 locked, then back in service, with the customer logs.
    let states: Vec<String> = seen
        .iter()
        .filter(|e| e.event == "host" && e.data["hostname"] == "worker-0")
        .map(|e| {
            format!(
                "{}-{}-{}",
                e.data["administrative"].as_str().unwrap(),
                e.data["operational"].as_str().unwrap(),
                e.data["availability"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        states.iter().any(|s| s == "locked-disabled-online"),
        "{states:?}"
    );
    assert_eq!(
        states.last().map(String::as_str),
        Some("unlocked-enabled-available")
    );
    assert!(
        seen.iter()
            .any(|e| e.event == "event" && e.data["reason_text"].as_str().unwrap().contains("lock")),
        "{seen:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_it_cannot_continue_from_is_a_gap_event() {
    let lab = Lab::start(true).await;
    let epoch = lab.handle.epoch();
    // An id from an earlier controller run.
    let mut client = StreamClient::open(&lab, Some(&format!("{}-5", epoch - 1))).await;
    assert_eq!(client.next().await.event, "hello");
    let gap = client.next().await;
    assert_eq!(gap.event, "gap", "{gap:?}");
    assert!(
        gap.data["reason"]
            .as_str()
            .unwrap()
            .contains("controller restarted"),
        "{gap:?}"
    );
    // The gap moves the client to the present: reconnecting with its id is seamless.
    let position = gap.id.clone().unwrap();
    let mut again = StreamClient::open(&lab, Some(&position)).await;
    assert_eq!(again.next().await.event, "hello");
    act(&lab, "worker-0", OperatorAction::Lock).await;
    let next = again.next().await;
    assert_ne!(next.event, "gap", "{next:?}");

    // The route is described where every route is.
    let doc: Value = reqwest::get(format!("{}/v1/openapi.json", lab.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["paths"]["/v1/stream"]["get"]["responses"]["200"]["content"]["text/event-stream"]
            .is_object(),
        "{doc:#}"
    );

    // A malformed id is refused with the API's error body.
    let resp = reqwest::Client::new()
        .get(format!("{}/v1/stream", lab.url))
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body = resp.text().await.unwrap();
    assert!(body.contains("not a stream id"), "{body}");
}

/// `GET /v1/alarms` until `f` holds on the row of `entity` (None: not listed); the row.
async fn sensor_alarm_until(lab: &Lab, entity: &str, f: impl Fn(Option<&Value>) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..240 {
        let alarms: Value = reqwest::get(format!("{}/v1/alarms", lab.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let row = alarms["alarms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["entity_instance_id"] == entity)
            .cloned();
        if f(row.as_ref()) {
            return row.unwrap_or(Value::Null);
        }
        last = alarms;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{entity} never reached the state wanted; last: {last}");
}

/// The sensor audit commits its alarms in its own transaction, apart from the core's step: they
/// reach the stream too, in the shape `GET /v1/alarms` lists them, and so do their clears.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_crossing_into_critical_shows_on_the_stream_and_its_clear_too() {
    let lab = Lab::start(true).await;
    let mut client = StreamClient::open(&lab, None).await;
    assert_eq!(client.next().await.event, "hello");
    // Ask for reads now and then rather than waiting out the audit interval (as a BMC's push does).
    let handle = lab.handle.clone();
    let reads = tokio::spawn(async move {
        loop {
            let _ = handle.read_sensors_now("worker-0").await;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    let entity = "host=worker-0.sensor=CPU1 Temp";
    lab.rig
        .host("worker-0")
        .set_sensor(
            "CPU1 Temp",
            Some(steward_simbmc::SensorOverride::Value(97.0)),
        )
        .unwrap();
    let row = sensor_alarm_until(&lab, entity, |r| r.is_some()).await;
    assert_eq!(row["alarm_id"], "200.007", "{row}");
    assert_eq!(row["severity"], "critical", "{row}");
    // Everything published so far: the raise is among it, as the alarm list shows it.
    let position = lab.handle.feed().subscribe(None).position.to_string();
    let seen = client.until_id(&position).await;
    let raised: Vec<&Sse> = seen
        .iter()
        .filter(|e| e.event == "alarm-raised" && e.data["entity_instance_id"] == entity)
        .collect();
    let last = raised
        .last()
        .unwrap_or_else(|| panic!("no raise of {entity} in {seen:#?}"));
    assert_eq!(last.data, row);

    lab.rig
        .host("worker-0")
        .set_sensor("CPU1 Temp", None)
        .unwrap();
    sensor_alarm_until(&lab, entity, |r| r.is_none()).await;
    let position = lab.handle.feed().subscribe(None).position.to_string();
    let seen = client.until_id(&position).await;
    let cleared = seen
        .iter()
        .find(|e| e.event == "alarm-cleared" && e.data["entity_instance_id"] == entity)
        .unwrap_or_else(|| panic!("no clear of {entity} in {seen:#?}"));
    assert_eq!(cleared.data["alarm_id"], "200.007", "{cleared:?}");
    assert_eq!(cleared.data["hostname"], "worker-0", "{cleared:?}");
    reads.abort();
}
