//! A real OpenIPMI `ipmi_sim` on 127.0.0.1 for the integration tests (launched by
//! [`steward_bmc_ipmi::lab::IpmiSim`], following docs/bmc.md#the-ipmi_sim-test-peer), with client
//! helpers, the reference peer `ipmitool` and the expected sensor values.

#![allow(dead_code)]

// Not every test file uses the simulator (fake_ipmitool.rs only wants the expected values).
#[allow(unused_imports)]
pub use steward_bmc_ipmi::lab::{IpmiSim, PASS, USER};

/// What the .emu configures, converted to units (the expected values).
pub struct ExpectedSensor {
    pub name: &'static str,
    pub number: u8,
    pub value: f64,
    pub unit: &'static str,
    /// lnr, lcr, lnc, unc, ucr, unr
    pub thresholds: [Option<f64>; 6],
}

pub const EXPECTED: [ExpectedSensor; 3] = [
    ExpectedSensor {
        name: "CPUTmp",
        number: 1,
        value: 96.0,
        unit: "degrees C",
        thresholds: [None, None, None, Some(112.0), Some(144.0), Some(160.0)],
    },
    ExpectedSensor {
        name: "SysFan1",
        number: 2,
        value: 4800.0, // raw 0x60 * M 50
        unit: "RPM",
        thresholds: [None, Some(1000.0), Some(1500.0), None, None, None],
    },
    ExpectedSensor {
        name: "P12V",
        number: 3,
        value: 12.05, // (6*200 + 5) * 10^-2
        unit: "Volts",
        thresholds: [
            Some(9.65),
            Some(10.25),
            Some(10.85),
            Some(12.65),
            Some(13.25),
            Some(13.85),
        ],
    },
];

/// True when the test should proceed: both the simulator and the reference peer run (a missing
/// one fails under `CI`, prints SKIPPED otherwise; see `steward-testpeers`).
pub fn require_sim() -> bool {
    steward_testpeers::require("ipmi_sim", "--version", "apt-get install -y openipmi")
        && steward_testpeers::require("ipmitool", "-V", "apt-get install -y ipmitool")
}

/// ipmitool prints the IPMI base-unit name; a few differ in spelling.
pub fn parse_opt_f64(s: &str) -> Option<f64> {
    let s = s.trim();
    if s == "na" {
        None
    } else {
        s.parse().ok()
    }
}
