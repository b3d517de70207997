//! An all-in-one duplex rig: the real agent on controller-1 takes it from a new install through
//! unlock, the main enable and the worker subfunction enable to enabled/available
//! (docs/node-supervision.md#flags: the subfunction flag comes from the agent).

use std::sync::Arc;
use steward_maintenance::action::OperatorAction;
use steward_maintenance::state::{Availability, OperState, SystemType};
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testlab::{LabSpec, TestLab};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aio_duplex_controller_unlocks_to_enabled_with_its_worker_subfunction() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let spec = LabSpec {
        hosts: vec!["controller-0".into(), "controller-1".into()],
        in_service: false,
        system: SystemType::AioDuplex,
        ..LabSpec::standard()
    };
    let lab = TestLab::start(store, SecretBox::from_key([9; 32]), spec).await;
    lab.wait_until("controller-1 locked and online", |hosts| {
        hosts.iter().any(|h| {
            h.spec.name == "controller-1" && h.states.to_string() == "locked-disabled-online"
        })
    })
    .await;
    lab.handle
        .request("controller-1", OperatorAction::Unlock)
        .await
        .expect("unlock accepted");
    lab.wait_until("controller-1 and its subfunction enabled", |hosts| {
        hosts.iter().any(|h| {
            h.spec.name == "controller-1"
                && h.states.to_string() == "unlocked-enabled-available"
                && h.subf.is_some_and(|s| {
                    s.oper == OperState::Enabled && s.avail == Availability::Available
                })
        })
    })
    .await;
    lab.shutdown().await;
}
