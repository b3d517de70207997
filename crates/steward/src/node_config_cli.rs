//! `steward node-config show|set|push`: the node settings the controller pushes to every agent
//! (`GET`/`PATCH /v1/node-settings`), and where each host stands with them.

use crate::api_client::{ApiClient, CliError};
use crate::host_cli::{
    finish, print_json, print_table, rows, run_async, text, ApiArgs, EXIT_CODES,
};
use clap::{Args, Subcommand};
use serde_json::{Map, Value};
use std::time::{Duration, Instant};
use steward_maintenance::NodeSettings;

#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct NodeConfigArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: NodeConfigCommand,
}

/// Following a push.
#[derive(Args, Clone, Debug)]
pub struct PushWait {
    /// Wait until every host runs the new generation (or refused it); exit 1 on a refusal.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 1; agents still catch up later).
    #[arg(long, default_value_t = 120)]
    pub timeout: u64,
}

#[derive(Subcommand, Debug)]
pub enum NodeConfigCommand {
    /// The node settings and, per host, the generation its agent runs.
    Show,
    /// Change settings and push them to every agent: `FIELD=VALUE` sets one, `FIELD=default` hands
    /// it back to the node's own configuration. Fields: alive_period_ms (100..=60000, and at most
    /// the controller's timeouts.alive_period),
    /// flag_audit_period_ms (100..=5000), inventory_period_s (10..=86400), goenabled_timeout_s and
    /// services_timeout_s (1..=3600).
    Set {
        /// FIELD=VALUE pairs, e.g. alive_period_ms=2000 services_timeout_s=default.
        #[arg(required = true)]
        changes: Vec<String>,
        #[command(flatten)]
        wait: PushWait,
    },
    /// Push the same settings again under a new generation (every agent re-applies them).
    Push {
        #[command(flatten)]
        wait: PushWait,
    },
}

pub fn run(args: NodeConfigArgs) -> anyhow::Result<()> {
    finish(run_async(&args.api.clone(), node_config(args)))
}

/// `FIELD=VALUE` pairs as the PATCH body; a bad pair is a usage error naming it.
fn patch_body(changes: &[String]) -> Result<Value, CliError> {
    let mut body = Map::new();
    for c in changes {
        let Some((field, value)) = c.split_once('=') else {
            return Err(CliError::Usage(format!(
                "'{c}' is not FIELD=VALUE (e.g. alive_period_ms=2000)"
            )));
        };
        NodeSettings::field(field).map_err(CliError::Usage)?;
        let v = if value == "default" {
            Value::Null
        } else {
            match value.parse::<u32>() {
                Ok(n) if n > 0 => Value::from(n),
                _ => {
                    return Err(CliError::Usage(format!(
                        "{field}={value}: the value must be a positive whole number or 'default'"
                    )))
                }
            }
        };
        body.insert(field.to_string(), v);
    }
    Ok(Value::Object(body))
}

async fn node_config(args: NodeConfigArgs) -> Result<(), CliError> {
    let api = ApiClient::new(&args.api.url, args.api.token.as_deref())?;
    let (body, wait) = match args.command {
        NodeConfigCommand::Show => {
            let body = api.get("/v1/node-settings").await?;
            return print(&body, args.api.json);
        }
        NodeConfigCommand::Set { changes, wait } => (patch_body(&changes)?, wait),
        NodeConfigCommand::Push { wait } => (Value::Object(Map::new()), wait),
    };
    let body = api
        .send(reqwest::Method::PATCH, "/v1/node-settings", &body)
        .await?;
    let generation = body["generation"].as_u64().unwrap_or(0);
    if !wait.wait {
        if !args.api.json {
            println!("node settings generation {generation} pushed to every agent");
        }
        return print(&body, args.api.json);
    }
    follow(&api, generation, &wait, args.api.json).await
}

/// Poll until every host runs `generation` or refused it, printing the count as it changes.
async fn follow(
    api: &ApiClient,
    generation: u64,
    wait: &PushWait,
    json_out: bool,
) -> Result<(), CliError> {
    let deadline = Instant::now() + Duration::from_secs(wait.timeout);
    let mut last = String::new();
    loop {
        let body = api.get("/v1/node-settings").await?;
        let hosts = body["hosts"].as_array().cloned().unwrap_or_default();
        let count = |s: &str| hosts.iter().filter(|h| h["state"] == s).count();
        let (done, refused) = (count("in-sync"), count("refused"));
        let line = format!(
            "generation {generation}: {done}/{} hosts in sync, {refused} refused",
            hosts.len()
        );
        if line != last && !json_out {
            eprintln!("{line}");
            last = line;
        }
        if done + refused == hosts.len() {
            print(&body, json_out)?;
            if refused > 0 {
                return Err(CliError::Failed(format!(
                    "{refused} host(s) refused node settings generation {generation}; `steward node-config show` gives their reasons"
                )));
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            print(&body, json_out)?;
            return Err(CliError::Failed(format!(
                "not every host runs generation {generation} after {} s; agents that are down catch up when they report again",
                wait.timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn print(body: &Value, json_out: bool) -> Result<(), CliError> {
    if json_out {
        return print_json(body);
    }
    println!("generation: {}", text(&body["generation"]));
    for f in NodeSettings::FIELDS.map(|f| f.name) {
        let v = match &body[f] {
            Value::Null => "(node's own configuration)".to_string(),
            v => text(v),
        };
        println!("{f}: {v}");
    }
    let cols = ["hostname", "generation", "state", "refused"];
    print_table(&cols, &rows(&body["hosts"], &cols));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_become_the_patch_and_bad_pairs_are_usage_errors() {
        let b = patch_body(&[
            "alive_period_ms=2000".into(),
            "services_timeout_s=default".into(),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b["alive_period_ms"], 2000);
        assert!(b["services_timeout_s"].is_null());
        for bad in [
            "alive_period_ms",
            "nope=1",
            "alive_period_ms=-1",
            "alive_period_ms=0",
        ] {
            let e = patch_body(&[bad.to_string()]);
            assert!(matches!(e, Err(CliError::Usage(_))), "{bad}");
        }
    }
}
