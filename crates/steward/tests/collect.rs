//! `steward collect` end to end: the built binary against the REST API of a real controller with
//! simulated hosts; the bundle holds what its manifest lists, and no secret.

#[path = "../../api/tests/support/mod.rs"]
mod support;

use serde_json::Value;
use std::process::Command;
use support::{Lab, TOKEN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bundle_holds_what_its_manifest_lists_and_no_secret() {
    let lab = Lab::start(false).await;
    // Something to find: worker-0 locked (an alarm and events).
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
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.tar.gz");
    let url = lab.url.clone();
    let out = {
        let bundle = bundle.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_steward"))
                .args(["collect", "worker-0", "--output"])
                .arg(&bundle)
                .env("STEWARD_URL", url)
                .env("STEWARD_TOKEN", TOKEN)
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
    let x = Command::new("tar")
        .arg("-xzf")
        .arg(&bundle)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(x.success());
    let root = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("the bundle's folder");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("MANIFEST.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["hosts"], serde_json::json!(["worker-0"]));
    let files = manifest["files"].as_array().unwrap();
    for f in files {
        let path = root.join(f["path"].as_str().unwrap());
        let len = std::fs::metadata(&path)
            .unwrap_or_else(|e| panic!("{} listed but absent: {e}", path.display()))
            .len();
        if f["path"] != "MANIFEST.json" {
            assert_eq!(len, f["bytes"].as_u64().unwrap(), "{}", path.display());
        }
    }
    let listed = |p: &str| files.iter().any(|f| f["path"] == p);
    for p in [
        "controller/hosts/worker-0/ihost.json",
        "controller/hosts/worker-0/alarms.json",
        "controller/hosts/worker-0/events.json",
        "controller/hosts/worker-0/bmc.json",
        "controller/hosts/worker-0/icpus.json",
    ] {
        assert!(listed(p), "{p} not in {manifest:#}");
    }
    let alarms =
        std::fs::read_to_string(root.join("controller/hosts/worker-0/alarms.json")).unwrap();
    assert!(alarms.contains("200.001"), "{alarms}");
    // What the API cannot give is listed as missing, with why.
    assert!(
        manifest["missing"].to_string().contains("SEL"),
        "{manifest:#}"
    );
    // No secret anywhere in the bundle: not the BMC password, not the API token.
    let mut all = String::new();
    for f in files {
        all.push_str(&std::fs::read_to_string(root.join(f["path"].as_str().unwrap())).unwrap());
    }
    let raw = std::fs::read(&bundle).unwrap();
    for secret in [steward_testlab::BMC_PASSWORD, TOKEN] {
        assert!(!all.contains(secret), "{secret} in the bundle");
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} in the archive"
        );
    }
}
