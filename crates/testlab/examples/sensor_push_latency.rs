//! Critical reading → alarm latency (BENCHMARKS.md, "Critical reading → alarm"): how long a critical
//! reading takes to become alarm 200.007, with Redfish push and with polling only.
//!
//! `cargo run -p steward-testlab --example sensor_push_latency -- [ROUNDS]` (default 5 of each).
//!
//! The test rig (`steward-testlab`) runs in this process: a real controller built by
//! `steward-wiring` in lab mode (audit interval 10 s, BMC operations 100 ms apart), its simulated
//! hosts with their simulated Redfish BMCs, each subscribed to the controller's event receiver. Each
//! round sets worker-0's "CPU1 Temp" to 97 °C (past critical) and times until the controller lists
//! the alarm (asked every 2 ms); with push the BMC also pushes an event right after the value is
//! set. The reading is then restored (pushed too in push rounds) and the next round starts once the
//! alarm has cleared, after a pause of a random fraction of the interval so polling rounds start at
//! every phase of the audit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use steward_controller::ControllerHandle;
use steward_simbmc::SensorOverride;
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{LabSpec, TestLab};

const HOST: &str = "worker-0";
const SENSOR: &str = "CPU1 Temp";
const ENTITY: &str = "host=worker-0.sensor=CPU1 Temp";

async fn alarmed(h: &ControllerHandle) -> bool {
    h.sensor_alarms()
        .await
        .map(|a| a.iter().any(|s| s.alarm.entity == ENTITY))
        .unwrap_or(false)
}

/// Wait until the alarm is (or is not) listed; how long it took. Gives up after `limit`.
async fn wait_alarm(h: &ControllerHandle, want: bool, limit: Duration) -> Result<Duration> {
    let t0 = Instant::now();
    while alarmed(h).await != want {
        if t0.elapsed() > limit {
            bail!(
                "the alarm did not {} within {limit:?}",
                if want { "raise" } else { "clear" }
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(t0.elapsed())
}

fn push(lab: &TestLab) -> Result<()> {
    match lab.host(HOST).push_sensor_event(SENSOR) {
        Ok(n) if n > 0 => Ok(()),
        Ok(_) => bail!("the BMC has no subscriber"),
        Err(e) => bail!(e),
    }
}

fn summary(name: &str, v: &mut [Duration]) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len().max(1) as f64;
    println!(
        "{name:<8} rounds {:>3}  min {:>8.1} ms  median {:>8.1} ms  mean {:>8.1} ms  max {:>8.1} ms",
        v.len(),
        ms(v[0]),
        ms(v[v.len() / 2]),
        mean,
        ms(v[v.len() - 1])
    );
}

fn main() -> Result<()> {
    let rounds: usize = match std::env::args().nth(1) {
        Some(a) => a.parse()?,
        None => 5,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(run(rounds.max(1)))
}

async fn run(rounds: usize) -> Result<()> {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let lab = TestLab::start(store, SecretBox::from_key([9; 32]), LabSpec::standard()).await;
    lab.wait_until_settled().await;
    let h = lab.handle.clone();
    // The first read learned the model, and the BMC holds the controller's subscription.
    let t0 = Instant::now();
    loop {
        let learned = h
            .host_sensors(HOST)
            .await
            .map(|v| !v.sensors.is_empty())
            .unwrap_or(false);
        if learned && push(&lab).is_ok() {
            break;
        }
        if t0.elapsed() > Duration::from_secs(60) {
            bail!("{HOST}'s sensors were never read, or its BMC never subscribed");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let interval = h.host_sensors(HOST).await?.groups[0].audit_interval_secs;
    println!(
        "critical reading → alarm 200.007 on {HOST} (simulated Redfish BMC, audit interval {interval} s, lab BMC spacing)"
    );
    let limit = Duration::from_secs(interval * 3 + 10);
    let mut seed = std::process::id() as u64;
    for with_push in [true, false] {
        let mut raise = Vec::new();
        let mut clear = Vec::new();
        for _ in 0..rounds {
            // A pause at a random phase of the audit (xorshift; no need for a better generator).
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let pause = Duration::from_millis(seed % (interval * 1000));
            tokio::time::sleep(pause).await;
            lab.host(HOST)
                .set_sensor(SENSOR, Some(SensorOverride::Value(97.0)))
                .map_err(anyhow::Error::msg)?;
            if with_push {
                push(&lab)?;
            }
            raise.push(wait_alarm(&h, true, limit).await?);
            lab.host(HOST)
                .set_sensor(SENSOR, None)
                .map_err(anyhow::Error::msg)?;
            if with_push {
                push(&lab)?;
            }
            clear.push(wait_alarm(&h, false, limit).await?);
        }
        let mode = if with_push { "push" } else { "polling" };
        summary(&format!("{mode} raise"), &mut raise);
        summary(&format!("{mode} clear"), &mut clear);
    }
    lab.shutdown().await;
    Ok(())
}
