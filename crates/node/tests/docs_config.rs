//! `docs/config.md` lists every option of `steward node` with its default (docs/config.md#node-agent-options):
//! an option added to the command line without its row there fails here. The page is read at
//! compile time.

use clap::{CommandFactory, Parser};
use steward_node::cli::NodeArgs;

const PAGE: &str = include_str!("../../../docs/config.md");

#[derive(Parser)]
struct Node {
    #[command(flatten)]
    node: NodeArgs,
}

#[test]
fn every_node_option_is_documented_with_its_default() {
    let cmd = Node::command();
    let mut missing = Vec::new();
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else {
            continue;
        };
        if matches!(long, "help" | "version") {
            continue;
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|v| v.to_string_lossy().into_owned())
            .collect();
        let shown = match defaults.as_slice() {
            _ if matches!(arg.get_action(), clap::ArgAction::SetTrue) => "off".to_string(),
            [] => "—".to_string(),
            [v] if v == "false" => "off".to_string(),
            [v] => format!("`{v}`"),
            more => format!("`{}`", more.join(" ")),
        };
        let row = format!("| `--{long}` | {shown} |");
        if !PAGE.contains(&row) {
            missing.push(row);
        }
    }
    assert!(
        missing.is_empty(),
        "docs/config.md lacks these rows (or shows another default): {missing:#?}"
    );
}

#[test]
fn the_command_line_defaults_are_the_host_safety_nets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = dir.path().join("keys.json");
    let secret = steward_protocol::ClusterSecret::new(&[3u8; 32]).expect("secret");
    steward_node::keyfile::provision(&keys, &secret, "worker-0").expect("key file");
    let args = Node::try_parse_from([
        "x",
        "--keys",
        keys.to_str().expect("utf-8"),
        "--controller",
        "c0=127.0.0.1",
    ])
    .expect("parse");
    let (cfg, _) = steward_node::cli::build(&args.node).expect("build");
    assert_eq!(
        cfg.safety,
        steward_node::safety::SafetyNets::host_defaults()
    );
    // And the library's own default has none of them (simulated hosts share the real kernel).
    let lib = steward_node::NodeConfig::new("h", cfg.keys.clone(), cfg.networks.clone());
    assert_eq!(lib.safety, steward_node::safety::SafetyNets::off());
    assert_eq!(lib.safety.failsafe_reboot_delay, None);
}
