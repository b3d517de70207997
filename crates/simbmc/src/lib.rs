//! `steward-simbmc`: a small Redfish service that plays one simulated machine's BMC.
//!
//! # Why
//!
//! `steward lab` runs a cluster of simulated hosts on one machine. Without a BMC in front of
//! each one the controller's BMC path — the native Redfish client, protocol learning, power
//! read-back, the BMC access audit and alarm 200.010 — would never run in the lab. A
//! [`SimBmc`] is a real HTTP/1.1 Redfish endpoint on a loopback address; power and reset
//! requests act on the machine behind it through the [`PowerTarget`] trait, so a
//! `ComputerSystem.Reset` sent by steward really reboots the simhost, and the power state the
//! client reads back is the simhost's own.
//!
//! It speaks the subset of Redfish that `steward-bmc-redfish` and `steward-bmc` (protocols
//! `redfish` and `dynamic`) use, with the rules a real BMC enforces: credentials on every
//! resource but the service root, sessions that expire when idle and are limited in number,
//! `ETag`/`If-Match` on PATCH, allowable values on every enumeration it accepts, virtual media that
//! really reads the image it is given (a one-time `Cd` boot override with a mounted image tells
//! the machine to boot from it: [`PowerTarget::booting_from_media`]), and DMTF
//! Base-registry `error` bodies for every refusal. It is not a test fake: it has no scripted
//! replies, and its fault injection ([`SimBmc::set_reachable`],
//! [`SimBmc::expire_sessions`]) models what happens to real BMCs.
//!
//! # Resources
//!
//! | URI | methods | notes |
//! |---|---|---|
//! | `/redfish` | GET | version document, no auth |
//! | `/redfish/v1`, `/redfish/v1/` | GET | ServiceRoot (`RedfishVersion` 1.15.0, links to Systems, Managers, Chassis, SessionService and `Links.Sessions`), no auth |
//! | `/redfish/v1/SessionService` | GET | `SessionTimeout` in seconds |
//! | `/redfish/v1/SessionService/Sessions` | GET, POST | POST `{"UserName","Password"}` without auth → 201, `X-Auth-Token`, `Location` |
//! | `/redfish/v1/SessionService/Sessions/{n}` | GET, DELETE | DELETE logs out |
//! | `/redfish/v1/Systems`, `/Systems/{host}` | GET, PATCH (system) | `PowerState`, `Boot` with allowable values, `ETag` header and `@odata.etag`; PATCH `Boot` only, `If-Match` → 412 on mismatch |
//! | `/Systems/{host}/Actions/ComputerSystem.Reset` | POST | `ResetType` ∈ On, ForceOff, GracefulShutdown, ForceRestart, GracefulRestart, PowerCycle, Nmi → 204 |
//! | `/Systems/{host}/ResetActionInfo` | GET | the same allowable values as an ActionInfo |
//! | `/redfish/v1/Managers`, `/Managers/BMC` | GET | `ManagerType` BMC, `FirmwareVersion` |
//! | `/Managers/BMC/LogServices/SEL/Entries[/{n}]` | GET | event log (ring of 256): resets, boot override changes, refused logins, media mounts |
//! | `/Managers/BMC/VirtualMedia`, `/VirtualMedia/CD` | GET | one virtual CD slot: `MediaTypes` CD/DVD, `Image`, `ImageName`, `Inserted`, `WriteProtected`, `ConnectedVia` (`URI` while mounted, else `NotConnected`) |
//! | `/VirtualMedia/CD/Actions/VirtualMedia.InsertMedia` | POST | `{"Image": "http(s)://…"}` with optional `Inserted`, `WriteProtected`, `TransferProtocolType` (matching the URL), `TransferMethod` `Stream`, `UserName`/`Password` → 204; 409 while an image is held. The BMC mounts it by fetching it (HEAD, then a range GET of the ISO 9660 volume descriptor), from loopback addresses only: an unreachable, non-loopback or non-ISO image stays `Inserted` false |
//! | `/VirtualMedia/CD/Actions/VirtualMedia.EjectMedia` | POST | empty body or `{}` → 204 (also when empty) |
//! | `/redfish/v1/Chassis`, `/Chassis/{host}` | GET | links `Sensors` and legacy `Thermal` |
//! | `/Chassis/{host}/Sensors`, `/Sensors/{id}` | GET | a 1U server's ten sensors: inlet and two CPU temperatures, two fans, the 12 V, 5 V and 3.3 V rails, two supplies' input power, with caution and critical thresholds; main-rail sensors read `null` while the host is off; [`SimBmc::set_sensor`] injects values or removes sensors |
//! | `/Chassis/{host}/Thermal` | GET | the temperatures and fans in the legacy shape |
//! | `/redfish/v1/EventService` | GET | `ServiceEnabled`, link to its subscriptions; no server-sent events |
//! | `/EventService/Subscriptions[/{n}]` | GET, POST, DELETE | POST `{"Destination": "http(s)://…", "Context"}` → 201, `Location`; at most 8; every event raised by [`SimBmc::push_sensor_event`] is POSTed to each destination as a Redfish `Event` with its `Context` |
//!
//! Every reply carries `OData-Version: 4.0`. Authentication is either `X-Auth-Token` of a live
//! session or HTTP Basic; anything else is a 401 with a Redfish error (the password is never
//! echoed or logged). Request bodies are bounded ([`SimBmcConfig::max_body_bytes`], 413
//! beyond); malformed JSON is a 400 `MalformedJSON`.
//!
//! # Example
//!
//! ```no_run
//! # use std::sync::{Arc, Mutex};
//! # use steward_simbmc::{Power, PowerTarget, SimBmc, SimBmcConfig};
//! struct Machine(Mutex<Power>);
//! impl PowerTarget for Machine {
//!     fn power(&self) -> Power { *self.0.lock().unwrap() }
//!     fn power_on(&self) { *self.0.lock().unwrap() = Power::On }
//!     fn power_off(&self) { *self.0.lock().unwrap() = Power::Off }
//!     fn reset(&self) { *self.0.lock().unwrap() = Power::On }
//!     fn power_cycle(&self) { *self.0.lock().unwrap() = Power::On }
//! }
//! # async fn demo() -> std::io::Result<()> {
//! let cfg = SimBmcConfig::new("controller-0", "root", "lab-password");
//! let bmc = SimBmc::start(cfg, Arc::new(Machine(Mutex::new(Power::Off)))).await?;
//! println!("BMC of controller-0 at {}", bmc.url()); // http://127.0.0.1:PORT
//! bmc.set_reachable(false); // the audit now sees an unreachable BMC
//! bmc.shutdown().await;
//! # Ok(()) }
//! ```

mod eventlog;
mod events;
mod fault;
mod gate;
mod sensors;
mod service;
mod sessions;
mod vmedia;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

pub use sensors::SensorOverride;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::gate::{Gate, GatedListener};
use crate::service::Shared;

pub use crate::events::EventSeverity;
pub use crate::vmedia::{placeholder_iso, MediaState};

/// Power state of the machine behind the BMC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    On,
    Off,
}

/// The device a boot starts from, as the BMC's boot override selects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootDevice {
    /// No override: the machine's own boot order.
    Normal,
    Pxe,
    Cd,
    Hdd,
    BiosSetup,
}

/// The machine a [`SimBmc`] controls. Calls come from the BMC's request handlers on the tokio
/// runtime, so implementations must return quickly (spawn any delayed work, like a boot
/// delay) and must not block.
pub trait PowerTarget: Send + Sync + 'static {
    /// Current power state; read on every `PowerState` the BMC reports.
    fn power(&self) -> Power;
    /// Power on. Only called while the machine reads [`Power::Off`].
    fn power_on(&self);
    /// Hard power off. Only called while the machine reads [`Power::On`].
    fn power_off(&self);
    /// Hard reset (`ForceRestart`): the machine reboots, and powers on if it was off.
    fn reset(&self);
    /// Power cycle: off, then on.
    fn power_cycle(&self);
    /// Told just before an action that boots the machine (power on, reset, cycle) which device
    /// the BMC's boot override selects; a `Once` override is consumed by that boot. The default
    /// ignores it, for machines that always boot the same way.
    fn booting_from(&self, _device: BootDevice) {}
    /// Told, right after [`PowerTarget::booting_from`] with [`BootDevice::Cd`], that the virtual
    /// CD holds the mounted image `image` (its URL): this boot starts from it (an installer
    /// image installs the machine). Without a mounted image this is not called and a `Cd` boot
    /// falls through to the disk. The default ignores it.
    fn booting_from_media(&self, _image: &str) {}
}

/// Configuration of one simulated BMC. Build with [`SimBmcConfig::new`] and adjust fields.
/// `Debug` never shows the password.
#[derive(Clone)]
pub struct SimBmcConfig {
    /// Loopback address to listen on; port 0 picks a free port. Non-loopback addresses are
    /// refused: this is plain HTTP carrying credentials.
    pub bind: SocketAddr,
    /// The ComputerSystem (and Chassis) id: the machine's hostname.
    pub system_id: String,
    /// The one account this BMC knows.
    pub username: String,
    pub password: String,
    /// `Manufacturer`/`Model` of the System and Chassis (vendor quirks key on these).
    pub manufacturer: String,
    pub model: String,
    pub serial_number: String,
    /// Manager `FirmwareVersion`.
    pub firmware_version: String,
    /// Sessions idle for longer than this expire (the client then gets a 401 and logs in again).
    pub session_timeout: Duration,
    /// Session slots; a login beyond this is refused with 503 like a full iDRAC.
    pub max_sessions: usize,
    /// Largest request body accepted (413 beyond).
    pub max_body_bytes: usize,
}

impl SimBmcConfig {
    /// Defaults: `127.0.0.1:0`, manufacturer "steward", model "simhost", firmware "1.0.0",
    /// 30 minute idle session timeout (iDRAC's default), 16 sessions, 64 KiB bodies.
    pub fn new(
        system_id: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        let system_id = system_id.into();
        SimBmcConfig {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            serial_number: format!("SIM-{system_id}"),
            system_id,
            username: username.into(),
            password: password.into(),
            manufacturer: "steward".into(),
            model: "simhost".into(),
            firmware_version: "1.0.0".into(),
            session_timeout: Duration::from_secs(1800),
            max_sessions: 16,
            max_body_bytes: 64 * 1024,
        }
    }

    fn validate(&self) -> io::Result<()> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if !self.bind.ip().is_loopback() {
            return invalid(format!(
                "simulated BMC bind address {} is not loopback: it serves plain HTTP with credentials, use 127.0.0.0/8 or ::1",
                self.bind
            ));
        }
        // The id becomes a URI segment; hostnames never need escaping, so refuse what would.
        if self.system_id.is_empty()
            || !self
                .system_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return invalid(format!(
                "simulated BMC system id '{}' must be a non-empty hostname (letters, digits, '-', '_', '.')",
                self.system_id
            ));
        }
        if self.username.is_empty() || self.username.contains(':') {
            return invalid(
                "simulated BMC username must be non-empty and free of ':' (HTTP Basic)".into(),
            );
        }
        if self.max_sessions == 0 || self.max_body_bytes == 0 {
            return invalid("simulated BMC max_sessions and max_body_bytes must be > 0".into());
        }
        Ok(())
    }
}

impl fmt::Debug for SimBmcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimBmcConfig")
            .field("bind", &self.bind)
            .field("system_id", &self.system_id)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("manufacturer", &self.manufacturer)
            .field("model", &self.model)
            .field("session_timeout", &self.session_timeout)
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

/// How long [`SimBmc::shutdown`] lets in-flight requests finish before cutting them off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A running simulated BMC. Dropping it stops the server too; [`SimBmc::shutdown`] also waits
/// for it to finish.
pub struct SimBmc {
    addr: SocketAddr,
    shared: Arc<Shared>,
    gate: Arc<Gate>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for SimBmc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimBmc")
            .field("addr", &self.addr)
            .field("system_id", &self.shared.cfg.system_id)
            .field("reachable", &self.gate.reachable())
            .finish()
    }
}

impl SimBmc {
    /// Bind `cfg.bind` and serve until [`SimBmc::shutdown`] (or drop). Fails on a non-loopback
    /// address, an unusable system id, or when the address cannot be bound.
    pub async fn start(cfg: SimBmcConfig, target: Arc<dyn PowerTarget>) -> io::Result<SimBmc> {
        cfg.validate()?;
        let listener = tokio::net::TcpListener::bind(cfg.bind).await?;
        let addr = listener.local_addr()?;
        let gate = Arc::new(Gate::new());
        let shared = Arc::new(Shared::new(cfg, target));
        let app = service::router(shared.clone());
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let listener = GatedListener::new(listener, gate.clone());
        let system = shared.cfg.system_id.clone();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // A dropped sender also means stop.
                let _ = stop_rx.await;
            });
            if let Err(e) = serve.await {
                warn!(system = %system, error = %e, "simulated BMC server failed");
            }
        });
        info!(system = %shared.cfg.system_id, %addr, "simulated BMC listening");
        Ok(SimBmc {
            addr,
            shared,
            gate,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// The bound address (the picked port when `bind` had port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL for a Redfish client, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Fault injection: `false` makes the BMC unreachable — new connections are dropped as
    /// soon as they are accepted and open ones fail on their next use — until set back to
    /// `true`. The port stays bound throughout.
    pub fn set_reachable(&self, on: bool) {
        if self.gate.reachable() != on {
            info!(system = %self.shared.cfg.system_id, reachable = on, "simulated BMC reachability");
        }
        self.gate.set_reachable(on);
    }

    /// Fault injection on a sensor (by name or Redfish id, e.g. `"CPU1 Temp"`): `Some(Value(v))`
    /// makes it read `v` — past its thresholds its health turns Warning or Critical, as a real BMC
    /// reports — `Some(Absent)` removes it from the BMC's answers, `None` restores it. An unknown
    /// name is refused with the list of sensors.
    pub fn set_sensor(&self, name: &str, state: Option<SensorOverride>) -> Result<(), String> {
        self.shared.sensors.set(name, state)?;
        info!(system = %self.shared.cfg.system_id, sensor = name, ?state, "simulated sensor");
        Ok(())
    }

    /// Whether the BMC currently answers.
    pub fn is_reachable(&self) -> bool {
        self.gate.reachable()
    }

    /// Requests served (any status, including 401s); dropped connections do not count.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
    }

    /// Fault injection: forget every session, as a BMC reboot does. Clients get 401 on their
    /// next request and must log in again.
    pub fn expire_sessions(&self) {
        self.shared.clear_sessions();
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.shared.session_count()
    }

    /// Raise an event about sensor `sensor` (its id under the Chassis' `Sensors`): it goes to
    /// every EventService subscriber as a Redfish `Event` with the subscription's `Context`,
    /// and into the event log. Returns how many subscribers it is sent to (delivery happens in
    /// the background); none while the BMC is unreachable, as a BMC that is down pushes nothing.
    pub fn push_sensor_event(&self, sensor: &str, severity: EventSeverity, message: &str) -> usize {
        if !self.gate.reachable() {
            return 0;
        }
        events::push_sensor_event(&self.shared, sensor, severity, message)
    }

    /// Push an event about sensor `name` (name or Redfish id) carrying the health it has now,
    /// as a real BMC does when a reading crosses a threshold: Critical, Warning or OK. Returns how
    /// many subscribers it goes to; an unknown name is refused with the list of sensors.
    pub fn push_sensor_state(&self, name: &str) -> Result<usize, String> {
        let s = sensors::SensorBoard::find(name).ok_or_else(|| format!("no sensor {name:?}"))?;
        let power = self.shared.target.power();
        let (severity, message) = match self.shared.sensors.reading(s, power) {
            None => (
                EventSeverity::Warning,
                format!("{} is not readable", s.name),
            ),
            Some(v) => {
                let severity = match self.shared.sensors.status(s, power)["Health"].as_str() {
                    Some("Critical") => EventSeverity::Critical,
                    Some("Warning") => EventSeverity::Warning,
                    _ => EventSeverity::Ok,
                };
                (severity, format!("{} reads {v}", s.name))
            }
        };
        Ok(self.push_sensor_event(s.id, severity, &message))
    }

    /// What the virtual CD holds (`Managers/BMC/VirtualMedia/CD`).
    pub fn media(&self) -> MediaState {
        service::lock(&self.shared.media).clone()
    }

    /// EventService subscriptions held.
    pub fn subscription_count(&self) -> usize {
        service::lock(&self.shared.subscriptions).len()
    }

    /// Stop accepting, let in-flight requests finish (bounded), and wait for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task)
                .await
                .is_err()
            {
                warn!(system = %self.shared.cfg.system_id, "simulated BMC did not stop in time; aborting");
                task.abort();
            }
        }
        // Idle keep-alive connections the graceful shutdown did not reach die on next use.
        self.gate.stop();
        info!(system = %self.shared.cfg.system_id, "simulated BMC stopped");
    }
}

impl Drop for SimBmc {
    fn drop(&mut self) {
        self.gate.stop();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_debug_redacts_password() {
        let c = SimBmcConfig::new("worker-1", "root", "s3cr3t-pw");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t-pw"), "{dbg}");
        assert!(dbg.contains("<redacted>"));
    }

    #[test]
    fn config_validation() {
        assert!(SimBmcConfig::new("worker-1", "root", "pw")
            .validate()
            .is_ok());
        let mut c = SimBmcConfig::new("worker-1", "root", "pw");
        c.bind = "10.0.0.5:8000".parse().expect("addr");
        assert!(c.validate().is_err());
        c.bind = "[::1]:0".parse().expect("addr");
        assert!(c.validate().is_ok());
        assert!(SimBmcConfig::new("a/b", "root", "pw").validate().is_err());
        assert!(SimBmcConfig::new("", "root", "pw").validate().is_err());
        assert!(SimBmcConfig::new("h", "ro:ot", "pw").validate().is_err());
    }
}
