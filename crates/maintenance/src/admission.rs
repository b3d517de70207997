//! Admission: whether an operator action is accepted, and if not, the message the operator sees
//! (docs/lifecycle.md#admission). A pure function of the inputs, so it is
//! tested over every combination.

use crate::action::{Action, OperatorAction};
use crate::host::HostSpec;
use crate::state::*;

/// Everything admission looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionInput {
    pub action: OperatorAction,
    pub states: HostStates,
    pub personality: Personality,
    pub system: SystemType,
    /// The host is the one the active controller runs on.
    pub is_active_controller: bool,
    /// Another controller is unlocked-enabled (swact target, and the active may then be acted on).
    pub standby_enabled: bool,
    /// The action the host is busy with now.
    pub in_progress: Action,
    pub bmc_provisioned: bool,
    /// A swact is running somewhere in the cluster (it blocks every other action).
    pub swact_in_progress: bool,
}

/// A refused action: the reason shown to the operator, starting with what is wrong and ending with
/// what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

fn refuse<T>(msg: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal(msg.into()))
}

/// Actions the core starts by itself; operator actions may interrupt them.
fn is_internal(a: Action) -> bool {
    matches!(
        a,
        Action::None
            | Action::Add
            | Action::Enable
            | Action::EnableSubf
            | Action::Recover
            | Action::PowerCycle
    )
}

/// Decide whether `input.action` may start.
pub fn admit(input: &AdmissionInput) -> Result<(), Refusal> {
    use OperatorAction as Op;
    let s = input.states;
    let locked = s.admin == AdminState::Locked;
    let act = input.action;

    if input.swact_in_progress {
        return refuse("A swact is in progress; wait for it to complete, then retry.");
    }
    if input.in_progress == Action::Delete {
        return refuse("The host is being deleted.");
    }

    // Which running actions a new one may supersede. An internal action may always be interrupted;
    // force-lock interrupts anything but a swact; lock interrupts an unlock; power-on/off replace each other.
    let running = input.in_progress;
    if !is_internal(running) {
        let may_supersede = match act {
            Op::ForceLock => !matches!(
                running,
                Action::Swact | Action::ForceSwact | Action::ForceLock
            ),
            Op::Lock => running == Action::Unlock,
            Op::PowerOn => running == Action::PowerOff,
            Op::PowerOff => running == Action::PowerOn,
            _ => false,
        };
        if !may_supersede {
            return refuse(format!(
                "Operation in progress: '{}' is running on this host; wait for it to finish{}.",
                running,
                if act == Op::Lock {
                    " or use force-lock"
                } else {
                    ""
                }
            ));
        }
    }

    let self_guard = |what: &str| -> Result<(), Refusal> {
        if input.is_active_controller {
            refuse(format!(
                "Cannot {what} the active controller; swact to the standby controller first."
            ))
        } else {
            Ok(())
        }
    };
    let need_locked = |what: &str| -> Result<(), Refusal> {
        if locked {
            Ok(())
        } else {
            refuse(format!("Cannot {what} an unlocked host; lock it first."))
        }
    };
    let need_bmc = |what: &str| -> Result<(), Refusal> {
        if input.bmc_provisioned {
            Ok(())
        } else {
            refuse(format!(
                "Cannot {what}: the host's BMC is not provisioned; set bm_type, bm_ip and bm_username first."
            ))
        }
    };

    match act {
        Op::Lock | Op::ForceLock => {
            if locked {
                return refuse("The host is already locked.");
            }
            // On a simplex system the only controller can be locked: it stays enabled
            // (docs/lifecycle.md#dispatch-table, row 19).
            if input.is_active_controller
                && !(input.system == SystemType::AioSimplex && act == Op::Lock)
            {
                return refuse(
                    "Cannot lock the active controller; swact to the standby controller first.",
                );
            }
            Ok(())
        }
        Op::Unlock => {
            if !locked {
                return refuse("The host is already unlocked.");
            }
            Ok(())
        }
        Op::Swact | Op::ForceSwact => {
            if input.personality != Personality::Controller {
                return refuse("Swact is only possible on a controller host.");
            }
            if input.system == SystemType::AioSimplex {
                return refuse("Swact needs a duplex system; this system has a single controller.");
            }
            if !input.is_active_controller {
                return refuse("This controller is not active; swact from the active controller.");
            }
            if !input.standby_enabled {
                return refuse(
                    "No enabled standby controller to swact to; unlock and enable the other controller first.",
                );
            }
            Ok(())
        }
        Op::Reboot => {
            need_locked("reboot")?;
            // The simplex controller may reboot itself when locked; anything else must swact first.
            if input.system != SystemType::AioSimplex {
                self_guard("reboot")?;
            }
            Ok(())
        }
        Op::Reset => {
            need_locked("reset")?;
            self_guard("reset")?;
            need_bmc("reset")?;
            if s.avail == Availability::PowerOff {
                return refuse("Cannot reset a powered-off host; use power-on instead.");
            }
            Ok(())
        }
        Op::PowerOn => {
            need_locked("power-on")?;
            need_bmc("power-on")?;
            Ok(())
        }
        Op::PowerOff => {
            need_locked("power-off")?;
            self_guard("power-off")?;
            need_bmc("power-off")?;
            if s.avail == Availability::PowerOff {
                return refuse("The host is already powered off.");
            }
            Ok(())
        }
        Op::Reinstall => {
            if !cfg!(mutation = "reinstall-unlocked-host") {
                need_locked("reinstall")?;
            }
            self_guard("reinstall")?;
            Ok(())
        }
        Op::Delete => {
            need_locked("delete")?;
            self_guard("delete")?;
            Ok(())
        }
    }
}

/// Decide whether a new host may be added next to the existing ones.
pub fn admit_add(
    spec: &HostSpec,
    existing: &[&HostSpec],
    system: SystemType,
) -> Result<(), Refusal> {
    let name = spec.name.trim();
    if name.is_empty() || name == "none" {
        return refuse("A host needs a hostname ('none' and empty names are reserved).");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        || name.len() > 63
    {
        return refuse(format!(
            "'{name}' is not a valid hostname: use at most 63 letters, digits, '-' and '.'."
        ));
    }
    if spec.uuid.trim().is_empty() {
        return refuse("A host needs a uuid.");
    }
    let reserved = match name {
        "controller-0" | "controller-1" => Some(Personality::Controller),
        "storage-0" => Some(Personality::Storage),
        _ => None,
    };
    if let Some(p) = reserved {
        if spec.personality != p {
            return refuse(format!("The name '{name}' is reserved for a {p} host."));
        }
    }
    if spec.personality == Personality::Controller {
        let controllers = existing
            .iter()
            .filter(|h| h.personality == Personality::Controller)
            .count();
        let max = if system == SystemType::AioSimplex {
            1
        } else {
            2
        };
        if controllers >= max {
            return refuse(format!(
                "This {system} system already has {controllers} controller(s); a {} is not allowed.",
                if max == 2 { "third" } else { "second" }
            ));
        }
    }
    if spec.personality == Personality::Storage && system.is_aio() {
        return refuse(
            "Storage hosts are only allowed in a standard system, not in an all-in-one system.",
        );
    }
    for other in existing {
        if other.name == spec.name {
            return refuse(format!("A host named '{}' already exists.", spec.name));
        }
        if other.uuid == spec.uuid {
            return refuse(format!(
                "A host with uuid {} already exists ({}).",
                spec.uuid, other.name
            ));
        }
        if spec.mgmt_ip.is_some() && other.mgmt_ip == spec.mgmt_ip {
            return refuse(format!(
                "Management IP {} is already used by {}.",
                spec.mgmt_ip.as_deref().unwrap_or_default(),
                other.name
            ));
        }
        if spec.mgmt_mac.is_some() && other.mgmt_mac == spec.mgmt_mac {
            return refuse(format!(
                "MAC address {} is already used by {}.",
                spec.mgmt_mac.as_deref().unwrap_or_default(),
                other.name
            ));
        }
        if let (Some(a), Some(b)) = (&spec.bmc, &other.bmc) {
            if a.address == b.address {
                return refuse(format!(
                    "BMC address {} is already used by {}.",
                    a.address, other.name
                ));
            }
        }
    }
    Ok(())
}
