//! `steward bench redfish-farm` (hidden): many simulated Redfish BMCs in one process, for
//! `steward bench sensors --protocol redfish`.
//!
//! Each BMC is the lab's own `steward_simbmc::SimBmc` (plain HTTP on its own 127.0.0.1 port, the
//! lab's ten sensors, sessions, Basic auth) in front of a machine that is always on, so every
//! sensor reads its nominal value. A separate process, so the controller's CPU and the farm's are
//! measured apart, as with the IPMI `bmc-farm`.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use steward_simbmc::{Power, PowerTarget, SimBmc, SimBmcConfig};

use super::wait_for_stdin_close;

#[derive(Args, Debug)]
pub struct RedfishFarmArgs {
    /// Number of simulated Redfish BMCs (one TCP port each on 127.0.0.1).
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// The one account of every BMC.
    #[arg(long)]
    pub username: String,
    /// Its password (a bench secret on loopback only).
    #[arg(long)]
    pub password: String,
    /// Worker threads of the farm's runtime.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

/// A machine that stays powered on whatever it is asked: the bench reads sensors, it never resets.
struct AlwaysOn;

impl PowerTarget for AlwaysOn {
    fn power(&self) -> Power {
        Power::On
    }
    fn power_on(&self) {}
    fn power_off(&self) {}
    fn reset(&self) {}
    fn power_cycle(&self) {}
}

/// Serve `count` BMCs; print `port N` lines then `ready`; run until stdin closes.
pub fn farm(a: RedfishFarmArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads.max(1))
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async {
        let target: Arc<dyn PowerTarget> = Arc::new(AlwaysOn);
        let mut bmcs = Vec::with_capacity(a.count);
        for i in 0..a.count {
            let cfg = SimBmcConfig::new(format!("worker-{i}"), &a.username, &a.password);
            let bmc = SimBmc::start(cfg, target.clone())
                .await
                .with_context(|| format!("start simulated Redfish BMC {i}"))?;
            bmcs.push(bmc);
        }
        let mut out = std::io::stdout().lock();
        for b in &bmcs {
            writeln!(out, "port {}", b.addr().port())?;
        }
        writeln!(out, "ready")?;
        out.flush()?;
        drop(out);
        wait_for_stdin_close().await;
        Ok(())
    })
}
