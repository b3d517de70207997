//! Real peers for the integration tests: OpenIPMI `ipmi_sim` (launched by
//! `steward_bmc_ipmi::lab::IpmiSim`) and `sushy-emulator --fake` (`steward-testpeers`). Each is started on 127.0.0.1 with a free port in a
//! private temp dir and killed on Drop. A missing binary fails the test when `CI` is set
//! and prints a loud SKIPPED notice otherwise.

#![allow(dead_code)]

use std::time::Duration;

use steward_bmc::{BmcConfig, BmcProtocol};

pub use steward_bmc_ipmi::lab::{PASS, USER};

#[allow(unused_imports)]
pub use steward_testpeers::{
    free_tcp_port, put, require, require_sushy, require_sushy_static, Sushy,
};

pub fn require_ipmi_sim() -> bool {
    require("ipmi_sim", "--version", "apt-get install -y openipmi")
}

pub fn config(address: &str, protocol: BmcProtocol) -> BmcConfig {
    let mut c = BmcConfig::new(address, protocol, USER, PASS);
    c.poll_interval = Duration::from_millis(250);
    c.power_timeout = Duration::from_secs(120);
    c.cycle_off_grace = Duration::from_secs(1);
    c.ipmi_timeout = Duration::from_secs(2);
    c.ipmi_retries = 3;
    c.redfish_connect_timeout = Duration::from_secs(10);
    c.redfish_request_timeout = Duration::from_secs(30);
    c
}

/// The lab's `ipmi_sim` ([`steward_bmc_ipmi::lab::IpmiSim`]) with `BmcConfig` helpers.
pub struct IpmiSim(steward_bmc_ipmi::lab::IpmiSim);

impl std::ops::Deref for IpmiSim {
    type Target = steward_bmc_ipmi::lab::IpmiSim;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl IpmiSim {
    pub async fn start() -> IpmiSim {
        IpmiSim(steward_bmc_ipmi::lab::IpmiSim::start().await)
    }

    /// Kill and restart the simulator on the same port (a BMC reboot: sessions are gone).
    pub async fn restart(&mut self) {
        self.0.restart().expect("restart ipmi_sim");
        self.0
            .wait_ready(USER, PASS)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    pub fn config(&self, protocol: BmcProtocol) -> BmcConfig {
        config(&self.address(), protocol)
    }

    /// Chassis-program calls so far (`0x20 set power 0`, ...).
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.path().join(name))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

/// The `BmcConfig` of a running Redfish peer.
pub fn sushy_config(s: &Sushy, protocol: BmcProtocol) -> BmcConfig {
    config(&s.address(), protocol)
}
