//! The rig's REST API is the one `steward controller` serves (through `steward-wiring`): the node
//! link's sources stand behind it, and it comes back on the same address after a controller restart.

use std::sync::Arc;
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{LabSpec, TestLab};

async fn get(url: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rig_serves_the_agents_inventory_and_keeps_its_api_across_a_restart() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let secrets = || SecretBox::from_key([5; 32]);
    let spec = LabSpec {
        api: Some(steward_api::Auth {
            tokens: Vec::new(),
            loopback_without_token: true,
        }),
        ..LabSpec::standard()
    };
    let mut lab = TestLab::start(store.clone(), secrets(), spec).await;
    lab.wait_until_settled().await;
    let url = lab.api_url().expect("the rig serves the API");

    // Inventory is what worker-0's agent reported over the node link, not something the core keeps:
    // the API sees it only when the builder wired the link in as its source. Polled, because the
    // report follows the agent's first contact (60 s: a bound on a hung rig, not a timing assertion).
    let cpus = format!("{url}/v1/ihosts/worker-0/icpus");
    let mut answer = get(&cpus).await;
    for _ in 0..3000 {
        if answer.0 == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        answer = get(&cpus).await;
    }
    assert_eq!(answer.0, 200, "{answer:?}");
    assert!(
        answer.1["icpus"].as_array().is_some_and(|c| !c.is_empty()),
        "{answer:?}"
    );

    lab.stop_controller().await;
    lab.start_controller(store, secrets()).await;
    assert_eq!(lab.api_url().as_deref(), Some(url.as_str()));
    let (status, hosts) = get(&format!("{url}/v1/ihosts")).await;
    assert_eq!(status, 200);
    assert_eq!(hosts["ihosts"].as_array().map(Vec::len), Some(3), "{hosts}");
    lab.shutdown().await;
}
