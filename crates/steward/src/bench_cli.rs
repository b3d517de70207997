//! `steward bench …`: the benchmarks of BENCHMARKS.md. Each prints its figure and the peer it
//! was compared with.
//!
//! `steward bench sensors` (BENCHMARKS.md, "Sensor audit"): the controller's sensor audit of many
//! simulated BMCs end to end, IPMI (`bmc-farm`) or Redfish (`redfish-farm`: the lab's
//! `steward-simbmc`); see `sensors` and `redfish_farm`. `scripts/bench-sensor-peers` does the same
//! audit with `ipmitool`, `redfishtool` or `curl` subprocesses against the same farms.
//!
//! `steward bench bmc` (BENCHMARKS.md, "BMC sensor audit"):
//!
//! - **Part A**, native vs subprocess: starts OpenIPMI `ipmi_sim` on 127.0.0.1 with the
//!   lab config of `steward_bmc_ipmi::lab` (CPUTmp, SysFan1, P12V threshold sensors and the
//!   discrete PSU1_Status), then times `--iterations` full sensor reads (the equivalent of
//!   `ipmitool sensor list`: SDR repository info, then reading + thresholds of every
//!   sensor) through one kept native session with the SDR cached, against as many
//!   `ipmitool -I lanplus -C 3 … sensor list` subprocesses. Wall time per read, CPU time
//!   per read (`getrusage` RUSAGE_SELF delta for native, RUSAGE_CHILDREN delta for the
//!   subprocesses), and the ratios.
//! - **Part B**, audit of `--bmcs` simulated BMCs: a separate process (`steward bench
//!   bmc-farm`, hidden) serves that many fake IPMI 2.0 lanplus BMCs
//!   (`steward_bmc_ipmi::fake`, cipher suite 17, 4 sensors each, one UDP port each on
//!   127.0.0.1). This process connects one `steward_bmc::Bmc` per port (protocol IPMI),
//!   hands them to the `steward_bmc` scheduler (global concurrency bound
//!   `--concurrency`) and runs `--rounds` audit rounds (a sensor scan of every BMC);
//!   reported per round: wall time until all are read, auditor CPU, farm CPU.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use steward_bmc::scheduler::{Priority, Scheduler, SchedulerConfig};
use steward_bmc::{Bmc, BmcConfig, BmcProtocol};
use steward_bmc_ipmi::fake::{self, FakeConfig, FakeState};
use steward_bmc_ipmi::lab::{self, PASS, USER};
use steward_bmc_ipmi::{CipherSuite, IpmiClient, IpmiConfig};

mod heartbeat;
mod redfish_farm;
mod sensors;

const INSTALL_HINT: &str = "apt-get install openipmi ipmitool";

/// `steward bench <what>`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// BMC access: one native IPMI sensor read vs an `ipmitool sensor list` subprocess
    /// against the same `ipmi_sim`, and an audit round of many simulated BMCs.
    Bmc(BmcBenchArgs),
    /// Serve simulated IPMI lanplus BMCs for `bench bmc` (one UDP port each on 127.0.0.1);
    /// prints `port N` lines then `ready`, and exits when stdin closes.
    #[command(hide = true)]
    BmcFarm(FarmArgs),
    /// Heartbeat: the real pulse service against N real responders (separate process, one
    /// 127.0.x.y address each): pulses/s, controller CPU, detection latency after kills, false losses.
    Heartbeat(heartbeat::HeartbeatBenchArgs),
    /// Serve heartbeat responders for `bench heartbeat`; prints `host NAME ADDR` lines then
    /// `ready`, takes `kill NAME` lines on stdin, and exits when stdin closes.
    #[command(hide = true)]
    HeartbeatFarm(heartbeat::HeartbeatFarmArgs),
    /// Sensor audit: a real controller reading N simulated IPMI or Redfish BMCs (separate
    /// process) every interval: reads completed, controller CPU and RSS, farm CPU.
    Sensors(sensors::SensorBenchArgs),
    /// Serve simulated Redfish BMCs (the lab's steward-simbmc, plain HTTP, one TCP port each on
    /// 127.0.0.1) for `bench sensors --protocol redfish`; prints `port N` lines then `ready`, and
    /// exits when stdin closes.
    #[command(hide = true)]
    RedfishFarm(redfish_farm::RedfishFarmArgs),
}

#[derive(Args, Debug)]
pub struct BmcBenchArgs {
    /// Full sensor reads timed on each side (native and ipmitool) against ipmi_sim.
    #[arg(long, default_value_t = 20)]
    pub iterations: u32,
    /// Simulated BMCs audited in part B (0 skips part B).
    #[arg(long, default_value_t = 1000)]
    pub bmcs: usize,
    /// Audit rounds timed in part B (after one warm-up round that reads the SDRs).
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Global bound on BMC operations in flight (the scheduler's `max_concurrent`).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Target: every BMC read within this many seconds.
    #[arg(long, default_value_t = 10)]
    pub interval_secs: u64,
    /// Simulated BMC processing time per in-session reply in part B (0 = answer at once).
    #[arg(long, default_value_t = 0)]
    pub bmc_latency_ms: u64,
    /// Skip part A (ipmi_sim vs ipmitool).
    #[arg(long)]
    pub skip_ipmi_sim: bool,
}

#[derive(Args, Debug)]
pub struct FarmArgs {
    /// Number of simulated BMCs.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// First UDP port (consecutive ports); 0 = any free ports.
    #[arg(long, default_value_t = 0)]
    pub base_port: u16,
    /// Processing time per in-session reply, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Worker threads of the farm's runtime.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
}

pub fn run(args: BenchArgs) -> Result<()> {
    match args.command {
        BenchCommand::Bmc(a) => bench_bmc(a),
        BenchCommand::BmcFarm(a) => farm(a),
        BenchCommand::Heartbeat(a) => heartbeat::bench(a),
        BenchCommand::HeartbeatFarm(a) => heartbeat::farm(a),
        BenchCommand::Sensors(a) => sensors::bench(a),
        BenchCommand::RedfishFarm(a) => redfish_farm::farm(a),
    }
}

// ---------------------------------------------------------------- measurement helpers

/// User + system CPU time of this process (`RUSAGE_SELF`) or of its waited-for
/// children (`RUSAGE_CHILDREN`).
fn cpu_time(who: libc::c_int) -> Duration {
    // SAFETY: getrusage only writes the struct we pass; a zeroed rusage is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(who, &mut ru) };
    if rc != 0 {
        return Duration::ZERO;
    }
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn self_cpu() -> Duration {
    cpu_time(libc::RUSAGE_SELF)
}

fn children_cpu() -> Duration {
    cpu_time(libc::RUSAGE_CHILDREN)
}

/// CPU (user + system) of a running process, from /proc/PID/stat.
fn proc_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Some(Duration::from_nanos(ticks * 1_000_000_000 / hz))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn median(v: &mut [Duration]) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[v.len() / 2]
}

fn on_path(bin: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(bin))
            .find(|f| f.is_file())
    })
}

fn first_line(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

/// "ipmitool 1.8.19".
fn ipmitool_version() -> String {
    first_line("ipmitool", &["-V"])
        .map(|l| l.replace(" version ", " "))
        .unwrap_or_else(|| "ipmitool (unknown version)".into())
}

/// "ipmi_sim 2.0.33" (the OpenIPMI package version when dpkg knows it; ipmi_sim's own
/// `--version` prints the simulator's internal version).
fn ipmi_sim_version() -> String {
    if let Some(v) = first_line("dpkg-query", &["-W", "-f", "${Version}", "openipmi"]) {
        if !v.contains("no packages") && !v.is_empty() {
            let v = v.split(['-', '+']).next().unwrap_or(&v).to_string();
            return format!("ipmi_sim {v}");
        }
    }
    first_line("ipmi_sim", &["--version"])
        .map(|l| format!("ipmi_sim ({l})"))
        .unwrap_or_else(|| "ipmi_sim (unknown version)".into())
}

fn current_thread_rt() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
}

// ---------------------------------------------------------------- bench bmc

struct PartA {
    iterations: u32,
    sensors: usize,
    native_wall_median: Duration,
    native_wall_mean: Duration,
    native_cpu: Duration,
    sub_wall_median: Duration,
    sub_wall_mean: Duration,
    sub_cpu: Duration,
    sim_version: String,
    tool_version: String,
}

struct PartB {
    bmcs: usize,
    sensors_per_bmc: usize,
    connect_wall: Duration,
    warmup_wall: Duration,
    rounds: Vec<(Duration, Duration, Option<Duration>, usize)>,
    first_error: Option<String>,
}

fn bench_bmc(a: BmcBenchArgs) -> Result<()> {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("steward bench bmc: {cores} cores available");
    let part_a = if a.skip_ipmi_sim {
        None
    } else {
        Some(part_a(a.iterations.max(1))?)
    };
    let part_b = if a.bmcs > 0 { Some(part_b(&a)?) } else { None };

    println!();
    println!("== summary ==");
    if let Some(p) = &part_a {
        let wall_ratio = p.sub_wall_mean.as_secs_f64() / p.native_wall_mean.as_secs_f64();
        let cpu_ratio = p.sub_cpu.as_secs_f64() / p.native_cpu.as_secs_f64().max(1e-9);
        println!(
            "A. full sensor read ({} sensors, `sensor list` equivalent), {} iterations, vs {} subprocess (-I lanplus -C 3) against {} on 127.0.0.1:",
            p.sensors, p.iterations, p.tool_version, p.sim_version
        );
        println!(
            "   native (kept session, SDR cached): wall {:.3} ms/read (median {:.3}), CPU {:.1} µs/read",
            ms(p.native_wall_mean),
            ms(p.native_wall_median),
            us(p.native_cpu)
        );
        println!(
            "   ipmitool subprocess:               wall {:.3} ms/read (median {:.3}), CPU {:.1} µs/read",
            ms(p.sub_wall_mean),
            ms(p.sub_wall_median),
            us(p.sub_cpu)
        );
        println!(
            "   ratio (ipmitool / native): wall {wall_ratio:.1}x, CPU {cpu_ratio:.1}x (target >= 10x) {}",
            if wall_ratio >= 10.0 && cpu_ratio >= 10.0 {
                "MET"
            } else {
                "NOT MET"
            }
        );
    }
    if let Some(p) = &part_b {
        println!(
            "B. audit of {} simulated BMCs (separate process: steward bench bmc-farm; IPMI 2.0 lanplus, cipher suite 17, {} sensors each, {} ms BMC latency per reply; scheduler max_concurrent {}):",
            p.bmcs, p.sensors_per_bmc, a.bmc_latency_ms, a.concurrency
        );
        println!(
            "   sessions opened in {:.0} ms; warm-up round (SDR walk) {:.0} ms",
            ms(p.connect_wall),
            ms(p.warmup_wall)
        );
        let mut worst = Duration::ZERO;
        for (i, (wall, cpu, farm_cpu, ok)) in p.rounds.iter().enumerate() {
            worst = worst.max(*wall);
            println!(
                "   round {}: {ok}/{} read in {:.0} ms; auditor CPU {:.0} ms ({:.1} µs/BMC){}",
                i + 1,
                p.bmcs,
                ms(*wall),
                ms(*cpu),
                us(*cpu) / p.bmcs as f64,
                farm_cpu
                    .map(|c| format!("; farm CPU {:.0} ms", ms(c)))
                    .unwrap_or_default()
            );
        }
        let all_ok = p.rounds.iter().all(|r| r.3 == p.bmcs);
        println!(
            "   slowest round {:.0} ms vs target {} s: {}",
            ms(worst),
            a.interval_secs,
            if all_ok && worst <= Duration::from_secs(a.interval_secs) {
                "MET"
            } else {
                "NOT MET"
            }
        );
        if let Some(e) = &p.first_error {
            println!("   first error: {e}");
        }
        if !all_ok {
            bail!("not every simulated BMC was read");
        }
    }
    Ok(())
}

/// The lab's ipmi_sim on free ports in a temp dir (killed on drop), after checking that both it
/// and the reference peer can be run.
fn start_sim() -> Result<lab::IpmiSim> {
    if on_path("ipmi_sim").is_none() {
        bail!("ipmi_sim not found on PATH: {INSTALL_HINT}");
    }
    if on_path("ipmitool").is_none() {
        bail!("ipmitool not found on PATH: {INSTALL_HINT}");
    }
    lab::IpmiSim::spawn(USER, PASS)
        .with_context(|| format!("cannot start ipmi_sim ({INSTALL_HINT})"))
}

fn part_a(n: u32) -> Result<PartA> {
    let sim = start_sim()?;
    let tool_version = ipmitool_version();
    let sim_version = ipmi_sim_version();
    println!(
        "A. {sim_version} on {} (lab config: CPUTmp, SysFan1, P12V, PSU1_Status)",
        sim.addr
    );
    let rt = current_thread_rt()?;
    let cfg = |timeout_ms| {
        let mut c = IpmiConfig::new(sim.addr, USER, PASS);
        c.cipher_suites = vec![CipherSuite::Suite3];
        c.timeout = Duration::from_millis(timeout_ms);
        c.retries = 2;
        c
    };

    // Native side.
    let (sensors, native_walls, native_cpu) = rt.block_on(async {
        let mut client = None;
        for _ in 0..100 {
            if let Ok(c) = IpmiClient::connect(cfg(200)).await {
                client = Some(c);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let Some(mut c) = client else {
            bail!("ipmi_sim did not answer; its log:\n{}", sim.log());
        };
        // Warm-up: fills the SDR cache (the kept session's steady state).
        let sensors = c.sensors().await.context("native sensor read")?.len();
        let mut walls = Vec::with_capacity(n as usize);
        let cpu0 = self_cpu();
        for _ in 0..n {
            let t = Instant::now();
            let s = c.sensors().await.context("native sensor read")?;
            walls.push(t.elapsed());
            if s.len() != sensors {
                bail!(
                    "native read returned {} sensors, expected {sensors}",
                    s.len()
                );
            }
        }
        let cpu = self_cpu() - cpu0;
        let _ = c.close().await;
        Ok::<_, anyhow::Error>((sensors, walls, cpu))
    })?;
    drop(rt);

    // Subprocess side: the same full read done by `ipmitool sensor list`.
    let port = sim.addr.port().to_string();
    let mut sub_walls = Vec::with_capacity(n as usize);
    let cpu0 = children_cpu();
    for i in 0..n {
        let t = Instant::now();
        let out = Command::new("ipmitool")
            .args(["-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", &port])
            .args(["-U", USER, "-P", PASS, "sensor", "list"])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run ipmitool ({INSTALL_HINT})"))?;
        sub_walls.push(t.elapsed());
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !text.contains("CPUTmp") {
            bail!(
                "ipmitool sensor list failed (iteration {i}): {}{}",
                text,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let sub_cpu = children_cpu() - cpu0;
    drop(sim);

    let mean = |v: &[Duration]| v.iter().sum::<Duration>() / v.len().max(1) as u32;
    let native_wall_mean = mean(&native_walls);
    let sub_wall_mean = mean(&sub_walls);
    Ok(PartA {
        iterations: n,
        sensors,
        native_wall_median: median(&mut native_walls.clone()),
        native_wall_mean,
        native_cpu: native_cpu / n,
        sub_wall_median: median(&mut sub_walls.clone()),
        sub_wall_mean,
        sub_cpu: sub_cpu / n,
        sim_version,
        tool_version,
    })
}

/// The farm child; killed on drop (it also exits when its stdin closes).
struct Farm {
    child: Child,
    ports: Vec<u16>,
}

impl Drop for Farm {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_farm(count: usize, latency_ms: u64) -> Result<Farm> {
    start_farm_process(
        "bmc-farm",
        count,
        &["--latency-ms".to_string(), latency_ms.to_string()],
    )
}

/// Start `steward bench FARM --count COUNT EXTRA…` and read the `port N` lines it announces
/// before `ready`.
fn start_farm_process(farm_command: &str, count: usize, extra: &[String]) -> Result<Farm> {
    let exe = std::env::current_exe().context("own executable")?;
    let mut child = Command::new(exe)
        .args(["bench", farm_command, "--count", &count.to_string()])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start the {farm_command} process"))?;
    let stdout = child.stdout.take().context("farm stdout")?;
    let mut farm = Farm {
        child,
        ports: Vec::with_capacity(count),
    };
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the farm's ports")?;
        if line == "ready" {
            break;
        }
        if let Some(p) = line.strip_prefix("port ") {
            farm.ports.push(p.parse().context("farm port")?);
        }
    }
    if farm.ports.len() != count {
        bail!(
            "{farm_command} announced {} ports, expected {count}",
            farm.ports.len()
        );
    }
    Ok(farm)
}

fn part_b(a: &BmcBenchArgs) -> Result<PartB> {
    let n = a.bmcs;
    let farm = start_farm(n, a.bmc_latency_ms)?;
    let farm_pid = farm.child.id();
    println!(
        "B. bmc-farm pid {farm_pid}: {n} fake IPMI lanplus BMCs on 127.0.0.1 ports {}..{}",
        farm.ports.iter().min().copied().unwrap_or(0),
        farm.ports.iter().max().copied().unwrap_or(0)
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
    let concurrency = a.concurrency.max(1);
    let rounds = a.rounds.max(1);
    let ports = farm.ports.clone();
    let r = rt.block_on(async move {
        // Open every session, bounded like the audit itself.
        let t = Instant::now();
        let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let mut set = tokio::task::JoinSet::new();
        for (i, port) in ports.iter().enumerate() {
            let sem = sem.clone();
            let port = *port;
            set.spawn(async move {
                let _p = sem.acquire_owned().await;
                let mut cfg =
                    BmcConfig::new(format!("127.0.0.1:{port}"), BmcProtocol::Ipmi, USER, PASS);
                cfg.ipmi_timeout = Duration::from_secs(2);
                (i, Bmc::connect(cfg).await)
            });
        }
        let mut bmcs: Vec<Option<Bmc>> = (0..ports.len()).map(|_| None).collect();
        let mut first_error = None;
        while let Some(j) = set.join_next().await {
            let (i, r) = j.context("connect task")?;
            match r {
                Ok(b) => bmcs[i] = Some(b),
                Err(e) => {
                    first_error
                        .get_or_insert_with(|| format!("connect 127.0.0.1:{}: {e}", ports[i]));
                }
            }
        }
        let connect_wall = t.elapsed();
        let sched = Scheduler::new(SchedulerConfig {
            gap: Duration::ZERO,
            max_concurrent: concurrency,
        });
        let handles: Vec<_> = bmcs.into_iter().flatten().map(|b| sched.add(b).0).collect();

        // One round: a sensor scan of every BMC through the scheduler.
        let round = |handles: &Vec<steward_bmc::scheduler::BmcHandle<Bmc>>| {
            let rxs: Vec<_> = handles
                .iter()
                .map(|h| h.submit(Priority::Audit, |b: &mut Bmc| Box::pin(b.sensors())))
                .collect();
            async move {
                let mut ok = 0;
                let mut sensors = 0;
                let mut err = None;
                for rx in rxs {
                    match rx {
                        Ok(rx) => match rx.await {
                            Ok(Ok(s)) => {
                                ok += 1;
                                sensors = s.len();
                            }
                            Ok(Err(e)) => {
                                err.get_or_insert_with(|| e.to_string());
                            }
                            Err(_) => {
                                err.get_or_insert_with(|| "scheduler closed".to_string());
                            }
                        },
                        Err(e) => {
                            err.get_or_insert_with(|| e.to_string());
                        }
                    }
                }
                (ok, sensors, err)
            }
        };

        let t = Instant::now();
        let (_, sensors_per_bmc, e) = round(&handles).await;
        let warmup_wall = t.elapsed();
        if first_error.is_none() {
            first_error = e;
        }
        let mut results = Vec::new();
        for _ in 0..rounds {
            let farm0 = proc_cpu(farm_pid);
            let cpu0 = self_cpu();
            let t = Instant::now();
            let (ok, _, e) = round(&handles).await;
            let wall = t.elapsed();
            let cpu = self_cpu() - cpu0;
            let farm_cpu = match (farm0, proc_cpu(farm_pid)) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                _ => None,
            };
            if first_error.is_none() {
                first_error = e;
            }
            results.push((wall, cpu, farm_cpu, ok));
        }
        Ok::<_, anyhow::Error>(PartB {
            bmcs: ports.len(),
            sensors_per_bmc,
            connect_wall,
            warmup_wall,
            rounds: results,
            first_error,
        })
    })?;
    // Sessions are not closed one by one: the farm goes away with them.
    rt.shutdown_timeout(Duration::from_millis(100));
    drop(farm);
    Ok(r)
}

// ---------------------------------------------------------------- bench bmc-farm

fn farm(a: FarmArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads.max(1))
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let cfg = Arc::new(FakeConfig {
        reply_delay: Duration::from_millis(a.latency_ms),
        ..FakeConfig::lab()
    });
    rt.block_on(async {
        let mut socks = Vec::with_capacity(a.count);
        for i in 0..a.count {
            let port = if a.base_port == 0 {
                0
            } else {
                a.base_port
                    .checked_add(u16::try_from(i).context("too many BMCs")?)
                    .context("port out of range")?
            };
            let s = tokio::net::UdpSocket::bind(("127.0.0.1", port))
                .await
                .with_context(|| format!("bind 127.0.0.1:{port}"))?;
            socks.push(s);
        }
        let mut out = std::io::stdout().lock();
        for s in &socks {
            writeln!(out, "port {}", s.local_addr()?.port())?;
        }
        writeln!(out, "ready")?;
        out.flush()?;
        drop(out);
        for s in socks {
            tokio::spawn(fake::serve(s, cfg.clone(), Arc::new(FakeState::default())));
        }
        wait_for_stdin_close().await;
        Ok(())
    })
}

/// A farm runs until the parent closes its stdin (or kills it).
async fn wait_for_stdin_close() {
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin()
            .read_line(&mut sink)
            .map(|n| n > 0)
            .unwrap_or(false)
        {
            sink.clear();
        }
    })
    .await
    .ok();
}
