//! The sysinv `ihost` shapes: what a host looks like on the wire, what `POST /v1/ihosts` takes and
//! what a `PATCH` list may change. Only fields steward has are shown; absent ones are omitted.

use crate::address;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::time::Duration;
use steward_controller::HostEntry;
use steward_maintenance::action::{Action, ActionId, OperatorAction};
use steward_maintenance::host::{
    check_image_url, BmcProtocol, BmcSpec, HostRecord, HostSpec, InstallMethod, InstallSpec,
};
use steward_maintenance::state::{Availability, Personality, SystemType};

/// One host as the API shows it (field names of the sysinv `ihosts` API). Every field that
/// sysinv's own client (`system host-show`) reads directly is always present, with sysinv's meaning.
#[derive(Clone, Debug, Serialize)]
pub struct IHost {
    /// The integer id sysinv's clients address hosts by: given at add, never reused.
    pub id: u64,
    pub uuid: String,
    pub hostname: String,
    pub personality: &'static str,
    /// The roles the host runs: its personality, then `worker` on an all-in-one controller.
    pub subfunctions: Cow<'static, str>,
    pub administrative: &'static str,
    pub operational: &'static str,
    pub availability: &'static str,
    pub task: String,
    pub action: &'static str,
    pub mgmt_ip: Option<String>,
    pub mgmt_mac: Option<String>,
    /// steward's addition: the cluster-host network address heartbeat uses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_ip: Option<String>,
    /// steward's addition: the pxeboot network address (alive reports and reboots,
    /// docs/protocol.md#the-pxeboot-network).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pxeboot_ip: Option<String>,
    pub bm_type: Option<&'static str>,
    pub bm_ip: Option<String>,
    pub bm_username: Option<String>,
    /// Seconds since the host's last boot, as the node agent last reported it.
    pub uptime: u64,
    /// The worker subfunction's states on an all-in-one controller; sysinv's defaults
    /// (`disabled`, `not-installed`) on hosts without a second role.
    pub subfunction_oper: &'static str,
    pub subfunction_avail: &'static str,
    /// The standby pairing of storage hosts: steward has none.
    pub peers: Option<String>,
    /// The last reinstall's stage (`preinstall`, `booting`, `installing`, `postinstall`) or end
    /// (`completed`, `failed`); before any reinstall `installed` once the host's agent has spoken,
    /// null before it was ever heard from (docs/handlers.md#reinstall).
    pub install_state: Option<&'static str>,
    /// What the reinstall is doing, or why it failed.
    pub install_state_info: Option<String>,
    /// steward's additions: the host's install image URL and method (null: the configured
    /// default, docs/config.md#install).
    pub install_image: Option<String>,
    pub install_method: Option<&'static str>,
    /// When the host was added and last changed (ISO 8601 with microseconds, as sysinv).
    pub created_at: Option<SysinvTime>,
    pub updated_at: Option<SysinvTime>,
    /// steward's addition: the id of an action accepted by this request (PATCH, DELETE).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<u64>,
    /// steward's addition: the secure boot state last read from the host's BMC
    /// (`GET /v1/ihosts/{id}/secure_boot` reads it); absent until read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secure_boot: Option<steward_controller::SecureBootSeen>,
}

/// Milliseconds since the epoch, written as sysinv writes times
/// (`2014-10-01T20:06:44.302000+00:00`) straight into the response, without a string per host
/// (the host list shows thousands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysinvTime(pub u64);

impl SysinvTime {
    /// 0 (not known) is shown as null.
    fn known(at_ms: u64) -> Option<SysinvTime> {
        (at_ms > 0).then_some(SysinvTime(at_ms))
    }
}

impl fmt::Display for SysinvTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d, hh, mm, ss, ms) = crate::handlers::civil(self.0);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}000+00:00"
        )
    }
}

impl Serialize for SysinvTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

pub fn bm_type_str(p: BmcProtocol) -> &'static str {
    match p {
        BmcProtocol::Ipmi => "ipmi",
        BmcProtocol::Redfish => "redfish",
        BmcProtocol::Dynamic => "dynamic",
    }
}

impl IHost {
    pub fn from_entry(e: &HostEntry) -> IHost {
        let r = &e.record;
        let s = &r.spec;
        let subfunctions = match r.subf {
            Some(_) => Cow::Owned(format!("{},worker", s.personality.as_str())),
            None => Cow::Borrowed(s.personality.as_str()),
        };
        let heard_from = r.uptime > Duration::ZERO || r.states.avail != Availability::Offline;
        let (install_state, install_state_info) = match r.install.state {
            Some(st) => (Some(st.as_str()), Some(r.install.info.clone())),
            None if r.action == Action::Reinstall => (Some("installing"), Some(String::new())),
            None if heard_from => (Some("installed"), Some(String::new())),
            None => (None, None),
        };
        IHost {
            id: e.identity.id,
            uuid: s.uuid.clone(),
            hostname: s.name.clone(),
            personality: s.personality.as_str(),
            subfunctions,
            administrative: r.states.admin.as_str(),
            operational: r.states.oper.as_str(),
            availability: r.states.avail.as_str(),
            task: r.task.clone(),
            action: r.action.as_str(),
            mgmt_ip: s.mgmt_ip.clone(),
            mgmt_mac: s.mgmt_mac.clone(),
            cluster_ip: s.cluster_ip.clone(),
            pxeboot_ip: s.pxeboot_ip.clone(),
            bm_type: s.bmc.as_ref().map(|b| bm_type_str(b.protocol)),
            bm_ip: s.bmc.as_ref().map(|b| b.address.clone()),
            bm_username: s.bmc.as_ref().map(|b| b.username.clone()),
            uptime: r.uptime.as_secs(),
            subfunction_oper: r.subf.map_or("disabled", |f| f.oper.as_str()),
            subfunction_avail: r.subf.map_or("not-installed", |f| f.avail.as_str()),
            peers: None,
            install_state,
            install_state_info,
            install_image: s.install.image.clone(),
            install_method: s.install.method.map(InstallMethod::as_str),
            created_at: SysinvTime::known(e.identity.created_at_ms),
            updated_at: SysinvTime::known(e.identity.updated_at_ms),
            action_id: None,
            secure_boot: None,
        }
    }

    pub fn with_action(mut self, id: ActionId) -> IHost {
        self.action_id = Some(id.0);
        self
    }
}

/// The body of `POST /v1/ihosts` (and one host of `bulk_add`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewHost {
    pub hostname: Option<String>,
    pub personality: Option<String>,
    pub uuid: Option<String>,
    pub mgmt_ip: Option<String>,
    pub mgmt_mac: Option<String>,
    pub cluster_ip: Option<String>,
    pub pxeboot_ip: Option<String>,
    pub bm_type: Option<String>,
    pub bm_ip: Option<String>,
    pub bm_username: Option<String>,
    /// Write-only: stored encrypted, never shown.
    pub bm_password: Option<String>,
    pub install_image: Option<String>,
    pub install_method: Option<String>,
}

/// A validated [`NewHost`]: the record to add and the BMC password to store, if any.
pub struct Provision {
    pub record: HostRecord,
    pub bmc: Option<(BmcSpec, String)>,
}

/// A field given and not empty (empty means absent, as sysinv's clients send unset fields). It is
/// not trimmed: a value with spaces around it is refused by its field's check, as the document says.
fn nonempty(v: &Option<String>) -> Option<String> {
    v.as_deref().filter(|s| !s.is_empty()).map(str::to_string)
}

/// `bm_type` to a protocol; `None` means no BMC.
pub fn parse_bm_type(v: &str) -> Result<Option<BmcProtocol>, ApiError> {
    match v {
        "" | "none" => Ok(None),
        "bmc" | "dynamic" => Ok(Some(BmcProtocol::Dynamic)),
        "ipmi" => Ok(Some(BmcProtocol::Ipmi)),
        "redfish" => Ok(Some(BmcProtocol::Redfish)),
        other => Err(ApiError::BadRequest(format!(
            "'{other}' is not a valid bm_type; use one of none, bmc (same as dynamic), dynamic, ipmi, redfish"
        ))),
    }
}

/// Check `install_image` and `install_method` (empty: the configured default) against the host's
/// BMC protocol; the error names the field.
pub fn parse_install(
    image: Option<&str>,
    method: Option<&str>,
    bmc: Option<BmcProtocol>,
) -> Result<InstallSpec, ApiError> {
    let image = image.filter(|s| !s.is_empty()).map(str::to_string);
    if let Some(url) = &image {
        check_image_url(url).map_err(|why| {
            ApiError::BadRequest(format!(
                "install_image: {why}; give the installer image's http:// or https:// URL"
            ))
        })?;
    }
    let method = match method.filter(|s| !s.is_empty()) {
        None => None,
        Some(m) => Some(InstallMethod::parse(m).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "'{}' is not a valid install_method; use one of virtual-media, pxe, agent (or \"\" for the configured default)",
                m.escape_debug()
            ))
        })?),
    };
    match (method, bmc) {
        (Some(m @ (InstallMethod::VirtualMedia | InstallMethod::Pxe)), None) => {
            return Err(ApiError::BadRequest(format!(
                "install_method {} needs a BMC; provision bm_type, bm_ip, bm_username and bm_password, or use agent",
                m.as_str()
            )))
        }
        (Some(InstallMethod::VirtualMedia), Some(BmcProtocol::Ipmi)) => {
            return Err(ApiError::BadRequest(
                "install_method virtual-media needs a Redfish BMC (IPMI has no virtual media); use pxe".into(),
            ))
        }
        _ => {}
    }
    Ok(InstallSpec { image, method })
}

/// Host names are DNS labels: letters, digits and '-', starting with a letter or digit.
pub fn check_hostname(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        // sysinv's clients take a name of digits for an integer id.
        && !name.chars().all(|c| c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "'{name}' is not a valid hostname; use letters, digits and '-' (at most 63, not starting with '-', not only digits)"
        )))
    }
}

impl NewHost {
    pub fn into_provision(self, system: SystemType) -> Result<Provision, ApiError> {
        let name = nonempty(&self.hostname).ok_or_else(|| {
            ApiError::BadRequest("hostname is required; add \"hostname\": \"worker-3\"".into())
        })?;
        check_hostname(&name)?;
        let personality: Personality = nonempty(&self.personality)
            .ok_or_else(|| {
                ApiError::BadRequest(
                    "personality is required; use controller, worker (or compute) or storage"
                        .into(),
                )
            })?
            .parse()
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "{e}; use controller, worker (or compute) or storage"
                ))
            })?;
        let uuid = match nonempty(&self.uuid) {
            // Only the hyphenated form: the braced, urn: and bare-hex forms would be stored
            // rewritten, and a client looking the host up by what it sent would not find it.
            Some(u) => uuid::Uuid::try_parse(&u)
                .ok()
                .filter(|_| u.len() == 36)
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "uuid '{}' is not a UUID in its hyphenated form (8-4-4-4-12 hex digits); leave it out and steward makes one",
                        u.escape_debug()
                    ))
                })?
                .to_string(),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let protocol = match nonempty(&self.bm_type) {
            Some(t) => parse_bm_type(&t)?,
            None => None,
        };
        let bmc = match protocol {
            None => {
                if nonempty(&self.bm_ip).is_some() || nonempty(&self.bm_username).is_some() {
                    return Err(ApiError::BadRequest(
                        "bm_ip and bm_username need bm_type; add \"bm_type\": \"dynamic\" (or ipmi, redfish)".into(),
                    ));
                }
                None
            }
            Some(protocol) => {
                let need = |v: &Option<String>, field: &str| {
                    nonempty(v).ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "{field} is required with bm_type; give bm_ip, bm_username and bm_password together"
                        ))
                    })
                };
                let address = need(&self.bm_ip, "bm_ip")?;
                address::check_bmc_address("bm_ip", &address)?;
                let spec = BmcSpec {
                    protocol,
                    address,
                    username: need(&self.bm_username, "bm_username")?,
                };
                let password = self.bm_password.clone().filter(|p| !p.is_empty()).ok_or_else(|| {
                    ApiError::BadRequest(
                        "bm_password is required with bm_type; give bm_ip, bm_username and bm_password together".into(),
                    )
                })?;
                Some((spec, password))
            }
        };
        let mgmt_ip = nonempty(&self.mgmt_ip);
        let mgmt_mac = nonempty(&self.mgmt_mac);
        let cluster_ip = nonempty(&self.cluster_ip);
        let pxeboot_ip = nonempty(&self.pxeboot_ip);
        if let Some(ip) = &pxeboot_ip {
            address::check_ip("pxeboot_ip", ip)?;
        }
        if let Some(ip) = &mgmt_ip {
            address::check_ip("mgmt_ip", ip)?;
        }
        if let Some(ip) = &cluster_ip {
            address::check_ip("cluster_ip", ip)?;
        }
        if let Some(mac) = &mgmt_mac {
            address::check_mac("mgmt_mac", mac)?;
        }
        let install = parse_install(
            self.install_image.as_deref(),
            self.install_method.as_deref(),
            bmc.as_ref().map(|(b, _)| b.protocol),
        )?;
        let spec = HostSpec {
            name,
            uuid,
            personality,
            mgmt_ip,
            mgmt_mac,
            pxeboot_ip,
            cluster_ip,
            bmc: None,
            install,
        };
        Ok(Provision {
            record: HostRecord::new_install(spec, system),
            bmc,
        })
    }
}

/// One element of a `PATCH /v1/ihosts/{id}` list.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchOp {
    pub op: String,
    pub path: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// What a validated PATCH list asks for.
pub enum Patch {
    Action(OperatorAction),
    /// BMC and install settings; a field not in the PATCH is `None` (kept).
    Bmc {
        bm_type: Option<String>,
        bm_ip: Option<String>,
        bm_username: Option<String>,
        bm_password: Option<String>,
        install_image: Option<String>,
        install_method: Option<String>,
    },
}

const ACTIONS: &str =
    "unlock, force-unlock, lock, force-lock, swact, force-swact, reboot, reset, power-on, power-off, reinstall";

/// Validate a PATCH list completely before anything is changed.
pub fn parse_patch(ops: Vec<PatchOp>) -> Result<Patch, ApiError> {
    if ops.is_empty() {
        return Err(ApiError::BadRequest(
            "the PATCH list is empty; send [{\"op\":\"replace\",\"path\":\"/action\",\"value\":\"lock\"}]".into(),
        ));
    }
    let mut action = None;
    let (mut bm_type, mut bm_ip, mut bm_username, mut bm_password) = (None, None, None, None);
    let (mut install_image, mut install_method) = (None, None);
    for op in &ops {
        if op.op != "replace" && op.op != "add" {
            return Err(ApiError::BadRequest(format!(
                "op '{}' is not supported on {}; use \"replace\"",
                op.op, op.path
            )));
        }
        let text = match &op.value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "the value of {} must be a string, not {other}",
                    op.path
                )))
            }
        };
        match op.path.as_str() {
            "/action" => {
                // sysinv's force-unlock skips sysinv's own pre-checks (configuration, storage);
                // steward has none beyond the maintenance admission every unlock goes through.
                let name = match text.as_str() {
                    "force-unlock" => "unlock",
                    // sysinv's unsafe lock overrides its last-controller protections; steward's
                    // admission has no override.
                    "force-unsafe-lock" => {
                        return Err(ApiError::BadRequest(
                            "an unsafe lock (host-lock --force --unsafe) is not offered: steward's lock admission has no override; use force-lock (host-lock --force)".into(),
                        ))
                    }
                    other => other,
                };
                let a = OperatorAction::parse(name)
                    .filter(|a| *a != OperatorAction::Delete)
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "'{text}' is not a host action; use one of {ACTIONS} (DELETE /v1/ihosts/{{id}} deletes)"
                        ))
                    })?;
                action = Some(a);
            }
            "/bm_type" => bm_type = Some(text),
            "/bm_ip" => {
                if !text.is_empty() {
                    address::check_bmc_address("bm_ip", &text)?;
                }
                bm_ip = Some(text)
            }
            "/bm_username" => bm_username = Some(text),
            "/bm_password" => bm_password = Some(text),
            "/install_image" => {
                // Checked here so a bad URL is refused before anything changes.
                parse_install(Some(&text), None, None)?;
                install_image = Some(text)
            }
            "/install_method" => {
                parse_install(None, Some(&text), Some(BmcProtocol::Redfish))?;
                install_method = Some(text)
            }
            other => {
                let field = other.trim_start_matches('/');
                return Err(ApiError::BadRequest(format!(
                    "'{field}' cannot be changed: steward keeps only action, bm_type, bm_ip, bm_username, bm_password, install_image and install_method of a host (PATCH paths /action, /bm_type, /bm_ip, /bm_username, /bm_password, /install_image, /install_method)"
                )));
            }
        }
    }
    match action {
        Some(a) if ops.len() == 1 => Ok(Patch::Action(a)),
        Some(_) => Err(ApiError::BadRequest(
            "/action must be the only operation of its PATCH; send the bm_* changes in a separate PATCH".into(),
        )),
        None => Ok(Patch::Bmc {
            bm_type,
            bm_ip,
            bm_username,
            bm_password,
            install_image,
            install_method,
        }),
    }
}

/// Parse a JSON body into `T` with a message that names the problem.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "invalid {what}: {e}; see GET /v1/openapi.json for the shape"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use steward_maintenance::state::{OperState, SubfunctionStates};
    use steward_store::typed::HostIdentity;

    fn entry(personality: Personality, system: SystemType) -> HostEntry {
        let spec = HostSpec {
            name: "h".into(),
            uuid: "u".into(),
            personality,
            mgmt_ip: None,
            mgmt_mac: None,
            pxeboot_ip: None,
            cluster_ip: None,
            bmc: None,
            install: Default::default(),
        };
        HostEntry {
            record: HostRecord::new_install(spec, system),
            identity: HostIdentity {
                id: 7,
                created_at_ms: 1_700_000_000_123,
                updated_at_ms: 0,
            },
        }
    }

    #[test]
    fn subfunctions_and_install_state_have_sysinv_meanings() {
        let mut aio = entry(Personality::Controller, SystemType::AioDuplex);
        let shown = IHost::from_entry(&aio);
        assert_eq!(shown.id, 7);
        assert_eq!(shown.subfunctions, "controller,worker");
        assert_eq!(shown.subfunction_avail, "offline");
        assert_eq!(shown.install_state, None, "never heard from");
        assert_eq!(shown.install_state_info, None);
        assert_eq!(
            shown.created_at.map(|t| t.to_string()).as_deref(),
            Some("2023-11-14T22:13:20.123000+00:00")
        );
        assert_eq!(shown.updated_at, None);
        aio.record.subf = Some(SubfunctionStates {
            oper: OperState::Enabled,
            avail: Availability::Available,
        });
        aio.record.uptime = Duration::from_secs(5);
        let shown = IHost::from_entry(&aio);
        assert_eq!(shown.subfunction_oper, "enabled");
        assert_eq!(shown.install_state, Some("installed"));
        assert_eq!(shown.install_state_info.as_deref(), Some(""));

        let standard = IHost::from_entry(&entry(Personality::Controller, SystemType::Standard));
        assert_eq!(standard.subfunctions, "controller");
        let storage = IHost::from_entry(&entry(Personality::Storage, SystemType::Standard));
        assert_eq!(storage.subfunctions, "storage");
        assert_eq!(storage.subfunction_oper, "disabled");
        assert_eq!(storage.subfunction_avail, "not-installed");
        assert_eq!(storage.peers, None);
    }
}

#[cfg(test)]
mod install_tests {
    use super::*;

    fn bad(r: Result<InstallSpec, ApiError>) -> String {
        match r {
            Err(ApiError::BadRequest(m)) => m,
            other => panic!("expected a 400, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn install_fields_are_checked_and_named() {
        let ok = parse_install(
            Some("https://images.example/x.iso"),
            Some("virtual-media"),
            Some(BmcProtocol::Redfish),
        )
        .unwrap();
        assert_eq!(ok.method, Some(InstallMethod::VirtualMedia));
        assert_eq!(ok.image.as_deref(), Some("https://images.example/x.iso"));
        assert_eq!(
            parse_install(Some(""), Some(""), None).unwrap(),
            InstallSpec::default()
        );
        let m = bad(parse_install(Some("ftp://x/y.iso"), None, None));
        assert!(m.starts_with("install_image: "), "{m}");
        let m = bad(parse_install(Some("http:///y.iso"), None, None));
        assert!(m.contains("names no host"), "{m}");
        let m = bad(parse_install(None, Some("usb"), None));
        assert!(m.contains("not a valid install_method"), "{m}");
        let m = bad(parse_install(
            None,
            Some("virtual-media"),
            Some(BmcProtocol::Ipmi),
        ));
        assert!(m.contains("needs a Redfish BMC"), "{m}");
        let m = bad(parse_install(None, Some("pxe"), None));
        assert!(m.contains("needs a BMC"), "{m}");
    }

    #[test]
    fn patch_takes_install_fields_and_refuses_bad_ones_before_anything_changes() {
        let op = |path: &str, v: &str| PatchOp {
            op: "replace".into(),
            path: path.into(),
            value: serde_json::Value::String(v.into()),
        };
        match parse_patch(vec![
            op("/install_image", "http://10.0.0.1:8080/i.iso"),
            op("/install_method", "pxe"),
        ]) {
            Ok(Patch::Bmc {
                install_image,
                install_method,
                bm_type,
                ..
            }) => {
                assert_eq!(install_image.as_deref(), Some("http://10.0.0.1:8080/i.iso"));
                assert_eq!(install_method.as_deref(), Some("pxe"));
                assert_eq!(bm_type, None);
            }
            _ => panic!("install patch expected"),
        }
        let Err(ApiError::BadRequest(m)) = parse_patch(vec![op("/install_method", "floppy")])
        else {
            panic!("400 expected")
        };
        assert!(m.contains("install_method"), "{m}");
        let Err(ApiError::BadRequest(m)) = parse_patch(vec![op("/install_image", "not a url")])
        else {
            panic!("400 expected")
        };
        assert!(m.starts_with("install_image"), "{m}");
    }

    #[test]
    fn install_state_comes_from_the_reinstall_progress() {
        use steward_maintenance::host::{InstallProgress, InstallState};
        let spec = HostSpec {
            name: "h".into(),
            uuid: "u".into(),
            personality: Personality::Worker,
            mgmt_ip: None,
            mgmt_mac: None,
            cluster_ip: None,
            pxeboot_ip: None,
            bmc: None,
            install: InstallSpec {
                image: Some("http://i/x.iso".into()),
                method: Some(InstallMethod::Agent),
            },
        };
        let mut record = HostRecord::new_install(spec, SystemType::Standard);
        record.install = InstallProgress {
            state: Some(InstallState::Failed),
            info: "virtual media not mounted after 120s".into(),
        };
        let e = HostEntry {
            record,
            identity: steward_store::typed::HostIdentity {
                id: 1,
                created_at_ms: 0,
                updated_at_ms: 0,
            },
        };
        let shown = IHost::from_entry(&e);
        assert_eq!(shown.install_state, Some("failed"));
        assert_eq!(
            shown.install_state_info.as_deref(),
            Some("virtual media not mounted after 120s")
        );
        assert_eq!(shown.install_image.as_deref(), Some("http://i/x.iso"));
        assert_eq!(shown.install_method, Some("agent"));
    }
}
