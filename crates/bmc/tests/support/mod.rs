//! Real peers for the integration tests: OpenIPMI `ipmi_sim` (approach and lab config
//! copied from crates/bmc-ipmi/tests/support) and `sushy-emulator --fake` (approach from
//! crates/bmc-redfish/tests/common). Each is started on 127.0.0.1 with a free port in a
//! private temp dir and killed on Drop. A missing binary fails the test when `CI` is set
//! and prints a loud SKIPPED notice otherwise.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use steward_bmc::{Bmc, BmcConfig, BmcProtocol};

pub const USER: &str = "admin";
pub const PASS: &str = "password";

/// Chassis control program (contract in anchors.md §3.4). Keeps power/boot in
/// files next to it. ipmi_sim calls: `get power`, `get boot`, `set power 0|1`,
/// `set reset 1`, `set shutdown 1` (soft off), `set boot <dev>`.
const CHASSIS_SH: &str = r#"#!/bin/sh
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

/// Skip (or fail on CI) when `bin` cannot run.
pub fn require(bin: &str, probe_arg: &str, install: &str) -> bool {
    let ok = Command::new(bin)
        .arg(probe_arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success() || bin == "ipmi_sim")
        .unwrap_or(false);
    if ok {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{bin} is not installed but CI is set: run `{install}`");
    }
    // Real stderr, not eprintln!: libtest captures the macros for passing tests.
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: {bin} not installed ({install}) ***\n"
    );
    false
}

pub fn require_ipmi_sim() -> bool {
    require("ipmi_sim", "--version", "apt-get install -y openipmi")
}

pub fn require_sushy() -> bool {
    require("sushy-emulator", "--help", "pip install sushy-tools")
}

pub fn require_sushy_static() -> bool {
    require("sushy-static", "--help", "pip install sushy-tools")
}

/// Write `body` as `<root>/<rel>/index.json` (sushy-static's layout under /redfish/v1).
pub fn put(root: &Path, rel: &str, body: serde_json::Value) {
    let dir = root.join(rel);
    std::fs::create_dir_all(&dir).expect("mkdir mockup");
    std::fs::write(dir.join("index.json"), body.to_string()).expect("write mockup");
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free udp port")
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free tcp port")
}

/// Test-friendly policy: fast polls, generous timeouts for a loaded shared machine.
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

/// `sushy-emulator --fake` on loopback, private state dir, killed on Drop.
pub struct Sushy {
    child: Child,
    pub port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sushy {
    /// `sushy-emulator --fake` with a private state dir.
    pub fn start() -> Sushy {
        let dir = tempfile::tempdir().expect("tempdir");
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        let conf = dir.path().join("emulator.conf");
        // Private state: by default the fake driver shares $TMPDIR/sushy-emulator between processes.
        std::fs::write(
            &conf,
            format!(
                "SUSHY_EMULATOR_STATE_DIR = {:?}\n",
                state.display().to_string()
            ),
        )
        .expect("write config");
        let conf = conf.display().to_string();
        Self::spawn(
            "sushy-emulator",
            &["--fake", "-i", "127.0.0.1", "--config", &conf],
            dir,
        )
    }

    /// `sushy-static` serving the mockup tree in `tree` (layout `<rel>/index.json`).
    pub fn start_static(tree: tempfile::TempDir) -> Sushy {
        let root = tree.path().display().to_string();
        Self::spawn("sushy-static", &["-i", "127.0.0.1", "-m", &root], tree)
    }

    fn spawn(bin: &str, args: &[&str], dir: tempfile::TempDir) -> Sushy {
        let mut last = String::new();
        for attempt in 0..3 {
            let port = free_tcp_port();
            let log = dir.path().join(format!("{bin}-{attempt}.log"));
            let out = std::fs::File::create(&log).expect("log");
            let err = out.try_clone().expect("dup");
            let mut child = Command::new(bin)
                .args(args)
                .args(["-p", &port.to_string()])
                .env("PYTHONUNBUFFERED", "1")
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
            for _ in 0..480 {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // lost the port race
                }
                if http_status(port, "/redfish/v1/") == Some(200) {
                    return Sushy {
                        child,
                        port,
                        log,
                        _dir: dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            let _ = child.kill();
            let _ = child.wait();
            last = std::fs::read_to_string(&log).unwrap_or_default();
        }
        panic!("{bin} did not become ready; log:\n{last}");
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn config(&self, protocol: BmcProtocol) -> BmcConfig {
        config(&self.address(), protocol)
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        s[s.len().saturating_sub(3000)..].to_owned()
    }
}

impl Drop for Sushy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).ok()?;
    let head = std::str::from_utf8(&buf[..n]).ok()?;
    head.split_whitespace().nth(1)?.parse().ok()
}
