//! Redfish push end to end over real HTTP on 127.0.0.1: `steward-bmc-redfish`'s client
//! subscribes an [`EventReceiver`] to the simulated BMC's EventService, the BMC raises sensor
//! events, and the receiver turns them into "read this host's sensors now" triggers — one per
//! interval per host however many arrive, nothing for garbage or an unknown `Context`.
//!
//! Assertions count events and triggers, never time: the waits below only guard against a hang.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use steward_bmc_redfish::{
    ClientConfig, EventReceiver, ReadTrigger, ReceiverConfig, RedfishClient, RedfishError,
};
use steward_simbmc::{EventSeverity, Power, PowerTarget, SimBmc, SimBmcConfig};
use tokio::sync::mpsc;

const USER: &str = "root";
const PASSWORD: &str = "lab-s3cret";
/// Hang guard only (a loaded CI machine may be slow; no assertion depends on it).
const PATIENCE: Duration = Duration::from_secs(60);

struct Machine(Mutex<Power>);

impl PowerTarget for Machine {
    fn power(&self) -> Power {
        *self.0.lock().expect("power")
    }
    fn power_on(&self) {
        *self.0.lock().expect("power") = Power::On;
    }
    fn power_off(&self) {
        *self.0.lock().expect("power") = Power::Off;
    }
    fn reset(&self) {}
    fn power_cycle(&self) {}
}

async fn bmc(name: &str) -> (SimBmc, RedfishClient) {
    let bmc = SimBmc::start(
        SimBmcConfig::new(name, USER, PASSWORD),
        Arc::new(Machine(Mutex::new(Power::On))),
    )
    .await
    .expect("simulated BMC starts");
    let client = RedfishClient::connect(ClientConfig::new(bmc.url(), USER, PASSWORD))
        .await
        .expect("client connects");
    (bmc, client)
}

async fn next(rx: &mut mpsc::Receiver<ReadTrigger>) -> ReadTrigger {
    tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("a trigger (hang guard)")
        .expect("receiver open")
}

/// Wait until the receiver has seen `n` events from registered hosts.
async fn until_events(rx: &EventReceiver, n: u64) {
    tokio::time::timeout(PATIENCE, async {
        while rx.stats().events < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("events delivered (hang guard)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_sensor_event_triggers_one_read_of_that_host() {
    let (bmc, client) = bmc("worker-0").await;
    assert_eq!(
        client.event_service(),
        Some("/redfish/v1/EventService"),
        "the service root links the EventService"
    );
    let mut cfg = ReceiverConfig::new("127.0.0.1:0".parse().unwrap());
    // Long enough that nothing trailing fires during the test: counts stay exact.
    cfg.min_interval = Duration::from_secs(3600);
    cfg.flood_threshold = 10;
    let (receiver, mut triggers) = EventReceiver::start(cfg).await.unwrap();
    let context = receiver.register("worker-0").unwrap();
    let sub = client
        .subscribe(&receiver.destination(), &context)
        .await
        .expect("subscribed");
    assert_eq!(sub.uri, "/redfish/v1/EventService/Subscriptions/1");
    assert_eq!(bmc.subscription_count(), 1);
    let listed = client
        .get_json("/redfish/v1/EventService/Subscriptions")
        .await
        .unwrap();
    assert_eq!(listed["Members@odata.count"], 1, "{listed}");

    // One critical event → one trigger for that host, naming the sensor.
    assert_eq!(
        bmc.push_sensor_event("cpu-temp", EventSeverity::Critical, "CPU temperature 97 C"),
        1
    );
    let t = next(&mut triggers).await;
    assert_eq!(t.host, "worker-0");
    assert_eq!(
        t.message_id.as_deref(),
        Some("ResourceEvent.1.3.ResourceStatusChangedCritical")
    );
    assert_eq!(
        t.origin.as_deref(),
        Some("/redfish/v1/Chassis/worker-0/Sensors/cpu-temp")
    );

    // A flood inside the interval: folded (one trailing trigger pending at its end), logged as
    // a flood once, no trigger now.
    for i in 0..30 {
        bmc.push_sensor_event("fan0", EventSeverity::Warning, &format!("fan {i}"));
    }
    until_events(&receiver, 31).await;
    let s = receiver.stats();
    assert_eq!((s.triggers, s.folded, s.floods), (1, 30, 1), "{s:?}");
    assert!(
        triggers.try_recv().is_err(),
        "no second trigger inside the interval"
    );

    // Unsubscribed: the BMC sends nothing more.
    client.unsubscribe(&sub).await.unwrap();
    assert_eq!(bmc.subscription_count(), 0);
    assert_eq!(
        bmc.push_sensor_event("cpu-temp", EventSeverity::Ok, "back to normal"),
        0
    );
    // Deleting it again is fine (already gone).
    client.unsubscribe(&sub).await.unwrap();
    receiver.shutdown().await;
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_inside_the_interval_fold_into_one_trailing_read() {
    let (bmc, client) = bmc("worker-1").await;
    let mut cfg = ReceiverConfig::new("127.0.0.1:0".parse().unwrap());
    cfg.min_interval = Duration::from_millis(200);
    let (receiver, mut triggers) = EventReceiver::start(cfg).await.unwrap();
    let context = receiver.register("worker-1").unwrap();
    client
        .subscribe(&receiver.destination(), &context)
        .await
        .unwrap();
    bmc.push_sensor_event("psu0", EventSeverity::Critical, "PSU 0 lost input");
    until_events(&receiver, 1).await;
    assert_eq!(next(&mut triggers).await.host, "worker-1");
    // Whatever follows inside the interval is read once more at its end, newest event first in
    // line (the last condition is never left unread).
    bmc.push_sensor_event("psu0", EventSeverity::Warning, "PSU 0 input restored");
    until_events(&receiver, 2).await;
    let trailing = next(&mut triggers).await;
    assert_eq!(trailing.host, "worker-1");
    let s = receiver.stats();
    // The second event either fell inside the interval (folded, then the trailing read) or, on
    // a slow machine, after it (a read of its own): either way exactly two reads.
    assert_eq!(s.triggers, 2, "{s:?}");
    receiver.shutdown().await;
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_unknown_contexts_and_bad_subscriptions_trigger_nothing() {
    let (bmc, client) = bmc("worker-2").await;
    let (receiver, mut triggers) =
        EventReceiver::start(ReceiverConfig::new("127.0.0.1:0".parse().unwrap()))
            .await
            .unwrap();
    let context = receiver.register("worker-2").unwrap();
    let http = reqwest::Client::new();
    let post = |body: String| {
        http.post(receiver.destination())
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for junk in [
        "not json".to_string(),
        "[]".into(),
        json!({"Context": context, "Events": []}).to_string(),
        json!({"Events": [{"MessageId": "X"}]}).to_string(),
    ] {
        assert_eq!(post(junk.clone()).await.unwrap().status(), 400, "{junk}");
    }
    let forged = json!({"Context": "not-a-registered-token", "Events": [{"MessageId": "X"}]});
    assert_eq!(post(forged.to_string()).await.unwrap().status(), 403);
    // The host registered again: its old token stops working.
    let fresh = receiver.register("worker-2").unwrap();
    let old = json!({"Context": context, "Events": [{"MessageId": "X"}]});
    assert_eq!(post(old.to_string()).await.unwrap().status(), 403);
    let s = receiver.stats();
    assert_eq!(
        (s.garbage, s.unknown_context, s.events, s.triggers),
        (4, 2, 0, 0),
        "{s:?}"
    );
    assert!(triggers.try_recv().is_err());

    // The BMC refuses a destination that is not an http(s) URL, and more than 8 subscriptions.
    match client.subscribe("ftp://10.0.0.1/events", &fresh).await {
        Err(RedfishError::Http {
            status: 400,
            message,
            ..
        }) => {
            assert!(message.contains("Destination"), "{message}")
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    for _ in 0..8 {
        client
            .subscribe(&receiver.destination(), &fresh)
            .await
            .unwrap();
    }
    match client.subscribe(&receiver.destination(), &fresh).await {
        Err(RedfishError::Http { status: 503, .. }) => {}
        other => panic!("expected the limit, got {other:?}"),
    }
    // A BMC that is down pushes nothing.
    bmc.set_reachable(false);
    assert_eq!(
        bmc.push_sensor_event("cpu-temp", EventSeverity::Critical, "hot"),
        0
    );
    receiver.shutdown().await;
    bmc.shutdown().await;
}
