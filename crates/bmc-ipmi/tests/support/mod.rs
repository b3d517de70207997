//! Spawns a real OpenIPMI `ipmi_sim` on 127.0.0.1 (free ports, temp dir) for the
//! integration tests, following anchors.md §3.4. Killed on Drop.

#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use steward_bmc_ipmi::{CipherSuite, IpmiClient, IpmiConfig};

pub const USER: &str = "admin";
pub const PASS: &str = "password";

pub use steward_bmc_ipmi::lab::{CHASSIS_SH, EMU};

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

pub struct IpmiSim {
    child: Child,
    pub addr: SocketAddr,
    pub console: SocketAddr,
    pub dir: tempfile::TempDir,
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

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

impl IpmiSim {
    /// Start a simulator and wait until it answers a session open.
    pub async fn start() -> IpmiSim {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let port = free_udp_port();
        let cport = free_tcp_port();
        let script = d.join("chassis.sh");
        std::fs::write(&script, CHASSIS_SH).expect("write chassis.sh");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
        }
        let lan = steward_bmc_ipmi::lab::lan_conf(port, cport, &script, USER, PASS);
        std::fs::write(d.join("lan.conf"), lan).expect("write lan.conf");
        std::fs::write(d.join("sim1.emu"), EMU).expect("write emu");
        std::fs::create_dir_all(d.join("state")).expect("state dir");
        let log = std::fs::File::create(d.join("sim.log")).expect("log");
        let log2 = log.try_clone().expect("log clone");
        // -n: no interactive console on stdin (it asserts on epoll otherwise).
        let child = Command::new("ipmi_sim")
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
            .expect("spawn ipmi_sim");
        let sim = IpmiSim {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            console: SocketAddr::from(([127, 0, 0, 1], cport)),
            dir,
        };
        // Readiness: poll with short timeouts. Generous bound for a loaded machine.
        for _ in 0..300 {
            let mut cfg = sim.config(&[CipherSuite::Suite3]);
            cfg.timeout = Duration::from_millis(100);
            cfg.retries = 0;
            if let Ok(c) = IpmiClient::connect(cfg).await {
                let _ = c.close().await;
                return sim;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ipmi_sim did not come up; log:\n{}", sim.log());
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

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sim.log")).unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn boot_file(&self) -> PathBuf {
        self.dir.path().join("boot")
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
        let mut s = tokio::net::TcpStream::connect(self.console)
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

impl Drop for IpmiSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
