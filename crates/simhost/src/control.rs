//! The simulated BMC's control socket `<dir>/bmc.sock`: one text command per line, one reply line.
//!
//! | command | effect | reply |
//! |---|---|---|
//! | `status` | — | `ok power=on\|off agent=off\|booting\|up\|hung boot_id=<hex>` |
//! | `on`, `off`, `reset`, `cycle` | BMC power operation | `ok power=<state read back>` |
//! | `hang`, `crash`, `heal` | lab faults (`heal` also undoes `reboot-hang`) | `ok` plus the status |
//! | `reboot-hang`, `reboot-ok` | the agent's reboot command returns without rebooting (what its failsafe reboot is for) / reboots again | `ok` plus the status |
//! | `bmc-down`, `bmc-up` | the Redfish BMC drops connections / serves again | `ok` plus the status |
//! | `link-down NET`, `link-up NET` | every port of network NET (mgmt, cluster, oam) down / up again | `ok` plus the status |
//! | `fs-readonly MOUNT`, `fs-full MOUNT`, `fs-ok MOUNT` | the monitored filesystem at MOUNT read-only / out of space / healthy again | `ok` plus the status |
//! | `sensor NAME VALUE`, `sensor NAME absent`, `sensor NAME normal` | the BMC's sensor NAME (may contain spaces) reads VALUE, disappears, or is back to nominal | `ok sensor NAME …` |
//!
//! Anything else answers `error unknown command '…' (status|on|off|reset|cycle|hang|crash|heal|reboot-hang|reboot-ok|bmc-down|bmc-up|link-down|link-up|fs-readonly|fs-full|fs-ok|sensor)`.

use crate::host::SimHost;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use steward_maintenance::state::PowerState;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

/// The control socket of the simulated host whose directory is `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join("bmc.sock")
}

fn power_word(p: PowerState) -> &'static str {
    match p {
        PowerState::On => "on",
        PowerState::Off => "off",
        PowerState::Unknown => "unknown",
    }
}

fn status_line(host: &SimHost) -> String {
    let s = host.status();
    format!(
        "ok power={} agent={} boot_id={:016x}",
        power_word(s.power),
        s.agent.as_str(),
        s.boot_id
    )
}

/// Carry out one command line; the reply line (without newline).
pub(crate) fn execute(host: &SimHost, line: &str) -> String {
    match line.trim() {
        "status" => status_line(host),
        "on" => format!("ok power={}", power_word(host.power_on())),
        "off" => format!("ok power={}", power_word(host.power_off())),
        "reset" => format!("ok power={}", power_word(host.power_reset())),
        "cycle" => format!("ok power={}", power_word(host.power_cycle())),
        "hang" | "fail" => {
            host.hang();
            status_line(host)
        }
        "crash" => {
            host.crash();
            status_line(host)
        }
        "heal" => {
            host.heal();
            status_line(host)
        }
        "reboot-hang" | "reboot-ok" => {
            host.set_reboot_hangs(line.trim() == "reboot-hang");
            status_line(host)
        }
        "bmc-down" => {
            host.set_bmc_reachable(false);
            status_line(host)
        }
        "bmc-up" => {
            host.set_bmc_reachable(true);
            status_line(host)
        }
        other if other.starts_with("sensor ") => sensor(host, &other["sensor ".len()..]),
        other if other.starts_with("sensor-event ") => {
            let name = other["sensor-event ".len()..].trim();
            match host.push_sensor_event(name) {
                Ok(n) => format!("ok event about {name} pushed to {n} subscriber(s)"),
                Err(e) => format!("error {e}"),
            }
        }
        other => match other.split_once(' ') {
            Some((verb, arg)) if verb.starts_with("link-") || verb.starts_with("fs-") => {
                match monitor_fault(host, verb, arg.trim()) {
                    Ok(()) => status_line(host),
                    Err(e) => format!("error {e}"),
                }
            }
            _ => format!("error unknown command '{other}' (status|on|off|reset|cycle|hang|crash|heal|reboot-hang|reboot-ok|bmc-down|bmc-up|link-down|link-up|fs-readonly|fs-full|fs-ok|sensor|sensor-event)"),
        },
    }
}

/// A link or filesystem fault on the machine's simulated kernel (docs/node-monitoring.md#lab-faults).
fn monitor_fault(host: &SimHost, verb: &str, arg: &str) -> Result<(), String> {
    let monitors = host
        .config()
        .agent
        .as_ref()
        .map(|a| &a.monitors)
        .ok_or("this machine runs no agent")?;
    let lab = monitors
        .lab
        .as_ref()
        .ok_or("this machine's monitors watch the real kernel, not lab faults")?;
    match verb {
        "link-down" | "link-up" => {
            let (_, interface) = monitors
                .links
                .iter()
                .find(|(n, _)| n.name() == arg)
                .ok_or_else(|| {
                    format!("no monitored link on network '{arg}' (mgmt, cluster, oam)")
                })?;
            lab.set_port(interface, verb == "link-up");
        }
        "fs-readonly" | "fs-full" | "fs-ok" => {
            if !monitors.filesystems.iter().any(|f| f.mount == arg) {
                return Err(format!("'{arg}' is not a monitored mount point"));
            }
            let state = match verb {
                "fs-readonly" => steward_types::FsState::ReadOnly,
                "fs-full" => steward_types::FsState::SpaceLow,
                _ => steward_types::FsState::Ok,
            };
            lab.set_filesystem(arg, state);
        }
        _ => return Err(format!("unknown command '{verb}'")),
    }
    Ok(())
}

/// `sensor NAME VALUE|absent|normal`: the last word is the state, the rest the sensor's name.
fn sensor(host: &SimHost, args: &str) -> String {
    use steward_simbmc::SensorOverride;
    let Some((name, state)) = args.trim().rsplit_once(' ') else {
        return "error usage: sensor NAME VALUE|absent|normal".into();
    };
    let parsed = match state {
        "absent" => Some(SensorOverride::Absent),
        "normal" => None,
        v => match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Some(SensorOverride::Value(x)),
            _ => return format!("error '{v}' is not a value; use a number, 'absent' or 'normal'"),
        },
    };
    match host.set_sensor(name.trim(), parsed) {
        Ok(()) => format!("ok sensor {} {state}", name.trim()),
        Err(e) => format!("error {e}"),
    }
}

pub(crate) fn serve(host: SimHost) -> io::Result<JoinHandle<()>> {
    let path = socket_path(host.dir());
    // A socket left by an earlier run (the lab was killed) would make bind fail.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let host = host.clone();
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = execute(&host, &line);
                    if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    }))
}

/// Send one command to the control socket of the host in `dir`; the reply line.
pub async fn control(dir: &Path, command: &str) -> io::Result<String> {
    let mut s = UnixStream::connect(socket_path(dir)).await?;
    s.write_all(format!("{command}\n").as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).await?;
    Ok(line.trim_end().to_string())
}

/// [`control`] without a runtime (for the CLI).
pub fn control_blocking(dir: &Path, command: &str) -> io::Result<String> {
    let mut s = std::os::unix::net::UnixStream::connect(socket_path(dir))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(format!("{command}\n").as_bytes())?;
    let mut line = String::new();
    io::BufReader::new(s).read_line(&mut line)?;
    Ok(line.trim_end().to_string())
}
