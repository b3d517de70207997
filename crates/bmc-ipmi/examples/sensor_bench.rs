//! Times N native sensor reads against a BMC and, if `ipmitool` is on PATH, the
//! same number of `ipmitool sensor reading` subprocesses.
//!
//! ```text
//! cargo run -p steward-bmc-ipmi --example sensor_bench -- 127.0.0.1:9001 admin password 50
//! ```
//! (the password argument is for lab BMCs such as ipmi_sim only).

use std::time::Instant;

use steward_bmc_ipmi::{IpmiClient, IpmiConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("127.0.0.1:9001")
        .parse()?;
    let user = args.get(2).cloned().unwrap_or_else(|| "admin".into());
    let pass = args.get(3).cloned().unwrap_or_else(|| "password".into());
    let n: u32 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(20);

    let mut c = IpmiClient::connect(IpmiConfig::new(addr, user.clone(), pass.clone())).await?;
    println!("cipher suite {}", c.cipher_suite().id());
    println!("{:?}", c.device_id().await?);
    println!("{:?}", c.chassis_status().await?);
    for s in c.sensors().await? {
        println!(
            "{:<16} {:>10} {:<10} {:<3} {:?}",
            s.name,
            s.value
                .map(|v| format!("{v:.3}"))
                .unwrap_or_else(|| "na".into()),
            s.unit,
            s.status.short(),
            s.thresholds
        );
    }
    let recs = c.sensor_records().await?;
    let Some(rec) = recs.first() else {
        println!("no sensors");
        return Ok(());
    };
    let native = c.time_sensor_reads(rec, n).await?;
    println!(
        "native: {n} reads of {:?} in {:?} ({:?}/read)",
        rec.name,
        native,
        native / n
    );
    c.close().await?;

    let t = Instant::now();
    let mut ok = 0;
    for _ in 0..n {
        let out = std::process::Command::new("ipmitool")
            .args([
                "-I",
                "lanplus",
                "-C",
                "3",
                "-H",
                &addr.ip().to_string(),
                "-p",
            ])
            .arg(addr.port().to_string())
            .args(["-U", &user, "-P", &pass, "sensor", "reading", &rec.name])
            .output();
        match out {
            Ok(o) if o.status.success() => ok += 1,
            Ok(_) => {}
            Err(_) => {
                println!("ipmitool not available");
                return Ok(());
            }
        }
    }
    let sub = t.elapsed();
    println!(
        "ipmitool: {n} reads ({ok} ok) in {:?} ({:?}/read)",
        sub,
        sub / n
    );
    println!("speedup: {:.1}x", sub.as_secs_f64() / native.as_secs_f64());
    Ok(())
}
