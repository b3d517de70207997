//! Process monitor figures for BENCHMARKS.md#process-monitor:
//!
//! 1. death → restart latency: a `sleep` is killed with SIGKILL; the time until a new instance runs
//!    and is watched again, with the pidfd monitor (`steward_node::pmon`) and with a polling monitor
//!    (checks `/proc/<pid>` every `POLL`, then runs the same start command);
//! 2. the monitor's CPU time and RSS with 50 processes watched for `IDLE`.
//!
//! `cargo run -p steward-node --example pmon_bench` (prints a Markdown table).

use std::path::Path;
use std::time::{Duration, Instant};
use steward_node::pmon;
use steward_process_policy::Phase;
use tokio::sync::mpsc;

const ROUNDS: usize = 20;
const POLL: Duration = Duration::from_millis(100);
const IDLE: Duration = Duration::from_secs(20);

fn config(dir: &Path, name: &str) -> String {
    let p = dir.join(format!("{name}.pid"));
    format!(
        "name = \"{name}\"\npidfile = \"{p}\"\nstart = \"sleep 600 & echo $! > {p}\"\n\
         severity = \"minor\"\nrestarts = 1000000\ninterval_ms = 1\nstartup_delay_ms = 0\n\
         debounce_ms = 600000\n",
        p = p.display()
    )
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

fn kill(pid: u32) {
    // SAFETY: kill(2) on a `sleep` this benchmark started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
}

fn read_pid(p: &Path) -> Option<u32> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Pidfd monitor: kill, wait for the status to show a new running pid.
async fn pidfd_latencies(dir: &Path) -> Vec<f64> {
    std::fs::write(dir.join("p.toml"), config(dir, "p")).unwrap();
    let (tx, _rx) = mpsc::unbounded_channel();
    let h = pmon::spawn(dir.to_path_buf(), tx);
    let running = |h: &pmon::PmonHandle| {
        h.status().into_iter().find_map(|s| match s.phase {
            Phase::Running { pid, .. } => Some(pid),
            _ => None,
        })
    };
    let mut pid = loop {
        if let Some(p) = running(&h) {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut out = Vec::new();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        kill(pid);
        let new = loop {
            if let Some(p) = running(&h).filter(|p| *p != pid) {
                break p;
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        out.push(t.elapsed().as_secs_f64() * 1e3);
        pid = new;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(pid);
    out
}

/// Polling monitor: every POLL look at /proc/<pid>; when it is gone run the start command and read
/// the pid file.
async fn polling_latencies(dir: &Path) -> Vec<f64> {
    let pidfile = dir.join("q.pid");
    let start = format!("sleep 600 & echo $! > {}", pidfile.display());
    let run_start = || async {
        pmon::run_shell(&start, Duration::from_secs(10)).await;
        read_pid(&pidfile).unwrap()
    };
    let mut pid = run_start().await;
    let mut out = Vec::new();
    // The poller keeps its own schedule; the kills fall anywhere in its period, as crashes do.
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    for i in 0..ROUNDS {
        tokio::time::sleep(Duration::from_millis(37 * (i as u64 % 5) + 11)).await;
        let t = Instant::now();
        kill(pid);
        loop {
            tick.tick().await;
            if !alive(pid) {
                break;
            }
        }
        pid = run_start().await;
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
    kill(pid);
    out
}

fn cpu_ms() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

async fn fifty(dir: &Path) -> (f64, u64, u64) {
    for i in 0..50 {
        std::fs::write(
            dir.join(format!("p{i}.toml")),
            config(dir, &format!("p{i}")),
        )
        .unwrap();
    }
    let rss_before = rss_kib();
    let (tx, _rx) = mpsc::unbounded_channel();
    let h = pmon::spawn(dir.to_path_buf(), tx);
    while h
        .status()
        .iter()
        .filter(|s| matches!(s.phase, Phase::Running { .. }))
        .count()
        < 50
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cpu0 = cpu_ms();
    tokio::time::sleep(IDLE).await;
    let cpu = cpu_ms() - cpu0;
    let rss = rss_kib();
    for s in h.status() {
        if let Phase::Running { pid, .. } = s.phase {
            kill(pid);
        }
    }
    drop(h);
    (cpu / IDLE.as_secs_f64() / 10.0, rss_before, rss)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let d3 = tempfile::tempdir().unwrap();
    let mut a = pidfd_latencies(d1.path()).await;
    let mut b = polling_latencies(d2.path()).await;
    println!("| monitor | restarts | p50 ms | p90 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (name, v) in [
        ("pidfd (steward_node::pmon)", &mut a),
        ("polling /proc every 100 ms", &mut b),
    ] {
        let n = v.len();
        println!(
            "| {name} | {n} | {:.1} | {:.1} | {:.1} |",
            percentile(v, 0.5),
            percentile(v, 0.9),
            percentile(v, 1.0)
        );
    }
    let (cpu_pct, rss0, rss1) = fifty(d3.path()).await;
    println!();
    println!(
        "50 processes watched for {} s: CPU {cpu_pct:.3} % of one core; RSS {rss0} KiB before the monitor, {rss1} KiB with it",
        IDLE.as_secs()
    );
}
