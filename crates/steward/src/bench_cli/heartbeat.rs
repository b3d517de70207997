//! `steward bench heartbeat` (BENCHMARKS.md, "Heartbeat"): the real pulse service
//! (`steward_heartbeat_udp::HeartbeatService`) against `--hosts` real responders
//! (`steward_node::pulse_responder::Responder`) over UDP on loopback.
//!
//! - The responders run in a **separate process** (`steward bench heartbeat-farm`, hidden): one
//!   socket per host, each bound to its own address 127.0.x.y (Linux routes all of 127/8 to `lo`),
//!   one process, a few runtime threads. The farm reads `kill HOST` lines on stdin (that
//!   responder stops answering and closes its socket) and exits when stdin closes.
//! - The controller side runs here on a single-threaded runtime. Its CPU is `getrusage
//!   (RUSAGE_SELF)` over a steady-state window; the farm's is read from /proc over the same
//!   window (and `RUSAGE_CHILDREN` for its whole life once it is reaped).
//! - After the window, `--kills` responders are killed at staggered instants (so the kills fall
//!   at every phase of the 100 ms period); detection latency = time from writing the kill to the
//!   farm until the service's tick raises `Loss` for that host. Any Loss for a host not killed is
//!   a false loss.

use super::{children_cpu, ms, proc_cpu, self_cpu};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use steward_heartbeat_udp::{HeartbeatService, Notice, ServiceConfig, Sink};
use steward_maintenance::io::{Event, HeartbeatEvent};
use steward_maintenance::state::Network;
use steward_node::pulse_responder::{HealthSource, Responder, ResponderConfig, ResponderHandle};
use steward_protocol::{ClusterSecret, HealthFlags};

/// The controller's address; responders are 127.0.1.1 and up.
const CONTROLLER_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const CONTROLLER: &str = "controller-0";
/// The farm learns the (throwaway) cluster secret from this variable, not from its command line.
const SECRET_ENV: &str = "STEWARD_BENCH_HEARTBEAT_SECRET";

#[derive(Args, Debug)]
pub struct HeartbeatBenchArgs {
    /// Monitored hosts (one responder each, in the farm process).
    #[arg(long, default_value_t = 2000)]
    pub hosts: usize,
    /// Length of the steady-state window CPU and pulse rates are measured over.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Responders killed after the window to measure detection latency.
    #[arg(long, default_value_t = 20)]
    pub kills: usize,
    /// Worker threads of the responder farm's runtime.
    #[arg(long, default_value_t = 2)]
    pub farm_threads: usize,
}

#[derive(Args, Debug)]
pub struct HeartbeatFarmArgs {
    /// Responders to run, `hb-0` … on 127.0.1.1, 127.0.1.2, … (250 per /24).
    #[arg(long)]
    pub hosts: usize,
    /// Worker threads of the farm's runtime.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

fn host_name(i: usize) -> String {
    format!("hb-{i}")
}

/// 127.0.x.y for responder `i`: x from 1, y in 1..=250.
fn host_ip(i: usize) -> Result<Ipv4Addr> {
    let x = u8::try_from(1 + i / 250).context("at most 63,750 responders (127.0.1-255.y)")?;
    Ok(Ipv4Addr::new(127, 0, x, (1 + i % 250) as u8))
}

fn bench_secret() -> Result<ClusterSecret> {
    let hex = std::env::var(SECRET_ENV).with_context(|| format!("{SECRET_ENV} not set"))?;
    secret_from_hex(&hex)
}

fn secret_from_hex(hex: &str) -> Result<ClusterSecret> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .context("bad secret hex")?;
    Ok(ClusterSecret::new(&bytes)?)
}

fn random_secret_hex() -> Result<String> {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .context("reading /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Raise the open-file soft limit to the hard limit: one socket per responder.
fn raise_nofile() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < r.rlim_max {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

// ---------------------------------------------------------------- the farm process

pub fn farm(a: HeartbeatFarmArgs) -> Result<()> {
    raise_nofile();
    let secret = bench_secret()?;
    let pulse_key = secret.pulse_key();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads.max(1))
        .enable_all()
        .build()
        .context("tokio runtime")?;
    rt.block_on(async {
        let healthy: HealthSource = Arc::new(|| HealthFlags::new(true, false, false));
        let mut responders: HashMap<String, ResponderHandle> = HashMap::new();
        let mut out = std::io::stdout().lock();
        for i in 0..a.hosts {
            let name = host_name(i);
            let ip = host_ip(i)?;
            let cfg = ResponderConfig {
                hostname: name.clone(),
                keys: secret.node_keys(&name),
                pulse_key: pulse_key.clone(),
                controllers: vec![(CONTROLLER.into(), Network::Mgmt, IpAddr::V4(CONTROLLER_IP))],
                bind: vec![(Network::Mgmt, SocketAddr::new(IpAddr::V4(ip), 0))],
            };
            let r = Responder::spawn(cfg, healthy.clone())
                .with_context(|| format!("responder {name} on {ip}"))?;
            let addr = r.local_addr(Network::Mgmt).context("bound address")?;
            writeln!(out, "host {name} {addr}")?;
            responders.insert(name, r);
        }
        writeln!(out, "ready")?;
        out.flush()?;
        drop(out);
        // Commands from the bench until it closes our stdin.
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(line) = rx.recv().await {
            if let Some(host) = line.strip_prefix("kill ") {
                if let Some(mut r) = responders.remove(host.trim()) {
                    r.abort();
                }
            }
        }
        Ok(())
    })
}

/// The farm child; killed on drop (it also exits when its stdin closes).
struct Farm {
    child: Child,
    stdin: Option<ChildStdin>,
    hosts: Vec<(String, SocketAddr)>,
}

impl Drop for Farm {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_farm(hosts: usize, threads: usize, secret_hex: &str) -> Result<Farm> {
    let exe = std::env::current_exe().context("own executable")?;
    let mut child = Command::new(exe)
        .args(["bench", "heartbeat-farm", "--hosts", &hosts.to_string()])
        .args(["--threads", &threads.to_string()])
        .env(SECRET_ENV, secret_hex)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the heartbeat-farm process")?;
    let stdout = child.stdout.take().context("farm stdout")?;
    let stdin = child.stdin.take();
    let mut farm = Farm {
        child,
        stdin,
        hosts: Vec::with_capacity(hosts),
    };
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the farm's addresses")?;
        if line == "ready" {
            break;
        }
        let mut f = line.split_whitespace();
        if let (Some("host"), Some(name), Some(addr)) = (f.next(), f.next(), f.next()) {
            farm.hosts
                .push((name.to_string(), addr.parse().context("farm address")?));
        }
    }
    if farm.hosts.len() != hosts {
        bail!(
            "heartbeat-farm announced {} responders, expected {hosts}",
            farm.hosts.len()
        );
    }
    Ok(farm)
}

// ---------------------------------------------------------------- the bench

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

pub fn bench(a: HeartbeatBenchArgs) -> Result<()> {
    if a.hosts == 0 {
        bail!("--hosts must be at least 1");
    }
    let kills = a.kills.min(a.hosts);
    raise_nofile();
    let secret_hex = random_secret_hex()?;
    let secret = secret_from_hex(&secret_hex)?;
    let rt = super::current_thread_rt()?;
    let log: Arc<Mutex<Vec<Notice>>> = Arc::default();
    let sink = {
        let log = log.clone();
        Sink::callback(move |n| {
            if let Ok(mut l) = log.lock() {
                l.push(n);
            }
        })
    };
    let cfg = ServiceConfig::new(
        CONTROLLER,
        vec![(Network::Mgmt, SocketAddr::new(IpAddr::V4(CONTROLLER_IP), 0))],
    );
    let period = cfg.heartbeat.period;
    let hb = {
        let _g = rt.enter();
        HeartbeatService::spawn(cfg, secret, sink).context("heartbeat service")?
    };
    let mut farm = start_farm(a.hosts, a.farm_threads, &secret_hex)?;
    let farm_pid = farm.child.id();
    let first = farm.hosts.first().map(|h| h.1.ip());
    let last = farm.hosts.last().map(|h| h.1.ip());
    println!(
        "heartbeat: {} hosts, period {} ms, mgmt network, unicast; controller {} on {} (this process, 1 thread); \
         responders in a separate process (steward bench heartbeat-farm, pid {farm_pid}, {} threads) on {}..{}",
        a.hosts,
        period.as_millis(),
        CONTROLLER,
        hb.local_addr(Network::Mgmt).map(|a| a.to_string()).unwrap_or_default(),
        a.farm_threads,
        first.map(|i| i.to_string()).unwrap_or_default(),
        last.map(|i| i.to_string()).unwrap_or_default(),
    );
    for (name, addr) in &farm.hosts {
        hb.set_peer(name, Network::Mgmt, *addr);
        hb.start(name);
    }

    rt.block_on(async {
        // Warm-up: every host answering (or 5 s).
        let t = Instant::now();
        while hb.stats().replies < 5 * a.hosts as u64 && t.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let s0 = hb.stats();
        let c0 = self_cpu();
        let f0 = proc_cpu(farm_pid);
        let t0 = Instant::now();
        tokio::time::sleep(Duration::from_secs(a.seconds.max(1))).await;
        let wall = t0.elapsed();
        let c1 = self_cpu();
        let f1 = proc_cpu(farm_pid);
        let s1 = hb.stats();
        let secs = wall.as_secs_f64();
        let cpu_pct = (c1 - c0).as_secs_f64() / secs * 100.0;
        let pulses = (s1.pulses_sent - s0.pulses_sent) as f64 / secs;
        let replies = (s1.replies - s0.replies) as f64 / secs;
        println!("steady state over {:.1} s:", secs);
        println!(
            "  pulses/s {:.0} (expected {:.0}); replies/s {:.0}; rounds {}; late rounds {}; send errors {}; drops {}",
            pulses,
            a.hosts as f64 * 1000.0 / period.as_millis() as f64,
            replies,
            s1.rounds - s0.rounds,
            s1.late_rounds - s0.late_rounds,
            s1.send_errors - s0.send_errors,
            s1.total_dropped() - s0.total_dropped(),
        );
        println!(
            "  controller CPU {:.1} % of one core ({:.2} % per 1,000 hosts); target: 2,000 hosts under 50 %",
            cpu_pct,
            cpu_pct * 1000.0 / a.hosts as f64
        );
        if let (Some(f0), Some(f1)) = (f0, f1) {
            println!(
                "  responder farm CPU {:.1} % of one core (separate process, not the controller's)",
                (f1 - f0).as_secs_f64() / secs * 100.0
            );
        }

        // Kills, staggered by a prime number of ms so they land at every phase of the period.
        let victims: Vec<String> = (0..kills)
            .map(|k| farm.hosts[k * a.hosts / kills.max(1)].0.clone())
            .collect();
        let mut killed_at: HashMap<String, Instant> = HashMap::new();
        for v in &victims {
            let stdin = farm.stdin.as_mut().context("farm stdin")?;
            killed_at.insert(v.clone(), Instant::now());
            writeln!(stdin, "kill {v}").context("telling the farm")?;
            stdin.flush()?;
            tokio::time::sleep(Duration::from_millis(37)).await;
        }
        let t = Instant::now();
        let deadline = Duration::from_secs(10);
        loop {
            let found = log
                .lock()
                .map(|l| {
                    l.iter()
                        .filter(|n| matches!(&n.event, Event::Heartbeat { event: HeartbeatEvent::Loss, host, .. } if killed_at.contains_key(host)))
                        .count()
                })
                .unwrap_or(0);
            if found >= kills || t.elapsed() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // A few more rounds so late false accusations would show.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let notices = log.lock().map(|l| l.clone()).unwrap_or_default();
        let mut latencies = Vec::new();
        let (mut false_losses, mut minor, mut degrade) = (0, 0, 0);
        for n in &notices {
            let Event::Heartbeat { host, event, .. } = &n.event else { continue };
            match (killed_at.get(host), event) {
                (Some(k), HeartbeatEvent::Loss) => {
                    latencies.push(n.at.saturating_duration_since(*k))
                }
                (Some(_), _) => {}
                (None, HeartbeatEvent::Loss) => false_losses += 1,
                (None, HeartbeatEvent::MinorSet) => minor += 1,
                (None, HeartbeatEvent::DegradeSet) => degrade += 1,
                (None, _) => {}
            }
        }
        latencies.sort();
        if kills > 0 {
            println!(
                "detection after killing {} responders: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({}/{} detected); \
                 target p99 <= 1,100 ms (loss at 10 missed pulses of {} ms)",
                kills,
                ms(percentile(&latencies, 0.50)),
                ms(percentile(&latencies, 0.99)),
                ms(latencies.last().copied().unwrap_or_default()),
                latencies.len(),
                kills,
                period.as_millis(),
            );
        }
        let s = hb.stats();
        println!(
            "false losses: {false_losses} (live hosts with minor {minor}, degrade {degrade}); late rounds {}; drops {}",
            s.late_rounds,
            s.total_dropped()
        );
        println!(
            "compare (docs/heartbeat.md#comparison-with-other-systems): Corosync 3 ≈8 s to new membership (3 nodes), \
             memberlist LAN ≥4 s suspicion, Kubernetes ≈50 s to NotReady"
        );
        Ok::<(), anyhow::Error>(())
    })?;
    drop(hb);
    drop(farm);
    println!(
        "responder farm CPU over its whole life (RUSAGE_CHILDREN): {:.0} ms",
        ms(children_cpu())
    );
    Ok(())
}
