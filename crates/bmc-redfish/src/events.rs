//! Redfish push: EventService subscriptions, and a receiver that turns the events BMCs POST into
//! "read this host's sensors now" triggers.
//!
//! An event is a hint, never a reading: whatever a BMC pushes only makes the caller read the
//! host's sensors sooner, through the same path as the periodic audit, which stays the fallback
//! and the reconciler. So the receiver trusts little:
//!
//! - each host gets its own random `Context` token at [`EventReceiver::register`]; the BMC echoes
//!   it in every event, and an event without a registered token triggers nothing (a stale
//!   subscription, or someone else POSTing);
//! - a body that is not a Redfish `Event` (JSON object with a non-empty `Events` array) is refused
//!   with 400 and counted; refusals are logged at most once per [`GARBAGE_LOG_INTERVAL`];
//! - per host at most one trigger per [`ReceiverConfig::min_interval`]: events inside the interval
//!   fold into one trailing trigger at its end (so the newest condition is still read), and a host
//!   whose BMC sends more than [`ReceiverConfig::flood_threshold`] events in one interval is
//!   logged as flooding, once per interval;
//! - triggers go out through a bounded queue; when the reader lags, triggers are dropped and
//!   counted (the periodic audit catches up), never buffered without bound.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::client::RedfishClient;
use crate::error::{RedfishError, Result};
use crate::json::{link, string_at};

/// How often, at most, refused event bodies are logged (the counts are kept in between).
pub const GARBAGE_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// The path events are POSTed to on the receiver.
pub const EVENTS_PATH: &str = "/redfish/events";

/// One EventService subscription this client made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// Its URI on the BMC (`Location` of the create), for [`RedfishClient::unsubscribe`].
    pub uri: String,
    /// The `Context` the BMC echoes in every event.
    pub context: String,
}

impl RedfishClient {
    /// The EventService URI, when the service root links one.
    pub fn event_service(&self) -> Option<&str> {
        self.root.event_service.as_deref()
    }

    /// Subscribe `destination` (where the BMC POSTs events; an [`EventReceiver::destination`])
    /// to this BMC's events, with `context` echoed in each.
    pub async fn subscribe(&self, destination: &str, context: &str) -> Result<Subscription> {
        let service = self
            .event_service()
            .ok_or_else(|| RedfishError::NotFound {
                what: "EventService (this BMC offers no event push; the periodic audit still reads it)".into(),
                url: self.url_for("/redfish/v1/").map(|u| u.to_string()).unwrap_or_default(),
            })?
            .to_owned();
        let svc = self.get(&service).await?;
        let collection = link(&svc.body, "Subscriptions")
            .unwrap_or_else(|| format!("{}/Subscriptions", service.trim_end_matches('/')));
        let body = json!({
            "Destination": destination,
            "Context": context,
            "Protocol": "Redfish",
        });
        let reply = self.post(&collection, &body).await?;
        let uri = reply
            .location
            .map(|l| match url::Url::parse(&l) {
                // An absolute Location: keep the path, the client adds its own endpoint.
                Ok(u) => u.path().to_owned(),
                Err(_) => l,
            })
            .or_else(|| string_at(&reply.body, "/@odata.id"))
            .ok_or_else(|| RedfishError::UnexpectedShape {
                url: collection.clone(),
                detail: "the subscription was created but neither Location nor @odata.id names it"
                    .into(),
            })?;
        info!(%uri, %destination, "subscribed to BMC events");
        Ok(Subscription {
            uri,
            context: context.to_owned(),
        })
    }

    /// Every subscription on this BMC whose `Destination` satisfies `stale` is deleted (a
    /// controller's earlier incarnations: same receiver address, another port or a restart);
    /// returns how many. Subscriptions of other consumers are left alone.
    pub async fn remove_subscriptions_where(&self, stale: impl Fn(&str) -> bool) -> Result<usize> {
        let Some(service) = self.event_service().map(str::to_owned) else {
            return Ok(0);
        };
        let svc = self.get(&service).await?;
        let collection = link(&svc.body, "Subscriptions")
            .unwrap_or_else(|| format!("{}/Subscriptions", service.trim_end_matches('/')));
        let mut removed = 0;
        for uri in self.members(&collection).await? {
            let doc = match self.get(&uri).await {
                Ok(r) => r.body,
                Err(RedfishError::Http { status: 404, .. }) => continue,
                Err(e) => return Err(e),
            };
            let Some(destination) = string_at(&doc, "/Destination") else {
                continue;
            };
            if stale(&destination) {
                self.unsubscribe(&Subscription {
                    uri,
                    context: String::new(),
                })
                .await?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Delete a subscription made by [`RedfishClient::subscribe`]; one already gone is fine.
    pub async fn unsubscribe(&self, sub: &Subscription) -> Result<()> {
        match self.request(Method::DELETE, &sub.uri, None, None).await {
            Ok(_) => Ok(()),
            Err(RedfishError::Http { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// What the receiver asks of its caller: read `host`'s sensors now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadTrigger {
    pub host: String,
    /// `MessageId` of the newest event that led to it (for the log), when it had one.
    pub message_id: Option<String>,
    /// `OriginOfCondition` of that event (the sensor's URI, usually).
    pub origin: Option<String>,
}

/// How the receiver listens and limits.
#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    /// Where to listen; BMCs must reach it (the controller's management address).
    pub bind: SocketAddr,
    /// At most one trigger per host per interval (the audit scheduler's spacing applies too).
    pub min_interval: Duration,
    /// More events than this from one host within one interval is a flood: logged, folded.
    pub flood_threshold: u32,
    /// Largest event body accepted (413 beyond).
    pub max_body_bytes: usize,
    /// Triggers waiting for the reader; beyond, new ones are dropped and counted.
    pub queue: usize,
}

impl ReceiverConfig {
    /// One trigger per host per second, a flood above 20 events in that second, 64 KiB bodies,
    /// 1,024 queued triggers.
    pub fn new(bind: SocketAddr) -> Self {
        ReceiverConfig {
            bind,
            min_interval: Duration::from_secs(1),
            flood_threshold: 20,
            max_body_bytes: 64 * 1024,
            queue: 1024,
        }
    }
}

/// Counters since start (for metrics and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Well-formed events from registered hosts.
    pub events: u64,
    /// Triggers handed to the queue.
    pub triggers: u64,
    /// Events folded into a trigger already given or pending.
    pub folded: u64,
    /// Intervals in which a host flooded.
    pub floods: u64,
    /// Bodies refused as not a Redfish event.
    pub garbage: u64,
    /// Events whose `Context` is no registered host's.
    pub unknown_context: u64,
    /// Triggers dropped because the queue was full.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    events: AtomicU64,
    triggers: AtomicU64,
    folded: AtomicU64,
    floods: AtomicU64,
    garbage: AtomicU64,
    unknown_context: AtomicU64,
    dropped: AtomicU64,
}

/// Per-host rate state.
struct HostRate {
    host: String,
    /// When the last trigger went out.
    last: Option<Instant>,
    /// A trailing trigger is scheduled for the end of the current interval.
    trailing: bool,
    /// Events in the current interval, and whether its flood was logged.
    in_interval: u32,
    flood_logged: bool,
    /// The newest event's details, given with the next trigger.
    newest: (Option<String>, Option<String>),
}

struct Inner {
    cfg: ReceiverConfig,
    /// Context token → rate state.
    hosts: Mutex<HashMap<String, HostRate>>,
    tx: mpsc::Sender<ReadTrigger>,
    counters: Counters,
    last_garbage_log: Mutex<Option<Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The HTTP endpoint BMCs push events to. Dropping it stops the server.
pub struct EventReceiver {
    addr: SocketAddr,
    inner: Arc<Inner>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl EventReceiver {
    /// Listen on `cfg.bind`; triggers come out of the returned queue.
    pub async fn start(
        cfg: ReceiverConfig,
    ) -> io::Result<(EventReceiver, mpsc::Receiver<ReadTrigger>)> {
        let listener = tokio::net::TcpListener::bind(cfg.bind).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let inner = Arc::new(Inner {
            cfg,
            hosts: Mutex::new(HashMap::new()),
            tx,
            counters: Counters::default(),
            last_garbage_log: Mutex::new(None),
        });
        let app = Router::new()
            .route(EVENTS_PATH, post(receive))
            .layer(DefaultBodyLimit::max(inner.cfg.max_body_bytes))
            .with_state(inner.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                warn!(error = %e, "BMC event receiver failed");
            }
        });
        info!(%addr, "BMC event receiver listening");
        Ok((
            EventReceiver {
                addr,
                inner,
                stop: Some(stop_tx),
                task: Some(task),
            },
            rx,
        ))
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `Destination` to subscribe BMCs with.
    pub fn destination(&self) -> String {
        format!("http://{}{EVENTS_PATH}", self.addr)
    }

    /// Accept events for `host` from now on: returns the `Context` token to subscribe its BMC
    /// with (a new one each time; the host's previous token stops working).
    pub fn register(&self, host: &str) -> io::Result<String> {
        let mut bytes = [0u8; 16];
        getrandom::getrandom(&mut bytes).map_err(|e| io::Error::other(e.to_string()))?;
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut hosts = lock(&self.inner.hosts);
        hosts.retain(|_, r| r.host != host);
        hosts.insert(
            token.clone(),
            HostRate {
                host: host.to_owned(),
                last: None,
                trailing: false,
                in_interval: 0,
                flood_logged: false,
                newest: (None, None),
            },
        );
        Ok(token)
    }

    /// Stop accepting events for `host`.
    pub fn unregister(&self, host: &str) {
        lock(&self.inner.hosts).retain(|_, r| r.host != host);
    }

    pub fn stats(&self) -> ReceiverStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ReceiverStats {
            events: get(&c.events),
            triggers: get(&c.triggers),
            folded: get(&c.folded),
            floods: get(&c.floods),
            garbage: get(&c.garbage),
            unknown_context: get(&c.unknown_context),
            dropped: get(&c.dropped),
        }
    }

    /// Stop the server and wait for it.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The parts of a Redfish `Event` the receiver uses, or why the body is not one.
fn parse_event(
    body: &[u8],
) -> std::result::Result<(String, Option<String>, Option<String>), &'static str> {
    let v: Value = serde_json::from_slice(body).map_err(|_| "not JSON")?;
    let events = v
        .get("Events")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
        .ok_or("no Events array")?;
    // The envelope's Context (Redfish ≥ 1.x); older services put it in each event.
    let context = v
        .get("Context")
        .and_then(Value::as_str)
        .or_else(|| {
            events
                .iter()
                .find_map(|e| e.get("Context").and_then(Value::as_str))
        })
        .ok_or("no Context")?;
    let newest = events.last().unwrap_or(&Value::Null);
    let message_id = newest.get("MessageId").and_then(Value::as_str).map(short);
    let origin = newest
        .pointer("/OriginOfCondition/@odata.id")
        .and_then(Value::as_str)
        .map(short);
    Ok((context.to_owned(), message_id, origin))
}

/// What a BMC sent, bounded before it reaches a log line or a trigger.
fn short(s: &str) -> String {
    s.chars().take(200).collect()
}

async fn receive(State(inner): State<Arc<Inner>>, body: Bytes) -> StatusCode {
    let c = &inner.counters;
    let (context, message_id, origin) = match parse_event(&body) {
        Ok(parts) => parts,
        Err(why) => {
            let n = c.garbage.fetch_add(1, Ordering::Relaxed) + 1;
            let now = Instant::now();
            let mut last = lock(&inner.last_garbage_log);
            if last.map_or(true, |t| now.duration_since(t) >= GARBAGE_LOG_INTERVAL) {
                *last = Some(now);
                warn!(
                    why,
                    refused_so_far = n,
                    "BMC event receiver: refused a body that is not a Redfish event"
                );
            }
            return StatusCode::BAD_REQUEST;
        }
    };
    let now = Instant::now();
    let mut hosts = lock(&inner.hosts);
    let Some(rate) = hosts.get_mut(&context) else {
        c.unknown_context.fetch_add(1, Ordering::Relaxed);
        debug!("BMC event with an unknown Context: ignored");
        return StatusCode::FORBIDDEN;
    };
    rate.newest = (message_id, origin);
    let interval = inner.cfg.min_interval;
    let since = rate.last.map(|t| now.duration_since(t));
    if since.map_or(true, |d| d >= interval) {
        // A new interval: this event triggers a read now.
        rate.last = Some(now);
        rate.in_interval = 1;
        rate.flood_logged = false;
        let trigger = ReadTrigger {
            host: rate.host.clone(),
            message_id: rate.newest.0.clone(),
            origin: rate.newest.1.clone(),
        };
        drop(hosts);
        send(&inner, trigger);
        // Counted once handled, so an observer of the count sees its effects.
        c.events.fetch_add(1, Ordering::Relaxed);
        return StatusCode::NO_CONTENT;
    }
    rate.in_interval += 1;
    c.folded.fetch_add(1, Ordering::Relaxed);
    if rate.in_interval > inner.cfg.flood_threshold && !rate.flood_logged {
        rate.flood_logged = true;
        c.floods.fetch_add(1, Ordering::Relaxed);
        warn!(host = %rate.host, events = rate.in_interval, ?interval, "BMC floods events: folded into one sensor read per interval");
    }
    if !rate.trailing {
        rate.trailing = true;
        let wait = interval.saturating_sub(since.unwrap_or_default());
        let token = context.clone();
        let inner2 = inner.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let trigger = {
                let mut hosts = lock(&inner2.hosts);
                // Unregistered (or registered anew) meanwhile: nothing to read for this token.
                let Some(rate) = hosts.get_mut(&token) else {
                    return;
                };
                rate.trailing = false;
                rate.last = Some(Instant::now());
                rate.in_interval = 0;
                rate.flood_logged = false;
                ReadTrigger {
                    host: rate.host.clone(),
                    message_id: rate.newest.0.clone(),
                    origin: rate.newest.1.clone(),
                }
            };
            send(&inner2, trigger);
        });
    }
    c.events.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

fn send(inner: &Inner, trigger: ReadTrigger) {
    // Counted before it is queued, so whoever takes it from the queue sees it counted.
    inner.counters.triggers.fetch_add(1, Ordering::Relaxed);
    match inner.tx.try_send(trigger) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(t)) => {
            inner.counters.triggers.fetch_sub(1, Ordering::Relaxed);
            inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
            warn!(host = %t.host, "sensor read trigger dropped: the reader lags (the periodic audit still reads it)");
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            inner.counters.triggers.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_bodies_are_parsed_or_refused_with_a_reason() {
        let ok = br#"{"Context":"abc","Events":[{"MessageId":"A"},{"MessageId":"B","OriginOfCondition":{"@odata.id":"/x"}}]}"#;
        assert_eq!(
            parse_event(ok),
            Ok(("abc".into(), Some("B".into()), Some("/x".into())))
        );
        let per_event = br#"{"Events":[{"Context":"c1","MessageId":"M"}]}"#;
        assert_eq!(parse_event(per_event).map(|p| p.0), Ok("c1".into()));
        assert_eq!(parse_event(b"junk"), Err("not JSON"));
        assert_eq!(
            parse_event(br#"{"Context":"a","Events":[]}"#),
            Err("no Events array")
        );
        assert_eq!(parse_event(br#"[1,2]"#), Err("no Events array"));
        assert_eq!(parse_event(br#"{"Events":[{}]}"#), Err("no Context"));
        let long = format!(
            r#"{{"Context":"a","Events":[{{"MessageId":"{}"}}]}}"#,
            "m".repeat(5000)
        );
        let (_, id, _) = parse_event(long.as_bytes()).unwrap();
        assert_eq!(id.map(|s| s.len()), Some(200));
    }
}
