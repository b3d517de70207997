//! The simulated BMC driven by steward's own clients over real HTTP on 127.0.0.1:
//! `steward-bmc-redfish`'s `RedfishClient` and `steward-bmc`'s `Bmc` (protocols `redfish`
//! and `dynamic`), plus raw HTTP/1.1 from a plain TCP socket for the wire details a client
//! hides (status codes, error bodies, headers) — so no `curl` or other tool is needed.
//!
//! The machine behind the BMC is a small in-test [`Machine`] that records what was done to it.
//! No assertion depends on wall-clock time.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use steward_bmc::{Bmc, BmcConfig, BmcError, BmcProtocol, PowerAction as BmcAction};
use steward_bmc_redfish::{
    AuthKind, AuthMode, BootEnabled, BootOverride, BootTarget, ClientConfig, PowerAction,
    PowerState, RedfishClient, RedfishError, ResetType, SensorSource,
};
use steward_simbmc::{BootDevice, Power, PowerTarget, SensorOverride, SimBmc, SimBmcConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "root";
const PASSWORD: &str = "lab-s3cret";

/// A machine that only has a power switch, and remembers every action and boot.
struct Machine {
    power: Mutex<Power>,
    actions: Mutex<Vec<&'static str>>,
    boots: Mutex<Vec<BootDevice>>,
}

impl Machine {
    fn new(power: Power) -> Arc<Machine> {
        Arc::new(Machine {
            power: Mutex::new(power),
            actions: Mutex::new(Vec::new()),
            boots: Mutex::new(Vec::new()),
        })
    }

    fn set(&self, p: Power, what: &'static str) {
        *self.power.lock().expect("power") = p;
        self.actions.lock().expect("actions").push(what);
    }

    fn actions(&self) -> Vec<&'static str> {
        self.actions.lock().expect("actions").clone()
    }

    fn boots(&self) -> Vec<BootDevice> {
        self.boots.lock().expect("boots").clone()
    }

    fn is(&self) -> Power {
        *self.power.lock().expect("power")
    }
}

impl PowerTarget for Machine {
    fn power(&self) -> Power {
        self.is()
    }
    fn power_on(&self) {
        self.set(Power::On, "on");
    }
    fn power_off(&self) {
        self.set(Power::Off, "off");
    }
    fn reset(&self) {
        self.set(Power::On, "reset");
    }
    fn power_cycle(&self) {
        self.set(Power::On, "cycle");
    }
    fn booting_from(&self, device: BootDevice) {
        self.boots.lock().expect("boots").push(device);
    }
}

async fn start(host: &str, power: Power) -> (SimBmc, Arc<Machine>) {
    start_with(SimBmcConfig::new(host, USER, PASSWORD), power).await
}

async fn start_with(cfg: SimBmcConfig, power: Power) -> (SimBmc, Arc<Machine>) {
    let machine = Machine::new(power);
    let bmc = SimBmc::start(cfg, machine.clone())
        .await
        .expect("start simulated BMC");
    (bmc, machine)
}

/// Client settings for a loopback peer: fail fast instead of retrying for seconds.
fn client_cfg(bmc: &SimBmc, password: &str) -> ClientConfig {
    let mut c = ClientConfig::new(bmc.url(), USER, password);
    c.max_retries = 0;
    c.retry_base_delay = Duration::from_millis(10);
    c
}

fn bmc_cfg(bmc: &SimBmc, protocol: BmcProtocol, password: &str) -> BmcConfig {
    let mut c = BmcConfig::new(bmc.url(), protocol, USER, password);
    c.poll_interval = Duration::from_millis(10);
    c.power_timeout = Duration::from_secs(20);
    c.cycle_off_grace = Duration::from_secs(5);
    // Dynamic falls back to IPMI over UDP on the same port, where nothing answers.
    c.ipmi_timeout = Duration::from_millis(200);
    c.ipmi_retries = 0;
    c
}

/// A raw HTTP/1.1 exchange.
struct Raw {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&[u8]>,
) -> Raw {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write head");
    if let Some(b) = body {
        s.write_all(b).await.expect("write body");
    }
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.expect("read reply");
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Raw {
        status,
        headers,
        body: out[split + 4..].to_vec(),
    }
}

fn auth() -> Vec<(&'static str, String)> {
    vec![("Authorization", basic(USER, PASSWORD))]
}

// ---- steward-bmc-redfish ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redfish_client_power_read_back_and_reset_reach_the_machine() {
    let (bmc, machine) = start("node-1", Power::Off).await;
    let c = RedfishClient::connect(client_cfg(&bmc, PASSWORD))
        .await
        .expect("connect");
    assert_eq!(c.auth_kind().await, AuthKind::Session);
    assert_eq!(bmc.session_count(), 1);
    assert_eq!(c.topology().system, "/redfish/v1/Systems/node-1");
    assert_eq!(c.topology().manufacturer.as_deref(), Some("steward"));
    assert_eq!(c.topology().firmware.as_deref(), Some("1.0.0"));
    assert_eq!(c.service_root().redfish_version.as_deref(), Some("1.15.0"));
    let allowed = c
        .allowed_reset_types()
        .await
        .expect("allowed")
        .expect("list");
    assert_eq!(
        allowed,
        [
            "On",
            "ForceOff",
            "GracefulShutdown",
            "ForceRestart",
            "GracefulRestart",
            "PowerCycle",
            "Nmi"
        ]
    );

    assert_eq!(c.power_state().await.expect("state"), PowerState::Off);
    assert_eq!(c.power(PowerAction::On).await.expect("on"), ResetType::On);
    assert_eq!(c.power_state().await.expect("state"), PowerState::On);
    assert_eq!(
        c.power(PowerAction::Reset).await.expect("reset"),
        ResetType::ForceRestart
    );
    assert_eq!(
        c.power(PowerAction::Cycle).await.expect("cycle"),
        ResetType::PowerCycle
    );
    assert_eq!(
        c.power(PowerAction::OffForced).await.expect("off"),
        ResetType::ForceOff
    );
    assert_eq!(c.power_state().await.expect("state"), PowerState::Off);
    // Off again is a no-op, not an error.
    c.power(PowerAction::OffGraceful).await.expect("off again");
    c.reset(ResetType::Nmi).await.expect("nmi");
    assert_eq!(machine.actions(), ["on", "reset", "cycle", "off"]);

    // Outside the advertised list the client refuses before sending anything.
    assert!(matches!(
        c.reset(ResetType::Suspend).await,
        Err(RedfishError::Unsupported { .. })
    ));

    // Logout deletes the session on the BMC.
    c.close().await.expect("logout");
    assert_eq!(bmc.session_count(), 0);
    assert!(bmc.requests() > 10);
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_an_auth_error_in_every_auth_mode() {
    let (bmc, machine) = start("node-2", Power::On).await;
    for mode in [AuthMode::Auto, AuthMode::Session, AuthMode::Basic] {
        let mut cfg = client_cfg(&bmc, "not-the-password");
        cfg.auth = mode;
        match RedfishClient::connect(cfg).await {
            Err(RedfishError::AuthFailed { status, .. }) => assert_eq!(status, 401, "{mode:?}"),
            other => panic!("{mode:?}: expected AuthFailed, got {other:?}"),
        }
    }
    assert_eq!(bmc.session_count(), 0);
    assert!(machine.actions().is_empty());
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_relogin_after_the_bmc_forgets_sessions() {
    let (bmc, machine) = start("node-3", Power::Off).await;
    let mut cfg = client_cfg(&bmc, PASSWORD);
    cfg.auth = AuthMode::Basic;
    let basic_client = RedfishClient::connect(cfg).await.expect("basic connect");
    assert_eq!(basic_client.auth_kind().await, AuthKind::Basic);
    basic_client.power(PowerAction::On).await.expect("on");
    assert_eq!(bmc.session_count(), 0);

    let c = RedfishClient::connect(client_cfg(&bmc, PASSWORD))
        .await
        .expect("session connect");
    assert_eq!(bmc.session_count(), 1);
    // A BMC reboot drops every session: the next call gets a 401, logs in again and succeeds.
    bmc.expire_sessions();
    assert_eq!(bmc.session_count(), 0);
    assert_eq!(
        c.power_state().await.expect("after relogin"),
        PowerState::On
    );
    assert_eq!(bmc.session_count(), 1);
    c.close().await.expect("logout");
    assert_eq!(machine.actions(), ["on"]);
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boot_override_reads_back_and_once_is_consumed_by_the_next_boot() {
    let (bmc, machine) = start("node-4", Power::Off).await;
    let c = RedfishClient::connect(client_cfg(&bmc, PASSWORD))
        .await
        .expect("connect");
    let before = c.boot_settings().await.expect("boot");
    assert_eq!(before.target, Some(BootTarget::None));
    assert_eq!(before.enabled, Some(BootEnabled::Disabled));

    let back = c
        .set_boot_override(&BootOverride {
            target: BootTarget::Pxe,
            enabled: BootEnabled::Once,
            mode: Some(steward_bmc_redfish::BootMode::Uefi),
        })
        .await
        .expect("set boot");
    assert_eq!(back.target, Some(BootTarget::Pxe));
    assert_eq!(back.enabled, Some(BootEnabled::Once));

    // Values outside the published list are refused by the client already.
    assert!(matches!(
        c.set_boot_override(&BootOverride {
            target: BootTarget::UsbCd,
            enabled: BootEnabled::Once,
            mode: None,
        })
        .await,
        Err(RedfishError::Unsupported { .. })
    ));

    c.power(PowerAction::On).await.expect("on");
    // Reset while on boots again, now without the one-time override.
    c.power(PowerAction::Reset).await.expect("reset");
    assert_eq!(machine.boots(), [BootDevice::Pxe, BootDevice::Normal]);
    let after = c.boot_settings().await.expect("boot");
    assert_eq!(after.enabled, Some(BootEnabled::Disabled));

    // A persistent override stays for every boot.
    c.set_boot_override(&BootOverride {
        target: BootTarget::Hdd,
        enabled: BootEnabled::Continuous,
        mode: None,
    })
    .await
    .expect("continuous");
    c.power(PowerAction::Reset).await.expect("reset");
    c.power(PowerAction::Reset).await.expect("reset");
    assert_eq!(machine.boots()[2..], [BootDevice::Hdd, BootDevice::Hdd]);
    c.close().await.expect("logout");
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensors_new_style_and_legacy_thermal() {
    let (bmc, _machine) = start("node-5", Power::On).await;
    let c = RedfishClient::connect(client_cfg(&bmc, PASSWORD))
        .await
        .expect("connect");
    let set = c.sensors(None).await.expect("sensors");
    assert_eq!(set.source, SensorSource::SensorsCollection);
    assert_eq!(set.chassis, "/redfish/v1/Chassis/node-5");
    let names: Vec<&str> = set.readings.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Inlet Temp",
            "CPU1 Temp",
            "CPU2 Temp",
            "Fan1",
            "Fan2",
            "12V",
            "5V",
            "3.3V",
            "PSU1 Input Power",
            "PSU2 Input Power"
        ]
    );
    let cpu = &set.readings[1];
    assert_eq!(
        (cpu.reading, cpu.units.as_deref()),
        (Some(45.0), Some("Cel"))
    );
    assert_eq!(cpu.thresholds.upper_critical, Some(95.0));
    assert_eq!(set.readings[3].thresholds.lower_critical, Some(600.0));
    assert_eq!(set.readings[5].thresholds.lower_critical, Some(10.8));
    assert_eq!(set.readings[5].thresholds.upper_critical, Some(13.2));

    // Fault injection: a hot CPU reads Critical, a pulled fan is gone from the collection.
    bmc.set_sensor("CPU1 Temp", Some(SensorOverride::Value(97.0)))
        .unwrap();
    bmc.set_sensor("Fan2", Some(SensorOverride::Absent))
        .unwrap();
    let hot = c.sensors(None).await.expect("sensors");
    assert_eq!(hot.readings.len(), 9);
    assert_eq!(hot.readings[1].reading, Some(97.0));
    assert_eq!(hot.readings[1].health.as_deref(), Some("Critical"));
    assert!(hot.readings.iter().all(|r| r.name != "Fan2"));
    assert!(bmc.set_sensor("Warp Core", None).is_err());
    bmc.set_sensor("CPU1 Temp", None).unwrap();
    bmc.set_sensor("Fan2", None).unwrap();

    let thermal = c
        .get_json("/redfish/v1/Chassis/node-5/Thermal")
        .await
        .expect("thermal");
    assert_eq!(thermal["Temperatures"][1]["ReadingCelsius"], json!(45.0));
    assert_eq!(thermal["Fans"][0]["ReadingUnits"], json!("RPM"));

    // Main-rail sensors have no reading while the host is off; the inlet still reads.
    c.power(PowerAction::OffForced).await.expect("off");
    let off = c.sensors(None).await.expect("sensors");
    assert_eq!(off.readings[0].reading, Some(23.0));
    assert_eq!(off.readings[1].reading, None);
    assert_eq!(off.readings[1].state.as_deref(), Some("StandbyOffline"));
    c.close().await.expect("logout");
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_mode_is_a_transport_failure_then_recovers() {
    let (bmc, _machine) = start("node-6", Power::On).await;
    let c = RedfishClient::connect(client_cfg(&bmc, PASSWORD))
        .await
        .expect("connect");
    let served = bmc.requests();

    bmc.set_reachable(false);
    assert!(!bmc.is_reachable());
    // The open keep-alive connection dies, and so does every new one.
    match c.power_state().await {
        Err(RedfishError::Unreachable { .. }) => {}
        other => panic!("expected Unreachable, got {other:?}"),
    }
    match RedfishClient::connect(client_cfg(&bmc, PASSWORD)).await {
        Err(RedfishError::Unreachable { .. }) => {}
        other => panic!("expected Unreachable on connect, got {other:?}"),
    }
    assert_eq!(
        bmc.requests(),
        served,
        "nothing is served while unreachable"
    );

    bmc.set_reachable(true);
    assert_eq!(c.power_state().await.expect("back"), PowerState::On);
    c.close().await.expect("logout");
    bmc.shutdown().await;
}

// ---- steward-bmc ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmc_interface_over_redfish_and_dynamic() {
    let (bmc, machine) = start("node-7", Power::Off).await;
    for protocol in [BmcProtocol::Redfish, BmcProtocol::Dynamic] {
        let mut b = Bmc::connect(bmc_cfg(&bmc, protocol, PASSWORD))
            .await
            .expect("connect");
        // Dynamic learns Redfish from the service root's RedfishVersion.
        assert_eq!(b.protocol(), BmcProtocol::Redfish, "{protocol}");
        let info = b.info().await.expect("info");
        assert_eq!(info.manufacturer.as_deref(), Some("steward"));
        assert_eq!(info.model.as_deref(), Some("simhost"));
        assert_eq!(info.protocol_version.as_deref(), Some("1.15.0"));
        assert_eq!(info.firmware.as_deref(), Some("1.0.0"));
        assert_eq!(info.serial_number.as_deref(), Some("SIM-node-7"));

        use steward_bmc::PowerState as S;
        assert_eq!(b.power_state().await.expect("state"), S::Off);
        assert_eq!(b.power(BmcAction::On).await.expect("on"), S::On);
        assert_eq!(b.power(BmcAction::Reset).await.expect("reset"), S::On);
        assert_eq!(b.power(BmcAction::Cycle).await.expect("cycle"), S::On);
        assert_eq!(b.power(BmcAction::SoftOff).await.expect("soft off"), S::Off);
        // Cycling an off host powers it on; then a hard off.
        assert_eq!(
            b.power(BmcAction::Cycle).await.expect("cycle off host"),
            S::On
        );
        assert_eq!(b.power(BmcAction::Off).await.expect("off"), S::Off);

        b.set_boot_device(steward_bmc::BootTarget::Pxe, true)
            .await
            .expect("bootdev");
        let sensors = b.sensors().await.expect("sensors");
        assert_eq!(sensors.len(), 10);
        // The BMC's event log records what was done through it.
        let sel = b.sel().await.expect("sel");
        assert!(
            sel.iter()
                .any(|r| r.message.starts_with("ComputerSystem.Reset PowerCycle")),
            "{sel:?}"
        );
        assert!(sel.iter().all(|r| r.timestamp.is_some()));
        b.close().await.expect("close");
    }
    let per_round = ["on", "reset", "cycle", "off", "on", "off"];
    let want: Vec<&str> = per_round.iter().chain(per_round.iter()).copied().collect();
    assert_eq!(machine.actions(), want);
    assert_eq!(bmc.session_count(), 0);
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bmc_interface_auth_and_unreachable_errors() {
    let (bmc, _machine) = start("node-8", Power::On).await;
    for protocol in [BmcProtocol::Redfish, BmcProtocol::Dynamic] {
        match Bmc::connect(bmc_cfg(&bmc, protocol, "wrong")).await {
            Err(e) => assert!(e.is_auth(), "{protocol}: {e}"),
            Ok(_) => panic!("{protocol}: wrong password accepted"),
        }
    }
    let mut live = Bmc::connect(bmc_cfg(&bmc, BmcProtocol::Redfish, PASSWORD))
        .await
        .expect("connect");
    bmc.set_reachable(false);
    match live.power_state().await {
        Err(BmcError::Unreachable { .. }) => {}
        other => panic!("expected Unreachable, got {other:?}"),
    }
    match Bmc::connect(bmc_cfg(&bmc, BmcProtocol::Redfish, PASSWORD)).await {
        Err(BmcError::Unreachable { .. }) => {}
        other => panic!("expected Unreachable on connect, got {other:?}"),
    }
    bmc.set_reachable(true);
    assert_eq!(
        live.power_state().await.expect("back"),
        steward_bmc::PowerState::On
    );
    live.close().await.expect("close");
    bmc.shutdown().await;
}

// ---- wire details, over a plain socket ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_root_is_open_everything_else_needs_credentials() {
    let (bmc, _machine) = start("node-9", Power::On).await;
    let a = bmc.addr();
    let root = raw(a, "GET", "/redfish/v1/", &[], None).await;
    assert_eq!(root.status, 200);
    assert_eq!(
        root.headers.get("odata-version").map(String::as_str),
        Some("4.0")
    );
    assert_eq!(root.json()["RedfishVersion"], json!("1.15.0"));
    assert_eq!(
        root.json()["Links"]["Sessions"]["@odata.id"],
        json!("/redfish/v1/SessionService/Sessions")
    );

    let denied = raw(a, "GET", "/redfish/v1/Systems/node-9", &[], None).await;
    assert_eq!(denied.status, 401);
    assert_eq!(
        denied.json()["error"]["code"],
        json!("Base.1.18.NoValidSession")
    );
    assert!(denied.headers.contains_key("www-authenticate"));

    let bad_basic = raw(
        a,
        "GET",
        "/redfish/v1/Systems",
        &[("Authorization", basic(USER, "guess"))],
        None,
    )
    .await;
    assert_eq!(bad_basic.status, 401);
    let bad_token = raw(
        a,
        "GET",
        "/redfish/v1/Systems",
        &[("X-Auth-Token", "0123456789abcdef".into())],
        None,
    )
    .await;
    assert_eq!(bad_token.status, 401);

    // Login: 201, token and Location; the password never comes back, not even on failure.
    let body = json!({"UserName": USER, "Password": PASSWORD}).to_string();
    let login = raw(
        a,
        "POST",
        "/redfish/v1/SessionService/Sessions",
        &[],
        Some(body.as_bytes()),
    )
    .await;
    assert_eq!(login.status, 201);
    let token = login.headers.get("x-auth-token").cloned().expect("token");
    let location = login.headers.get("location").cloned().expect("location");
    assert!(!login.text().contains(PASSWORD));
    let wrong = json!({"UserName": USER, "Password": "hunter2-wrong"}).to_string();
    let refused = raw(
        a,
        "POST",
        "/redfish/v1/SessionService/Sessions",
        &[],
        Some(wrong.as_bytes()),
    )
    .await;
    assert_eq!(refused.status, 401);
    assert!(
        !refused.text().contains("hunter2-wrong"),
        "{}",
        refused.text()
    );

    let with_token = [("X-Auth-Token", token.clone())];
    let sys = raw(a, "GET", "/redfish/v1/Systems/node-9", &with_token, None).await;
    assert_eq!(sys.status, 200);
    assert_eq!(sys.json()["PowerState"], json!("On"));
    let list = raw(
        a,
        "GET",
        "/redfish/v1/SessionService/Sessions",
        &with_token,
        None,
    )
    .await;
    assert_eq!(list.json()["Members@odata.count"], json!(1));

    let out = raw(a, "DELETE", &location, &with_token, None).await;
    assert_eq!(out.status, 204);
    let after = raw(a, "GET", "/redfish/v1/Systems/node-9", &with_token, None).await;
    assert_eq!(after.status, 401);
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patch_honours_if_match() {
    let (bmc, _machine) = start("node-10", Power::On).await;
    let a = bmc.addr();
    let path = "/redfish/v1/Systems/node-10";
    let sys = raw(a, "GET", path, &auth(), None).await;
    let etag = sys.headers.get("etag").cloned().expect("ETag header");
    assert_eq!(sys.json()["@odata.etag"], json!(etag));
    let body =
        json!({"Boot": {"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}})
            .to_string();

    let mut stale = auth();
    stale.push(("If-Match", "\"0-Off\"".into()));
    let refused = raw(a, "PATCH", path, &stale, Some(body.as_bytes())).await;
    assert_eq!(refused.status, 412);
    assert_eq!(
        refused.json()["error"]["code"],
        json!("Base.1.18.PreconditionFailed")
    );
    let unchanged = raw(a, "GET", path, &auth(), None).await;
    assert_eq!(
        unchanged.json()["Boot"]["BootSourceOverrideTarget"],
        json!("None")
    );

    let mut fresh = auth();
    fresh.push(("If-Match", etag.clone()));
    let ok = raw(a, "PATCH", path, &fresh, Some(body.as_bytes())).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["Boot"]["BootSourceOverrideTarget"], json!("Cd"));
    let new_tag = ok.headers.get("etag").cloned().expect("new ETag");
    assert_ne!(new_tag, etag);
    // The old tag is stale now.
    let again = raw(a, "PATCH", path, &fresh, Some(body.as_bytes())).await;
    assert_eq!(again.status, 412);
    bmc.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_redfish_errors() {
    let mut cfg = SimBmcConfig::new("node-11", USER, PASSWORD);
    // Small enough that the oversized body below is read whole before the 413, so the reply
    // is not lost to a reset of a half-read connection.
    cfg.max_body_bytes = 1024;
    let (bmc, machine) = start_with(cfg, Power::On).await;
    let a = bmc.addr();
    let reset = "/redfish/v1/Systems/node-11/Actions/ComputerSystem.Reset";
    let code = |r: &Raw| r.json()["error"]["code"].as_str().unwrap_or("").to_owned();

    let r = raw(a, "POST", reset, &auth(), Some(b"{\"ResetType\": ")).await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "Base.1.18.MalformedJSON".into())
    );
    let r = raw(a, "POST", reset, &auth(), Some(b"[1,2]")).await;
    assert_eq!(r.status, 400);
    let r = raw(a, "POST", reset, &auth(), Some(b"{}")).await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "Base.1.18.ActionParameterMissing".into())
    );
    let r = raw(
        a,
        "POST",
        reset,
        &auth(),
        Some(b"{\"ResetType\": \"Suspend\"}"),
    )
    .await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "Base.1.18.ActionParameterValueNotInList".into())
    );
    let r = raw(a, "POST", reset, &auth(), Some(b"{\"ResetType\": 3}")).await;
    assert_eq!(r.status, 400);
    assert!(
        machine.actions().is_empty(),
        "no bad request reached the machine"
    );

    let sys = "/redfish/v1/Systems/node-11";
    let r = raw(
        a,
        "PATCH",
        sys,
        &auth(),
        Some(br#"{"Boot": {"BootSourceOverrideTarget": "Floppy"}}"#),
    )
    .await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "Base.1.18.PropertyValueNotInList".into())
    );
    let r = raw(a, "PATCH", sys, &auth(), Some(br#"{"PowerState": "Off"}"#)).await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "Base.1.18.PropertyNotWritable".into())
    );

    // Bodies are bounded.
    let huge = format!("{{\"ResetType\": \"{}\"}}", "x".repeat(4096));
    let r = raw(a, "POST", reset, &auth(), Some(huge.as_bytes())).await;
    assert_eq!(
        (r.status, code(&r)),
        (413, "Base.1.18.PayloadTooLarge".into())
    );

    let r = raw(a, "GET", "/redfish/v1/Systems/other-host", &auth(), None).await;
    assert_eq!(
        (r.status, code(&r)),
        (404, "Base.1.18.ResourceNotFound".into())
    );
    let r = raw(a, "GET", "/redfish/v1/Systems/%FF%FE", &auth(), None).await;
    assert_eq!(
        (r.status, code(&r)),
        (404, "Base.1.18.ResourceMissingAtURI".into())
    );
    let r = raw(a, "GET", "/redfish/v1/Nope", &auth(), None).await;
    assert_eq!(
        (r.status, code(&r)),
        (404, "Base.1.18.ResourceMissingAtURI".into())
    );
    let r = raw(a, "DELETE", sys, &auth(), None).await;
    assert_eq!(r.status, 405);
    assert_eq!(
        r.headers.get("odata-version").map(String::as_str),
        Some("4.0")
    );
    bmc.shutdown().await;
}

#[tokio::test]
async fn refuses_non_loopback_bind() {
    let mut cfg = SimBmcConfig::new("node-12", USER, PASSWORD);
    cfg.bind = "0.0.0.0:0".parse().expect("addr");
    let err = SimBmc::start(cfg, Machine::new(Power::Off))
        .await
        .expect_err("must refuse");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
}
