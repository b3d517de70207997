//! Compiles `crates/steward/src/bmc_cli.rs` inside this crate (the steward binary wires it
//! as `steward bmc ...`), so the CLI module is built and clippy-checked here too:
//!
//! ```text
//! cargo run -p steward-bmc --example bmc_cli_check -- --address 127.0.0.1:623 \
//!     --username admin --password-file pw power status
//! ```

#[path = "../../steward/src/bmc_cli.rs"]
mod bmc_cli;

use clap::Parser;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "bmc")]
struct Cli {
    #[command(flatten)]
    args: bmc_cli::BmcArgs,
}

fn main() -> ExitCode {
    match bmc_cli::run(Cli::parse().args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
