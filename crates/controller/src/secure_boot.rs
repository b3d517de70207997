//! Secure boot through a host's BMC (docs/bmc.md#secure-boot): the handle asks the actor to hand
//! the read (or change) to the BMC link, waits for the BMC's answer outside the actor (a slow BMC
//! never stalls the loop), then has the actor remember it as the host's last read state, which
//! the API shows on the host.
//!
//! The remembered state lives in memory only: it is a reading, not configuration, and the next
//! read refreshes it.

use crate::actor::Actor;
use crate::handle::{Command, ControllerHandle, HandleError, Reply};
use crate::links::SecureBootFailure;
use serde::Serialize;
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};
use steward_bmc::SecureBoot;
use tokio::sync::oneshot;

/// A host's secure boot state as last read from its BMC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecureBootSeen {
    #[serde(flatten)]
    pub state: SecureBoot,
    /// A change is waiting for the host's next reset.
    pub pending_reset: bool,
    /// When it was read, milliseconds since the Unix epoch.
    pub read_at_ms: u64,
}

type Pending = oneshot::Receiver<Result<SecureBoot, SecureBootFailure>>;

pub(crate) enum SecureBootCommand {
    /// Resolve the host and hand the operation to the BMC link; answers the host's name and
    /// where the BMC's answer arrives.
    Start {
        id: String,
        change: Option<bool>,
        reply: Reply<Result<(String, Pending), HandleError>>,
    },
    /// Remember a state read from `host`'s BMC.
    Record { host: String, seen: SecureBootSeen },
    /// The last read state of every host.
    Seen(Reply<HashMap<String, SecureBootSeen>>),
}

impl ControllerHandle {
    /// Read `id`'s secure boot state from its BMC, first enabling or disabling it when `change`
    /// is given. The BMC applies a change at the host's next reset. Needs a provisioned Redfish
    /// BMC that offers secure boot (else [`HandleError::Refused`]); a BMC failure is
    /// [`HandleError::Bmc`] with the BMC's reason.
    pub async fn secure_boot(
        &self,
        id: &str,
        change: Option<bool>,
    ) -> Result<SecureBootSeen, HandleError> {
        let (host, pending) = self
            .call(|reply| {
                Command::SecureBoot(SecureBootCommand::Start {
                    id: id.to_string(),
                    change,
                    reply,
                })
            })
            .await??;
        let state = pending
            .await
            .map_err(|_| HandleError::Stopped)?
            .map_err(|f| match f {
                SecureBootFailure::Unsupported(why) => HandleError::Refused(why),
                SecureBootFailure::Failed(why) => HandleError::Bmc(why),
            })?;
        let seen = SecureBootSeen {
            pending_reset: state.pending_reset(),
            state,
            read_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        };
        let record = SecureBootCommand::Record {
            host,
            seen: seen.clone(),
        };
        self.tx
            .send(Command::SecureBoot(record))
            .await
            .map_err(|_| HandleError::Stopped)?;
        Ok(seen)
    }

    /// Every host's secure boot state as last read, by host name (hosts never read are absent).
    pub async fn secure_boot_seen(&self) -> Result<HashMap<String, SecureBootSeen>, HandleError> {
        self.call(|r| Command::SecureBoot(SecureBootCommand::Seen(r)))
            .await
    }
}

impl Actor {
    pub(crate) fn secure_boot_command(&mut self, cmd: SecureBootCommand) {
        match cmd {
            SecureBootCommand::Start { id, change, reply } => {
                let _ = reply.send(self.start_secure_boot(id, change));
            }
            SecureBootCommand::Record { host, seen } => {
                // A host deleted while its BMC answered is not brought back.
                if self.core.host(&host).is_some() {
                    self.secure_boot.insert(host, seen);
                }
            }
            SecureBootCommand::Seen(reply) => {
                self.secure_boot
                    .retain(|host, _| self.core.host(host).is_some());
                let _ = reply.send(self.secure_boot.clone());
            }
        }
    }

    fn start_secure_boot(
        &mut self,
        id: String,
        change: Option<bool>,
    ) -> Result<(String, Pending), HandleError> {
        let name = self.resolve(&id).ok_or(HandleError::UnknownHost(id))?;
        let provisioned = self.core.host(&name).is_some_and(|h| h.spec.bmc.is_some());
        if !provisioned {
            return Err(HandleError::Refused(format!(
                "{name} has no BMC provisioned: set bm_type redfish, bm_ip, bm_username and \
                 bm_password first"
            )));
        }
        let (tx, rx) = oneshot::channel();
        self.links.bmc.secure_boot(&name, change, tx);
        Ok((name, rx))
    }
}
