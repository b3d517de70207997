//! `steward lab`: the embedded default — a controller plus N simulated hosts (each with the real node
//! agent over UDP and a Redfish BMC on loopback; in this process or `--processes`), and
//! `steward lab fail|crash|heal|status` fault injection through each host's control socket.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use steward_controller::ControllerHandle;
use steward_maintenance::config::Config;
use steward_maintenance::host::{
    BmcProtocol, BmcSpec, HostRecord, HostSpec, InstallMethod, InstallSpec,
};
use steward_maintenance::state::{Network, Personality, SystemType};
use steward_simhost::lab::{self, LabHost};
use steward_simhost::{control_blocking, SimHost};
use steward_wiring::{ApiOptions, ControllerBuilder, Storage};

/// The password every simulated BMC accepts (stored encrypted like a real one).
const LAB_BMC_PASSWORD: &str = "lab-bmc-password";

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LabArgs {
    #[command(subcommand)]
    fault: Option<LabCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Args)]
struct RunArgs {
    /// Number of simulated hosts: controller-0 (the controller's own host), controller-1, then
    /// worker-0…, and the last --storage of them storage-0….
    #[arg(long, default_value_t = 4)]
    hosts: usize,
    /// How many of the hosts are storage hosts.
    #[arg(long, default_value_t = 0)]
    storage: usize,
    /// Start from an empty data dir with new installs (locked) instead of a running cluster.
    #[arg(long)]
    fresh: bool,
    /// Scale every timer down 20× so that an unlock takes seconds.
    #[arg(long)]
    fast: bool,
    /// Where the store and each host's files (`<data-dir>/<hostname>/`) live
    /// [default: $XDG_RUNTIME_DIR/steward-lab or /tmp/steward-lab-$UID].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Write the API URL to this file once it serves.
    #[arg(long)]
    url_file: Option<PathBuf>,
    /// The REST API's address.
    #[arg(long, default_value = "127.0.0.1:6385")]
    listen: SocketAddr,
    /// Run each simulated host as its own `steward simhost` process (default: all in this one).
    #[arg(long)]
    processes: bool,
    /// Controller runtimes: 1 (on the embedded store) or 2, a controller pair on a local etcd (the
    /// `etcd` binary) behind a floating API address (--listen) that follows the active one
    /// (docs/controller-pair.md#the-lab).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    controllers: u8,
    /// The system: `aio-simplex` (one all-in-one controller: --hosts 1) or `aio-duplex` (two, and any
    /// further hosts as workers) give the controllers the worker subfunction.
    #[arg(long, value_enum, default_value = "standard")]
    system: crate::controller_cli::SystemKind,
    /// Serve the install images in this directory over HTTP under /images/<file>, for BMC
    /// virtual media (docs/bmc.md#image-server) [default: <data-dir>/images]. The lab's
    /// placeholder image steward-lab-install.iso is written there if missing: every lab host
    /// reinstalls from it by virtual media unless its install_image or install_method says otherwise.
    #[arg(long, value_name = "DIR")]
    image_dir: Option<PathBuf>,
    /// The image server's listen address (no token: BMCs cannot send one).
    #[arg(long, value_name = "ADDR:PORT", default_value = steward_wiring::image_server::DEFAULT_IMAGE_BIND)]
    image_bind: SocketAddr,
}

#[derive(Subcommand)]
enum LabCommand {
    /// The host hangs: it stops answering (agent and heartbeat), power stays on.
    Fail(FaultArgs),
    /// The host loses power until its BMC powers it on (or `heal`).
    Crash(FaultArgs),
    /// Undo `fail` and `crash` (a host without power is powered on and boots).
    Heal(FaultArgs),
    /// Every port of the host's NETWORK (mgmt, cluster) goes down: the link alarm raises at once.
    LinkDown(MonitorFaultArgs),
    /// The host's NETWORK ports come back up: the link alarm clears.
    LinkUp(MonitorFaultArgs),
    /// The host's monitored filesystem at MOUNT (/ or /var/log) turns read-only.
    FsReadonly(MonitorFaultArgs),
    /// The host's monitored filesystem at MOUNT runs out of space.
    FsFull(MonitorFaultArgs),
    /// The host's filesystem at MOUNT is healthy again.
    FsOk(MonitorFaultArgs),
    /// SIGKILL one of the host's monitored lab processes (`lab-critical`: restarts 2, then the
    /// host fails and recovers; `lab-minor`: restarts 1, then 200.006 minor), TIMES times, waiting
    /// for the process monitor's restart between kills.
    KillProcess(KillProcessArgs),
    /// Set a sensor of the host's simulated BMC: `lab sensor worker-0 "CPU1 Temp" 97` (past its
    /// critical threshold: alarm and degrade after two reads), `absent` (the sensor disappears) or
    /// `normal` (back to its nominal reading). With `--push` the BMC also pushes an event about it
    /// (Redfish EventService): the controller reads the host at once, so the alarm raises or clears
    /// within a second or two instead of after two audit intervals.
    Sensor(SensorArgs),
    /// Power and agent state of every simulated host, as its BMC sees it.
    Status {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct MonitorFaultArgs {
    /// The host name, e.g. worker-0.
    host: String,
    /// The network (mgmt, cluster) or the mount point (/, /var/log).
    what: String,
    /// The lab's data dir (as given to `steward lab`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl MonitorFaultArgs {
    fn fault(self, verb: &str) -> FaultArgs {
        FaultArgs {
            host: self.host,
            data_dir: self.data_dir,
            detail: Some(self.what),
            verb: Some(verb.to_string()),
        }
    }
}

#[derive(Args)]
struct FaultArgs {
    /// The host name, e.g. worker-0.
    host: String,
    /// The lab's data dir (as given to `steward lab`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// What a monitor fault applies to (network or mount point); set by the monitor commands.
    #[arg(skip)]
    detail: Option<String>,
    #[arg(skip)]
    verb: Option<String>,
}

#[derive(Args)]
struct KillProcessArgs {
    /// The host name, e.g. worker-0.
    host: String,
    /// The process: lab-critical or lab-minor.
    process: String,
    /// How many times in a row (each after the monitor restarted it).
    #[arg(long, default_value_t = 1)]
    times: u32,
    /// The lab's data dir (as given to `steward lab`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Args)]
struct SensorArgs {
    /// The host name, e.g. worker-0.
    host: String,
    /// The sensor's name as `steward sensor list HOST` shows it, e.g. "CPU1 Temp".
    sensor: String,
    /// A reading (in the sensor's unit), `absent` or `normal`.
    value: String,
    /// Then make the BMC push an event about the sensor with its new health.
    #[arg(long)]
    push: bool,
    /// The lab's data dir (as given to `steward lab`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: LabArgs) -> Result<()> {
    match args.fault {
        Some(LabCommand::Sensor(s)) => {
            let target = || FaultArgs {
                host: s.host.clone(),
                data_dir: s.data_dir.clone(),
                detail: None,
                verb: None,
            };
            fault(
                target(),
                &format!("sensor {} {}", s.sensor.trim(), s.value.trim()),
            )?;
            if s.push {
                fault(target(), &format!("sensor-event {}", s.sensor.trim()))?;
            }
            Ok(())
        }
        Some(LabCommand::KillProcess(k)) => kill_process(k),
        Some(LabCommand::Fail(f)) => fault(f, "hang"),
        Some(LabCommand::Crash(f)) => {
            let data_dir = f.data_dir.clone().unwrap_or_else(default_data_dir);
            let host = f.host.clone();
            fault(f, "crash")?;
            if crate::lab_pair::PAIR.contains(&host.as_str())
                && data_dir.join(crate::lab_pair::ROLES_FILE).exists()
            {
                println!(
                    "{host}: its controller runtime dies with it (no resign); the lab prints the takeover"
                );
            }
            Ok(())
        }
        Some(LabCommand::Heal(f)) => fault(f, "heal"),
        Some(LabCommand::LinkDown(f)) => monitor_fault(f.fault("link-down")),
        Some(LabCommand::LinkUp(f)) => monitor_fault(f.fault("link-up")),
        Some(LabCommand::FsReadonly(f)) => monitor_fault(f.fault("fs-readonly")),
        Some(LabCommand::FsFull(f)) => monitor_fault(f.fault("fs-full")),
        Some(LabCommand::FsOk(f)) => monitor_fault(f.fault("fs-ok")),
        Some(LabCommand::Status { data_dir }) => status(&data_dir.unwrap_or_else(default_data_dir)),
        None => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            rt.block_on(lab(args.run))
        }
    }
}

pub(crate) fn default_data_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("steward-lab"),
        // SAFETY: getuid has no preconditions and cannot fail.
        _ => PathBuf::from(format!("/tmp/steward-lab-{}", unsafe { libc::getuid() })),
    }
}

/// A link or filesystem fault: the control command is `<verb> <network|mount>`.
fn monitor_fault(f: FaultArgs) -> Result<()> {
    let command = format!(
        "{} {}",
        f.verb.clone().unwrap_or_default(),
        f.detail.clone().unwrap_or_default()
    );
    fault(f, &command)
}

fn fault(f: FaultArgs, command: &str) -> Result<()> {
    let dir = f.data_dir.unwrap_or_else(default_data_dir).join(&f.host);
    let reply = control_blocking(&dir, command).with_context(|| {
        format!(
            "cannot reach the simulated BMC of '{}' at {} (is `steward lab` running with this --data-dir?)",
            f.host,
            steward_simhost::socket_path(&dir).display()
        )
    })?;
    if let Some(e) = reply.strip_prefix("error ") {
        bail!("{}: {e}", f.host);
    }
    println!("{}: {}", f.host, reply.trim_start_matches("ok "));
    Ok(())
}

/// How long `kill-process` waits for the process monitor to restart a killed process.
const RESTART_WAIT: Duration = Duration::from_secs(60);

/// Kill a lab process from its pid file, `times` times, each after the monitor restarted it.
fn kill_process(k: KillProcessArgs) -> Result<()> {
    let data_dir = k.data_dir.unwrap_or_else(default_data_dir);
    let dir = data_dir.join(&k.host);
    if !steward_simhost::socket_path(&dir).exists() {
        bail!(
            "no lab host '{}' in {} (is `steward lab` running with this --data-dir? \
             `steward lab status` lists its hosts)",
            k.host,
            data_dir.display()
        );
    }
    let Some(&(_, severity, restarts)) = lab::LAB_PROCESSES.iter().find(|p| p.0 == k.process)
    else {
        let names: Vec<&str> = lab::LAB_PROCESSES.iter().map(|p| p.0).collect();
        bail!(
            "'{}' is not a lab process (the lab's are: {})",
            k.process,
            names.join(", ")
        );
    };
    if k.times == 0 {
        bail!("--times must be at least 1");
    }
    let mut pid = lab::lab_process_pid(&dir, &k.process).with_context(|| {
        format!(
            "{} is not running on {} (is the host up? its pid file is {})",
            k.process,
            k.host,
            lab::lab_pidfile(&dir, &k.process).display()
        )
    })?;
    for n in 1..=k.times {
        // SAFETY: kill(2) takes no memory; `pid` was just read as a live `sleep`.
        if unsafe { libc::kill(pid, libc::SIGKILL) } != 0 {
            bail!(
                "cannot kill {} (pid {pid}): {}",
                k.process,
                std::io::Error::last_os_error()
            );
        }
        println!(
            "{}: killed {} (pid {pid}) [{n}/{}]",
            k.host, k.process, k.times
        );
        if n == k.times {
            break;
        }
        pid = wait_restart(&dir, &k.process, pid)
            .with_context(|| format!("{}: {} was not restarted", k.host, k.process))?;
        println!("{}: {} restarted (pid {pid})", k.host, k.process);
    }
    println!(
        "{}: {} is {severity} with {restarts} restart(s) allowed: {}",
        k.host,
        k.process,
        if k.times > restarts {
            "past them it escalates (`steward alarm list`, `steward watch`)"
        } else {
            "within them the monitor only restarts it"
        }
    );
    Ok(())
}

/// Wait until the host's process monitor runs `process` again under a pid other than `old` (its
/// status socket says so), so that the next kill is a death the monitor saw, not a failed start.
fn wait_restart(dir: &Path, process: &str, old: i32) -> Result<i32> {
    let start = std::time::Instant::now();
    let socket = dir.join("node-status.sock");
    loop {
        if let Some(pid) = monitored_pid(&socket, process).filter(|p| *p != old) {
            if lab::lab_process_pid(dir, process) == Some(pid) {
                return Ok(pid);
            }
        }
        if start.elapsed() > RESTART_WAIT {
            bail!(
                "its monitor did not report it running again within {} s (is the host's agent up? \
                 `steward node status --socket {}`)",
                RESTART_WAIT.as_secs(),
                socket.display()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid of `process` if the agent's status socket shows it running.
fn monitored_pid(socket: &Path, process: &str) -> Option<i32> {
    let doc: serde_json::Value =
        serde_json::from_str(&steward_node::status::query(socket).ok()?).ok()?;
    let p = doc
        .get("processes")?
        .as_array()?
        .iter()
        .find(|p| p.get("name").and_then(|n| n.as_str()) == Some(process))?;
    if p.get("phase").and_then(|v| v.as_str()) != Some("running") {
        return None;
    }
    i32::try_from(p.get("pid")?.as_u64()?).ok()
}

fn status(data_dir: &Path) -> Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(data_dir)
        .with_context(|| format!("cannot read the lab data dir {}", data_dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| steward_simhost::socket_path(&e.path()).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort_by_key(|n| host_order(n));
    if names.is_empty() {
        bail!("no simulated hosts under {}", data_dir.display());
    }
    for n in names {
        match control_blocking(&data_dir.join(&n), "status") {
            Ok(r) => println!("{n:<14} {}", r.trim_start_matches("ok ")),
            Err(e) => println!("{n:<14} unreachable: {e}"),
        }
    }
    // A lab with a controller pair keeps its roles here while it runs.
    if let Ok(roles) = std::fs::read_to_string(data_dir.join(crate::lab_pair::ROLES_FILE)) {
        println!("controller runtimes:");
        print!("{roles}");
    }
    Ok(())
}

/// controller-*, worker-*, storage-*, each by number.
fn host_order(name: &str) -> (u8, u64, String) {
    let (kind, num) = name.rsplit_once('-').unwrap_or((name, ""));
    let rank = match kind {
        "controller" => 0,
        "worker" => 1,
        "storage" => 2,
        _ => 3,
    };
    (rank, num.parse().unwrap_or(u64::MAX), name.to_string())
}

/// The lab's host names and personalities.
fn plan(hosts: usize, storage: usize) -> Result<Vec<(String, Personality)>> {
    if hosts == 0 {
        bail!("--hosts must be at least 1");
    }
    let controllers = hosts.min(2);
    if storage > hosts - controllers {
        bail!(
            "--storage {storage} leaves no room for the {controllers} controller(s) among --hosts {hosts}"
        );
    }
    let workers = hosts - controllers - storage;
    let mut v = Vec::with_capacity(hosts);
    v.extend((0..controllers).map(|i| (format!("controller-{i}"), Personality::Controller)));
    v.extend((0..workers).map(|i| (format!("worker-{i}"), Personality::Worker)));
    v.extend((0..storage).map(|i| (format!("storage-{i}"), Personality::Storage)));
    Ok(v)
}

fn spec(i: usize, name: &str, personality: Personality, bmc: Option<BmcSpec>) -> HostSpec {
    HostSpec {
        name: name.to_string(),
        uuid: format!("5eed1ab0-0000-4000-8000-{:012}", i + 1),
        personality,
        mgmt_ip: Some(lab::host_address(Some(Network::Mgmt), i).to_string()),
        mgmt_mac: None,
        pxeboot_ip: None,
        cluster_ip: Some(lab::host_address(Some(Network::Cluster), i).to_string()),
        bmc,
        install: Default::default(),
    }
}

/// One lab host's machine: its files, addresses, keys and BMC.
fn lab_host(
    i: usize,
    name: &str,
    data_dir: &Path,
    secret: &steward_protocol::ClusterSecret,
    scale: u32,
    alive_period: Duration,
) -> Result<LabHost> {
    let dir = data_dir.join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let keys_path = dir.join("node.keys");
    steward_node::keyfile::provision(&keys_path, secret, name)
        .with_context(|| format!("cannot write {}", keys_path.display()))?;
    // Its process monitor's two `sleep` processes (`steward lab kill-process`).
    let pmon_dir = lab::write_lab_processes(&dir, scale)
        .with_context(|| format!("cannot write the process files of {name}"))?;
    Ok(LabHost {
        name: name.to_string(),
        dir,
        keys: secret.node_keys(name),
        mgmt_ip: lab::host_address(Some(Network::Mgmt), i).into(),
        cluster_ip: Some(lab::host_address(Some(Network::Cluster), i).into()),
        node_port: steward_protocol::DEFAULT_NODE_PORT,
        heartbeat_port: Some(steward_protocol::DEFAULT_HEARTBEAT_NODE_PORT),
        controller: "controller-0".into(),
        controller_mgmt: SocketAddr::new(
            lab::controller_address(Network::Mgmt).into(),
            steward_protocol::DEFAULT_CONTROLLER_PORT,
        ),
        controller_cluster: Some(SocketAddr::new(
            lab::controller_address(Network::Cluster).into(),
            steward_protocol::DEFAULT_CONTROLLER_PORT,
        )),
        bmc_bind: Some(SocketAddr::new(
            lab::host_address(None, i).into(),
            lab::LAB_BMC_PORT,
        )),
        bmc_password: LAB_BMC_PASSWORD.into(),
        scale,
        alive_period,
        monitors: lab::lab_monitors(scale),
        pmon_dir: Some(pmon_dir),
    })
}

/// The simulated machines: in this process, or one `steward simhost` child each.
enum Machines {
    InProcess(Vec<SimHost>),
    Processes(Vec<tokio::process::Child>),
}

impl Machines {
    async fn stop(self) {
        match self {
            Machines::InProcess(hosts) => {
                for h in hosts {
                    h.shutdown().await;
                }
            }
            Machines::Processes(children) => {
                for mut c in children {
                    if let Some(pid) = c.id() {
                        // SAFETY: kill(2) with a pid we own; no memory is involved.
                        unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                    }
                    let _ = tokio::time::timeout(Duration::from_secs(5), c.wait()).await;
                    let _ = c.kill().await;
                }
            }
        }
    }
}

/// `also`: the other controller of a pair (name, management and cluster address), which every
/// agent knows too (in-process hosts only).
async fn start_machines(
    hosts: &[LabHost],
    processes: bool,
    data_dir: &Path,
    also: &[(String, SocketAddr, SocketAddr)],
) -> Result<Machines> {
    if !processes {
        let mut v = Vec::with_capacity(hosts.len());
        for h in hosts {
            let mut config = h.config();
            if let Some(agent) = config.agent.as_mut() {
                for net in &mut agent.networks {
                    for (name, mgmt, cluster) in also {
                        net.controllers.push(steward_node::ControllerPeer {
                            name: name.clone(),
                            addr: if net.network == Network::Cluster {
                                *cluster
                            } else {
                                *mgmt
                            },
                        });
                    }
                }
            }
            v.push(
                SimHost::start(config, true)
                    .await
                    .with_context(|| format!("cannot start simulated host {}", h.name))?,
            );
        }
        return Ok(Machines::InProcess(v));
    }
    let exe = std::env::current_exe().context("cannot find the steward executable")?;
    let pw_file = data_dir.join("bmc-password");
    steward_node::keyfile::write_private(&pw_file, LAB_BMC_PASSWORD.as_bytes())
        .with_context(|| format!("cannot write {}", pw_file.display()))?;
    let mut children = Vec::with_capacity(hosts.len());
    for h in hosts {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.arg("simhost")
            .arg("--name")
            .arg(&h.name)
            .arg("--dir")
            .arg(&h.dir)
            .arg("--mgmt-ip")
            .arg(h.mgmt_ip.to_string())
            .arg("--node-port")
            .arg(h.node_port.to_string())
            .arg("--heartbeat-port")
            .arg(h.heartbeat_port.unwrap_or(0).to_string())
            .arg("--controller")
            .arg(format!("{}={}", h.controller, h.controller_mgmt))
            .arg("--time-scale")
            .arg(h.scale.to_string())
            .arg("--alive-period-ms")
            .arg(h.alive_period.as_millis().to_string())
            .arg("--lab-monitors")
            .arg("--bmc-password-file")
            .arg(&pw_file)
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true);
        if std::env::var_os("STEWARD_LOG").is_none() {
            // The lab's terminal shows host state lines; the hosts' logs only when something is wrong.
            cmd.env("STEWARD_LOG", "warn");
        }
        if let (Some(ip), Some(c)) = (h.cluster_ip, h.controller_cluster) {
            cmd.arg("--cluster-ip")
                .arg(ip.to_string())
                .arg("--controller-cluster")
                .arg(c.to_string());
        }
        if let Some(b) = h.bmc_bind {
            cmd.arg("--bmc-listen").arg(b.to_string());
        }
        if let Some(d) = &h.pmon_dir {
            cmd.arg("--pmon-dir").arg(d);
        }
        children.push(
            cmd.spawn()
                .with_context(|| format!("cannot start `steward simhost` for {}", h.name))?,
        );
    }
    Ok(Machines::Processes(children))
}

/// The lab's controller: one runtime on the embedded store, or a pair on a local etcd.
enum LabControllers {
    One(Box<steward_wiring::Running>),
    Pair(std::sync::Arc<crate::lab_pair::PairLab>),
}

async fn lab(args: RunArgs) -> Result<()> {
    crate::init_logging_with("warn");
    let system: SystemType = args.system.into();
    match system {
        SystemType::AioSimplex if args.hosts != 1 => {
            bail!("--system aio-simplex has one host: use --hosts 1")
        }
        SystemType::AioDuplex if args.hosts < 2 => {
            bail!("--system aio-duplex needs two controllers: use --hosts 2 or more")
        }
        _ => {}
    }
    let paired = args.controllers == 2;
    if paired {
        if args.hosts < 2 {
            bail!("--controllers 2 runs each controller on its host: use --hosts 2 or more");
        }
        if args.processes {
            bail!("--controllers 2 runs the hosts in this process: leave out --processes");
        }
        if args.image_dir.is_some() {
            bail!("--controllers 2 has no image server yet: leave out --image-dir");
        }
    }
    let plan = plan(args.hosts, args.storage)?;
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    if args.fresh && data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("cannot wipe {}", data_dir.display()))?;
    }
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let scale = if args.fast { 20 } else { 1 };
    let config = Config::default().scaled(scale);
    let alive_period = config.timeouts.alive_period.0;

    // Bind the API's port first: a second lab fails here, before touching anything.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (use --listen)", args.listen))?;
    let mut floating = None;
    let controllers = if paired {
        floating = Some(listener);
        let pair = crate::lab_pair::PairLab::prepare(
            &data_dir,
            config.clone(),
            scale,
            system,
            args.listen.ip().is_loopback(),
        )
        .await?;
        LabControllers::Pair(std::sync::Arc::new(pair))
    } else {
        let mut builder = ControllerBuilder::new(
            "controller-0",
            config,
            Storage::DataDir(data_dir.clone()),
            SocketAddr::new(
                lab::controller_address(Network::Mgmt).into(),
                steward_protocol::DEFAULT_CONTROLLER_PORT,
            ),
        )
        .lab(scale);
        builder.system_type = system;
        builder.cluster_bind = Some(SocketAddr::new(
            lab::controller_address(Network::Cluster).into(),
            steward_protocol::DEFAULT_CONTROLLER_PORT,
        ));
        builder.api = Some(ApiOptions {
            listener,
            auth: None,
        });
        let image_dir = args
            .image_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("images"));
        lab::write_lab_image(&image_dir).with_context(|| {
            format!(
                "cannot write the lab's install image in {}",
                image_dir.display()
            )
        })?;
        builder.images = Some(steward_wiring::ImageServerOptions {
            dir: image_dir,
            bind: args.image_bind,
        });
        LabControllers::One(Box::new(builder.start().await?))
    };
    // Where hosts are added from: the controller, or (pair) a controller over the store that
    // runs only until the hosts are in it.
    let (handle, seeder, secret) = match &controllers {
        LabControllers::One(running) => (running.handle.clone(), None, running.secret.clone()),
        LabControllers::Pair(pair) => {
            let (handle, task) = pair.seeder()?;
            (handle, Some(task), pair.secret.clone())
        }
    };

    let mut lab_hosts = Vec::with_capacity(plan.len());
    for (i, (name, _)) in plan.iter().enumerate() {
        lab_hosts.push(lab_host(i, name, &data_dir, &secret, scale, alive_period)?);
    }

    for (i, ((name, personality), lh)) in plan.iter().zip(&lab_hosts).enumerate() {
        if handle.host(name).await?.is_some() {
            continue; // the store remembers it from an earlier run
        }
        let bmc = lh.bmc_address().map(|address| BmcSpec {
            protocol: BmcProtocol::Redfish,
            address,
            username: lab::LAB_BMC_USERNAME.into(),
        });
        let spec = spec(i, name, *personality, None);
        let rec = if args.fresh {
            HostRecord::new_install(spec, system)
        } else {
            HostRecord::in_service(spec, system)
        };
        handle
            .add_host(rec)
            .await
            .with_context(|| format!("cannot add {name}"))?;
        if let Some(bmc) = bmc {
            handle
                .set_bmc_credentials(name, bmc, LAB_BMC_PASSWORD.into())
                .await
                .with_context(|| format!("cannot provision the BMC of {name}"))?;
        }
    }
    let stored = handle.hosts().await?;
    if let Some(task) = seeder {
        let _ = handle.shutdown().await;
        let _ = task.await;
    }

    // The lab's install image (virtual media) for hosts without install settings; the pair lab runs
    // no image server, so its hosts keep their install settings.
    if let LabControllers::One(running) = &controllers {
        if let Some(images) = &running.images {
            lab_install_image(&running.handle, &plan, &images.url_of(lab::LAB_IMAGE)).await?;
        }
    }

    // The machines start once the controller knows them: an agent's first messages (alive report,
    // inventory) from a host the controller has not been told about are dropped as unknown. Their
    // agents know both controllers of a pair.
    let also: Vec<(String, SocketAddr, SocketAddr)> = if paired {
        vec![(
            crate::lab_pair::PAIR[1].to_string(),
            crate::lab_pair::controller_socket(Network::Mgmt, 1),
            crate::lab_pair::controller_socket(Network::Cluster, 1),
        )]
    } else {
        Vec::new()
    };
    let machines = start_machines(&lab_hosts, args.processes, &data_dir, &also).await?;

    for rec in stored {
        if !plan.iter().any(|(n, _)| n == rec.name()) {
            println!(
                "note: {} is in the store from an earlier run but has no simulated host now \
                 (start with --fresh, or with as many --hosts as before)",
                rec.name()
            );
        }
    }

    let mut pair_tasks = Vec::new();
    let (url, token) = match &controllers {
        LabControllers::One(running) => running
            .api
            .as_ref()
            .map(|a| (a.url.clone(), a.token.clone()))
            .context("the API did not start")?,
        LabControllers::Pair(pair) => {
            let floating = floating
                .take()
                .context("the floating API has no listener")?;
            let url = format!(
                "http://{}",
                floating
                    .local_addr()
                    .context("the floating API listener has no address")?
            );
            pair_tasks = pair
                .run([
                    data_dir.join(crate::lab_pair::PAIR[0]),
                    data_dir.join(crate::lab_pair::PAIR[1]),
                ])
                .await?;
            // The floating address answers once a controller is active.
            pair_tasks.push(pair.serve_floating(floating).await);
            (url, pair.token())
        }
    };

    if let Some(f) = &args.url_file {
        std::fs::write(f, format!("{url}\n"))
            .with_context(|| format!("cannot write the URL to {}", f.display()))?;
    }
    // `steward collect` gathers the node part of this API's hosts from their machines' files.
    let marker = data_dir.join(lab::LAB_API_URL_FILE);
    std::fs::write(&marker, format!("{url}\n"))
        .with_context(|| format!("cannot write {}", marker.display()))?;
    let names: Vec<&str> = plan.iter().map(|(n, _)| n.as_str()).collect();
    println!(
        "steward lab: {} simulated hosts ({}), {}, timers {}, {}",
        plan.len(),
        names.join(" "),
        if args.fresh {
            "new installs (locked)"
        } else {
            "running cluster"
        },
        if args.fast {
            "scaled 1/20"
        } else {
            "at reference values"
        },
        if args.processes {
            "one `steward simhost` process per host"
        } else {
            "hosts in this process"
        }
    );
    println!(
        "dashboard: {url}{}  (open it in a browser)",
        steward_api::DASHBOARD_PATH
    );
    if let LabControllers::Pair(pair) = &controllers {
        println!(
            "API: {url}  (floating: answers through the active controller; etcd at {}, log {})",
            pair.etcd_url,
            data_dir.join("etcd.log").display()
        );
    } else {
        println!("API: {url}");
    }
    println!(
        "token: {}  (in {}; loopback clients need none)",
        token,
        data_dir.join(steward_api::TOKEN_FILE).display()
    );
    if let LabControllers::One(running) = &controllers {
        if let Some(images) = &running.images {
            println!(
                "images: {}<file>  (from {}; the install_image URL for virtual media)",
                images.url,
                images.dir.display()
            );
        }
    }
    println!("data dir: {}", data_dir.display());
    let dd = if args.data_dir.is_some() {
        format!(" --data-dir {}", data_dir.display())
    } else {
        String::new()
    };
    let example = names.get(2).or(names.last()).copied().unwrap_or("worker-0");
    println!("try (in another terminal):");
    println!("  steward host list");
    println!(
        "  steward watch                      # host changes, alarms and events as they happen"
    );
    println!("  steward host lock {example} --wait");
    println!("  steward host reinstall {example} --wait   # by virtual media, stage by stage");
    println!("  steward lab status{dd}");
    println!("  steward lab crash {example}{dd}    # power loss: watch the controller recover it");
    println!("  steward lab fail {example}{dd}     # hang: stops answering, power stays on");
    println!("  steward lab heal {example}{dd}");
    println!("  steward lab kill-process {example} lab-minor --times 2{dd}   # 200.006 minor");
    if paired {
        println!("  steward host swact controller-0     # hand the active role to controller-1");
        println!(
            "  steward lab crash controller-0{dd}  # the active's host dies: controller-1 takes over"
        );
    }
    println!("Ctrl-C stops the lab; host state changes follow.");

    let watcher = match &controllers {
        LabControllers::One(running) => tokio::spawn(watch_hosts(running.handle.clone())),
        LabControllers::Pair(_) => tokio::spawn(watch_hosts_api(url.clone(), token.clone())),
    };
    crate::controller_cli::wait_for_stop().await?;
    println!("\nstopping the lab");
    watcher.abort();
    for t in pair_tasks {
        t.abort();
    }
    match controllers {
        LabControllers::One(running) => running.shutdown().await,
        LabControllers::Pair(pair) => pair.shutdown().await,
    }
    machines.stop().await;
    // The monitored `sleep`s outlive their agents.
    for h in &lab_hosts {
        lab::stop_lab_processes(&h.dir);
    }
    if let Some(f) = &args.url_file {
        let _ = std::fs::remove_file(f);
    }
    let _ = std::fs::remove_file(&marker);
    Ok(())
}

/// Every lab host reinstalls by virtual media from the lab's image (`image`, on the image server):
/// hosts with no install settings get it with install_method virtual-media; hosts that already
/// use the lab's image follow it to this run's address. Other settings (an operator's own image,
/// install_method pxe or agent alone) are left as they are.
async fn lab_install_image(
    handle: &ControllerHandle,
    plan: &[(String, Personality)],
    image: &str,
) -> Result<()> {
    for (name, _) in plan {
        let Some(rec) = handle.host(name).await? else {
            continue;
        };
        let current = &rec.spec.install;
        let ours = current
            .image
            .as_deref()
            .is_some_and(|i| i.ends_with(&format!("/{}", lab::LAB_IMAGE)));
        let wanted = if current.image.is_none() && current.method.is_none() {
            InstallSpec {
                image: Some(image.to_string()),
                method: Some(InstallMethod::VirtualMedia),
            }
        } else if ours {
            InstallSpec {
                image: Some(image.to_string()),
                method: current.method,
            }
        } else {
            continue;
        };
        if &wanted != current {
            handle
                .set_install(name, wanted)
                .await
                .with_context(|| format!("cannot set the install image of {name}"))?;
        }
    }
    Ok(())
}

/// Prints a line whenever a host's states or task change.
async fn watch_hosts(handle: ControllerHandle) {
    let mut last: std::collections::HashMap<String, String> = Default::default();
    loop {
        if let Ok(hosts) = handle.hosts().await {
            for h in hosts {
                let mut line = h.states.to_string();
                if !h.task.is_empty() {
                    line = format!("{line}  [{}]", h.task);
                }
                if last.get(h.name()) != Some(&line) {
                    println!("{:<14} {line}", h.name());
                    last.insert(h.name().to_string(), line);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// As [`watch_hosts`], through the API at `url` (the pair's floating address: the hosts as the
/// active controller has them, or a standby's mirror while the role changes hands).
async fn watch_hosts_api(url: String, token: String) {
    let Ok(api) = crate::api_client::ApiClient::new(&url, Some(&token)) else {
        return;
    };
    let mut last: std::collections::HashMap<String, String> = Default::default();
    loop {
        if let Ok(body) = api.get("/v1/ihosts").await {
            for h in body["ihosts"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let field = |k: &str| h[k].as_str().unwrap_or("").to_string();
                let mut line = format!(
                    "{}-{}-{}",
                    field("administrative"),
                    field("operational"),
                    field("availability")
                );
                let task = field("task");
                if !task.is_empty() {
                    line = format!("{line}  [{task}]");
                }
                let name = field("hostname");
                if last.get(&name) != Some(&line) {
                    println!("{name:<14} {line}");
                    last.insert(name, line);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_hosts_in_order() {
        let p = plan(5, 1).unwrap();
        let names: Vec<_> = p.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "controller-0",
                "controller-1",
                "worker-0",
                "worker-1",
                "storage-0"
            ]
        );
        assert!(plan(2, 1).is_err());
        assert!(plan(0, 0).is_err());
        assert_eq!(plan(1, 0).unwrap().len(), 1);
        let mut v = vec!["worker-10", "storage-0", "worker-2", "controller-1"];
        v.sort_by_key(|n| host_order(n));
        assert_eq!(v, ["controller-1", "worker-2", "worker-10", "storage-0"]);
    }
}
