//! The `steward-node` binary: same arguments as `steward node`, clear errors, exit status.

use std::process::Command;

fn steward_node() -> Command {
    Command::new(env!("CARGO_BIN_EXE_steward-node"))
}

#[test]
fn help_lists_the_node_arguments() {
    let out = steward_node().arg("--help").output().expect("runs");
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for arg in ["--keys", "--controller", "--mgmt-bind", "--heartbeat-port"] {
        assert!(help.contains(arg), "{arg} missing from:\n{help}");
    }
}

#[test]
fn a_missing_key_file_fails_naming_the_file() {
    let out = steward_node()
        .args(["--keys", "/nonexistent/node-keys.json"])
        .args(["--controller", "controller-0=127.0.0.1"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/node-keys.json"), "{err}");
}

#[test]
fn the_controller_is_required() {
    let out = steward_node().args(["--keys", "k"]).output().expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--controller"));
}
