//! The fake BMC (`steward_bmc_ipmi::fake`) must satisfy the reference peer before the
//! native client's suite-17 tests against it prove anything: `ipmitool -I lanplus -C 17`
//! runs chassis power status/on/off, `sdr list` and `sensor list` against it, and the
//! native client then reads the same values over suite 17.

mod support;

use std::time::Duration;

use steward_bmc_ipmi::fake::{FakeBmc, FakeConfig};
use steward_bmc_ipmi::{CipherSuite, IpmiClient, IpmiConfig};

fn have_ipmitool() -> bool {
    std::process::Command::new("ipmitool")
        .arg("-V")
        .output()
        .is_ok()
}

fn require_ipmitool() -> bool {
    if have_ipmitool() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("ipmitool not installed: run `apt-get install -y ipmitool`");
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "\n*** SKIPPED: ipmitool not installed (apt-get install -y ipmitool) ***\n"
    );
    false
}

async fn ipmitool(f: &FakeBmc, suite: &str, args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new("ipmitool")
        .args(["-I", "lanplus", "-C", suite, "-H", "127.0.0.1", "-p"])
        .arg(f.addr.port().to_string())
        .args(["-U", "admin", "-P", "password", "-N", "1", "-R", "2"])
        .args(args)
        .output()
        .await
        .expect("run ipmitool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `name | value | unit | status | lnr | lcr | lnc | unc | ucr | unr` rows by name.
fn sensor_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.contains('|'))
        .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmitool_suite17_accepts_the_fake() {
    if !require_ipmitool() {
        return;
    }
    let f = FakeBmc::start(FakeConfig::lab()).await.expect("fake");

    let (ok, out) = ipmitool(&f, "17", &["chassis", "power", "status"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("Chassis Power is on"), "{out}");
    let (ok, out) = ipmitool(&f, "17", &["chassis", "power", "off"]).await;
    assert!(ok && out.contains("Down/Off"), "{out}");
    let (ok, out) = ipmitool(&f, "17", &["chassis", "power", "status"]).await;
    assert!(ok && out.contains("Chassis Power is off"), "{out}");
    let (ok, out) = ipmitool(&f, "17", &["chassis", "power", "on"]).await;
    assert!(ok && out.contains("Up/On"), "{out}");
    let (ok, out) = ipmitool(&f, "17", &["chassis", "power", "status"]).await;
    assert!(ok && out.contains("Chassis Power is on"), "{out}");

    let (ok, out) = ipmitool(&f, "17", &["sdr", "list"]).await;
    assert!(ok, "{out}");
    for want in [
        "CPUTmp           | 96 degrees C      | ok",
        "SysFan1          | 4800 RPM          | ok",
        "P12V             | 12.05 Volts       | ok",
        "PSU1_Status",
    ] {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }

    let (ok, out) = ipmitool(&f, "17", &["sensor", "list"]).await;
    assert!(ok, "{out}");
    let rows = sensor_rows(&out);
    let row = |name: &str| {
        rows.iter()
            .find(|r| r[0] == name)
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
            .clone()
    };
    let expected = &support::EXPECTED;
    for e in expected {
        let r = row(e.name);
        let v: f64 = r[1].parse().unwrap_or_else(|_| panic!("{r:?}"));
        assert!((v - e.value).abs() < 0.01, "{r:?}");
        assert_eq!(r[2], e.unit, "{r:?}");
        assert_eq!(r[3], "ok", "{r:?}");
        for (i, t) in e.thresholds.iter().enumerate() {
            let got = support::parse_opt_f64(&r[4 + i]);
            match (t, got) {
                (None, None) => {}
                (Some(a), Some(b)) if (a - b).abs() < 0.01 => {}
                _ => panic!("{} threshold {i}: want {t:?}, got {r:?}", e.name),
            }
        }
    }
    let psu = row("PSU1_Status");
    assert_eq!(psu[2], "discrete", "{psu:?}");

    // The same peer, read natively over suite 17: same values as ipmitool saw.
    let mut cfg = IpmiConfig::new(f.addr, "admin", "password");
    cfg.cipher_suites = vec![CipherSuite::Suite17];
    cfg.timeout = Duration::from_secs(2);
    let mut c = IpmiClient::connect(cfg).await.expect("connect");
    assert_eq!(c.cipher_suite(), CipherSuite::Suite17);
    let s = c.sensors().await.expect("sensors");
    for e in expected {
        let r = s.iter().find(|r| r.name == e.name).expect("sensor");
        let v = r.value.expect("value");
        assert!((v - e.value).abs() < 0.01, "{r:?}");
        assert_eq!(r.thresholds.unr, e.thresholds[5], "{r:?}");
    }
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipmitool_wrong_password_is_refused() {
    if !require_ipmitool() {
        return;
    }
    let f = FakeBmc::start(FakeConfig::lab()).await.expect("fake");
    let out = tokio::process::Command::new("ipmitool")
        .args(["-I", "lanplus", "-C", "17", "-H", "127.0.0.1", "-p"])
        .arg(f.addr.port().to_string())
        .args(["-U", "admin", "-P", "wrong", "-N", "1", "-R", "1"])
        .args(["chassis", "power", "status"])
        .output()
        .await
        .expect("run ipmitool");
    assert!(!out.status.success());
    assert!(!f.state.power_on.load(std::sync::atomic::Ordering::SeqCst) || f.requests() == 0);
}
