//! The [`Bmc`] interface: one API over IPMI and Redfish.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use steward_bmc_ipmi as ipmi;
use steward_bmc_redfish as rf;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::error::{BmcError, ProtocolAttempt, Result};
use crate::secure_boot::SecureBoot;

mod install_media;
use crate::types::{
    normalize_unit, parse_address, redfish_version_supported, BmcAddress, BmcInfo, BmcProtocol,
    BootTarget, PowerAction, PowerState, SelRecord, SensorKind, SensorReading, SensorStatus,
    Thresholds,
};
pub use install_media::{BootOverrideState, VirtualMediaStatus};

/// Default IPMI (RMCP+) UDP port.
pub const IPMI_PORT: u16 = 623;
/// Upper bound on Redfish log entries fetched one by one.
const MAX_LOG_ENTRIES: usize = 1000;

/// Connection and policy settings for one BMC. `Debug` never shows the password.
#[derive(Clone)]
pub struct BmcConfig {
    /// `ADDR[:PORT]`, `[IPv6]:PORT` or `http(s)://ADDR[:PORT]` (the scheme only matters for Redfish).
    pub address: String,
    pub protocol: BmcProtocol,
    pub username: String,
    password: String,
    /// Accept self-signed Redfish certificates.
    pub insecure: bool,
    /// Power read-back poll interval.
    pub poll_interval: Duration,
    /// How long one power transition may take to read back.
    pub power_timeout: Duration,
    /// Power cycle: if the host stays off this long after the cycle command, the BMC
    /// did not bring it back (ipmi_sim, some BMCs) and we send power on ourselves.
    pub cycle_off_grace: Duration,
    /// Per-attempt IPMI reply timeout and extra attempts.
    pub ipmi_timeout: Duration,
    pub ipmi_retries: u32,
    /// Redfish connect and whole-request timeouts.
    pub redfish_connect_timeout: Duration,
    pub redfish_request_timeout: Duration,
    /// IPMI boot device: request an EFI boot.
    pub uefi_boot: bool,
}

impl BmcConfig {
    /// Defaults: poll every 2 s, 180 s power timeout, 15 s cycle grace, IPMI 2 s × 3,
    /// Redfish 10 s connect / 30 s request (StarlingX uses `-T 30`), legacy boot.
    pub fn new(
        address: impl Into<String>,
        protocol: BmcProtocol,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        BmcConfig {
            address: address.into(),
            protocol,
            username: username.into(),
            password: password.into(),
            insecure: false,
            poll_interval: Duration::from_secs(2),
            power_timeout: Duration::from_secs(180),
            cycle_off_grace: Duration::from_secs(15),
            ipmi_timeout: Duration::from_secs(2),
            ipmi_retries: 2,
            redfish_connect_timeout: Duration::from_secs(10),
            redfish_request_timeout: Duration::from_secs(30),
            uefi_boot: false,
        }
    }

    pub fn set_password(&mut self, password: impl Into<String>) {
        self.password = password.into();
    }
}

impl fmt::Debug for BmcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BmcConfig")
            .field("address", &self.address)
            .field("protocol", &self.protocol)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("insecure", &self.insecure)
            .field("poll_interval", &self.poll_interval)
            .field("power_timeout", &self.power_timeout)
            .field("cycle_off_grace", &self.cycle_off_grace)
            .finish_non_exhaustive()
    }
}

enum Conn {
    Ipmi(ipmi::IpmiClient),
    Redfish(Box<rf::RedfishClient>),
}

/// A connected BMC. Methods take `&mut self`: one operation at a time per BMC
/// (use [`crate::scheduler`] to share one between callers).
pub struct Bmc {
    cfg: BmcConfig,
    addr: BmcAddress,
    conn: Conn,
    reopens: u32,
}

impl fmt::Debug for Bmc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bmc")
            .field("address", &self.cfg.address)
            .field("protocol", &self.protocol())
            .field("configured", &self.cfg.protocol)
            .finish()
    }
}

/// Run one IPMI client call. When the session is lost (no reply, socket error, closed:
/// BMC reboot, session inactivity timeout) open a new session once and retry the call.
macro_rules! ipmi_call {
    ($self:ident, $c:ident => $call:expr) => {{
        let first = match &mut $self.conn {
            Conn::Ipmi($c) => $call.await,
            Conn::Redfish(_) => unreachable!("IPMI call on a Redfish connection"),
        };
        match first {
            Ok(v) => Ok(v),
            Err(e) if session_lost(&e) => {
                debug!(bmc = %$self.cfg.address, error = %e, "IPMI session lost; opening a new one");
                match $self.reopen_ipmi().await {
                    Ok(()) => match &mut $self.conn {
                        Conn::Ipmi($c) => $call
                            .await
                            .map_err(|e| BmcError::from_ipmi(&$self.cfg.address, e)),
                        Conn::Redfish(_) => unreachable!("IPMI call on a Redfish connection"),
                    },
                    Err(re) => Err(re),
                }
            }
            Err(e) => Err(BmcError::from_ipmi(&$self.cfg.address, e)),
        }
    }};
}

fn session_lost(e: &ipmi::IpmiError) -> bool {
    matches!(
        e,
        ipmi::IpmiError::Timeout { .. } | ipmi::IpmiError::Io(_) | ipmi::IpmiError::Closed
    )
}

impl Bmc {
    /// Replace the IPMI session with a fresh one.
    async fn reopen_ipmi(&mut self) -> Result<()> {
        let c = connect_ipmi(&self.cfg, &self.addr).await?;
        self.conn = Conn::Ipmi(c);
        self.reopens += 1;
        Ok(())
    }

    fn is_ipmi(&self) -> bool {
        matches!(self.conn, Conn::Ipmi(_))
    }

    /// The Redfish client; only called when `!is_ipmi()`.
    fn redfish(&self) -> &rf::RedfishClient {
        match &self.conn {
            Conn::Redfish(c) => c,
            Conn::Ipmi(_) => unreachable!("Redfish call on an IPMI connection"),
        }
    }

    /// Connect with the configured protocol; `Dynamic` learns it (see crate docs).
    pub async fn connect(cfg: BmcConfig) -> Result<Bmc> {
        let addr = parse_address(&cfg.address)?;
        if cfg.username.trim().is_empty() {
            return Err(BmcError::InvalidConfig(
                "empty BMC username: provision bm_username".into(),
            ));
        }
        if cfg.password.is_empty() {
            return Err(BmcError::InvalidConfig(
                "empty BMC password: provision the BMC password".into(),
            ));
        }
        let conn = match cfg.protocol {
            BmcProtocol::Ipmi => Conn::Ipmi(connect_ipmi(&cfg, &addr).await?),
            BmcProtocol::Redfish => match connect_redfish(&cfg, &addr).await {
                Ok(c) => Conn::Redfish(Box::new(c)),
                Err(e) => return Err(redfish_connect_error(&cfg, &addr, e).await),
            },
            BmcProtocol::Dynamic => learn(&cfg, &addr).await?,
        };
        Ok(Bmc {
            cfg,
            addr,
            conn,
            reopens: 0,
        })
    }

    /// The protocol in use: the configured one, or the learned one for `Dynamic`.
    /// Never `Dynamic`; persist it (StarlingX `mtce_info.bmc_protocol`) to skip relearning.
    pub fn protocol(&self) -> BmcProtocol {
        match self.conn {
            Conn::Ipmi(_) => BmcProtocol::Ipmi,
            Conn::Redfish(_) => BmcProtocol::Redfish,
        }
    }

    /// How many times a lost IPMI session was replaced by a new one.
    pub fn session_reopens(&self) -> u32 {
        self.reopens
    }

    /// The protocol as configured (may be `Dynamic`).
    pub fn configured_protocol(&self) -> BmcProtocol {
        self.cfg.protocol
    }

    pub fn config(&self) -> &BmcConfig {
        &self.cfg
    }

    pub fn address(&self) -> &BmcAddress {
        &self.addr
    }

    /// Manufacturer, model and firmware where the protocol says.
    pub async fn info(&mut self) -> Result<BmcInfo> {
        let address = self.cfg.address.clone();
        if self.is_ipmi() {
            let id = ipmi_call!(self, c => c.device_id())?;
            return Ok(BmcInfo {
                protocol: Some(BmcProtocol::Ipmi),
                manufacturer: Some(iana_name(id.manufacturer_id)),
                model: Some(format!("product 0x{:04X}", id.product_id)),
                firmware: Some(format!("{}.{:02}", id.firmware_major, id.firmware_minor)),
                protocol_version: Some(format!("{}.{}", id.ipmi_version.0, id.ipmi_version.1)),
                serial_number: None,
            });
        }
        {
            let c = self.redfish();
            let topo = c.topology().clone();
            let sys = c
                .system()
                .await
                .map_err(|e| BmcError::from_redfish(&address, e))?;
            let firmware = match &topo.firmware {
                Some(f) => Some(f.clone()),
                None => c.manager_info().await.ok().and_then(|m| m.firmware_version),
            };
            Ok(BmcInfo {
                protocol: Some(BmcProtocol::Redfish),
                manufacturer: sys.manufacturer.or(topo.manufacturer),
                model: sys.model.or(topo.model),
                firmware,
                protocol_version: c.service_root().redfish_version.clone(),
                serial_number: sys.serial_number,
            })
        }
    }

    /// Current power state as the BMC reports it.
    pub async fn power_state(&mut self) -> Result<PowerState> {
        let address = self.cfg.address.clone();
        if self.is_ipmi() {
            let s = ipmi_call!(self, c => c.chassis_status())?;
            return Ok(if s.power_on {
                PowerState::On
            } else {
                PowerState::Off
            });
        }
        {
            let c = self.redfish();
            Ok(
                match c
                    .power_state()
                    .await
                    .map_err(|e| BmcError::from_redfish(&address, e))?
                {
                    rf::PowerState::On => PowerState::On,
                    rf::PowerState::Off => PowerState::Off,
                    rf::PowerState::PoweringOn => PowerState::PoweringOn,
                    rf::PowerState::PoweringOff => PowerState::PoweringOff,
                    rf::PowerState::Paused => PowerState::Unknown("Paused".into()),
                    rf::PowerState::Other(s) => PowerState::Unknown(s),
                },
            )
        }
    }

    /// Perform `action` and return once the BMC reads back its target state
    /// ([`PowerAction::target`]); [`BmcError::PowerTimeout`] carries the last state seen.
    pub async fn power(&mut self, action: PowerAction) -> Result<PowerState> {
        info!(bmc = %self.cfg.address, protocol = %self.protocol(), %action, "power action");
        if action == PowerAction::Cycle {
            return self.power_cycle().await;
        }
        self.send_power(action).await?;
        self.wait_for(action, None).await
    }

    /// Send one power command without waiting.
    async fn send_power(&mut self, action: PowerAction) -> Result<()> {
        let address = self.cfg.address.clone();
        if self.is_ipmi() {
            let op = match action {
                PowerAction::On => ipmi::ChassisControl::PowerOn,
                PowerAction::Off => ipmi::ChassisControl::PowerOff,
                PowerAction::Cycle => ipmi::ChassisControl::PowerCycle,
                PowerAction::Reset => ipmi::ChassisControl::HardReset,
                PowerAction::SoftOff => ipmi::ChassisControl::SoftOff,
            };
            // On/off are idempotent and safe to resend on a new session; a reset or
            // cycle whose reply was lost may already have happened, so it is not resent.
            return match action {
                PowerAction::Reset | PowerAction::Cycle => match &mut self.conn {
                    Conn::Ipmi(c) => c
                        .chassis_control(op)
                        .await
                        .map_err(|e| BmcError::from_ipmi(&address, e)),
                    Conn::Redfish(_) => unreachable!(),
                },
                _ => ipmi_call!(self, c => c.chassis_control(op)),
            };
        }
        {
            let c = self.redfish();
            let a = match action {
                PowerAction::On => rf::PowerAction::On,
                PowerAction::Off => rf::PowerAction::OffForced,
                PowerAction::Cycle => rf::PowerAction::Cycle,
                PowerAction::Reset => rf::PowerAction::Reset,
                PowerAction::SoftOff => rf::PowerAction::OffGraceful,
            };
            c.power(a)
                .await
                .map(|rt| debug!(reset_type = %rt, "ComputerSystem.Reset sent"))
                .map_err(|e| BmcError::from_redfish(&address, e))
        }
    }

    /// True when the BMC says it cannot do a power cycle (so off+on is the way).
    fn cannot_cycle(&self, e: &BmcError) -> bool {
        match e {
            BmcError::Unsupported { .. } => true,
            BmcError::Ipmi(ie) => matches!(
                ie.completion_code(),
                Some(ipmi::CompletionCode::INVALID_COMMAND)
                    | Some(ipmi::CompletionCode::INVALID_DATA_FIELD)
                    | Some(ipmi::CompletionCode::PARAMETER_OUT_OF_RANGE)
                    | Some(ipmi::CompletionCode::NOT_SUPPORTED_IN_STATE)
            ),
            _ => false,
        }
    }

    async fn power_cycle(&mut self) -> Result<PowerState> {
        // A host that is off is "cycled" by powering it on (a cycle of an off chassis is
        // refused or ignored by many BMCs).
        if self.power_state().await? == PowerState::Off {
            info!(bmc = %self.cfg.address, "power cycle of an off host: powering on");
            self.send_power(PowerAction::On).await?;
            return self.wait_for(PowerAction::Cycle, None).await;
        }
        let via_off_on = matches!(&self.conn, Conn::Redfish(c) if c.quirks().cycle_via_off_on);
        let sent = if via_off_on {
            Err(BmcError::Unsupported {
                what: "power cycle".into(),
                protocol: self.protocol(),
                hint: Some("vendor quirk: cycle via off + on".into()),
            })
        } else {
            self.send_power(PowerAction::Cycle).await
        };
        match sent {
            Ok(()) => {
                let grace = self.cfg.cycle_off_grace;
                self.wait_for(PowerAction::Cycle, Some(grace)).await
            }
            Err(e) if self.cannot_cycle(&e) => {
                info!(bmc = %self.cfg.address, error = %e, "BMC cannot power cycle: off, then on");
                self.send_power(PowerAction::Off).await?;
                self.wait_for(PowerAction::Off, None).await?;
                self.send_power(PowerAction::On).await?;
                self.wait_for(PowerAction::Cycle, None).await
            }
            Err(e) => Err(e),
        }
    }

    /// Poll until `action.target()` reads back. With `off_grace`, a host that stays off
    /// that long gets one explicit power-on (cycle fallback).
    async fn wait_for(
        &mut self,
        action: PowerAction,
        off_grace: Option<Duration>,
    ) -> Result<PowerState> {
        let target = action.target();
        let timeout = self.cfg.power_timeout;
        let poll = self.cfg.poll_interval;
        let start = Instant::now();
        let deadline = start + timeout;
        let mut last = None;
        let mut off_since: Option<Instant> = None;
        let mut nudged = false;
        // After reset/cycle the host is on before the action too: read after one interval.
        if matches!(action, PowerAction::Reset | PowerAction::Cycle) {
            tokio::time::sleep(poll).await;
        }
        loop {
            match self.power_state().await {
                Ok(s) if s == target => {
                    info!(bmc = %self.cfg.address, %action, state = %s, "power state read back");
                    return Ok(s);
                }
                Ok(s) => {
                    if s == PowerState::Off {
                        let since = *off_since.get_or_insert_with(Instant::now);
                        if let Some(g) = off_grace {
                            if !nudged && since.elapsed() >= g {
                                warn!(bmc = %self.cfg.address, "host stayed off after power cycle; powering on");
                                nudged = true;
                                self.send_power(PowerAction::On).await?;
                            }
                        }
                    } else {
                        off_since = None;
                    }
                    last = Some(s);
                }
                // A BMC busy with the transition may miss a poll; keep going until the deadline.
                Err(
                    e @ (BmcError::Unreachable { .. } | BmcError::Redfish(_) | BmcError::Ipmi(_)),
                ) => {
                    debug!(bmc = %self.cfg.address, error = %e, "power read-back failed; retrying");
                }
                Err(e) => return Err(e),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(BmcError::PowerTimeout {
                    action: action.to_string(),
                    target,
                    last,
                    waited: now - start,
                });
            }
            tokio::time::sleep(poll.min(deadline - now)).await;
        }
    }

    /// Set the next boot device (`once`) or the persistent one.
    pub async fn set_boot_device(&mut self, target: BootTarget, once: bool) -> Result<()> {
        let address = self.cfg.address.clone();
        let uefi = self.cfg.uefi_boot;
        info!(bmc = %address, %target, once, "set boot device");
        if self.is_ipmi() {
            let dev = match target {
                BootTarget::Pxe => ipmi::BootDevice::Pxe,
                BootTarget::Cd => ipmi::BootDevice::Cdrom,
                BootTarget::Disk => ipmi::BootDevice::Disk,
                BootTarget::Bios => ipmi::BootDevice::Bios,
            };
            let opts = ipmi::BootOptions {
                persistent: !once,
                uefi,
            };
            return ipmi_call!(self, c => c.set_boot_device(dev, opts));
        }
        {
            let c = self.redfish();
            let t = match target {
                BootTarget::Pxe => rf::BootTarget::Pxe,
                BootTarget::Cd => rf::BootTarget::Cd,
                BootTarget::Disk => rf::BootTarget::Hdd,
                BootTarget::Bios => rf::BootTarget::BiosSetup,
            };
            let req = rf::BootOverride {
                target: t,
                enabled: if once {
                    rf::BootEnabled::Once
                } else {
                    rf::BootEnabled::Continuous
                },
                mode: None,
            };
            c.set_boot_override(&req)
                .await
                .map(|_| ())
                .map_err(|e| BmcError::from_redfish(&address, e))
        }
    }

    /// All sensors, normalized.
    pub async fn sensors(&mut self) -> Result<Vec<SensorReading>> {
        if self.is_ipmi() {
            let s = ipmi_call!(self, c => c.sensors())?;
            return Ok(s.iter().map(from_ipmi_sensor).collect());
        }
        let address = self.cfg.address.clone();
        {
            let c = self.redfish();
            Ok(c.sensors(None)
                .await
                .map_err(|e| BmcError::from_redfish(&address, e))?
                .readings
                .iter()
                .map(from_redfish_sensor)
                .collect())
        }
    }

    /// Event log: the IPMI SEL, or the Redfish manager's LogService entries.
    pub async fn sel(&mut self) -> Result<Vec<SelRecord>> {
        if self.is_ipmi() {
            let s = ipmi_call!(self, c => c.sel_entries())?;
            return Ok(s.iter().map(from_sel_entry).collect());
        }
        redfish_log(self.redfish(), &self.cfg.address).await
    }

    // ---- Secure boot (Redfish only) ----

    /// Read the UEFI secure boot state. IPMI: `Unsupported` (secure boot needs Redfish).
    pub async fn secure_boot(&mut self) -> Result<SecureBoot> {
        self.require_redfish_for_secure_boot()?;
        let address = self.cfg.address.clone();
        self.redfish()
            .secure_boot()
            .await
            .map(|s| SecureBoot::from(&s))
            .map_err(|e| Self::secure_boot_error(&address, e))
    }

    /// Enable or disable secure boot, verified by read-back. The change takes effect at the
    /// host's next reset. IPMI: `Unsupported` (secure boot needs Redfish).
    pub async fn set_secure_boot(&mut self, enable: bool) -> Result<SecureBoot> {
        self.require_redfish_for_secure_boot()?;
        let address = self.cfg.address.clone();
        info!(bmc = %address, enable, "set secure boot");
        self.redfish()
            .set_secure_boot(enable)
            .await
            .map(|s| SecureBoot::from(&s))
            .map_err(|e| Self::secure_boot_error(&address, e))
    }

    /// A Redfish service without a `SecureBoot` resource does not offer secure boot:
    /// `Unsupported`, like IPMI, rather than a generic Redfish failure.
    fn secure_boot_error(address: &str, e: rf::RedfishError) -> BmcError {
        match e {
            rf::RedfishError::NotFound { .. } => BmcError::Unsupported {
                what: "secure boot".into(),
                protocol: BmcProtocol::Redfish,
                hint: Some(e.to_string()),
            },
            other => BmcError::from_redfish(address, other),
        }
    }

    fn require_redfish_for_secure_boot(&self) -> Result<()> {
        if !self.is_ipmi() {
            return Ok(());
        }
        Err(BmcError::Unsupported {
            what: "secure boot".into(),
            protocol: BmcProtocol::Ipmi,
            hint: Some(format!(
                "secure boot needs Redfish (IPMI has no standard secure boot command); \
                 the BMC at {} is reached over IPMI: use --protocol redfish (or bm_type redfish) \
                 if it offers Redfish",
                self.cfg.address
            )),
        })
    }

    // ---- end of secure boot ----

    /// Subscribe `destination` (an event receiver's URL) to this BMC's Redfish events with
    /// `context` echoed in each. `Ok(None)`: this BMC cannot push (IPMI, or no EventService).
    /// Subscriptions an earlier run of the same receiver left (same scheme, host and path, any
    /// port) are deleted first, so restarts do not fill the BMC's few subscription slots.
    pub async fn subscribe_events(
        &mut self,
        destination: &str,
        context: &str,
    ) -> Result<Option<rf::Subscription>> {
        if self.is_ipmi() {
            return Ok(None);
        }
        let address = self.cfg.address.clone();
        let c = self.redfish();
        if c.event_service().is_none() {
            return Ok(None);
        }
        let mine = receiver_identity(destination);
        let removed = c
            .remove_subscriptions_where(|d| receiver_identity(d) == mine)
            .await
            .map_err(|e| BmcError::from_redfish(&address, e))?;
        if removed > 0 {
            info!(bmc = %address, removed, "stale event subscriptions of this receiver deleted");
        }
        c.subscribe(destination, context)
            .await
            .map(Some)
            .map_err(|e| BmcError::from_redfish(&address, e))
    }

    /// Delete a subscription made by [`Bmc::subscribe_events`] (one already gone is fine).
    pub async fn unsubscribe_events(&mut self, sub: &rf::Subscription) -> Result<()> {
        if self.is_ipmi() {
            return Ok(());
        }
        let address = self.cfg.address.clone();
        self.redfish()
            .unsubscribe(sub)
            .await
            .map_err(|e| BmcError::from_redfish(&address, e))
    }

    /// Release the session (IPMI Close Session, Redfish logout).
    pub async fn close(self) -> Result<()> {
        let address = self.cfg.address.clone();
        match self.conn {
            Conn::Ipmi(c) => c
                .close()
                .await
                .map_err(|e| BmcError::from_ipmi(&address, e)),
            Conn::Redfish(c) => c
                .close()
                .await
                .map_err(|e| BmcError::from_redfish(&address, e)),
        }
    }
}

async fn connect_ipmi(cfg: &BmcConfig, addr: &BmcAddress) -> Result<ipmi::IpmiClient> {
    let port = addr.port.unwrap_or(IPMI_PORT);
    let sock: SocketAddr = match addr.host.parse::<std::net::IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port),
        Err(_) => tokio::net::lookup_host((addr.host.as_str(), port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| BmcError::Unreachable {
                address: cfg.address.clone(),
                protocol: BmcProtocol::Ipmi,
                detail: format!("cannot resolve host '{}'", addr.host),
            })?,
    };
    let mut ic = ipmi::IpmiConfig::new(sock, cfg.username.clone(), cfg.password.clone());
    ic.timeout = cfg.ipmi_timeout;
    ic.retries = cfg.ipmi_retries;
    ipmi::IpmiClient::connect(ic)
        .await
        .map_err(|e| BmcError::from_ipmi(&cfg.address, e))
}

async fn connect_redfish(
    cfg: &BmcConfig,
    addr: &BmcAddress,
) -> std::result::Result<rf::RedfishClient, rf::RedfishError> {
    let mut rc = rf::ClientConfig::new(
        addr.redfish_endpoint(),
        cfg.username.clone(),
        cfg.password.clone(),
    );
    rc.insecure = cfg.insecure;
    rc.connect_timeout = cfg.redfish_connect_timeout;
    rc.request_timeout = cfg.redfish_request_timeout;
    rf::RedfishClient::connect(rc).await
}

/// Redfish failures that may be TLS spoken to a port that answers plain HTTP
/// (rustls: "received corrupt message of type InvalidContentType"; OpenSSL: "wrong
/// version number"). Connection refused or timeouts are not: nothing to probe there.
fn may_be_plain_http(e: &rf::RedfishError) -> bool {
    let detail = match e {
        rf::RedfishError::Tls { detail, .. } | rf::RedfishError::Unreachable { detail, .. } => {
            detail.to_ascii_lowercase()
        }
        _ => return false,
    };
    [
        "corrupt message",
        "invalidcontenttype",
        "wrong version number",
        "record overflow",
        "tls",
        "handshake",
    ]
    .iter()
    .any(|k| detail.contains(k))
}

/// Does `host:port` answer plain HTTP? One unauthenticated GET of the service root
/// (no credentials go out in clear), read until the status line's `HTTP/`.
async fn answers_plain_http(host: &str, port: u16, url_host: &str, within: Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let probe = async {
        let mut s = tokio::net::TcpStream::connect((host, port)).await.ok()?;
        let req = format!(
            "GET /redfish/v1/ HTTP/1.1\r\nHost: {url_host}:{port}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut head = [0u8; 5];
        s.read_exact(&mut head).await.ok()?;
        Some(&head == b"HTTP/")
    };
    matches!(tokio::time::timeout(within, probe).await, Ok(Some(true)))
}

/// Map a Redfish connect failure, recognizing HTTPS spoken to a plain-HTTP service
/// (then the fix is the `http://` address, not `--insecure`).
async fn redfish_connect_error(
    cfg: &BmcConfig,
    addr: &BmcAddress,
    e: rf::RedfishError,
) -> BmcError {
    if addr.scheme.as_deref() != Some("http") && may_be_plain_http(&e) {
        let port = addr.port.unwrap_or(443);
        let url_host = addr.url_host();
        if answers_plain_http(&addr.host, port, &url_host, cfg.redfish_connect_timeout).await {
            return BmcError::PlainHttp {
                address: cfg.address.clone(),
                http_address: format!("http://{url_host}:{port}"),
            };
        }
    }
    BmcError::from_redfish(&cfg.address, e)
}

/// docs/bmc.md "Protocol selection": query the Redfish service root; RedfishVersion ≥ 1.0 → Redfish,
/// anything else (no answer, error, old version) → IPMI. When IPMI fails too, the
/// error lists why each protocol failed and the likely fix.
async fn learn(cfg: &BmcConfig, addr: &BmcAddress) -> Result<Conn> {
    let mut attempts = Vec::new();
    let mut fix = None;
    let mut rf_auth = None;
    let rf_endpoint = addr.redfish_endpoint();
    match connect_redfish(cfg, addr).await {
        Ok(c) => {
            let v = c.service_root().redfish_version.clone();
            if v.as_deref().is_some_and(redfish_version_supported) {
                info!(bmc = %cfg.address, version = ?v, "learned protocol: redfish");
                return Ok(Conn::Redfish(Box::new(c)));
            }
            info!(bmc = %cfg.address, version = ?v, "Redfish version unsupported; using IPMI");
            let _ = c.close().await;
            attempts.push(ProtocolAttempt {
                protocol: BmcProtocol::Redfish,
                endpoint: rf_endpoint,
                why: format!(
                    "the service root reports RedfishVersion {}, below 1.0, so IPMI is preferred",
                    v.as_deref().unwrap_or("(none)")
                ),
            });
            fix = Some(
                "the Redfish service is older than 1.0: use --protocol redfish to use it anyway, \
                 or enable IPMI over LAN on the BMC"
                    .to_string(),
            );
        }
        Err(e) => {
            info!(bmc = %cfg.address, error = %e, "no usable Redfish service; trying IPMI");
            let be = redfish_connect_error(cfg, addr, e).await;
            match &be {
                BmcError::PlainHttp { http_address, .. } => {
                    fix = Some(format!(
                        "the Redfish service answers plain HTTP: use the address {http_address} \
                         (--address {http_address})"
                    ));
                }
                BmcError::Redfish(rf::RedfishError::Tls { .. }) => {
                    fix = Some(
                        "if the BMC uses a self-signed certificate, use --insecure".to_string(),
                    );
                }
                _ => {}
            }
            if be.is_auth() {
                rf_auth = Some(be);
            } else {
                attempts.push(ProtocolAttempt {
                    protocol: BmcProtocol::Redfish,
                    endpoint: rf_endpoint,
                    why: be.short_detail(),
                });
            }
        }
    }
    let ipmi_port = addr.port.unwrap_or(IPMI_PORT);
    match connect_ipmi(cfg, addr).await {
        Ok(c) => {
            info!(bmc = %cfg.address, "learned protocol: ipmi");
            Ok(Conn::Ipmi(c))
        }
        // IPMI itself refused the credentials: that is the answer.
        Err(ie) if ie.is_auth() => Err(ie),
        Err(ie) => {
            // The service root answered but rejected the credentials, and IPMI does
            // not answer either: the Redfish error is the one that helps.
            if let Some(re) = rf_auth {
                return Err(re);
            }
            attempts.push(ProtocolAttempt {
                protocol: BmcProtocol::Ipmi,
                endpoint: format!("UDP {}:{ipmi_port}", addr.url_host()),
                why: ie.short_detail(),
            });
            let fix = fix.unwrap_or_else(|| match addr.port {
                Some(p) => format!(
                    "check the address and that the BMC is powered; both protocols were tried \
                     on port {p} (Redfish on TCP, IPMI on UDP): if the BMC uses another port \
                     for one of them, name it with --protocol"
                ),
                None => "check the address and that the BMC is powered and reachable \
                         (Redfish on TCP 443, IPMI on UDP 623)"
                    .to_string(),
            });
            Err(BmcError::NoProtocol {
                address: cfg.address.clone(),
                attempts,
                fix,
            })
        }
    }
}

/// A few IANA enterprise numbers seen on server BMCs.
fn iana_name(id: u32) -> String {
    let name = match id {
        2 => "IBM",
        11 => "HPE",
        343 => "Intel",
        674 => "Dell",
        2011 => "Huawei",
        4753 => "OpenIPMI (simulator)",
        7244 => "Quanta",
        10876 => "Supermicro",
        19046 => "Lenovo",
        20974 => "American Megatrends",
        40981 => "Inspur",
        49622 => "OpenBMC",
        _ => return format!("IANA enterprise {id}"),
    };
    format!("{name} ({id})")
}

pub(crate) fn from_ipmi_sensor(s: &ipmi::SensorReading) -> SensorReading {
    let t = &s.thresholds;
    let thresholds = Thresholds {
        lower_non_recoverable: t.lnr,
        lower_critical: t.lcr,
        lower_non_critical: t.lnc,
        upper_non_critical: t.unc,
        upper_critical: t.ucr,
        upper_non_recoverable: t.unr,
    };
    let kind = match s.sensor_type {
        0x01 => SensorKind::Temperature,
        0x02 => SensorKind::Voltage,
        0x03 => SensorKind::Current,
        0x04 => SensorKind::Fan,
        _ if s.value.is_none() && thresholds.is_empty() => SensorKind::Discrete,
        _ => SensorKind::Other,
    };
    let status = match s.status.short() {
        "ns" => SensorStatus::Unavailable,
        "nr" => SensorStatus::NonRecoverable,
        "cr" => SensorStatus::Critical,
        "nc" => SensorStatus::NonCritical,
        _ => SensorStatus::Ok,
    };
    let unit = if kind == SensorKind::Discrete {
        None
    } else {
        normalize_unit(&s.unit)
    };
    SensorReading {
        name: s.name.clone(),
        kind,
        value: s.value,
        unit,
        status,
        thresholds,
    }
}

pub(crate) fn from_redfish_sensor(s: &rf::SensorReading) -> SensorReading {
    let t = &s.thresholds;
    let thresholds = Thresholds {
        lower_non_recoverable: t.lower_fatal,
        lower_critical: t.lower_critical,
        lower_non_critical: t.lower_noncritical,
        upper_non_critical: t.upper_noncritical,
        upper_critical: t.upper_critical,
        upper_non_recoverable: t.upper_fatal,
    };
    let kind = match s.kind {
        rf::SensorKind::Temperature => SensorKind::Temperature,
        rf::SensorKind::Fan => SensorKind::Fan,
        rf::SensorKind::Voltage => SensorKind::Voltage,
        rf::SensorKind::Power => SensorKind::Power,
        rf::SensorKind::Current => SensorKind::Current,
        rf::SensorKind::Other => SensorKind::Other,
    };
    let enabled = s
        .state
        .as_deref()
        .map_or(true, |st| st.eq_ignore_ascii_case("Enabled"));
    let status = match (enabled, s.reading) {
        (false, _) | (true, None) => SensorStatus::Unavailable,
        (true, Some(v)) => {
            let by_thresholds = thresholds.classify(v);
            let by_health = match s.health.as_deref() {
                Some(h) if h.eq_ignore_ascii_case("warning") => SensorStatus::NonCritical,
                Some(h) if h.eq_ignore_ascii_case("critical") => SensorStatus::Critical,
                _ => SensorStatus::Ok,
            };
            by_thresholds.max(by_health)
        }
    };
    SensorReading {
        name: s.name.clone(),
        kind,
        value: s.reading,
        unit: s.units.as_deref().and_then(normalize_unit),
        status,
        thresholds,
    }
}

/// Seconds since 1970 → `YYYY-MM-DDTHH:MM:SSZ`. IPMI timestamps ≤ 0x20000000 count
/// from BMC initialization, not from 1970; those are shown as `+Ns after init`.
pub(crate) fn ipmi_time(ts: u32) -> String {
    if ts == 0xFFFF_FFFF {
        return "unspecified".into();
    }
    if ts <= 0x2000_0000 {
        return format!("+{ts}s after init");
    }
    let secs = i64::from(ts);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(crate) fn from_sel_entry(e: &ipmi::SelEntry) -> SelRecord {
    match e {
        ipmi::SelEntry::System {
            record_id,
            timestamp,
            sensor_type,
            sensor_number,
            deassertion,
            event_type,
            event_data,
            ..
        } => SelRecord {
            sensor_event: true,
            id: record_id.to_string(),
            timestamp: Some(ipmi_time(*timestamp)),
            severity: None,
            message: format!(
                "{} sensor #{} {} (event type 0x{:02X}, data {:02X} {:02X} {:02X})",
                ipmi::sdr::sensor_type_name(*sensor_type),
                sensor_number,
                if *deassertion {
                    "deasserted"
                } else {
                    "asserted"
                },
                event_type,
                event_data[0],
                event_data[1],
                event_data[2]
            ),
        },
        ipmi::SelEntry::OemTimestamped {
            record_id,
            record_type,
            timestamp,
            manufacturer_id,
            data,
        } => SelRecord {
            sensor_event: false,
            id: record_id.to_string(),
            timestamp: Some(ipmi_time(*timestamp)),
            severity: None,
            message: format!(
                "OEM record 0x{record_type:02X} from {}: {}",
                iana_name(*manufacturer_id),
                hex(data)
            ),
        },
        ipmi::SelEntry::Other {
            record_id,
            record_type,
            data,
        } => SelRecord {
            sensor_event: false,
            id: record_id.to_string(),
            timestamp: None,
            severity: None,
            message: format!("record type 0x{record_type:02X}: {}", hex(data)),
        },
    }
}

fn hex(d: &[u8]) -> String {
    d.iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn odata_links(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn odata_id(v: &Value) -> Option<String> {
    v.get("@odata.id")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

fn str_field(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

/// Entries of the manager's LogServices (then the system's), via the generic GET.
async fn redfish_log(c: &rf::RedfishClient, address: &str) -> Result<Vec<SelRecord>> {
    let map = |e| BmcError::from_redfish(address, e);
    let mut owners = Vec::new();
    if let Some(m) = &c.topology().manager {
        owners.push(m.clone());
    }
    owners.push(c.topology().system.clone());
    let mut services = Vec::new();
    for owner in owners {
        let doc = c.get_json(&owner).await.map_err(map)?;
        if let Some(ls) = doc.get("LogServices").and_then(odata_id) {
            services.push(ls);
            break;
        }
    }
    let Some(ls) = services.pop() else {
        return Err(BmcError::Unsupported {
            what: "event log (manager LogServices)".into(),
            protocol: BmcProtocol::Redfish,
            hint: Some(
                "this Redfish service publishes no LogService; use --protocol ipmi for the SEL"
                    .into(),
            ),
        });
    };
    let coll = c.get_json(&ls).await.map_err(map)?;
    let mut out = Vec::new();
    for svc in odata_links(&coll, "Members") {
        let Some(sp) = odata_id(&svc) else { continue };
        let sdoc = c.get_json(&sp).await.map_err(map)?;
        let Some(entries) = sdoc.get("Entries").and_then(odata_id) else {
            continue;
        };
        let edoc = c.get_json(&entries).await.map_err(map)?;
        for m in odata_links(&edoc, "Members") {
            if out.len() >= MAX_LOG_ENTRIES {
                break;
            }
            // Members are usually expanded; fetch the ones that are bare links.
            let e = if m.get("Message").is_some() || m.get("Created").is_some() {
                m
            } else if let Some(p) = odata_id(&m) {
                c.get_json(&p).await.map_err(map)?
            } else {
                continue;
            };
            out.push(SelRecord {
                sensor_event: false,
                id: str_field(&e, "Id").unwrap_or_default(),
                timestamp: str_field(&e, "Created"),
                severity: str_field(&e, "Severity"),
                message: str_field(&e, "Message")
                    .or_else(|| str_field(&e, "Name"))
                    .unwrap_or_default(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_password() {
        let c = BmcConfig::new("10.0.0.5", BmcProtocol::Dynamic, "root", "s3cr3t-pw");
        let d = format!("{c:?}");
        assert!(!d.contains("s3cr3t-pw") && d.contains("redacted"), "{d}");
    }

    #[test]
    fn ipmi_time_civil() {
        assert_eq!(ipmi_time(0x6000_0000), "2021-01-14T08:25:36Z");
        assert_eq!(ipmi_time(0x100), "+256s after init");
    }

    #[test]
    fn error_messages_name_the_fix() {
        let e = BmcError::AuthFailed {
            address: "a".into(),
            protocol: BmcProtocol::Ipmi,
            detail: "x".into(),
        };
        assert!(e.to_string().contains("check the username and password"));
        let e = BmcError::Unreachable {
            address: "a".into(),
            protocol: BmcProtocol::Redfish,
            detail: "x".into(),
        };
        assert!(e
            .to_string()
            .contains("check the address and port; is the BMC powered?"));
        let e = BmcError::PowerTimeout {
            action: "on".into(),
            target: PowerState::On,
            last: Some(PowerState::Off),
            waited: Duration::from_secs(3),
        };
        assert!(e.to_string().contains("last state seen: off"), "{e}");
    }
}

/// An event destination without its port: `http://10.0.0.1:4567/redfish/events` and
/// `http://10.0.0.1:4999/redfish/events` are the same receiver, restarted.
fn receiver_identity(destination: &str) -> (String, String) {
    let (scheme, rest) = destination.split_once("://").unwrap_or(("", destination));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = match authority.rsplit_once(':') {
        // `[v6]:port` or `host:port`; a bare `[v6]` has its colons inside the brackets.
        Some((h, port)) if !port.contains(']') => h,
        _ => authority,
    };
    (format!("{scheme}://{host}"), path.to_string())
}

#[cfg(test)]
mod receiver_identity_tests {
    use super::receiver_identity;

    #[test]
    fn the_same_receiver_on_another_port_is_the_same_identity() {
        let a = receiver_identity("http://10.0.0.1:4567/redfish/events");
        assert_eq!(a, receiver_identity("http://10.0.0.1:4999/redfish/events"));
        assert_ne!(a, receiver_identity("http://10.0.0.2:4567/redfish/events"));
        assert_ne!(a, receiver_identity("http://10.0.0.1:4567/other"));
        assert_eq!(
            receiver_identity("http://[fd00::1]:80/redfish/events"),
            receiver_identity("http://[fd00::1]:81/redfish/events")
        );
        assert_ne!(
            receiver_identity("http://[fd00::1]:80/redfish/events"),
            receiver_identity("http://[fd00::2]:80/redfish/events")
        );
    }
}
