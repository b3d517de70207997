//! The host state model (docs/lifecycle.md#states, #subfunction-states, #degrade-mask).
//!
//! Every enum serializes to the exact wire string of the sysinv API so that JSON written by the
//! REST layer matches the sysinv `ihosts` API (README.md, "REST API and CLI"); parsing is strict
//! (unknown strings are refused).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $wire:literal $(| $alias:literal)*),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $wire $(, alias = $alias)*)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire string of this value.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $($wire $(| $alias)* => Ok($name::$variant),)+
                    _ => Err(UnknownValue { kind: stringify!($name), value: s.to_string() }),
                }
            }
        }
    };
}

/// A string that is not one of the values the API accepts for a field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

wire_enum!(
    /// Administrative state: what the operator asked for.
    AdminState { Locked => "locked", Unlocked => "unlocked" }
);

wire_enum!(
    /// Operational state: whether the host is in service.
    OperState { Disabled => "disabled", Enabled => "enabled" }
);

wire_enum!(
    /// Availability status: the detail behind the operational state.
    Availability {
        NotInstalled => "not-installed",
        Available => "available",
        Degraded => "degraded",
        Failed => "failed",
        InTest => "intest",
        PowerOff => "power-off",
        Offline => "offline",
        Online => "online",
        OffDuty => "offduty",
    }
);

wire_enum!(
    /// What a host is for. `compute` is the legacy spelling of `worker`.
    Personality { Controller => "controller", Worker => "worker" | "compute", Storage => "storage" }
);

wire_enum!(
    /// Cluster shape; it changes what the active controller may do to itself.
    SystemType { Standard => "standard", AioDuplex => "aio-duplex", AioSimplex => "aio-simplex" }
);

impl SystemType {
    /// All-in-one systems run the worker subfunction on their controllers.
    pub fn is_aio(self) -> bool {
        matches!(self, SystemType::AioDuplex | SystemType::AioSimplex)
    }
}

/// The administrative/operational/availability triple that the API shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostStates {
    pub admin: AdminState,
    pub oper: OperState,
    pub avail: Availability,
}

impl HostStates {
    pub const fn new(admin: AdminState, oper: OperState, avail: Availability) -> Self {
        HostStates { admin, oper, avail }
    }

    pub fn is_unlocked_enabled(&self) -> bool {
        self.admin == AdminState::Unlocked && self.oper == OperState::Enabled
    }

    /// In service: unlocked, enabled and available or degraded.
    pub fn in_service(&self) -> bool {
        self.is_unlocked_enabled()
            && matches!(self.avail, Availability::Available | Availability::Degraded)
    }
}

impl fmt::Display for HostStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.admin, self.oper, self.avail)
    }
}

/// Operational state of the worker subfunction of an all-in-one controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubfunctionStates {
    pub oper: OperState,
    pub avail: Availability,
}

/// Degrade causes (docs/lifecycle.md#degrade-mask). Availability is `degraded` exactly when the
/// mask is non-zero while the host is unlocked-enabled. Legacy AVS/resmon bits are not carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DegradeMask(pub u32);

impl DegradeMask {
    pub const HEARTBEAT_MGMT: u32 = 0x0001;
    pub const HEARTBEAT_CLUSTER: u32 = 0x0002;
    pub const PMON: u32 = 0x0004;
    pub const INSV_TEST: u32 = 0x0008;
    pub const HWMON: u32 = 0x0080;
    pub const SUBF: u32 = 0x0100;
    pub const SM: u32 = 0x0200;
    pub const CONFIG: u32 = 0x0400;
    pub const COLLECTD: u32 = 0x0800;
    pub const ENABLE: u32 = 0x1000;
    pub const LUKS: u32 = 0x2000;
    /// Every port of a monitored network's interface is down (docs/node-monitoring.md#links).
    pub const LINK: u32 = 0x4000;
    /// A monitored filesystem is read-only, missing or past a threshold
    /// (docs/node-monitoring.md#filesystems).
    pub const FILESYSTEM: u32 = 0x8000;

    pub fn set(&mut self, bit: u32) {
        self.0 |= bit;
    }
    pub fn clear(&mut self, bit: u32) {
        self.0 &= !bit;
    }
    pub fn has(&self, bit: u32) -> bool {
        self.0 & bit != 0
    }
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }
    /// Enable start, recovery and lock clear every cause except the hardware monitor's: sensors keep
    /// their state across a re-enable, everything else is re-learned.
    pub fn clear_all_but_hwmon(&mut self) {
        self.0 &= Self::HWMON;
    }
}

// Shared with the node agent, which links `steward-types` but not the core.
pub use steward_types::Network;

/// The core's view of a [`Network`]: which degrade cause its heartbeat sets. A trait because
/// `Network` itself lives in `steward-types`, which knows nothing of degrade causes.
pub trait NetworkDegrade {
    fn degrade_bit(self) -> u32;
}

impl NetworkDegrade for Network {
    fn degrade_bit(self) -> u32 {
        match self {
            Network::Mgmt => DegradeMask::HEARTBEAT_MGMT,
            Network::Cluster => DegradeMask::HEARTBEAT_CLUSTER,
        }
    }
}

/// Power as last read back from the BMC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PowerState {
    #[default]
    Unknown,
    On,
    Off,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_round_trip_and_compute_is_worker() {
        for a in Availability::ALL {
            assert_eq!(a.as_str().parse::<Availability>().unwrap(), *a);
        }
        assert_eq!(
            "compute".parse::<Personality>().unwrap(),
            Personality::Worker
        );
        assert!("Locked".parse::<AdminState>().is_err(), "parsing is strict");
        let json = serde_json_like(&Availability::PowerOff);
        assert_eq!(json, "power-off");
    }

    fn serde_json_like(a: &Availability) -> String {
        // toml can serialize a bare enum only inside a table; use Display, which is the wire string.
        a.to_string()
    }

    #[test]
    fn hwmon_bit_survives_clearing() {
        let mut m = DegradeMask::default();
        m.set(DegradeMask::HWMON);
        m.set(DegradeMask::PMON);
        m.clear_all_but_hwmon();
        assert!(m.has(DegradeMask::HWMON) && !m.has(DegradeMask::PMON));
    }
}
