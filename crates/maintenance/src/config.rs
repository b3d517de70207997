//! Every timeout and threshold of the maintenance core (docs/config.md lists each key).
//!
//! Loaded from the `[maintenance]` part of the controller's TOML file. Durations are written in seconds
//! (fractions allowed, so the lab's `--fast` mode can scale them down). Unknown keys are refused with their
//! name, and so are the keys that must be present (`goenabled_timeout`,
//! `loc_recovery_timeout`; docs/config.md#loading-rules).

use crate::host::{check_image_url, InstallMethod};
use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

/// What to do when a host loses heartbeat (the operator's switch during network maintenance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeartbeatFailureAction {
    /// Fail the host and recover it (the default).
    Fail,
    /// Only degrade it.
    Degrade,
    /// Only raise the heartbeat alarm.
    Alarm,
    /// Do nothing.
    None,
}

/// A duration written in (possibly fractional) seconds in the TOML file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Seconds(#[serde(serialize_with = "ser_secs")] pub Duration);

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() || !(0.0..=86_400.0 * 7.0).contains(&v) {
            return Err(serde::de::Error::custom(format!(
                "{v} is not a duration in seconds between 0 and one week"
            )));
        }
        Ok(Seconds(Duration::from_millis((v * 1000.0).round() as u64)))
    }
}

const fn s(secs: u64) -> Seconds {
    Seconds(Duration::from_secs(secs))
}
const fn ms(millis: u64) -> Seconds {
    Seconds(Duration::from_millis(millis))
}

/// Timers of the host state machines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// Delay before the add handler starts on a newly added host.
    pub host_add_delay: Seconds,
    /// The node agent's alive-report period; sizes the graceful-recovery window.
    pub alive_period: Seconds,
    /// Offline audit: one request per period, `offline_threshold` silent periods mean offline.
    pub offline_period: Seconds,
    /// Online audit period; three silent periods mean offline.
    pub online_period: Seconds,
    /// Graceful recovery: how long to wait for the host to speak again before rebooting it.
    pub loc_recovery_timeout: Seconds,
    /// Heartbeat soak at the end of add, enable and recovery.
    pub heartbeat_soak: Seconds,
    /// Wait for the first alive report after a reboot (controllers).
    pub controller_boot_timeout: Seconds,
    /// Wait for the first alive report after a reboot (workers and storage).
    pub worker_boot_timeout: Seconds,
    /// Go-enabled self tests on the node.
    pub goenabled_timeout: Seconds,
    /// Host services start/stop scripts on the node.
    pub host_services_timeout: Seconds,
    /// AIO worker subfunction configuration.
    pub worker_config_timeout: Seconds,
    /// Acknowledgement of a command sent to a node.
    pub command_ack_timeout: Seconds,
    /// How long a BMC query (power status, boot device) may take, queueing behind the BMC's other
    /// operations included.
    pub bmc_query_timeout: Seconds,
    /// How long a BMC power action may take to be confirmed by read-back (above the BMC workers'
    /// own power timeout, so the core does not give up on an action that is still running).
    pub bmc_action_timeout: Seconds,
    /// Kdump grace between the last unanswered reboot and the BMC reset.
    pub bmc_reset_delay: Seconds,
    /// Pause between reset progressions of a failing enable.
    pub recovery_delay: Seconds,
    /// Swact completion.
    pub swact_timeout: Seconds,
    /// BMC power action retry waits.
    pub power_on_retry_wait: Seconds,
    pub power_off_retry_wait: Seconds,
    pub bmc_inaccessible_retry_wait: Seconds,
    /// Waits for the host to reach offline/online after a reset, power-off or power-on.
    pub reset_offline_timeout: Seconds,
    pub power_off_offline_timeout: Seconds,
    pub power_on_online_timeout: Seconds,
    /// Powercycle (critical sensor) pacing.
    pub powercycle_cooloff: Seconds,
    pub powercycle_holdoff: Seconds,
    pub powercycle_recovery_monitor: Seconds,
    /// Reinstall: wait for BMC access, then for the fresh install to come online.
    pub reinstall_bmc_access_wait: Seconds,
    pub node_reinstall_timeout: Seconds,
    /// Reinstall: how long one virtual-media or boot-override request to the BMC may take
    /// (eject, insert, one-time boot), queueing included.
    pub reinstall_media_timeout: Seconds,
    /// Reinstall: how long the BMC may take to mount an inserted image (read back every
    /// `reinstall_mount_poll`) before the reinstall fails.
    pub reinstall_mount_timeout: Seconds,
    pub reinstall_mount_poll: Seconds,
    /// How long outcome task lines ("Reset Completed") stay visible.
    pub task_display: Seconds,
    /// Dead office recovery: controller uptime below this at start means a site power loss.
    pub dor_mode_detect: Seconds,
    /// Dead office recovery window (plus one second per enabled host).
    pub dor_mode_timeout: Seconds,
    /// MNFA auto-exit; 0 means never time out.
    pub mnfa_timeout: Seconds,
    /// Periodic audits.
    pub insv_test_period: Seconds,
    pub oos_test_period: Seconds,
    /// BMC not accessible for this long raises alarm 200.010.
    pub bmc_access_alarm_delay: Seconds,
    /// Power applied less than this long ago skips the reset progression of an enable.
    pub recent_power_on: Seconds,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            host_add_delay: s(20),
            alive_period: s(5),
            offline_period: ms(100),
            online_period: s(7),
            loc_recovery_timeout: s(5),
            heartbeat_soak: s(11),
            controller_boot_timeout: s(1200),
            worker_boot_timeout: s(720),
            goenabled_timeout: s(600),
            host_services_timeout: s(300),
            worker_config_timeout: s(840),
            command_ack_timeout: s(10),
            bmc_query_timeout: s(30),
            bmc_action_timeout: s(200),
            bmc_reset_delay: s(300),
            recovery_delay: s(16),
            swact_timeout: s(120),
            power_on_retry_wait: s(5),
            power_off_retry_wait: s(30),
            bmc_inaccessible_retry_wait: s(30),
            reset_offline_timeout: s(150),
            power_off_offline_timeout: s(200),
            power_on_online_timeout: s(900),
            powercycle_cooloff: s(300),
            powercycle_holdoff: s(300),
            powercycle_recovery_monitor: s(900),
            reinstall_bmc_access_wait: s(600),
            node_reinstall_timeout: s(2400),
            reinstall_media_timeout: s(60),
            reinstall_mount_timeout: s(120),
            reinstall_mount_poll: s(5),
            task_display: s(30),
            dor_mode_detect: s(1200),
            dor_mode_timeout: s(1000),
            mnfa_timeout: s(0),
            insv_test_period: s(10),
            oos_test_period: s(300),
            bmc_access_alarm_delay: s(120),
            recent_power_on: s(120),
        }
    }
}

/// Counts and thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Offline audit: consecutive silent periods that mean offline.
    pub offline_threshold: u32,
    /// Unanswered reboot commands before the BMC reset.
    pub reboot_tries_before_bmc: u32,
    /// Reboot retries of the reboot action.
    pub reboot_action_retries: u32,
    /// BMC action and status retry budgets.
    pub power_action_retries: u32,
    pub power_status_retries: u32,
    pub reset_action_retries: u32,
    /// Critical-sensor power cycles before the host is powered down for good.
    pub powercycle_max_attempts: u32,
    /// Graceful recoveries in a row before a full enable (reboot) is forced.
    pub max_fast_enables: u32,
    /// Auto-recovery: failures of one cause beyond this disable auto-recovery (the 3rd with 2).
    pub ar_config_threshold: u32,
    pub ar_goenable_threshold: u32,
    pub ar_services_threshold: u32,
    pub ar_heartbeat_threshold: u32,
    pub ar_luks_threshold: u32,
    /// Auto-recovery retry intervals per cause.
    pub ar_config_interval: Seconds,
    pub ar_goenable_interval: Seconds,
    pub ar_services_interval: Seconds,
    pub ar_heartbeat_interval: Seconds,
    pub ar_luks_interval: Seconds,
    /// Hosts losing heartbeat together that enter multi-node failure avoidance.
    pub mnfa_threshold: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            offline_threshold: 90,
            reboot_tries_before_bmc: 5,
            reboot_action_retries: 5,
            power_action_retries: 5,
            power_status_retries: 10,
            reset_action_retries: 10,
            powercycle_max_attempts: 3,
            max_fast_enables: 5,
            ar_config_threshold: 2,
            ar_goenable_threshold: 2,
            ar_services_threshold: 2,
            ar_heartbeat_threshold: 2,
            ar_luks_threshold: 2,
            ar_config_interval: s(30),
            ar_goenable_interval: s(30),
            ar_services_interval: s(30),
            ar_heartbeat_interval: s(600),
            ar_luks_interval: s(30),
            mnfa_threshold: 2,
        }
    }
}

/// Policy switches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub heartbeat_failure_action: HeartbeatFailureAction,
    /// Cluster-network heartbeat loss only degrades the host.
    pub cluster_degrade_only: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            heartbeat_failure_action: HeartbeatFailureAction::Fail,
            cluster_degrade_only: false,
        }
    }
}

/// Heartbeat pulses (docs/heartbeat.md): period, miss thresholds per host and network, and
/// the controller's own lateness guard. Not scaled by the lab's `--fast`: pulses run at real speed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HeartbeatTimings {
    /// One pulse per network every this many milliseconds.
    pub period_ms: u64,
    /// Consecutive misses that raise minor (management network only).
    pub minor_threshold: u32,
    /// Consecutive misses that degrade the host (alarm major).
    pub degrade_threshold: u32,
    /// Consecutive misses that lose the host on that network (alarm critical).
    pub loss_threshold: u32,
    /// Consecutive answered pulses that clear a loss (with `policy.cluster_degrade_only`, a cluster
    /// loss clears on the first answered pulse).
    pub clear_after_loss: u32,
    /// How late (beyond one period) the controller's own loop may close a round and still count its
    /// misses; a later round is not held against the hosts.
    pub lateness_tolerance_ms: u64,
    /// In multi-node failure avoidance pulses go out every `period_ms × mnfa_backoff_factor`.
    pub mnfa_backoff_factor: u32,
}

impl Default for HeartbeatTimings {
    fn default() -> Self {
        HeartbeatTimings {
            period_ms: 100,
            minor_threshold: 4,
            degrade_threshold: 6,
            loss_threshold: 10,
            clear_after_loss: 10,
            lateness_tolerance_ms: 50,
            mnfa_backoff_factor: 4,
        }
    }
}

impl HeartbeatTimings {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key, reason: &str| {
            Err(ConfigError::Invalid {
                key,
                reason: reason.into(),
            })
        };
        if !(10..=10_000).contains(&self.period_ms) {
            return bad("heartbeat.period_ms", "must be 10..=10000 milliseconds");
        }
        if self.minor_threshold == 0 || self.minor_threshold > self.degrade_threshold {
            return bad(
                "heartbeat.minor_threshold",
                "must be at least 1 and at most heartbeat.degrade_threshold",
            );
        }
        if self.degrade_threshold > self.loss_threshold {
            return bad(
                "heartbeat.degrade_threshold",
                "must be at most heartbeat.loss_threshold",
            );
        }
        if self.loss_threshold > 1_000 {
            return bad("heartbeat.loss_threshold", "must be at most 1000");
        }
        if !(1..=1_000).contains(&self.clear_after_loss) {
            return bad("heartbeat.clear_after_loss", "must be 1..=1000");
        }
        if self.lateness_tolerance_ms >= self.period_ms.saturating_mul(self.loss_threshold.into()) {
            return bad(
                "heartbeat.lateness_tolerance_ms",
                "must be less than period_ms × loss_threshold (or no loss could ever be seen)",
            );
        }
        if !(1..=100).contains(&self.mnfa_backoff_factor) {
            return bad("heartbeat.mnfa_backoff_factor", "must be 1..=100");
        }
        Ok(())
    }
}

/// Reinstall defaults for hosts whose `install_method` / `install_image` are not set
/// (docs/handlers.md#reinstall).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstallDefaults {
    /// Method for hosts with a Redfish (or dynamic) BMC. `virtual-media` is used only when the
    /// host has an image (its own or `image`); without one such hosts boot PXE once.
    pub redfish_method: InstallMethod,
    /// Method for hosts with an IPMI BMC: `pxe` or `agent` (IPMI has no virtual media).
    pub ipmi_method: InstallMethod,
    /// The install image URL for hosts that have none of their own; empty: none.
    pub image: String,
}

impl Default for InstallDefaults {
    fn default() -> Self {
        InstallDefaults {
            redfish_method: InstallMethod::VirtualMedia,
            ipmi_method: InstallMethod::Pxe,
            image: String::new(),
        }
    }
}

/// The whole maintenance configuration.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub timeouts: Timeouts,
    pub thresholds: Thresholds,
    pub policy: Policy,
    pub heartbeat: HeartbeatTimings,
    pub pxeboot: crate::pxeboot::PxebootMonitorConfig,
    pub install: InstallDefaults,
}

/// A configuration the core refuses to start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration is not valid TOML or has a wrong key: {0}")]
    Parse(String),
    #[error("required key `{0}` is missing; add it to the configuration (reference default: {1})")]
    Missing(&'static str, &'static str),
    #[error("key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// Keys that must be written out: StarlingX aborts without them rather than guess
/// (docs/config.md#loading-rules).
const REQUIRED: &[(&str, &str, &str)] = &[
    ("timeouts", "goenabled_timeout", "600"),
    ("timeouts", "loc_recovery_timeout", "5"),
];

impl Config {
    /// Parse and validate a TOML document. Errors name the offending key.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse(e.to_string()))?;
        for (section, key, default) in REQUIRED {
            let present = table
                .get(*section)
                .and_then(|t| t.as_table())
                .is_some_and(|t| t.contains_key(*key));
            if !present {
                let full: &'static str = match *key {
                    "goenabled_timeout" => "timeouts.goenabled_timeout",
                    _ => "timeouts.loc_recovery_timeout",
                };
                return Err(ConfigError::Missing(full, default));
            }
        }
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The configuration rendered as TOML, for `steward controller --print-config`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Check ranges; called by `from_toml` and by drivers that build a config in code.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let t = &self.timeouts;
        let positive: [(&'static str, Seconds); 19] = [
            (
                "timeouts.reinstall_media_timeout",
                t.reinstall_media_timeout,
            ),
            (
                "timeouts.reinstall_mount_timeout",
                t.reinstall_mount_timeout,
            ),
            ("timeouts.reinstall_mount_poll", t.reinstall_mount_poll),
            ("timeouts.bmc_query_timeout", t.bmc_query_timeout),
            ("timeouts.bmc_action_timeout", t.bmc_action_timeout),
            ("timeouts.alive_period", t.alive_period),
            ("timeouts.offline_period", t.offline_period),
            ("timeouts.online_period", t.online_period),
            ("timeouts.loc_recovery_timeout", t.loc_recovery_timeout),
            (
                "timeouts.controller_boot_timeout",
                t.controller_boot_timeout,
            ),
            ("timeouts.worker_boot_timeout", t.worker_boot_timeout),
            ("timeouts.goenabled_timeout", t.goenabled_timeout),
            ("timeouts.host_services_timeout", t.host_services_timeout),
            ("timeouts.command_ack_timeout", t.command_ack_timeout),
            ("timeouts.reset_offline_timeout", t.reset_offline_timeout),
            (
                "timeouts.power_off_offline_timeout",
                t.power_off_offline_timeout,
            ),
            (
                "timeouts.power_on_online_timeout",
                t.power_on_online_timeout,
            ),
            ("timeouts.insv_test_period", t.insv_test_period),
            ("timeouts.oos_test_period", t.oos_test_period),
        ];
        for (key, v) in positive {
            if v.0.is_zero() {
                return Err(ConfigError::Invalid {
                    key,
                    reason: "must be greater than 0".into(),
                });
            }
        }
        if t.swact_timeout.0 < Duration::from_secs(60) {
            return Err(ConfigError::Invalid {
                key: "timeouts.swact_timeout",
                reason: "must be at least 60 seconds".into(),
            });
        }
        if t.node_reinstall_timeout.0 < Duration::from_secs(60)
            || t.node_reinstall_timeout.0 > Duration::from_secs(4 * 3600)
        {
            return Err(ConfigError::Invalid {
                key: "timeouts.node_reinstall_timeout",
                reason: "must be between 60 seconds and 4 hours".into(),
            });
        }
        if self.install.ipmi_method == InstallMethod::VirtualMedia {
            return Err(ConfigError::Invalid {
                key: "install.ipmi_method",
                reason: "IPMI has no virtual media; use pxe or agent".into(),
            });
        }
        if !self.install.image.is_empty() {
            if let Err(reason) = check_image_url(&self.install.image) {
                return Err(ConfigError::Invalid {
                    key: "install.image",
                    reason,
                });
            }
        }
        let th = &self.thresholds;
        if th.offline_threshold == 0 {
            return Err(ConfigError::Invalid {
                key: "thresholds.offline_threshold",
                reason: "must be at least 1".into(),
            });
        }
        if th.mnfa_threshold < 2 {
            return Err(ConfigError::Invalid {
                key: "thresholds.mnfa_threshold",
                reason: "must be at least 2 (one failing host is never a multi-node failure)"
                    .into(),
            });
        }
        self.heartbeat.validate()?;
        self.pxeboot.validate()
    }

    /// The configuration with every timer divided by `factor` (the lab's `--fast` mode). Counts
    /// stay.
    pub fn scaled(&self, factor: u32) -> Config {
        let mut c = self.clone();
        let f = factor.max(1);
        let t = &mut c.timeouts;
        for d in [
            &mut t.host_add_delay,
            &mut t.alive_period,
            &mut t.online_period,
            &mut t.loc_recovery_timeout,
            &mut t.heartbeat_soak,
            &mut t.controller_boot_timeout,
            &mut t.worker_boot_timeout,
            &mut t.goenabled_timeout,
            &mut t.host_services_timeout,
            &mut t.worker_config_timeout,
            &mut t.command_ack_timeout,
            &mut t.bmc_query_timeout,
            &mut t.bmc_action_timeout,
            &mut t.bmc_reset_delay,
            &mut t.recovery_delay,
            &mut t.power_on_retry_wait,
            &mut t.power_off_retry_wait,
            &mut t.bmc_inaccessible_retry_wait,
            &mut t.reset_offline_timeout,
            &mut t.power_off_offline_timeout,
            &mut t.power_on_online_timeout,
            &mut t.powercycle_cooloff,
            &mut t.powercycle_holdoff,
            &mut t.powercycle_recovery_monitor,
            &mut t.reinstall_bmc_access_wait,
            &mut t.reinstall_media_timeout,
            &mut t.reinstall_mount_timeout,
            &mut t.reinstall_mount_poll,
            &mut t.task_display,
            &mut t.insv_test_period,
            &mut t.oos_test_period,
            &mut t.bmc_access_alarm_delay,
            &mut t.recent_power_on,
        ] {
            d.0 /= f;
        }
        for d in [
            &mut c.thresholds.ar_config_interval,
            &mut c.thresholds.ar_goenable_interval,
            &mut c.thresholds.ar_services_interval,
            &mut c.thresholds.ar_heartbeat_interval,
            &mut c.thresholds.ar_luks_interval,
        ] {
            d.0 /= f;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[timeouts]\ngoenabled_timeout = 600\nloc_recovery_timeout = 5\n";

    #[test]
    fn minimal_file_gives_the_documented_defaults() {
        let c = Config::from_toml(MINIMAL).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.timeouts.bmc_reset_delay.0, Duration::from_secs(300));
        assert_eq!(
            c.thresholds.ar_heartbeat_interval.0,
            Duration::from_secs(600)
        );
    }

    #[test]
    fn missing_required_key_is_named() {
        let e = Config::from_toml("[timeouts]\nloc_recovery_timeout = 5\n").unwrap_err();
        assert!(e.to_string().contains("timeouts.goenabled_timeout"), "{e}");
        let e = Config::from_toml("").unwrap_err();
        assert!(e.to_string().contains("goenabled_timeout"), "{e}");
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::from_toml(&format!("{MINIMAL}bogus_timer = 3\n")).unwrap_err();
        assert!(e.to_string().contains("bogus_timer"), "{e}");
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::from_toml(&format!("{MINIMAL}swact_timeout = 20\n")).unwrap_err();
        assert!(e.to_string().contains("timeouts.swact_timeout"), "{e}");
        let e = Config::from_toml(&format!("{MINIMAL}online_period = -1\n")).unwrap_err();
        assert!(e.to_string().contains("online_period"), "{e}");
        let e =
            Config::from_toml(&format!("{MINIMAL}[thresholds]\nmnfa_threshold = 1\n")).unwrap_err();
        assert!(e.to_string().contains("thresholds.mnfa_threshold"), "{e}");
        let e = Config::from_toml(&format!(
            "{MINIMAL}[policy]\nheartbeat_failure_action = \"explode\"\n"
        ))
        .unwrap_err();
        assert!(e.to_string().contains("explode"), "{e}");
    }

    #[test]
    fn rendered_defaults_parse_back() {
        let c = Config::default();
        assert_eq!(Config::from_toml(&c.to_toml()).unwrap(), c);
    }

    #[test]
    fn heartbeat_table_is_read_and_checked_naming_the_key() {
        let c = Config::from_toml(&format!(
            "{MINIMAL}[heartbeat]\nperiod_ms = 200\nloss_threshold = 12\n"
        ))
        .unwrap();
        assert_eq!(c.heartbeat.period_ms, 200);
        assert_eq!(c.heartbeat.loss_threshold, 12);
        assert_eq!(c.heartbeat.minor_threshold, 4);
        for (table, key) in [
            ("period_ms = 0", "heartbeat.period_ms"),
            ("minor_threshold = 7", "heartbeat.minor_threshold"),
            ("degrade_threshold = 11", "heartbeat.degrade_threshold"),
            ("clear_after_loss = 0", "heartbeat.clear_after_loss"),
            (
                "lateness_tolerance_ms = 1000",
                "heartbeat.lateness_tolerance_ms",
            ),
            ("mnfa_backoff_factor = 0", "heartbeat.mnfa_backoff_factor"),
        ] {
            let e = Config::from_toml(&format!("{MINIMAL}[heartbeat]\n{table}\n")).unwrap_err();
            assert!(e.to_string().contains(key), "{table}: {e}");
        }
        let e = Config::from_toml(&format!("{MINIMAL}[heartbeat]\nperiod = 100\n")).unwrap_err();
        assert!(e.to_string().contains("period"), "{e}");
    }

    #[test]
    fn fractional_seconds_allowed() {
        let c =
            Config::from_toml("[timeouts]\ngoenabled_timeout = 0.5\nloc_recovery_timeout = 0.25\n")
                .unwrap();
        assert_eq!(c.timeouts.goenabled_timeout.0, Duration::from_millis(500));
    }
}
