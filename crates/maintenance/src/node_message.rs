//! What a node agent's message means to the core: a verified message in, at most one [`Event`] out.
//!
//! The node link (the controller end of the protocol) verifies each datagram with
//! `steward-protocol` and hands the message here; this module is the one place that decides which
//! node messages the core takes. It lives in the core, not in the protocol crate, so the protocol
//! (and the node agent that links it) never depends on the core.

use crate::io::ProtocolNetwork;
use crate::io::{AliveReport, Event, PmonEvent};
use std::time::Duration;
use steward_types::{Ack, AckResult, Message, MonitorEvent, NodeEvent, Severity};

/// The core event for `message`, sent by node `sender` and received (and verified) on `network`.
///
/// One message gives at most one event: Alive → [`Event::Alive`], an `Ok` ack →
/// [`Event::CommandAck`], go-enabled → [`Event::GoEnabled`], host services →
/// [`Event::HostServices`], a process monitor event → [`Event::Pmon`], link and filesystem reports
/// → [`Event::Link`] / [`Event::Filesystem`]. `None` for what the core does not take: inventory,
/// pulses and pulse replies, unknown monitor events, and acks that say
/// Unsupported or Failed (the node link logs those; the core's command timeout deals with them).
pub fn to_event(sender: &str, network: ProtocolNetwork, message: &Message) -> Option<Event> {
    let host = sender.to_string();
    Some(match message {
        Message::Alive(a) => Event::Alive(AliveReport {
            host,
            network,
            boot_id: a.boot_id,
            uptime: Duration::from_millis(a.uptime_ms),
            flags: a.flags,
        }),
        Message::Ack(Ack {
            id,
            result: AckResult::Ok,
        }) => Event::CommandAck {
            host,
            command: *id,
            network,
        },
        Message::Event(NodeEvent::GoEnabled {
            subfunction,
            passed,
            detail,
        }) => Event::GoEnabled {
            host,
            subfunction: *subfunction,
            passed: *passed,
            detail: detail.clone(),
        },
        Message::Event(NodeEvent::HostServices { passed, detail }) => Event::HostServices {
            host,
            passed: *passed,
            detail: detail.clone(),
        },
        Message::Event(NodeEvent::Monitor(MonitorEvent::Process { process, severity })) => {
            let event = match severity {
                Severity::Clear => PmonEvent::Clear,
                Severity::Minor => PmonEvent::Minor,
                Severity::Major => PmonEvent::Major,
                Severity::Critical => PmonEvent::Critical,
            };
            Event::Pmon {
                host,
                process: process.clone(),
                event,
            }
        }
        Message::Event(NodeEvent::Monitor(MonitorEvent::Link {
            network,
            interface,
            down,
            ports,
        })) => Event::Link {
            host,
            network: *network,
            interface: interface.clone(),
            down: *down,
            ports: *ports,
        },
        Message::Event(NodeEvent::Monitor(MonitorEvent::Filesystem { mount, state })) => {
            Event::Filesystem {
                host,
                mount: mount.clone(),
                state: *state,
            }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{CommandId, NodeFlags};
    use steward_types::{Alive, HealthFlags, Inventory, PulseReply, TestState};

    fn to(message: Message) -> Option<Event> {
        to_event("compute-0", ProtocolNetwork::Cluster, &message)
    }

    #[test]
    fn alive_becomes_an_alive_report_on_the_receiving_network() {
        let flags = NodeFlags {
            configured: true,
            healthy: true,
            ..NodeFlags::default()
        };
        let alive = Message::Alive(Alive {
            boot_id: 42,
            uptime_ms: 12_345,
            flags,
            lock_volatile: true,
            lock_persistent: false,
            main_goenabled: TestState::Passed,
            subf_goenabled: TestState::NotRun,
            settings_generation: 3,
            agent_version: "0.1.0".into(),
        });
        assert_eq!(
            to(alive),
            Some(Event::Alive(AliveReport {
                host: "compute-0".into(),
                network: ProtocolNetwork::Cluster,
                boot_id: 42,
                uptime: Duration::from_millis(12_345),
                flags,
            }))
        );
    }

    #[test]
    fn only_an_ok_ack_acknowledges_a_command() {
        let ack = |result| {
            to(Message::Ack(Ack {
                id: CommandId(5),
                result,
            }))
        };
        assert_eq!(
            ack(AckResult::Ok),
            Some(Event::CommandAck {
                host: "compute-0".into(),
                command: CommandId(5),
                network: ProtocolNetwork::Cluster
            })
        );
        assert_eq!(ack(AckResult::Unsupported), None);
        assert_eq!(ack(AckResult::Failed("x".into())), None);
    }

    #[test]
    fn test_results_become_their_core_events() {
        assert_eq!(
            to(Message::Event(NodeEvent::GoEnabled {
                subfunction: true,
                passed: false,
                detail: "d".into()
            })),
            Some(Event::GoEnabled {
                host: "compute-0".into(),
                subfunction: true,
                passed: false,
                detail: "d".into()
            })
        );
        assert_eq!(
            to(Message::Event(NodeEvent::HostServices {
                passed: true,
                detail: String::new()
            })),
            Some(Event::HostServices {
                host: "compute-0".into(),
                passed: true,
                detail: String::new()
            })
        );
    }

    #[test]
    fn process_events_reach_the_core_with_their_process() {
        let pmon = |severity| {
            to(Message::Event(NodeEvent::Monitor(MonitorEvent::Process {
                process: "sshd".into(),
                severity,
            })))
        };
        for (severity, event) in [
            (Severity::Clear, PmonEvent::Clear),
            (Severity::Minor, PmonEvent::Minor),
            (Severity::Major, PmonEvent::Major),
            (Severity::Critical, PmonEvent::Critical),
        ] {
            assert_eq!(
                pmon(severity),
                Some(Event::Pmon {
                    host: "compute-0".into(),
                    process: "sshd".into(),
                    event
                })
            );
        }
    }

    #[test]
    fn inventory_pulse_replies_and_other_monitors_are_not_core_events() {
        assert_eq!(to(Message::Inventory(Inventory::default())), None);
        assert_eq!(
            to(Message::PulseReply(PulseReply {
                round: 1,
                health: HealthFlags::new(true, false, true),
            })),
            None
        );
        assert_eq!(
            to(Message::Event(NodeEvent::Monitor(MonitorEvent::Unknown {
                code: 77,
                payload: vec![1],
            }))),
            None
        );
    }

    #[test]
    fn link_and_filesystem_reports_reach_the_core() {
        assert_eq!(
            to(Message::Event(NodeEvent::Monitor(MonitorEvent::Link {
                network: steward_types::LinkNetwork::Oam,
                interface: "bond0".into(),
                down: 1,
                ports: 2,
            }))),
            Some(Event::Link {
                host: "compute-0".into(),
                network: steward_types::LinkNetwork::Oam,
                interface: "bond0".into(),
                down: 1,
                ports: 2,
            })
        );
        assert_eq!(
            to(Message::Event(NodeEvent::Monitor(
                MonitorEvent::Filesystem {
                    mount: "/var/log".into(),
                    state: steward_types::FsState::ReadOnly,
                }
            ))),
            Some(Event::Filesystem {
                host: "compute-0".into(),
                mount: "/var/log".into(),
                state: steward_types::FsState::ReadOnly,
            })
        );
    }
}
