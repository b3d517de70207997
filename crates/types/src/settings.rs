//! The node agent's timings a controller may push ("config push").

use serde::{Deserialize, Serialize};

/// Node settings a controller pushes to every node agent ("config push", docs/protocol.md#config-push:
/// StarlingX's MSG_INFO redesigned, no credentials travel, only the agent's own timings).
///
/// Every timing is optional: `None` keeps the value of the node's own configuration, so an operator
/// changes only what they mean to. `generation` orders pushes: an agent applies a push only when its
/// generation is newer than the one it holds, so a late duplicate can never roll settings back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSettings {
    /// 0 = never set by an operator (nothing is pushed).
    #[serde(default)]
    pub generation: u64,
    /// Alive report period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alive_period_ms: Option<u32>,
    /// Lock-flag audit period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag_audit_period_ms: Option<u32>,
    /// Inventory re-send period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_period_s: Option<u32>,
    /// Per go-enabled script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goenabled_timeout_s: Option<u32>,
    /// Per host-services script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services_timeout_s: Option<u32>,
}

/// One optional timing of [`NodeSettings`]: its name (the API's JSON key) and accepted range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SettingField {
    pub name: &'static str,
    pub min: u32,
    pub max: u32,
    pub unit: &'static str,
}

impl NodeSettings {
    /// Every optional timing, in order: the one list the validation, the API's PATCH and the CLI
    /// work from.
    pub const FIELDS: [SettingField; 5] = [
        // Below 100 ms an agent would flood its controllers; above a minute a controller cannot
        // tell a slow agent from a gone one within its own audits.
        SettingField {
            name: "alive_period_ms",
            min: 100,
            max: 60_000,
            unit: "ms",
        },
        // The flag pair must be corrected within 5 s of tampering (docs/protocol.md#lock-flags).
        SettingField {
            name: "flag_audit_period_ms",
            min: 100,
            max: 5_000,
            unit: "ms",
        },
        SettingField {
            name: "inventory_period_s",
            min: 10,
            max: 86_400,
            unit: "s",
        },
        SettingField {
            name: "goenabled_timeout_s",
            min: 1,
            max: 3_600,
            unit: "s",
        },
        SettingField {
            name: "services_timeout_s",
            min: 1,
            max: 3_600,
            unit: "s",
        },
    ];

    /// The timing called `name` (None: no such field).
    pub fn field_mut(&mut self, name: &str) -> Option<&mut Option<u32>> {
        Some(match name {
            "alive_period_ms" => &mut self.alive_period_ms,
            "flag_audit_period_ms" => &mut self.flag_audit_period_ms,
            "inventory_period_s" => &mut self.inventory_period_s,
            "goenabled_timeout_s" => &mut self.goenabled_timeout_s,
            "services_timeout_s" => &mut self.services_timeout_s,
            _ => return None,
        })
    }

    /// Every timing with its value, in [`Self::FIELDS`] order.
    fn values(&self) -> impl Iterator<Item = (SettingField, Option<u32>)> + '_ {
        // Read through `field_mut` on a copy (the type is `Copy`): one name-to-field match, not two.
        let mut copy = *self;
        Self::FIELDS
            .into_iter()
            .map(move |f| (f, copy.field_mut(f.name).and_then(|v| *v)))
    }

    /// Check every field against its range; the message names the field and the range.
    pub fn validate(&self) -> Result<(), String> {
        for (f, value) in self.values() {
            if let Some(v) = value {
                if !(f.min..=f.max).contains(&v) {
                    return Err(format!(
                        "{} = {v} is out of range: it must be {}..={} {}",
                        f.name, f.min, f.max, f.unit
                    ));
                }
            }
        }
        Ok(())
    }

    /// The fields that are set, as `name=value` pairs (logs and the CLI).
    pub fn describe(&self) -> String {
        let set: Vec<String> = self
            .values()
            .filter_map(|(f, v)| v.map(|v| format!("{}={v}", f.name)))
            .collect();
        if set.is_empty() {
            "(all node defaults)".to_string()
        } else {
            set.join(" ")
        }
    }

    /// The timing called `name`; an unknown name is refused, naming the known ones.
    pub fn field(name: &str) -> Result<SettingField, String> {
        Self::FIELDS
            .into_iter()
            .find(|f| f.name == name)
            .ok_or_else(|| {
                format!(
                    "unknown node setting '{name}'; known: {}",
                    Self::FIELDS.map(|f| f.name).join(", ")
                )
            })
    }
}
