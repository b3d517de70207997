//! `steward controller`: the maintenance controller daemon — store, core, node link, BMC workers and
//! the REST API, until SIGINT/SIGTERM.

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use steward_maintenance::config::Config;
use steward_maintenance::state::SystemType;
use steward_wiring::{ApiOptions, ControllerBuilder, Storage};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ControllerArgs {
    #[command(subcommand)]
    command: Option<ControllerCommand>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum ControllerCommand {
    /// Write a node's key file (derived from the cluster secret in the data dir).
    ProvisionNode(ProvisionArgs),
}

#[derive(Args)]
struct ProvisionArgs {
    /// The node's hostname.
    hostname: String,
    /// The controller's data dir (holds cluster.secret; created with it if missing).
    #[arg(long, env = "STEWARD_DATA_DIR")]
    data_dir: PathBuf,
    /// Where to write the key file (mode 0600).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args, Clone)]
pub(crate) struct RunArgs {
    /// Where the store, the keys and the API token live.
    #[arg(long, env = "STEWARD_DATA_DIR", required = true)]
    pub(crate) data_dir: Option<PathBuf>,
    /// The REST API's address.
    #[arg(long, default_value = "127.0.0.1:6385")]
    pub(crate) listen: SocketAddr,
    /// This controller's hostname (it protects itself from being locked or rebooted; in a pair,
    /// its name in the leader record).
    #[arg(long, alias = "name", default_value = "controller-0")]
    pub(crate) hostname: String,
    /// Where the state lives: the embedded store in the data dir (default), or
    /// `etcd://HOST:PORT[,HOST:PORT…]` for a controller pair (docs/controller-pair.md): the holder
    /// of the etcd lease is active, the other standby.
    #[arg(long, env = "STEWARD_STORE")]
    pub(crate) store: Option<String>,
    /// With `--store etcd://…`: the API URL the other controller and the CLI reach this one at
    /// [default: http://<--listen>].
    #[arg(long)]
    pub(crate) advertise_url: Option<String>,
    /// With `--store etcd://…`: the leader lease's TTL in milliseconds (the standby takes over
    /// within about this long after the active died).
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1000..=60_000))]
    pub(crate) lease_ttl_ms: u64,
    /// With `--store etcd://…`: for this long after a takeover, the new active does not accuse a
    /// host it saw answering its pulses as standby (the takeover gap), in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub(crate) takeover_grace_ms: u64,
    /// UDP address for the node protocol on the management network.
    #[arg(long, default_value_t = SocketAddr::from(([0, 0, 0, 0], steward_node_link::DEFAULT_CONTROLLER_PORT)))]
    pub(crate) mgmt_bind: SocketAddr,
    /// UDP address for the node protocol on the cluster network (if the cluster has one).
    #[arg(long)]
    pub(crate) cluster_bind: Option<SocketAddr>,
    /// UDP address for the node protocol on the pxeboot network: alive reports and reboot
    /// commands also travel there (docs/protocol.md#the-pxeboot-network).
    #[arg(long)]
    pub(crate) pxeboot_bind: Option<SocketAddr>,
    /// The UDP port node agents listen on.
    #[arg(long, default_value_t = steward_node_link::DEFAULT_NODE_PORT)]
    pub(crate) node_port: u16,
    /// UDP port of the heartbeat service (on the management and cluster addresses).
    #[arg(long, default_value_t = steward_protocol::DEFAULT_HEARTBEAT_CONTROLLER_PORT)]
    pub(crate) heartbeat_port: u16,
    /// UDP port node agents answer heartbeat pulses on.
    #[arg(long, default_value_t = steward_protocol::DEFAULT_HEARTBEAT_NODE_PORT)]
    pub(crate) node_heartbeat_port: u16,
    /// Maintenance timers and thresholds (TOML; `steward config defaults` prints every key).
    #[arg(long)]
    pub(crate) config: Option<PathBuf>,
    /// Divide every timer by this factor (labs and tests; 1 = the configured values).
    #[arg(long, default_value_t = 1, hide = true)]
    pub(crate) time_scale: u32,
    #[arg(long, value_enum, default_value_t = SystemKind::Standard)]
    pub(crate) system_type: SystemKind,
    /// Lab mode: API clients on loopback need no token, BMC certificates are not verified.
    #[arg(long)]
    pub(crate) lab: bool,
    /// Gap between two operations on one BMC, in milliseconds (default 5000).
    #[arg(long, hide = true)]
    pub(crate) bmc_gap_ms: Option<u64>,
    /// BMC access audit period, in milliseconds (default 60000).
    #[arg(long, hide = true)]
    pub(crate) bmc_audit_ms: Option<u64>,
    /// Seconds between two sensor reads of a host's BMC for hosts without their own setting
    /// (`audit_interval_group`; default 120, at least 10).
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub(crate) sensor_audit_interval: u64,
    /// Where Redfish BMCs push sensor events to (every BMC must reach it); default: the management
    /// address, a port the system picks. Subscriptions are renewed at each start.
    #[arg(long)]
    pub(crate) bmc_events_bind: Option<SocketAddr>,
    /// No Redfish event push: hosts are read on their audit interval only.
    #[arg(long)]
    pub(crate) no_bmc_events: bool,
    /// Write the API URL to this file once it serves.
    #[arg(long)]
    pub(crate) url_file: Option<PathBuf>,
    /// Serve the install images in this directory over HTTP under /images/<file>, for BMC
    /// virtual media in labs (docs/bmc.md#image-server). Off by default.
    #[arg(long, value_name = "DIR")]
    pub(crate) image_dir: Option<PathBuf>,
    /// The image server's listen address; it asks for no token (BMCs cannot send one), so keep it
    /// on loopback or a BMC-only network.
    #[arg(long, value_name = "ADDR:PORT", default_value = steward_wiring::image_server::DEFAULT_IMAGE_BIND)]
    pub(crate) image_bind: SocketAddr,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum SystemKind {
    Standard,
    AioSimplex,
    AioDuplex,
}

impl From<SystemKind> for SystemType {
    fn from(k: SystemKind) -> SystemType {
        match k {
            SystemKind::Standard => SystemType::Standard,
            SystemKind::AioSimplex => SystemType::AioSimplex,
            SystemKind::AioDuplex => SystemType::AioDuplex,
        }
    }
}

pub fn run(args: ControllerArgs) -> Result<()> {
    if let Some(ControllerCommand::ProvisionNode(p)) = args.command {
        return provision(&p);
    }
    let args = args.run;
    crate::init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(args))
}

fn provision(p: &ProvisionArgs) -> Result<()> {
    std::fs::create_dir_all(&p.data_dir)
        .with_context(|| format!("cannot create {}", p.data_dir.display()))?;
    let secret = steward_wiring::load_or_create_cluster_secret(&p.data_dir)?;
    steward_node::keyfile::provision(&p.out, &secret, &p.hostname)
        .with_context(|| format!("cannot write {}'s key file {}", p.hostname, p.out.display()))?;
    println!("{}: key file {}", p.hostname, p.out.display());
    Ok(())
}

async fn serve(args: RunArgs) -> Result<()> {
    let data_dir = args.data_dir.clone().context("--data-dir is required")?;
    let mut config = match &args.config {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read {}", f.display()))?;
            Config::from_toml(&text)
                .with_context(|| format!("{} is not a valid configuration", f.display()))?
        }
        None => Config::default(),
    };
    if args.time_scale > 1 {
        config = config.scaled(args.time_scale);
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (use --listen)", args.listen))?;
    if let Some(url) = args.store.as_deref().filter(|u| u.starts_with("etcd://")) {
        return crate::pair_cli::serve_pair(&args, url, config, data_dir, listener).await;
    }
    if let Some(other) = &args.store {
        anyhow::bail!("--store {other}: use etcd://HOST:PORT[,HOST:PORT…], or leave it out for the embedded store");
    }
    let mut builder = builder(&args, config, Storage::DataDir(data_dir));
    builder.api = Some(ApiOptions {
        listener,
        auth: None,
    });
    let running = builder.start().await?;
    let url = running
        .api
        .as_ref()
        .map(|a| a.url.clone())
        .context("the API did not start")?;
    println!(
        "steward controller {} (epoch {})",
        args.hostname,
        running.handle.epoch()
    );
    println!("API: {url}");
    println!("dashboard: {url}{}", steward_api::DASHBOARD_PATH);
    if let Some(images) = &running.images {
        println!(
            "images: {}<file>  (from {})",
            images.url,
            images.dir.display()
        );
    }
    println!(
        "node protocol: {} (agents on port {})",
        running
            .node_link
            .local_addr(steward_maintenance::state::Network::Mgmt)
            .map_or_else(|| "-".into(), |a| a.to_string()),
        args.node_port
    );
    if let Some(f) = &args.url_file {
        std::fs::write(f, format!("{url}\n"))
            .with_context(|| format!("cannot write the URL to {}", f.display()))?;
    }
    // Serving (store loaded, sockets bound, API accepting): tell systemd, then ping its watchdog
    // for as long as the controller's actor answers within the ping period.
    steward_node::systemd::notify_or_log("READY=1");
    let watchdog = tokio::spawn({
        let handle = running.handle.clone();
        let period = steward_node::systemd::watchdog_interval().map(|i| i / 2);
        steward_node::systemd::run_watchdog(move || {
            let handle = handle.clone();
            async move {
                let Some(period) = period else { return false };
                matches!(
                    tokio::time::timeout(period, handle.node_settings()).await,
                    Ok(Ok(_))
                )
            }
        })
    });
    wait_for_stop().await?;
    steward_node::systemd::notify_or_log("STOPPING=1");
    watchdog.abort();
    println!("stopping");
    running.shutdown().await;
    Ok(())
}

/// The controller as the arguments describe it, on `storage`, without its API.
pub(crate) fn builder(args: &RunArgs, config: Config, storage: Storage) -> ControllerBuilder {
    let mut builder =
        ControllerBuilder::new(args.hostname.clone(), config, storage, args.mgmt_bind);
    builder.system_type = args.system_type.into();
    builder.cluster_bind = args.cluster_bind;
    builder.pxeboot_bind = args.pxeboot_bind;
    builder.node_port = args.node_port;
    builder.heartbeat_port = args.heartbeat_port;
    builder.node_heartbeat_port = args.node_heartbeat_port;
    builder.lab = args.lab;
    if let Some(ms) = args.bmc_gap_ms {
        builder.bmc.scheduler.gap = Duration::from_millis(ms);
    }
    if let Some(ms) = args.bmc_audit_ms {
        builder.bmc.audit_period = Duration::from_millis(ms);
    }
    builder.sensors.audit_interval = Duration::from_secs(args.sensor_audit_interval);
    builder.push.enabled = !args.no_bmc_events;
    builder.push.bind = args.bmc_events_bind;
    builder.images = args
        .image_dir
        .clone()
        .map(|dir| steward_wiring::ImageServerOptions {
            dir,
            bind: args.image_bind,
        });
    builder
}

/// SIGINT or SIGTERM.
pub async fn wait_for_stop() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("cannot watch SIGINT")?,
        _ = term.recv() => {}
    }
    Ok(())
}
