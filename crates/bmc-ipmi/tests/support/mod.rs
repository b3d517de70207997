//! A real OpenIPMI `ipmi_sim` on 127.0.0.1 for the integration tests (launched by
//! [`steward_bmc_ipmi::lab::IpmiSim`], following anchors.md §3.4), with client helpers, the
//! reference peer `ipmitool` and the expected sensor values.

#![allow(dead_code)]

use std::process::{Command, Stdio};
use std::time::Duration;

use steward_bmc_ipmi::{CipherSuite, IpmiClient, IpmiConfig};

pub const USER: &str = "admin";
pub const PASS: &str = "password";

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

/// The lab's `ipmi_sim` ([`steward_bmc_ipmi::lab::IpmiSim`]) with this suite's client helpers.
pub struct IpmiSim(steward_bmc_ipmi::lab::IpmiSim);

impl std::ops::Deref for IpmiSim {
    type Target = steward_bmc_ipmi::lab::IpmiSim;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl IpmiSim {
    /// Start a simulator and wait until it answers a session open.
    pub async fn start() -> IpmiSim {
        let sim = steward_bmc_ipmi::lab::IpmiSim::spawn(USER, PASS).expect("spawn ipmi_sim");
        sim.wait_ready(USER, PASS)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        IpmiSim(sim)
    }

    pub fn config(&self, suites: &[CipherSuite]) -> IpmiConfig {
        let mut c = IpmiConfig::new(self.addr, USER, PASS);
        c.cipher_suites = suites.to_vec();
        // Loaded shared CI machine: generous per-attempt timeout, 3 retries.
        c.timeout = Duration::from_secs(2);
        c.retries = 3;
        c
    }

    pub async fn client(&self) -> IpmiClient {
        IpmiClient::connect(self.config(&[CipherSuite::Suite3]))
            .await
            .expect("connect")
    }

    /// Run ipmitool (the reference peer) against this sim.
    pub async fn ipmitool(&self, args: &[&str]) -> String {
        let out = tokio::process::Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p"])
            .arg(self.addr.port().to_string())
            .args(["-U", USER, "-P", PASS, "-R", "3", "-N", "2"])
            .args(args)
            .output()
            .await
            .expect("run ipmitool");
        assert!(
            out.status.success(),
            "ipmitool {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Send one command to the sim's console (TCP, telnet-style `> ` prompt)
    /// and wait for its echo and the next prompt. The connection is kept in
    /// the returned stream: closing it while ipmi_sim still writes the echo
    /// kills the simulator with SIGPIPE (observed), so callers hold it until
    /// the sim is dropped.
    pub async fn console(&self, cmd: &str) -> tokio::net::TcpStream {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(self.console_addr)
            .await
            .expect("console connect");
        let mut buf = [0u8; 512];
        let mut seen = String::new();
        // Banner: telnet negotiation bytes, then the first prompt.
        while !seen.contains("> ") {
            match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => panic!("no console prompt: {seen:?}"),
            }
        }
        s.write_all(format!("{cmd}\n").as_bytes())
            .await
            .expect("console write");
        let mut seen = String::new();
        loop {
            if let Some(i) = seen.find(cmd) {
                if seen[i..].contains("> ") {
                    break;
                }
            }
            match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => panic!("console command not acknowledged: {seen:?}"),
            }
        }
        s
    }
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
