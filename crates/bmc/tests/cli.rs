//! The `steward bmc` CLI module (crates/steward/src/bmc_cli.rs), compiled here with
//! `#[path]` for its parsing and password-file rules, and run end to end through the
//! `bmc_cli_check` example binary against ipmi_sim and sushy-emulator.

#[path = "../../steward/src/bmc_cli.rs"]
#[allow(dead_code)]
mod bmc_cli;
mod support;

use std::path::PathBuf;
use std::process::Command;

use bmc_cli::{BmcArgs, BmcCommand, BootArg, PowerArg, ProtocolArg};
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: BmcArgs,
}

fn parse(argv: &[&str]) -> Result<BmcArgs, clap::Error> {
    Cli::try_parse_from(std::iter::once("bmc").chain(argv.iter().copied())).map(|c| c.args)
}

const BASE: [&str; 6] = [
    "--address",
    "10.0.0.5",
    "--username",
    "root",
    "--password-file",
    "pw",
];

#[test]
fn parses_subcommands_and_defaults() {
    let a = parse(&[&BASE[..], &["power", "cycle"]].concat()).unwrap();
    assert_eq!(a.protocol, ProtocolArg::Dynamic);
    assert!(!a.json && !a.insecure);
    assert!(matches!(
        a.cmd,
        BmcCommand::Power {
            action: PowerArg::Cycle
        }
    ));
    let a = parse(
        &[
            &BASE[..],
            &[
                "--protocol",
                "redfish",
                "--json",
                "--insecure",
                "bootdev",
                "pxe",
                "--once",
            ],
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(a.protocol, ProtocolArg::Redfish);
    assert!(a.json && a.insecure);
    assert!(matches!(
        a.cmd,
        BmcCommand::Bootdev {
            device: BootArg::Pxe,
            once: true
        }
    ));
    for sub in [
        &["info"][..],
        &["sensors"],
        &["sel"],
        &["power", "status"],
        &["power", "soft-off"],
        &["bootdev", "bios"],
    ] {
        parse(&[&BASE[..], sub].concat()).unwrap_or_else(|e| panic!("{sub:?}: {e}"));
    }
    assert!(parse(&[&BASE[..], &["power", "sideways"]].concat()).is_err());
    assert!(parse(&[&BASE[..], &["--protocol", "snmp", "info"]].concat()).is_err());
    assert!(
        parse(&["--address", "x", "info"]).is_err(),
        "username and password file required"
    );
}

#[test]
fn password_file_rules() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("pw");
    std::fs::write(&p, "s3cret\n").unwrap();
    assert_eq!(bmc_cli::read_password(&p).unwrap(), "s3cret");
    std::fs::write(&p, "s3cret\r\n").unwrap();
    assert_eq!(bmc_cli::read_password(&p).unwrap(), "s3cret");
    std::fs::write(&p, " spaced pw ").unwrap();
    assert_eq!(bmc_cli::read_password(&p).unwrap(), " spaced pw ");
    std::fs::write(&p, "\n").unwrap();
    let e = format!("{:#}", bmc_cli::read_password(&p).unwrap_err());
    assert!(e.contains("is empty"), "{e}");
    let e = format!(
        "{:#}",
        bmc_cli::read_password(&d.path().join("missing")).unwrap_err()
    );
    assert!(e.contains("cannot read the BMC password file"), "{e}");
}

/// target/<profile>/deps/cli-xxxx → target/<profile>/examples/bmc_cli_check
fn example_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(|p| p.parent())
        .unwrap()
        .join("examples")
        .join("bmc_cli_check")
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let bin = example_bin();
    assert!(
        bin.exists(),
        "{} missing: cargo test builds examples",
        bin.display()
    );
    let out = Command::new(bin).args(args).output().expect("run cli");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_password_file_fails_clearly() {
    let (ok, _, err) = cli(&[
        "--address",
        "127.0.0.1:9",
        "--username",
        "a",
        "--password-file",
        "/nonexistent/pw",
        "info",
    ]);
    assert!(!ok);
    assert!(
        err.contains("error: cannot read the BMC password file /nonexistent/pw"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_against_ipmi_sim() {
    if !support::require_ipmi_sim() {
        return;
    }
    let sim = support::IpmiSim::start().await;
    let pw = sim.path().join("pw");
    std::fs::write(&pw, format!("{}\n", support::PASS)).unwrap();
    let addr = sim.address();
    let pwp = pw.display().to_string();
    let base = [
        "--address",
        addr.as_str(),
        "--username",
        support::USER,
        "--password-file",
        pwp.as_str(),
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let r = cli(&args);
        assert!(r.0, "{extra:?} failed: {}", r.2);
        r.1
    };
    let out = run(&["info"]);
    assert!(
        out.contains("protocol") && out.contains("ipmi") && out.contains("9.08"),
        "{out}"
    );
    assert_eq!(run(&["power", "status"]), "power: on\n");
    let out = run(&["--json", "power", "off"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["power"].as_str(), v["protocol"].as_str()),
        (Some("off"), Some("ipmi")),
        "{out}"
    );
    assert_eq!(run(&["power", "on"]), "power on: done, BMC reads back on\n");
    let out = run(&["sensors"]);
    assert!(out.starts_with("NAME"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("CPUTmp") && l.contains("temperature") && l.contains("96")),
        "{out}"
    );
    let v: serde_json::Value = serde_json::from_str(&run(&["--json", "sensors"])).unwrap();
    assert_eq!(v.as_array().map(Vec::len), Some(4));
    assert_eq!(run(&["sel"]).lines().count(), 3);
    assert!(run(&["bootdev", "pxe", "--once"]).contains("next boot only"));
    assert_eq!(sim.file("boot"), "pxe");
    let (ok, _, err) = cli(&[&base[..], &["secure-boot", "enable"]].concat());
    assert!(!ok && err.contains("secure boot needs Redfish"), "{err}");

    // Wrong password: non-zero exit, message names the fix, password not echoed.
    std::fs::write(&pw, "not-the-password\n").unwrap();
    let (ok, _, err) = cli(&[&base[..], &["info"]].concat());
    assert!(!ok);
    assert!(
        err.contains("check the username and password") && !err.contains("not-the-password"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_against_sushy() {
    if !support::require_sushy() {
        return;
    }
    let peer = support::Sushy::start();
    let d = tempfile::tempdir().unwrap();
    let pw = d.path().join("pw");
    std::fs::write(&pw, "password\n").unwrap();
    let addr = peer.address();
    let pwp = pw.display().to_string();
    let base = [
        "--address",
        addr.as_str(),
        "--username",
        "admin",
        "--password-file",
        pwp.as_str(),
    ];
    let args: Vec<&str> = base.iter().chain(&["--json", "info"]).copied().collect();
    let (ok, out, err) = cli(&args);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["protocol"], "redfish");
    assert_eq!(v["manufacturer"], "Sushy Emulator");
    let args: Vec<&str> = base.iter().chain(&["sel"]).copied().collect();
    let (ok, _, err) = cli(&args);
    assert!(!ok && err.contains("LogService"), "{err}");

    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        cli(&args)
    };
    let (ok, out, err) = run(&["secure-boot"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("secure boot: disabled (current boot: disabled, mode: DeployedMode)"),
        "{out}"
    );
    let (ok, out, err) = run(&["secure-boot", "enable"]);
    assert!(ok, "{err}");
    assert!(out.contains("secure boot: enabled"), "{out}");
    assert!(out.contains("at the next reset of the host"), "{out}");
    let (ok, out, err) = run(&["--json", "secure-boot", "status"]);
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["secure_boot"]["enabled"], true, "{v}");
    let (ok, out, err) = run(&["secure-boot", "disable"]);
    assert!(ok, "{err}");
    assert!(out.contains("secure boot: disabled"), "{out}");
}

/// A machine behind the simulated BMC that is always on.
struct AlwaysOn;

impl steward_simbmc::PowerTarget for AlwaysOn {
    fn power(&self) -> steward_simbmc::Power {
        steward_simbmc::Power::On
    }
    fn power_on(&self) {}
    fn power_off(&self) {}
    fn reset(&self) {}
    fn power_cycle(&self) {}
    fn booting_from(&self, _device: steward_simbmc::BootDevice) {}
}

/// `--address 127.0.0.1:PORT` (default `--protocol dynamic`) against a real plain-HTTP
/// Redfish service: the CLI lists why each protocol failed — the TLS handshake with
/// the `http://` fix, and IPMI's silence on UDP — instead of only "IPMI unreachable";
/// with the `http://` address the same command works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_dynamic_against_plain_http_redfish_names_each_failure_and_the_fix() {
    let bmc = steward_simbmc::SimBmc::start(
        steward_simbmc::SimBmcConfig::new("node-1", "root", "lab-s3cret"),
        std::sync::Arc::new(AlwaysOn),
    )
    .await
    .expect("simulated BMC");
    let d = tempfile::tempdir().unwrap();
    let pw = d.path().join("pw");
    std::fs::write(&pw, "lab-s3cret\n").unwrap();
    let pwp = pw.display().to_string();
    let port = bmc.addr().port();
    let bare = format!("127.0.0.1:{port}");
    let http = format!("http://127.0.0.1:{port}");
    let run = |address: &str| {
        let args = [
            "--address",
            address,
            "--username",
            "root",
            "--password-file",
            pwp.as_str(),
            "power",
            "status",
        ];
        cli(&args)
    };
    let (ok, _, err) = tokio::task::block_in_place(|| run(&bare));
    assert!(!ok, "{err}");
    for want in [
        format!("cannot connect to the BMC at {bare}"),
        format!("(1) Redfish over https://{bare}: TLS handshake failed: the port answers plain HTTP, not HTTPS"),
        format!("(2) IPMI (RMCP+) on UDP {bare}: no reply from BMC"),
        format!("fix: the Redfish service answers plain HTTP: use the address {http}"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    assert!(!err.contains("lab-s3cret"), "{err}");

    let (ok, out, err) = tokio::task::block_in_place(|| run(&http));
    assert!(ok, "{err}");
    assert_eq!(out, "power: on\n");
}
