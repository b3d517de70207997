//! A real OpenIPMI `ipmi_sim` on 127.0.0.1 for the integration tests (launched by
//! [`steward_bmc_ipmi::lab::IpmiSim`], following anchors.md §3.4), with client helpers, the
//! reference peer `ipmitool` and the expected sensor values.

#![allow(dead_code)]

use std::process::{Command, Stdio};

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

/// Both the simulator and the reference peer must be on PATH.
pub fn have_ipmi_sim() -> bool {
    let runs = |bin: &str, arg: &str| {
        Command::new(bin)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    runs("ipmi_sim", "--version") && runs("ipmitool", "-V")
}

/// True when the test should proceed; on CI a missing sim is a failure.
pub fn require_sim() -> bool {
    if have_ipmi_sim() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("ipmi_sim/ipmitool not installed: run `apt-get install -y openipmi ipmitool`");
    }
    // Write to the real stderr, not eprintln!: libtest captures the macros for
    // passing tests, and a skip must be visible.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: ipmi_sim not installed (or ipmitool missing; apt-get install -y openipmi ipmitool) ***\n"
    );
    false
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
