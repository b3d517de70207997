//! Alarms and customer logs (docs/alarms.md).
//!
//! The core decides *that* an alarm is raised or cleared; the driver persists and shows it. The
//! [`AlarmBook`] makes "raised once, cleared once" hold by construction: a raise of an alarm already active
//! at the same severity, or a clear of an alarm not active, produces no effect.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use steward_types::LinkNetwork;

/// The maintenance alarm ids, in the 200.xxx numbering operators know from StarlingX, and the
/// 100.1xx platform ids for the node's link and filesystem monitors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AlarmId {
    #[serde(rename = "100.104")]
    Filesystem,
    #[serde(rename = "100.106")]
    OamPort,
    #[serde(rename = "100.107")]
    OamInterface,
    #[serde(rename = "100.108")]
    MgmtPort,
    #[serde(rename = "100.109")]
    MgmtInterface,
    #[serde(rename = "100.110")]
    ClusterPort,
    #[serde(rename = "100.111")]
    ClusterInterface,
    #[serde(rename = "200.001")]
    Locked,
    #[serde(rename = "200.003")]
    PxebootAlive,
    #[serde(rename = "200.004")]
    Enable,
    #[serde(rename = "200.005")]
    MgmtHeartbeat,
    #[serde(rename = "200.006")]
    Process,
    #[serde(rename = "200.009")]
    ClusterHeartbeat,
    #[serde(rename = "200.010")]
    BmcAccess,
    #[serde(rename = "200.011")]
    Config,
    #[serde(rename = "200.013")]
    ComputeFunction,
    #[serde(rename = "200.016")]
    Luks,
}

impl AlarmId {
    pub const fn code(self) -> &'static str {
        match self {
            AlarmId::Filesystem => "100.104",
            AlarmId::OamPort => "100.106",
            AlarmId::OamInterface => "100.107",
            AlarmId::MgmtPort => "100.108",
            AlarmId::MgmtInterface => "100.109",
            AlarmId::ClusterPort => "100.110",
            AlarmId::ClusterInterface => "100.111",
            AlarmId::Locked => "200.001",
            AlarmId::PxebootAlive => "200.003",
            AlarmId::Enable => "200.004",
            AlarmId::MgmtHeartbeat => "200.005",
            AlarmId::Process => "200.006",
            AlarmId::ClusterHeartbeat => "200.009",
            AlarmId::BmcAccess => "200.010",
            AlarmId::Config => "200.011",
            AlarmId::ComputeFunction => "200.013",
            AlarmId::Luks => "200.016",
        }
    }

    /// Reason text and proposed repair shown with the alarm.
    pub fn text(self, host: &str) -> (String, &'static str) {
        match self {
            AlarmId::Filesystem => (
                format!("{host} has a monitored filesystem read-only, missing or short of space or inodes."),
                "Check the filesystem (`steward node status` on the host names it); free space, or repair and remount it.",
            ),
            AlarmId::OamPort | AlarmId::MgmtPort | AlarmId::ClusterPort => (
                format!("{host} has a port of its {} network down.", self.link_network_name()),
                "Check the cabling and the switch port of the host.",
            ),
            AlarmId::OamInterface | AlarmId::MgmtInterface | AlarmId::ClusterInterface => (
                format!("{host} has its {} network interface degraded or down.", self.link_network_name()),
                "Check the cabling, the switch ports and the bond or VLAN configuration of the host.",
            ),
            AlarmId::Locked => (
                format!("{host} was administratively locked to take it out-of-service."),
                "Administratively unlock Host to bring it back in-service.",
            ),
            AlarmId::PxebootAlive => (
                format!("{host} is not responding on its pxeboot network."),
                "Check cabling and the pxeboot network of the host.",
            ),
            AlarmId::Enable => (
                format!(
                    "{host} experienced a service-affecting failure; auto-recovery in progress."
                ),
                "If auto-recovery is consistently unable to recover the host, lock and unlock it.",
            ),
            AlarmId::MgmtHeartbeat => (
                format!(
                    "{host} is experiencing a persistent heartbeat loss on its management network."
                ),
                "Check the management network link and switch of the host.",
            ),
            AlarmId::Process => (
                format!("{host} has a monitored process that failed beyond its allowed restarts."),
                "Check the process named in the alarm and its logs on the host; \
                 lock and unlock the host if it does not recover.",
            ),
            AlarmId::ClusterHeartbeat => (
                format!(
                    "{host} is experiencing a persistent heartbeat loss on its cluster network."
                ),
                "Check the cluster network link and switch of the host.",
            ),
            AlarmId::BmcAccess => (
                format!("Access to the board management controller of {host} has been lost."),
                "Check the BMC address, credentials and network; re-provision the BMC if needed.",
            ),
            AlarmId::Config => (
                format!("{host} experienced a configuration failure."),
                "Lock and unlock the host; if the failure persists, reinstall it.",
            ),
            AlarmId::ComputeFunction => (
                format!("{host} compute (worker) subfunction failed."),
                "Lock and unlock the host to retry its worker subfunction.",
            ),
            AlarmId::Luks => (
                format!("{host} encrypted volume failed."),
                "Lock and unlock the host; reinstall it if the failure persists.",
            ),
        }
    }
}

impl AlarmId {
    /// The port alarm (one port down) and the interface alarm (some or all of its ports down) of
    /// a monitored network.
    pub const fn link_alarms(network: LinkNetwork) -> (AlarmId, AlarmId) {
        match network {
            LinkNetwork::Oam => (AlarmId::OamPort, AlarmId::OamInterface),
            LinkNetwork::Mgmt => (AlarmId::MgmtPort, AlarmId::MgmtInterface),
            LinkNetwork::Cluster => (AlarmId::ClusterPort, AlarmId::ClusterInterface),
        }
    }

    fn link_network_name(self) -> &'static str {
        match self {
            AlarmId::OamPort | AlarmId::OamInterface => "OAM",
            AlarmId::MgmtPort | AlarmId::MgmtInterface => "management",
            _ => "cluster",
        }
    }
}

impl fmt::Display for AlarmId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Minor,
    Major,
    Critical,
}

/// An alarm raised against a host entity (`host=NAME`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alarm {
    pub id: AlarmId,
    pub host: String,
    pub severity: Severity,
    pub reason: String,
    pub repair: String,
}

impl Alarm {
    pub fn entity(&self) -> String {
        format!("host={}", self.host)
    }
}

/// The customer-log ids (events that are not alarms).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogId {
    /// 200.020: host add, heartbeat loss (with the unanswered pulses), MNFA enter/exit.
    #[serde(rename = "200.020")]
    Event,
    /// 200.021: commands (unlock, lock, reboot, reset, power, reinstall, delete, swact, BMC provisioning).
    #[serde(rename = "200.021")]
    Command,
    /// 200.022: state changes (enabled, disabled, online, offline, failed, reinstall result).
    #[serde(rename = "200.022")]
    StateChange,
    /// 200.024: configuration changes.
    #[serde(rename = "200.024")]
    ConfigChange,
    /// 200.007: a sensor's readings (transient, flapping, log action, back to ok, suppression);
    /// docs/sensors.md.
    #[serde(rename = "200.007")]
    Sensor,
    /// 200.014: the host's sensor model (learned, relearned).
    #[serde(rename = "200.014")]
    SensorProfile,
    /// 200.015: a sensor group or the host's sensor settings (actions, suppression, audit interval).
    #[serde(rename = "200.015")]
    SensorGroup,
}

impl LogId {
    pub const fn code(self) -> &'static str {
        match self {
            LogId::Event => "200.020",
            LogId::Command => "200.021",
            LogId::StateChange => "200.022",
            LogId::ConfigChange => "200.024",
            LogId::Sensor => "200.007",
            LogId::SensorProfile => "200.014",
            LogId::SensorGroup => "200.015",
        }
    }
}

/// One customer log line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerLog {
    pub id: LogId,
    pub host: String,
    pub text: String,
    pub critical: bool,
}

/// A change to the active alarm set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum AlarmChange {
    Raise(Alarm),
    Clear { id: AlarmId, host: String },
}

/// The active alarms the core believes in. Keyed by (id, host); each keeps its severity and, for
/// alarms raised with their own reason text, that text.
#[derive(Clone, Debug, Default)]
pub struct AlarmBook {
    active: BTreeMap<(AlarmId, String), (Severity, Option<String>)>,
}

impl AlarmBook {
    /// Record an alarm found in the store at start, without emitting anything. Its reason is not
    /// kept: a raise with its own reason at the same severity after a restart stays silent.
    pub fn preload(&mut self, id: AlarmId, host: &str, severity: Severity) {
        self.active.insert((id, host.to_string()), (severity, None));
    }

    pub fn is_active(&self, id: AlarmId, host: &str) -> bool {
        self.active.contains_key(&(id, host.to_string()))
    }

    pub fn severity(&self, id: AlarmId, host: &str) -> Option<Severity> {
        self.active.get(&(id, host.to_string())).map(|(s, _)| *s)
    }

    /// Returns the change to emit, if any. A raise at a new severity replaces the old one.
    pub fn raise(&mut self, id: AlarmId, host: &str, severity: Severity) -> Option<AlarmChange> {
        self.raise_inner(id, host, severity, None)
    }

    /// A raise whose reason names what is wrong (the mount point, the ports down): a change of
    /// reason at the same severity is emitted too, so the alarm list never shows a stale one.
    pub fn raise_with_reason(
        &mut self,
        id: AlarmId,
        host: &str,
        severity: Severity,
        reason: String,
    ) -> Option<AlarmChange> {
        self.raise_inner(id, host, severity, Some(reason))
    }

    fn raise_inner(
        &mut self,
        id: AlarmId,
        host: &str,
        severity: Severity,
        reason: Option<String>,
    ) -> Option<AlarmChange> {
        let key = (id, host.to_string());
        if let Some((sev, known)) = self.active.get(&key) {
            let same_reason = known.is_none() || *known == reason;
            if *sev == severity && same_reason {
                return None;
            }
        }
        self.active.insert(key, (severity, reason.clone()));
        let (canned, repair) = id.text(host);
        Some(AlarmChange::Raise(Alarm {
            id,
            host: host.to_string(),
            severity,
            reason: reason.unwrap_or(canned),
            repair: repair.to_string(),
        }))
    }

    pub fn clear(&mut self, id: AlarmId, host: &str) -> Option<AlarmChange> {
        self.active
            .remove(&(id, host.to_string()))
            .map(|_| AlarmChange::Clear {
                id,
                host: host.to_string(),
            })
    }

    /// Every alarm of a host, for deletion.
    pub fn clear_host(&mut self, host: &str) -> Vec<AlarmChange> {
        let ids: Vec<AlarmId> = self
            .active
            .keys()
            .filter(|(_, h)| h == host)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.clear(id, host))
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (AlarmId, &str, Severity)> {
        self.active
            .iter()
            .map(|((id, h), (s, _))| (*id, h.as_str(), *s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_and_clear_exactly_once() {
        let mut b = AlarmBook::default();
        assert!(b.raise(AlarmId::Enable, "w0", Severity::Critical).is_some());
        assert!(b.raise(AlarmId::Enable, "w0", Severity::Critical).is_none());
        assert!(
            b.raise(AlarmId::Enable, "w0", Severity::Major).is_some(),
            "severity change re-raises"
        );
        assert!(b.clear(AlarmId::Enable, "w0").is_some());
        assert!(b.clear(AlarmId::Enable, "w0").is_none());
    }

    #[test]
    fn a_new_reason_re_raises_but_a_preloaded_alarm_stays_quiet() {
        let mut b = AlarmBook::default();
        let r = |t: &str| t.to_string();
        assert!(b
            .raise_with_reason(AlarmId::Filesystem, "w0", Severity::Major, r("/var full"))
            .is_some());
        assert!(b
            .raise_with_reason(AlarmId::Filesystem, "w0", Severity::Major, r("/var full"))
            .is_none());
        assert!(b
            .raise_with_reason(AlarmId::Filesystem, "w0", Severity::Major, r("/log full"))
            .is_some());
        b.preload(AlarmId::MgmtPort, "w1", Severity::Major);
        assert!(b
            .raise_with_reason(AlarmId::MgmtPort, "w1", Severity::Major, r("eth0 down"))
            .is_none());
    }
}
