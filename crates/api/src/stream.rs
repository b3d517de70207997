//! `GET /v1/stream`: the controller's live feed ([`steward_controller::feed`]) as Server-Sent Events.
//!
//! | event | data |
//! |---|---|
//! | `hello` | `{"position": "<id>"}` — the stream is live; items after `position` follow (no `id:`) |
//! | `host` | the host as `GET /v1/ihosts/{id}` shows it, after a committed change |
//! | `host-removed` | `{"hostname"}` |
//! | `alarm-raised` | the alarm as `GET /v1/alarms` lists it (the core's and the sensor audit's) |
//! | `alarm-cleared` | `{"alarm_id", "entity_instance_id", "hostname"}` (a sensor alarm's entity names its sensor or group) |
//! | `event` | the customer-log event as `GET /v1/events` lists it |
//! | `gap` | `{"reason", "oldest"}` — items after the client's `Last-Event-ID` were lost to it; reload |
//!
//! Every item carries `id: <epoch>-<seq>`. A client that reconnects with `Last-Event-ID` (the header
//! browsers send, or `?last_event_id=` for clients that cannot set headers) gets every item after it
//! from the replay buffer, or a `gap` event saying why it cannot. A subscriber that falls behind the
//! live channel resumes from the buffer the same way, so a slow reader is told, never silently cut.
//!
//! A client that wants a consistent view subscribes first, waits for `hello`, then reads the current
//! state (`GET /v1/ihosts`) and applies every item after `hello` over it in order: each `host` item
//! carries the whole record, so the last one per host is its current state.

use crate::error::ApiError;
use crate::handlers::rfc3339;
use crate::ihost::IHost;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use steward_controller::feed::{Feed, FeedEntry, FeedId, FeedItem, Resume};
use steward_controller::HostEntry;
use steward_maintenance::alarm::{Alarm, CustomerLog};
use steward_store::typed::Stamped;
use tokio::sync::broadcast::{self, error::RecvError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    last_event_id: Option<String>,
}

/// The `Last-Event-ID` header, or the query parameter of the same meaning (the header wins).
fn last_seen(headers: &HeaderMap, query: &StreamQuery) -> Result<Option<FeedId>, ApiError> {
    let header = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| ApiError::BadRequest("Last-Event-ID is not text".into()))
        })
        .transpose()?;
    match header.or_else(|| query.last_event_id.clone()) {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(s) => s.parse().map(Some).map_err(ApiError::BadRequest),
    }
}

pub async fn stream(
    State(st): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::BadRequest(format!(
            "{}; the only parameter is last_event_id=<epoch>-<seq>",
            e.body_text()
        ))
    })?;
    let last = last_seen(&headers, &q)?;
    let feed = st.handle.feed().clone();
    let sub = feed.subscribe(last);
    let mut pending = VecDeque::new();
    pending.push_back(
        Event::default()
            .event("hello")
            .data(json!({ "position": sub.position.to_string() }).to_string()),
    );
    let last_sent = resumed(&mut pending, sub.resume, sub.position, last);
    let reader = Reader {
        feed,
        live: sub.live,
        pending,
        last_sent,
    };
    let events = stream::unfold(reader, |mut r| async move {
        let ev = r.next().await?;
        Some((Ok(ev), r))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Queue what a subscription's resume hands over; returns the id the client holds afterwards.
///
/// A new client (no `last`) holds everything up to the subscription's position: should the live
/// channel lap it before it read anything, it resumes from there, not from "whatever comes next".
fn resumed(
    pending: &mut VecDeque<Event>,
    resume: Resume,
    position: FeedId,
    last: Option<FeedId>,
) -> FeedId {
    match resume {
        Resume::Replay(items) => {
            let mut held = last.unwrap_or(position);
            for e in items {
                held = e.id;
                pending.push_back(sse_event(&e));
            }
            held
        }
        Resume::Gap { reason, oldest } => {
            // The gap carries the subscription's position as its id: the client has been told to
            // reload, so a reconnect continues from here instead of reporting the same gap again.
            pending.push_back(Event::default().event("gap").id(position.to_string()).data(
                json!({ "reason": reason, "oldest": oldest.map(|o| o.to_string()) }).to_string(),
            ));
            position
        }
    }
}

struct Reader {
    feed: Arc<Feed>,
    live: broadcast::Receiver<Arc<FeedEntry>>,
    pending: VecDeque<Event>,
    /// The id of the last item handed to the client, to resume from when the live channel lapped us.
    last_sent: FeedId,
}

impl Reader {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
                return Some(ev);
            }
            match self.live.recv().await {
                Ok(entry) => {
                    // A resubscription after a lag may hand over an item the replay already sent.
                    if entry.id <= self.last_sent {
                        continue;
                    }
                    self.last_sent = entry.id;
                    return Some(sse_event(&entry));
                }
                Err(RecvError::Lagged(_)) => {
                    let sub = self.feed.subscribe(Some(self.last_sent));
                    self.live = sub.live;
                    self.last_sent = resumed(
                        &mut self.pending,
                        sub.resume,
                        sub.position,
                        Some(self.last_sent),
                    );
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

fn sse_event(e: &FeedEntry) -> Event {
    let (kind, data) = item_json(&e.item);
    Event::default()
        .event(kind)
        .id(e.id.to_string())
        .data(data.to_string())
}

/// The event name and JSON of one feed item, in the shapes the REST endpoints use.
pub(crate) fn item_json(item: &FeedItem) -> (&'static str, Value) {
    match item {
        FeedItem::Host(entry) => ("host", host_json(entry)),
        FeedItem::HostRemoved { host } => ("host-removed", json!({ "hostname": host })),
        FeedItem::AlarmRaised(a) => ("alarm-raised", alarm_json(a)),
        FeedItem::AlarmCleared { id, host } => (
            "alarm-cleared",
            json!({
                "alarm_id": id.code(),
                "entity_instance_id": format!("host={host}"),
                "hostname": host,
            }),
        ),
        FeedItem::Event(e) => ("event", event_json(e)),
        FeedItem::SensorAlarmRaised(a) => ("alarm-raised", crate::sensors::alarm_row(a)),
        FeedItem::SensorAlarmCleared { id, host, entity } => (
            "alarm-cleared",
            json!({
                "alarm_id": id.code(),
                "entity_instance_id": entity,
                "hostname": host,
            }),
        ),
    }
}

fn host_json(entry: &HostEntry) -> Value {
    serde_json::to_value(IHost::from_entry(entry)).unwrap_or(Value::Null)
}

/// One alarm as `GET /v1/alarms` lists it (crates/api/tests/stream.rs compares the two).
fn alarm_json(a: &Alarm) -> Value {
    json!({
        "alarm_id": a.id.code(),
        "entity_instance_id": a.entity(),
        "hostname": a.host,
        "severity": a.severity,
        "reason_text": a.reason,
        "proposed_repair_action": a.repair,
    })
}

/// One customer-log event as `GET /v1/events` lists it.
fn event_json(e: &Stamped<CustomerLog>) -> Value {
    json!({
        "event_log_id": e.entry.id.code(),
        "entity_instance_id": format!("host={}", e.entry.host),
        "hostname": e.entry.host,
        "reason_text": e.entry.text,
        "severity": if e.entry.critical { "critical" } else { "not-applicable" },
        "timestamp": rfc3339(e.at_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_maintenance::alarm::LogId;

    fn event(n: u64) -> FeedItem {
        FeedItem::Event(Stamped {
            at_ms: n,
            entry: CustomerLog {
                id: LogId::Command,
                host: "worker-0".into(),
                text: format!("event {n}"),
                critical: false,
            },
        })
    }

    fn reader(feed: &Arc<Feed>, last: Option<FeedId>) -> Reader {
        let sub = feed.subscribe(last);
        let mut pending = VecDeque::new();
        let last_sent = resumed(&mut pending, sub.resume, sub.position, last);
        Reader {
            feed: feed.clone(),
            live: sub.live,
            pending,
            last_sent,
        }
    }

    /// The next `n` events that carry an id (items and gaps; `hello` has none), rendered with
    /// `Debug`, which shows the event's text with its newlines escaped.
    async fn read(r: &mut Reader, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        while out.len() < n {
            let text = format!("{:?}", r.next().await.unwrap());
            if text.contains(r"\nid: ") {
                out.push(text);
            }
        }
        out
    }

    #[tokio::test]
    async fn a_reader_lapped_by_the_live_channel_resumes_from_the_buffer_without_a_gap() {
        // Live channel 16 deep, buffer 64: 40 unread items lap the channel, not the buffer.
        let feed = Arc::new(Feed::new(1, 64));
        let mut r = reader(&feed, None);
        feed.publish((1..=40).map(event));
        let got = read(&mut r, 40).await;
        assert!(!got.iter().any(|e| e.contains("gap")), "{got:#?}");
        for (i, e) in got.iter().enumerate() {
            assert!(e.contains(&format!("id: 1-{}\\n", i + 1)), "item {i}: {e}");
        }
    }

    #[tokio::test]
    async fn a_reader_lapped_by_the_buffer_too_is_told() {
        let feed = Arc::new(Feed::new(1, 8));
        let mut r = reader(&feed, None);
        feed.publish((1..=30).map(event));
        let first = read(&mut r, 1).await.remove(0);
        assert!(first.contains("event: gap"), "{first}");
        assert!(first.contains("no longer held"), "{first}");
    }
}
