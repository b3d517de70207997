//! `steward collect HOST…`: one support bundle (`.tar.gz` with a manifest) of what the controller
//! knows about some hosts, read through the REST API, and of what each host knows about itself.
//!
//! Per host, the controller's part: the record, its active alarms, its customer-log events, its
//! hardware inventory, its BMC settings, its sensors and sensor groups (last values, statuses) and
//! its BMC's event log (SEL, read from the BMC now). The node's part is `steward node collect` run
//! on the host itself, as StarlingX's `collect` does (the node protocol's datagrams are too small to
//! carry it), its tarball put in the bundle as `nodes/<host>.tar.gz`:
//!
//! - `--ssh`: over ssh, with the system's `ssh` (`--ssh-user`, `--node-command`);
//! - `--local`: on this machine (the one host named is this machine);
//! - otherwise, when the API is a `steward lab`'s (its data dir's `api.url` names it), read from
//!   the simulated machine's files, as its agent lays them out; else not gathered, and the manifest
//!   says how to get it.
//!
//! The manifest lists every part with its status, `collected` or `failed: <reason>`, so nothing is
//! left out in silence. Secrets are redacted before anything is written: any JSON value under a key
//! naming a password, secret, token or key is replaced, and the API token itself is blanked wherever
//! it appears; the node's part redacts its own (the agent's keys never leave the key file).

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
    /// Gather each host's node part over ssh (the system's `ssh`, non-interactive: keys or an
    /// agent, no password prompt), connecting to the host by its hostname.
    #[arg(long, conflicts_with = "local")]
    pub ssh: bool,
    /// The user ssh logs in as, with --ssh [default: ssh's own choice: ~/.ssh/config, else the
    /// current user].
    #[arg(long, env = "STEWARD_SSH_USER")]
    pub ssh_user: Option<String>,
    /// What runs on the host over ssh (with --ssh); it must write the node part's tarball to
    /// standard output.
    #[arg(long, default_value = DEFAULT_NODE_COMMAND)]
    pub node_command: String,
    /// Gather the node part on this machine (`steward node collect` with the agent's default
    /// paths): the one host named is this machine.
    #[arg(long)]
    pub local: bool,
    /// A `steward lab`'s data dir: hosts of the lab serving this API get their node part from their
    /// simulated machine's files [default: the lab's default data dir].
    #[arg(long, value_name = "DIR")]
    pub lab_dir: Option<PathBuf>,
}

/// The node part over ssh: the node package's agent binary, tarball on standard output.
pub const DEFAULT_NODE_COMMAND: &str = "steward-node collect --output -";

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
    /// Every part asked for, with its status: `collected` or `failed: <reason>`.
    parts: Vec<Value>,
}

impl Bundle {
    fn write(&mut self, rel: &str, what: &str, body: Value) -> Result<(), CliError> {
        let text = serde_json::to_string_pretty(&redact(body, self.token.as_deref()))
            .map_err(|e| CliError::Failed(format!("cannot encode {rel}: {e}")))?;
        self.write_bytes(rel, what, format!("{text}\n").into_bytes())
    }

    fn write_bytes(&mut self, rel: &str, what: &str, bytes: Vec<u8>) -> Result<(), CliError> {
        let path = self.root.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        }
        std::fs::write(&path, &bytes)
            .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
        self.files
            .push(json!({ "path": rel, "what": what, "bytes": bytes.len() }));
        Ok(())
    }

    /// A part written as `rel`.
    fn collected(
        &mut self,
        part: &str,
        rel: &str,
        what: &str,
        body: Value,
    ) -> Result<(), CliError> {
        self.write(rel, what, body)?;
        self.parts
            .push(json!({ "part": part, "path": rel, "status": "collected" }));
        Ok(())
    }

    fn failed(&mut self, part: &str, why: &str) {
        let why = match self.token.as_deref() {
            Some(t) if !t.is_empty() => why.replace(t, REDACTED),
            _ => why.to_string(),
        };
        self.parts
            .push(json!({ "part": part, "status": format!("failed: {why}") }));
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
    if args.local && args.hosts.len() != 1 {
        return Err(CliError::Usage(
            "--local gathers this machine's node part: name the one host that is this machine"
                .into(),
        ));
    }
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
        parts: Vec::new(),
    };
    let node_source = NodeSource::of(&args);
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
        node_part(&node_source, &mut bundle, &hostname, work.path()).await?;
        collected.push(hostname);
    }
    match api.get_optional("/v1/node-settings").await {
        Ok(Some(s)) => bundle.collected(
            "node settings",
            "controller/node-settings.json",
            "node settings pushed to every agent",
            s,
        )?,
        Ok(None) => bundle.failed("node settings", "the API does not serve /v1/node-settings"),
        Err(e) => bundle.failed("node settings", &e.to_string()),
    }
    let failed = bundle
        .parts
        .iter()
        .filter(|p| p["status"] != "collected")
        .count();
    let manifest = json!({
        "bundle": name,
        "created": utc_stamp(),
        "api": args.api.url,
        "hosts": collected,
        "parts": bundle.parts,
        "files": bundle.files,
        "redaction": "values under keys naming a password, secret, token or key, and the API token, are replaced by <redacted>; each node part redacts its own (the agent's keys are never collected)",
    });
    bundle.write("MANIFEST.json", "this manifest", manifest)?;
    tar(work.path(), &name, &output)?;
    println!(
        "{}: {} parts for {} ({failed} failed, listed in MANIFEST.json)",
        output.display(),
        bundle.parts.len(),
        collected.join(", "),
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
    bundle.collected(
        &format!("{hostname} record"),
        &format!("{dir}/ihost.json"),
        "the host's record (states, task, action, addresses)",
        host,
    )?;
    bundle.collected(
        &format!("{hostname} BMC settings"),
        &format!("{dir}/bmc.json"),
        "the host's BMC settings (the password is never served)",
        bmc,
    )?;
    bundle.collected(
        &format!("{hostname} alarms"),
        &format!("{dir}/alarms.json"),
        "the host's active alarms (sensor alarms with their sensor entity)",
        of_host(alarms, "alarms"),
    )?;
    bundle.collected(
        &format!("{hostname} events"),
        &format!("{dir}/events.json"),
        "the host's customer-log events, oldest first",
        of_host(events, "events"),
    )?;
    let host_path = format!("/v1/ihosts/{}", urlencode(hostname));
    let parts = [
        (
            "icpus",
            "icpus",
            "hardware inventory the node agent reported",
        ),
        (
            "imemorys",
            "imemorys",
            "hardware inventory the node agent reported",
        ),
        (
            "inodes",
            "inodes",
            "hardware inventory the node agent reported",
        ),
        (
            "idisks",
            "idisks",
            "hardware inventory the node agent reported",
        ),
        (
            "ports",
            "ports",
            "hardware inventory the node agent reported",
        ),
        (
            "isensors",
            "sensors",
            "the host's sensors: last value, status, thresholds, actions",
        ),
        (
            "isensorgroups",
            "sensorgroups",
            "the host's sensor groups: actions, suppression, audit interval",
        ),
        (
            "actions",
            "actions",
            "the host's actions still in the journal: what was asked, how each ended",
        ),
        (
            "sel",
            "sel",
            "the BMC's event log (IPMI SEL or Redfish log service), read from the BMC now",
        ),
    ];
    for (route, file, what) in parts {
        let part = format!("{hostname} {file}");
        match api.get_optional(&format!("{host_path}/{route}")).await {
            Ok(Some(v)) => bundle.collected(&part, &format!("{dir}/{file}.json"), what, v)?,
            Ok(None) => bundle.failed(&part, "not reported (404)"),
            Err(e) => bundle.failed(&part, &e.to_string()),
        }
    }
    Ok(())
}

/// Where the node parts come from.
enum NodeSource {
    Ssh {
        user: Option<String>,
        command: String,
    },
    Local,
    /// The lab's data dir, when the lab serves the API collected from.
    Lab(PathBuf),
    /// None of these: the manifest says how to get it.
    NotAsked,
}

impl NodeSource {
    fn of(args: &CollectArgs) -> NodeSource {
        if args.ssh {
            return NodeSource::Ssh {
                user: args.ssh_user.clone(),
                command: args.node_command.clone(),
            };
        }
        if args.local {
            return NodeSource::Local;
        }
        let dir = args
            .lab_dir
            .clone()
            .unwrap_or_else(crate::lab_cli::default_data_dir);
        if steward_simhost::lab::lab_serves(&dir, &args.api.url) {
            NodeSource::Lab(dir)
        } else {
            NodeSource::NotAsked
        }
    }
}

/// Gather `host`'s node part from `source` into `nodes/<host>.tar.gz`, or say why not.
async fn node_part(
    source: &NodeSource,
    bundle: &mut Bundle,
    host: &str,
    work: &Path,
) -> Result<(), CliError> {
    let part = format!("{host} node part");
    let what = "the node's own part (`steward node collect`): agent state, lock flags, status, scripts, log; a tarball with its own manifest";
    let rel = format!("nodes/{host}.tar.gz");
    let got = match source {
        NodeSource::NotAsked => Err(
            "not gathered: it is collected on the host itself; pass --ssh (with --ssh-user), \
             or run `steward collect --local` on the host"
                .to_string(),
        ),
        NodeSource::Ssh { user, command } => over_ssh(host, user.as_deref(), command).await,
        NodeSource::Local => {
            let out = work.join(format!("node-{host}.tar.gz"));
            locally(&out).await
        }
        NodeSource::Lab(dir) => {
            let host_dir = dir.join(host);
            let out = work.join(format!("node-{host}.tar.gz"));
            from_lab_machine(&host_dir, &out).await
        }
    };
    match got.and_then(|bytes| checked_tarball(&bytes).map(|()| bytes)) {
        Ok(bytes) => {
            bundle.write_bytes(&rel, what, bytes)?;
            bundle
                .parts
                .push(json!({ "part": part, "path": rel, "status": "collected" }));
        }
        Err(why) => bundle.failed(&part, &why),
    }
    Ok(())
}

/// A node part is a gzip'd tarball: anything else (a shell's error text, an empty answer) is not.
fn checked_tarball(bytes: &[u8]) -> Result<(), String> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Ok(())
    } else if bytes.is_empty() {
        Err("the node command wrote nothing".into())
    } else {
        Err(format!(
            "the node command did not write a .tar.gz: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).trim()
        ))
    }
}

/// `ssh -o BatchMode=yes [-l user] host -- command`, the tarball read from its standard output.
async fn over_ssh(host: &str, user: Option<&str>, command: &str) -> Result<Vec<u8>, String> {
    let mut ssh = tokio::process::Command::new("ssh");
    ssh.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=15"]);
    if let Some(u) = user {
        ssh.arg("-l").arg(u);
    }
    ssh.arg(host)
        .arg("--")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = ssh
        .output()
        .await
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ssh {host} {command}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// `steward node collect --output <out>` on this machine, with the agent's default paths.
async fn locally(out: &Path) -> Result<Vec<u8>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find steward itself: {e}"))?;
    let run = tokio::process::Command::new(exe)
        .args(["node", "collect", "--output"])
        .arg(out)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run steward node collect: {e}"))?;
    if !run.status.success() {
        return Err(format!(
            "steward node collect: {} {}",
            run.status,
            String::from_utf8_lossy(&run.stderr).trim()
        ));
    }
    std::fs::read(out).map_err(|e| format!("{}: {e}", out.display()))
}

/// The node part of a lab machine, gathered from its files as its agent lays them out (a simulated
/// host has no sshd; its files are on this machine).
async fn from_lab_machine(host_dir: &Path, out: &Path) -> Result<Vec<u8>, String> {
    if !host_dir.is_dir() {
        return Err(format!(
            "the lab has no machine files at {}",
            host_dir.display()
        ));
    }
    let paths = steward_simhost::lab::node_collect_paths(host_dir);
    let out_path = out.to_path_buf();
    // The node's collect is blocking (files, the status socket, tar).
    tokio::task::spawn_blocking(move || steward_node::collect::collect(&paths, Some(&out_path)))
        .await
        .map_err(|e| format!("the node collect task failed: {e}"))?
        .map_err(|e| format!("{e:#}"))?;
    std::fs::read(out).map_err(|e| format!("{}: {e}", out.display()))
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
