//! A BMC that is not answering yet when it is provisioned (a rack or the whole lab powering up) must
//! be usable seconds after it starts answering — not a full audit period (60 s) later: until the core
//! knows it accessible, recovery cannot reset a hung host. Real BMC: the lab's Redfish BMC
//! (`steward-simbmc`), unreachable at first.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_controller::bmc_workers::{BmcWorkerConfig, BmcWorkers};
use steward_controller::links::{BmcAccess, BmcLink};
use steward_controller::EventSender;
use steward_maintenance::host::BmcProtocol;
use steward_maintenance::io::Event;
use steward_simbmc::{Power, PowerTarget, SimBmc, SimBmcConfig};

struct Machine(Mutex<Power>);

impl PowerTarget for Machine {
    fn power(&self) -> Power {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn power_on(&self) {}
    fn power_off(&self) {}
    fn reset(&self) {}
    fn power_cycle(&self) {}
}

async fn next_access(
    rx: &mut tokio::sync::mpsc::Receiver<Event>,
    within: Duration,
) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(Event::BmcAccess { accessible, .. })) => return Some(accessible),
            Ok(Some(_)) => continue,
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bmc_silent_at_provisioning_is_probed_again_well_before_the_audit_period() {
    let bmc = SimBmc::start(
        SimBmcConfig::new("worker-0", "admin", "secret"),
        Arc::new(Machine(Mutex::new(Power::On))),
    )
    .await
    .unwrap_or_else(|e| panic!("start the simulated BMC: {e}"));
    bmc.set_reachable(false);

    let (events, mut rx) = EventSender::channel(64);
    let cfg = BmcWorkerConfig {
        audit_period: Duration::from_secs(60),
        retry_min: Duration::from_millis(500),
        insecure: true,
        ..BmcWorkerConfig::default()
    };
    let mut workers = BmcWorkers::start(cfg, events);
    workers.provision(
        "worker-0",
        Some(BmcAccess {
            address: bmc.url(),
            protocol: BmcProtocol::Redfish,
            username: "admin".into(),
            password: "secret".into(),
        }),
    );
    // The probe at provisioning finds it silent.
    assert_eq!(
        next_access(&mut rx, Duration::from_secs(30)).await,
        Some(false)
    );
    bmc.set_reachable(true);
    // Retries (0.5 s, 1 s, 2 s, …) find it answering long before the next 60 s audit.
    let mut seen = None;
    for _ in 0..10 {
        seen = next_access(&mut rx, Duration::from_secs(30)).await;
        if seen != Some(false) {
            break;
        }
    }
    assert_eq!(
        seen,
        Some(true),
        "accessible before the audit period ran out"
    );
}
