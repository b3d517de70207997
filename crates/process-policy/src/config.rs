//! One process's monitoring configuration, as read from its TOML file (docs/node-supervision.md#config).

use serde::{Deserialize, Serialize};

/// How bad it is when a process keeps failing beyond its allowed restarts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Alarm 200.006 minor only.
    Minor,
    /// Alarm 200.006 major and the host degraded.
    Major,
    /// The host is failed and recovered by the controller.
    Critical,
}

/// Where the running process's pid is found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// A pid file the process (or its start command) writes.
    Pidfile(String),
    /// A systemd unit: its main pid, and `systemctl` as default start and stop commands.
    Unit(String),
}

/// Configuration of one monitored process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessConfig {
    pub name: String,
    pub target: Target,
    pub severity: Severity,
    /// Failures in a row that are restarted before the process escalates.
    pub restarts: u32,
    /// Wait between a death and the restart, ms.
    pub interval_ms: u64,
    /// Up this long in a row, the process is stable: its failure count starts over, ms.
    pub debounce_ms: u64,
    /// After a start: wait this long before the pid is read and health checks begin, ms.
    pub startup_delay_ms: u64,
    /// Losing this process loses the host's quorum (the watchdog lets the host reboot).
    pub quorum: bool,
    /// Shell command that starts the process (default for a unit: `systemctl start UNIT`).
    pub start: Option<String>,
    /// Shell command that stops it (default: the monitor kills the pid).
    pub stop: Option<String>,
    /// Shell command whose exit status 0 means healthy; none: death detection only.
    pub health: Option<String>,
    /// Period of the health command, ms.
    pub health_interval_ms: u64,
    /// A health command running longer fails, ms.
    pub health_timeout_ms: u64,
}

/// The file format: every duration in milliseconds, most fields optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: String,
    pidfile: Option<String>,
    unit: Option<String>,
    severity: Severity,
    #[serde(default = "default_restarts")]
    restarts: u32,
    #[serde(default = "default_interval")]
    interval_ms: u64,
    #[serde(default = "default_debounce")]
    debounce_ms: u64,
    #[serde(default = "default_startup_delay")]
    startup_delay_ms: u64,
    #[serde(default)]
    quorum: bool,
    start: Option<String>,
    stop: Option<String>,
    health: Option<String>,
    #[serde(default = "default_health_interval")]
    health_interval_ms: u64,
    #[serde(default = "default_health_timeout")]
    health_timeout_ms: u64,
}

fn default_restarts() -> u32 {
    3
}
fn default_interval() -> u64 {
    1_000
}
fn default_debounce() -> u64 {
    20_000
}
fn default_startup_delay() -> u64 {
    1_000
}
fn default_health_interval() -> u64 {
    10_000
}
fn default_health_timeout() -> u64 {
    5_000
}

/// A configuration file that cannot be used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot parse: {0}")]
    Parse(String),
    #[error("process name {0:?} must be 1..=64 characters of [A-Za-z0-9._-]")]
    Name(String),
    #[error("exactly one of `pidfile` and `unit` must be set")]
    Target,
    #[error("a pidfile process needs a `start` command")]
    NoStart,
    #[error("{0} must be greater than 0")]
    Zero(&'static str),
}

impl ProcessConfig {
    /// Parse and check one process file.
    pub fn parse(text: &str) -> Result<ProcessConfig, ConfigError> {
        let f: File = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        let valid_name = !f.name.is_empty()
            && f.name.len() <= 64
            && f.name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !valid_name {
            return Err(ConfigError::Name(f.name));
        }
        let target = match (f.pidfile, f.unit) {
            (Some(p), None) if !p.is_empty() => Target::Pidfile(p),
            (None, Some(u)) if !u.is_empty() => Target::Unit(u),
            _ => return Err(ConfigError::Target),
        };
        if matches!(target, Target::Pidfile(_)) && f.start.is_none() {
            return Err(ConfigError::NoStart);
        }
        // A zero interval would restart a crash-looping process in a busy loop.
        if f.interval_ms == 0 {
            return Err(ConfigError::Zero("interval_ms"));
        }
        if f.health.is_some() && (f.health_interval_ms == 0 || f.health_timeout_ms == 0) {
            return Err(ConfigError::Zero(
                "health_interval_ms and health_timeout_ms",
            ));
        }
        Ok(ProcessConfig {
            name: f.name,
            target,
            severity: f.severity,
            restarts: f.restarts,
            interval_ms: f.interval_ms,
            debounce_ms: f.debounce_ms,
            startup_delay_ms: f.startup_delay_ms,
            quorum: f.quorum,
            start: f.start,
            stop: f.stop,
            health: f.health,
            health_interval_ms: f.health_interval_ms,
            health_timeout_ms: f.health_timeout_ms,
        })
    }

    /// A pidfile process with the defaults, for tests and tools.
    pub fn new(name: &str, pidfile: &str, start: &str, severity: Severity) -> ProcessConfig {
        ProcessConfig {
            name: name.into(),
            target: Target::Pidfile(pidfile.into()),
            severity,
            restarts: default_restarts(),
            interval_ms: default_interval(),
            debounce_ms: default_debounce(),
            startup_delay_ms: default_startup_delay(),
            quorum: false,
            start: Some(start.into()),
            stop: None,
            health: None,
            health_interval_ms: default_health_interval(),
            health_timeout_ms: default_health_timeout(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let c = ProcessConfig::parse(
            r#"
            name = "sm"
            pidfile = "/var/run/sm.pid"
            severity = "critical"
            restarts = 2
            interval_ms = 500
            debounce_ms = 10000
            startup_delay_ms = 200
            quorum = true
            start = "/etc/init.d/sm start"
            stop = "/etc/init.d/sm stop"
            health = "/usr/bin/sm-ping"
            health_interval_ms = 3000
            health_timeout_ms = 1000
            "#,
        )
        .unwrap();
        assert_eq!(c.target, Target::Pidfile("/var/run/sm.pid".into()));
        assert_eq!(c.severity, Severity::Critical);
        assert_eq!((c.restarts, c.interval_ms, c.debounce_ms), (2, 500, 10_000));
        assert!(c.quorum);
        assert_eq!(c.health.as_deref(), Some("/usr/bin/sm-ping"));
    }

    #[test]
    fn a_unit_needs_no_start_command_and_defaults_apply() {
        let c =
            ProcessConfig::parse("name = \"sshd\"\nunit = \"sshd.service\"\nseverity = \"minor\"")
                .unwrap();
        assert_eq!(c.target, Target::Unit("sshd.service".into()));
        assert_eq!((c.restarts, c.interval_ms), (3, 1_000));
        assert!(!c.quorum && c.start.is_none());
    }

    #[test]
    fn bad_files_are_refused_with_a_reason() {
        let both =
            "name = \"a\"\npidfile = \"/p\"\nunit = \"u\"\nseverity = \"major\"\nstart = \"x\"";
        assert_eq!(ProcessConfig::parse(both), Err(ConfigError::Target));
        let none = "name = \"a\"\nseverity = \"major\"";
        assert_eq!(ProcessConfig::parse(none), Err(ConfigError::Target));
        let no_start = "name = \"a\"\npidfile = \"/p\"\nseverity = \"major\"";
        assert_eq!(ProcessConfig::parse(no_start), Err(ConfigError::NoStart));
        let name = "name = \"a b\"\nunit = \"u\"\nseverity = \"major\"";
        assert!(matches!(
            ProcessConfig::parse(name),
            Err(ConfigError::Name(_))
        ));
        let zero = "name = \"a\"\nunit = \"u\"\nseverity = \"major\"\ninterval_ms = 0";
        assert_eq!(
            ProcessConfig::parse(zero),
            Err(ConfigError::Zero("interval_ms"))
        );
        let typo = "name = \"a\"\nunit = \"u\"\nseverity = \"major\"\nrestart = 3";
        assert!(matches!(
            ProcessConfig::parse(typo),
            Err(ConfigError::Parse(_))
        ));
        let sev = "name = \"a\"\nunit = \"u\"\nseverity = \"fatal\"";
        assert!(matches!(
            ProcessConfig::parse(sev),
            Err(ConfigError::Parse(_))
        ));
    }
}
