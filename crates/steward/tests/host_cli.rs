//! `steward host|alarm|event` end to end: the built binary against the REST API served in this test
//! process over a real rig (`steward-testlab`: a real controller with simulated hosts running the
//! real node agent and Redfish BMC on loopback).

#[path = "../../api/tests/support/mod.rs"]
mod support;

use std::process::{Command, Output};
use support::{Lab, TOKEN};

async fn steward(lab: &Lab, args: &[&str]) -> Output {
    let url = lab.url.clone();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_steward"))
            .args(&args)
            .env("STEWARD_URL", url)
            .env("STEWARD_TOKEN", TOKEN)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn out(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_lock_with_wait_and_refusal() {
    let lab = Lab::start(false).await;

    // host list: an aligned table.
    let o = steward(&lab, &["host", "list"]).await;
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("hostname"), "{stdout}");
    let col = lines[0].find("administrative").unwrap();
    for l in &lines[1..] {
        assert_eq!(
            &l[col..col + "unlocked".len()],
            "unlocked",
            "aligned: {stdout}"
        );
    }
    assert!(
        stdout.contains("worker-0") && stdout.contains("controller-1"),
        "{stdout}"
    );

    // --json gives the API's shape.
    let o = steward(&lab, &["host", "list", "--json"]).await;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ihosts"].as_array().unwrap().len(), 3);

    // lock --wait: exit 0, the final line shows the locked state.
    let o = steward(&lab, &["host", "lock", "worker-0", "--wait"]).await;
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}{stderr}");
    let last = stdout.lines().last().unwrap();
    assert!(last.contains("locked-disabled-online"), "{stdout}");
    assert!(last.contains("completed"), "{stdout}");

    // Refused by admission: exit 1 with the core's reason.
    let o = steward(&lab, &["host", "lock", "controller-0", "--wait"]).await;
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains("Cannot lock the active controller"),
        "{stderr}"
    );

    // Unknown host: exit 1; show by name works; alarms and events list.
    let o = steward(&lab, &["host", "show", "nope"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).1.contains("not found"));
    let o = steward(&lab, &["host", "show", "worker-0"]).await;
    assert!(o.status.success());
    assert!(out(&o).0.contains("locked"));
    let o = steward(&lab, &["alarm", "list"]).await;
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stdout.contains("200.001") && stdout.contains("host=worker-0"),
        "{stdout}"
    );
    let o = steward(&lab, &["event", "list", "--limit", "500"]).await;
    let (stdout, stderr) = out(&o);
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("worker-0 lock"), "{stdout}");

    // unlock --wait back into service.
    let o = steward(&lab, &["host", "unlock", "worker-0", "--wait"]).await;
    let (stdout, stderr) = out(&o);
    assert_eq!(o.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .contains("unlocked-enabled-available"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_for_usage_unreachable_and_bad_token() {
    let lab = Lab::start(false).await;
    // 2: usage (clap) and a bad --url.
    let o = steward(&lab, &["host", "frobnicate"]).await;
    assert_eq!(o.status.code(), Some(2));
    let o = steward(&lab, &["host", "list", "--url", "not a url"]).await;
    assert_eq!(o.status.code(), Some(2), "{:?}", out(&o));
    // 3: nothing listening.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let o = steward(&lab, &["host", "list", "--url", &dead]).await;
    assert_eq!(o.status.code(), Some(3), "{:?}", out(&o));
    assert!(out(&o).1.contains("cannot reach the steward API"));
    // 1: a wrong token, with the API's message.
    let o = steward(&lab, &["host", "list", "--token", "wrong"]).await;
    assert_eq!(o.status.code(), Some(1));
    assert!(out(&o).1.contains("HTTP 401"), "{:?}", out(&o));
    // The help documents the exit codes.
    let o = steward(&lab, &["host", "--help"]).await;
    assert!(
        out(&o).0.contains("3  cannot reach the API"),
        "{}",
        out(&o).0
    );
}
