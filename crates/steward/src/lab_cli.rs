//! `steward lab`: the embedded default — a controller plus N simulated hosts in one process, and
//! `steward lab fail|crash|heal|status` fault injection through each simulated BMC's control socket.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use steward_controller::{spawn, ControllerConfig, ControllerHandle};
use steward_maintenance::config::Config;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::state::{Personality, SystemType};
use steward_maintenance::SystemConfig;
use steward_simhost::{control_blocking, SimCluster, SimHost, SimHostConfig};
use steward_store::{RedbStore, Retention, SecretBox, Store};

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
    /// Run each simulated host as its own `steward simhost` process. NOT IMPLEMENTED YET: every
    /// simulated host runs in the lab process.
    #[arg(long)]
    processes: bool,
}

#[derive(Subcommand)]
enum LabCommand {
    /// The host hangs: it stops answering (agent and heartbeat), power stays on.
    Fail(FaultArgs),
    /// The host loses power until its BMC powers it on (or `heal`).
    Crash(FaultArgs),
    /// Undo `fail` and `crash` (a host without power is powered on and boots).
    Heal(FaultArgs),
    /// Power and agent state of every simulated host, as its BMC sees it.
    Status {
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

#[derive(Args)]
struct FaultArgs {
    /// The host name, e.g. worker-0.
    host: String,
    /// The lab's data dir (as given to `steward lab`).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

pub fn run(args: LabArgs) -> Result<()> {
    match args.fault {
        Some(LabCommand::Fail(f)) => fault(f, "hang"),
        Some(LabCommand::Crash(f)) => fault(f, "crash"),
        Some(LabCommand::Heal(f)) => fault(f, "heal"),
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

fn default_data_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("steward-lab"),
        // SAFETY: getuid has no preconditions and cannot fail.
        _ => PathBuf::from(format!("/tmp/steward-lab-{}", unsafe { libc::getuid() })),
    }
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

fn spec(i: usize, name: &str, personality: Personality) -> HostSpec {
    HostSpec {
        name: name.to_string(),
        uuid: format!("5eed1ab0-0000-4000-8000-{:012}", i + 1),
        personality,
        mgmt_ip: Some(format!("192.168.204.{}", 10 + i)),
        mgmt_mac: None,
        cluster_ip: None,
        bmc: Some(bmc_spec(i)),
    }
}

fn bmc_spec(i: usize) -> BmcSpec {
    BmcSpec {
        protocol: BmcProtocol::Redfish,
        // Unique per host; the simulated BMC is reached in process (no Redfish endpoint yet).
        address: format!("127.0.0.1:sim-{}", i + 1),
        username: "admin".into(),
    }
}

async fn lab(args: RunArgs) -> Result<()> {
    if args.processes {
        bail!("--processes is not implemented yet: every simulated host runs inside the lab process (leave the flag out)");
    }
    let hosts = plan(args.hosts, args.storage)?;
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    if args.fresh && data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)
            .with_context(|| format!("cannot wipe {}", data_dir.display()))?;
    }
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let scale = if args.fast { 20 } else { 1 };
    let config = Config::default().scaled(scale);

    // Bind the API's port first: a second lab fails here, before touching anything.
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {} (use --listen)", args.listen))?;

    let store_dir = data_dir.join("store");
    std::fs::create_dir_all(&store_dir)?;
    let store: Arc<dyn Store> = Arc::new(
        RedbStore::open(&store_dir, Retention::default())
            .with_context(|| format!("cannot open the store in {}", store_dir.display()))?,
    );
    let secrets = SecretBox::load_or_create(&store_dir)
        .with_context(|| format!("cannot load the secret key in {}", store_dir.display()))?;

    let cluster = SimCluster::new(scale);
    for (name, _) in &hosts {
        let mut c = SimHostConfig::new(name, data_dir.join(name)).scaled(scale);
        c.alive_period = config.timeouts.alive_period.0;
        let sim = SimHost::start(c, true)
            .with_context(|| format!("cannot start simulated host {name}"))?;
        cluster.add(sim);
    }
    let (handle, events, task) = spawn(
        ControllerConfig::new(
            config,
            SystemConfig {
                system_type: SystemType::Standard,
                own_host: "controller-0".into(),
                controller_uptime: Duration::from_secs(86_400),
            },
        ),
        store,
        secrets,
        cluster.links(),
    )
    .context("cannot start the controller")?;
    cluster.set_events(events);

    let system = SystemType::Standard;
    for (i, (name, personality)) in hosts.iter().enumerate() {
        if handle.host(name).await?.is_some() {
            continue; // the store remembers it from an earlier run
        }
        let spec = spec(i, name, *personality);
        let rec = if args.fresh {
            HostRecord::new_install(spec, system)
        } else {
            HostRecord::in_service(spec, system)
        };
        handle
            .add_host(rec)
            .await
            .with_context(|| format!("cannot add {name}"))?;
        handle
            .set_bmc_credentials(name, bmc_spec(i), LAB_BMC_PASSWORD.into())
            .await
            .with_context(|| format!("cannot provision the BMC of {name}"))?;
    }

    for rec in handle.hosts().await? {
        if !hosts.iter().any(|(n, _)| n == rec.name()) {
            println!(
                "note: {} is in the store from an earlier run but has no simulated host now \
                 (start with --fresh, or with as many --hosts as before)",
                rec.name()
            );
        }
    }

    let url = format!("http://{}", listener.local_addr()?);
    let api = start_api(
        listener,
        handle.clone(),
        &data_dir,
        &url,
        args.url_file.as_deref(),
    )?;

    let names: Vec<&str> = hosts.iter().map(|(n, _)| n.as_str()).collect();
    println!(
        "steward lab: {} simulated hosts ({}), {}, timers {}",
        hosts.len(),
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
        }
    );
    println!("data dir: {}", data_dir.display());
    let dd = if args.data_dir.is_some() {
        format!(" --data-dir {}", data_dir.display())
    } else {
        String::new()
    };
    let example = names.get(2).or(names.last()).copied().unwrap_or("worker-0");
    println!("try (in another terminal):");
    println!("  steward lab status{dd}");
    println!("  steward lab crash {example}{dd}    # power loss: watch the controller recover it");
    println!("  steward lab fail {example}{dd}     # hang: stops answering, power stays on");
    println!("  steward lab heal {example}{dd}");
    if api.is_some() {
        println!("  curl -s {url}/v1/ihosts");
        println!(
            "  curl -s -X PATCH {url}/v1/ihosts/{example} -H 'Content-Type: application/json' \\\n      -d '[{{\"op\": \"replace\", \"path\": \"/action\", \"value\": \"lock\"}}]'"
        );
    }
    println!("Ctrl-C stops the lab; host state changes follow.");

    let watcher = tokio::spawn(watch_hosts(handle.clone()));
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    println!("\nstopping the lab");
    watcher.abort();
    if let Some(api) = api {
        api.abort();
    }
    let _ = handle.shutdown().await;
    let _ = task.await;
    cluster.shutdown();
    if let Some(f) = &args.url_file {
        let _ = std::fs::remove_file(f);
    }
    Ok(())
}

/// The REST API on `listener` (loopback clients need no token), its URL and token printed, the URL
/// written to `url_file`.
fn start_api(
    listener: tokio::net::TcpListener,
    handle: ControllerHandle,
    data_dir: &Path,
    url: &str,
    url_file: Option<&Path>,
) -> Result<Option<tokio::task::JoinHandle<()>>> {
    let mut auth = steward_api::Auth::load_or_create(data_dir)
        .with_context(|| format!("cannot load the API token in {}", data_dir.display()))?;
    auth.loopback_without_token = true;
    let token = auth.tokens.first().cloned().unwrap_or_default();
    let api = tokio::spawn(async move {
        if let Err(e) = steward_api::serve(listener, handle, auth).await {
            eprintln!("the REST API stopped: {e}");
        }
    });
    println!("API: {url}");
    println!(
        "token: {token}  (in {}; loopback clients need none)",
        data_dir.join(steward_api::TOKEN_FILE).display()
    );
    if let Some(f) = url_file {
        std::fs::write(f, format!("{url}\n"))
            .with_context(|| format!("cannot write the URL to {}", f.display()))?;
    }
    Ok(Some(api))
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
