//! The builder over a data dir, as `steward controller` runs it: what it keeps there, and what a
//! restart over the same dir finds again.

use std::net::SocketAddr;
use steward_maintenance::config::Config;
use steward_wiring::{ApiOptions, ControllerBuilder, Running, Storage, CLUSTER_SECRET_FILE};

async fn start(dir: &std::path::Path, lab: Option<u32>) -> Running {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut b = ControllerBuilder::new(
        "controller-0",
        Config::default(),
        Storage::DataDir(dir.to_path_buf()),
        loopback,
    );
    if let Some(scale) = lab {
        b = b.lab(scale);
    }
    b.heartbeat_port = 0;
    b.api = Some(ApiOptions {
        listener: tokio::net::TcpListener::bind(loopback).await.unwrap(),
        auth: None,
    });
    b.start().await.unwrap()
}

async fn status(url: &str, token: Option<&str>) -> u16 {
    let mut req = reqwest::Client::new().get(format!("{url}/v1/ihosts"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_controller_keeps_its_keys_and_takes_a_new_epoch_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = start(dir.path(), None).await;
    for kept in ["store", CLUSTER_SECRET_FILE, steward_api::TOKEN_FILE] {
        assert!(
            dir.path().join(kept).exists(),
            "{kept} is not in the data dir"
        );
    }
    let api = first.api.as_ref().unwrap();
    let (url, token) = (api.url.clone(), api.token.clone());
    assert!(!token.is_empty());
    assert_eq!(status(&url, Some(&token)).await, 200);
    // Not lab mode: loopback clients need the token like any other.
    assert_eq!(status(&url, None).await, 401);
    let epoch = first.handle.epoch();
    let node_key = first.secret.node_key("worker-0");
    first.shutdown().await;

    let second = start(dir.path(), None).await;
    assert_eq!(
        second.handle.epoch(),
        epoch + 1,
        "a restart fences the previous run"
    );
    assert_eq!(
        second.api.as_ref().unwrap().token,
        token,
        "the API token is kept"
    );
    assert_eq!(
        second.secret.node_key("worker-0"),
        node_key,
        "the cluster secret is kept: the nodes' keys derive from it"
    );
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lab_mode_lets_loopback_clients_in_without_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), Some(20)).await;
    let url = running.api.as_ref().unwrap().url.clone();
    assert_eq!(status(&url, None).await, 200);
    running.shutdown().await;
}
