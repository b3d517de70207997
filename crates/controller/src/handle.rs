//! The controller's API for the REST server and the CLI: a cheap, cloneable handle that talks to the
//! actor over a channel. Every call is answered from the actor's current state.

use crate::feed::Feed;
use std::sync::Arc;
use std::time::Duration;
use steward_maintenance::action::{ActionId, ActionOutcome, OperatorAction};
use steward_maintenance::alarm::{Alarm, CustomerLog};
use steward_maintenance::host::{BmcSpec, HostRecord, InstallSpec};
use steward_maintenance::NodeSettings;
use steward_store::typed::{HostIdentity, Stamped};
use tokio::sync::{mpsc, oneshot};

/// Why a handle call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("host '{0}' not found; `steward host list` shows the known hosts")]
    UnknownHost(String),
    /// The core's admission refused the action (the API answers 409 with this text).
    #[error("{0}")]
    Refused(String),
    /// The request itself is wrong (the API answers 400 with this text).
    #[error("{0}")]
    Invalid(String),
    #[error("the controller could not persist the change: {0}")]
    Store(String),
    #[error("the controller is shutting down")]
    Stopped,
    /// The host's BMC failed the operation (the API answers 502 with this text).
    #[error("{0}")]
    Bmc(String),
}

/// A change to the node settings: each entry sets one timing (`Some`) or hands it back to the
/// node's own configuration (`None`); timings not named stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSettingsPatch(Vec<(&'static str, Option<u32>)>);

impl NodeSettingsPatch {
    /// Add one change to the timing called `name` ([`NodeSettings::FIELDS`]); an unknown name is
    /// refused, naming the known ones.
    pub fn set(&mut self, name: &str, value: Option<u32>) -> Result<(), String> {
        self.0.push((NodeSettings::field(name)?.name, value));
        Ok(())
    }

    /// `base` with this patch applied (the generation is left as it is).
    pub fn apply(&self, mut base: NodeSettings) -> NodeSettings {
        for (name, value) in &self.0 {
            if let Some(slot) = base.field_mut(name) {
                *slot = *value;
            }
        }
        base
    }
}

/// Where an accepted action stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActionStatus {
    Running {
        host: String,
    },
    Ended {
        host: String,
        outcome: ActionOutcome,
    },
}

/// A host as the API shows it: its maintenance record and its identity (integer id, added and
/// last-changed times).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostEntry {
    pub record: HostRecord,
    pub identity: HostIdentity,
}

pub(crate) type Reply<T> = oneshot::Sender<T>;

pub(crate) enum Command {
    Hosts(Reply<Vec<HostRecord>>),
    Host(String, Reply<Option<HostRecord>>),
    Entries(Reply<Vec<HostEntry>>),
    Entry(String, Reply<Option<HostEntry>>),
    AddHost(Box<HostRecord>, Reply<Result<HostRecord, HandleError>>),
    Request(String, OperatorAction, Reply<Result<ActionId, HandleError>>),
    SetBmc(String, Option<BmcSpec>, Reply<Result<(), HandleError>>),
    SetInstall(String, InstallSpec, Reply<Result<(), HandleError>>),
    SetBmcCredentials(String, BmcSpec, String, Reply<Result<(), HandleError>>),
    Alarms(Reply<Vec<Alarm>>),
    Events(usize, Reply<Vec<Stamped<CustomerLog>>>),
    Action(ActionId, Reply<Option<ActionStatus>>),
    HostActions(String, Reply<Vec<(ActionId, ActionStatus)>>),
    NodeSettings(Reply<NodeSettings>),
    SetNodeSettings(NodeSettingsPatch, Reply<Result<NodeSettings, HandleError>>),
    Sensors(crate::sensor_handle::SensorCommand),
    SecureBoot(crate::secure_boot::SecureBootCommand),
    Shutdown(Reply<()>),
}

/// A cloneable handle on a running controller.
#[derive(Clone, Debug)]
pub struct ControllerHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    pub(crate) epoch: u64,
    pub(crate) feed: Arc<Feed>,
    pub(crate) telemetry: crate::telemetry::Telemetry,
}

impl ControllerHandle {
    /// The fencing epoch this controller took at start; every message to nodes carries it.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The live feed of committed changes (hosts, alarms, events) behind `GET /v1/stream`.
    pub fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }

    /// The actor's heartbeat, recovery and BMC metric families, for `/metrics`.
    pub fn telemetry(&self) -> &crate::telemetry::Telemetry {
        &self.telemetry
    }

    pub(crate) async fn call<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, HandleError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| HandleError::Stopped)?;
        rx.await.map_err(|_| HandleError::Stopped)
    }

    /// Every host, ordered by name.
    pub async fn hosts(&self) -> Result<Vec<HostRecord>, HandleError> {
        self.call(Command::Hosts).await
    }

    /// One host by hostname, uuid or integer id.
    pub async fn host(&self, id: &str) -> Result<Option<HostRecord>, HandleError> {
        self.call(|r| Command::Host(id.to_string(), r)).await
    }

    /// Every host with its identity, ordered by name.
    pub async fn host_entries(&self) -> Result<Vec<HostEntry>, HandleError> {
        self.call(Command::Entries).await
    }

    /// One host with its identity, by hostname, uuid or integer id.
    pub async fn host_entry(&self, id: &str) -> Result<Option<HostEntry>, HandleError> {
        self.call(|r| Command::Entry(id.to_string(), r)).await
    }

    pub async fn add_host(&self, record: HostRecord) -> Result<HostRecord, HandleError> {
        self.call(|r| Command::AddHost(Box::new(record), r)).await?
    }

    /// Ask for an operator action on a host (hostname, uuid or integer id). Accepted actions are journaled.
    pub async fn request(&self, id: &str, action: OperatorAction) -> Result<ActionId, HandleError> {
        self.call(|r| Command::Request(id.to_string(), action, r))
            .await?
    }

    pub async fn set_bmc(&self, id: &str, bmc: Option<BmcSpec>) -> Result<(), HandleError> {
        self.call(|r| Command::SetBmc(id.to_string(), bmc, r))
            .await?
    }

    /// Change a host's install settings (docs/handlers.md#reinstall); the caller checked them.
    pub async fn set_install(&self, id: &str, install: InstallSpec) -> Result<(), HandleError> {
        self.call(|r| Command::SetInstall(id.to_string(), install, r))
            .await?
    }

    /// Provision a host's BMC with its password: the password is stored encrypted, then the BMC
    /// workers start auditing it.
    pub async fn set_bmc_credentials(
        &self,
        id: &str,
        bmc: BmcSpec,
        password: String,
    ) -> Result<(), HandleError> {
        self.call(|r| Command::SetBmcCredentials(id.to_string(), bmc, password, r))
            .await?
    }

    pub async fn alarms(&self) -> Result<Vec<Alarm>, HandleError> {
        self.call(Command::Alarms).await
    }

    /// The newest `limit` customer-log events, oldest first.
    pub async fn events(&self, limit: usize) -> Result<Vec<Stamped<CustomerLog>>, HandleError> {
        self.call(|r| Command::Events(limit, r)).await
    }

    pub async fn action(&self, id: ActionId) -> Result<Option<ActionStatus>, HandleError> {
        self.call(|r| Command::Action(id, r)).await
    }

    /// The actions of host `name` the controller still knows (those in the retained journal),
    /// oldest first: for support bundles and `GET /v1/ihosts/{id}/actions`.
    pub async fn host_actions(
        &self,
        name: &str,
    ) -> Result<Vec<(ActionId, ActionStatus)>, HandleError> {
        let name = name.to_string();
        self.call(|r| Command::HostActions(name, r)).await
    }

    /// Follow an action until it ends, calling `progress` with the host's task line when it changes.
    pub async fn wait(
        &self,
        id: ActionId,
        poll: Duration,
        mut progress: impl FnMut(&HostRecord),
    ) -> Result<ActionOutcome, HandleError> {
        let mut last_task = None;
        loop {
            match self.action(id).await? {
                Some(ActionStatus::Ended { outcome, .. }) => return Ok(outcome),
                Some(ActionStatus::Running { host }) => {
                    if let Some(rec) = self.host(&host).await? {
                        if last_task.as_ref() != Some(&rec.task) {
                            last_task = Some(rec.task.clone());
                            progress(&rec);
                        }
                    }
                }
                None => return Err(HandleError::Refused(format!("no action {id}"))),
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// The node settings pushed to every agent (generation 0: none set).
    pub async fn node_settings(&self) -> Result<NodeSettings, HandleError> {
        self.call(Command::NodeSettings).await
    }

    /// Change the node settings, take the next generation, persist them, and push them to every
    /// agent. An empty patch pushes the same values again under a new generation. Out-of-range
    /// values are refused with the field named, and nothing changes.
    pub async fn update_node_settings(
        &self,
        patch: NodeSettingsPatch,
    ) -> Result<NodeSettings, HandleError> {
        self.call(|r| Command::SetNodeSettings(patch, r)).await?
    }

    /// Stop the actor after it finished the current step.
    pub async fn shutdown(&self) -> Result<(), HandleError> {
        self.call(Command::Shutdown).await
    }
}
