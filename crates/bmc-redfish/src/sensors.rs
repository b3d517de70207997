//! Sensors, normalized. New-style `Chassis/{id}/Sensors` first (Sensor v1_x resources), then
//! the deprecated-but-common `Thermal` (Temperatures, Fans) and `Power` (Voltages,
//! PowerSupplies, PowerControl). Both shapes end up as [`SensorReading`].

use serde_json::Value;
use tracing::{debug, warn};

use crate::client::RedfishClient;
use crate::error::{RedfishError, Result};
use crate::json::{f64_at, link, str_at, string_at};

/// What a sensor measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensorKind {
    Temperature,
    Fan,
    Voltage,
    Power,
    Current,
    Other,
}

/// Threshold set; Redfish Caution ↔ legacy NonCritical, Critical ↔ Critical, Fatal ↔ Fatal/NonRecoverable.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Thresholds {
    pub lower_noncritical: Option<f64>,
    pub lower_critical: Option<f64>,
    pub lower_fatal: Option<f64>,
    pub upper_noncritical: Option<f64>,
    pub upper_critical: Option<f64>,
    pub upper_fatal: Option<f64>,
}

/// One normalized sample.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorReading {
    pub name: String,
    pub kind: SensorKind,
    /// `None` when the BMC reports no value (sensor absent, host off).
    pub reading: Option<f64>,
    /// Units as the BMC names them (`Cel`, `RPM`, `V`, `W`, `A`, `%`).
    pub units: Option<String>,
    /// `Status.Health` (OK / Warning / Critical).
    pub health: Option<String>,
    /// `Status.State` (Enabled / Absent / ...).
    pub state: Option<String>,
    pub thresholds: Thresholds,
}

/// Which resource shape the readings came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SensorSource {
    /// `Chassis/{id}/Sensors`.
    SensorsCollection,
    /// `Chassis/{id}/Thermal` + `Power`.
    LegacyThermalPower,
}

/// Readings of one chassis.
#[derive(Clone, Debug, PartialEq)]
pub struct SensorSet {
    pub chassis: String,
    pub source: SensorSource,
    pub readings: Vec<SensorReading>,
}

fn kind_from_reading_type(rt: Option<&str>, units: Option<&str>) -> SensorKind {
    match rt {
        Some("Temperature") => SensorKind::Temperature,
        Some("Rotational") => SensorKind::Fan,
        Some("Voltage") => SensorKind::Voltage,
        Some("Power") | Some("EnergykWh") | Some("EnergyJoules") => SensorKind::Power,
        Some("Current") => SensorKind::Current,
        Some(_) => SensorKind::Other,
        // Old Sensor versions lack ReadingType; units are the next best hint.
        None => match units {
            Some("Cel") => SensorKind::Temperature,
            Some("RPM") => SensorKind::Fan,
            Some("V") => SensorKind::Voltage,
            Some("W") => SensorKind::Power,
            Some("A") => SensorKind::Current,
            _ => SensorKind::Other,
        },
    }
}

/// Normalize one new-style Sensor resource (or an expanded member).
pub fn parse_sensor(v: &Value) -> SensorReading {
    let units = string_at(v, "/ReadingUnits");
    let th = |k: &str| f64_at(v, &format!("/Thresholds/{k}/Reading"));
    SensorReading {
        name: string_at(v, "/Name")
            .or_else(|| string_at(v, "/Id"))
            .unwrap_or_else(|| "unnamed".into()),
        kind: kind_from_reading_type(str_at(v, "/ReadingType"), units.as_deref()),
        reading: f64_at(v, "/Reading"),
        units,
        health: string_at(v, "/Status/Health"),
        state: string_at(v, "/Status/State"),
        thresholds: Thresholds {
            lower_noncritical: th("LowerCaution"),
            lower_critical: th("LowerCritical"),
            lower_fatal: th("LowerFatal"),
            upper_noncritical: th("UpperCaution"),
            upper_critical: th("UpperCritical"),
            upper_fatal: th("UpperFatal"),
        },
    }
}

fn legacy_thresholds(v: &Value) -> Thresholds {
    // Thermal uses *Fatal, Power/Voltages in older versions *NonRecoverable.
    let either =
        |a: &str, b: &str| f64_at(v, &format!("/{a}")).or_else(|| f64_at(v, &format!("/{b}")));
    Thresholds {
        lower_noncritical: f64_at(v, "/LowerThresholdNonCritical"),
        lower_critical: f64_at(v, "/LowerThresholdCritical"),
        lower_fatal: either("LowerThresholdFatal", "LowerThresholdNonRecoverable"),
        upper_noncritical: f64_at(v, "/UpperThresholdNonCritical"),
        upper_critical: f64_at(v, "/UpperThresholdCritical"),
        upper_fatal: either("UpperThresholdFatal", "UpperThresholdNonRecoverable"),
    }
}

fn legacy_items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter())
        .into_iter()
        .flatten()
}

fn legacy_name(item: &Value, fallback: &str, idx: usize) -> String {
    string_at(item, "/Name")
        .or_else(|| string_at(item, "/FanName"))
        .or_else(|| string_at(item, "/MemberId").map(|m| format!("{fallback} {m}")))
        .unwrap_or_else(|| format!("{fallback} {idx}"))
}

/// Normalize a legacy `Thermal` document (Temperatures and Fans).
pub fn parse_thermal(v: &Value) -> Vec<SensorReading> {
    let mut out = Vec::new();
    for (i, t) in legacy_items(v, "Temperatures").enumerate() {
        out.push(SensorReading {
            name: legacy_name(t, "Temperature", i),
            kind: SensorKind::Temperature,
            reading: f64_at(t, "/ReadingCelsius"),
            units: Some("Cel".into()),
            health: string_at(t, "/Status/Health"),
            state: string_at(t, "/Status/State"),
            thresholds: legacy_thresholds(t),
        });
    }
    for (i, f) in legacy_items(v, "Fans").enumerate() {
        out.push(SensorReading {
            name: legacy_name(f, "Fan", i),
            kind: SensorKind::Fan,
            reading: f64_at(f, "/Reading"),
            // Percent is spelled "Percent" in Thermal, "%" in Sensor; normalize to UCUM.
            units: string_at(f, "/ReadingUnits")
                .map(|u| if u == "Percent" { "%".into() } else { u }),
            health: string_at(f, "/Status/Health"),
            state: string_at(f, "/Status/State"),
            thresholds: legacy_thresholds(f),
        });
    }
    out
}

/// Normalize a legacy `Power` document (Voltages, PowerSupplies, PowerControl).
pub fn parse_power(v: &Value) -> Vec<SensorReading> {
    let mut out = Vec::new();
    for (i, volt) in legacy_items(v, "Voltages").enumerate() {
        out.push(SensorReading {
            name: legacy_name(volt, "Voltage", i),
            kind: SensorKind::Voltage,
            reading: f64_at(volt, "/ReadingVolts"),
            units: Some("V".into()),
            health: string_at(volt, "/Status/Health"),
            state: string_at(volt, "/Status/State"),
            thresholds: legacy_thresholds(volt),
        });
    }
    for (i, psu) in legacy_items(v, "PowerSupplies").enumerate() {
        out.push(SensorReading {
            name: legacy_name(psu, "Power Supply", i),
            kind: SensorKind::Power,
            reading: f64_at(psu, "/PowerOutputWatts")
                .or_else(|| f64_at(psu, "/LastPowerOutputWatts"))
                .or_else(|| f64_at(psu, "/PowerInputWatts")),
            units: Some("W".into()),
            health: string_at(psu, "/Status/Health"),
            state: string_at(psu, "/Status/State"),
            thresholds: Thresholds::default(),
        });
    }
    for (i, pc) in legacy_items(v, "PowerControl").enumerate() {
        out.push(SensorReading {
            name: legacy_name(pc, "Power Control", i),
            kind: SensorKind::Power,
            reading: f64_at(pc, "/PowerConsumedWatts"),
            units: Some("W".into()),
            health: string_at(pc, "/Status/Health"),
            state: string_at(pc, "/Status/State"),
            thresholds: Thresholds::default(),
        });
    }
    out
}

impl RedfishClient {
    /// Sensors of the first chassis linked to the system, or of `chassis` (`Id` or `@odata.id`).
    pub async fn sensors(&self, chassis: Option<&str>) -> Result<SensorSet> {
        let path =
            match chassis {
                Some(c) if c.starts_with('/') => c.to_owned(),
                Some(c) => format!("/redfish/v1/Chassis/{c}"),
                None => self.topology.chassis.first().cloned().ok_or_else(|| {
                    RedfishError::NotFound {
                        what: "Chassis".into(),
                        url: self
                            .url_for("/redfish/v1/Chassis")
                            .map(|u| u.to_string())
                            .unwrap_or_default(),
                    }
                })?,
            };
        let doc = self.get(&path).await?.body;
        if let Some(sensors) = link(&doc, "Sensors") {
            match self.sensors_collection(&sensors).await {
                Ok(readings) if !readings.is_empty() => {
                    return Ok(SensorSet {
                        chassis: path,
                        source: SensorSource::SensorsCollection,
                        readings,
                    })
                }
                Ok(_) => debug!(%sensors, "Sensors collection empty; trying Thermal/Power"),
                Err(e) => {
                    warn!(%sensors, error = %e, "Sensors collection unreadable; trying Thermal/Power")
                }
            }
        }
        let mut readings = Vec::new();
        let mut found = false;
        if let Some(thermal) = link(&doc, "Thermal") {
            readings.extend(parse_thermal(&self.get(&thermal).await?.body));
            found = true;
        }
        if let Some(power) = link(&doc, "Power") {
            readings.extend(parse_power(&self.get(&power).await?.body));
            found = true;
        }
        if !found {
            return Err(RedfishError::NotFound {
                what: "Sensors, Thermal or Power resources on the chassis".into(),
                url: self.url_for(&path)?.to_string(),
            });
        }
        Ok(SensorSet {
            chassis: path,
            source: SensorSource::LegacyThermalPower,
            readings,
        })
    }

    async fn sensors_collection(&self, collection: &str) -> Result<Vec<SensorReading>> {
        let doc = self.get(collection).await?.body;
        let members = doc
            .get("Members")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::with_capacity(members.len());
        for m in &members {
            // Services honouring $expand inline the Sensor; otherwise fetch each one.
            if m.get("Reading").is_some() || m.get("ReadingType").is_some() {
                out.push(parse_sensor(m));
            } else if let Some(id) = m.get("@odata.id").and_then(Value::as_str) {
                match self.get(id).await {
                    Ok(r) => out.push(parse_sensor(&r.body)),
                    Err(e) => warn!(sensor = id, error = %e, "skipping unreadable sensor"),
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_style_sensor() {
        let s = parse_sensor(&json!({
            "Id": "CPU1Temp", "Name": "CPU #1 Temperature", "ReadingType": "Temperature",
            "Reading": 44.5, "ReadingUnits": "Cel",
            "Status": {"State": "Enabled", "Health": "OK"},
            "Thresholds": {"UpperCaution": {"Reading": 80, "Activation": "Increasing"},
                           "UpperCritical": {"Reading": 90}, "UpperFatal": {"Reading": 95, "DwellTime": "PT5S"},
                           "LowerCaution": {"Reading": 5}}
        }));
        assert_eq!(s.name, "CPU #1 Temperature");
        assert_eq!(s.kind, SensorKind::Temperature);
        assert_eq!(s.reading, Some(44.5));
        assert_eq!(s.units.as_deref(), Some("Cel"));
        assert_eq!(s.health.as_deref(), Some("OK"));
        assert_eq!(s.thresholds.upper_noncritical, Some(80.0));
        assert_eq!(s.thresholds.upper_critical, Some(90.0));
        assert_eq!(s.thresholds.upper_fatal, Some(95.0));
        assert_eq!(s.thresholds.lower_noncritical, Some(5.0));
        assert_eq!(s.thresholds.lower_critical, None);
    }

    #[test]
    fn new_style_kinds_and_nulls() {
        let fan = parse_sensor(
            &json!({"Id": "Fan1", "ReadingType": "Rotational", "Reading": null, "ReadingUnits": "RPM"}),
        );
        assert_eq!(
            (fan.name.as_str(), fan.kind, fan.reading),
            ("Fan1", SensorKind::Fan, None)
        );
        let v = parse_sensor(&json!({"Name": "P12V", "ReadingUnits": "V", "Reading": 12.1}));
        assert_eq!(v.kind, SensorKind::Voltage);
        let a = parse_sensor(&json!({"Name": "I", "ReadingType": "Current", "Reading": 3}));
        assert_eq!((a.kind, a.reading), (SensorKind::Current, Some(3.0)));
        let o = parse_sensor(&json!({"Name": "H", "ReadingType": "Humidity"}));
        assert_eq!(o.kind, SensorKind::Other);
        let junk = parse_sensor(&json!({"Reading": "hot", "Thresholds": 7}));
        assert_eq!((junk.name.as_str(), junk.reading), ("unnamed", None));
    }

    #[test]
    fn legacy_thermal_like_sushy() {
        let t = parse_thermal(&json!({
            "Temperatures": [
                {"MemberId": "0", "Name": "CPU Temp", "ReadingCelsius": 41, "UpperThresholdNonCritical": 42,
                 "UpperThresholdCritical": 45, "UpperThresholdFatal": 48, "Status": {"State": "Enabled", "Health": "OK"}},
                {"MemberId": "1", "ReadingCelsius": 25, "LowerThresholdFatal": 0}
            ],
            "Fans": [{"FanName": "Fan A", "Reading": 2100, "ReadingUnits": "RPM", "LowerThresholdFatal": 0},
                     {"Name": "Fan B", "Reading": 40, "ReadingUnits": "Percent"}]
        }));
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].name, "CPU Temp");
        assert_eq!(t[0].thresholds.upper_fatal, Some(48.0));
        assert_eq!(t[1].name, "Temperature 1");
        assert_eq!(t[1].thresholds.lower_fatal, Some(0.0));
        assert_eq!(
            (t[2].name.as_str(), t[2].kind, t[2].reading),
            ("Fan A", SensorKind::Fan, Some(2100.0))
        );
        assert_eq!(t[3].units.as_deref(), Some("%"));
    }

    #[test]
    fn legacy_power() {
        let p = parse_power(&json!({
            "Voltages": [{"Name": "VRM1", "ReadingVolts": 12.0, "UpperThresholdCritical": 13.0,
                          "LowerThresholdNonRecoverable": 10.0}],
            "PowerSupplies": [{"Name": "PSU1", "LastPowerOutputWatts": 325, "Status": {"Health": "Warning"}}],
            "PowerControl": [{"Name": "System Input Power", "PowerConsumedWatts": 344}]
        }));
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].kind, p[0].reading), (SensorKind::Voltage, Some(12.0)));
        assert_eq!(p[0].thresholds.lower_fatal, Some(10.0));
        assert_eq!(
            (p[1].kind, p[1].reading, p[1].health.as_deref()),
            (SensorKind::Power, Some(325.0), Some("Warning"))
        );
        assert_eq!(p[2].reading, Some(344.0));
        assert!(parse_power(&json!({"Voltages": "x"})).is_empty());
    }
}
