//! The node's link and filesystem monitor reports (docs/node-monitoring.md): alarms at once, degrade when
//! a whole network or a filesystem is lost, never a failure or anything destructive.

mod support;

use steward_maintenance::alarm::{AlarmId, Severity};
use steward_maintenance::state::*;
use steward_maintenance::*;
use support::{secs, Harness};

fn cluster() -> Harness {
    let mut h = Harness::new(SystemType::Standard);
    h.add("controller-0", true, true);
    h.add("worker-0", true, true);
    h.settle();
    h
}

fn link(h: &mut Harness, network: LinkNetwork, down: u8, ports: u8) {
    h.event(Event::Link {
        host: "worker-0".into(),
        network,
        interface: "bond0".into(),
        down,
        ports,
    });
    h.advance(secs(1));
}

fn fs(h: &mut Harness, mount: &str, state: FsState) {
    h.event(Event::Filesystem {
        host: "worker-0".into(),
        mount: mount.into(),
        state,
    });
    h.advance(secs(1));
}

fn severity(h: &Harness, id: AlarmId) -> Option<Severity> {
    h.core.alarms().severity(id, "worker-0")
}

fn nothing_destructive(h: &Harness) -> bool {
    !h.effects.iter().any(|e| match e {
        Effect::Send { command, .. } => command.is_destructive(),
        Effect::Bmc { op, .. } => op.is_destructive(),
        _ => false,
    })
}

#[test]
fn one_bond_member_down_alarms_at_once_without_degrading() {
    let mut h = cluster();
    link(&mut h, LinkNetwork::Mgmt, 1, 2);
    assert_eq!(severity(&h, AlarmId::MgmtPort), Some(Severity::Major));
    assert_eq!(severity(&h, AlarmId::MgmtInterface), Some(Severity::Major));
    assert_eq!(h.states("worker-0"), "unlocked-enabled-available");
    // The periodic repeat of the same report raises nothing again.
    link(&mut h, LinkNetwork::Mgmt, 1, 2);
    assert_eq!(h.raised("worker-0", AlarmId::MgmtPort), 1);
    link(&mut h, LinkNetwork::Mgmt, 0, 2);
    assert!(!h.alarm("worker-0", AlarmId::MgmtPort));
    assert!(!h.alarm("worker-0", AlarmId::MgmtInterface));
}

#[test]
fn a_network_with_every_port_down_degrades_until_one_comes_back() {
    let mut h = cluster();
    link(&mut h, LinkNetwork::Cluster, 2, 2);
    assert_eq!(
        severity(&h, AlarmId::ClusterInterface),
        Some(Severity::Critical)
    );
    assert_eq!(severity(&h, AlarmId::ClusterPort), Some(Severity::Major));
    assert_eq!(h.states("worker-0"), "unlocked-enabled-degraded");
    let mask = h
        .core
        .host("worker-0")
        .map(|r| r.degrade)
        .unwrap_or_default();
    assert!(mask.has(DegradeMask::LINK));
    // The OAM network clearing does not clear the cluster network's degrade.
    link(&mut h, LinkNetwork::Oam, 0, 1);
    assert_eq!(h.states("worker-0"), "unlocked-enabled-degraded");
    link(&mut h, LinkNetwork::Cluster, 1, 2);
    assert_eq!(
        severity(&h, AlarmId::ClusterInterface),
        Some(Severity::Major)
    );
    assert_eq!(h.states("worker-0"), "unlocked-enabled-available");
    assert!(nothing_destructive(&h));
}

#[test]
fn a_read_only_filesystem_alarms_critical_and_degrades_a_full_one_major() {
    let mut h = cluster();
    fs(&mut h, "/var/log", FsState::SpaceLow);
    assert_eq!(severity(&h, AlarmId::Filesystem), Some(Severity::Major));
    assert_eq!(h.states("worker-0"), "unlocked-enabled-degraded");
    fs(&mut h, "/scratch", FsState::ReadOnly);
    assert_eq!(severity(&h, AlarmId::Filesystem), Some(Severity::Critical));
    let reason = h
        .effects
        .iter()
        .rev()
        .find_map(|e| match e {
            Effect::Alarm(alarm::AlarmChange::Raise(a)) if a.id == AlarmId::Filesystem => {
                Some(a.reason.clone())
            }
            _ => None,
        })
        .unwrap_or_default();
    assert!(
        reason.contains("/scratch read-only") && reason.contains("/var/log space low"),
        "{reason}"
    );
    fs(&mut h, "/scratch", FsState::Ok);
    assert_eq!(severity(&h, AlarmId::Filesystem), Some(Severity::Major));
    fs(&mut h, "/var/log", FsState::Ok);
    assert!(!h.alarm("worker-0", AlarmId::Filesystem));
    assert_eq!(h.states("worker-0"), "unlocked-enabled-available");
    assert!(nothing_destructive(&h));
}

#[test]
fn a_locked_host_gets_the_alarm_but_no_degrade() {
    let mut h = cluster();
    let id = h.request("worker-0", OperatorAction::Lock);
    assert!(id.is_ok());
    h.advance(secs(120));
    assert!(h.states("worker-0").starts_with("locked-disabled"));
    link(&mut h, LinkNetwork::Mgmt, 1, 1);
    assert_eq!(
        severity(&h, AlarmId::MgmtInterface),
        Some(Severity::Critical)
    );
    let mask = h
        .core
        .host("worker-0")
        .map(|r| r.degrade)
        .unwrap_or_default();
    assert!(!mask.has(DegradeMask::LINK));
}
