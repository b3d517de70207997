//! Every change to a host's durable record is announced with `HostChanged`, so the write-ahead step
//! persists it (docs/handlers.md#monitor-events).

mod support;

use steward_maintenance::state::*;
use steward_maintenance::*;
use support::Harness;

fn host_changed(h: &Harness, name: &str) -> bool {
    h.effects
        .iter()
        .any(|e| matches!(e, Effect::HostChanged { host } if host == name))
}

/// A BMC result that changes the recorded power state (a late or stray result, no action running)
/// must be persisted: the simulator found the core's record `Off` and the durable one `On`.
#[test]
fn bmc_power_result_is_persisted() {
    let mut h = Harness::new(SystemType::Standard);
    h.add("controller-0", true, true);
    h.add("worker-0", true, true);
    h.settle();
    assert_eq!(h.core.host("worker-0").unwrap().power, PowerState::On);
    h.effects.clear();
    h.event(Event::Bmc {
        host: "worker-0".into(),
        request: BmcRequestId(999_999),
        outcome: BmcOutcome::Done(PowerState::Off),
    });
    assert_eq!(h.core.host("worker-0").unwrap().power, PowerState::Off);
    assert!(
        host_changed(&h, "worker-0"),
        "power changed without HostChanged"
    );
}
