//! The pxeboot network in the simulator (docs/protocol.md#the-pxeboot-network): hosts with a
//! pxeboot address report alive there too and take reboots from there; alarm 200.003 follows their
//! pxeboot reports (docs/recovery.md#pxeboot-alive-monitor). The invariant
//! `pxeboot_alarm_follows_reports` judges every run from the simulated links; these scenarios
//! also look at the outcome directly.

use steward_maintenance::action::OperatorAction as Op;
use steward_maintenance::alarm::AlarmId;
use steward_maintenance::state::Network;
use steward_simulator::{request, Fault, Scenario};

fn ok<T>(s: &Scenario, r: Result<T, steward_simulator::Violation>) -> T {
    r.unwrap_or_else(|v| panic!("{v}\n--- trace ---\n{}", s.trace()))
}

fn cut(host: &str, cut: bool) -> Fault {
    Fault::Pxeboot {
        host: host.into(),
        cut,
    }
}

#[test]
fn a_long_pxeboot_outage_raises_200_003_and_its_end_clears_it() {
    let mut s = Scenario::new(4)
        .pxeboot("worker-0")
        .pxeboot("worker-1")
        .at(60.0, cut("worker-1", true))
        .at(200.0, cut("worker-1", false));
    let r = s.run_until(119.0);
    ok(&s, r);
    assert_eq!(
        s.alarm(AlarmId::PxebootAlive, "worker-1"),
        None,
        "too early"
    );
    let r = s.run_until(199.0);
    ok(&s, r);
    assert!(
        s.alarm(AlarmId::PxebootAlive, "worker-1").is_some(),
        "{}",
        s.trace()
    );
    assert_eq!(s.alarm(AlarmId::PxebootAlive, "worker-0"), None);
    let r = s.run_until(300.0);
    ok(&s, r);
    assert_eq!(s.alarm(AlarmId::PxebootAlive, "worker-1"), None);
    let r = s.settle(300.0);
    ok(&s, r);
    assert_eq!(s.world().pxeboot_checks.raised, 1);
    assert_eq!(s.world().pxeboot_checks.cleared, 1);
}

#[test]
fn a_short_pxeboot_outage_raises_nothing() {
    let mut s = Scenario::new(4)
        .pxeboot("worker-1")
        .at(60.0, cut("worker-1", true))
        .at(85.0, cut("worker-1", false));
    let r = s.run_until(400.0);
    ok(&s, r);
    assert_eq!(s.world().pxeboot_checks.raised, 0);
}

/// A host down (powered off) says nothing about its pxeboot network: no alarm.
#[test]
fn a_host_powered_off_raises_no_pxeboot_alarm() {
    let mut s = Scenario::new(4)
        .pxeboot("worker-1")
        .at(5.0, request("worker-1", Op::Lock))
        .at(30.0, request("worker-1", Op::PowerOff));
    let r = s.run_until(400.0);
    ok(&s, r);
    assert_eq!(s.world().pxeboot_checks.raised, 0);
}

/// worker-1 (no BMC) locked, its management link cut at 40 s and a reboot requested at 41 s, with or
/// without a pxeboot address: its machine's boot id before the cut and at 120 s, and the trace.
fn reboot_with_management_cut(pxeboot: bool) -> (u64, u64, String) {
    let mut s = Scenario::new(4).cluster_network(false).no_bmc("worker-1");
    if pxeboot {
        s = s.pxeboot("worker-1");
    }
    let mut s = s
        .at(5.0, request("worker-1", Op::Lock))
        .at(
            40.0,
            Fault::Cut {
                hosts: vec!["worker-1".into()],
                network: Network::Mgmt,
            },
        )
        .at(41.0, request("worker-1", Op::Reboot));
    let r = s.run_until(39.0);
    ok(&s, r);
    let before = s.world().node("worker-1").unwrap().boot_id;
    let r = s.run_until(120.0);
    ok(&s, r);
    let after = s.world().node("worker-1").unwrap().boot_id;
    (before, after, s.trace())
}

/// With management cut and pxeboot up, a reboot still reaches the node (over pxeboot) and the
/// machine really reboots.
#[test]
fn a_reboot_reaches_the_node_over_pxeboot_when_management_is_cut() {
    let (before, after, trace) = reboot_with_management_cut(true);
    assert_ne!(after, before, "the reboot crossed pxeboot\n{trace}");
}

/// Without a pxeboot address the same reboot reaches nobody (the control case of the test above).
#[test]
fn without_pxeboot_the_reboot_is_lost_with_management() {
    let (before, after, _) = reboot_with_management_cut(false);
    assert_eq!(after, before);
}
