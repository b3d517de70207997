//! Secure boot through the controller: the REST route `…/secure_boot` reaches a host's real Redfish
//! BMC (`sushy-emulator --fake`) through the BMC workers, and the host shows the state last read.

use serde_json::{json, Value};
use std::sync::Arc;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord};
use steward_maintenance::state::SystemType;
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{machineless_host, LabSpec, TestLab};

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("API answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A rig with the REST API (loopback clients without a token) and the machineless `hosts`, new
/// installs; `worker-0`'s Redfish BMC is the emulator at `bmc_address`. The rig and its API URL.
async fn lab_with_redfish_worker_0(hosts: &[&str], bmc_address: String) -> (TestLab, String) {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let spec = LabSpec {
        hosts: Vec::new(),
        in_service: false,
        api: Some(steward_api::Auth {
            tokens: Vec::new(),
            loopback_without_token: true,
        }),
        ..LabSpec::standard()
    };
    let lab = TestLab::start(store, SecretBox::from_key([7; 32]), spec).await;
    for (i, name) in hosts.iter().enumerate() {
        lab.handle
            .add_host(HostRecord::new_install(
                machineless_host(name, 10 + i as u32),
                SystemType::Standard,
            ))
            .await
            .unwrap();
    }
    let bmc = BmcSpec {
        protocol: BmcProtocol::Redfish,
        address: bmc_address,
        username: "admin".into(),
    };
    lab.handle
        .set_bmc_credentials("worker-0", bmc, "password".into())
        .await
        .unwrap();
    let api = lab.api_url().expect("API");
    (lab, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_boot_route_reads_and_changes_a_redfish_bmc() {
    if !steward_testpeers::require_sushy() {
        return;
    }
    let peer = steward_testpeers::Sushy::start();
    let (lab, api) = lab_with_redfish_worker_0(&["worker-0", "worker-1"], peer.address()).await;
    let http = reqwest::Client::new();
    let route = |h: &str| format!("{api}/v1/ihosts/{h}/secure_boot");

    // Never read: the host shows no secure_boot field.
    let (status, host) = send(http.get(format!("{api}/v1/ihosts/worker-0"))).await;
    assert_eq!(status, 200);
    assert!(host.get("secure_boot").is_none(), "{host}");

    let (status, body) = send(http.get(route("worker-0"))).await;
    assert_eq!(status, 200, "{body}\n{}", peer.log_tail());
    assert_eq!(body["secure_boot"]["enabled"], false, "{body}");
    assert_eq!(body["secure_boot"]["current_boot"], false, "{body}");
    assert_eq!(body["secure_boot"]["mode"], "DeployedMode", "{body}");

    let (status, body) = send(
        http.patch(route("worker-0"))
            .json(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["secure_boot"]["enabled"], true, "{body}");
    assert!(
        body["note"].as_str().unwrap_or("").contains("next reset"),
        "{body}"
    );
    // The host and the host list show the state last read.
    let (_, host) = send(http.get(format!("{api}/v1/ihosts/worker-0"))).await;
    assert_eq!(host["secure_boot"]["enabled"], true, "{host}");
    assert!(
        host["secure_boot"]["read_at_ms"].as_u64().unwrap_or(0) > 0,
        "{host}"
    );
    let (_, list) = send(http.get(format!("{api}/v1/ihosts"))).await;
    let hosts = list["ihosts"].as_array().expect("ihosts");
    let w0 = hosts.iter().find(|h| h["hostname"] == "worker-0").unwrap();
    let w1 = hosts.iter().find(|h| h["hostname"] == "worker-1").unwrap();
    assert_eq!(w0["secure_boot"]["enabled"], true, "{w0}");
    assert!(w1.get("secure_boot").is_none(), "{w1}");

    // The emulator really changed.
    let (_, body) = send(http.get(route("worker-0"))).await;
    assert_eq!(body["secure_boot"]["enabled"], true, "{body}");
    let (status, body) = send(
        http.patch(route("worker-0"))
            .json(&json!({"enabled": false})),
    )
    .await;
    assert_eq!(
        (status, &body["secure_boot"]["enabled"]),
        (200, &json!(false)),
        "{body}"
    );

    // No BMC: 409 naming what to provision; unknown host 404; a bad body 400.
    let (status, body) = send(http.get(route("worker-1"))).await;
    assert_eq!(status, 409, "{body}");
    assert!(body.to_string().contains("no BMC provisioned"), "{body}");
    let (status, _) = send(http.get(route("worker-9"))).await;
    assert_eq!(status, 404);
    let (status, _) = send(
        http.patch(route("worker-0"))
            .json(&json!({"enabled": "yes"})),
    )
    .await;
    assert_eq!(status, 400);
    lab.shutdown().await;
}

/// A BMC without secure boot (sushy's `vmedia` feature set answers 404 on it): 409, the request
/// cannot be served for this host, with the reason naming the BMC. A BMC that cannot be reached
/// is a 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_boot_route_refuses_a_bmc_without_it_and_reports_a_failing_one() {
    if !steward_testpeers::require_sushy() {
        return;
    }
    let peer =
        steward_testpeers::Sushy::start_with_config("SUSHY_EMULATOR_FEATURE_SET = \"vmedia\"\n");
    let (lab, api) = lab_with_redfish_worker_0(&["worker-0"], peer.address()).await;
    let http = reqwest::Client::new();
    let route = format!("{api}/v1/ihosts/worker-0/secure_boot");
    let (status, body) = send(http.get(&route)).await;
    assert_eq!(status, 409, "{body}");
    let text = body.to_string();
    assert!(
        text.contains("SecureBoot") && text.contains(&peer.address()),
        "{text}"
    );

    // A BMC address where nothing listens: the BMC failure is a 502 that says so.
    let closed = steward_testpeers::free_tcp_port();
    let dead = BmcSpec {
        protocol: BmcProtocol::Redfish,
        address: format!("http://127.0.0.1:{closed}"),
        username: "admin".into(),
    };
    lab.handle
        .set_bmc_credentials("worker-0", dead, "password".into())
        .await
        .unwrap();
    let (status, body) = send(http.get(&route)).await;
    assert_eq!(status, 502, "{body}");
    assert!(body.to_string().contains("unreachable"), "{body}");
    lab.shutdown().await;
}
