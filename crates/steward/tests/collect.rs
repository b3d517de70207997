//! `steward collect` end to end: the built binary against the REST API of a real controller with
//! simulated hosts. The bundle holds what its manifest lists — the controller's part (record,
//! alarms, events, inventory, sensors, the BMC's event log) and each host's node part, gathered
//! from a lab machine's files or over ssh (a stand-in `ssh` on the PATH that runs the command
//! here) — every part has a status, and no secret is anywhere in it, the node parts included.

#[path = "../../api/tests/support/mod.rs"]
mod support;

use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Lab, TOKEN};

const BIN: &str = env!("CARGO_BIN_EXE_steward");

/// Run `steward collect ARGS --output <dir>/bundle.tar.gz` with `env`; the extracted bundle's folder.
async fn collect(lab: &Lab, dir: &Path, args: &[&str], env: Vec<(String, String)>) -> PathBuf {
    let bundle = dir.join("bundle.tar.gz");
    let url = lab.url.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = {
        let bundle = bundle.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(BIN)
                .arg("collect")
                .args(&args)
                .arg("--output")
                .arg(&bundle)
                .env("STEWARD_URL", url)
                .env("STEWARD_TOKEN", TOKEN)
                .envs(env)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A folder of its own: `dir` may hold other folders (the ssh case's stand-in `bin`), and the
    // bundle's folder is found as the one directory there.
    let into = dir.join("extracted");
    std::fs::create_dir(&into).unwrap();
    untar(&bundle, &into)
}

/// Extract `archive` into `into`; the one folder it holds.
fn untar(archive: &Path, into: &Path) -> PathBuf {
    let x = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(x.success(), "{}", archive.display());
    std::fs::read_dir(into)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("the bundle's folder")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The manifest, after checking that every file it lists is there with its size.
fn manifest(root: &Path) -> Value {
    let manifest = read_json(&root.join("MANIFEST.json"));
    for f in manifest["files"].as_array().unwrap() {
        let path = root.join(f["path"].as_str().unwrap());
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{} listed but absent: {e}", path.display()))
            .len();
        if f["path"] != "MANIFEST.json" {
            assert_eq!(len, f["bytes"].as_u64().unwrap(), "{}", path.display());
        }
    }
    manifest
}

fn status<'a>(manifest: &'a Value, part: &str) -> &'a str {
    manifest["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["part"] == part)
        .unwrap_or_else(|| panic!("no part {part} in {manifest:#}"))["status"]
        .as_str()
        .unwrap()
}

/// Every byte under `dir`, each node part's tarball extracted too (its compressed bytes would hide
/// a secret from a grep).
fn all_bytes(dir: &Path, out: &mut Vec<u8>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_bytes(&p, out);
        } else {
            out.extend(std::fs::read(&p).unwrap());
            if p.to_string_lossy().ends_with(".tar.gz") {
                let x = tempfile::tempdir().unwrap();
                all_bytes(untar(&p, x.path()).parent().unwrap(), out);
            }
        }
    }
}

fn assert_no_secret(root: &Path, secrets: &[String]) {
    let mut all = Vec::new();
    all_bytes(root, &mut all);
    for s in secrets {
        assert!(s.len() >= 16, "{s}");
        assert!(
            !all.windows(s.len()).any(|w| w == s.as_bytes()),
            "{s} in the bundle"
        );
    }
}

/// The hex keys of worker-0's agent (derived from the rig's cluster secret as the rig does).
fn node_keys_file(dir: &Path, host: &str) -> Vec<String> {
    let secret = steward_protocol::ClusterSecret::new(steward_testlab::CLUSTER_SECRET).unwrap();
    let path = steward_simhost::lab::lab_keys_file(dir);
    steward_node::keyfile::provision(&path, &secret, host).unwrap();
    match read_json(&path) {
        Value::Object(m) => m
            .into_iter()
            .filter(|(k, _)| k != "hostname")
            .filter_map(|(_, v)| v.as_str().map(str::to_string))
            .collect(),
        other => panic!("key file {other}"),
    }
}

/// The node part of `host` in the bundle, extracted: its manifest.
fn node_manifest(root: &Path, host: &str) -> Value {
    let x = tempfile::tempdir().unwrap();
    let inner = untar(&root.join(format!("nodes/{host}.tar.gz")), x.path());
    read_json(&inner.join("MANIFEST.json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_holds_what_its_manifest_lists_and_no_secret() {
    let lab = Lab::start(false).await;
    // Something to find: worker-0 locked (an alarm and events), its sensors read.
    let id = lab
        .handle
        .request(
            "worker-0",
            steward_maintenance::action::OperatorAction::Lock,
        )
        .await
        .unwrap();
    lab.handle
        .wait(id, std::time::Duration::from_millis(20), |_| {})
        .await
        .unwrap();
    for _ in 0..600 {
        let v = lab.handle.host_sensors("worker-0").await.unwrap();
        if v.sensors.iter().any(|s| s.value.is_some()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The rig's machines are laid out as `steward lab`'s: mark it as this API's lab, and give
    // worker-0 the key file `steward lab` would (its agent's real keys).
    let rig_dir = lab.rig.dir().to_path_buf();
    std::fs::write(
        rig_dir.join(steward_simhost::lab::LAB_API_URL_FILE),
        &lab.url,
    )
    .unwrap();
    let keys = node_keys_file(&rig_dir.join("worker-0"), "worker-0");
    let mut secrets = keys.clone();
    secrets.push(steward_testlab::BMC_PASSWORD.into());
    secrets.push(TOKEN.into());

    // 1. The lab's way: the node part from the machine's files.
    let dir = tempfile::tempdir().unwrap();
    let root = collect(
        &lab,
        dir.path(),
        &["worker-0", "--lab-dir", rig_dir.to_str().unwrap()],
        Vec::new(),
    )
    .await;
    let m = manifest(&root);
    assert_eq!(m["hosts"], serde_json::json!(["worker-0"]));
    for part in [
        "worker-0 record",
        "worker-0 alarms",
        "worker-0 events",
        "worker-0 BMC settings",
        "worker-0 icpus",
        "worker-0 sensors",
        "worker-0 sensorgroups",
        "worker-0 sel",
        "worker-0 actions",
        "worker-0 node part",
        "node settings",
    ] {
        assert_eq!(status(&m, part), "collected", "{part}: {m:#}");
    }
    let h = root.join("controller/hosts/worker-0");
    let alarms = std::fs::read_to_string(h.join("alarms.json")).unwrap();
    assert!(alarms.contains("200.001"), "{alarms}");
    let sensors = read_json(&h.join("sensors.json"));
    assert_eq!(sensors["isensors"].as_array().map(Vec::len), Some(10));
    let sel = read_json(&h.join("sel.json"));
    assert!(sel["sel"].is_array(), "{sel}");
    // The lock above is in the host's action history, with how it ended.
    let actions = read_json(&h.join("actions.json"));
    assert!(
        actions["actions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["action_id"] == id.0 && a["state"] == "completed"),
        "{actions}"
    );
    let node = node_manifest(&root, "worker-0");
    assert_eq!(node["host"], "worker-0", "{node:#}");
    let node_files: Vec<&str> = node["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["path"].as_str())
        .collect();
    for f in ["lock-flags.json", "status.json", "agent-state.json"] {
        assert!(node_files.contains(&f), "{f} not in {node:#}");
    }
    assert_no_secret(&root, &secrets);

    // 2. Over ssh: a stand-in `ssh` runs the command here, where `steward-node` is the agent's
    // collect with worker-0's paths; controller-1's "host" refuses the login.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let ssh_log = dir.path().join("ssh.log");
    let script = |name: &str, text: String| {
        let p = bin.join(name);
        std::fs::write(&p, text).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    script(
        "ssh",
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\ncase \" $* \" in *\" controller-1 \"*) echo 'Permission denied (publickey).' >&2; exit 255;; esac\nfor last; do :; done\nexec sh -c \"$last\"\n",
            ssh_log.display()
        ),
    );
    let p = steward_simhost::lab::node_collect_paths(&rig_dir.join("worker-0"));
    script(
        "steward-node",
        format!(
            "#!/bin/sh\nexec '{BIN}' node \"$@\" --keys '{}' --state-dir '{}' --lock-flag '{}' --lock-flag-backup '{}' --goenabled-dir '{}' --services-dir '{}' --status-socket '{}' --unit none\n",
            p.keys.display(),
            p.state_dir.display(),
            p.lock_flag.display(),
            p.lock_flag_backup.display(),
            p.goenabled_dir.display(),
            p.services_dir.display(),
            p.status_socket.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let root = collect(
        &lab,
        dir.path(),
        &["worker-0", "controller-1", "--ssh", "--ssh-user", "maint"],
        vec![("PATH".into(), path)],
    )
    .await;
    let m = manifest(&root);
    assert_eq!(status(&m, "worker-0 node part"), "collected", "{m:#}");
    let refused = status(&m, "controller-1 node part");
    assert!(
        refused.starts_with("failed: ") && refused.contains("Permission denied"),
        "{refused}"
    );
    assert_eq!(node_manifest(&root, "worker-0")["host"], "worker-0");
    let log = std::fs::read_to_string(&ssh_log).unwrap();
    assert!(
        log.contains("-o BatchMode=yes")
            && log.contains("-l maint worker-0 -- steward-node collect --output -"),
        "{log}"
    );
    assert_no_secret(&root, &secrets);

    // 3. Not asked for, not a lab: the node part is listed as not gathered, with how to get it.
    let dir = tempfile::tempdir().unwrap();
    let root = collect(
        &lab,
        dir.path(),
        &["worker-0", "--lab-dir", dir.path().to_str().unwrap()],
        Vec::new(),
    )
    .await;
    let m = manifest(&root);
    let s = status(&m, "worker-0 node part");
    assert!(
        s.starts_with("failed: not gathered") && s.contains("--ssh"),
        "{s}"
    );
}
