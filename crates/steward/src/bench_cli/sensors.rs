//! `steward bench sensors` (BENCHMARKS.md, "Sensor audit"): the controller's sensor audit of `--bmcs`
//! simulated BMCs, each read every `--interval-secs`.
//!
//! A separate process serves that many simulated BMCs: with `--protocol ipmi` (`steward bench
//! bmc-farm`, as in `bench bmc`) fake IPMI 2.0 lanplus BMCs with the lab's four sensors each; with
//! `--protocol redfish` (`steward bench redfish-farm`) the lab's Redfish BMCs (`steward-simbmc`,
//! plain HTTP, one port each) with the lab's ten sensors each. This process runs a real controller — the actor with
//! its core, a redb store in a temp dir, the BMC workers (scheduler, access audit) and the sensor
//! audit — with one host per BMC, provisioned over IPMI. After every host's first read it measures
//! for `--measure-secs`: the reads completed (against one per host per interval), the oldest last
//! read at the end, this process's CPU (controller, BMC clients, store) and RSS, and the farm's CPU.
//! Reads are counted by asking the controller for each host's last read time every half interval,
//! which the controller's CPU includes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use steward_bmc_ipmi::lab::{PASS, USER};
use steward_controller::bmc_workers::{BmcWorkerConfig, BmcWorkers};
use steward_controller::links::{HeartbeatLink, Links, NodeLink, SwactLink};
use steward_controller::{spawn_with_events, ControllerConfig, ControllerHandle, EventSender};
use steward_maintenance::config::Config;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::state::{Personality, SystemType};
use steward_maintenance::SystemConfig;
use steward_store::{RedbStore, Retention, SecretBox, Store};

use super::{proc_cpu, self_cpu, start_farm, start_farm_process, Farm};

/// Which kind of simulated BMC the farm serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FarmProtocol {
    /// Fake IPMI 2.0 lanplus BMCs (UDP), the lab's four sensors.
    Ipmi,
    /// The lab's simulated Redfish BMCs (plain HTTP), ten sensors.
    Redfish,
}

impl FarmProtocol {
    fn start(self, n: usize) -> Result<Farm> {
        match self {
            FarmProtocol::Ipmi => start_farm(n, 0),
            FarmProtocol::Redfish => start_farm_process(
                "redfish-farm",
                n,
                &[
                    "--username".into(),
                    USER.into(),
                    "--password".into(),
                    PASS.into(),
                ],
            ),
        }
    }

    fn describe(self) -> &'static str {
        match self {
            FarmProtocol::Ipmi => "fake IPMI lanplus BMCs (bmc-farm)",
            FarmProtocol::Redfish => "simulated Redfish BMCs over plain HTTP (redfish-farm)",
        }
    }

    /// The host's BMC as the controller is given it.
    fn bmc_spec(self, port: u16) -> BmcSpec {
        let (protocol, address) = match self {
            FarmProtocol::Ipmi => (BmcProtocol::Ipmi, format!("127.0.0.1:{port}")),
            FarmProtocol::Redfish => (BmcProtocol::Redfish, format!("http://127.0.0.1:{port}")),
        };
        BmcSpec {
            protocol,
            address,
            username: USER.into(),
        }
    }
}

#[derive(Args, Debug)]
pub struct SensorBenchArgs {
    /// Simulated BMCs (one host each).
    #[arg(long, default_value_t = 1000)]
    pub bmcs: usize,
    /// The hosts' sensor audit interval (at least 10).
    #[arg(long, default_value_t = 10)]
    pub interval_secs: u64,
    /// Measurement window after every host's first read.
    #[arg(long, default_value_t = 60)]
    pub measure_secs: u64,
    /// Global bound on BMC operations in flight (the scheduler's `max_concurrent`).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// The simulated BMCs' protocol.
    #[arg(long, value_enum, default_value_t = FarmProtocol::Ipmi)]
    pub protocol: FarmProtocol,
}

/// The controller's other links do nothing here: no node agents, no heartbeat, no standby.
struct Quiet;

impl NodeLink for Quiet {
    fn send(
        &mut self,
        _: &str,
        _: steward_maintenance::CommandId,
        _: steward_maintenance::io::NodeCommand,
        _: &[steward_maintenance::ProtocolNetwork],
    ) {
    }
}

impl HeartbeatLink for Quiet {
    fn control(&mut self, _: Option<&str>, _: steward_maintenance::io::HeartbeatControl) {}
}

impl SwactLink for Quiet {
    fn swact(&mut self, _: &str) {}
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn host_name(i: usize) -> String {
    format!("worker-{i}")
}

/// Each host's last read time (ms since the epoch; 0 before the first).
async fn last_reads(handle: &ControllerHandle, n: usize) -> Result<Vec<u64>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let v = handle.host_sensors(&host_name(i)).await?;
        out.push(v.sensors.first().map_or(0, |s| s.read_at_ms));
    }
    Ok(out)
}

pub fn bench(a: SensorBenchArgs) -> Result<()> {
    if a.interval_secs < 10 {
        bail!("--interval-secs must be at least 10 (the shortest audit interval)");
    }
    let n = a.bmcs.max(1);
    let farm = a.protocol.start(n)?;
    let farm_pid = farm.child.id();
    let ports = farm.ports.clone();
    println!(
        "sensor audit: {n} {} (pid {farm_pid}), one host each, read every {} s; scheduler max_concurrent {}",
        a.protocol.describe(),
        a.interval_secs,
        a.concurrency
    );
    let workers = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1)
        .min(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let dir = tempfile::tempdir().context("temp dir")?;
    let result = rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path(), Retention::default())?);
        let mut cfg = ControllerConfig::new(
            Config::default(),
            SystemConfig {
                system_type: SystemType::Standard,
                own_host: "controller-0".into(),
                controller_uptime: Duration::from_secs(86_400),
            },
        );
        cfg.sensors.audit_interval = Duration::from_secs(a.interval_secs);
        cfg.sensors.first_read_delay = Duration::from_secs(1);
        let (events, rx) = EventSender::channel(cfg.event_queue);
        let mut bmc_cfg = BmcWorkerConfig::default();
        bmc_cfg.scheduler.max_concurrent = a.concurrency.max(1);
        let links = Links {
            node: Box::new(Quiet),
            bmc: Box::new(BmcWorkers::start(bmc_cfg, events.clone())),
            heartbeat: Box::new(Quiet),
            swact: Box::new(Quiet),
        };
        let (handle, _events, _task) =
            spawn_with_events(cfg, store, SecretBox::from_key([9; 32]), links, (events, rx))
                .context("start the controller")?;
        let added = Instant::now();
        for (i, port) in ports.iter().enumerate() {
            let spec = HostSpec {
                name: host_name(i),
                uuid: format!("00000000-0000-4000-8002-{i:012}"),
                personality: Personality::Worker,
                mgmt_ip: None,
                mgmt_mac: None,
                pxeboot_ip: None,
                cluster_ip: None,
                bmc: None,
                install: Default::default(),
            };
            handle
                .add_host(HostRecord::new_install(spec, SystemType::Standard))
                .await?;
            let bmc = a.protocol.bmc_spec(*port);
            handle
                .set_bmc_credentials(&host_name(i), bmc, PASS.into())
                .await?;
        }
        println!(
            "  {n} hosts added and provisioned in {:.1} s",
            added.elapsed().as_secs_f64()
        );
        // Warm-up: every host read once (the first read also learns the model).
        let warm = Instant::now();
        let limit = Duration::from_secs(a.interval_secs * 3 + 60);
        loop {
            let reads = last_reads(&handle, n).await?;
            let done = reads.iter().filter(|r| **r > 0).count();
            if done == n {
                break;
            }
            if warm.elapsed() > limit {
                bail!("only {done} of {n} hosts read after {limit:?}");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let sensors_per_host = handle.host_sensors(&host_name(0)).await?.sensors.len();
        println!(
            "  first read of every host done {:.1} s after provisioning; {sensors_per_host} sensors per host",
            warm.elapsed().as_secs_f64()
        );
        let cpu0 = self_cpu();
        let farm0 = proc_cpu(farm_pid).unwrap_or_default();
        let t0 = Instant::now();
        let mut seen: HashMap<usize, u64> = last_reads(&handle, n)
            .await?
            .into_iter()
            .enumerate()
            .collect();
        let mut reads = 0u64;
        let window = Duration::from_secs(a.measure_secs);
        let poll = Duration::from_millis(a.interval_secs * 500);
        while t0.elapsed() < window {
            tokio::time::sleep(poll.min(window.saturating_sub(t0.elapsed()))).await;
            for (i, r) in last_reads(&handle, n).await?.into_iter().enumerate() {
                if seen.get(&i) != Some(&r) {
                    reads += 1;
                    seen.insert(i, r);
                }
            }
        }
        let wall = t0.elapsed();
        let cpu = self_cpu().saturating_sub(cpu0);
        let farm_cpu = proc_cpu(farm_pid)
            .unwrap_or_default()
            .saturating_sub(farm0);
        let now_ms = steward_store::typed::unix_ms_now();
        let oldest = seen.values().map(|r| now_ms.saturating_sub(*r)).max().unwrap_or(0);
        let alarms = handle.sensor_alarms().await?.len();
        let expected = n as f64 * wall.as_secs_f64() / a.interval_secs as f64;
        println!(
            "  measured {:.1} s: {reads} reads completed (expected {expected:.0} at one per host per interval), oldest last read {:.1} s ago, {alarms} sensor alarms",
            wall.as_secs_f64(),
            oldest as f64 / 1000.0
        );
        println!(
            "  controller process: CPU {:.1}% of one core, RSS {:.0} MiB; farm process: CPU {:.1}% of one core",
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
            rss_mib(),
            100.0 * farm_cpu.as_secs_f64() / wall.as_secs_f64()
        );
        handle.shutdown().await.ok();
        Ok::<(), anyhow::Error>(())
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    drop(farm);
    result
}
