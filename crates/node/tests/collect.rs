//! `steward-node collect` against a running agent: the bundle holds what its manifest lists (and
//! nothing unlisted), the agent's state, lock flags and status are there, and none of the key
//! file's keys appears anywhere in it.

use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use steward_protocol::ClusterSecret;

struct Daemon(Child);
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn files_under(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, base, out);
        } else {
            out.push(
                p.strip_prefix(base)
                    .expect("under base")
                    .display()
                    .to_string(),
            );
        }
    }
}

#[test]
fn the_bundle_holds_what_its_manifest_lists_and_no_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let keys = d.join("node-keys.json");
    let secret = ClusterSecret::new(&[9u8; 32]).expect("secret");
    steward_node::keyfile::provision(&keys, &secret, "worker-3").expect("key file");
    let status_socket = d.join("node-status.sock");
    let notify = d.join("notify.sock");
    let ready = UnixDatagram::bind(&notify).expect("bind");
    ready
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let path_args = |c: &mut Command| {
        c.arg("--keys")
            .arg(&keys)
            .arg("--state-dir")
            .arg(d)
            .arg("--lock-flag")
            .arg(d.join("node_locked"))
            .arg("--lock-flag-backup")
            .arg(d.join("node_locked.backup"))
            .arg("--goenabled-dir")
            .arg(d.join("goenabled.d"))
            .arg("--services-dir")
            .arg(d.join("services.d"))
            .arg("--status-socket")
            .arg(&status_socket);
    };
    let mut agent = Command::new(env!("CARGO_BIN_EXE_steward-node"));
    path_args(&mut agent);
    agent
        .args(["--mgmt-bind", "127.0.0.1:0", "--heartbeat-port", "0"])
        .args([
            "--controller",
            "controller-0=127.0.0.1:9",
            "--no-goenabled-at-start",
        ])
        .env("NOTIFY_SOCKET", &notify)
        .env_remove("WATCHDOG_USEC")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut daemon = Daemon(agent.spawn().expect("start the agent"));
    // Serving once READY=1 arrives (its status socket is bound by then).
    let mut buf = [0u8; 64];
    loop {
        match ready.recv(&mut buf) {
            Ok(n) if &buf[..n] == b"READY=1" => break,
            Ok(_) => {}
            Err(_) => {
                if let Ok(Some(s)) = daemon.0.try_wait() {
                    panic!("the agent exited: {s}");
                }
            }
        }
    }

    let bundle = d.join("bundle.tar.gz");
    let mut collect = Command::new(env!("CARGO_BIN_EXE_steward-node"));
    collect.arg("collect");
    path_args(&mut collect);
    let out = collect
        .args(["--unit", "none", "--output"])
        .arg(&bundle)
        .output()
        .expect("run collect");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let x = d.join("x");
    std::fs::create_dir(&x).expect("mkdir");
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(&x)
        .status()
        .expect("tar");
    assert!(st.success());
    let root = x.join("steward-node-collect-worker-3");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("MANIFEST.json")).expect("a manifest"),
    )
    .expect("JSON");
    assert_eq!(manifest["host"], "worker-3");
    let mut listed: Vec<String> = manifest["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect();
    listed.push("MANIFEST.json".into());
    listed.sort();
    let mut present = Vec::new();
    files_under(&root, &root, &mut present);
    present.sort();
    assert_eq!(listed, present, "the manifest lists exactly the files");
    for f in [
        "agent-state.json",
        "lock-flags.json",
        "status.json",
        "scripts.json",
        "key-file.json",
    ] {
        assert!(present.iter().any(|p| p == f), "{f} missing: {present:?}");
    }
    let missing = manifest["missing"].to_string();
    assert!(
        missing.contains("agent log"),
        "the log is listed as missing: {missing}"
    );
    let flags: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("lock-flags.json")).expect("read"))
            .expect("JSON");
    // A new install is taken as locked: both flags are set.
    assert_eq!(flags["volatile"]["present"], true, "{flags}");
    assert_eq!(flags["backup"]["present"], true, "{flags}");

    // No key of the key file anywhere in the bundle.
    let key_doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&keys).expect("keys")).expect("JSON");
    let secrets: Vec<String> = ["own", "controller", "pulse"]
        .iter()
        .map(|k| key_doc[*k].as_str().expect("a hex key").to_string())
        .collect();
    for f in &present {
        let text = std::fs::read_to_string(root.join(f)).expect("text");
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{f} holds a key");
        }
    }
}
