//! The node agent's command line, shared by its two entry points: `steward node` (the full
//! binary) and `steward-node` (the agent alone, for hosts that run nothing else of steward). Parses
//! the arguments into a [`NodeConfig`], loads the key file, and runs until SIGINT or SIGTERM.
//! Logging is the entry point's business: each sets up its subscriber before calling [`run`].

use crate::{
    ControllerPeer, LinuxMachine, Network, NodeConfig, NodeNetwork, PxebootNetwork,
    DEFAULT_CONTROLLER_PORT, DEFAULT_NODE_PORT,
};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Run the node agent: alive reports, commands, lock flags, go-enabled tests, host services.
///
/// The agent reports alive every 5 s to each controller on each network, carries out the
/// controller's commands (reboot, lock, unlock, go-enabled, stop services), and keeps the
/// node-locked flag pair (volatile + non-volatile backup) in step with the last admin state the
/// controller confirmed. Keys come from a file provisioned by the controller (mode 0600).
#[derive(Args, Debug)]
#[command(
    after_help = "Example (`steward node` and `steward-node` take the same arguments):\n  steward node --keys /etc/steward/node-keys.json \\\n      --mgmt-bind 192.168.204.11:2101 --controller controller-0=192.168.204.2:2102"
)]
pub struct NodeArgs {
    /// This host's name; must match the key file (default: the name in the key file).
    #[arg(long)]
    hostname: Option<String>,
    /// Key file: JSON {"hostname","own","controller"} with 64 hex digits per key, mode 0600.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/steward/node-keys.json"
    )]
    keys: PathBuf,
    /// Management network socket.
    #[arg(long, value_name = "ADDR:PORT", default_value_t = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_NODE_PORT))]
    mgmt_bind: SocketAddr,
    /// A controller on the management network, NAME=ADDR[:PORT] (port default 2102); repeatable.
    #[arg(long = "controller", value_name = "NAME=ADDR:PORT", required = true, value_parser = parse_peer)]
    controllers: Vec<ControllerPeer>,
    /// Cluster network socket (optional; needs --cluster-controller).
    #[arg(long, value_name = "ADDR:PORT")]
    cluster_bind: Option<SocketAddr>,
    /// A controller on the cluster network, NAME=ADDR[:PORT]; repeatable.
    #[arg(long = "cluster-controller", value_name = "NAME=ADDR:PORT", value_parser = parse_peer)]
    cluster_controllers: Vec<ControllerPeer>,
    /// Pxeboot network socket (optional; needs --pxeboot-controller): alive reports also go there
    /// and a reboot received there is carried out (docs/protocol.md#the-pxeboot-network).
    #[arg(long, value_name = "ADDR:PORT")]
    pxeboot_bind: Option<SocketAddr>,
    /// A controller's pxeboot address, NAME=ADDR[:PORT]; repeatable.
    #[arg(long = "pxeboot-controller", value_name = "NAME=ADDR:PORT", value_parser = parse_peer)]
    pxeboot_controllers: Vec<ControllerPeer>,
    /// Volatile lock flag (cleared by reboot).
    #[arg(long, default_value = "/run/steward/node_locked")]
    lock_flag: PathBuf,
    /// Non-volatile lock flag backup (survives reboot).
    #[arg(long, default_value = "/var/lib/steward/node_locked")]
    lock_flag_backup: PathBuf,
    /// Non-volatile agent state (session, confirmed admin state, controller epoch).
    #[arg(long, default_value = "/var/lib/steward")]
    state_dir: PathBuf,
    /// Main go-enabled test scripts (every executable runs with `start`).
    #[arg(long, default_value = "/etc/steward/goenabled.d")]
    goenabled_dir: PathBuf,
    /// Subfunction go-enabled scripts (none: the subfunction tests pass).
    #[arg(long)]
    goenabled_subf_dir: Option<PathBuf>,
    /// Host services scripts (run with `start` / `stop`).
    #[arg(long, default_value = "/etc/steward/services.d")]
    services_dir: PathBuf,
    /// Per go-enabled script, e.g. 300s, 5m.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    goenabled_timeout: Duration,
    /// Per host services script.
    #[arg(long, default_value = "300s", value_parser = parse_duration)]
    services_timeout: Duration,
    /// Alive report period.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    alive_period: Duration,
    /// Lock flag audit period.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    flag_audit_period: Duration,
    /// UDP port heartbeat pulses are answered on (every network's address); 0 = no responder.
    #[arg(long, default_value_t = steward_protocol::DEFAULT_HEARTBEAT_NODE_PORT)]
    heartbeat_port: u16,
    /// Reboot command (split on spaces).
    #[arg(long, default_value = "systemctl reboot")]
    reboot_command: String,
    /// Command run on wipe-disk after the --install-disk labels are erased, before the reboot
    /// (split on spaces; none: nothing more).
    #[arg(long)]
    wipe_command: Option<String>,
    /// Do not run the main go-enabled tests at start.
    #[arg(long)]
    no_goenabled_at_start: bool,
    /// Process monitor: one `*.toml` per monitored process (docs/node-supervision.md); SIGHUP
    /// reloads it. Unset: no process monitor.
    #[arg(long, value_name = "DIR")]
    pmon_dir: Option<PathBuf>,
    /// Host watchdog device to pet, e.g. /dev/watchdog. Unset: no watchdog.
    #[arg(long, value_name = "DEVICE")]
    watchdog_device: Option<PathBuf>,
    /// Time between watchdog pets.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    watchdog_pet_interval: Duration,
    /// How long a quorum loss lasts before the watchdog stops petting (the hardware then resets
    /// the host).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    watchdog_quorum_delay: Duration,
    /// Marker: present once the initial configuration completed (flag `configured`), e.g.
    /// /etc/platform/.initial_config_complete. Unset: always configured.
    #[arg(long, value_name = "FILE")]
    config_complete_file: Option<PathBuf>,
    /// Marker: the configuration passed (flag `healthy`), e.g. /var/run/.config_pass. Unset:
    /// always healthy.
    #[arg(long, value_name = "FILE")]
    config_pass_file: Option<PathBuf>,
    /// Marker: the configuration failed (flag `not_healthy`), e.g. /var/run/.config_fail.
    #[arg(long, value_name = "FILE")]
    config_fail_file: Option<PathBuf>,
    /// Marker: the worker subfunction is configured (all-in-one hosts), e.g.
    /// /var/run/.worker_config_complete. Unset: always configured.
    #[arg(long, value_name = "FILE")]
    subf_config_file: Option<PathBuf>,
    /// Shell command checking the encrypted volume; non-zero exit sets `luks_failed`.
    #[arg(long, value_name = "COMMAND")]
    luks_check: Option<String>,
    /// Period of the LUKS check.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    luks_check_period: Duration,
    /// Link and filesystem monitors to run (TOML: `[links]` mgmt/cluster/oam interfaces,
    /// `[[filesystem]]` mount points and thresholds; docs/config.md#node-monitors).
    #[arg(long, value_name = "FILE")]
    monitors: Option<PathBuf>,
    /// The local status socket `steward node status` reads; "none" for no socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_STATUS_SOCKET)]
    status_socket: PathBuf,
    #[command(flatten)]
    safety: SafetyArgs,
}

/// The safety nets around reboots and wipes (docs/config.md#node-safety-nets).
#[derive(Args, Debug)]
pub struct SafetyArgs {
    /// A host still up this long after its reboot command is rebooted by the kernel (SysRq b);
    /// "off" for no failsafe.
    #[arg(long, value_name = "DURATION|off", default_value = "120s", value_parser = parse_failsafe)]
    failsafe_reboot_delay: Failsafe,
    /// The kernel's SysRq trigger file.
    #[arg(long, value_name = "PATH", default_value = "/proc/sysrq-trigger")]
    sysrq_trigger_path: PathBuf,
    /// This host runs the active controller: its reboots are lazy (pre-reboot hook, then the
    /// lazy reboot delay).
    #[arg(long)]
    active_controller: bool,
    /// Least time from a reboot command to the active controller's reboot (0 for none).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_delay)]
    lazy_reboot_delay: Duration,
    /// Command run before the active controller reboots, e.g. a pod drain (split on spaces);
    /// its failure is logged and the reboot goes on.
    #[arg(long, value_name = "COMMAND")]
    pre_reboot_hook: Option<String>,
    /// The pre-reboot hook is killed after this long.
    #[arg(long, value_name = "DURATION", default_value = "180s", value_parser = parse_duration)]
    pre_reboot_hook_timeout: Duration,
    /// A disk whose partition tables and boot and filesystem signatures wipe-disk erases (a block
    /// device or an image file); repeatable.
    #[arg(long = "install-disk", value_name = "PATH")]
    install_disks: Vec<PathBuf>,
}

/// `--failsafe-reboot-delay`: a delay, or off.
#[derive(Clone, Copy, Debug)]
struct Failsafe(Option<Duration>);

fn parse_failsafe(s: &str) -> Result<Failsafe, String> {
    if s == "off" {
        return Ok(Failsafe(None));
    }
    parse_duration(s).map(|d| Failsafe(Some(d)))
}

/// A duration that may be 0.
fn parse_delay(s: &str) -> Result<Duration, String> {
    if s.trim()
        .trim_end_matches(['m', 's'])
        .trim_start_matches('0')
        .is_empty()
    {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
}

/// Where `steward node` answers `steward node status`.
pub const DEFAULT_STATUS_SOCKET: &str = "/run/steward/node-status.sock";

/// `steward node`: run the agent, or (`steward node status`) ask a running one for its status.
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct NodeCli {
    #[command(subcommand)]
    pub action: Option<NodeAction>,
    #[command(flatten)]
    pub args: NodeArgs,
}

#[derive(clap::Subcommand, Debug)]
pub enum NodeAction {
    /// Print what the running agent's monitors see: links, filesystems, flags (from its status
    /// socket).
    Status {
        /// The agent's status socket.
        #[arg(long, value_name = "PATH", default_value = DEFAULT_STATUS_SOCKET)]
        socket: PathBuf,
        /// Print the JSON document as the socket gives it.
        #[arg(long)]
        json: bool,
    },
    /// The node's part of a support bundle (.tar.gz with a manifest, secrets redacted): agent
    /// state, lock flags, status, scripts, key file metadata, recent log. Run it on the host, or
    /// over ssh with `--output -`.
    Collect(Box<CollectArgs>),
}

/// `steward node collect`: the agent's paths (the same defaults as the agent's) and the output.
#[derive(Args, Debug)]
pub struct CollectArgs {
    /// The bundle to write; `-` for standard output [default: steward-node-collect-<host>.tar.gz].
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// The agent's key file (only its metadata is collected; its keys are blanked everywhere).
    #[arg(
        long,
        value_name = "FILE",
        default_value = "/etc/steward/node-keys.json"
    )]
    keys: PathBuf,
    #[arg(long, default_value = "/var/lib/steward")]
    state_dir: PathBuf,
    #[arg(long, default_value = "/run/steward/node_locked")]
    lock_flag: PathBuf,
    #[arg(long, default_value = "/var/lib/steward/node_locked")]
    lock_flag_backup: PathBuf,
    #[arg(long, default_value = "/etc/steward/goenabled.d")]
    goenabled_dir: PathBuf,
    #[arg(long, default_value = "/etc/steward/services.d")]
    services_dir: PathBuf,
    #[arg(long, value_name = "PATH", default_value = DEFAULT_STATUS_SOCKET)]
    status_socket: PathBuf,
    /// The systemd unit whose journal is the agent's log; "none" for no log.
    #[arg(long, default_value = "steward-node")]
    unit: String,
    /// Journal lines to keep.
    #[arg(long, default_value_t = 5000)]
    log_lines: u32,
}

/// Run what the command line asks for.
pub fn run_cli(cli: NodeCli) -> Result<()> {
    match cli.action {
        Some(NodeAction::Status { socket, json }) => print_status(&socket, json),
        Some(NodeAction::Collect(c)) => {
            let paths = crate::collect::CollectPaths {
                keys: c.keys,
                state_dir: c.state_dir,
                lock_flag: c.lock_flag,
                lock_flag_backup: c.lock_flag_backup,
                goenabled_dir: c.goenabled_dir,
                services_dir: c.services_dir,
                status_socket: c.status_socket,
                unit: (c.unit != "none").then_some(c.unit),
                log_lines: c.log_lines,
            };
            let to_stdout = c.output.as_deref() == Some(std::path::Path::new("-"));
            let written = crate::collect::collect(&paths, c.output.as_deref())?;
            if !to_stdout {
                println!("{}", written.display());
            }
            Ok(())
        }
        None => run(cli.args),
    }
}

/// `steward node status`.
pub fn print_status(socket: &std::path::Path, json: bool) -> Result<()> {
    let text = crate::status::query(socket).with_context(|| {
        format!(
            "cannot read the node status at {} (is `steward node` running, with this --status-socket?)",
            socket.display()
        )
    })?;
    if json {
        print!("{text}");
        return Ok(());
    }
    let doc: serde_json::Value =
        serde_json::from_str(&text).context("the status socket did not answer JSON")?;
    print!("{}", render_status(&doc));
    Ok(())
}

/// The status document as a short table for people.
pub fn render_status(doc: &serde_json::Value) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let str_of = |v: &serde_json::Value| v.as_str().unwrap_or("?").to_string();
    let _ = writeln!(out, "host: {}", str_of(&doc["host"]));
    let _ = writeln!(out, "links:");
    for l in doc["links"].as_array().into_iter().flatten() {
        let ports: Vec<String> = l["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let up = if p["up"].as_bool() == Some(true) {
                    "up"
                } else {
                    "down"
                };
                format!("{} {up}", str_of(&p["name"]))
            })
            .collect();
        let _ = writeln!(
            out,
            "  {:<8} {:<12} {} down: {}",
            str_of(&l["network"]),
            str_of(&l["interface"]),
            l["down"],
            ports.join(", ")
        );
    }
    let _ = writeln!(out, "filesystems:");
    for f in doc["filesystems"].as_array().into_iter().flatten() {
        let pct =
            |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |p| format!("{p:.1}%"));
        let _ = writeln!(
            out,
            "  {:<20} {:<10} free space {} inodes {}",
            str_of(&f["mount"]),
            str_of(&f["state"]),
            pct(&f["free_space_pct"]),
            pct(&f["free_inodes_pct"])
        );
    }
    let _ = writeln!(out, "flags: {}", doc["flags"]);
    if !doc["processes"].is_null() {
        let _ = writeln!(out, "processes: {}", doc["processes"]);
    }
    out
}

/// `NAME=ADDR[:PORT]`.
fn parse_peer(s: &str) -> Result<ControllerPeer, String> {
    let (name, addr) = s.split_once('=').ok_or_else(|| {
        format!("{s:?}: expected NAME=ADDR:PORT, e.g. controller-0=192.168.204.2:2102")
    })?;
    if !steward_protocol::valid_hostname(name) {
        return Err(format!(
            "{name:?} is not a valid controller name ([A-Za-z0-9._-], 1..=64)"
        ));
    }
    let addr = match addr.parse::<SocketAddr>() {
        Ok(a) => a,
        Err(_) => addr
            .parse::<IpAddr>()
            .map(|ip| SocketAddr::new(ip, DEFAULT_CONTROLLER_PORT))
            .map_err(|_| format!("{addr:?} is not an IP address or IP:PORT"))?,
    };
    Ok(ControllerPeer {
        name: name.to_string(),
        addr,
    })
}

/// `500ms`, `5s`, `2m`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration like 500ms, 5s or 2m"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        _ => return Err(format!("{s:?}: unknown unit {unit:?} (use ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 86_400.0 {
        return Err(format!("{s:?}: must be more than 0 and at most a day"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// The configuration and machine the arguments describe (the key file is read here).
pub fn build(args: &NodeArgs) -> Result<(NodeConfig, LinuxMachine)> {
    let (file_host, keys) = crate::keyfile::load(&args.keys)?;
    let hostname = match &args.hostname {
        Some(h) if *h != file_host => bail!(
            "--hostname {h} does not match the key file {} (made for {file_host}); keys are per host",
            args.keys.display()
        ),
        Some(h) => h.clone(),
        None => file_host,
    };
    let mut networks = vec![NodeNetwork {
        network: Network::Mgmt,
        bind: args.mgmt_bind,
        controllers: args.controllers.clone(),
    }];
    match (args.cluster_bind, args.cluster_controllers.is_empty()) {
        (Some(bind), false) => networks.push(NodeNetwork {
            network: Network::Cluster,
            bind,
            controllers: args.cluster_controllers.clone(),
        }),
        (None, true) => {}
        (Some(_), true) => {
            bail!("--cluster-bind needs at least one --cluster-controller NAME=ADDR:PORT")
        }
        (None, false) => bail!("--cluster-controller needs --cluster-bind ADDR:PORT"),
    }
    let mut cfg = NodeConfig::new(hostname, keys, networks);
    cfg.pxeboot = match (args.pxeboot_bind, args.pxeboot_controllers.is_empty()) {
        (Some(bind), false) => Some(PxebootNetwork {
            bind,
            controllers: args.pxeboot_controllers.clone(),
        }),
        (None, true) => None,
        (Some(_), true) => {
            bail!("--pxeboot-bind needs at least one --pxeboot-controller NAME=ADDR:PORT")
        }
        (None, false) => bail!("--pxeboot-controller needs --pxeboot-bind ADDR:PORT"),
    };
    cfg.lock_flag = args.lock_flag.clone();
    cfg.lock_flag_backup = args.lock_flag_backup.clone();
    cfg.state_dir = args.state_dir.clone();
    cfg.goenabled_dir = args.goenabled_dir.clone();
    cfg.goenabled_subf_dir = args.goenabled_subf_dir.clone();
    cfg.services_dir = args.services_dir.clone();
    cfg.goenabled_timeout = args.goenabled_timeout;
    cfg.services_timeout = args.services_timeout;
    cfg.alive_period = args.alive_period;
    cfg.flag_audit_period = args.flag_audit_period;
    cfg.goenabled_at_start = !args.no_goenabled_at_start;
    cfg.heartbeat_port = (args.heartbeat_port != 0).then_some(args.heartbeat_port);
    cfg.pmon_dir = args.pmon_dir.clone();
    cfg.health = crate::health::HealthMarkers {
        configured: args.config_complete_file.clone(),
        config_pass: args.config_pass_file.clone(),
        config_fail: args.config_fail_file.clone(),
        subf_configured: args.subf_config_file.clone(),
        luks_check: args.luks_check.clone(),
        luks_check_period: args.luks_check_period,
    };
    cfg.watchdog = args
        .watchdog_device
        .as_ref()
        .map(|d| crate::watchdog::WatchdogConfig {
            device: d.clone(),
            pet_interval: args.watchdog_pet_interval,
            quorum_loss_delay: args.watchdog_quorum_delay,
        });
    if let Some(file) = &args.monitors {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the monitors file {}", file.display()))?;
        cfg.monitors = crate::monitors::MonitorsConfig::from_toml(&text)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("{} is not a valid monitors file", file.display()))?;
    }
    cfg.status_socket =
        (args.status_socket.as_os_str() != "none").then(|| args.status_socket.clone());
    let s = &args.safety;
    cfg.safety = crate::safety::SafetyNets {
        failsafe_reboot_delay: s.failsafe_reboot_delay.0,
        sysrq_trigger_path: s.sysrq_trigger_path.clone(),
        active_controller: s.active_controller,
        lazy_reboot_delay: s.lazy_reboot_delay,
        pre_reboot_hook: s.pre_reboot_hook.as_deref().map(words),
        pre_reboot_hook_timeout: s.pre_reboot_hook_timeout,
        install_disks: s.install_disks.clone(),
    };
    cfg.validate().map_err(anyhow::Error::msg)?;
    let reboot = words(&args.reboot_command);
    if reboot.is_empty() {
        bail!("--reboot-command must not be empty");
    }
    let machine = LinuxMachine {
        reboot_command: reboot,
        wipe_command: args.wipe_command.as_deref().map(words),
        ..LinuxMachine::default()
    };
    Ok((cfg, machine))
}

/// Run the agent the arguments describe on a single-threaded runtime until SIGINT or SIGTERM.
pub fn run(args: NodeArgs) -> Result<()> {
    let (cfg, machine) = build(&args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let host = cfg.hostname.clone();
        let handle = crate::spawn(cfg, Arc::new(machine))
            .with_context(|| format!("cannot start the node agent for {host}"))?;
        for n in [Network::Mgmt, Network::Cluster] {
            if let Some(a) = handle.local_addr(n) {
                tracing::info!(host = %host, "listening on {a} ({n:?})");
            }
        }
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot install the SIGTERM handler")?;
        // Serving: sockets bound, state loaded, lock flags restored (a reader of the flags after
        // READY=1 finds them as the agent keeps them). The watchdog pings while the agent's loop runs
        // (this runtime has one thread: a loop blocked there stops the pings too).
        handle.started().await;
        crate::systemd::notify_or_log("READY=1");
        let watchdog = crate::systemd::run_watchdog(|| std::future::ready(!handle.is_finished()));
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
            () = watchdog, if crate::systemd::watchdog_interval().is_some() => {}
        }
        crate::systemd::notify_or_log("STOPPING=1");
        tracing::info!(host = %host, "stopping");
        handle.shutdown().await;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        node: NodeArgs,
    }

    #[test]
    fn parses_peers_and_durations() {
        let p = parse_peer("controller-0=10.0.0.2").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.addr.port(), DEFAULT_CONTROLLER_PORT);
        let p = parse_peer("c1=10.0.0.3:9000").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.addr.port(), 9000);
        assert!(parse_peer("10.0.0.3:9000").is_err());
        assert!(parse_peer("bad name=10.0.0.3").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn missing_key_file_names_the_file() {
        let t = T::try_parse_from([
            "x",
            "--keys",
            "/nonexistent/keys.json",
            "--controller",
            "c0=127.0.0.1",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.node.mgmt_bind.port(), DEFAULT_NODE_PORT);
        let err = build(&t.node)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/keys.json"), "{err}");
        assert!(
            T::try_parse_from(["x", "--keys", "k"]).is_err(),
            "--controller is required"
        );
    }
}
