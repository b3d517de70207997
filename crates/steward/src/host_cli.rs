//! `steward host …`, `steward alarm list`, `steward event list`: the operator CLI over the REST API
//! (`crates/api`). Tables by default, `--json` for the API's own JSON; `--wait` follows an action
//! through `GET /v1/actions/{id}` and prints the host's task line as it changes.

use crate::api_client::{ApiClient, CliError};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

pub const EXIT_CODES: &str = "\
Exit status:
  0  success (with --wait: the action completed)
  1  the API refused the request (admission refusal, unknown host, bad value, bad token) or the
     action ended failed or superseded; the reason is printed
  2  usage error (bad arguments, bad --url)
  3  cannot reach the API (nothing listening at --url, connection refused, timeout)

The API is found at --url or STEWARD_URL (default http://127.0.0.1:6385); the bearer token is
--token or STEWARD_TOKEN (the controller writes it to <data-dir>/api.token; in lab mode loopback
clients need none).";

/// Where the API is and how to print.
#[derive(Args, Clone, Debug)]
pub struct ApiArgs {
    /// Base URL of the steward API.
    #[arg(
        long,
        env = "STEWARD_URL",
        default_value = "http://127.0.0.1:6385",
        global = true
    )]
    pub url: String,
    /// Bearer token (the content of <data-dir>/api.token).
    #[arg(long, env = "STEWARD_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the API's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct HostArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: HostCommand,
}

/// Following an action.
#[derive(Args, Clone, Debug)]
pub struct ActionArgs {
    /// Hostname, uuid or integer id.
    pub host: String,
    /// Follow the action until it ends, printing the task line as it changes; exit 1 if it fails.
    #[arg(long)]
    pub wait: bool,
    /// With --wait: give up after this many seconds (exit 1; the action goes on).
    #[arg(long, default_value_t = 3600)]
    pub timeout: u64,
}

// Parsed once per process from the command line: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum HostCommand {
    /// List the hosts with their administrative, operational and availability states.
    List,
    /// Show one host (by hostname, uuid or integer id).
    Show { host: String },
    /// Provision a host: it is added locked, as a new install.
    Add {
        /// The host's name (letters, digits, '-').
        hostname: String,
        /// controller, worker (or compute), storage.
        #[arg(long)]
        personality: String,
        #[arg(long)]
        mgmt_ip: Option<String>,
        #[arg(long)]
        mgmt_mac: Option<String>,
        #[arg(long)]
        cluster_ip: Option<String>,
        /// The host's pxeboot address: alive reports and reboots also travel there.
        #[arg(long)]
        pxeboot_ip: Option<String>,
        /// BMC protocol: dynamic (or bmc), ipmi, redfish.
        #[arg(long)]
        bm_type: Option<String>,
        #[arg(long)]
        bm_ip: Option<String>,
        #[arg(long)]
        bm_username: Option<String>,
        /// A file holding the BMC password (stored encrypted by the controller; never shown).
        #[arg(long)]
        bm_password_file: Option<PathBuf>,
        /// The installer image URL (http or https) a Redfish BMC mounts for a reinstall.
        #[arg(long)]
        install_image: Option<String>,
        /// How a reinstall reaches the host: virtual-media, pxe or agent (default: by BMC type).
        #[arg(long)]
        install_method: Option<String>,
    },
    /// Change a host's install settings ("" puts back the configured default).
    Modify {
        /// Hostname, uuid or integer id.
        host: String,
        /// The installer image URL (http or https) a Redfish BMC mounts for a reinstall.
        #[arg(long)]
        install_image: Option<String>,
        /// virtual-media, pxe or agent.
        #[arg(long)]
        install_method: Option<String>,
    },
    /// Delete a host (the `delete` action; the host must be locked).
    Delete(ActionArgs),
    /// Lock: take the host out of service gracefully.
    Lock(ActionArgs),
    /// Unlock: bring the host into service.
    Unlock(ActionArgs),
    /// Force-lock: lock even when a graceful lock is refused (reboots the host).
    ForceLock(ActionArgs),
    /// Reboot a locked host.
    Reboot(ActionArgs),
    /// Reset a locked host through its BMC.
    Reset(ActionArgs),
    /// Power a locked host on through its BMC.
    PowerOn(ActionArgs),
    /// Power a locked host off through its BMC.
    PowerOff(ActionArgs),
    /// Reinstall a locked host.
    Reinstall(ActionArgs),
    /// Swact: hand the active controller role to the other controller.
    Swact(ActionArgs),
    /// Force-swact: swact even when the standby is not ready.
    ForceSwact(ActionArgs),
}

#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct AlarmArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: AlarmCommand,
}

#[derive(Subcommand, Debug)]
pub enum AlarmCommand {
    /// The active alarms.
    List,
}

#[derive(Args, Debug)]
#[command(after_long_help = EXIT_CODES)]
pub struct EventArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: EventCommand,
}

#[derive(Subcommand, Debug)]
pub enum EventCommand {
    /// The newest customer-log events, oldest first.
    List {
        /// How many events.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// Run `steward host …`; exits the process with the documented status on failure.
pub fn run_host(args: HostArgs) -> anyhow::Result<()> {
    finish(run_async(&args.api.clone(), host(args)))
}

pub fn run_alarm(args: AlarmArgs) -> anyhow::Result<()> {
    finish(run_async(&args.api.clone(), alarm(args)))
}

pub fn run_event(args: EventArgs) -> anyhow::Result<()> {
    finish(run_async(&args.api.clone(), event(args)))
}

pub(crate) fn finish(result: Result<(), CliError>) -> anyhow::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(e.exit_code());
        }
    }
}

pub(crate) fn run_async<F>(_api: &ApiArgs, fut: F) -> Result<(), CliError>
where
    F: std::future::Future<Output = Result<(), CliError>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(format!("cannot start the async runtime: {e}")))?;
    rt.block_on(fut)
}

async fn host(args: HostArgs) -> Result<(), CliError> {
    let api = ApiClient::new(&args.api.url, args.api.token.as_deref())?;
    let json_out = args.api.json;
    let (action, a) = match args.command {
        HostCommand::List => {
            let body = api.get("/v1/ihosts").await?;
            if json_out {
                return print_json(&body);
            }
            let cols = [
                "hostname",
                "personality",
                "administrative",
                "operational",
                "availability",
                "uptime",
                "task",
            ];
            let rows: Vec<Vec<String>> = body["ihosts"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|h| {
                    cols.iter()
                        .map(|k| match *k {
                            "uptime" => uptime(&h["uptime"]),
                            _ => text(&h[*k]),
                        })
                        .collect()
                })
                .collect();
            print_table(&cols, &rows);
            return Ok(());
        }
        HostCommand::Show { host } => {
            let body = api.get(&format!("/v1/ihosts/{}", seg(&host))).await?;
            if json_out {
                return print_json(&body);
            }
            print_object(&body);
            print_inventory(&api, &host).await;
            return Ok(());
        }
        HostCommand::Add {
            hostname,
            personality,
            mgmt_ip,
            mgmt_mac,
            cluster_ip,
            pxeboot_ip,
            bm_type,
            bm_ip,
            bm_username,
            bm_password_file,
            install_image,
            install_method,
        } => {
            let password = match bm_password_file {
                Some(p) => Some(
                    std::fs::read_to_string(&p)
                        .map_err(|e| {
                            CliError::Usage(format!(
                                "cannot read --bm-password-file {}: {e}",
                                p.display()
                            ))
                        })?
                        .trim_end_matches(['\r', '\n'])
                        .to_string(),
                ),
                None => None,
            };
            let mut body = json!({ "hostname": hostname, "personality": personality });
            for (k, v) in [
                ("mgmt_ip", mgmt_ip),
                ("mgmt_mac", mgmt_mac),
                ("cluster_ip", cluster_ip),
                ("pxeboot_ip", pxeboot_ip),
                ("bm_type", bm_type),
                ("bm_ip", bm_ip),
                ("bm_username", bm_username),
                ("bm_password", password),
                ("install_image", install_image),
                ("install_method", install_method),
            ] {
                if let Some(v) = v {
                    body[k] = Value::String(v);
                }
            }
            let rec = api.send(reqwest::Method::POST, "/v1/ihosts", &body).await?;
            if json_out {
                return print_json(&rec);
            }
            print_object(&rec);
            return Ok(());
        }
        HostCommand::Modify {
            host,
            install_image,
            install_method,
        } => {
            let ops: Vec<Value> = [
                ("/install_image", install_image),
                ("/install_method", install_method),
            ]
            .into_iter()
            .filter_map(|(path, v)| v.map(|v| json!({ "op": "replace", "path": path, "value": v })))
            .collect();
            if ops.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change; give --install-image URL and/or --install-method METHOD"
                        .into(),
                ));
            }
            let path = format!("/v1/ihosts/{}", seg(&host));
            let rec = api
                .send(reqwest::Method::PATCH, &path, &Value::Array(ops))
                .await?;
            if json_out {
                return print_json(&rec);
            }
            print_object(&rec);
            return Ok(());
        }
        HostCommand::Delete(a) => ("delete", a),
        HostCommand::Lock(a) => ("lock", a),
        HostCommand::Unlock(a) => ("unlock", a),
        HostCommand::ForceLock(a) => ("force-lock", a),
        HostCommand::Reboot(a) => ("reboot", a),
        HostCommand::Reset(a) => ("reset", a),
        HostCommand::PowerOn(a) => ("power-on", a),
        HostCommand::PowerOff(a) => ("power-off", a),
        HostCommand::Reinstall(a) => ("reinstall", a),
        HostCommand::Swact(a) => ("swact", a),
        HostCommand::ForceSwact(a) => ("force-swact", a),
    };
    let path = format!("/v1/ihosts/{}", seg(&a.host));
    let accepted = if action == "delete" {
        api.send(reqwest::Method::DELETE, &path, &Value::Null)
            .await?
    } else {
        let patch = json!([{ "op": "replace", "path": "/action", "value": action }]);
        api.send(reqwest::Method::PATCH, &path, &patch).await?
    };
    let id = accepted["action_id"].as_u64().ok_or_else(|| {
        CliError::Failed(format!(
            "the API accepted {action} but returned no action_id: {accepted}"
        ))
    })?;
    let name = text(&accepted["hostname"]);
    if !a.wait {
        if json_out {
            return print_json(&accepted);
        }
        println!(
            "{name}: {action} accepted (action {id}); follow it with `steward host show {name}` or --wait"
        );
        return Ok(());
    }
    follow(
        &api,
        id,
        &name,
        action,
        Duration::from_secs(a.timeout),
        json_out,
    )
    .await
}

/// Poll the action and the host until the action ends; print the task line as it changes.
async fn follow(
    api: &ApiClient,
    id: u64,
    name: &str,
    action: &str,
    timeout: Duration,
    json_out: bool,
) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_line = String::new();
    loop {
        let status = api.get(&format!("/v1/actions/{id}")).await?;
        let host = api
            .get_optional(&format!("/v1/ihosts/{}", seg(name)))
            .await?;
        let states = host
            .as_ref()
            .map(state_line)
            .unwrap_or_else(|| "deleted".into());
        let state = text(&status["state"]);
        if state == "running" {
            let task = host.as_ref().map(|h| text(&h["task"])).unwrap_or_default();
            let mut line = if task.is_empty() {
                format!("{name}: {states}")
            } else {
                format!("{name}: {states}  task: {task}")
            };
            // A reinstall also shows sysinv's install state (docs/handlers.md#reinstall).
            if let Some(h) = host.as_ref().filter(|_| action == "reinstall") {
                if let Some(st) = h["install_state"].as_str() {
                    line.push_str(&format!("  install_state: {st}"));
                }
            }
            if line != last_line && !json_out {
                println!("{line}");
                last_line = line;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(CliError::Failed(format!(
                    "{name}: {action} (action {id}) still running after {}s; it goes on in the controller",
                    timeout.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        if state == "completed" && action == "power-on" {
            // The action ends when the BMC reads back "on"; the operator waits for a host that
            // is back: keep following until its agent speaks (online) or the time is up.
            let host = wait_booted(api, name, deadline, json_out).await?;
            if json_out {
                print_json(&json!({ "action": status, "ihost": host }))?;
            } else {
                let states = host.as_ref().map(state_line).unwrap_or_default();
                println!("{name}: {action} {state}, host booted: {states}");
            }
            return Ok(());
        }
        if json_out {
            print_json(&json!({ "action": status, "ihost": host }))?;
        } else {
            println!("{name}: {action} {state}: {states}");
        }
        return match state.as_str() {
            "completed" => Ok(()),
            _ => Err(CliError::Failed(format!(
                "{name}: {action} {state}: {}",
                status["reason"].as_str().unwrap_or("no reason given")
            ))),
        };
    }
}

/// After a power-on: poll until the host is no longer offline (its agent reports), printing the state
/// as it changes.
async fn wait_booted(
    api: &ApiClient,
    name: &str,
    deadline: tokio::time::Instant,
    json_out: bool,
) -> Result<Option<Value>, CliError> {
    let mut last = String::new();
    loop {
        let host = api
            .get_optional(&format!("/v1/ihosts/{}", seg(name)))
            .await?;
        let Some(h) = &host else { return Ok(None) };
        if text(&h["availability"]) != "offline" && text(&h["availability"]) != "power-off" {
            return Ok(host);
        }
        let line = format!("{name}: {}  (powered on, booting)", state_line(h));
        if line != last && !json_out {
            println!("{line}");
            last = line;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::Failed(format!(
                "{name}: powered on, but its agent has not reported yet (still offline); check its console or `steward host show {name}`"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn state_line(h: &Value) -> String {
    format!(
        "{}-{}-{}",
        text(&h["administrative"]),
        text(&h["operational"]),
        text(&h["availability"])
    )
}

async fn alarm(args: AlarmArgs) -> Result<(), CliError> {
    let api = ApiClient::new(&args.api.url, args.api.token.as_deref())?;
    let AlarmCommand::List = args.command;
    let body = api.get("/v1/alarms").await?;
    if args.api.json {
        return print_json(&body);
    }
    let cols = ["alarm_id", "entity_instance_id", "severity", "reason_text"];
    print_table(&cols, &rows(&body["alarms"], &cols));
    Ok(())
}

async fn event(args: EventArgs) -> Result<(), CliError> {
    let api = ApiClient::new(&args.api.url, args.api.token.as_deref())?;
    let EventCommand::List { limit } = args.command;
    let body = api.get(&format!("/v1/events?limit={limit}")).await?;
    if args.api.json {
        return print_json(&body);
    }
    let cols = [
        "timestamp",
        "event_log_id",
        "entity_instance_id",
        "severity",
        "reason_text",
    ];
    print_table(&cols, &rows(&body["events"], &cols));
    Ok(())
}

pub(crate) fn rows(list: &Value, cols: &[&str]) -> Vec<Vec<String>> {
    list.as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|o| cols.iter().map(|k| text(&o[*k])).collect())
        .collect()
}

/// A path segment: hostnames and uuids need no escaping, anything else is refused by the API anyway.
pub(crate) fn seg(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32 & 0xff)
            }
        })
        .collect()
}

pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn print_json(v: &Value) -> Result<(), CliError> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
    Ok(())
}

/// Columns padded to the widest cell.
/// Seconds as `3d04h`, `2h05m`, `4m10s` or `12s`; `-` when the host has not reported.
fn uptime(v: &Value) -> String {
    let Some(s) = v.as_u64().filter(|s| *s > 0) else {
        return "-".into();
    };
    let (d, h, m) = (s / 86_400, s / 3600 % 24, s / 60 % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{:02}s", s % 60)
    } else {
        format!("{s}s")
    }
}

/// The hardware the host's agent reported, if the controller has it (silently nothing otherwise:
/// `host show` must work for hosts that never booted).
async fn print_inventory(api: &ApiClient, host: &str) {
    let base = format!("/v1/ihosts/{}", seg(host));
    let Ok(cpus) = api.get(&format!("{base}/icpus")).await else {
        return;
    };
    let cpus = cpus["icpus"].as_array().cloned().unwrap_or_default();
    let cores: std::collections::BTreeSet<(u64, u64)> = cpus
        .iter()
        .map(|c| {
            (
                c["numa_node"].as_u64().unwrap_or(0),
                c["core"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let model = cpus
        .first()
        .map(|c| text(&c["cpu_model"]))
        .unwrap_or_default();
    println!("inventory:");
    println!(
        "  cpus           {} logical, {} cores  {model}",
        cpus.len(),
        cores.len()
    );
    if let Ok(m) = api.get(&format!("{base}/imemorys")).await {
        for m in m["imemorys"].as_array().cloned().unwrap_or_default() {
            println!(
                "  memory         {} MiB total, {} MiB available",
                text(&m["memtotal_mib"]),
                text(&m["memavail_mib"])
            );
        }
    }
    if let Ok(d) = api.get(&format!("{base}/idisks")).await {
        for d in d["idisks"].as_array().cloned().unwrap_or_default() {
            println!(
                "  disk           {} {} MiB {} serial {}",
                text(&d["device_node"]),
                text(&d["size_mib"]),
                text(&d["device_type"]),
                text(&d["serial_id"])
            );
        }
    }
    if let Ok(p) = api.get(&format!("{base}/ports")).await {
        for p in p["ports"].as_array().cloned().unwrap_or_default() {
            println!(
                "  port           {} {} {} Mb/s link {}",
                text(&p["name"]),
                text(&p["mac"]),
                text(&p["speed"]),
                if p["link_up"].as_bool() == Some(true) {
                    "up"
                } else {
                    "down"
                }
            );
        }
    }
}

pub(crate) fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// A two-column table of an object's fields, in the API's order.
fn print_object(v: &Value) {
    let Some(map) = v.as_object() else {
        println!("{v}");
        return;
    };
    let rows: Vec<Vec<String>> = map.iter().map(|(k, v)| vec![k.clone(), text(v)]).collect();
    print_table(&["field", "value"], &rows);
}
