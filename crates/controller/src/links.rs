//! How the controller's effects reach the outside: node agents, BMCs, heartbeat. Each is a trait so
//! the lab can plug simulated hosts in process and the real daemons plug sockets and BMC clients. Results
//! come back as core events through an [`EventSender`].

use crate::sensor_audit::{SensorReplies, SensorReply};
use steward_maintenance::host::HostSpec;
use steward_maintenance::io::{
    BmcOp, BmcRequestId, CommandId, Event, HeartbeatControl, NodeCommand, NodeSettings,
    ProtocolNetwork,
};
use tokio::sync::{mpsc, oneshot};

/// Where a BMC link answers a read of a BMC's event log ([`BmcLink::read_event_log`]): its records,
/// oldest first, or why it could not be read.
/// Whether this controller may act now (the active of a controller pair: it holds the lease and its
/// acting deadline has not come, on its own monotonic clock; docs/controller-pair.md). Asked once
/// per node command and BMC operation, just before it is sent, so it must be cheap.
pub type ActingGate = std::sync::Arc<dyn Fn() -> bool + Send + Sync>;

pub type EventLogReply = oneshot::Sender<Result<Vec<steward_bmc::SelRecord>, String>>;

/// Where links deliver what they learn (acks, alive reports, BMC results, heartbeat events).
#[derive(Clone, Debug)]
pub struct EventSender(pub(crate) mpsc::Sender<Event>);

impl EventSender {
    /// A sender and its receiving end, for links tested (or driven) without a controller.
    pub fn channel(capacity: usize) -> (EventSender, mpsc::Receiver<Event>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (EventSender(tx), rx)
    }

    /// Deliver an event; waits when the controller is busy (backpressure, nothing is dropped).
    pub async fn send(&self, event: Event) -> bool {
        self.0.send(event).await.is_ok()
    }

    /// Deliver from synchronous code; false when the queue is full or the controller is gone.
    pub fn try_send(&self, event: Event) -> bool {
        self.0.try_send(event).is_ok()
    }
}

/// Sends commands to node agents.
pub trait NodeLink: Send + 'static {
    fn send(
        &mut self,
        host: &str,
        id: CommandId,
        command: NodeCommand,
        networks: &[ProtocolNetwork],
    );

    /// `host` is known (at start, and when added): where its agent is reached on each network.
    fn provision(&mut self, _spec: &HostSpec) {}

    /// `host` was deleted: stop talking to it and accepting its messages.
    fn forget(&mut self, _host: &str) {}

    /// The node settings every agent should run with (at start, and on each change): push them
    /// to every agent that reports another generation (config push).
    fn settings(&mut self, _settings: NodeSettings) {}
}

/// How to reach one host's BMC, password included (it comes decrypted from the store, never logged).
#[derive(Clone)]
pub struct BmcAccess {
    pub address: String,
    pub protocol: steward_maintenance::host::BmcProtocol,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BmcAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcAccess")
            .field("address", &self.address)
            .field("protocol", &self.protocol)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Hands operations to BMC workers; results return as `Event::Bmc`, reachability as
/// `Event::BmcAccess`.
pub trait BmcLink: Send + 'static {
    fn submit(&mut self, host: &str, id: BmcRequestId, op: BmcOp);

    /// The BMC of `host` was provisioned (or changed, or removed with `None`).
    fn provision(&mut self, _host: &str, _access: Option<BmcAccess>) {}

    /// Read every sensor of `host`'s BMC (the sensor audit, docs/sensors.md) and deliver the
    /// readings, or why the read failed, to `replies` as read number `read`. A link that cannot read
    /// sensors answers with a failure, so the host's sensor groups show it (200.014/200.015).
    fn read_sensors(&mut self, host: &str, read: u64, replies: SensorReplies) {
        let reply = SensorReply {
            host: host.to_string(),
            read,
            result: Err("this BMC link cannot read sensors".to_string()),
            sel: Vec::new(),
        };
        tokio::spawn(async move { replies.send(reply).await });
    }

    /// Read the whole event log of `host`'s BMC (the IPMI SEL, or a Redfish log service) for an
    /// operator or a support bundle, queued like a sensor read, and answer on `reply`.
    fn read_event_log(&mut self, host: &str, reply: EventLogReply) {
        let _ = reply.send(Err(format!("{host}: this BMC link cannot read event logs")));
    }
    /// Read `host`'s UEFI secure boot state, first setting it when `change` is given (applied by
    /// the BMC at the host's next reset), and answer on `reply` (docs/bmc.md#secure-boot).
    fn secure_boot(&mut self, host: &str, _change: Option<bool>, reply: SecureBootReply) {
        let _ = reply.send(Err(SecureBootFailure::Unsupported(format!(
            "{host}: this BMC link cannot reach secure boot settings"
        ))));
    }
}

/// What a secure boot read or change through a [`BmcLink`] answers: the state read back, or why not.
pub type SecureBootReply =
    tokio::sync::oneshot::Sender<Result<steward_bmc::SecureBoot, SecureBootFailure>>;

/// Why a secure boot operation failed: the host's BMC has no secure boot to offer (IPMI, no
/// `SecureBoot` resource: the request cannot be served for this host), or the BMC failed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecureBootFailure {
    Unsupported(String),
    Failed(String),
}

/// Starts and stops heartbeat monitoring (`host` None: cluster-wide backoff/recover).
pub trait HeartbeatLink: Send + 'static {
    fn control(&mut self, host: Option<&str>, control: HeartbeatControl);

    /// `host` is known (at start, and when added): where it answers pulses on each network.
    fn provision(&mut self, _spec: &HostSpec) {}

    /// `host` was deleted.
    fn forget(&mut self, _host: &str) {}
}

/// Hands the active role to the standby controller; the result returns as `Event::SwactResult`.
pub trait SwactLink: Send + 'static {
    fn swact(&mut self, to: &str);
}

/// The swact link of a controller that runs alone: there is no standby to hand over to, so every
/// swact fails at once (the core then keeps the active role).
pub struct NoStandby(pub EventSender);

impl SwactLink for NoStandby {
    fn swact(&mut self, to: &str) {
        tracing::warn!(
            to,
            "swact requested but no standby controller runtime is running"
        );
        let events = self.0.clone();
        tokio::spawn(async move {
            events.send(Event::SwactResult { completed: false }).await;
        });
    }
}

/// The controller's outside world.
pub struct Links {
    pub node: Box<dyn NodeLink>,
    pub bmc: Box<dyn BmcLink>,
    pub heartbeat: Box<dyn HeartbeatLink>,
    pub swact: Box<dyn SwactLink>,
}

impl Links {
    /// Links that lead nowhere: a controller that must never act on the outside world (a
    /// standby's read-only mirror, the lab's short-lived controller that only adds hosts).
    pub fn nowhere() -> Links {
        Links {
            node: Box::new(Nowhere),
            bmc: Box::new(Nowhere),
            heartbeat: Box::new(Nowhere),
            swact: Box::new(Nowhere),
        }
    }
}

/// See [`Links::nowhere`]: every command, BMC operation and heartbeat control is dropped.
struct Nowhere;

impl NodeLink for Nowhere {
    fn send(&mut self, _: &str, _: CommandId, _: NodeCommand, _: &[ProtocolNetwork]) {}
}
impl BmcLink for Nowhere {
    fn submit(&mut self, _: &str, _: BmcRequestId, _: BmcOp) {}
    fn read_sensors(&mut self, _: &str, _: u64, _: SensorReplies) {}
}
impl HeartbeatLink for Nowhere {
    fn control(&mut self, _: Option<&str>, _: HeartbeatControl) {}
}
impl SwactLink for Nowhere {
    fn swact(&mut self, _: &str) {}
}
