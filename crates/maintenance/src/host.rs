//! What the core knows about one host: its provisioning ([`HostSpec`]) and its persisted maintenance
//! record ([`HostRecord`]). The record is what drivers store and what the API shows.

use crate::action::{Action, ActionId};
use crate::state::*;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How the controller talks to a host's BMC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BmcProtocol {
    Ipmi,
    Redfish,
    /// Learn Redfish when the service root answers, else IPMI.
    Dynamic,
}

/// BMC provisioning. The password is not here: the credential store holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BmcSpec {
    pub protocol: BmcProtocol,
    pub address: String,
    pub username: String,
}

/// Provisioning data of a host, given by the operator at add time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSpec {
    pub name: String,
    pub uuid: String,
    pub personality: Personality,
    pub mgmt_ip: Option<String>,
    pub mgmt_mac: Option<String>,
    pub cluster_ip: Option<String>,
    pub bmc: Option<BmcSpec>,
    /// The host's pxeboot address: alive reports and reboot commands also travel there
    /// (docs/protocol.md#the-pxeboot-network). None: the host has no pxeboot path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pxeboot_ip: Option<String>,
    /// How this host is reinstalled (docs/handlers.md#reinstall); unset fields take the defaults
    /// of the `[install]` configuration.
    #[serde(default)]
    pub install: InstallSpec,
}

/// How a reinstall puts the installer on a host (docs/handlers.md#reinstall).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstallMethod {
    /// Redfish virtual media: the BMC mounts the install image and boots it once.
    VirtualMedia,
    /// The BMC boots the host once from the network (any BMC protocol).
    Pxe,
    /// The node agent wipes the disk and reboots into the network installer (no BMC needed).
    Agent,
}

impl InstallMethod {
    pub const ALL: [InstallMethod; 3] = [
        InstallMethod::VirtualMedia,
        InstallMethod::Pxe,
        InstallMethod::Agent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            InstallMethod::VirtualMedia => "virtual-media",
            InstallMethod::Pxe => "pxe",
            InstallMethod::Agent => "agent",
        }
    }

    pub fn parse(s: &str) -> Option<InstallMethod> {
        InstallMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// The operator's install settings of one host; `None` takes the configured default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSpec {
    /// The installer image URL (http or https) the BMC mounts as a virtual CD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<InstallMethod>,
}

/// Check an install image URL: `http://` or `https://`, a host, no spaces or control characters.
/// The error names what is wrong; the caller names the field.
pub fn check_image_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| format!("'{}' is not an http:// or https:// URL", url.escape_debug()))?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "'{}' has spaces or control characters",
            url.escape_debug()
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(format!("'{}' names no host", url.escape_debug()));
    }
    if url.len() > 2048 {
        return Err("the URL is longer than 2048 characters".into());
    }
    Ok(())
}

/// sysinv's `install_state` values, as steward's reinstall sets them (docs/handlers.md#reinstall).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallState {
    /// BMC stages before the host boots the installer (eject, power off, insert, boot override).
    Preinstall,
    /// Powered on into the installer.
    Booting,
    /// Waiting for the fresh install to report.
    Installing,
    /// The new install reported; cleaning up (media eject).
    Postinstall,
    Completed,
    Failed,
}

impl InstallState {
    pub fn as_str(self) -> &'static str {
        match self {
            InstallState::Preinstall => "preinstall",
            InstallState::Booting => "booting",
            InstallState::Installing => "installing",
            InstallState::Postinstall => "postinstall",
            InstallState::Completed => "completed",
            InstallState::Failed => "failed",
        }
    }
}

/// Where the last reinstall of a host is (or how it ended): sysinv's `install_state` and
/// `install_state_info`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallProgress {
    pub state: Option<InstallState>,
    /// The stage, or the failure reason.
    #[serde(default)]
    pub info: String,
}

impl HostSpec {
    pub fn has_cluster_network(&self) -> bool {
        self.cluster_ip.is_some()
    }

    pub fn has_pxeboot_network(&self) -> bool {
        self.pxeboot_ip.is_some()
    }
}

/// Auto-recovery failure causes (docs/recovery.md#auto-recovery-thresholds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArCause {
    Config,
    GoEnable,
    HostServices,
    Heartbeat,
    Luks,
}

impl ArCause {
    pub const ALL: [ArCause; 5] = [
        ArCause::Config,
        ArCause::GoEnable,
        ArCause::HostServices,
        ArCause::Heartbeat,
        ArCause::Luks,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The task banner shown while auto-recovery is disabled for this cause.
    pub fn banner(self) -> &'static str {
        use crate::task::*;
        match self {
            ArCause::Config => AR_CONFIG,
            ArCause::GoEnable => AR_GOENABLE,
            ArCause::HostServices => AR_SERVICES,
            ArCause::Heartbeat => AR_HEARTBEAT,
            ArCause::Luks => AR_LUKS,
        }
    }

    pub fn from_banner(task: &str) -> Option<ArCause> {
        ArCause::ALL.into_iter().find(|c| c.banner() == task)
    }
}

/// The maintenance record of a host: everything a restarted controller needs to carry on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    pub spec: HostSpec,
    pub states: HostStates,
    /// Worker subfunction of an all-in-one controller.
    pub subf: Option<SubfunctionStates>,
    pub task: String,
    /// The action in progress, and the operator action id it serves (None for internal actions).
    pub action: Action,
    pub action_id: Option<ActionId>,
    /// An operator action waiting behind an add or force-lock (docs/lifecycle.md#action-queue).
    pub queued: Vec<(Action, Option<ActionId>)>,
    pub degrade: DegradeMask,
    pub ar_disabled: Option<ArCause>,
    pub power: PowerState,
    pub bmc_accessible: bool,
    pub uptime: Duration,
    /// The last reinstall's progress (none until the host is first reinstalled).
    #[serde(default)]
    pub install: InstallProgress,
    /// The operator action whose reboot was last sent to this host, and the boot the host was on
    /// then. A controller that resumes that action after a restart or a takeover and finds the
    /// host already on another boot does not reboot it a second time
    /// (docs/lifecycle.md#action-queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reboot_sent: Option<RebootSent>,
}

/// See [`HostRecord::reboot_sent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebootSent {
    pub action: ActionId,
    pub from_boot: u64,
}

impl HostRecord {
    /// A record for a host that was just provisioned: locked, and offline until its agent speaks.
    pub fn new_install(spec: HostSpec, system: SystemType) -> Self {
        let subf = (system.is_aio() && spec.personality == Personality::Controller).then_some(
            SubfunctionStates {
                oper: OperState::Disabled,
                avail: Availability::Offline,
            },
        );
        HostRecord {
            spec,
            states: HostStates::new(
                AdminState::Locked,
                OperState::Disabled,
                Availability::Offline,
            ),
            subf,
            task: String::new(),
            action: Action::None,
            action_id: None,
            queued: Vec::new(),
            degrade: DegradeMask::default(),
            ar_disabled: None,
            power: PowerState::Unknown,
            bmc_accessible: false,
            uptime: Duration::ZERO,
            install: InstallProgress::default(),
            reboot_sent: None,
        }
    }

    /// A record for a host that is part of a running cluster: unlocked, enabled, available.
    pub fn in_service(spec: HostSpec, system: SystemType) -> Self {
        let mut r = HostRecord::new_install(spec, system);
        r.states = HostStates::new(
            AdminState::Unlocked,
            OperState::Enabled,
            Availability::Available,
        );
        if let Some(s) = r.subf.as_mut() {
            *s = SubfunctionStates {
                oper: OperState::Enabled,
                avail: Availability::Available,
            };
        }
        r
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn bmc_provisioned(&self) -> bool {
        self.spec.bmc.is_some()
    }
}
