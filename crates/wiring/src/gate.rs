//! The acting gate of a controller that may lose its right to act (the active of a controller pair,
//! docs/controller-pair.md): every node command and every BMC operation asks the gate just before it
//! is sent, and is dropped once the gate is closed. The store fences writes on its own; this covers
//! the effects that do not go through the store. A BMC operation is asked twice: here, when the core
//! hands it over, and by the BMC workers when its turn comes after the per-BMC spacing wait
//! (`BmcWorkers::start_gated`), so one queued behind the gap at the acting deadline is not sent.

use steward_controller::links::{BmcAccess, BmcLink, NodeLink};
use steward_controller::SensorReplies;
use steward_maintenance::host::HostSpec;
use steward_maintenance::io::{
    BmcOp, BmcRequestId, CommandId, NodeCommand, NodeSettings, ProtocolNetwork,
};

/// Whether this controller may act now (for a pair: it holds the lease and its acting deadline has
/// not come, on its own monotonic clock). Called once per effect, so it must be cheap.
pub use steward_controller::links::ActingGate;

pub(crate) struct GatedNode {
    pub(crate) inner: Box<dyn NodeLink>,
    pub(crate) gate: ActingGate,
}

impl NodeLink for GatedNode {
    fn send(
        &mut self,
        host: &str,
        id: CommandId,
        command: NodeCommand,
        networks: &[ProtocolNetwork],
    ) {
        if (self.gate)() {
            self.inner.send(host, id, command, networks);
        } else {
            tracing::warn!(
                host,
                ?command,
                "not sent: this controller may no longer act"
            );
        }
    }
    fn provision(&mut self, spec: &HostSpec) {
        self.inner.provision(spec);
    }
    fn forget(&mut self, host: &str) {
        self.inner.forget(host);
    }
    fn settings(&mut self, settings: NodeSettings) {
        self.inner.settings(settings);
    }
}

pub(crate) struct GatedBmc {
    pub(crate) inner: Box<dyn BmcLink>,
    pub(crate) gate: ActingGate,
}

impl BmcLink for GatedBmc {
    fn submit(&mut self, host: &str, id: BmcRequestId, op: BmcOp) {
        if (self.gate)() {
            self.inner.submit(host, id, op);
        } else {
            tracing::warn!(
                host,
                ?op,
                "BMC operation not sent: this controller may no longer act"
            );
        }
    }
    fn provision(&mut self, host: &str, access: Option<BmcAccess>) {
        self.inner.provision(host, access);
    }
    fn read_sensors(&mut self, host: &str, read: u64, replies: SensorReplies) {
        self.inner.read_sensors(host, read, replies);
    }
}
