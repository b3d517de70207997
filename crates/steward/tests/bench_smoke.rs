//! Smoke test of `steward bench bmc` with small numbers: both parts run and report. No
//! wall-clock assertions (the figures are for BENCHMARKS.md, not for CI).

use std::process::Command;

fn have(bin: &str, arg: &str) -> bool {
    Command::new(bin).arg(arg).output().is_ok()
}

#[test]
fn bench_bmc_small_run_reports_both_parts() {
    let sim = have("ipmi_sim", "--version") && have("ipmitool", "-V");
    if !sim {
        if std::env::var_os("CI").is_some() {
            panic!("ipmi_sim/ipmitool not installed: run `apt-get install -y openipmi ipmitool`");
        }
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED (part A): ipmi_sim not installed (apt-get install -y openipmi ipmitool); running part B only ***\n"
        );
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_steward"));
    cmd.args([
        "bench",
        "bmc",
        "--iterations",
        "2",
        "--bmcs",
        "20",
        "--rounds",
        "1",
    ]);
    if !sim {
        cmd.arg("--skip-ipmi-sim");
    }
    let out = cmd.output().expect("run steward");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    if sim {
        assert!(text.contains("vs ipmitool"), "{text}");
        assert!(text.contains("subprocess"), "{text}");
        assert!(text.contains("ratio (ipmitool / native)"), "{text}");
        assert!(text.contains("(4 sensors"), "{text}");
    }
    assert!(text.contains("audit of 20 simulated BMCs"), "{text}");
    assert!(text.contains("20/20 read"), "{text}");
    assert!(text.contains("4 sensors each"), "{text}");
}

#[test]
fn bmc_farm_fails_cleanly_on_a_taken_port() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let out = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["bench", "bmc-farm", "--count", "1", "--base-port"])
        .arg(port.to_string())
        .output()
        .expect("run steward");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
}

/// The Redfish farm end to end: a real controller learns and reads the lab's ten Redfish sensors
/// of every simulated BMC, with no alarm (every sensor nominal). The window is short; the test
/// asserts what was read, not how fast.
#[test]
fn bench_sensors_reads_a_small_redfish_farm() {
    let out = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["bench", "sensors", "--protocol", "redfish", "--bmcs", "3"])
        .args(["--interval-secs", "10", "--measure-secs", "10"])
        .output()
        .expect("run steward");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 simulated Redfish BMCs"), "{text}");
    assert!(text.contains("3 hosts added and provisioned"), "{text}");
    assert!(text.contains("10 sensors per host"), "{text}");
    assert!(text.contains(", 0 sensor alarms"), "{text}");
}
