//! Vendor quirks (docs/bmc.md#vendor-quirks) as data: one table of rules keyed by manufacturer,
//! model and firmware range. The client consults the merged [`Quirks`] instead of
//! scattering vendor `if`s through the code.

use std::cmp::Ordering;
use std::time::Duration;

/// Where to look for virtual media first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VmediaLocation {
    /// System's `VirtualMedia` first, then each Manager's (the DMTF-recommended order).
    #[default]
    SystemsFirst,
    /// Manager's `VirtualMedia` first (iDRAC9 before 6.00.02).
    ManagersFirst,
}

/// Behaviour switches for one BMC. `Default` is the standards-following behaviour.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quirks {
    /// Do not attempt SessionService login; use basic auth.
    pub no_sessions: bool,
    /// Where virtual media lives.
    pub vmedia_location: VmediaLocation,
    /// InsertMedia rejects `Inserted`/`WriteProtected`: send only `Image`.
    pub insert_media_image_only: bool,
    /// EjectMedia needs an empty JSON object body (`{}`) rather than no body.
    pub eject_needs_empty_body: bool,
    /// Boot override PATCH must carry target + enabled + mode together.
    pub full_boot_request: bool,
    /// Boot target to use for virtual CD (`Cd`, Supermicro wants `UsbCd`).
    pub virtual_cd_boot_target: &'static str,
    /// The BMC requires If-Match on PATCH (we always send it when an ETag is known).
    pub if_match_required: bool,
    /// The BMC rejects its own weak ETags: strip `W/` on retry.
    pub strip_weak_etag: bool,
    /// `BootSourceOverrideEnabled: Once` reads back as `Continuous`; accept it.
    pub boot_once_reads_continuous: bool,
    /// Power cycle must be done as ForceOff, wait for Off, then On.
    pub cycle_via_off_on: bool,
    /// Minimum number of retries on 409 (e.g. iDRAC rejects `On` for ~60 s after power-off).
    pub conflict_retries: u32,
    /// Minimum delay between 409 retries.
    pub conflict_retry_delay: Duration,
}

impl Default for Quirks {
    fn default() -> Self {
        Self {
            no_sessions: false,
            vmedia_location: VmediaLocation::SystemsFirst,
            insert_media_image_only: false,
            eject_needs_empty_body: false,
            full_boot_request: false,
            virtual_cd_boot_target: "Cd",
            if_match_required: false,
            strip_weak_etag: false,
            boot_once_reads_continuous: false,
            cycle_via_off_on: false,
            conflict_retries: 0,
            conflict_retry_delay: Duration::ZERO,
        }
    }
}

/// One row of the quirk table.
struct Rule {
    /// Case-insensitive substring of the manufacturer (System `Manufacturer` or root `Vendor`).
    manufacturer: &'static str,
    /// Case-insensitive substring of the system model; `None` matches any.
    model: Option<&'static str>,
    /// Inclusive lower firmware bound; rule does not match when firmware is unknown.
    firmware_min: Option<&'static str>,
    /// Exclusive upper firmware bound.
    firmware_below: Option<&'static str>,
    why: &'static str,
    apply: fn(&mut Quirks),
}

const RULES: &[Rule] = &[
    Rule {
        manufacturer: "dell",
        model: None,
        firmware_min: None,
        firmware_below: None,
        why: "iDRAC: 409 on On for up to ~60 s after power-off; PowerCycle not on System",
        apply: |q| {
            q.conflict_retries = 6;
            q.conflict_retry_delay = Duration::from_secs(10);
            q.cycle_via_off_on = true;
        },
    },
    Rule {
        manufacturer: "dell",
        model: None,
        firmware_min: None,
        firmware_below: Some("6.00.02"),
        why: "iDRAC9 < 6.00.02 keeps virtual media under Managers",
        apply: |q| q.vmedia_location = VmediaLocation::ManagersFirst,
    },
    Rule {
        manufacturer: "hpe",
        model: None,
        firmware_min: None,
        firmware_below: None,
        why: "iLO: EjectMedia wants {} body; busy during POST",
        apply: |q| {
            q.eject_needs_empty_body = true;
            q.conflict_retries = 5;
            q.conflict_retry_delay = Duration::from_secs(5);
        },
    },
    Rule {
        manufacturer: "supermicro",
        model: None,
        firmware_min: None,
        firmware_below: None,
        why: "X11/X12: InsertMedia only takes Image; virtual CD boots via UsbCd; send full boot request",
        apply: |q| {
            q.insert_media_image_only = true;
            q.virtual_cd_boot_target = "UsbCd";
            q.full_boot_request = true;
        },
    },
    Rule {
        manufacturer: "supermicro",
        model: Some("ARS-111GL-NHR"),
        firmware_min: None,
        firmware_below: None,
        why: "ARS-111GL-NHR boots virtual media with target Cd",
        apply: |q| q.virtual_cd_boot_target = "Cd",
    },
    Rule {
        manufacturer: "lenovo",
        model: None,
        firmware_min: None,
        firmware_below: None,
        why: "XCC: PATCH requires If-Match (428 without)",
        apply: |q| q.if_match_required = true,
    },
    Rule {
        manufacturer: "huawei",
        model: None,
        firmware_min: None,
        firmware_below: None,
        why: "iBMC: If-Match required, weak ETags fail their own check",
        apply: |q| {
            q.if_match_required = true;
            q.strip_weak_etag = true;
        },
    },
    Rule {
        manufacturer: "gigabyte",
        model: None,
        firmware_min: None,
        firmware_below: None,
        why: "If-Match required, weak ETags fail their own check",
        apply: |q| {
            q.if_match_required = true;
            q.strip_weak_etag = true;
        },
    },
    Rule {
        manufacturer: "ami",
        model: None,
        firmware_min: None,
        firmware_below: None,
        why: "boot override PATCH must carry mode + enabled + target",
        apply: |q| q.full_boot_request = true,
    },
    Rule {
        manufacturer: "asrockrack",
        model: None,
        firmware_min: None,
        firmware_below: None,
        why: "boot override PATCH must carry mode + enabled + target",
        apply: |q| q.full_boot_request = true,
    },
    Rule {
        manufacturer: "sushy emulator",
        model: None,
        firmware_min: None,
        firmware_below: None,
        why: "sushy-tools: no SessionService; fake driver reads Once back as Continuous; no PowerCycle",
        apply: |q| {
            q.no_sessions = true;
            q.boot_once_reads_continuous = true;
            q.cycle_via_off_on = true;
        },
    },
];

/// Compare dotted versions numerically segment by segment (`6.00.02` vs `5.10.50.00`);
/// non-numeric segments compare as strings. Unparseable input orders as equal-length text.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let split = |s: &str| -> Vec<String> { s.split(['.', '-', '_']).map(str::to_owned).collect() };
    let (va, vb) = (split(a.trim()), split(b.trim()));
    for i in 0..va.len().max(vb.len()) {
        let x = va.get(i).map(String::as_str).unwrap_or("0");
        let y = vb.get(i).map(String::as_str).unwrap_or("0");
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            _ => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

fn contains_ci(hay: &str, needle: &str) -> bool {
    hay.to_ascii_lowercase()
        .contains(&needle.to_ascii_lowercase())
}

impl Rule {
    fn matches(&self, manufacturer: &str, model: Option<&str>, firmware: Option<&str>) -> bool {
        if !contains_ci(manufacturer, self.manufacturer) {
            return false;
        }
        if let Some(m) = self.model {
            if !model.is_some_and(|have| contains_ci(have, m)) {
                return false;
            }
        }
        if self.firmware_min.is_some() || self.firmware_below.is_some() {
            let Some(fw) = firmware else { return false };
            if let Some(min) = self.firmware_min {
                if compare_versions(fw, min) == Ordering::Less {
                    return false;
                }
            }
            if let Some(below) = self.firmware_below {
                if compare_versions(fw, below) != Ordering::Less {
                    return false;
                }
            }
        }
        true
    }
}

impl Quirks {
    /// Merge every matching rule, in table order (later rows refine earlier ones).
    pub fn lookup(manufacturer: Option<&str>, model: Option<&str>, firmware: Option<&str>) -> Self {
        let mut q = Quirks::default();
        let Some(manufacturer) = manufacturer else {
            return q;
        };
        for rule in RULES
            .iter()
            .filter(|r| r.matches(manufacturer, model, firmware))
        {
            tracing::debug!(manufacturer, why = rule.why, "applying vendor quirk");
            (rule.apply)(&mut q);
        }
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_vendor_gets_defaults() {
        assert_eq!(
            Quirks::lookup(Some("Contoso"), None, None),
            Quirks::default()
        );
        assert_eq!(Quirks::lookup(None, None, None), Quirks::default());
    }

    #[test]
    fn dell_firmware_ranges() {
        let old = Quirks::lookup(
            Some("Dell Inc."),
            Some("PowerEdge R640"),
            Some("5.10.50.00"),
        );
        assert_eq!(old.vmedia_location, VmediaLocation::ManagersFirst);
        assert_eq!(old.conflict_retries, 6);
        let new = Quirks::lookup(
            Some("Dell Inc."),
            Some("PowerEdge R650"),
            Some("6.10.00.00"),
        );
        assert_eq!(new.vmedia_location, VmediaLocation::SystemsFirst);
        let boundary = Quirks::lookup(Some("Dell Inc."), None, Some("6.00.02.00"));
        assert_eq!(boundary.vmedia_location, VmediaLocation::SystemsFirst);
        // Unknown firmware: the range rule does not fire.
        let unknown = Quirks::lookup(Some("Dell Inc."), None, None);
        assert_eq!(unknown.vmedia_location, VmediaLocation::SystemsFirst);
        assert!(unknown.cycle_via_off_on);
    }

    #[test]
    fn supermicro_model_override() {
        let generic = Quirks::lookup(Some("Supermicro"), Some("SYS-1029P"), None);
        assert_eq!(generic.virtual_cd_boot_target, "UsbCd");
        assert!(generic.insert_media_image_only);
        let ars = Quirks::lookup(Some("Supermicro"), Some("ARS-111GL-NHR"), None);
        assert_eq!(ars.virtual_cd_boot_target, "Cd");
        assert!(ars.full_boot_request);
    }

    #[test]
    fn etag_and_emulator_rows() {
        let hw = Quirks::lookup(Some("Huawei"), None, None);
        assert!(hw.if_match_required && hw.strip_weak_etag);
        let le = Quirks::lookup(Some("Lenovo"), None, None);
        assert!(le.if_match_required && !le.strip_weak_etag);
        let hpe = Quirks::lookup(Some("HPE"), None, None);
        assert!(hpe.eject_needs_empty_body);
        let sushy = Quirks::lookup(Some("Sushy Emulator"), None, None);
        assert!(sushy.no_sessions && sushy.boot_once_reads_continuous && sushy.cycle_via_off_on);
    }

    #[test]
    fn version_compare() {
        assert_eq!(compare_versions("6.00.02", "6.0.2"), Ordering::Equal);
        assert_eq!(compare_versions("5.10.50.00", "6.00.02"), Ordering::Less);
        assert_eq!(compare_versions("7.00.00.00", "6.00.02"), Ordering::Greater);
        assert_eq!(compare_versions("1.2", "1.2.0.0"), Ordering::Equal);
        assert_eq!(compare_versions("2.x", "2.y"), Ordering::Less);
    }
}
