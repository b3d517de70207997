//! Many simulated hosts behind the controller's links.

use crate::host::SimHost;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_controller::links::{BmcAccess, BmcLink, HeartbeatLink, Links, NodeLink, SwactLink};
use steward_controller::EventSender;
use steward_maintenance::io::{
    BmcOp, BmcOutcome, BmcRequestId, CommandId, Event, HeartbeatControl, NodeCommand,
};
use steward_maintenance::state::Network;
use steward_simulator::heartbeat::{HbLink, HbTimer};

struct Inner {
    hosts: Mutex<HashMap<String, SimHost>>,
    sink: Mutex<Option<EventSender>>,
    hb: Mutex<HashMap<String, HbLink>>,
    bmc_scale: u32,
}

/// Simulated hosts as the controller's outside world: node agents, BMCs (an operation takes 1–3 s
/// divided by the scale, then reports the power state read back), heartbeat (event-level model of
/// `steward-simulator`: minor/degrade/loss 400/600/1000 ms after a monitored host stops answering, clear
/// 1 s after it answers again) and swact (always `completed: false` for now).
#[derive(Clone)]
pub struct SimCluster {
    inner: Arc<Inner>,
}

impl SimCluster {
    /// `bmc_scale` divides the 1–3 s a BMC operation takes.
    pub fn new(bmc_scale: u32) -> SimCluster {
        SimCluster {
            inner: Arc::new(Inner {
                hosts: Mutex::default(),
                sink: Mutex::default(),
                hb: Mutex::default(),
                bmc_scale: bmc_scale.max(1),
            }),
        }
    }

    /// Links for `steward_controller::spawn`; call [`SimCluster::set_events`] with the returned sender.
    pub fn links(&self) -> Links {
        Links {
            node: Box::new(self.clone()),
            bmc: Box::new(self.clone()),
            heartbeat: Box::new(self.clone()),
            swact: Box::new(self.clone()),
        }
    }

    /// Where every host and link delivers events.
    pub fn set_events(&self, sink: EventSender) {
        for h in self.inner.hosts.lock().unwrap().values() {
            h.set_sink(sink.clone());
        }
        *self.inner.sink.lock().unwrap() = Some(sink);
    }

    /// Adds a host (must run inside a tokio runtime: its answering state feeds the heartbeat model).
    pub fn add(&self, host: SimHost) {
        let name = host.name().to_string();
        if let Some(s) = self.inner.sink.lock().unwrap().clone() {
            host.set_sink(s);
        }
        let mut answering = host.answering();
        let reachable = *answering.borrow_and_update();
        self.inner
            .hb
            .lock()
            .unwrap()
            .insert(name.clone(), HbLink::new(true, reachable));
        self.inner.hosts.lock().unwrap().insert(name.clone(), host);
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while answering.changed().await.is_ok() {
                let v = *answering.borrow_and_update();
                let Some(inner) = weak.upgrade() else { return };
                let me = SimCluster { inner };
                let timers = me
                    .inner
                    .hb
                    .lock()
                    .unwrap()
                    .get_mut(&name)
                    .map(|l| l.set_reachable(v))
                    .unwrap_or_default();
                me.schedule(&name, timers);
            }
        });
    }

    pub fn host(&self, name: &str) -> Option<SimHost> {
        self.inner.hosts.lock().unwrap().get(name).cloned()
    }

    pub fn hosts(&self) -> Vec<SimHost> {
        let mut v: Vec<SimHost> = self.inner.hosts.lock().unwrap().values().cloned().collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v
    }

    /// Stops every host's tasks.
    pub fn shutdown(&self) {
        for h in self.hosts() {
            h.shutdown();
        }
    }

    /// Delivers `ev` after `after` to the sink set by then (links may be used before
    /// [`SimCluster::set_events`], e.g. while the controller starts).
    fn emit_later(&self, after: Duration, ev: Event) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let Some(inner) = weak.upgrade() else { return };
            let sink = inner.sink.lock().unwrap().clone();
            if let Some(sink) = sink {
                sink.send(ev).await;
            }
        });
    }

    fn schedule(&self, host: &str, timers: Vec<HbTimer>) {
        for t in timers {
            let weak = Arc::downgrade(&self.inner);
            let host = host.to_string();
            tokio::spawn(async move {
                tokio::time::sleep(t.after).await;
                let Some(inner) = weak.upgrade() else { return };
                let events = inner
                    .hb
                    .lock()
                    .unwrap()
                    .get_mut(&host)
                    .map(|l| l.fire(t.step, t.gen))
                    .unwrap_or_default();
                let sink = inner.sink.lock().unwrap().clone();
                if let Some(sink) = sink {
                    for event in events {
                        sink.send(Event::Heartbeat {
                            host: host.clone(),
                            network: Network::Mgmt,
                            event,
                        })
                        .await;
                    }
                }
            });
        }
    }

    /// A BMC operation's latency: uniformly 1–3 s, divided by the scale.
    fn bmc_latency(&self) -> Duration {
        let mut h = RandomState::new().build_hasher();
        h.write_u8(0);
        let ms = 1000 + h.finish() % 2001;
        Duration::from_millis(ms) / self.inner.bmc_scale
    }
}

impl NodeLink for SimCluster {
    fn send(&mut self, host: &str, id: CommandId, command: NodeCommand, _networks: &[Network]) {
        if let Some(h) = self.host(host) {
            h.deliver(id, command);
        }
    }
}

impl BmcLink for SimCluster {
    fn submit(&mut self, host: &str, id: BmcRequestId, op: BmcOp) {
        let sim = self.host(host);
        let latency = self.bmc_latency();
        let host = host.to_string();
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(latency).await;
            let Some(sink) = weak.upgrade().and_then(|i| i.sink.lock().unwrap().clone()) else {
                return;
            };
            let outcome = match sim {
                None => BmcOutcome::Failed(format!("no simulated BMC for {host}")),
                Some(h) => BmcOutcome::Done(match op {
                    BmcOp::PowerStatus | BmcOp::NetbootOnce => h.power(),
                    BmcOp::PowerOn => h.power_on(),
                    BmcOp::PowerOff => h.power_off(),
                    BmcOp::PowerReset => h.power_reset(),
                }),
            };
            sink.send(Event::Bmc {
                host,
                request: id,
                outcome,
            })
            .await;
        });
    }

    fn provision(&mut self, host: &str, access: Option<BmcAccess>) {
        if access.is_some() {
            let accessible = self.host(host).is_some();
            self.emit_later(
                self.bmc_latency(),
                Event::BmcAccess {
                    host: host.to_string(),
                    accessible,
                },
            );
        }
    }
}

impl HeartbeatLink for SimCluster {
    fn control(&mut self, host: Option<&str>, control: HeartbeatControl) {
        // Cluster-wide backoff/recover (MNFA) does not change the event-level model.
        let Some(host) = host else { return };
        let timers = {
            let mut hb = self.inner.hb.lock().unwrap();
            let Some(l) = hb.get_mut(host) else { return };
            match control {
                HeartbeatControl::Start => l.start(),
                HeartbeatControl::Stop => {
                    l.stop();
                    Vec::new()
                }
                HeartbeatControl::Backoff | HeartbeatControl::Recover => Vec::new(),
            }
        };
        self.schedule(host, timers);
    }
}

impl SwactLink for SimCluster {
    fn swact(&mut self, _to: &str) {
        self.emit_later(
            Duration::from_millis(10),
            Event::SwactResult { completed: false },
        );
    }
}
