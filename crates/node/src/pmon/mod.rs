//! The process monitor's runtime (docs/node-supervision.md#processes): the policy of
//! `steward-process-policy` wired to pidfds, shell commands and the agent's channel to the
//! controllers.
//!
//! - One `*.toml` file per process in the configured directory; a file that does not parse is
//!   logged and skipped (the others are still monitored). SIGHUP (or [`PmonHandle::reload`])
//!   reads the directory again.
//! - Deaths are seen through a pidfd per process (no polling, no pid-reuse race).
//! - Escalations go to the controllers as [`MonitorEvent::Process`]; every process's state is sent
//!   again every [`REPORT_REFRESH`], so a lost datagram or a restarted controller heals.
//! - The loop publishes a beat every turn (at least every second); the heartbeat answers carry
//!   the process monitor flag while the beat is recent.

mod pidfd;
mod start;

pub use pidfd::Pidfd;
pub use start::run_shell;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_process_policy::{Effect, ProcessConfig, ProcessMonitor, ProcessStatus, Severity};
use steward_types::MonitorEvent;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often every process's state is reported again.
pub const REPORT_REFRESH: Duration = Duration::from_secs(30);
/// The loop turns at least this often, so its beat stays fresh.
const BEAT: Duration = Duration::from_secs(1);
/// A beat older than this: the process monitor is not running.
const BEAT_STALE: Duration = Duration::from_secs(5);

/// What the runtime's helper tasks tell the loop.
#[derive(Debug)]
enum Input {
    Running {
        process: String,
        pidfd: Arc<Pidfd>,
    },
    StartFailed {
        process: String,
        reason: String,
    },
    Died {
        process: String,
        pid: u32,
    },
    Health {
        process: String,
        ok: bool,
        detail: String,
    },
}

/// A running process monitor. Dropping it stops the monitor (the processes keep running).
pub struct PmonHandle {
    task: JoinHandle<()>,
    reload: mpsc::UnboundedSender<()>,
    beat: Arc<AtomicU64>,
    started: Instant,
    status: Arc<Mutex<Vec<ProcessStatus>>>,
    quorum_lost: watch::Receiver<Vec<String>>,
}

impl PmonHandle {
    /// Read the configuration directory again (what SIGHUP does).
    pub fn reload(&self) {
        let _ = self.reload.send(());
    }

    /// The monitor's loop turned recently: what the heartbeat answers' flag says.
    pub fn running(&self) -> bool {
        beat_fresh(&self.beat, self.started)
    }

    /// A function answering [`PmonHandle::running`], for the heartbeat responder.
    pub fn running_probe(&self) -> impl Fn() -> bool + Send + Sync + 'static {
        let beat = self.beat.clone();
        let started = self.started;
        move || beat_fresh(&beat, started)
    }

    /// Every monitored process's state.
    pub fn status(&self) -> Vec<ProcessStatus> {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The quorum processes escalated now (empty: quorum held), for the host watchdog.
    pub fn quorum(&self) -> watch::Receiver<Vec<String>> {
        self.quorum_lost.clone()
    }
}

impl Drop for PmonHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn beat_fresh(beat: &AtomicU64, started: Instant) -> bool {
    let now = started.elapsed().as_millis() as u64;
    now.saturating_sub(beat.load(Ordering::Relaxed)) <= BEAT_STALE.as_millis() as u64
}

/// Every process configuration in `dir` (`*.toml`, by file name), skipping files that do not
/// parse or that name a process twice, with the reason logged.
pub fn load_dir(dir: &Path) -> Vec<ProcessConfig> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "process monitor: cannot read the directory: {e}");
            return Vec::new();
        }
    };
    files.sort();
    let mut out: Vec<ProcessConfig> = Vec::new();
    for f in files {
        let parsed = std::fs::read_to_string(&f)
            .map_err(|e| e.to_string())
            .and_then(|t| ProcessConfig::parse(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(c) if out.iter().any(|o| o.name == c.name) => {
                tracing::warn!(file = %f.display(), process = %c.name, "process monitor: process configured twice, file skipped");
            }
            Ok(c) => out.push(c),
            Err(e) => {
                tracing::warn!(file = %f.display(), "process monitor: file skipped: {e}");
            }
        }
    }
    out
}

/// Start the process monitor on the configuration directory `dir`; escalations are sent on
/// `events`. Must run inside a tokio runtime.
pub fn spawn(dir: PathBuf, events: mpsc::UnboundedSender<MonitorEvent>) -> PmonHandle {
    let (reload_tx, reload_rx) = mpsc::unbounded_channel();
    let (quorum_tx, quorum_rx) = watch::channel(Vec::new());
    let beat = Arc::new(AtomicU64::new(0));
    let status = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let run = Loop {
        dir,
        policy: ProcessMonitor::new(),
        started,
        events,
        watched: BTreeMap::new(),
        quorum: quorum_tx,
        beat: beat.clone(),
        status: status.clone(),
    };
    let task = tokio::spawn(run.run(reload_rx));
    PmonHandle {
        task,
        reload: reload_tx,
        beat,
        started,
        status,
        quorum_lost: quorum_rx,
    }
}

struct Loop {
    dir: PathBuf,
    policy: ProcessMonitor,
    started: Instant,
    events: mpsc::UnboundedSender<MonitorEvent>,
    /// The watched instance of each process, and the task waiting for its end.
    watched: BTreeMap<String, (Arc<Pidfd>, JoinHandle<()>)>,
    quorum: watch::Sender<Vec<String>>,
    beat: Arc<AtomicU64>,
    status: Arc<Mutex<Vec<ProcessStatus>>>,
}

impl Loop {
    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn run(mut self, mut reload: mpsc::UnboundedReceiver<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Input>();
        let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("process monitor: no SIGHUP reload: {e}");
                None
            }
        };
        let fx = self.policy.configure(self.now(), load_dir(&self.dir));
        self.apply(fx, &tx);
        self.publish();
        let mut refresh_at = Instant::now() + REPORT_REFRESH;
        loop {
            let due = self
                .policy
                .next_deadline()
                .map(|ms| self.started + Duration::from_millis(ms));
            let wake = due
                .unwrap_or(Instant::now() + BEAT)
                .min(Instant::now() + BEAT)
                .min(refresh_at);
            let fx = tokio::select! {
                Some(input) = rx.recv() => self.input(input, &tx),
                Some(()) = reload.recv() => self.reload(),
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => self.reload(),
                _ = tokio::time::sleep_until(wake) => {
                    if Instant::now() >= refresh_at {
                        refresh_at = Instant::now() + REPORT_REFRESH;
                        self.refresh();
                    }
                    self.policy.tick(self.now())
                }
            };
            self.apply(fx, &tx);
            self.publish();
        }
    }

    /// The beat (the monitor flag of the heartbeat answers) and the processes' state.
    fn publish(&self) {
        self.beat.store(self.now(), Ordering::Relaxed);
        if let Ok(mut s) = self.status.lock() {
            *s = self.policy.status();
        }
    }

    fn reload(&mut self) -> Vec<Effect> {
        tracing::info!(dir = %self.dir.display(), "process monitor: reloading the configuration");
        let configs = load_dir(&self.dir);
        self.policy.configure(self.now(), configs)
    }

    /// Report every process's state again (escalated or clear).
    fn refresh(&self) {
        for s in self.policy.status() {
            let _ = self.events.send(MonitorEvent::Process {
                process: s.name,
                severity: wire_severity(s.escalated),
            });
        }
    }

    fn input(&mut self, input: Input, tx: &mpsc::UnboundedSender<Input>) -> Vec<Effect> {
        let now = self.now();
        match input {
            Input::Running { process, pidfd } => {
                let pid = pidfd.pid();
                let waiter = {
                    let pidfd = pidfd.clone();
                    let tx = tx.clone();
                    let process = process.clone();
                    tokio::spawn(async move {
                        if let Err(e) = pidfd.exited().await {
                            tracing::warn!(%process, pid, "cannot wait on the pidfd: {e}");
                        }
                        let _ = tx.send(Input::Died { process, pid });
                    })
                };
                if let Some((_, old)) = self.watched.insert(process.clone(), (pidfd, waiter)) {
                    old.abort();
                }
                self.policy.running(now, &process, pid)
            }
            Input::StartFailed { process, reason } => {
                self.policy.start_failed(now, &process, &reason)
            }
            Input::Died { process, pid } => {
                if matches!(self.watched.get(&process), Some((p, _)) if p.pid() == pid) {
                    self.watched.remove(&process);
                }
                self.policy.died(now, &process, pid, "ended")
            }
            Input::Health {
                process,
                ok,
                detail,
            } => self.policy.health(now, &process, ok, &detail),
        }
    }

    fn apply(&mut self, fx: Vec<Effect>, tx: &mpsc::UnboundedSender<Input>) {
        for e in fx {
            match e {
                Effect::Start { process } => {
                    if let Some(cfg) = self.policy.config(&process).cloned() {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let input = match start::ensure_running(&cfg).await {
                                Ok(pidfd) => Input::Running {
                                    process,
                                    pidfd: Arc::new(pidfd),
                                },
                                Err(reason) => Input::StartFailed { process, reason },
                            };
                            let _ = tx.send(input);
                        });
                    }
                }
                Effect::Kill { process, pid, .. } => {
                    let cfg = self.policy.config(&process).cloned();
                    let pidfd = self
                        .watched
                        .get(&process)
                        .filter(|(p, _)| p.pid() == pid)
                        .map(|(p, _)| p.clone());
                    if let (Some(cfg), Some(pidfd)) = (cfg, pidfd) {
                        tokio::spawn(async move { start::stop(&cfg, &pidfd).await });
                    }
                }
                Effect::RunHealth { process } => {
                    if let Some(cfg) = self.policy.config(&process).cloned() {
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let (ok, detail) = match &cfg.health {
                                Some(cmd) => {
                                    start::run_shell(
                                        cmd,
                                        Duration::from_millis(cfg.health_timeout_ms),
                                    )
                                    .await
                                }
                                None => (true, String::new()),
                            };
                            let _ = tx.send(Input::Health {
                                process,
                                ok,
                                detail,
                            });
                        });
                    }
                }
                Effect::Report { process, severity } => {
                    tracing::warn!(%process, ?severity, "process monitor: reporting to the controller");
                    let _ = self.events.send(MonitorEvent::Process {
                        process,
                        severity: wire_severity(severity),
                    });
                }
                Effect::Quorum { process, lost } => {
                    tracing::warn!(%process, lost, "process monitor: quorum process");
                    let lost_now: Vec<String> = self
                        .policy
                        .status()
                        .into_iter()
                        .filter(|s| {
                            s.escalated.is_some()
                                && self.policy.config(&s.name).is_some_and(|c| c.quorum)
                        })
                        .map(|s| s.name)
                        .collect();
                    self.quorum.send_replace(lost_now);
                }
                Effect::Forget { process } => {
                    if let Some((_, waiter)) = self.watched.remove(&process) {
                        waiter.abort();
                    }
                }
                Effect::Log { warn, line } => {
                    if warn {
                        tracing::warn!("process monitor: {line}");
                    } else {
                        tracing::info!("process monitor: {line}");
                    }
                }
            }
        }
    }
}

fn wire_severity(s: Option<Severity>) -> steward_types::Severity {
    match s {
        None => steward_types::Severity::Clear,
        Some(Severity::Minor) => steward_types::Severity::Minor,
        Some(Severity::Major) => steward_types::Severity::Major,
        Some(Severity::Critical) => steward_types::Severity::Critical,
    }
}
