//! Protocol-independent types: what the rest of steward sees of a BMC.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

use crate::error::BmcError;

/// Which protocol to speak (docs/bmc.md#protocol-selection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BmcProtocol {
    Ipmi,
    Redfish,
    /// Learn: Redfish when the service root answers with RedfishVersion ≥ 1.0, else IPMI.
    Dynamic,
}

impl BmcProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            BmcProtocol::Ipmi => "ipmi",
            BmcProtocol::Redfish => "redfish",
            BmcProtocol::Dynamic => "dynamic",
        }
    }
}

impl fmt::Display for BmcProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BmcProtocol {
    type Err = BmcError;
    fn from_str(s: &str) -> Result<Self, BmcError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ipmi" => Ok(BmcProtocol::Ipmi),
            "redfish" => Ok(BmcProtocol::Redfish),
            // `bmc` is StarlingX's legacy spelling of dynamic.
            "dynamic" | "bmc" => Ok(BmcProtocol::Dynamic),
            other => Err(BmcError::InvalidConfig(format!(
                "unknown BMC protocol '{other}': use ipmi, redfish or dynamic"
            ))),
        }
    }
}

/// True when a `RedfishVersion` string is ≥ 1.0 (docs/bmc.md#protocol-selection).
pub fn redfish_version_supported(v: &str) -> bool {
    let mut parts = v.trim().split('.');
    let major = parts.next().and_then(|m| m.trim().parse::<u32>().ok());
    let minor_ok = parts
        .next()
        .map(|m| m.trim().parse::<u32>().is_ok())
        .unwrap_or(true);
    matches!(major, Some(m) if m >= 1) && minor_ok
}

/// A parsed `[scheme://]host[:port]` BMC address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcAddress {
    /// `http` or `https` when given explicitly (Redfish only).
    pub scheme: Option<String>,
    /// Host name or IP literal, without IPv6 brackets.
    pub host: String,
    pub port: Option<u16>,
}

impl BmcAddress {
    /// Host suitable for a URL (IPv6 literals bracketed).
    pub fn url_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }

    /// Redfish endpoint: the given scheme (default https) and port.
    pub fn redfish_endpoint(&self) -> String {
        let scheme = self.scheme.as_deref().unwrap_or("https");
        match self.port {
            Some(p) => format!("{scheme}://{}:{p}", self.url_host()),
            None => format!("{scheme}://{}", self.url_host()),
        }
    }
}

impl fmt::Display for BmcAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.scheme {
            write!(f, "{s}://")?;
        }
        f.write_str(&self.url_host())?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

/// Parse `ADDR[:PORT]`, `[v6]:PORT`, a bare IPv6 literal, or `http(s)://host[:port][/]`.
pub fn parse_address(s: &str) -> Result<BmcAddress, BmcError> {
    let bad = |why: &str| {
        BmcError::InvalidConfig(format!(
            "invalid BMC address '{s}': {why} (use ADDR[:PORT], [IPv6]:PORT or https://ADDR[:PORT])"
        ))
    };
    let t = s.trim();
    if t.contains('@') {
        // Do not echo the address: it may hold a password.
        return Err(BmcError::InvalidConfig(
            "the BMC address must not embed credentials (user:password@host); give the username and password separately".into(),
        ));
    }
    let (scheme, rest) = match t.split_once("://") {
        Some((sch, rest)) => {
            let sch = sch.to_ascii_lowercase();
            if sch != "http" && sch != "https" {
                return Err(bad("scheme must be http or https"));
            }
            (Some(sch), rest.trim_end_matches('/'))
        }
        None => (None, t),
    };
    if rest.is_empty() {
        return Err(bad("empty address"));
    }
    if rest.contains('/') {
        return Err(bad("no path allowed"));
    }
    let port = |p: &str| p.parse::<u16>().map_err(|_| bad("bad port"));
    let (host, port) = if let Some(r) = rest.strip_prefix('[') {
        let (h, after) = r.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
        match after {
            "" => (h.to_string(), None),
            a => match a.strip_prefix(':') {
                Some(p) => (h.to_string(), Some(port(p)?)),
                None => return Err(bad("junk after ']'")),
            },
        }
    } else if rest.matches(':').count() > 1 {
        // Bare IPv6 literal, no port.
        (rest.to_string(), None)
    } else if let Some((h, p)) = rest.split_once(':') {
        (h.to_string(), Some(port(p)?))
    } else {
        (rest.to_string(), None)
    };
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err(bad("empty or malformed host"));
    }
    Ok(BmcAddress { scheme, host, port })
}

/// Power state as read from the BMC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PowerState {
    On,
    Off,
    PoweringOn,
    PoweringOff,
    /// Anything else the BMC reported, verbatim.
    Unknown(String),
}

impl fmt::Display for PowerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PowerState::On => f.write_str("on"),
            PowerState::Off => f.write_str("off"),
            PowerState::PoweringOn => f.write_str("powering-on"),
            PowerState::PoweringOff => f.write_str("powering-off"),
            PowerState::Unknown(s) => write!(f, "unknown ({s})"),
        }
    }
}

/// What steward asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PowerAction {
    /// Power on; done when On reads back.
    On,
    /// Immediate power off; done when Off reads back.
    Off,
    /// Power cycle (off+on fallback); done when On reads back after the action.
    Cycle,
    /// Hard reset; done when On reads back after the action.
    Reset,
    /// Graceful (ACPI) shutdown; done when Off reads back.
    SoftOff,
}

impl PowerAction {
    /// The state that must read back for the action to be done.
    pub fn target(self) -> PowerState {
        match self {
            PowerAction::On | PowerAction::Cycle | PowerAction::Reset => PowerState::On,
            PowerAction::Off | PowerAction::SoftOff => PowerState::Off,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Cycle => "cycle",
            PowerAction::Reset => "reset",
            PowerAction::SoftOff => "soft-off",
        }
    }
}

impl fmt::Display for PowerAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Boot device override.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BootTarget {
    Pxe,
    Cd,
    Disk,
    /// BIOS / UEFI setup.
    Bios,
}

impl fmt::Display for BootTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BootTarget::Pxe => "pxe",
            BootTarget::Cd => "cd",
            BootTarget::Disk => "disk",
            BootTarget::Bios => "bios",
        })
    }
}

/// BMC / system identity; fields are `None` where the protocol does not say.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BmcInfo {
    /// The protocol in use (never `dynamic`).
    pub protocol: Option<BmcProtocol>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub firmware: Option<String>,
    /// Redfish `RedfishVersion`, or the IPMI version (e.g. `2.0`).
    pub protocol_version: Option<String>,
    pub serial_number: Option<String>,
}

/// What a sensor measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SensorKind {
    Temperature,
    Fan,
    Voltage,
    Current,
    Power,
    /// A discrete (state) sensor, e.g. an IPMI power-supply presence sensor.
    Discrete,
    Other,
}

impl fmt::Display for SensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SensorKind::Temperature => "temperature",
            SensorKind::Fan => "fan",
            SensorKind::Voltage => "voltage",
            SensorKind::Current => "current",
            SensorKind::Power => "power",
            SensorKind::Discrete => "discrete",
            SensorKind::Other => "other",
        })
    }
}

/// Normalized sensor status (worst threshold crossed, or BMC health).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SensorStatus {
    Ok,
    NonCritical,
    Critical,
    NonRecoverable,
    /// No reading (sensor absent, disabled, host off).
    Unavailable,
}

impl fmt::Display for SensorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SensorStatus::Ok => "ok",
            SensorStatus::NonCritical => "non-critical",
            SensorStatus::Critical => "critical",
            SensorStatus::NonRecoverable => "non-recoverable",
            SensorStatus::Unavailable => "unavailable",
        })
    }
}

/// Thresholds in sensor units. IPMI lnc/lcr/lnr ↔ Redfish LowerCaution/LowerCritical/LowerFatal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Thresholds {
    pub lower_non_recoverable: Option<f64>,
    pub lower_critical: Option<f64>,
    pub lower_non_critical: Option<f64>,
    pub upper_non_critical: Option<f64>,
    pub upper_critical: Option<f64>,
    pub upper_non_recoverable: Option<f64>,
}

impl Thresholds {
    /// Status implied by `value` against these thresholds.
    pub fn classify(&self, value: f64) -> SensorStatus {
        let above = |t: Option<f64>| t.is_some_and(|t| value >= t);
        let below = |t: Option<f64>| t.is_some_and(|t| value <= t);
        if above(self.upper_non_recoverable) || below(self.lower_non_recoverable) {
            SensorStatus::NonRecoverable
        } else if above(self.upper_critical) || below(self.lower_critical) {
            SensorStatus::Critical
        } else if above(self.upper_non_critical) || below(self.lower_non_critical) {
            SensorStatus::NonCritical
        } else {
            SensorStatus::Ok
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Thresholds::default()
    }
}

/// One normalized sensor reading, the same shape from IPMI and Redfish.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SensorReading {
    pub name: String,
    pub kind: SensorKind,
    /// Converted value in `unit`; `None` for discrete or unavailable sensors.
    pub value: Option<f64>,
    /// Canonical unit: `C`, `RPM`, `V`, `A`, `W`, `%`, or the BMC's own word.
    pub unit: Option<String>,
    pub status: SensorStatus,
    pub thresholds: Thresholds,
}

/// Canonical unit spelling for IPMI base-unit names and Redfish UCUM codes.
pub fn normalize_unit(u: &str) -> Option<String> {
    let t = u.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("unspecified") {
        return None;
    }
    let canon = match t.to_ascii_lowercase().as_str() {
        "degrees c" | "cel" | "c" | "celsius" => "C",
        "degrees f" | "[degf]" => "F",
        "rpm" | "{rev}/min" => "RPM",
        "volts" | "v" | "volt" => "V",
        "amps" | "a" | "amp" => "A",
        "watts" | "w" | "watt" => "W",
        "percent" | "%" => "%",
        _ => return Some(t.to_string()),
    };
    Some(canon.to_string())
}

/// One event-log record, from the IPMI SEL or a Redfish LogService.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SelRecord {
    pub id: String,
    /// IPMI: seconds since 1970 as the BMC keeps it; Redfish: the `Created` string.
    pub timestamp: Option<String>,
    pub severity: Option<String>,
    pub message: String,
    /// An IPMI system event record: a sensor's event (threshold crossed, state asserted).
    pub sensor_event: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = parse_address("10.0.0.5").unwrap();
        assert_eq!(
            (a.host.as_str(), a.port, a.scheme.as_deref()),
            ("10.0.0.5", None, None)
        );
        assert_eq!(a.redfish_endpoint(), "https://10.0.0.5");
        let a = parse_address("10.0.0.5:6230").unwrap();
        assert_eq!(a.port, Some(6230));
        let a = parse_address("[fd00::1]:623").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("fd00::1", Some(623)));
        assert_eq!(a.redfish_endpoint(), "https://[fd00::1]:623");
        let a = parse_address("fd00::1").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("fd00::1", None));
        let a = parse_address("http://127.0.0.1:8000/").unwrap();
        assert_eq!(a.redfish_endpoint(), "http://127.0.0.1:8000");
        let e = parse_address("https://root:hunter2@10.0.0.5")
            .unwrap_err()
            .to_string();
        assert!(
            !e.contains("hunter2") && e.contains("must not embed credentials"),
            "{e}"
        );
        for bad in [
            "",
            "ftp://x",
            "h:notaport",
            "[::1",
            "http://h/redfish",
            "h:70000",
        ] {
            assert!(parse_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions() {
        for ok in ["1.0.0", "1.5.0", "1.0", "2.1.3", "1"] {
            assert!(redfish_version_supported(ok), "{ok}");
        }
        for bad in ["0.9.6", "", "x.y", "1.x"] {
            assert!(!redfish_version_supported(bad), "{bad}");
        }
    }

    #[test]
    fn protocol_parse() {
        assert_eq!("IPMI".parse::<BmcProtocol>().unwrap(), BmcProtocol::Ipmi);
        assert_eq!("bmc".parse::<BmcProtocol>().unwrap(), BmcProtocol::Dynamic);
        assert!("snmp".parse::<BmcProtocol>().is_err());
    }

    #[test]
    fn units_and_classify() {
        assert_eq!(normalize_unit("degrees C").as_deref(), Some("C"));
        assert_eq!(normalize_unit("Cel").as_deref(), Some("C"));
        assert_eq!(normalize_unit("Volts").as_deref(), Some("V"));
        assert_eq!(normalize_unit("unspecified"), None);
        let t = Thresholds {
            upper_non_critical: Some(80.0),
            upper_critical: Some(90.0),
            upper_non_recoverable: Some(100.0),
            lower_critical: Some(5.0),
            ..Default::default()
        };
        assert_eq!(t.classify(50.0), SensorStatus::Ok);
        assert_eq!(t.classify(85.0), SensorStatus::NonCritical);
        assert_eq!(t.classify(95.0), SensorStatus::Critical);
        assert_eq!(t.classify(100.0), SensorStatus::NonRecoverable);
        assert_eq!(t.classify(1.0), SensorStatus::Critical);
    }
}
