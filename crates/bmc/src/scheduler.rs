//! Per-BMC operation scheduler (docs/bmc.md#power-actions-and-spacing: operations per BMC are
//! serialized and spaced, globally bounded, and never block the state machines).
//!
//! - [`BmcQueue`] is the sans-IO policy: a priority queue per BMC plus the spacing rule
//!   (a gap between the end of one operation and the start of the next). It is driven
//!   with explicit `now` instants and never sleeps.
//! - [`Scheduler`] / [`BmcHandle`] is the small tokio driver: one task per BMC owns the
//!   target (normally a [`crate::Bmc`]), a global [`Semaphore`] bounds how many BMCs run
//!   an operation at once, and callers get results through oneshot channels.
//!
//! The messages inside one operation (e.g. a power command and its read-back polls) go
//! back to back: the gap applies between operations, not inside one.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::{BmcError, Result};
use crate::types::{BmcInfo, BootTarget, PowerAction, PowerState, SelRecord, SensorReading};
use crate::Bmc;

/// Default gap between two operations on one BMC.
pub const DEFAULT_GAP: Duration = Duration::from_secs(5);
/// Default number of BMCs running an operation at the same time.
pub const DEFAULT_MAX_CONCURRENT: usize = 8;

/// Operation class; lower runs first. FIFO within a class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Power actions and boot-device changes: operator- or recovery-driven, go first.
    Power = 0,
    /// One-off queries (power status, info).
    Query = 1,
    /// Periodic audits (sensor scans, SEL reads).
    Audit = 2,
}

/// What the driver should do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nothing queued.
    Idle,
    /// Something is queued but the gap since the last operation has not passed.
    WaitUntil(Instant),
    /// An operation may start now; call [`BmcQueue::start`].
    Ready,
    /// An operation is running.
    Busy,
}

/// Sans-IO queue and spacing policy for one BMC.
#[derive(Debug)]
pub struct BmcQueue<T> {
    gap: Duration,
    items: VecDeque<(Priority, u64, T)>,
    seq: u64,
    running: bool,
    last_end: Option<Instant>,
}

impl<T> BmcQueue<T> {
    pub fn new(gap: Duration) -> Self {
        BmcQueue {
            gap,
            items: VecDeque::new(),
            seq: 0,
            running: false,
            last_end: None,
        }
    }

    /// Queue an item; it goes after everything of the same or higher priority.
    pub fn push(&mut self, prio: Priority, item: T) {
        let seq = self.seq;
        self.seq += 1;
        let at = self
            .items
            .iter()
            .position(|(p, s, _)| (*p, *s) > (prio, seq))
            .unwrap_or(self.items.len());
        self.items.insert(at, (prio, seq, item));
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Priorities in the order they would run.
    pub fn pending(&self) -> Vec<Priority> {
        self.items.iter().map(|(p, _, _)| *p).collect()
    }

    pub fn decide(&self, now: Instant) -> Decision {
        if self.running {
            return Decision::Busy;
        }
        if self.items.is_empty() {
            return Decision::Idle;
        }
        match self.last_end {
            Some(end) if now < end + self.gap => Decision::WaitUntil(end + self.gap),
            _ => Decision::Ready,
        }
    }

    /// Take the next item if [`decide`](Self::decide) says `Ready`.
    pub fn start(&mut self, now: Instant) -> Option<(Priority, T)> {
        if self.decide(now) != Decision::Ready {
            return None;
        }
        let (p, _, item) = self.items.pop_front()?;
        self.running = true;
        Some((p, item))
    }

    /// The running operation ended at `now`; the gap counts from here.
    pub fn finish(&mut self, now: Instant) {
        self.running = false;
        self.last_end = Some(now);
    }
}

/// A boxed operation on the target.
pub type Op<T> =
    Box<dyn for<'a> FnOnce(&'a mut T) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> + Send>;

/// Scheduler settings.
#[derive(Clone, Copy, Debug)]
pub struct SchedulerConfig {
    /// Gap between the end of one operation and the start of the next on the same BMC.
    pub gap: Duration,
    /// BMCs running an operation at the same time, across all BMCs.
    pub max_concurrent: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            gap: DEFAULT_GAP,
            max_concurrent: DEFAULT_MAX_CONCURRENT,
        }
    }
}

/// Spawns one worker per BMC sharing a global concurrency bound.
#[derive(Clone, Debug)]
pub struct Scheduler {
    cfg: SchedulerConfig,
    permits: Arc<Semaphore>,
}

impl Scheduler {
    pub fn new(cfg: SchedulerConfig) -> Self {
        Scheduler {
            permits: Arc::new(Semaphore::new(cfg.max_concurrent.max(1))),
            cfg,
        }
    }

    /// Hand `target` to a new worker task. The worker ends (returning the target
    /// through the join handle) when every [`BmcHandle`] is dropped and its queue is empty.
    pub fn add<T: Send + 'static>(&self, target: T) -> (BmcHandle<T>, JoinHandle<T>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let join = tokio::spawn(worker(
            target,
            rx,
            BmcQueue::new(self.cfg.gap),
            self.permits.clone(),
        ));
        (BmcHandle { tx }, join)
    }
}

async fn worker<T: Send + 'static>(
    mut target: T,
    mut rx: mpsc::UnboundedReceiver<(Priority, Op<T>)>,
    mut q: BmcQueue<Op<T>>,
    permits: Arc<Semaphore>,
) -> T {
    let mut open = true;
    loop {
        while let Ok((p, op)) = rx.try_recv() {
            q.push(p, op);
        }
        match q.decide(Instant::now()) {
            Decision::Idle if !open => return target,
            Decision::Idle => match rx.recv().await {
                Some((p, op)) => q.push(p, op),
                None => open = false,
            },
            Decision::WaitUntil(t) if open => {
                tokio::select! {
                    m = rx.recv() => match m {
                        Some((p, op)) => q.push(p, op),
                        None => open = false,
                    },
                    _ = tokio::time::sleep_until(t) => {}
                }
            }
            Decision::WaitUntil(t) => tokio::time::sleep_until(t).await,
            Decision::Ready => {
                let Ok(_permit) = permits.clone().acquire_owned().await else {
                    return target;
                };
                // Power actions submitted while we waited for the permit still go first.
                while let Ok((p, op)) = rx.try_recv() {
                    q.push(p, op);
                }
                if let Some((_, op)) = q.start(Instant::now()) {
                    op(&mut target).await;
                    q.finish(Instant::now());
                }
            }
            Decision::Busy => unreachable!("operations run inline"),
        }
    }
}

/// Submit operations for one BMC. Cheap to clone; never blocks the caller.
pub struct BmcHandle<T> {
    tx: mpsc::UnboundedSender<(Priority, Op<T>)>,
}

impl<T> Clone for BmcHandle<T> {
    fn clone(&self) -> Self {
        BmcHandle {
            tx: self.tx.clone(),
        }
    }
}

impl<T: Send + 'static> BmcHandle<T> {
    /// Queue `f` at `prio`; the result arrives on the returned receiver.
    pub fn submit<R, F>(&self, prio: Priority, f: F) -> Result<oneshot::Receiver<R>>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a mut T) -> Pin<Box<dyn Future<Output = R> + Send + 'a>>
            + Send
            + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let op: Op<T> = Box::new(move |t: &mut T| {
            Box::pin(async move {
                let r = f(t).await;
                let _ = tx.send(r);
            })
        });
        self.tx
            .send((prio, op))
            .map_err(|_| BmcError::SchedulerClosed)?;
        Ok(rx)
    }

    /// Submit and await the result.
    pub async fn run<R, F>(&self, prio: Priority, f: F) -> Result<R>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a mut T) -> Pin<Box<dyn Future<Output = R> + Send + 'a>>
            + Send
            + 'static,
    {
        self.submit(prio, f)?
            .await
            .map_err(|_| BmcError::SchedulerClosed)
    }
}

impl BmcHandle<Bmc> {
    /// Power action with read-back, ahead of queued audits.
    pub async fn power(&self, action: PowerAction) -> Result<PowerState> {
        self.run(Priority::Power, move |b| Box::pin(b.power(action)))
            .await?
    }

    pub async fn set_boot_device(&self, target: BootTarget, once: bool) -> Result<()> {
        self.run(Priority::Power, move |b| {
            Box::pin(b.set_boot_device(target, once))
        })
        .await?
    }

    pub async fn power_state(&self) -> Result<PowerState> {
        self.run(Priority::Query, |b| Box::pin(b.power_state()))
            .await?
    }

    /// Reinstall media steps (docs/handlers.md#reinstall), queued with the power actions: they
    /// are part of one.
    pub async fn eject_virtual_media(&self) -> Result<()> {
        self.run(Priority::Power, |b| Box::pin(b.eject_virtual_media()))
            .await?
    }

    pub async fn insert_virtual_media(&self, url: String) -> Result<()> {
        self.run(Priority::Power, move |b| {
            Box::pin(async move { b.insert_virtual_media(&url).await })
        })
        .await?
    }

    pub async fn virtual_media_status(&self) -> Result<crate::VirtualMediaStatus> {
        self.run(Priority::Query, |b| Box::pin(b.virtual_media_status()))
            .await?
    }

    pub async fn boot_once_virtual_cd(
        &self,
        uefi: Option<bool>,
    ) -> Result<crate::BootOverrideState> {
        self.run(Priority::Power, move |b| {
            Box::pin(b.boot_once_virtual_cd(uefi))
        })
        .await?
    }

    pub async fn info(&self) -> Result<BmcInfo> {
        self.run(Priority::Query, |b| Box::pin(b.info())).await?
    }

    /// Sensor scan (audit class).
    pub async fn sensors(&self) -> Result<Vec<SensorReading>> {
        self.run(Priority::Audit, |b| Box::pin(b.sensors())).await?
    }

    /// Subscribe to the BMC's event push (see [`Bmc::subscribe_events`]), as a query.
    pub async fn subscribe_events(
        &self,
        destination: String,
        context: String,
    ) -> Result<Option<steward_bmc_redfish::Subscription>> {
        self.run(Priority::Query, move |b| {
            Box::pin(async move { b.subscribe_events(&destination, &context).await })
        })
        .await?
    }

    /// Delete a subscription made by [`BmcHandle::subscribe_events`].
    pub async fn unsubscribe_events(&self, sub: steward_bmc_redfish::Subscription) -> Result<()> {
        self.run(Priority::Query, move |b| {
            Box::pin(async move { b.unsubscribe_events(&sub).await })
        })
        .await?
    }

    /// The IPMI SEL (audit class); `None` on a Redfish connection, whose events are pushed.
    pub async fn ipmi_sel(&self) -> Result<Option<Vec<SelRecord>>> {
        self.run(Priority::Audit, |b| {
            Box::pin(async move {
                if b.protocol() == crate::BmcProtocol::Ipmi {
                    b.sel().await.map(Some)
                } else {
                    Ok(None)
                }
            })
        })
        .await?
    }

    pub async fn sel(&self) -> Result<Vec<SelRecord>> {
        self.run(Priority::Audit, |b| Box::pin(b.sel())).await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn policy_orders_power_first_fifo_within_class() {
        let mut q = BmcQueue::new(Duration::from_secs(5));
        q.push(Priority::Audit, "a1");
        q.push(Priority::Query, "q1");
        q.push(Priority::Audit, "a2");
        q.push(Priority::Power, "p1");
        q.push(Priority::Power, "p2");
        let now = Instant::now();
        let mut order = Vec::new();
        while let Some((_, x)) = q.start(now) {
            order.push(x);
            q.finish(now - Duration::from_secs(10)); // pretend long ago: no gap
        }
        assert_eq!(order, ["p1", "p2", "q1", "a1", "a2"]);
    }

    #[test]
    fn policy_spaces_operations_by_gap() {
        let gap = Duration::from_secs(5);
        let mut q = BmcQueue::new(gap);
        let t0 = Instant::now();
        assert_eq!(q.decide(t0), Decision::Idle);
        q.push(Priority::Audit, 1);
        q.push(Priority::Audit, 2);
        assert_eq!(q.decide(t0), Decision::Ready);
        assert_eq!(q.start(t0), Some((Priority::Audit, 1)));
        assert_eq!(q.decide(t0), Decision::Busy);
        assert_eq!(q.start(t0), None);
        let end = t0 + Duration::from_secs(2);
        q.finish(end);
        assert_eq!(q.decide(end), Decision::WaitUntil(end + gap));
        assert_eq!(q.start(end + gap - Duration::from_millis(1)), None);
        assert_eq!(q.decide(end + gap), Decision::Ready);
        assert_eq!(q.start(end + gap), Some((Priority::Audit, 2)));
    }

    type Log = Arc<Mutex<Vec<(String, &'static str, Instant)>>>;

    struct Fake {
        name: String,
        log: Log,
    }

    impl Fake {
        async fn op(&mut self, what: &'static str, took: Duration) -> &'static str {
            self.log
                .lock()
                .unwrap()
                .push((self.name.clone(), what, Instant::now()));
            tokio::time::sleep(took).await;
            self.log
                .lock()
                .unwrap()
                .push((self.name.clone(), "end", Instant::now()));
            what
        }
    }

    fn starts(log: &Log, who: &str) -> Vec<(&'static str, Instant)> {
        log.lock()
            .unwrap()
            .iter()
            .filter(|(n, w, _)| n == who && *w != "end")
            .map(|(_, w, t)| (*w, *t))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn power_jumps_queue_and_gap_is_kept() {
        let log: Log = Default::default();
        let s = Scheduler::new(SchedulerConfig {
            gap: Duration::from_secs(5),
            max_concurrent: 4,
        });
        let (h, join) = s.add(Fake {
            name: "b1".into(),
            log: log.clone(),
        });
        let sec = Duration::from_secs(1);
        let t0 = Instant::now();
        let a1 = h
            .submit(Priority::Audit, move |f| Box::pin(f.op("audit1", sec)))
            .unwrap();
        let a2 = h
            .submit(Priority::Audit, move |f| Box::pin(f.op("audit2", sec)))
            .unwrap();
        // Let audit1 start, then a power action arrives while it runs.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let p = h
            .submit(Priority::Power, move |f| Box::pin(f.op("power", sec)))
            .unwrap();
        assert_eq!(p.await.unwrap(), "power");
        assert_eq!(a1.await.unwrap(), "audit1");
        assert_eq!(a2.await.unwrap(), "audit2");
        drop(h);
        join.await.unwrap();
        let st = starts(&log, "b1");
        let names: Vec<_> = st.iter().map(|(w, _)| *w).collect();
        assert_eq!(names, ["audit1", "power", "audit2"]);
        // Each op takes 1 s, then a 5 s gap: starts at 0, 6, 12 (paused clock, exact).
        assert_eq!(st[0].1 - t0, Duration::ZERO);
        assert_eq!(st[1].1 - t0, Duration::from_secs(6));
        assert_eq!(st[2].1 - t0, Duration::from_secs(12));
    }

    #[tokio::test(start_paused = true)]
    async fn global_bound_serializes_across_bmcs() {
        let log: Log = Default::default();
        let s = Scheduler::new(SchedulerConfig {
            gap: Duration::from_secs(5),
            max_concurrent: 1,
        });
        let (h1, _j1) = s.add(Fake {
            name: "b1".into(),
            log: log.clone(),
        });
        let (h2, _j2) = s.add(Fake {
            name: "b2".into(),
            log: log.clone(),
        });
        let t0 = Instant::now();
        let sec = Duration::from_secs(2);
        let r1 = h1
            .submit(Priority::Audit, move |f| Box::pin(f.op("scan", sec)))
            .unwrap();
        let r2 = h2
            .submit(Priority::Audit, move |f| Box::pin(f.op("scan", sec)))
            .unwrap();
        r1.await.unwrap();
        r2.await.unwrap();
        let mut all: Vec<Instant> = starts(&log, "b1")
            .into_iter()
            .chain(starts(&log, "b2"))
            .map(|(_, t)| t)
            .collect();
        all.sort();
        // Different BMCs need no gap, but only one runs at a time: starts at 0 and 2 s.
        assert_eq!(all, [t0, t0 + sec]);
    }

    #[tokio::test(start_paused = true)]
    async fn unbounded_bmcs_run_in_parallel_and_closed_scheduler_errors() {
        let log: Log = Default::default();
        let s = Scheduler::new(SchedulerConfig::default());
        let (h1, _j1) = s.add(Fake {
            name: "b1".into(),
            log: log.clone(),
        });
        let (h2, _j2) = s.add(Fake {
            name: "b2".into(),
            log: log.clone(),
        });
        let t0 = Instant::now();
        let sec = Duration::from_secs(2);
        let (a, b) = tokio::join!(
            h1.run(Priority::Query, move |f| Box::pin(f.op("q", sec))),
            h2.run(Priority::Query, move |f| Box::pin(f.op("q", sec))),
        );
        assert_eq!((a.unwrap(), b.unwrap()), ("q", "q"));
        assert_eq!(starts(&log, "b1")[0].1, t0);
        assert_eq!(starts(&log, "b2")[0].1, t0);
        assert_eq!(Instant::now() - t0, sec);
    }
}
