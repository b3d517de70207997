//! Configuration health flags: what the runtime observed at start is in the first alive report,
//! and a change is reported at once (docs/node-supervision.md#flags).

use steward_agent::{Agent, AgentConfig, ConfigHealth, Destination, Effect, FlagPair, Startup};
use steward_types::{Message, NodeFlags, NodeSettings};

fn alive_flags(fx: &[Effect]) -> Vec<NodeFlags> {
    fx.iter()
        .filter_map(|e| match e {
            Effect::Send {
                to: Destination::Controllers(_),
                message: Message::Alive(a),
            } => Some(a.flags),
            _ => None,
        })
        .collect()
}

fn start(health: ConfigHealth) -> (Agent, Vec<Effect>) {
    Agent::start(
        AgentConfig {
            goenabled_at_start: false,
            ..AgentConfig::default()
        },
        Startup {
            now_ms: 0,
            boot_id: 1,
            uptime_ms: 0,
            flags: FlagPair::default(),
            confirmed: None,
            settings: NodeSettings::default(),
            health,
        },
    )
}

#[test]
fn the_first_report_carries_the_health_found_at_start() {
    let not_yet = ConfigHealth {
        configured: false,
        passed: false,
        subf_configured: false,
        ..ConfigHealth::default()
    };
    let (_, fx) = start(not_yet);
    let flags = alive_flags(&fx);
    assert!(!flags.is_empty());
    assert!(flags
        .iter()
        .all(|f| !f.configured && !f.healthy && !f.subf_configured && !f.not_healthy));
}

#[test]
fn without_markers_the_node_is_configured_and_healthy() {
    let (_, fx) = start(ConfigHealth::default());
    let f = alive_flags(&fx)[0];
    assert!(f.configured && f.healthy && f.subf_configured && !f.not_healthy && !f.luks_failed);
}

#[test]
fn a_change_is_reported_at_once_and_only_a_change() {
    let (mut a, _) = start(ConfigHealth::default());
    assert!(a.observe_health(100, ConfigHealth::default()).is_empty());
    let failed = ConfigHealth {
        failed: true,
        luks_failed: true,
        ..ConfigHealth::default()
    };
    let f = alive_flags(&a.observe_health(200, failed));
    assert_eq!(f.len(), 1);
    assert!(f[0].not_healthy && f[0].luks_failed);
    assert!(a.observe_health(300, failed).is_empty());
}
