//! `steward`: one binary, subcommands grouped by noun. Each daemon and tool of the project is a
//! subcommand; this file only parses the command line and hands over to the crate that does the work.

mod api_client;
mod bench_cli;
mod bmc_cli;
mod collect_cli;
mod controller_cli;
mod host_cli;
mod lab_cli;
mod lab_pair;
mod node_config_cli;
mod pair_cli;
mod sensor_cli;
mod simhost_cli;
mod watch_cli;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use steward_maintenance::config::Config;

#[derive(Parser)]
#[command(name = "steward", version, about = "Bare-metal node and hardware maintenance", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Talk to one BMC directly (IPMI or Redfish): info, power, boot device, sensors, SEL.
    Bmc(bmc_cli::BmcArgs),
    /// The maintenance controller daemon: store, host state machines, node link, BMCs, REST API.
    Controller(controller_cli::ControllerArgs),
    /// Benchmarks (BENCHMARKS.md); each prints the figure and the peer it was compared with.
    Bench(bench_cli::BenchArgs),
    /// Maintenance configuration: print the defaults or check a file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// A controller plus N simulated hosts in one process; `lab fail|crash|heal HOST` injects faults.
    Lab(lab_cli::LabArgs),
    /// One simulated machine (disk, boot, real node agent, Redfish BMC) as its own process.
    Simhost(simhost_cli::SimhostArgs),
    /// Hosts through the REST API: list, show, add, delete, lock, unlock, reboot, … (`--wait` follows).
    Host(host_cli::HostArgs),
    /// Alarms through the REST API: `alarm list`.
    Alarm(host_cli::AlarmArgs),
    /// Hardware sensors through the REST API: list, show, modify, group list|show|modify, relearn.
    Sensor(sensor_cli::SensorArgs),
    /// Customer-log events through the REST API: `event list`.
    Event(host_cli::EventArgs),
    /// The node agent on every host: alive reports, commands, lock flags, go-enabled tests, process,
    /// link and filesystem monitors; `node status` prints what a running agent's monitors see.
    Node(Box<steward_node::cli::NodeCli>),
    /// Node settings the controller pushes to every agent (config push): show, set, push.
    NodeConfig(node_config_cli::NodeConfigArgs),
    /// Follow the controller live: host state changes, alarms and events as they happen.
    Watch(watch_cli::WatchArgs),
    /// A support bundle (.tar.gz with a manifest, secrets redacted) of what the controller knows about hosts.
    Collect(collect_cli::CollectArgs),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print every timeout and threshold with its default, as TOML.
    Defaults,
    /// Validate a configuration file; errors name the offending key.
    Check {
        /// The TOML file (the `[timeouts]`, `[thresholds]` and `[policy]` tables).
        file: PathBuf,
    },
}

/// Daemons log to stderr; `STEWARD_LOG` (or `RUST_LOG`) sets the filter (default `info`, e.g.
/// `steward_node_link=debug`).
pub(crate) fn init_logging() {
    init_logging_with("info")
}

/// As [`init_logging`] with another default filter (the lab prints its own lines; logs are noise
/// there unless something is wrong).
pub(crate) fn init_logging_with(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STEWARD_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // journald-friendly: colours only on a terminal; under systemd (JOURNAL_STREAM set) no
    // timestamp of our own, the journal stamps every line.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = if std::env::var_os("JOURNAL_STREAM").is_some() {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

fn main() -> ExitCode {
    // `steward host list | head` must end quietly, as other command-line tools do, instead of
    // panicking on the closed pipe: restore the default SIGPIPE action Rust's runtime ignores.
    // SAFETY: signal(2) with a valid signal number and SIG_DFL, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Bmc(args) => bmc_cli::run(args),
        Command::Bench(args) => bench_cli::run(args),
        Command::Controller(args) => controller_cli::run(args),
        Command::Lab(args) => lab_cli::run(args),
        Command::Simhost(args) => simhost_cli::run(args),
        Command::Host(args) => host_cli::run_host(args),
        Command::Alarm(args) => host_cli::run_alarm(args),
        Command::Event(args) => host_cli::run_event(args),
        Command::Sensor(args) => sensor_cli::run(args),
        Command::NodeConfig(args) => node_config_cli::run(args),
        Command::Watch(args) => watch_cli::run(args),
        Command::Collect(args) => collect_cli::run(args),
        Command::Node(args) => {
            init_logging();
            steward_node::cli::run_cli(*args)
        }
        Command::Config(ConfigCommand::Defaults) => {
            print!("{}", Config::default().to_toml());
            Ok(())
        }
        Command::Config(ConfigCommand::Check { file }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            Config::from_toml(&text)
                .with_context(|| format!("{} is not a valid configuration", file.display()))?;
            println!("{}: ok", file.display());
            Ok(())
        }
    }
}
