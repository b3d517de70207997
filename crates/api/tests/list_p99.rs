//! Benchmark hook (BENCHMARKS.md: `GET /v1/ihosts` with 5,000 hosts, p99 < 50 ms). Ignored by
//! default: `cargo test --release -p steward-api --test list_p99 -- --ignored --nocapture`.

use std::sync::Arc;
use std::time::{Duration, Instant};
use steward_api::Auth;
use steward_maintenance::host::HostRecord;
use steward_maintenance::state::SystemType;
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{machineless_host, LabSpec, TestLab};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run with --ignored --nocapture"]
async fn list_5000_hosts_p99() {
    // The real controller and links with no machines: the benchmark measures listing records, so
    // the 5,000 hosts are records only (new installs, locked; nothing is expected of them).
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let spec = LabSpec {
        hosts: Vec::new(),
        ..LabSpec::standard()
    };
    let rig = TestLab::start(store, SecretBox::from_key([7; 32]), spec).await;
    let handle = rig.handle.clone();
    for i in 0..5000u32 {
        let spec = machineless_host(&format!("worker-{i}"), i);
        handle
            .add_host(HostRecord::new_install(spec, SystemType::Standard))
            .await
            .unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/ihosts", listener.local_addr().unwrap());
    tokio::spawn(steward_api::serve(
        listener,
        handle,
        Auth {
            tokens: vec![],
            loopback_without_token: true,
        },
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut samples = Vec::new();
    let mut size = 0;
    for _ in 0..200 {
        let t = Instant::now();
        let body = client
            .get(&url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        samples.push(t.elapsed());
        assert!(body.len() > 5000 * 100);
        size = body.len();
    }
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "GET /v1/ihosts, 5,000 hosts, 200 requests of {} bytes: p50 {:?}, p99 {:?}, max {:?} (target p99 < 50 ms)",
        size,
        p(0.50),
        p(0.99),
        samples[samples.len() - 1]
    );
    rig.shutdown().await;
}
