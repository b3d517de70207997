//! The real BMC link: every provisioned BMC gets a worker of the `steward-bmc` scheduler (operations
//! serialized and spaced per BMC, power first, globally bounded), connected lazily with the protocol
//! it was provisioned with (`dynamic` learns Redfish or IPMI). Results return to the core as events;
//! nothing here ever blocks the controller's loop.
//!
//! The access audit probes each BMC every `audit_period` with a real protocol request (a power-state
//! read: ICMP cannot tell a dead emulator on loopback) and reports `BmcAccess` to the core, which owns
//! alarm 200.010. A BMC that does not answer is probed again sooner — after `retry_min`, doubling up
//! to `audit_period` — so one that was still starting when it was provisioned (a whole lab or rack
//! powering up) is usable seconds later, not a full audit period later: until then recovery cannot
//! reset its host.
//!
//! With push (docs/sensors.md#push), each Redfish BMC that answers a probe is subscribed to the
//! controller's event receiver, with its own `Context` token; a BMC that offers no EventService (or
//! speaks IPMI) is simply read on schedule. Deprovisioning or changing the BMC deletes the
//! subscription and retires the token.
//!
//! With an acting gate ([`BmcWorkers::start_gated`], the active of a controller pair), every
//! operation of the core asks the gate when its worker *starts* it — after the per-BMC spacing wait
//! and the global permit — and is not sent once the gate is closed: an operation queued behind the
//! spacing gap when the acting deadline passes never reaches the BMC (docs/controller-pair.md).

use crate::links::{
    ActingGate, BmcAccess, BmcLink, EventLogReply, EventSender, SecureBootFailure, SecureBootReply,
};
use crate::sensor_audit::{reading_of, SensorReplies, SensorReply};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use steward_bmc::events::{EventReceiver, Subscription};
use steward_bmc::scheduler::{BmcHandle, Priority, Scheduler, SchedulerConfig};
use steward_bmc::{Bmc, BmcConfig, BmcProtocol, BootTarget, PowerAction};
use steward_maintenance::host::BmcProtocol as SpecProtocol;
use steward_maintenance::io::{BmcOp, BmcOutcome, BmcRequestId, Event};
use steward_maintenance::state::PowerState;
use tokio::sync::Mutex;

/// Timing of the BMC workers.
#[derive(Clone, Debug)]
pub struct BmcWorkerConfig {
    pub scheduler: SchedulerConfig,
    /// How often each BMC is probed for reachability (default 60 s,
    /// docs/bmc.md#power-actions-and-spacing).
    pub audit_period: Duration,
    /// First retry after a failed probe; doubles up to `audit_period` while the BMC stays silent.
    pub retry_min: Duration,
    /// Accept self-signed Redfish certificates (lab and test BMCs).
    pub insecure: bool,
    /// How long a power action may take to read back its target state.
    pub power_timeout: Duration,
}

impl Default for BmcWorkerConfig {
    fn default() -> Self {
        BmcWorkerConfig {
            scheduler: SchedulerConfig::default(),
            audit_period: Duration::from_secs(60),
            retry_min: Duration::from_secs(2),
            insecure: false,
            power_timeout: Duration::from_secs(180),
        }
    }
}

struct Inner {
    cfg: BmcWorkerConfig,
    scheduler: Scheduler,
    events: EventSender,
    access: Mutex<HashMap<String, BmcAccess>>,
    workers: Mutex<HashMap<String, BmcHandle<Bmc>>>,
    /// When each BMC is probed next, and the retry it gets if that probe fails too.
    due: Mutex<HashMap<String, ProbeDue>>,
    /// Where BMCs push events, when push is on.
    push: Option<Arc<EventReceiver>>,
    /// Each IPMI host's SEL records as of its last sensor read (id and timestamp: ids are reused
    /// after the SEL is cleared), to log only the new ones.
    sel_seen: Mutex<HashMap<String, HashSet<SelKey>>>,
    /// Each host's event subscription; `None`: its BMC cannot push (looked at once per connection).
    subscriptions: Mutex<HashMap<String, Option<Subscription>>>,
    /// `Some`: the core's operations are sent only while this says so, asked as each one starts.
    gate: Option<ActingGate>,
}

/// Why an operation of the core did not complete.
enum NotDone {
    /// The acting gate was closed when the worker came to it: nothing was sent.
    Fenced,
    Bmc(steward_bmc::BmcError),
}

/// One step of a core's operation on a BMC, run by its worker.
type Step<R> = Box<
    dyn for<'a> FnOnce(
            &'a mut Bmc,
        ) -> Pin<Box<dyn Future<Output = steward_bmc::Result<R>> + Send + 'a>>
        + Send,
>;

/// A SEL record's identity: its id and timestamp.
type SelKey = (String, Option<String>);

struct ProbeDue {
    at: tokio::time::Instant,
    retry: Duration,
}

/// The BMC link of a real controller. Cheap to clone; all clones share the workers.
#[derive(Clone)]
pub struct BmcWorkers {
    inner: Arc<Inner>,
}

impl BmcWorkers {
    /// Start the workers and the access audit. Must run inside a tokio runtime.
    pub fn start(cfg: BmcWorkerConfig, events: EventSender) -> BmcWorkers {
        Self::start_with_push(cfg, events, None)
    }

    /// [`BmcWorkers::start`], subscribing every Redfish BMC that can push to `push`.
    pub fn start_with_push(
        cfg: BmcWorkerConfig,
        events: EventSender,
        push: Option<Arc<EventReceiver>>,
    ) -> BmcWorkers {
        Self::start_gated(cfg, events, push, None)
    }

    /// [`BmcWorkers::start_with_push`] for a controller that may lose its right to act: each of the
    /// core's operations asks `gate` at the moment its worker starts it, and is not sent (it fails
    /// with "not sent") once the gate is closed. Audits and sensor reads are not gated: they change
    /// nothing on the BMC.
    pub fn start_gated(
        cfg: BmcWorkerConfig,
        events: EventSender,
        push: Option<Arc<EventReceiver>>,
        gate: Option<ActingGate>,
    ) -> BmcWorkers {
        let inner = Arc::new(Inner {
            gate,
            push,
            subscriptions: Mutex::default(),
            sel_seen: Mutex::default(),
            scheduler: Scheduler::new(cfg.scheduler),
            cfg,
            events,
            access: Mutex::default(),
            workers: Mutex::default(),
            due: Mutex::default(),
        });
        let audit = inner.clone();
        tokio::spawn(async move { audit.audit_loop().await });
        BmcWorkers { inner }
    }
}

impl BmcLink for BmcWorkers {
    fn submit(&mut self, host: &str, id: BmcRequestId, op: BmcOp) {
        let inner = self.inner.clone();
        let host = host.to_string();
        tokio::spawn(async move {
            let outcome = inner.run(&host, op).await;
            inner
                .events
                .send(Event::Bmc {
                    host,
                    request: id,
                    outcome,
                })
                .await;
        });
    }

    fn read_sensors(&mut self, host: &str, read: u64, replies: SensorReplies) {
        let inner = self.inner.clone();
        let host = host.to_string();
        tokio::spawn(async move {
            let result = inner.read_sensors(&host).await;
            let sel = match result {
                Ok(_) => inner.sel_delta(&host).await,
                Err(_) => Vec::new(),
            };
            replies
                .send(SensorReply {
                    host,
                    read,
                    result,
                    sel,
                })
                .await;
        });
    }

    fn read_event_log(&mut self, host: &str, reply: EventLogReply) {
        let inner = self.inner.clone();
        let host = host.to_string();
        tokio::spawn(async move {
            let _ = reply.send(inner.event_log(&host).await);
        });
    }

    fn secure_boot(&mut self, host: &str, change: Option<bool>, reply: SecureBootReply) {
        let inner = self.inner.clone();
        let host = host.to_string();
        tokio::spawn(async move {
            let _ = reply.send(inner.secure_boot(&host, change).await);
        });
    }

    fn provision(&mut self, host: &str, access: Option<BmcAccess>) {
        let inner = self.inner.clone();
        let host = host.to_string();
        tokio::spawn(async move {
            // The old BMC stops pushing to us before its connection goes.
            inner.unsubscribe(&host).await;
            inner.sel_seen.lock().await.remove(&host);
            // A changed BMC gets a fresh connection with the new address or credentials.
            inner.workers.lock().await.remove(&host);
            let mut map = inner.access.lock().await;
            match access {
                Some(a) => {
                    map.insert(host.clone(), a);
                    drop(map);
                    inner.probe(&host).await;
                }
                None => {
                    map.remove(&host);
                }
            }
        });
    }
}

impl Inner {
    /// The worker of `host`, connecting on first use.
    async fn worker(&self, host: &str) -> Result<BmcHandle<Bmc>, String> {
        if let Some(w) = self.workers.lock().await.get(host) {
            return Ok(w.clone());
        }
        let access = self.access.lock().await.get(host).cloned().ok_or_else(|| {
            format!("{host}: BMC not provisioned (or no password stored); set bm_ip, bm_username and the password")
        })?;
        let protocol = match access.protocol {
            SpecProtocol::Ipmi => BmcProtocol::Ipmi,
            SpecProtocol::Redfish => BmcProtocol::Redfish,
            SpecProtocol::Dynamic => BmcProtocol::Dynamic,
        };
        let mut cfg = BmcConfig::new(access.address, protocol, access.username, access.password);
        cfg.insecure = self.cfg.insecure;
        cfg.power_timeout = self.cfg.power_timeout;
        let bmc = Bmc::connect(cfg).await.map_err(|e| e.to_string())?;
        let (handle, _task) = self.scheduler.add(bmc);
        self.workers
            .lock()
            .await
            .insert(host.to_string(), handle.clone());
        Ok(handle)
    }

    /// Queue one step of a core's operation on `worker` at `prio`. The acting gate is asked inside
    /// the queued operation — when the worker starts it, after the spacing wait — not when it is
    /// queued: the gate may close while the operation waits its turn.
    async fn acting<R: Send + 'static>(
        &self,
        worker: &BmcHandle<Bmc>,
        prio: Priority,
        step: Step<R>,
    ) -> Result<R, NotDone> {
        let gate = self.gate.clone();
        let ran = worker
            .run(prio, move |bmc| {
                Box::pin(async move {
                    if gate.as_ref().is_some_and(|may_act| !may_act()) {
                        return None;
                    }
                    Some(step(bmc).await)
                })
            })
            .await
            .map_err(NotDone::Bmc)?;
        match ran {
            Some(r) => r.map_err(NotDone::Bmc),
            None => Err(NotDone::Fenced),
        }
    }

    // Carries out the core's `Effect::Bmc`: every operation is named, so a new one is a compile
    // error here until someone decides how a BMC performs it.
    #[deny(clippy::wildcard_enum_match_arm)]
    async fn run(&self, host: &str, op: BmcOp) -> BmcOutcome {
        let worker = match self.worker(host).await {
            Ok(w) => w,
            Err(e) => return BmcOutcome::Failed(e),
        };
        let w = &worker;
        let read_back =
            || -> Step<steward_bmc::PowerState> { Box::new(|b| Box::pin(b.power_state())) };
        let power = |action: PowerAction| -> Step<steward_bmc::PowerState> {
            Box::new(move |b| Box::pin(b.power(action)))
        };
        let (q, p) = (Priority::Query, Priority::Power);
        let result = match op {
            BmcOp::PowerStatus => self.acting(w, q, read_back()).await,
            BmcOp::PowerOn => self.acting(w, p, power(PowerAction::On)).await,
            BmcOp::PowerOff => self.acting(w, p, power(PowerAction::Off)).await,
            BmcOp::PowerReset => self.acting(w, p, power(PowerAction::Reset)).await,
            BmcOp::NetbootOnce => {
                let step: Step<()> =
                    Box::new(|b| Box::pin(b.set_boot_device(BootTarget::Pxe, true)));
                match self.acting(w, p, step).await {
                    Ok(()) => self.acting(w, q, read_back()).await,
                    Err(e) => Err(e),
                }
            }
            BmcOp::EjectMedia => {
                let step: Step<()> = Box::new(|b| Box::pin(b.eject_virtual_media()));
                match self.acting(w, p, step).await {
                    Ok(()) => self.acting(w, q, read_back()).await,
                    Err(e) => Err(e),
                }
            }
            BmcOp::InsertMedia { image } => {
                let step: Step<()> = Box::new(move |b| {
                    Box::pin(async move { b.insert_virtual_media(&image).await })
                });
                match self.acting(w, p, step).await {
                    Ok(()) => self.acting(w, q, read_back()).await,
                    Err(e) => Err(e),
                }
            }
            BmcOp::VerifyMedia { image } => {
                let step: Step<steward_bmc::VirtualMediaStatus> =
                    Box::new(|b| Box::pin(b.virtual_media_status()));
                match self.acting(w, q, step).await {
                    Ok(s) if s.holds(&image) => self.acting(w, q, read_back()).await,
                    // Not mounted (yet): the core reads again until its mount timeout.
                    Ok(s) => {
                        return BmcOutcome::Failed(format!(
                            "virtual CD {} reads back Inserted={} Image={}",
                            s.slot,
                            s.inserted,
                            s.image_shown()
                        ))
                    }
                    Err(e) => Err(e),
                }
            }
            // The system's own boot mode (UEFI or legacy), read back.
            BmcOp::BootOnceVirtualCd => {
                let step: Step<steward_bmc::BootOverrideState> =
                    Box::new(|b| Box::pin(b.boot_once_virtual_cd(None)));
                match self.acting(w, p, step).await {
                    Ok(_) => self.acting(w, q, read_back()).await,
                    Err(e) => Err(e),
                }
            }
        };
        match result {
            Ok(state) => BmcOutcome::Done(power_of(&state)),
            Err(NotDone::Fenced) => {
                tracing::warn!(%host, "BMC operation not sent: this controller may no longer act");
                BmcOutcome::Failed("not sent: this controller may no longer act".into())
            }
            Err(NotDone::Bmc(e)) => {
                // The next operation reconnects: a session may have died with the error.
                self.workers.lock().await.remove(host);
                BmcOutcome::Failed(e.to_string())
            }
        }
    }

    /// Secure boot read, or change and read back, queued as a query on this BMC's worker.
    async fn secure_boot(
        &self,
        host: &str,
        change: Option<bool>,
    ) -> Result<steward_bmc::SecureBoot, SecureBootFailure> {
        let worker = self.worker(host).await.map_err(SecureBootFailure::Failed)?;
        let result = worker
            .run(Priority::Query, move |b| {
                Box::pin(async move {
                    match change {
                        Some(on) => b.set_secure_boot(on).await,
                        None => b.secure_boot().await,
                    }
                })
            })
            .await
            .and_then(|r| r);
        result.map_err(|e| {
            let unsupported = matches!(e, steward_bmc::BmcError::Unsupported { .. });
            let text = format!("{host}: {e}");
            if unsupported {
                SecureBootFailure::Unsupported(text)
            } else {
                SecureBootFailure::Failed(text)
            }
        })
    }

    /// One sensor scan, queued at audit priority: behind power actions and queries, spaced like every
    /// other operation on this BMC.
    async fn read_sensors(&self, host: &str) -> Result<Vec<steward_sensors::Reading>, String> {
        let worker = self.worker(host).await?;
        match worker.sensors().await {
            Ok(readings) => Ok(readings.iter().map(reading_of).collect()),
            Err(e) => {
                self.workers.lock().await.remove(host);
                Err(e.to_string())
            }
        }
    }

    /// The whole event log, queued at audit priority like a sensor read.
    async fn event_log(&self, host: &str) -> Result<Vec<steward_bmc::SelRecord>, String> {
        let worker = self.worker(host).await?;
        match worker.sel().await {
            Ok(records) => Ok(records),
            Err(e) => {
                self.workers.lock().await.remove(host);
                Err(e.to_string())
            }
        }
    }

    /// The IPMI SEL's sensor events added since this host's previous read (none on the first read:
    /// it only sets the baseline; none for Redfish, which pushes). A SEL that cannot be read costs
    /// nothing but its entries: the sensors were read.
    async fn sel_delta(&self, host: &str) -> Vec<String> {
        let Ok(worker) = self.worker(host).await else {
            return Vec::new();
        };
        let records = match worker.ipmi_sel().await {
            Ok(Some(r)) => r,
            Ok(None) => return Vec::new(),
            Err(e) => {
                tracing::debug!(%host, error = %e, "SEL not read");
                return Vec::new();
            }
        };
        let now: HashSet<SelKey> = records
            .iter()
            .map(|r| (r.id.clone(), r.timestamp.clone()))
            .collect();
        let previous = self.sel_seen.lock().await.insert(host.to_string(), now);
        let Some(previous) = previous else {
            return Vec::new();
        };
        records
            .iter()
            .filter(|r| r.sensor_event && !previous.contains(&(r.id.clone(), r.timestamp.clone())))
            .map(|r| match &r.timestamp {
                Some(t) => format!("{t} {}", r.message),
                None => r.message.clone(),
            })
            .collect()
    }

    async fn probe(&self, host: &str) {
        let accessible = match self.worker(host).await {
            Ok(w) => w.power_state().await.is_ok(),
            Err(_) => false,
        };
        if !accessible {
            self.workers.lock().await.remove(host);
        } else {
            self.subscribe(host).await;
        }
        self.schedule_next_probe(host, accessible).await;
        self.events
            .send(Event::BmcAccess {
                host: host.to_string(),
                accessible,
            })
            .await;
    }

    /// Subscribe `host`'s BMC to the event receiver, once per provisioning (a BMC that cannot push
    /// is remembered as such). A failure is logged and tried again at the next good probe.
    async fn subscribe(&self, host: &str) {
        let Some(push) = &self.push else { return };
        if self.subscriptions.lock().await.contains_key(host) {
            return;
        }
        let Ok(worker) = self.worker(host).await else {
            return;
        };
        let context = match push.register(host) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(%host, error = %e, "no event token for this BMC; it is read on schedule only");
                return;
            }
        };
        match worker.subscribe_events(push.destination(), context).await {
            Ok(sub) => {
                if sub.is_none() {
                    push.unregister(host);
                    tracing::debug!(%host, "BMC offers no event push; read on schedule only");
                } else {
                    tracing::info!(%host, "BMC pushes sensor events to this controller");
                }
                self.subscriptions
                    .lock()
                    .await
                    .insert(host.to_string(), sub);
            }
            Err(e) => {
                push.unregister(host);
                tracing::warn!(%host, error = %e, "BMC event subscription failed; read on schedule, tried again at the next probe");
            }
        }
    }

    /// Delete `host`'s subscription (best effort: a BMC gone for good keeps a dead one) and stop
    /// accepting its events.
    async fn unsubscribe(&self, host: &str) {
        let Some(push) = &self.push else { return };
        push.unregister(host);
        let Some(Some(sub)) = self.subscriptions.lock().await.remove(host) else {
            return;
        };
        let worker = self.workers.lock().await.get(host).cloned();
        if let Some(w) = worker {
            if let Err(e) = w.unsubscribe_events(sub).await {
                tracing::info!(%host, error = %e, "could not delete the BMC's event subscription");
            }
        }
    }

    /// After a probe: the next one in a full audit period if it answered, else after the backoff.
    async fn schedule_next_probe(&self, host: &str, accessible: bool) {
        let now = tokio::time::Instant::now();
        let mut due = self.due.lock().await;
        let retry = due.get(host).map_or(self.cfg.retry_min, |d| d.retry);
        let next = if accessible {
            ProbeDue {
                at: now + self.cfg.audit_period,
                retry: self.cfg.retry_min,
            }
        } else {
            ProbeDue {
                at: now + retry.min(self.cfg.audit_period),
                retry: (retry * 2).min(self.cfg.audit_period),
            }
        };
        due.insert(host.to_string(), next);
    }

    async fn audit_loop(self: Arc<Self>) {
        // Wake often enough for the shortest retry; each BMC is probed on its own schedule.
        let step = self
            .cfg
            .retry_min
            .min(self.cfg.audit_period)
            .max(Duration::from_millis(100))
            / 2;
        let mut tick = tokio::time::interval(step);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = tokio::time::Instant::now();
            let hosts: Vec<String> = self.access.lock().await.keys().cloned().collect();
            let mut due = self.due.lock().await;
            due.retain(|h, _| hosts.contains(h));
            for host in hosts {
                let d = due.entry(host.clone()).or_insert(ProbeDue {
                    at: now + self.cfg.audit_period,
                    retry: self.cfg.retry_min,
                });
                if d.at > now {
                    continue;
                }
                // In flight: not again until this probe has rescheduled it.
                d.at = now + self.cfg.audit_period * 4;
                let me = self.clone();
                tokio::spawn(async move { me.probe(&host).await });
            }
        }
    }
}

fn power_of(state: &steward_bmc::PowerState) -> PowerState {
    match state {
        steward_bmc::PowerState::On | steward_bmc::PowerState::PoweringOff => PowerState::On,
        steward_bmc::PowerState::Off | steward_bmc::PowerState::PoweringOn => PowerState::Off,
        steward_bmc::PowerState::Unknown(_) => PowerState::Unknown,
    }
}
