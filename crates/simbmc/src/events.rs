//! The EventService: subscriptions, and delivery of events to them (Redfish "push").
//!
//! A client subscribes with `POST /redfish/v1/EventService/Subscriptions`
//! `{"Destination": "http://…", "Context": "…"}`; from then on every event this BMC raises
//! ([`crate::SimBmc::push_sensor_event`]) is POSTed to that destination as a Redfish `Event`
//! document carrying the subscription's `Context`, the way real BMCs deliver alerts. Delivery
//! is fire-and-forget with one retry: a subscriber that does not answer 2xx is logged, not
//! removed (real BMCs keep a subscription until it is deleted). Server-sent events are not
//! offered (`ServerSentEventUri` is absent): a client must use subscriptions.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};
use tracing::{debug, warn};

use crate::eventlog::rfc3339;
use crate::fault::{echo, Fault};
use crate::service::{lock, Authed, JsonBody, RfPath, Shared, V1};

pub(crate) const EVENT_SERVICE: &str = "/redfish/v1/EventService";
const SUBSCRIPTIONS: &str = "/redfish/v1/EventService/Subscriptions";
/// Subscriptions kept at once; real BMCs allow a handful (iDRAC 8, OpenBMC 20).
pub(crate) const MAX_SUBSCRIPTIONS: usize = 8;
/// Longest `Context` accepted (it is echoed in every event).
const MAX_CONTEXT: usize = 256;
/// How long one delivery may take before it counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// How bad the condition an event reports is (Redfish `MessageSeverity`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventSeverity {
    Ok,
    Warning,
    Critical,
}

impl EventSeverity {
    fn as_str(self) -> &'static str {
        match self {
            EventSeverity::Ok => "OK",
            EventSeverity::Warning => "Warning",
            EventSeverity::Critical => "Critical",
        }
    }

    /// The DMTF ResourceEvent registry message for a resource whose health changed to this.
    fn message_id(self) -> &'static str {
        match self {
            EventSeverity::Ok => "ResourceEvent.1.3.ResourceStatusChangedOK",
            EventSeverity::Warning => "ResourceEvent.1.3.ResourceStatusChangedWarning",
            EventSeverity::Critical => "ResourceEvent.1.3.ResourceStatusChangedCritical",
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Subscription {
    id: u64,
    destination: String,
    context: String,
}

/// The subscriptions of one BMC and the ids it hands out.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    list: Vec<Subscription>,
    next_id: u64,
    next_event: u64,
}

impl Subscriptions {
    pub fn len(&self) -> usize {
        self.list.len()
    }
}

impl Subscription {
    fn doc(&self) -> Value {
        json!({
            "@odata.id": format!("{SUBSCRIPTIONS}/{}", self.id),
            "@odata.type": "#EventDestination.v1_13_0.EventDestination",
            "Id": self.id.to_string(),
            "Name": "Event subscription",
            "Destination": self.destination,
            "Context": self.context,
            "Protocol": "Redfish",
            "SubscriptionType": "RedfishEvent",
        })
    }
}

pub(crate) fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(EVENT_SERVICE, get(event_service))
        .route(SUBSCRIPTIONS, get(list).post(subscribe))
        .route(
            "/redfish/v1/EventService/Subscriptions/{id}",
            get(show).delete(unsubscribe),
        )
}

async fn event_service(_: Authed) -> Json<Value> {
    Json(json!({
        "@odata.id": EVENT_SERVICE,
        "@odata.type": "#EventService.v1_10_0.EventService",
        "Id": "EventService",
        "Name": "Event Service",
        "ServiceEnabled": true,
        "DeliveryRetryAttempts": 1,
        "DeliveryRetryIntervalSeconds": 1,
        "EventFormatTypes": ["Event"],
        "RegistryPrefixes": ["ResourceEvent"],
        "Subscriptions": { "@odata.id": SUBSCRIPTIONS },
    }))
}

async fn list(_: Authed, State(sh): State<Arc<Shared>>) -> Json<Value> {
    let members: Vec<Value> = lock(&sh.subscriptions)
        .list
        .iter()
        .map(|s| json!({ "@odata.id": format!("{SUBSCRIPTIONS}/{}", s.id) }))
        .collect();
    Json(json!({
        "@odata.id": SUBSCRIPTIONS,
        "@odata.type": "#EventDestinationCollection.EventDestinationCollection",
        "Name": "Event Subscriptions",
        "Members@odata.count": members.len(),
        "Members": members,
    }))
}

fn find(sh: &Shared, id: &str) -> Result<Subscription, Fault> {
    lock(&sh.subscriptions)
        .list
        .iter()
        .find(|s| s.id.to_string() == id)
        .cloned()
        .ok_or_else(|| Fault::ResourceNotFound {
            kind: "EventDestination",
            name: echo(id),
        })
}

async fn show(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<Json<Value>, Fault> {
    Ok(Json(find(&sh, &id)?.doc()))
}

async fn unsubscribe(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    RfPath(id): RfPath<String>,
) -> Result<StatusCode, Fault> {
    let sub = find(&sh, &id)?;
    lock(&sh.subscriptions).list.retain(|s| s.id != sub.id);
    sh.event("OK", format!("event subscription {} deleted", sub.id));
    Ok(StatusCode::NO_CONTENT)
}

/// Properties a subscription request may carry; the filters are accepted and not applied
/// (this BMC raises few events, all of them alerts).
const ACCEPTED: &[&str] = &[
    "Destination",
    "Context",
    "Protocol",
    "SubscriptionType",
    "EventTypes",
    "RegistryPrefixes",
    "ResourceTypes",
    "DeliveryRetryPolicy",
];

fn string_property<'a>(
    body: &'a Map<String, Value>,
    property: &'static str,
) -> Result<Option<&'a str>, Fault> {
    match body.get(property) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Fault::PropertyValueTypeError(property.into())),
    }
}

async fn subscribe(
    _: Authed,
    State(sh): State<Arc<Shared>>,
    JsonBody(body): JsonBody,
) -> Result<Response, Fault> {
    if let Some(unknown) = body.keys().find(|k| !ACCEPTED.contains(&k.as_str())) {
        return Err(Fault::PropertyUnknown(echo(unknown)));
    }
    let destination =
        string_property(&body, "Destination")?.ok_or(Fault::PropertyMissing("Destination"))?;
    let scheme_ok = ["http://", "https://"]
        .iter()
        .any(|s| destination.len() > s.len() && destination.starts_with(s));
    if !scheme_ok || destination.chars().any(char::is_whitespace) {
        return Err(Fault::PropertyValueFormatError {
            property: "Destination",
            value: echo(destination),
        });
    }
    let context = string_property(&body, "Context")?.unwrap_or("");
    if context.len() > MAX_CONTEXT {
        return Err(Fault::PropertyValueFormatError {
            property: "Context",
            value: echo(context),
        });
    }
    if let Some(p) = string_property(&body, "Protocol")? {
        if p != "Redfish" {
            return Err(Fault::PropertyValueNotInList {
                property: "Protocol".into(),
                value: echo(p),
            });
        }
    }
    let sub = {
        let mut subs = lock(&sh.subscriptions);
        if subs.list.len() >= MAX_SUBSCRIPTIONS {
            return Err(Fault::CreateLimitReached(MAX_SUBSCRIPTIONS));
        }
        subs.next_id += 1;
        let sub = Subscription {
            id: subs.next_id,
            destination: destination.to_owned(),
            context: context.to_owned(),
        };
        subs.list.push(sub.clone());
        sub
    };
    sh.event(
        "OK",
        format!(
            "event subscription {} created for {}",
            sub.id,
            echo(&sub.destination)
        ),
    );
    let location = format!("{SUBSCRIPTIONS}/{}", sub.id);
    let mut resp = (StatusCode::CREATED, Json(sub.doc())).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Send an event about sensor `sensor` to every subscriber; returns how many it goes to.
/// Delivery runs on the runtime: the caller does not wait for subscribers.
pub(crate) fn push_sensor_event(
    sh: &Shared,
    sensor: &str,
    severity: EventSeverity,
    message: &str,
) -> usize {
    let (subs, event_id) = {
        let mut s = lock(&sh.subscriptions);
        s.next_event += 1;
        (s.list.clone(), s.next_event)
    };
    let origin = format!("{V1}/Chassis/{}/Sensors/{sensor}", sh.cfg.system_id);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for sub in &subs {
        let doc = json!({
            "@odata.type": "#Event.v1_7_0.Event",
            "Id": event_id.to_string(),
            "Name": "Event Array",
            "Context": sub.context,
            "Events": [{
                "EventType": "Alert",
                "EventId": event_id.to_string(),
                "EventTimestamp": rfc3339(secs),
                "Severity": severity.as_str(),
                "MessageSeverity": severity.as_str(),
                "MessageId": severity.message_id(),
                "Message": message,
                "MessageArgs": [sensor, severity.as_str()],
                "OriginOfCondition": { "@odata.id": origin },
            }],
        });
        let destination = sub.destination.clone();
        let http = sh.http.clone();
        let system = sh.cfg.system_id.clone();
        tokio::spawn(async move { deliver(http, system, destination, doc).await });
    }
    sh.event(
        severity.as_str(),
        format!("{}: {}", echo(sensor), echo(message)),
    );
    subs.len()
}

/// POST one event document, once more after a second if the first attempt fails.
async fn deliver(http: reqwest::Client, system: String, destination: String, doc: Value) {
    for attempt in 1..=2 {
        let sent = http
            .post(&destination)
            .timeout(DELIVERY_TIMEOUT)
            .json(&doc)
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                debug!(system = %system, destination = %destination, "event delivered");
                return;
            }
            Ok(r) => {
                warn!(system = %system, destination = %destination, status = %r.status(), attempt, "event subscriber refused the event")
            }
            Err(e) => {
                warn!(system = %system, destination = %destination, error = %e, attempt, "event delivery failed")
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
