//! `steward collect HOST…`: a support bundle of what the controller knows about some hosts, read
//! through the REST API, as one `.tar.gz` with a manifest. Per host: the record, its active alarms,
//! its customer-log events, its hardware inventory and its BMC settings; for the cluster: the node
//! settings. What the API does not serve (SEL, sensor readings, the node's own files) is listed in
//! the manifest as missing, with why, rather than left out in silence.
//!
//! Secrets are redacted before anything is written: any JSON value under a key naming a password,
//! secret, token or key is replaced, and the API token itself is blanked wherever it appears.

use crate::api_client::{ApiClient, CliError};
use crate::host_cli::{finish, run_async, ApiArgs};
use clap::Args;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
// The same rule as the node's bundle: one list of secret names for both.
use steward_node::collect::{secret_key, REDACTED};

#[derive(Args, Debug)]
pub struct CollectArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// The hosts to collect (hostname, uuid or integer id).
    #[arg(required = true)]
    pub hosts: Vec<String>,
    /// The bundle to write [default: steward-collect-<UTC time>.tar.gz in the current directory].
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

pub fn run(args: CollectArgs) -> anyhow::Result<()> {
    finish(run_async(&args.api.clone(), collect(args)))
}

/// `v` with every secret-named value replaced and `token` blanked inside strings.
fn redact(v: Value, token: Option<&str>) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if secret_key(&k) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redact(v, token)
                    };
                    (k, v)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| redact(v, token)).collect()),
        Value::String(s) => match token {
            Some(t) if !t.is_empty() && s.contains(t) => Value::String(s.replace(t, REDACTED)),
            _ => Value::String(s),
        },
        other => other,
    }
}

/// The bundle being written: its folder, and the manifest's entries.
struct Bundle {
    root: PathBuf,
    token: Option<String>,
    files: Vec<Value>,
    missing: Vec<Value>,
}

impl Bundle {
    fn write(&mut self, rel: &str, what: &str, body: Value) -> Result<(), CliError> {
        let text = serde_json::to_string_pretty(&redact(body, self.token.as_deref()))
            .map_err(|e| CliError::Failed(format!("cannot encode {rel}: {e}")))?;
        let path = self.root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, format!("{text}\n"))
            .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
        self.files
            .push(json!({ "path": rel, "what": what, "bytes": text.len() + 1 }));
        Ok(())
    }

    fn missing(&mut self, what: &str, why: &str) {
        self.missing.push(json!({ "what": what, "why": why }));
    }
}

fn utc_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Days since the epoch to a civil date (H. Hinnant's algorithm).
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

async fn collect(args: CollectArgs) -> Result<(), CliError> {
    let api = ApiClient::new(&args.api.url, args.api.token.as_deref())?;
    let name = format!("steward-collect-{}", utc_stamp());
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.tar.gz")));
    let work = tempfile::tempdir()
        .map_err(|e| CliError::Failed(format!("cannot make a working folder: {e}")))?;
    let mut bundle = Bundle {
        root: work.path().join(&name),
        token: args.api.token.clone(),
        files: Vec::new(),
        missing: Vec::new(),
    };
    let alarms = api.get("/v1/alarms").await?;
    let events = api.get("/v1/events?limit=10000").await?;
    let mut collected = Vec::new();
    for id in &args.hosts {
        let Some(host) = api
            .get_optional(&format!("/v1/ihosts/{}", urlencode(id)))
            .await?
        else {
            return Err(CliError::Failed(format!(
                "host '{id}' not found; `steward host list` shows the known hosts"
            )));
        };
        let hostname = host["hostname"].as_str().unwrap_or(id).to_string();
        collect_host(&api, &mut bundle, &hostname, host, &alarms, &events).await?;
        collected.push(hostname);
    }
    match api.get_optional("/v1/node-settings").await? {
        Some(s) => bundle.write(
            "controller/node-settings.json",
            "node settings pushed to every agent",
            s,
        )?,
        None => bundle.missing("node settings", "the API does not serve /v1/node-settings"),
    }
    let manifest = json!({
        "bundle": name,
        "created": utc_stamp(),
        "api": args.api.url,
        "hosts": collected,
        "files": bundle.files,
        "missing": bundle.missing,
        "redaction": "values under keys naming a password, secret, token or key, and the API token, are replaced by <redacted>",
    });
    bundle.write("MANIFEST.json", "this manifest", manifest)?;
    tar(work.path(), &name, &output)?;
    println!(
        "{}: {} files for {} ({} missing, listed in MANIFEST.json)",
        output.display(),
        bundle.files.len(),
        collected.join(", "),
        bundle.missing.len()
    );
    Ok(())
}

async fn collect_host(
    api: &ApiClient,
    bundle: &mut Bundle,
    hostname: &str,
    host: Value,
    alarms: &Value,
    events: &Value,
) -> Result<(), CliError> {
    let dir = format!("controller/hosts/{hostname}");
    let of_host = |list: &Value, key: &str| -> Value {
        Value::Array(
            list[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|a| a["hostname"] == hostname)
                .cloned()
                .collect(),
        )
    };
    let bmc = json!({
        "bm_type": host["bm_type"],
        "bm_ip": host["bm_ip"],
        "bm_username": host["bm_username"],
    });
    bundle.write(
        &format!("{dir}/ihost.json"),
        "the host's record (states, task, action, addresses)",
        host,
    )?;
    bundle.write(
        &format!("{dir}/bmc.json"),
        "the host's BMC settings (the password is never served)",
        bmc,
    )?;
    bundle.write(
        &format!("{dir}/alarms.json"),
        "the host's active alarms",
        of_host(alarms, "alarms"),
    )?;
    bundle.write(
        &format!("{dir}/events.json"),
        "the host's customer-log events, oldest first",
        of_host(events, "events"),
    )?;
    for part in ["icpus", "imemorys", "inodes", "idisks", "ports"] {
        let path = format!("/v1/ihosts/{}/{part}", urlencode(hostname));
        match api.get_optional(&path).await {
            Ok(Some(v)) => bundle.write(
                &format!("{dir}/{part}.json"),
                "hardware inventory the node agent reported",
                v,
            )?,
            Ok(None) => bundle.missing(&format!("{hostname} {part}"), "not reported (404)"),
            Err(e) => bundle.missing(&format!("{hostname} {part}"), &e.to_string()),
        }
    }
    for what in ["SEL", "sensor readings"] {
        bundle.missing(
            &format!("{hostname} {what}"),
            "the controller's API does not serve it; `steward bmc` reads it from the BMC directly",
        );
    }
    bundle.missing(
        &format!("{hostname} node files (logs, agent state, lock flags)"),
        "gathered on the node itself; not part of this bundle",
    );
    Ok(())
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `tar -czf output -C dir name`: one compressed archive of the bundle's folder.
fn tar(dir: &Path, name: &str, output: &Path) -> Result<(), CliError> {
    let output = std::path::absolute(output)
        .map_err(|e| CliError::Failed(format!("bad output path {}: {e}", output.display())))?;
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&output)
        .arg("-C")
        .arg(dir)
        .arg(name)
        .status()
        .map_err(|e| CliError::Failed(format!("cannot run tar: {e}")))?;
    if !status.success() {
        return Err(CliError::Failed(format!(
            "tar could not write {} ({status})",
            output.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_keys_at_any_depth_and_the_token_in_text() {
        let v = json!({
            "bm_password": "hunter2",
            "nested": [{"api_key": "k", "name": "worker-0"}],
            "note": "sent with token abc123",
            "bm_username": "admin",
            "keyless": null,
        });
        let r = redact(v, Some("abc123"));
        assert_eq!(r["bm_password"], REDACTED);
        assert_eq!(r["nested"][0]["api_key"], REDACTED);
        assert_eq!(r["nested"][0]["name"], "worker-0");
        assert_eq!(r["note"], "sent with token <redacted>");
        assert_eq!(r["bm_username"], "admin");
        assert!(!r.to_string().contains("hunter2"));
    }
}
