//! The pxeboot network (docs/protocol.md#the-pxeboot-network, docs/recovery.md#pxeboot-alive-monitor):
//! reboot commands also travel there, so a host whose management network is broken is still
//! rebooted without its BMC; its alive reports there are monitored, and alarm 200.003 says when they
//! stop.

mod support;

use steward_maintenance::alarm::{AlarmChange, AlarmId};
use steward_maintenance::state::*;
use steward_maintenance::*;
use support::{secs, Harness};

/// Two controllers and worker-0, which has a pxeboot network (and a BMC when `bmc`).
fn cluster(system: SystemType, bmc: bool) -> Harness {
    let mut h = Harness::new(system);
    h.add("controller-0", true, true);
    if system != SystemType::AioSimplex {
        h.add("controller-1", true, true);
        h.add_with_pxeboot("worker-0", true, bmc);
    }
    h.settle();
    h
}

fn reboot_networks(h: &Harness, host: &str) -> Vec<Vec<ProtocolNetwork>> {
    h.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send {
                host: n,
                command: NodeCommand::Reboot,
                networks,
                ..
            } if n == host => Some(networks.clone()),
            _ => None,
        })
        .collect()
}

fn logged(h: &Harness, host: &str, what: &str) -> usize {
    h.effects
        .iter()
        .filter(|e| matches!(e, Effect::Log(l) if l.host == host && l.text.contains(what)))
        .count()
}

fn pxeboot_alarm_changes(h: &Harness) -> Vec<(bool, String)> {
    h.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Alarm(AlarmChange::Raise(a)) if a.id == AlarmId::PxebootAlive => {
                Some((true, a.host.clone()))
            }
            Effect::Alarm(AlarmChange::Clear { id, host }) if *id == AlarmId::PxebootAlive => {
                Some((false, host.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn mgmt_broken_pxeboot_up_the_reboot_reaches_the_host() {
    // No BMC: the agent's reboot is the only way to recover the host.
    let mut h = cluster(SystemType::Standard, false);
    let boot = h.node("worker-0").boot_id;
    h.node("worker-0").mgmt_cut = true;
    h.heartbeat_loss("worker-0");
    assert_eq!(h.states("worker-0"), "unlocked-disabled-failed");
    // Pxeboot reports keep coming, yet they do not pass for the host answering: the reboot is sent
    // after the loss-of-communication window, on management and pxeboot.
    h.until(secs(60), |h| h.node_boot_id("worker-0") != boot)
        .expect("the reboot crossed pxeboot and the node rebooted");
    let sent = reboot_networks(&h, "worker-0");
    assert!(!sent.is_empty());
    assert!(sent
        .iter()
        .all(|n| n.contains(&ProtocolNetwork::Mgmt) && n.contains(&ProtocolNetwork::Pxeboot)));
    // Management comes back: the rebooted host is enabled again.
    h.node("worker-0").mgmt_cut = false;
    h.heartbeat_clear("worker-0");
    h.until(secs(600), |h| {
        h.states("worker-0") == "unlocked-enabled-available"
    })
    .expect("recovered");
    assert!(!h.alarm("worker-0", AlarmId::PxebootAlive));
}

#[test]
fn without_pxeboot_a_host_with_broken_mgmt_and_no_bmc_is_not_rebooted() {
    // The control case of the test above: the same fault, no pxeboot network.
    let mut h = Harness::new(SystemType::Standard);
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.add("worker-0", true, false);
    h.settle();
    let boot = h.node("worker-0").boot_id;
    h.node("worker-0").mgmt_cut = true;
    h.heartbeat_loss("worker-0");
    h.advance(secs(120));
    assert_eq!(h.node("worker-0").boot_id, boot);
    assert!(reboot_networks(&h, "worker-0")
        .iter()
        .all(|n| !n.contains(&ProtocolNetwork::Pxeboot)));
}

#[test]
fn pxeboot_reports_stopping_raise_200_003_and_resuming_clears_it() {
    let mut h = cluster(SystemType::Standard, true);
    h.advance(secs(60));
    assert!(pxeboot_alarm_changes(&h).is_empty());
    h.node("worker-0").pxeboot_cut = true;
    // Two losses of three missed 10 s checks: raised after 50–70 s, not before.
    h.advance(secs(49));
    assert!(!h.alarm("worker-0", AlarmId::PxebootAlive));
    let took = h
        .until(secs(30), |h| h.alarm("worker-0", AlarmId::PxebootAlive))
        .expect("raised");
    assert!(took <= secs(21), "raised {took:?} after the first 49 s");
    assert_eq!(
        logged(&h, "worker-0", "pxeboot network communication failure"),
        1
    );
    let raised = h
        .effects
        .iter()
        .find_map(|e| match e {
            Effect::Alarm(AlarmChange::Raise(a)) if a.id == AlarmId::PxebootAlive => {
                Some(a.clone())
            }
            _ => None,
        })
        .expect("raise effect");
    assert_eq!(raised.severity, steward_maintenance::alarm::Severity::Minor);
    // Only an alarm: the host stays in service, nothing is rebooted.
    assert_eq!(h.states("worker-0"), "unlocked-enabled-available");
    assert_eq!(h.sent("worker-0", |c| c.is_destructive()), 0);
    // Back: six good checks clear it.
    h.node("worker-0").pxeboot_cut = false;
    h.advance(secs(49));
    assert!(h.alarm("worker-0", AlarmId::PxebootAlive));
    h.until(secs(30), |h| !h.alarm("worker-0", AlarmId::PxebootAlive))
        .expect("cleared");
    assert_eq!(
        logged(&h, "worker-0", "pxeboot network communication recovered"),
        1
    );
    assert_eq!(
        pxeboot_alarm_changes(&h),
        vec![(true, "worker-0".into()), (false, "worker-0".into())]
    );
}

#[test]
fn a_host_silent_on_every_network_raises_no_pxeboot_alarm() {
    // Down is down (heartbeat and recovery handle it), not a pxeboot fault.
    let mut h = cluster(SystemType::Standard, true);
    h.hang("worker-0");
    h.advance(secs(300));
    assert!(pxeboot_alarm_changes(&h).is_empty());
}

#[test]
fn an_agent_that_does_not_report_on_pxeboot_is_not_monitored() {
    let mut h = cluster(SystemType::Standard, true);
    // The host has a pxeboot address but its agent says it does not report there.
    h.node("worker-0").pxeboot = false;
    h.advance(secs(300));
    assert!(pxeboot_alarm_changes(&h).is_empty());
    assert!(!h.alarm("worker-0", AlarmId::PxebootAlive));
}

#[test]
fn the_alarm_clears_when_the_agent_stops_advertising_pxeboot() {
    let mut h = cluster(SystemType::Standard, true);
    h.node("worker-0").pxeboot_cut = true;
    h.advance(secs(90));
    assert!(h.alarm("worker-0", AlarmId::PxebootAlive));
    h.node("worker-0").pxeboot = false;
    h.advance(secs(10));
    assert!(!h.alarm("worker-0", AlarmId::PxebootAlive));
    assert_eq!(
        logged(&h, "worker-0", "pxeboot network no longer monitored"),
        1
    );
}

#[test]
fn a_simplex_is_not_monitored_on_pxeboot() {
    let mut h = Harness::new(SystemType::AioSimplex);
    h.add_with_pxeboot("controller-0", true, true);
    h.settle();
    h.node("controller-0").pxeboot_cut = true;
    h.advance(secs(300));
    assert!(pxeboot_alarm_changes(&h).is_empty());
}

#[test]
fn commands_other_than_reboot_stay_off_pxeboot() {
    let mut h = cluster(SystemType::Standard, true);
    h.request("worker-0", OperatorAction::Lock)
        .expect("lock accepted");
    h.advance(secs(120));
    let mut saw_pxeboot = Vec::new();
    for e in &h.effects {
        if let Effect::Send {
            command, networks, ..
        } = e
        {
            if networks.contains(&ProtocolNetwork::Pxeboot) {
                saw_pxeboot.push(*command);
            }
        }
    }
    assert!(
        saw_pxeboot.iter().all(|c| *c == NodeCommand::Reboot),
        "{saw_pxeboot:?}"
    );
}
