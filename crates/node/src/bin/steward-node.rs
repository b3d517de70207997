//! `steward-node`: the node agent alone, for the hosts that run nothing else of steward.
//!
//! Takes exactly the arguments of `steward node` (one definition: `steward_node::cli::NodeCli`)
//! and links no controller code, so it is a fraction of the full `steward` binary's size.

use clap::Parser;
use std::process::ExitCode;
use steward_node::cli::NodeCli;

#[derive(Parser, Debug)]
#[command(name = "steward-node", version, long_about = None)]
struct Cli {
    #[command(flatten)]
    node: NodeCli,
}

/// Logs go to stderr; `STEWARD_LOG` (or `RUST_LOG`) sets the filter (default `info`), as for
/// every steward daemon.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("STEWARD_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
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
    let cli = Cli::parse();
    init_logging();
    match steward_node::cli::run_cli(cli.node) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
