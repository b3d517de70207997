//! `steward bmc ...`: talk to one BMC over IPMI or Redfish through `steward-bmc`.
//!
//! ```text
//! steward bmc --address 10.0.0.5 --username root --password-file pw info
//! steward bmc --address 10.0.0.5 --username root --password-file pw power cycle
//! steward bmc --address https://10.0.0.5 --insecure --protocol redfish ... sensors --json
//! steward bmc --address https://10.0.0.5 --insecure ... secure-boot enable
//! ```
//!
//! The password is read from a file (never from the command line, which other users can
//! see in `ps`); tables by default, `--json` for machine output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use steward_bmc::{
    Bmc, BmcConfig, BmcProtocol, BootTarget, PowerAction, PowerState, SecureBoot, SelRecord,
    SensorReading,
};

/// Options shared by every `bmc` subcommand.
#[derive(Args, Debug)]
pub struct BmcArgs {
    /// BMC address: ADDR[:PORT], [IPv6]:PORT, or http(s)://ADDR[:PORT] for Redfish.
    #[arg(long, value_name = "ADDR[:PORT]")]
    pub address: String,
    /// Protocol; `dynamic` uses Redfish when the service root answers with version >= 1.0, else IPMI.
    #[arg(long, value_enum, default_value_t = ProtocolArg::Dynamic)]
    pub protocol: ProtocolArg,
    /// BMC user name.
    #[arg(long, short = 'u')]
    pub username: String,
    /// File holding only the BMC password (a trailing newline is ignored).
    #[arg(long, value_name = "FILE")]
    pub password_file: PathBuf,
    /// Accept a self-signed Redfish certificate.
    #[arg(long)]
    pub insecure: bool,
    /// Machine-readable JSON output.
    #[arg(long)]
    pub json: bool,
    /// Seconds a power action may take to read back its target state.
    #[arg(long, value_name = "SECS", default_value_t = 180)]
    pub power_timeout: u64,
    #[command(subcommand)]
    pub cmd: BmcCommand,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Ipmi,
    Redfish,
    Dynamic,
}

impl From<ProtocolArg> for BmcProtocol {
    fn from(p: ProtocolArg) -> Self {
        match p {
            ProtocolArg::Ipmi => BmcProtocol::Ipmi,
            ProtocolArg::Redfish => BmcProtocol::Redfish,
            ProtocolArg::Dynamic => BmcProtocol::Dynamic,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum BmcCommand {
    /// BMC identity: manufacturer, model, firmware, protocol.
    Info,
    /// Power status or a power action (returns once the BMC reads back the target state).
    Power {
        #[arg(value_enum)]
        action: PowerArg,
    },
    /// Set the boot device (persistent unless --once).
    Bootdev {
        #[arg(value_enum)]
        device: BootArg,
        /// Next boot only.
        #[arg(long)]
        once: bool,
    },
    /// All sensors, normalized.
    Sensors,
    /// Event log (IPMI SEL, or the Redfish manager's LogService).
    Sel,
    /// UEFI secure boot (Redfish only): show it, or enable/disable it from the next reset on.
    SecureBoot {
        #[arg(value_enum, default_value_t = SecureBootArg::Status)]
        action: SecureBootArg,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SecureBootArg {
    Status,
    Enable,
    Disable,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PowerArg {
    Status,
    On,
    Off,
    Cycle,
    Reset,
    /// Graceful (ACPI) shutdown.
    SoftOff,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BootArg {
    Pxe,
    Cd,
    Disk,
    Bios,
}

impl From<BootArg> for BootTarget {
    fn from(b: BootArg) -> Self {
        match b {
            BootArg::Pxe => BootTarget::Pxe,
            BootArg::Cd => BootTarget::Cd,
            BootArg::Disk => BootTarget::Disk,
            BootArg::Bios => BootTarget::Bios,
        }
    }
}

/// Read the password file; only a trailing newline is stripped.
pub fn read_password(path: &Path) -> Result<String> {
    let raw = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the BMC password file {}", path.display()))?;
    let pw = raw
        .strip_suffix("\r\n")
        .or_else(|| raw.strip_suffix('\n'))
        .unwrap_or(&raw);
    if pw.is_empty() {
        bail!(
            "the BMC password file {} is empty: write the password into it",
            path.display()
        );
    }
    Ok(pw.to_owned())
}

/// Run one `bmc` subcommand (builds its own tokio runtime).
pub fn run(args: BmcArgs) -> Result<()> {
    let password = read_password(&args.password_file)?;
    let mut cfg = BmcConfig::new(
        args.address.clone(),
        args.protocol.into(),
        args.username.clone(),
        password,
    );
    cfg.insecure = args.insecure;
    cfg.power_timeout = Duration::from_secs(args.power_timeout.max(1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let mut bmc = Bmc::connect(cfg)
            .await
            .with_context(|| format!("cannot connect to the BMC at {}", args.address))?;
        let out = execute(&mut bmc, &args).await;
        // Always release the session; an operation error wins over a logout error.
        let closed = bmc.close().await;
        let text = out?;
        closed.context("closing the BMC session")?;
        print!("{text}");
        Ok(())
    })
}

async fn execute(bmc: &mut Bmc, args: &BmcArgs) -> Result<String> {
    let protocol = bmc.protocol();
    let json_mode = args.json;
    let to_json = |v: serde_json::Value| -> Result<String> {
        Ok(format!("{}\n", serde_json::to_string_pretty(&v)?))
    };
    match args.cmd {
        BmcCommand::Info => {
            let info = bmc.info().await.context("reading BMC info")?;
            if json_mode {
                return to_json(serde_json::to_value(&info)?);
            }
            let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
            Ok(table(
                &["FIELD", "VALUE"],
                vec![
                    vec!["protocol".into(), protocol.to_string()],
                    vec!["protocol version".into(), dash(&info.protocol_version)],
                    vec!["manufacturer".into(), dash(&info.manufacturer)],
                    vec!["model".into(), dash(&info.model)],
                    vec!["firmware".into(), dash(&info.firmware)],
                    vec!["serial number".into(), dash(&info.serial_number)],
                ],
            ))
        }
        BmcCommand::Power {
            action: PowerArg::Status,
        } => {
            let s = bmc.power_state().await.context("reading power state")?;
            if json_mode {
                return to_json(json!({ "protocol": protocol, "power": s }));
            }
            Ok(format!("power: {s}\n"))
        }
        BmcCommand::Power { action } => {
            let a = match action {
                PowerArg::On => PowerAction::On,
                PowerArg::Off => PowerAction::Off,
                PowerArg::Cycle => PowerAction::Cycle,
                PowerArg::Reset => PowerAction::Reset,
                PowerArg::SoftOff => PowerAction::SoftOff,
                PowerArg::Status => unreachable!("handled above"),
            };
            let s: PowerState = bmc
                .power(a)
                .await
                .with_context(|| format!("power {a} failed"))?;
            if json_mode {
                return to_json(json!({ "protocol": protocol, "action": a, "power": s }));
            }
            Ok(format!("power {a}: done, BMC reads back {s}\n"))
        }
        BmcCommand::Bootdev { device, once } => {
            let t: BootTarget = device.into();
            bmc.set_boot_device(t, once)
                .await
                .with_context(|| format!("setting boot device {t} failed"))?;
            if json_mode {
                return to_json(json!({ "protocol": protocol, "bootdev": t, "once": once }));
            }
            let when = if once { "next boot only" } else { "persistent" };
            Ok(format!("boot device set to {t} ({when})\n"))
        }
        BmcCommand::Sensors => {
            let s = bmc.sensors().await.context("reading sensors")?;
            if json_mode {
                return to_json(serde_json::to_value(&s)?);
            }
            Ok(sensor_table(&s))
        }
        BmcCommand::Sel => {
            let s = bmc.sel().await.context("reading the event log")?;
            if json_mode {
                return to_json(serde_json::to_value(&s)?);
            }
            Ok(sel_table(&s))
        }
        BmcCommand::SecureBoot { action } => {
            let change = match action {
                SecureBootArg::Status => None,
                SecureBootArg::Enable => Some(true),
                SecureBootArg::Disable => Some(false),
            };
            let sb = match change {
                None => bmc.secure_boot().await.context("reading secure boot")?,
                Some(on) => bmc
                    .set_secure_boot(on)
                    .await
                    .with_context(|| format!("{} secure boot failed", enable_word(on)))?,
            };
            if json_mode {
                return to_json(json!({ "protocol": protocol, "secure_boot": sb,
                                       "pending_reset": sb.pending_reset() }));
            }
            Ok(secure_boot_text(&sb, change))
        }
    }
}

fn enable_word(on: bool) -> &'static str {
    if on {
        "enabling"
    } else {
        "disabling"
    }
}

/// Secure boot for people; after a change, say that the BMC applies it at the next reset.
pub fn secure_boot_text(sb: &SecureBoot, change: Option<bool>) -> String {
    let word = |v: Option<bool>| match v {
        Some(true) => "enabled",
        Some(false) => "disabled",
        None => "unknown",
    };
    let mut out = format!(
        "secure boot: {} (current boot: {}, mode: {})\n",
        word(sb.enabled),
        word(sb.current_boot),
        sb.mode.as_deref().unwrap_or("-")
    );
    if let Some(on) = change {
        out.push_str(&format!(
            "secure boot {}: the BMC applies the change at the next reset of the host \
             (power cycle or reboot it to take effect)\n",
            word(Some(on))
        ));
    } else if sb.pending_reset() {
        out.push_str("a change is pending: it takes effect at the next reset of the host\n");
    }
    out
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e12 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
        None => "-".into(),
    }
}

/// Sensor table: one row per sensor, thresholds lnr/lcr/lnc/unc/ucr/unr.
pub fn sensor_table(s: &[SensorReading]) -> String {
    let rows = s
        .iter()
        .map(|r| {
            let t = &r.thresholds;
            vec![
                r.name.clone(),
                r.kind.to_string(),
                num(r.value),
                r.unit.clone().unwrap_or_else(|| "-".into()),
                r.status.to_string(),
                num(t.lower_non_recoverable),
                num(t.lower_critical),
                num(t.lower_non_critical),
                num(t.upper_non_critical),
                num(t.upper_critical),
                num(t.upper_non_recoverable),
            ]
        })
        .collect();
    table(
        &[
            "NAME", "KIND", "VALUE", "UNIT", "STATUS", "LNR", "LCR", "LNC", "UNC", "UCR", "UNR",
        ],
        rows,
    )
}

pub fn sel_table(s: &[SelRecord]) -> String {
    if s.is_empty() {
        return "event log is empty\n".into();
    }
    let rows = s
        .iter()
        .map(|e| {
            vec![
                e.id.clone(),
                e.timestamp.clone().unwrap_or_else(|| "-".into()),
                e.severity.clone().unwrap_or_else(|| "-".into()),
                e.message.clone(),
            ]
        })
        .collect();
    table(&["ID", "TIME", "SEVERITY", "MESSAGE"], rows)
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
fn table(head: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<width$}  ", width = w[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(head.to_vec());
    for r in &rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}
