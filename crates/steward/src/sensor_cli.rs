//! `steward sensor …`: a host's hardware sensors and sensor groups through the REST API
//! (docs/sensors.md). Sensors and groups are named as the operator sees them (`"CPU1 Temp"`,
//! `"server temperature"` or just `temperature`); uuids work too.

use crate::api_client::{ApiClient, CliError};
use crate::host_cli::{finish, print_json, print_table, rows, run_async, seg, text, ApiArgs};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

#[derive(Args, Debug)]
pub struct SensorArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: SensorCommand,
}

#[derive(Subcommand, Debug)]
pub enum SensorCommand {
    /// Every sensor of a host: status, value, state, actions.
    List {
        /// Hostname, uuid or integer id.
        host: String,
    },
    /// One sensor in full.
    Show {
        host: String,
        /// Sensor name (as the BMC calls it) or uuid.
        sensor: String,
    },
    /// Change one sensor: suppression, per-severity actions overriding its group's, thresholds.
    Modify {
        host: String,
        sensor: String,
        #[command(flatten)]
        change: ActionFlags,
    },
    /// Sensor groups: list, show, modify.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Learn the host's sensors again from its next read (at once).
    Relearn { host: String },
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Every sensor group of a host.
    List { host: String },
    /// One group in full.
    Show {
        host: String,
        /// Group name (`server fans`, or its type `fan`) or uuid.
        group: String,
    },
    /// Change a group: actions per severity, suppression, the host's audit interval.
    Modify {
        host: String,
        group: String,
        #[command(flatten)]
        change: ActionFlags,
        /// Seconds between reads of the host's BMC (one value for all its groups; 10 to 86400).
        #[arg(long)]
        audit_interval: Option<u64>,
    },
}

#[derive(Args, Debug)]
pub struct ActionFlags {
    /// Monitor but take no action (alarms cleared, no degrade, no logs).
    #[arg(long)]
    suppress: Option<bool>,
    /// Action for minor readings: ignore, log, alarm.
    #[arg(long)]
    minor: Option<String>,
    /// Action for major readings: ignore, log, alarm.
    #[arg(long)]
    major: Option<String>,
    /// Action for critical readings: ignore, log, alarm, reset, power-cycle.
    #[arg(long)]
    critical: Option<String>,
}

pub fn run(args: SensorArgs) -> anyhow::Result<()> {
    finish(run_async(&args.api.clone(), sensor(args)))
}

fn replace(path: &str, value: Value) -> Value {
    json!({ "op": "replace", "path": path, "value": value })
}

/// The JSON-patch list for the flags; `suffix` is `_group` for groups.
fn patch_ops(flags: &ActionFlags, suffix: &str) -> Vec<Value> {
    let mut ops = Vec::new();
    if let Some(s) = flags.suppress {
        ops.push(replace(
            "/suppress",
            json!(if s { "True" } else { "False" }),
        ));
    }
    for (sev, v) in [
        ("minor", &flags.minor),
        ("major", &flags.major),
        ("critical", &flags.critical),
    ] {
        if let Some(a) = v {
            ops.push(replace(&format!("/actions_{sev}{suffix}"), json!(a)));
        }
    }
    ops
}

async fn find(api: &ApiClient, host: &str, what: &str, name: &str) -> Result<Value, CliError> {
    let (list_key, name_key) = match what {
        "isensors" => ("isensors", "sensorname"),
        _ => ("isensorgroups", "sensorgroupname"),
    };
    let body = api.get(&format!("/v1/ihosts/{}/{what}", seg(host))).await?;
    let list = body[list_key].as_array().cloned().unwrap_or_default();
    let wanted = name.trim().to_ascii_lowercase();
    list.into_iter()
        .find(|o| {
            text(&o["uuid"]) == name
                || text(&o[name_key]).to_ascii_lowercase() == wanted
                || (what == "isensorgroups" && text(&o["sensortype"]) == wanted)
        })
        .ok_or_else(|| {
            CliError::Failed(format!(
                "{host} has no {} {name:?}; `steward sensor {}list {host}` shows them",
                if what == "isensors" {
                    "sensor"
                } else {
                    "sensor group"
                },
                if what == "isensors" { "" } else { "group " },
            ))
        })
}

fn print_object(v: &Value) {
    if let Some(m) = v.as_object() {
        let rows: Vec<Vec<String>> = m.iter().map(|(k, v)| vec![k.clone(), text(v)]).collect();
        print_table(&["field", "value"], &rows);
    }
}

async fn sensor(args: SensorArgs) -> Result<(), CliError> {
    let api = ApiClient::new(&args.api.url, args.api.token.as_deref())?;
    let json_out = args.api.json;
    match args.command {
        SensorCommand::List { host } => {
            let body = api
                .get(&format!("/v1/ihosts/{}/isensors", seg(&host)))
                .await?;
            if json_out {
                return print_json(&body);
            }
            let cols = [
                "sensorname",
                "sensortype",
                "status",
                "value",
                "unit_base",
                "state",
                "suppress",
            ];
            print_table(&cols, &rows(&body["isensors"], &cols));
        }
        SensorCommand::Show { host, sensor } => {
            let s = find(&api, &host, "isensors", &sensor).await?;
            if json_out {
                return print_json(&s);
            }
            print_object(&s);
        }
        SensorCommand::Modify {
            host,
            sensor,
            change,
        } => {
            let s = find(&api, &host, "isensors", &sensor).await?;
            let ops = patch_ops(&change, "");
            if ops.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give --suppress, --minor, --major or --critical".into(),
                ));
            }
            let path = format!("/v1/isensors/{}", seg(&text(&s["uuid"])));
            let out = api
                .send(reqwest::Method::PATCH, &path, &Value::Array(ops))
                .await?;
            if json_out {
                return print_json(&out);
            }
            print_object(&out);
        }
        SensorCommand::Group(GroupCommand::List { host }) => {
            let body = api
                .get(&format!("/v1/ihosts/{}/isensorgroups", seg(&host)))
                .await?;
            if json_out {
                return print_json(&body);
            }
            let cols = [
                "sensorgroupname",
                "state",
                "actions_minor_group",
                "actions_major_group",
                "actions_critical_group",
                "suppress",
                "audit_interval_group",
            ];
            print_table(&cols, &rows(&body["isensorgroups"], &cols));
        }
        SensorCommand::Group(GroupCommand::Show { host, group }) => {
            let g = find(&api, &host, "isensorgroups", &group).await?;
            if json_out {
                return print_json(&g);
            }
            print_object(&g);
        }
        SensorCommand::Group(GroupCommand::Modify {
            host,
            group,
            change,
            audit_interval,
        }) => {
            let g = find(&api, &host, "isensorgroups", &group).await?;
            let mut ops = patch_ops(&change, "_group");
            if let Some(secs) = audit_interval {
                ops.push(replace("/audit_interval_group", json!(secs)));
            }
            if ops.is_empty() {
                return Err(CliError::Usage(
                    "nothing to change: give --suppress, --minor, --major, --critical or --audit-interval"
                        .into(),
                ));
            }
            let path = format!("/v1/isensorgroups/{}", seg(&text(&g["uuid"])));
            let out = api
                .send(reqwest::Method::PATCH, &path, &Value::Array(ops))
                .await?;
            if json_out {
                return print_json(&out);
            }
            print_object(&out);
        }
        SensorCommand::Relearn { host } => {
            api.send(
                reqwest::Method::POST,
                "/v1/isensorgroups/relearn",
                &json!({ "host_uuid": host }),
            )
            .await?;
            println!("{host}: sensors are learned again from the next read");
        }
    }
    Ok(())
}
