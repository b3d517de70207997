//! Real peers for the integration tests: OpenIPMI `ipmi_sim` (approach and lab config
//! copied from crates/bmc-ipmi/tests/support) and `sushy-emulator --fake` (approach from
//! crates/bmc-redfish/tests/common). Each is started on 127.0.0.1 with a free port in a
//! private temp dir and killed on Drop. A missing binary fails the test when `CI` is set
//! and prints a loud SKIPPED notice otherwise.

#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use steward_bmc::{Bmc, BmcConfig, BmcProtocol};

pub const USER: &str = "admin";
pub const PASS: &str = "password";

// The ipmi_sim lab configuration (chassis program and SDRs) lives in one place: the IPMI crate.
pub use steward_bmc_ipmi::lab::{CHASSIS_SH, EMU};

#[allow(unused_imports)]
pub use steward_testpeers::{
    free_tcp_port, put, require, require_sushy, require_sushy_static, Sushy,
};

pub fn require_ipmi_sim() -> bool {
    require("ipmi_sim", "--version", "apt-get install -y openipmi")
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free udp port")
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

pub struct IpmiSim {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

impl IpmiSim {
    pub async fn start() -> IpmiSim {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let port = free_udp_port();
        let cport = free_tcp_port();
        let script = d.join("chassis.sh");
        std::fs::write(&script, CHASSIS_SH).expect("write chassis.sh");
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let lan = format!(
            r#"name "sim1"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 {port}
    priv_limit admin
    allowed_auths_callback none md5 straight
    allowed_auths_user none md5 straight
    allowed_auths_operator none md5 straight
    allowed_auths_admin none md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "{} 0x20"
  user 2 true "{USER}" "{PASS}" admin 10 none md5 straight
console 127.0.0.1 {cport}
"#,
            script.display()
        );
        std::fs::write(d.join("lan.conf"), lan).expect("write lan.conf");
        std::fs::write(d.join("sim1.emu"), EMU).expect("write emu");
        std::fs::create_dir_all(d.join("state")).expect("state dir");
        let child = spawn_sim(d);
        let sim = IpmiSim {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        sim.wait_ready().await;
        sim
    }

    async fn wait_ready(&self) {
        for _ in 0..300 {
            let mut c = self.config(BmcProtocol::Ipmi);
            c.ipmi_timeout = Duration::from_millis(100);
            c.ipmi_retries = 0;
            if let Ok(b) = Bmc::connect(c).await {
                let _ = b.close().await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ipmi_sim did not come up; log:\n{}", self.log());
    }

    /// Kill and restart the simulator on the same port (a BMC reboot: sessions are gone).
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_sim(self.dir.path());
        self.wait_ready().await;
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    pub fn config(&self, protocol: BmcProtocol) -> BmcConfig {
        config(&self.address(), protocol)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sim.log")).unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Chassis-program calls so far (`0x20 set power 0`, ...).
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }
}

impl Drop for IpmiSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_sim(d: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join("sim.log"))
        .expect("log");
    let log2 = log.try_clone().expect("log clone");
    // -n: no interactive console on stdin.
    Command::new("ipmi_sim")
        .arg("-c")
        .arg(d.join("lan.conf"))
        .arg("-f")
        .arg(d.join("sim1.emu"))
        .arg("-s")
        .arg(d.join("state"))
        .arg("-n")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .expect("spawn ipmi_sim")
}

/// The `BmcConfig` of a running Redfish peer.
pub fn sushy_config(s: &Sushy, protocol: BmcProtocol) -> BmcConfig {
    config(&s.address(), protocol)
}
