//! The simulated machine's sensors: a realistic 1U server's set (inlet and CPU temperatures, fans,
//! the main voltage rails, power supply input power), nominal while healthy, with thresholds like
//! a real BMC's, and fault injection: a sensor can be set to any value (the reading then crosses
//! its thresholds as real hardware would) or made to disappear from the BMC's answers.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

use crate::Power;

/// One simulated sensor.
pub(crate) struct SimSensor {
    pub id: &'static str,
    pub name: &'static str,
    /// Redfish `ReadingType`.
    pub reading_type: &'static str,
    /// Redfish `ReadingUnits` (UCUM).
    pub units: &'static str,
    /// Reading while the host is on.
    pub on: f64,
    /// Reading while it is off; `None` for sensors on the main power rail.
    pub off: Option<f64>,
    /// (caution, critical) below which the reading is out of range.
    pub lower: Option<(f64, f64)>,
    /// (caution, critical) above which the reading is out of range.
    pub upper: Option<(f64, f64)>,
}

// One line per sensor in the table below reads better than a struct literal each.
#[allow(clippy::too_many_arguments)]
const fn sensor(
    id: &'static str,
    name: &'static str,
    reading_type: &'static str,
    units: &'static str,
    on: f64,
    off: Option<f64>,
    lower: Option<(f64, f64)>,
    upper: Option<(f64, f64)>,
) -> SimSensor {
    SimSensor {
        id,
        name,
        reading_type,
        units,
        on,
        off,
        lower,
        upper,
    }
}

/// The machine's sensors. Inlet temperature, the 3.3 V standby rail and the supplies' input power
/// are on standby power and read while the host is off, as on real servers.
pub(crate) const SENSORS: [SimSensor; 10] = [
    sensor(
        "InletTemp",
        "Inlet Temp",
        "Temperature",
        "Cel",
        24.0,
        Some(23.0),
        None,
        Some((40.0, 45.0)),
    ),
    sensor(
        "CPU1Temp",
        "CPU1 Temp",
        "Temperature",
        "Cel",
        45.0,
        None,
        None,
        Some((85.0, 95.0)),
    ),
    sensor(
        "CPU2Temp",
        "CPU2 Temp",
        "Temperature",
        "Cel",
        47.0,
        None,
        None,
        Some((85.0, 95.0)),
    ),
    sensor(
        "Fan1",
        "Fan1",
        "Rotational",
        "RPM",
        5200.0,
        None,
        Some((1000.0, 600.0)),
        None,
    ),
    sensor(
        "Fan2",
        "Fan2",
        "Rotational",
        "RPM",
        5150.0,
        None,
        Some((1000.0, 600.0)),
        None,
    ),
    sensor(
        "P12V",
        "12V",
        "Voltage",
        "V",
        12.1,
        None,
        Some((11.4, 10.8)),
        Some((12.6, 13.2)),
    ),
    sensor(
        "P5V",
        "5V",
        "Voltage",
        "V",
        5.02,
        None,
        Some((4.75, 4.5)),
        Some((5.25, 5.5)),
    ),
    sensor(
        "P3V3",
        "3.3V",
        "Voltage",
        "V",
        3.31,
        Some(3.3),
        Some((3.135, 2.97)),
        Some((3.47, 3.63)),
    ),
    sensor(
        "PSU1Power",
        "PSU1 Input Power",
        "Power",
        "W",
        182.0,
        Some(11.0),
        None,
        Some((900.0, 1000.0)),
    ),
    sensor(
        "PSU2Power",
        "PSU2 Input Power",
        "Power",
        "W",
        176.0,
        Some(10.0),
        None,
        Some((900.0, 1000.0)),
    ),
];

/// What fault injection did to one sensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SensorOverride {
    /// The sensor reads this value (whatever the host's power).
    Value(f64),
    /// The sensor is gone: the BMC no longer lists it.
    Absent,
}

/// The injected sensor faults of one BMC.
#[derive(Default)]
pub(crate) struct SensorBoard {
    overrides: Mutex<HashMap<&'static str, SensorOverride>>,
}

impl SensorBoard {
    /// The sensor called `name` (its name or Redfish id, case-insensitive).
    pub fn find(name: &str) -> Option<&'static SimSensor> {
        let n = name.trim();
        SENSORS
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(n) || s.name.eq_ignore_ascii_case(n))
    }

    /// Set (or with `None`, remove) the fault of the sensor called `name`.
    pub fn set(&self, name: &str, state: Option<SensorOverride>) -> Result<(), String> {
        let s = Self::find(name).ok_or_else(|| {
            let names: Vec<&str> = SENSORS.iter().map(|s| s.name).collect();
            format!(
                "no sensor {name:?}; the simulated BMC has {}",
                names.join(", ")
            )
        })?;
        let mut o = self.overrides.lock().unwrap_or_else(|e| e.into_inner());
        match state {
            Some(v) => o.insert(s.id, v),
            None => o.remove(s.id),
        };
        Ok(())
    }

    fn state(&self, s: &SimSensor) -> Option<SensorOverride> {
        self.overrides
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(s.id)
            .copied()
    }

    /// The sensors the BMC currently lists.
    pub fn present(&self) -> impl Iterator<Item = &'static SimSensor> + '_ {
        SENSORS
            .iter()
            .filter(|s| self.state(s) != Some(SensorOverride::Absent))
    }

    /// The present sensor with Redfish id `id`.
    pub fn get(&self, id: &str) -> Option<&'static SimSensor> {
        self.present().find(|s| s.id == id)
    }

    /// The reading of `s` now.
    pub fn reading(&self, s: &SimSensor, power: Power) -> Option<f64> {
        match self.state(s) {
            Some(SensorOverride::Value(v)) => Some(v),
            Some(SensorOverride::Absent) => None,
            None => match power {
                Power::On => Some(s.on),
                Power::Off => s.off,
            },
        }
    }

    /// The Redfish `Status` of `s`: the health a real BMC derives from its thresholds.
    pub fn status(&self, s: &SimSensor, power: Power) -> Value {
        let Some(v) = self.reading(s, power) else {
            // Redfish's word for "present, but its power domain is off".
            return json!({ "State": "StandbyOffline" });
        };
        let beyond = |bound: Option<(f64, f64)>, critical: bool, below: bool| {
            bound.is_some_and(|(caution, crit)| {
                let t = if critical { crit } else { caution };
                if below {
                    v <= t
                } else {
                    v >= t
                }
            })
        };
        let health = if beyond(s.lower, true, true) || beyond(s.upper, true, false) {
            "Critical"
        } else if beyond(s.lower, false, true) || beyond(s.upper, false, false) {
            "Warning"
        } else {
            "OK"
        };
        json!({ "State": "Enabled", "Health": health })
    }

    /// The Redfish `Sensor` resource of `s`.
    pub fn doc(&self, s: &SimSensor, chassis: &str, power: Power) -> Value {
        let mut thresholds = serde_json::Map::new();
        if let Some((caution, critical)) = s.lower {
            thresholds.insert("LowerCaution".into(), json!({ "Reading": caution }));
            thresholds.insert("LowerCritical".into(), json!({ "Reading": critical }));
        }
        if let Some((caution, critical)) = s.upper {
            thresholds.insert("UpperCaution".into(), json!({ "Reading": caution }));
            thresholds.insert("UpperCritical".into(), json!({ "Reading": critical }));
        }
        json!({
            "@odata.id": format!("{chassis}/Sensors/{}", s.id),
            "@odata.type": "#Sensor.v1_7_0.Sensor",
            "Id": s.id,
            "Name": s.name,
            "ReadingType": s.reading_type,
            "ReadingUnits": s.units,
            "Reading": self.reading(s, power),
            "Status": self.status(s, power),
            "Thresholds": thresholds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_values_cross_thresholds_and_absent_sensors_vanish() {
        let b = SensorBoard::default();
        let cpu = SensorBoard::find("cpu1 temp").unwrap();
        assert_eq!(b.status(cpu, Power::On)["Health"], "OK");
        b.set("CPU1 Temp", Some(SensorOverride::Value(88.0)))
            .unwrap();
        assert_eq!(b.status(cpu, Power::On)["Health"], "Warning");
        b.set("CPU1Temp", Some(SensorOverride::Value(97.0)))
            .unwrap();
        assert_eq!(b.status(cpu, Power::On)["Health"], "Critical");
        let fan = SensorBoard::find("Fan1").unwrap();
        b.set("Fan1", Some(SensorOverride::Value(500.0))).unwrap();
        assert_eq!(b.status(fan, Power::On)["Health"], "Critical");
        b.set("Fan2", Some(SensorOverride::Absent)).unwrap();
        assert_eq!(b.present().count(), SENSORS.len() - 1);
        assert!(b.get("Fan2").is_none());
        b.set("Fan2", None).unwrap();
        assert!(b.get("Fan2").is_some());
        assert!(b.set("Warp Core", None).is_err());
        // Main-rail sensors read nothing while the host is off; standby ones do.
        assert_eq!(
            b.reading(SensorBoard::find("12V").unwrap(), Power::Off),
            None
        );
        assert_eq!(
            b.reading(SensorBoard::find("3.3V").unwrap(), Power::Off),
            Some(3.3)
        );
    }
}
