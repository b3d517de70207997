//! ComputerSystem and Manager operations: power state, reset with ResetType validation and
//! the high-level action mapping, boot override, manager info.

use std::fmt;
use std::time::Duration;

use serde_json::{json, Value};
use tracing::info;

use crate::client::RedfishClient;
use crate::error::{RedfishError, Result};
use crate::json::{link, str_array, string_at};

/// `PowerState` of a ComputerSystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PowerState {
    On,
    Off,
    PoweringOn,
    PoweringOff,
    Paused,
    /// A value outside the schema, kept verbatim.
    Other(String),
}

impl PowerState {
    /// Parse a Redfish `PowerState` string (case-insensitive, BMCs vary).
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "on" => Self::On,
            "off" => Self::Off,
            "poweringon" => Self::PoweringOn,
            "poweringoff" => Self::PoweringOff,
            "paused" => Self::Paused,
            _ => Self::Other(s.to_owned()),
        }
    }
}

/// Redfish `ResetType` values (Resource schema).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResetType {
    On,
    ForceOff,
    GracefulShutdown,
    GracefulRestart,
    ForceRestart,
    Nmi,
    ForceOn,
    PushPowerButton,
    PowerCycle,
    FullPowerCycle,
    Suspend,
    Pause,
    Resume,
}

impl ResetType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "On",
            Self::ForceOff => "ForceOff",
            Self::GracefulShutdown => "GracefulShutdown",
            Self::GracefulRestart => "GracefulRestart",
            Self::ForceRestart => "ForceRestart",
            Self::Nmi => "Nmi",
            Self::ForceOn => "ForceOn",
            Self::PushPowerButton => "PushPowerButton",
            Self::PowerCycle => "PowerCycle",
            Self::FullPowerCycle => "FullPowerCycle",
            Self::Suspend => "Suspend",
            Self::Pause => "Pause",
            Self::Resume => "Resume",
        }
    }
}

impl fmt::Display for ResetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What steward wants done, independent of what the BMC calls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    /// Power on (`On`, else `ForceOn`).
    On,
    /// Graceful OS shutdown (`GracefulShutdown`, else `ForceOff` like StarlingX).
    OffGraceful,
    /// Immediate power off (`ForceOff`).
    OffForced,
    /// Power cycle (`PowerCycle` only; otherwise a typed error telling the caller to do off + on).
    Cycle,
    /// Hard reset (`ForceRestart`, else `GracefulRestart`).
    Reset,
    /// Graceful reboot (`GracefulRestart`, else `ForceRestart`).
    ResetGraceful,
}

/// Pick the ResetType for an action. `allowed == None` means the BMC published no list, so
/// the first preference is used and the BMC gets to say no.
pub fn choose_reset_type(action: PowerAction, allowed: Option<&[String]>) -> Result<ResetType> {
    use ResetType as R;
    let prefs: &[ResetType] = match action {
        PowerAction::On => &[R::On, R::ForceOn],
        PowerAction::OffGraceful => &[R::GracefulShutdown, R::ForceOff],
        PowerAction::OffForced => &[R::ForceOff],
        PowerAction::Cycle => &[R::PowerCycle],
        PowerAction::Reset => &[R::ForceRestart, R::GracefulRestart],
        PowerAction::ResetGraceful => &[R::GracefulRestart, R::ForceRestart],
    };
    let Some(allowed) = allowed else {
        return Ok(prefs[0]);
    };
    if let Some(found) = prefs
        .iter()
        .find(|p| allowed.iter().any(|a| a == p.as_str()))
    {
        return Ok(*found);
    }
    if action == PowerAction::Cycle {
        return Err(RedfishError::PowerCycleUnsupported {
            allowed: allowed.to_vec(),
        });
    }
    Err(RedfishError::Unsupported {
        what: format!("power action {action:?} (ResetType)"),
        requested: prefs
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" or "),
        allowed: allowed.to_vec(),
    })
}

/// Boot override target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootTarget {
    None,
    Pxe,
    Cd,
    Hdd,
    BiosSetup,
    UsbCd,
    /// Any other `BootSourceOverrideTarget` value, verbatim.
    Other(String),
}

impl BootTarget {
    /// Wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::None => "None",
            Self::Pxe => "Pxe",
            Self::Cd => "Cd",
            Self::Hdd => "Hdd",
            Self::BiosSetup => "BiosSetup",
            Self::UsbCd => "UsbCd",
            Self::Other(s) => s,
        }
    }

    /// Parse a wire name.
    pub fn parse(s: &str) -> Self {
        match s {
            "None" => Self::None,
            "Pxe" => Self::Pxe,
            "Cd" => Self::Cd,
            "Hdd" => Self::Hdd,
            "BiosSetup" => Self::BiosSetup,
            "UsbCd" => Self::UsbCd,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// `BootSourceOverrideEnabled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootEnabled {
    Disabled,
    Once,
    Continuous,
}

impl BootEnabled {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "Disabled",
            Self::Once => "Once",
            Self::Continuous => "Continuous",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "Disabled" => Some(Self::Disabled),
            "Once" => Some(Self::Once),
            "Continuous" => Some(Self::Continuous),
            _ => None,
        }
    }
}

/// `BootSourceOverrideMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootMode {
    Uefi,
    Legacy,
}

impl BootMode {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uefi => "UEFI",
            Self::Legacy => "Legacy",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "UEFI" => Some(Self::Uefi),
            "Legacy" => Some(Self::Legacy),
            _ => None,
        }
    }
}

/// The system's `Boot` object as read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BootSettings {
    pub target: Option<BootTarget>,
    pub enabled: Option<BootEnabled>,
    pub mode: Option<BootMode>,
    /// `BootSourceOverrideTarget@Redfish.AllowableValues`, when published.
    pub allowed_targets: Option<Vec<String>>,
    /// `BootSourceOverrideMode@Redfish.AllowableValues`, when published.
    pub allowed_modes: Option<Vec<String>>,
}

/// A boot override request.
#[derive(Clone, Debug, PartialEq)]
pub struct BootOverride {
    pub target: BootTarget,
    pub enabled: BootEnabled,
    /// Only sent when the BMC reports or allows a mode.
    pub mode: Option<BootMode>,
}

/// Parsed ComputerSystem.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SystemInfo {
    pub odata_id: String,
    pub id: Option<String>,
    pub power_state: Option<PowerState>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub bios_version: Option<String>,
    pub health: Option<String>,
    /// `Actions/#ComputerSystem.Reset/target`.
    pub reset_target: Option<String>,
    /// Inline `ResetType@Redfish.AllowableValues`.
    pub reset_allowed: Option<Vec<String>>,
    /// `@Redfish.ActionInfo` link, for services that publish only that.
    pub reset_action_info: Option<String>,
    pub boot: BootSettings,
    /// `VirtualMedia` collection link on the System.
    pub virtual_media: Option<String>,
}

impl SystemInfo {
    /// Parse a ComputerSystem document.
    pub fn from_json(odata_id: &str, v: &Value) -> Self {
        let reset = v.pointer("/Actions/#ComputerSystem.Reset");
        Self {
            odata_id: odata_id.to_owned(),
            id: string_at(v, "/Id"),
            power_state: string_at(v, "/PowerState").map(|s| PowerState::parse(&s)),
            manufacturer: string_at(v, "/Manufacturer"),
            model: string_at(v, "/Model"),
            serial_number: string_at(v, "/SerialNumber"),
            bios_version: string_at(v, "/BiosVersion"),
            health: string_at(v, "/Status/Health"),
            reset_target: reset.and_then(|r| string_at(r, "/target")),
            reset_allowed: reset.and_then(|r| str_array(r, "/ResetType@Redfish.AllowableValues")),
            reset_action_info: reset.and_then(|r| string_at(r, "/@Redfish.ActionInfo")),
            boot: BootSettings {
                target: string_at(v, "/Boot/BootSourceOverrideTarget")
                    .map(|s| BootTarget::parse(&s)),
                enabled: string_at(v, "/Boot/BootSourceOverrideEnabled")
                    .and_then(|s| BootEnabled::parse(&s)),
                mode: string_at(v, "/Boot/BootSourceOverrideMode")
                    .and_then(|s| BootMode::parse(&s)),
                allowed_targets: str_array(
                    v,
                    "/Boot/BootSourceOverrideTarget@Redfish.AllowableValues",
                ),
                allowed_modes: str_array(v, "/Boot/BootSourceOverrideMode@Redfish.AllowableValues"),
            },
            virtual_media: link(v, "VirtualMedia"),
        }
    }
}

/// `AllowableValues` of the `ResetType` parameter in an ActionInfo document.
pub fn action_info_allowed(v: &Value, parameter: &str) -> Option<Vec<String>> {
    v.get("Parameters")?
        .as_array()?
        .iter()
        .find(|p| p.get("Name").and_then(Value::as_str) == Some(parameter))
        .and_then(|p| str_array(p, "/AllowableValues"))
}

/// Manager (BMC) identity.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManagerInfo {
    pub odata_id: String,
    pub id: Option<String>,
    pub firmware_version: Option<String>,
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub manager_type: Option<String>,
    pub health: Option<String>,
}

impl RedfishClient {
    /// Read the chosen ComputerSystem.
    pub async fn system(&self) -> Result<SystemInfo> {
        let path = self.topology.system.clone();
        let reply = self.get(&path).await?;
        Ok(SystemInfo::from_json(&path, &reply.body))
    }

    /// Current power state.
    pub async fn power_state(&self) -> Result<PowerState> {
        let sys = self.system().await?;
        sys.power_state
            .ok_or_else(|| RedfishError::UnexpectedShape {
                url: self
                    .url_for(&sys.odata_id)
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
                detail: "ComputerSystem has no PowerState".into(),
            })
    }

    /// Allowed ResetType values: inline list, else the ActionInfo resource, else `None` (unknown).
    pub async fn allowed_reset_types(&self) -> Result<Option<Vec<String>>> {
        let sys = self.system().await?;
        self.allowed_for(&sys).await
    }

    async fn allowed_for(&self, sys: &SystemInfo) -> Result<Option<Vec<String>>> {
        if sys.reset_allowed.is_some() {
            return Ok(sys.reset_allowed.clone());
        }
        match &sys.reset_action_info {
            Some(info) => Ok(action_info_allowed(
                &self.get(info).await?.body,
                "ResetType",
            )),
            None => Ok(None),
        }
    }

    /// POST `ComputerSystem.Reset` with `reset_type`, validated against the allowed values when
    /// the BMC publishes them. Uses the advertised `target`, never a constructed URL.
    pub async fn reset(&self, reset_type: ResetType) -> Result<()> {
        let sys = self.system().await?;
        let target = sys
            .reset_target
            .clone()
            .ok_or_else(|| RedfishError::UnexpectedShape {
                url: self
                    .url_for(&sys.odata_id)
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
                detail: "no Actions/#ComputerSystem.Reset/target".into(),
            })?;
        if let Some(allowed) = self.allowed_for(&sys).await? {
            if !allowed.iter().any(|a| a == reset_type.as_str()) {
                return Err(RedfishError::Unsupported {
                    what: "ResetType".into(),
                    requested: reset_type.as_str().into(),
                    allowed,
                });
            }
        }
        info!(system = %sys.odata_id, %reset_type, "ComputerSystem.Reset");
        self.post(&target, &json!({ "ResetType": reset_type.as_str() }))
            .await?;
        Ok(())
    }

    /// Perform a high-level power action; returns the ResetType that was sent.
    pub async fn power(&self, action: PowerAction) -> Result<ResetType> {
        let allowed = self.allowed_reset_types().await?;
        let rt = choose_reset_type(action, allowed.as_deref())?;
        match self.reset(rt).await {
            // iDRAC answers 409 (PSU501 "already on") when the system is already in the
            // requested state; retries are exhausted by then, so check the state itself.
            Err(e @ RedfishError::Http { status: 409, .. }) => {
                let want = match action {
                    PowerAction::On => Some(PowerState::On),
                    PowerAction::OffGraceful | PowerAction::OffForced => Some(PowerState::Off),
                    _ => None,
                };
                match want {
                    Some(w) if self.power_state().await? == w => {
                        info!(system = %self.topology.system, ?w, "409 but already in target state");
                        Ok(rt)
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
            Ok(()) => Ok(rt),
        }
    }

    /// Poll `PowerState` until it equals `want` (no wall-clock assumptions beyond `timeout`).
    pub async fn wait_power_state(
        &self,
        want: PowerState,
        timeout: Duration,
        poll: Duration,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.power_state().await? == want {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RedfishError::WaitTimeout {
                    what: format!("PowerState {want:?}"),
                    timeout,
                });
            }
            tokio::time::sleep(poll).await;
        }
    }

    /// Power cycle: `PowerCycle` when allowed; otherwise (the typed "unsupported" case) ForceOff,
    /// wait for Off, On, wait for On. Vendors flagged `cycle_via_off_on` in the quirk table go
    /// straight to off+on. Returns true when the off+on fallback was used.
    pub async fn power_cycle_with_fallback(
        &self,
        timeout: Duration,
        poll: Duration,
    ) -> Result<bool> {
        let attempt = if self.quirks.cycle_via_off_on {
            Err(RedfishError::PowerCycleUnsupported {
                allowed: self.allowed_reset_types().await?.unwrap_or_default(),
            })
        } else {
            self.power(PowerAction::Cycle).await
        };
        match attempt {
            Ok(_) => Ok(false),
            Err(RedfishError::PowerCycleUnsupported { .. }) => {
                info!(system = %self.topology.system, "PowerCycle unsupported; ForceOff then On");
                if self.power_state().await? != PowerState::Off {
                    self.power(PowerAction::OffForced).await?;
                    self.wait_power_state(PowerState::Off, timeout, poll)
                        .await?;
                }
                self.power(PowerAction::On).await?;
                self.wait_power_state(PowerState::On, timeout, poll).await?;
                Ok(true)
            }
            Err(e) => Err(e),
        }
    }

    /// Current boot override settings.
    pub async fn boot_settings(&self) -> Result<BootSettings> {
        Ok(self.system().await?.boot)
    }

    /// Set the boot override, validating the target (and mode) against published allowable
    /// values, then read back. Returns the settings as read back.
    pub async fn set_boot_override(&self, req: &BootOverride) -> Result<BootSettings> {
        let sys = self.system().await?;
        if let Some(allowed) = &sys.boot.allowed_targets {
            if !allowed.iter().any(|a| a == req.target.as_str()) {
                return Err(RedfishError::Unsupported {
                    what: "BootSourceOverrideTarget".into(),
                    requested: req.target.as_str().into(),
                    allowed: allowed.clone(),
                });
            }
        }
        let mut boot = json!({
            "BootSourceOverrideTarget": req.target.as_str(),
            "BootSourceOverrideEnabled": req.enabled.as_str(),
        });
        // Mode is sent only when the BMC shows it supports one (Gen9 iLO cannot set it).
        let mode_supported = sys.boot.allowed_modes.is_some() || sys.boot.mode.is_some();
        let mode = req.mode.or(if self.quirks.full_boot_request {
            sys.boot.mode
        } else {
            None
        });
        if let (Some(mode), true) = (mode, mode_supported) {
            if let Some(allowed) = &sys.boot.allowed_modes {
                if !allowed.iter().any(|a| a == mode.as_str()) {
                    return Err(RedfishError::Unsupported {
                        what: "BootSourceOverrideMode".into(),
                        requested: mode.as_str().into(),
                        allowed: allowed.clone(),
                    });
                }
            }
            boot["BootSourceOverrideMode"] = json!(mode.as_str());
        }
        info!(system = %sys.odata_id, body = %boot, "boot override");
        self.patch(&sys.odata_id, &json!({ "Boot": boot })).await?;
        let back = self.boot_settings().await?;
        let enabled_ok = back.enabled == Some(req.enabled)
            || (self.quirks.boot_once_reads_continuous
                && req.enabled == BootEnabled::Once
                && back.enabled == Some(BootEnabled::Continuous));
        if back.target.as_ref() != Some(&req.target) || !enabled_ok {
            return Err(self.not_applied(format!(
                "boot override reads back target {:?} enabled {:?}, wanted {} {}",
                back.target,
                back.enabled,
                req.target.as_str(),
                req.enabled.as_str()
            )));
        }
        Ok(back)
    }

    /// Manager (BMC) identity: firmware, model, manufacturer.
    pub async fn manager_info(&self) -> Result<ManagerInfo> {
        let path = self
            .topology
            .manager
            .clone()
            .ok_or_else(|| RedfishError::NotFound {
                what: "Manager".into(),
                url: self
                    .url_for("/redfish/v1/Managers")
                    .map(|u| u.to_string())
                    .unwrap_or_default(),
            })?;
        let v = self.get(&path).await?.body;
        Ok(ManagerInfo {
            odata_id: path,
            id: string_at(&v, "/Id"),
            firmware_version: string_at(&v, "/FirmwareVersion"),
            model: string_at(&v, "/Model"),
            manufacturer: string_at(&v, "/Manufacturer"),
            manager_type: string_at(&v, "/ManagerType"),
            health: string_at(&v, "/Status/Health"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn reset_choice_with_sushy_fake_list() {
        let allowed = v(&[
            "On",
            "ForceOff",
            "GracefulShutdown",
            "GracefulRestart",
            "ForceRestart",
            "Nmi",
            "ForceOn",
        ]);
        let a = Some(allowed.as_slice());
        assert_eq!(
            choose_reset_type(PowerAction::On, a).ok(),
            Some(ResetType::On)
        );
        assert_eq!(
            choose_reset_type(PowerAction::OffForced, a).ok(),
            Some(ResetType::ForceOff)
        );
        assert_eq!(
            choose_reset_type(PowerAction::OffGraceful, a).ok(),
            Some(ResetType::GracefulShutdown)
        );
        assert_eq!(
            choose_reset_type(PowerAction::Reset, a).ok(),
            Some(ResetType::ForceRestart)
        );
        match choose_reset_type(PowerAction::Cycle, a) {
            Err(RedfishError::PowerCycleUnsupported { allowed }) => {
                assert!(allowed.contains(&"ForceOff".to_owned()))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn reset_choice_fallbacks() {
        let only_force = v(&["ForceOn", "ForceOff", "GracefulRestart", "PowerCycle"]);
        let a = Some(only_force.as_slice());
        assert_eq!(
            choose_reset_type(PowerAction::On, a).ok(),
            Some(ResetType::ForceOn)
        );
        assert_eq!(
            choose_reset_type(PowerAction::OffGraceful, a).ok(),
            Some(ResetType::ForceOff)
        );
        assert_eq!(
            choose_reset_type(PowerAction::Reset, a).ok(),
            Some(ResetType::GracefulRestart)
        );
        assert_eq!(
            choose_reset_type(PowerAction::Cycle, a).ok(),
            Some(ResetType::PowerCycle)
        );
        assert_eq!(
            choose_reset_type(PowerAction::Cycle, None).ok(),
            Some(ResetType::PowerCycle)
        );
        let none = v(&["Nmi"]);
        let err = choose_reset_type(PowerAction::On, Some(none.as_slice())).unwrap_err();
        assert!(err.to_string().contains("allowed values: [Nmi]"), "{err}");
    }

    #[test]
    fn parse_system_and_action_info() {
        let doc = json!({
            "Id": "1", "PowerState": "On", "Manufacturer": "Contoso",
            "Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once",
                     "BootSourceOverrideMode": "UEFI",
                     "BootSourceOverrideMode@Redfish.AllowableValues": ["UEFI", "Legacy"]},
            "Actions": {"#ComputerSystem.Reset": {"target": "/r/Reset",
                        "@Redfish.ActionInfo": "/r/ResetActionInfo"}},
            "VirtualMedia": {"@odata.id": "/redfish/v1/Systems/1/VirtualMedia"}
        });
        let s = SystemInfo::from_json("/redfish/v1/Systems/1", &doc);
        assert_eq!(s.power_state, Some(PowerState::On));
        assert_eq!(s.reset_target.as_deref(), Some("/r/Reset"));
        assert_eq!(s.reset_allowed, None);
        assert_eq!(s.reset_action_info.as_deref(), Some("/r/ResetActionInfo"));
        assert_eq!(s.boot.target, Some(BootTarget::Pxe));
        assert_eq!(s.boot.enabled, Some(BootEnabled::Once));
        assert_eq!(s.boot.mode, Some(BootMode::Uefi));
        assert_eq!(
            s.virtual_media.as_deref(),
            Some("/redfish/v1/Systems/1/VirtualMedia")
        );
        let info =
            json!({"Parameters": [{"Name": "ResetType", "AllowableValues": ["On", "ForceOff"]}]});
        assert_eq!(
            action_info_allowed(&info, "ResetType"),
            Some(v(&["On", "ForceOff"]))
        );
        // Garbage never panics.
        let junk = SystemInfo::from_json(
            "/x",
            &json!({"PowerState": 5, "Boot": "nope", "Actions": []}),
        );
        assert_eq!(junk.power_state, None);
        assert_eq!(
            action_info_allowed(&json!({"Parameters": 3}), "ResetType"),
            None
        );
    }
}
