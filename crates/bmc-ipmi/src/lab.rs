//! The `ipmi_sim` lab configuration shared by the integration tests, `steward bench bmc`
//! and the in-process fake BMC ([`crate::fake`]): the OpenIPMI `.emu` (CPUTmp, SysFan1,
//! P12V full threshold records, a compact discrete PSU1_Status record, two SEL entries),
//! the chassis-control shell script and the `lan.conf` text — and [`IpmiSim`], the one launcher of
//! a real `ipmi_sim` process with that configuration.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{CipherSuite, IpmiClient, IpmiConfig};

/// Chassis control program (contract in docs/bmc.md#the-ipmi_sim-test-peer). Keeps power/boot in
/// files next to it. ipmi_sim calls: `get power`, `get boot`, `set power 0|1`,
/// `set reset 1`, `set shutdown 1` (soft off), `set boot <dev>`.
pub const CHASSIS_SH: &str = r#"#!/bin/sh
dir=$(dirname "$0")
[ -f "$dir/power" ] || echo 1 > "$dir/power"
[ -f "$dir/boot" ] || echo default > "$dir/boot"
echo "$@" >> "$dir/calls.log"
shift
op=$1; shift
if [ "$op" = get ]; then
  for p in "$@"; do
    case $p in
      power) echo "power:$(cat "$dir/power")" ;;
      boot) echo "boot:$(cat "$dir/boot")" ;;
    esac
  done
  exit 0
fi
while [ $# -gt 1 ]; do
  case $1 in
    power) echo "$2" > "$dir/power" ;;
    shutdown) [ "$2" = 1 ] && echo 0 > "$dir/power" ;;
    boot) echo "$2" > "$dir/boot" ;;
    reset) ;;
    *) exit 1 ;;
  esac
  shift 2
done
exit 0
"#;

/// Sensors configured in the lab .emu (raw values; conversions in the tests).
/// All SDR bytes need a 0x prefix: bare "c0" is parsed as decimal and rejected.
pub const EMU: &str = r#"mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 50 0x0a
sensor_add 0x20 0 1 0x01 0x01
main_sdr_add 0x20 0x00 0x00 0x51 0x01 0x31 0x20 0x00 0x01 0x03 0x01 0x67 0x88 0x01 0x01 0xc0 0x0f 0xc0 0x7f 0x38 0x38 0x00 0x01 0x00 0x00 0x01 0x00 0x00 0x00 0x00 0x00 0x03 0x60 0xb0 0x00 0xb0 0x00 0xa0 0x90 0x70 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0xc6 'C 'P 'U 'T 'm 'p
sensor_set_value 0x20 0 1 0x60 0
sensor_set_threshold 0x20 0 1 settable 111000 0xa0 0x90 0x70 00 00 00
sensor_set_event_support 0x20 0 1 enable scanning per-state 000111111000000 000111111000000 000111111000000 000111111000000
sensor_add 0x20 0 2 0x04 0x01
main_sdr_add 0x20 0x01 0x00 0x51 0x01 0x32 0x20 0x00 0x02 0x1d 0x01 0x67 0x88 0x04 0x01 0x05 0x00 0x00 0x00 0x03 0x03 0x00 0x12 0x00 0x00 0x32 0x00 0x00 0x00 0x00 0x00 0x00 0x60 0xff 0x00 0xff 0x00 0x00 0x00 0x00 0x00 0x14 0x1e 0x00 0x00 0x00 0x00 0x00 0xc7 'S 'y 's 'F 'a 'n '1
sensor_set_value 0x20 0 2 0x60 0
sensor_set_threshold 0x20 0 2 settable 000011 00 00 00 00 0x14 0x1e
sensor_set_event_support 0x20 0 2 enable scanning per-state 000000000000101 000000000000101 000000000000101 000000000000101
sensor_add 0x20 0 3 0x02 0x01
main_sdr_add 0x20 0x02 0x00 0x51 0x01 0x2f 0x20 0x00 0x03 0x07 0x01 0x67 0x88 0x02 0x01 0x95 0x0a 0x95 0x0a 0x3f 0x3f 0x00 0x04 0x00 0x00 0x06 0x00 0x05 0x00 0x00 0xe0 0x00 0xc8 0xff 0x00 0xff 0x00 0xe6 0xdc 0xd2 0xa0 0xaa 0xb4 0x00 0x00 0x00 0x00 0x00 0xc4 'P '1 '2 'V
sensor_set_value 0x20 0 3 0xc8 0
sensor_set_threshold 0x20 0 3 settable 111111 0xe6 0xdc 0xd2 0xa0 0xaa 0xb4
sensor_set_event_support 0x20 0 3 enable scanning per-state 000111111111111 000111111111111 000111111111111 000111111111111
sensor_add 0x20 0 4 0x08 0x6f
main_sdr_add 0x20 0x03 0x00 0x51 0x02 0x26 0x20 0x00 0x04 0x0a 0x01 0x63 0x40 0x08 0x6f 0x01 0x00 0x01 0x00 0x01 0x00 0xc0 0x00 0x00 0x01 0x00 0x00 0x00 0x00 0x00 0x00 0x00 0xcb 'P 'S 'U '1 '_ 'S 't 'a 't 'u 's
sensor_set_bit 0x20 0 4 0 1 0
sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x01 0x01 0x01 0x57 0x00 0x00
sel_add 0x20 0x02 0x00 0x00 0x00 0x00 0x20 0x00 0x04 0x02 0x03 0x81 0x00 0x00 0x00
mc_enable 0x20
"#;

/// `lan.conf` for one simulator on 127.0.0.1: LAN on UDP `port`, console on TCP
/// `console_port`, one admin user, chassis control through `chassis_script`.
pub fn lan_conf(
    port: u16,
    console_port: u16,
    chassis_script: &Path,
    user: &str,
    pass: &str,
) -> String {
    format!(
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
  user 2 true "{user}" "{pass}" admin 10 none md5 straight
console 127.0.0.1 {console_port}
"#,
        chassis_script.display()
    )
}

/// The user every lab simulator accepts (administrator privilege).
pub const USER: &str = "admin";
/// Its password.
pub const PASS: &str = "password";

/// A running OpenIPMI `ipmi_sim` with the lab configuration on 127.0.0.1: LAN on a free UDP port,
/// console on a free TCP port, everything (config, chassis state files, `calls.log`, `sim.log`) in
/// a private temp dir. Killed on drop. Used by the IPMI and BMC integration tests and by
/// `steward bench bmc`.
pub struct IpmiSim {
    child: Child,
    /// The simulator's IPMI LAN address.
    pub addr: SocketAddr,
    /// Its console (telnet-style `> ` prompt) for injecting sensor values.
    pub console_addr: SocketAddr,
    dir: tempfile::TempDir,
}

fn free_port(udp: bool) -> std::io::Result<u16> {
    let addr = if udp {
        UdpSocket::bind("127.0.0.1:0")?.local_addr()?
    } else {
        TcpListener::bind("127.0.0.1:0")?.local_addr()?
    };
    Ok(addr.port())
}

impl IpmiSim {
    /// Writes the configuration and starts the process; it answers shortly after (see
    /// [`IpmiSim::wait_ready`]). Fails when `ipmi_sim` cannot be run.
    pub fn spawn(user: &str, pass: &str) -> std::io::Result<IpmiSim> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        let port = free_port(true)?;
        let console_port = free_port(false)?;
        let script = d.join("chassis.sh");
        std::fs::write(&script, CHASSIS_SH)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::write(
            d.join("lan.conf"),
            lan_conf(port, console_port, &script, user, pass),
        )?;
        std::fs::write(d.join("sim1.emu"), EMU)?;
        std::fs::create_dir_all(d.join("state"))?;
        let child = spawn_process(d)?;
        Ok(IpmiSim {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            console_addr: SocketAddr::from(([127, 0, 0, 1], console_port)),
            dir,
        })
    }

    /// Polls with session opens (100 ms apart, up to 30 s: a loaded machine) until the simulator
    /// answers; the error carries its log.
    pub async fn wait_ready(&self, user: &str, pass: &str) -> Result<(), String> {
        for _ in 0..300 {
            let mut cfg = IpmiConfig::new(self.addr, user, pass);
            cfg.cipher_suites = vec![CipherSuite::Suite3];
            cfg.timeout = Duration::from_millis(100);
            cfg.retries = 0;
            if let Ok(c) = IpmiClient::connect(cfg).await {
                let _ = c.close().await;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("ipmi_sim did not come up; log:\n{}", self.log()))
    }

    /// Starts a simulator with [`USER`]/[`PASS`] and waits until it answers. For tests: panics
    /// (with the simulator's log) when it cannot be started.
    pub async fn start() -> IpmiSim {
        let sim = IpmiSim::spawn(USER, PASS).expect("spawn ipmi_sim");
        sim.wait_ready(USER, PASS)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        sim
    }

    /// Kills the process and starts it again on the same ports and state (a BMC reboot: sessions
    /// are gone). Call [`IpmiSim::wait_ready`] after.
    pub fn restart(&mut self) -> std::io::Result<()> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_process(self.dir.path())?;
        Ok(())
    }

    /// The simulator's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sim.log")).unwrap_or_default()
    }

    /// Its private dir (chassis state files `power`, `boot`; `calls.log`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The chassis program's boot-device file.
    pub fn boot_file(&self) -> PathBuf {
        self.dir.path().join("boot")
    }

    // Client helpers for the tests below: they panic on failure, with the reason.

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

impl Drop for IpmiSim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ipmi_sim` on the configuration in `d`, appending its output to `d/sim.log` (a restart
/// keeps the earlier output).
fn spawn_process(d: &Path) -> std::io::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join("sim.log"))?;
    // -n: no interactive console on stdin (it asserts on epoll otherwise).
    Command::new("ipmi_sim")
        .arg("-c")
        .arg(d.join("lan.conf"))
        .arg("-f")
        .arg(d.join("sim1.emu"))
        .arg("-s")
        .arg(d.join("state"))
        .arg("-n")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
}
