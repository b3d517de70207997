//! The sensor side of the controller handle: list and show a host's sensors and groups, change their
//! actions, suppression, thresholds and audit interval, and ask for a relearn (docs/sensors.md). Every
//! answer comes from the actor's monitors; every change is durable before it is acknowledged.

use crate::actor::Actor;
use crate::handle::{Command, ControllerHandle, HandleError, Reply};
use crate::sensor_audit::StoredSensorAlarm;
use std::time::Duration;
use steward_bmc::SelRecord;
use steward_sensors::{
    Action, ActionOverrides, ConfigChange, GroupKind, GroupRecord, SensorMonitor, SensorRecord,
    Thresholds,
};
use tokio::sync::oneshot;

/// One sensor as the API shows it (sysinv `isensor`).
#[derive(Clone, Debug, PartialEq)]
pub struct SensorView {
    pub host: String,
    pub host_uuid: String,
    /// Stable: derived from the host's uuid and the sensor's name.
    pub uuid: String,
    pub group_uuid: String,
    pub record: SensorRecord,
    /// The last value read, if any.
    pub value: Option<f64>,
    /// The host's audit interval, seconds.
    pub audit_interval_secs: u64,
    /// Wall-clock time of the host's last completed read (ms since the epoch), 0 if none yet.
    pub read_at_ms: u64,
}

/// One sensor group as the API shows it (sysinv `isensorgroup`).
#[derive(Clone, Debug, PartialEq)]
pub struct GroupView {
    pub host: String,
    pub host_uuid: String,
    pub uuid: String,
    pub record: GroupRecord,
    /// Names of the group's sensors.
    pub sensors: Vec<String>,
    /// `audit_interval_group`: one value per host, seconds.
    pub audit_interval_secs: u64,
    /// Whether reset and power-cycle may be chosen for critical.
    pub destructive_allowed: bool,
}

/// Every sensor and group of one host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSensorsView {
    pub host: String,
    pub host_uuid: String,
    /// False when the host has no BMC provisioned (nothing is read).
    pub monitored: bool,
    pub sensors: Vec<SensorView>,
    pub groups: Vec<GroupView>,
}

/// A change to one sensor; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SensorPatch {
    pub suppress: Option<bool>,
    /// Per-severity overrides of the group's actions (replaces the sensor's overrides when set).
    pub actions: Option<ActionOverrides>,
    pub thresholds: Option<Thresholds>,
}

/// A change to one group; `None` leaves a setting as it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GroupPatch {
    pub suppress: Option<bool>,
    pub minor: Option<Action>,
    pub major: Option<Action>,
    pub critical: Option<Action>,
    /// `audit_interval_group`: changes the interval of every group of the host.
    pub audit_interval: Option<Duration>,
    pub thresholds: Option<Thresholds>,
}

pub(crate) enum SensorCommand {
    Host(String, Reply<Result<HostSensorsView, HandleError>>),
    Sensor(String, Reply<Option<SensorView>>),
    Group(String, Reply<Option<GroupView>>),
    PatchSensor(String, SensorPatch, Reply<Result<SensorView, HandleError>>),
    PatchGroup(String, GroupPatch, Reply<Result<GroupView, HandleError>>),
    Relearn(String, Reply<Result<(), HandleError>>),
    ReadNow(String, Reply<bool>),
    Alarms(Reply<Vec<StoredSensorAlarm>>),
    EventLog(String, Reply<Result<EventLogAnswer, HandleError>>),
}

/// Where the BMC link will answer an event-log read.
pub(crate) type EventLogAnswer = oneshot::Receiver<Result<Vec<SelRecord>, String>>;

impl ControllerHandle {
    /// Every sensor and group of a host (hostname, uuid or integer id).
    pub async fn host_sensors(&self, host: &str) -> Result<HostSensorsView, HandleError> {
        self.call(|r| Command::Sensors(SensorCommand::Host(host.to_string(), r)))
            .await?
    }

    /// One sensor by uuid.
    pub async fn sensor(&self, uuid: &str) -> Result<Option<SensorView>, HandleError> {
        self.call(|r| Command::Sensors(SensorCommand::Sensor(uuid.to_string(), r)))
            .await
    }

    /// One sensor group by uuid.
    pub async fn sensor_group(&self, uuid: &str) -> Result<Option<GroupView>, HandleError> {
        self.call(|r| Command::Sensors(SensorCommand::Group(uuid.to_string(), r)))
            .await
    }

    /// Change a sensor's suppression, action overrides or thresholds.
    pub async fn patch_sensor(
        &self,
        uuid: &str,
        patch: SensorPatch,
    ) -> Result<SensorView, HandleError> {
        self.call(|r| Command::Sensors(SensorCommand::PatchSensor(uuid.to_string(), patch, r)))
            .await?
    }

    /// Change a group's actions, suppression, thresholds or the host's audit interval.
    pub async fn patch_sensor_group(
        &self,
        uuid: &str,
        patch: GroupPatch,
    ) -> Result<GroupView, HandleError> {
        self.call(|r| Command::Sensors(SensorCommand::PatchGroup(uuid.to_string(), patch, r)))
            .await?
    }

    /// The active sensor alarms (200.007, 200.014, 200.015), as stored.
    pub async fn sensor_alarms(&self) -> Result<Vec<StoredSensorAlarm>, HandleError> {
        self.call(|r| Command::Sensors(SensorCommand::Alarms(r)))
            .await
    }

    /// Read `host`'s sensors now and once more to confirm (a BMC pushed an event about them; the
    /// periodic audit goes on as before). False when the host is not monitored.
    pub async fn read_sensors_now(&self, host: &str) -> Result<bool, HandleError> {
        self.call(|r| Command::Sensors(SensorCommand::ReadNow(host.to_string(), r)))
            .await
    }

    /// The whole event log (IPMI SEL or Redfish log service) of a host's BMC, oldest first, read
    /// now through the BMC link. `Err(HandleError)`: unknown host or no BMC provisioned; the inner
    /// `Err`: the BMC could not be read, and why.
    pub async fn bmc_event_log(
        &self,
        host: &str,
    ) -> Result<Result<Vec<SelRecord>, String>, HandleError> {
        let answer = self
            .call(|r| Command::Sensors(SensorCommand::EventLog(host.to_string(), r)))
            .await??;
        Ok(answer
            .await
            .unwrap_or_else(|_| Err("the BMC link dropped the read".to_string())))
    }

    /// Learn the host's sensor model again from its next read (due at once).
    pub async fn relearn_sensors(&self, host: &str) -> Result<(), HandleError> {
        self.call(|r| Command::Sensors(SensorCommand::Relearn(host.to_string(), r)))
            .await?
    }
}

/// A stable uuid-shaped id for `what` of the host with uuid `host_uuid` (two FNV-1a hashes; the same
/// sensor keeps its id across restarts and relearns).
pub(crate) fn derived_uuid(host_uuid: &str, what: &str) -> String {
    let hash = |seed: u64| {
        let mut h = seed;
        for b in host_uuid.bytes().chain([0u8]).chain(what.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    };
    let a = hash(0xcbf2_9ce4_8422_2325);
    let b = hash(0x6c62_272e_07bb_0142);
    // Version 8 (custom) and the RFC 4122 variant, so the id parses as a uuid.
    let a = (a & !0xf000) | 0x8000;
    let b = (b & !(0xc << 60)) | (0x8 << 60);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The sensor's last value as read. The history keeps 32-bit samples: shown through their shortest
/// decimal form, 12.1 V reads 12.1 and not 12.100000381469727.
pub(crate) fn last_value(m: &SensorMonitor, name: &str) -> Option<f64> {
    let v = m.history(name)?.last()?.value()?;
    format!("{}", v as f32).parse().ok()
}

fn sensor_view(
    host_uuid: &str,
    m: &SensorMonitor,
    rec: &SensorRecord,
    read_at_ms: u64,
) -> SensorView {
    SensorView {
        host: m.host().to_string(),
        host_uuid: host_uuid.to_string(),
        uuid: derived_uuid(host_uuid, &format!("sensor:{}", rec.name)),
        group_uuid: derived_uuid(host_uuid, &format!("group:{}", rec.group.name())),
        record: rec.clone(),
        value: last_value(m, &rec.name),
        audit_interval_secs: m.audit_interval().as_secs(),
        read_at_ms,
    }
}

fn group_view(host_uuid: &str, m: &SensorMonitor, g: &GroupRecord, destructive: bool) -> GroupView {
    GroupView {
        host: m.host().to_string(),
        host_uuid: host_uuid.to_string(),
        uuid: derived_uuid(host_uuid, &format!("group:{}", g.kind.name())),
        record: g.clone(),
        sensors: m
            .sensors()
            .filter(|s| s.group == g.kind)
            .map(|s| s.name.clone())
            .collect(),
        audit_interval_secs: m.audit_interval().as_secs(),
        destructive_allowed: destructive,
    }
}

impl Actor {
    fn host_uuid(&self, host: &str) -> String {
        self.core
            .host(host)
            .map(|h| h.spec.uuid.clone())
            .unwrap_or_default()
    }

    fn host_sensors_view(&self, host: &str) -> HostSensorsView {
        let host_uuid = self.host_uuid(host);
        let destructive = self.sensor_cfg.destructive_actions_allowed;
        match self.sensors.hosts.get(host) {
            Some(h) => HostSensorsView {
                host: host.to_string(),
                host_uuid: host_uuid.clone(),
                monitored: true,
                sensors: h
                    .monitor
                    .sensors()
                    .map(|s| sensor_view(&host_uuid, &h.monitor, s, h.read_at_ms))
                    .collect(),
                groups: h
                    .monitor
                    .groups()
                    .map(|g| group_view(&host_uuid, &h.monitor, g, destructive))
                    .collect(),
            },
            None => HostSensorsView {
                host: host.to_string(),
                host_uuid,
                monitored: false,
                sensors: Vec::new(),
                groups: Vec::new(),
            },
        }
    }

    /// The host and sensor name of a sensor uuid.
    fn find_sensor(&self, uuid: &str) -> Option<(String, String)> {
        self.sensors.hosts.iter().find_map(|(host, h)| {
            let host_uuid = self.host_uuid(host);
            h.monitor
                .sensors()
                .find(|s| derived_uuid(&host_uuid, &format!("sensor:{}", s.name)) == uuid)
                .map(|s| (host.clone(), s.name.clone()))
        })
    }

    /// The host and group of a group uuid.
    fn find_group(&self, uuid: &str) -> Option<(String, GroupKind)> {
        self.sensors.hosts.iter().find_map(|(host, h)| {
            let host_uuid = self.host_uuid(host);
            h.monitor
                .groups()
                .find(|g| derived_uuid(&host_uuid, &format!("group:{}", g.kind.name())) == uuid)
                .map(|g| (host.clone(), g.kind))
        })
    }

    fn sensor_view_of(&self, host: &str, name: &str) -> Option<SensorView> {
        let h = self.sensors.hosts.get(host)?;
        let rec = h.monitor.sensor(name)?;
        Some(sensor_view(
            &self.host_uuid(host),
            &h.monitor,
            rec,
            h.read_at_ms,
        ))
    }

    fn group_view_of(&self, host: &str, kind: GroupKind) -> Option<GroupView> {
        let h = self.sensors.hosts.get(host)?;
        let g = h.monitor.group(kind)?;
        Some(group_view(
            &self.host_uuid(host),
            &h.monitor,
            g,
            self.sensor_cfg.destructive_actions_allowed,
        ))
    }

    /// Apply operator changes to one host's monitor, all or nothing as far as validation goes: the
    /// first refused change stops the rest (earlier ones stay applied and are persisted).
    fn configure(&mut self, host: &str, changes: Vec<ConfigChange>) -> Result<(), HandleError> {
        let now = self.now();
        let h = self
            .sensors
            .hosts
            .get_mut(host)
            .ok_or_else(|| HandleError::UnknownHost(host.to_string()))?;
        let mut result = Ok(());
        for change in changes {
            if let Err(e) = h.monitor.handle_config(now, change) {
                result = Err(HandleError::Invalid(e.to_string()));
                break;
            }
        }
        self.sensors.touch(host);
        self.flush_then(|_| Ok(()))?;
        result
    }

    pub(crate) fn sensor_command(&mut self, cmd: SensorCommand) {
        match cmd {
            SensorCommand::Host(id, r) => {
                let result = match self.resolve(&id) {
                    Some(host) => Ok(self.host_sensors_view(&host)),
                    None => Err(HandleError::UnknownHost(id)),
                };
                let _ = r.send(result);
            }
            SensorCommand::Sensor(uuid, r) => {
                let view = self
                    .find_sensor(&uuid)
                    .and_then(|(host, name)| self.sensor_view_of(&host, &name));
                let _ = r.send(view);
            }
            SensorCommand::Group(uuid, r) => {
                let view = self
                    .find_group(&uuid)
                    .and_then(|(host, kind)| self.group_view_of(&host, kind));
                let _ = r.send(view);
            }
            SensorCommand::PatchSensor(uuid, patch, r) => {
                let Some((host, name)) = self.find_sensor(&uuid) else {
                    let _ = r.send(Err(HandleError::Invalid(format!(
                        "sensor {uuid} not found; `steward sensor list HOST` shows the sensors"
                    ))));
                    return;
                };
                let mut changes = Vec::new();
                if let Some(suppress) = patch.suppress {
                    changes.push(ConfigChange::SensorSuppress {
                        sensor: name.clone(),
                        suppress,
                    });
                }
                if let Some(overrides) = patch.actions {
                    changes.push(ConfigChange::SensorActions {
                        sensor: name.clone(),
                        overrides,
                    });
                }
                if let Some(thresholds) = patch.thresholds {
                    changes.push(ConfigChange::SensorThresholds {
                        sensor: name.clone(),
                        thresholds,
                    });
                }
                let result = self.configure(&host, changes).and_then(|()| {
                    self.sensor_view_of(&host, &name)
                        .ok_or_else(|| HandleError::Invalid(format!("sensor {uuid} is gone")))
                });
                let _ = r.send(result);
            }
            SensorCommand::PatchGroup(uuid, patch, r) => {
                let Some((host, group)) = self.find_group(&uuid) else {
                    let _ = r.send(Err(HandleError::Invalid(format!(
                        "sensor group {uuid} not found; `steward sensor group list HOST` shows the groups"
                    ))));
                    return;
                };
                let mut changes = Vec::new();
                if patch.minor.is_some() || patch.major.is_some() || patch.critical.is_some() {
                    changes.push(ConfigChange::GroupActions {
                        group,
                        minor: patch.minor,
                        major: patch.major,
                        critical: patch.critical,
                    });
                }
                if let Some(suppress) = patch.suppress {
                    changes.push(ConfigChange::GroupSuppress { group, suppress });
                }
                if let Some(thresholds) = patch.thresholds {
                    changes.push(ConfigChange::GroupThresholds { group, thresholds });
                }
                if let Some(interval) = patch.audit_interval {
                    changes.push(ConfigChange::AuditInterval(interval));
                }
                let result = self.configure(&host, changes).and_then(|()| {
                    self.group_view_of(&host, group)
                        .ok_or_else(|| HandleError::Invalid(format!("sensor group {uuid} is gone")))
                });
                let _ = r.send(result);
            }
            SensorCommand::Alarms(r) => {
                let _ = r.send(self.sensors.alarms.values().cloned().collect());
            }
            SensorCommand::ReadNow(host, r) => {
                let now = self.now();
                let _ = r.send(self.sensors.read_now(now, &host));
            }
            SensorCommand::EventLog(id, r) => {
                let result = match self.resolve(&id) {
                    None => Err(HandleError::UnknownHost(id)),
                    Some(host) if !matches!(self.core.host(&host), Some(h) if h.spec.bmc.is_some()) => {
                        Err(HandleError::Refused(format!(
                            "{host} has no BMC provisioned: there is no event log to read"
                        )))
                    }
                    Some(host) => {
                        let (tx, rx) = oneshot::channel();
                        self.links.bmc.read_event_log(&host, tx);
                        Ok(rx)
                    }
                };
                let _ = r.send(result);
            }
            SensorCommand::Relearn(id, r) => {
                let result = match self.resolve(&id) {
                    None => Err(HandleError::UnknownHost(id)),
                    Some(host) if !self.sensors.hosts.contains_key(&host) => {
                        Err(HandleError::Refused(format!(
                            "{host} has no BMC provisioned: there are no sensors to learn"
                        )))
                    }
                    Some(host) => self.configure(&host, vec![ConfigChange::Relearn]),
                };
                let _ = r.send(result);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{derived_uuid, last_value};
    use steward_maintenance::Instant;
    use steward_sensors::{BmcStatus, MonitorConfig, Reading, ReadingKind, SensorMonitor};

    #[test]
    fn values_show_as_read_not_as_their_32_bit_sample() {
        let now = Instant::from_millis(0);
        let mut m = SensorMonitor::new("w", MonitorConfig::default(), now);
        let r = Reading::new("12V", ReadingKind::Voltage, Some(12.1), BmcStatus::Ok);
        m.handle_reading(now, &[r]);
        assert_eq!(last_value(&m, "12V"), Some(12.1));
        assert_eq!(last_value(&m, "nope"), None);
    }

    #[test]
    fn derived_uuids_are_stable_distinct_and_uuid_shaped() {
        let a = derived_uuid("h-1", "sensor:CPU Temp");
        assert_eq!(a, derived_uuid("h-1", "sensor:CPU Temp"));
        assert_ne!(a, derived_uuid("h-2", "sensor:CPU Temp"));
        assert_ne!(a, derived_uuid("h-1", "sensor:CPU Temp2"));
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert_eq!(&a[14..15], "8");
    }
}
