//! `/metrics` after real events on the test rig (a real controller, simulated machines with their
//! agents and Redfish BMCs, timers 50× faster): an operator lock, then a host that hangs — its
//! heartbeat is lost, automatic recovery reboots it and resets it through its BMC, it comes back.
//! The scrape must show each of those as its own series: heartbeat events per network, destructive
//! operations by cause, BMC operation latency by outcome, actions accepted and their durations.

use std::sync::Arc;
use steward_api::Auth;
use steward_store::{RedbStore, Retention, SecretBox, Store};
use steward_testlab::{LabSpec, TestLab};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

async fn scrape(url: &str) -> String {
    let r = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the API answers");
    assert!(r.status().is_success(), "{}", r.status());
    r.text().await.expect("a text body")
}

/// The value of the sample line that starts with `series` (name and labels), if there is one.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_and_a_heartbeat_loss_show_in_the_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store: Arc<dyn Store> =
        Arc::new(RedbStore::open(dir.path(), Retention::default()).expect("store"));
    let spec = LabSpec {
        hosts: ["controller-0", "worker-0", "worker-1"]
            .map(String::from)
            .to_vec(),
        api: Some(Auth {
            tokens: vec![TOKEN.into()],
            loopback_without_token: false,
        }),
        ..LabSpec::standard()
    };
    let rig = TestLab::start(store, SecretBox::from_key([7; 32]), spec).await;
    rig.wait_until_settled().await;
    let url = rig.api_url().expect("the rig serves the API");

    // An operator lock of worker-1, through the API.
    let r = reqwest::Client::new()
        .patch(format!("{url}/v1/ihosts/worker-1"))
        .bearer_auth(TOKEN)
        .header("Content-Type", "application/json")
        .body(r#"[{"op": "replace", "path": "/action", "value": "lock"}]"#)
        .send()
        .await
        .expect("the API answers");
    assert!(r.status().is_success(), "{}", r.status());
    rig.wait_until("worker-1 locked", |hosts| {
        hosts
            .iter()
            .any(|h| h.spec.name == "worker-1" && h.states.to_string() == "locked-disabled-online")
    })
    .await;

    // worker-0 hangs: its heartbeat is lost, it fails, recovery brings it back.
    rig.host("worker-0").hang();
    rig.wait_until("worker-0 failed", |hosts| {
        hosts
            .iter()
            .any(|h| h.spec.name == "worker-0" && h.states.to_string().ends_with("-failed"))
    })
    .await;
    rig.wait_until("worker-0 recovered", |hosts| {
        hosts.iter().any(|h| {
            h.spec.name == "worker-0"
                && h.states.to_string() == "unlocked-enabled-available"
                && h.task.is_empty()
        })
    })
    .await;

    // Sensors are read on their own schedule (soon after start on the rig): wait for worker-1's
    // (60 s is a bound on a hung rig, as the rig's own waits have, not a timing assertion).
    let cpu_temp = "steward_sensor_reading{host=\"worker-1\",sensor=\"CPU1 Temp\",kind=\"temperature\",unit=\"C\"}";
    let started = tokio::time::Instant::now();
    let text = loop {
        let text = scrape(&url).await;
        if sample(&text, cpu_temp).is_some() {
            break text;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no sensor reading:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(
        sample(&text, "steward_actions_accepted_total{action=\"lock\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "steward_heartbeat_events_total{network=\"mgmt\",event=\"loss\"}"
        ) >= Some(1.0),
        "no heartbeat loss on mgmt:\n{text}"
    );
    assert!(
        sample(
            &text,
            "steward_heartbeat_events_total{network=\"mgmt\",event=\"minor-set\"}"
        ) >= Some(1.0),
        "no missed-pulse threshold on mgmt:\n{text}"
    );
    // The hung agent cannot reboot itself: recovery resets the host through its BMC.
    assert!(
        sample(
            &text,
            "steward_destructive_operations_total{cause=\"auto-recovery\",operation=\"power-reset\"}"
        ) >= Some(1.0),
        "no BMC reset by auto-recovery:\n{text}"
    );
    assert_eq!(
        sample(
            &text,
            "steward_destructive_operations_total{cause=\"operator\""
        ),
        None,
        "a lock destroys nothing:\n{text}"
    );
    assert!(
        sample(
            &text,
            "steward_bmc_operation_seconds_count{operation=\"power-reset\",outcome=\"done\"}"
        ) >= Some(1.0),
        "no timed BMC reset:\n{text}"
    );
    assert!(
        text.contains("steward_bmc_operation_seconds_bucket{"),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "steward_action_seconds_count{action=\"lock\",outcome=\"completed\"}"
        ),
        Some(1.0),
        "the lock's duration:\n{text}"
    );
    assert!(
        sample(&text, cpu_temp).is_some_and(|c| (10.0..95.0).contains(&c)),
        "worker-1's CPU temperature:\n{text}"
    );
    assert!(text.trim_end().ends_with("# EOF"));
    every_dashboard_metric_is_served(&text);
    the_document_lists_every_served_family(&url, &text).await;
    rig.shutdown().await;
}

/// `/v1/openapi.json`'s `/metrics` entry lists exactly the families a real scrape has (after real
/// events, so each family has had its chance to show), with the same types.
async fn the_document_lists_every_served_family(url: &str, text: &str) {
    let doc: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/v1/openapi.json"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("the API answers")
        .json()
        .await
        .expect("JSON");
    let get = &doc["paths"]["/metrics"]["get"];
    let listed: std::collections::BTreeSet<(String, String)> = get["x-metric-families"]
        .as_array()
        .expect("x-metric-families")
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap_or_default().to_string(),
                f["type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let served: std::collections::BTreeSet<(String, String)> = steward_api::parse_families(text)
        .into_iter()
        .map(|f| (f.name, f.kind))
        .collect();
    assert!(served.len() >= 10, "{served:?}");
    assert_eq!(listed, served, "the document's families vs the scrape's");
    let description = get["description"].as_str().unwrap_or_default();
    for (name, _) in &served {
        assert!(
            description.contains(&format!("`{name}`")),
            "{name} not described"
        );
    }
}

/// The example Grafana dashboard (contrib/grafana/steward.json) queries only metrics the
/// controller serves: each `steward_…` name in its expressions has a `# TYPE` line in the scrape
/// (histogram and counter suffixes taken off).
fn every_dashboard_metric_is_served(text: &str) {
    const DASHBOARD: &str = include_str!("../../../contrib/grafana/steward.json");
    let doc: serde_json::Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut names = std::collections::BTreeSet::new();
    for panel in doc["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expression");
            let mut rest = expr;
            while let Some(at) = rest.find("steward_") {
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(tail.len());
                names.insert(tail[..end].to_string());
                rest = &tail[end..];
            }
        }
    }
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let family = ["_bucket", "_count", "_sum", "_total"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "the dashboard queries {name}, which /metrics does not serve:\n{text}"
        );
    }
}
