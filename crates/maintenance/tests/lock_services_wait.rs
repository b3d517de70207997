//! The stop-services wait of a lock (docs/handlers.md, "Disable"): the acknowledgement is awaited
//! for `command_ack_timeout` (10 s) and the result until `command_ack_timeout` +
//! `host_services_timeout` (310 s) after the command was sent, whatever else reaches the host
//! meanwhile.

mod support;

use steward_maintenance::state::*;
use steward_maintenance::*;
use support::{secs, Harness};

/// An in-service worker whose node answers stop-services only when the test says so.
fn cluster() -> Harness {
    let mut h = Harness::new(SystemType::Standard);
    h.add("controller-0", true, true);
    h.add("controller-1", true, true);
    h.add("worker-0", true, true);
    h.settle();
    let n = h.node("worker-0");
    n.acks = false;
    n.services_answers = false;
    h
}

fn stop_services_id(h: &Harness) -> CommandId {
    h.effects
        .iter()
        .rev()
        .find_map(|e| match e {
            Effect::Send {
                host,
                id,
                command: NodeCommand::StopServices,
                ..
            } if host == "worker-0" => Some(*id),
            _ => None,
        })
        .expect("stop-services sent")
}

fn ack(h: &mut Harness, id: CommandId) {
    h.event(Event::CommandAck {
        host: "worker-0".into(),
        command: id,
        network: ProtocolNetwork::Mgmt,
    });
}

fn services_result(h: &mut Harness) {
    h.event(Event::HostServices {
        host: "worker-0".into(),
        passed: true,
        detail: String::new(),
    });
}

fn logged(h: &Harness, what: &str) -> bool {
    h.effects
        .iter()
        .any(|e| matches!(e, Effect::Log(l) if l.host == "worker-0" && l.text.contains(what)))
}

#[test]
fn an_event_before_the_acknowledgement_does_not_cut_the_services_wait_short() {
    let mut h = cluster();
    let lock = h.request("worker-0", OperatorAction::Lock).unwrap();
    let id = stop_services_id(&h);
    // An unrelated event reaches the host while the acknowledgement is outstanding.
    h.advance(secs(1));
    h.report("worker-0");
    h.advance(secs(4));
    ack(&mut h, id);
    // Well past the acknowledgement timeout, the node is still stopping its services.
    h.advance(secs(55));
    assert_eq!(
        h.action("worker-0"),
        Action::Lock,
        "still waiting for services"
    );
    assert!(!logged(&h, "stop host services timed out"));
    services_result(&mut h);
    assert_eq!(h.states("worker-0"), "locked-disabled-online");
    assert_eq!(h.journal_end(lock), Some(ActionOutcome::Completed));
    assert!(!logged(&h, "timed out"));
    assert!(!logged(&h, "not acknowledged"));
}

#[test]
fn an_acknowledged_stop_without_a_result_times_out_after_the_services_timeout() {
    let mut h = cluster();
    let lock = h.request("worker-0", OperatorAction::Lock).unwrap();
    let id = stop_services_id(&h);
    h.advance(secs(1));
    h.report("worker-0");
    ack(&mut h, id);
    // 10 s + 300 s after the command was sent.
    h.advance(secs(307));
    assert_eq!(
        h.action("worker-0"),
        Action::Lock,
        "still waiting for services"
    );
    h.advance(secs(3));
    assert!(logged(&h, "stop host services timed out"));
    assert_eq!(h.states("worker-0"), "locked-disabled-online");
    assert_eq!(h.journal_end(lock), Some(ActionOutcome::Completed));
}

#[test]
fn an_unacknowledged_stop_ends_at_the_acknowledgement_timeout() {
    let mut h = cluster();
    let lock = h.request("worker-0", OperatorAction::Lock).unwrap();
    h.advance(secs(9));
    assert_eq!(h.action("worker-0"), Action::Lock);
    h.advance(secs(2));
    assert!(logged(&h, "stop host services not acknowledged"));
    assert_eq!(h.states("worker-0"), "locked-disabled-online");
    assert_eq!(h.journal_end(lock), Some(ActionOutcome::Completed));
}
