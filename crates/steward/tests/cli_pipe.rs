//! `steward … | head` ends quietly: a closed stdout kills the command with SIGPIPE, as with other
//! command-line tools, instead of a panic and a backtrace on stderr.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

#[test]
fn closed_stdout_ends_the_command_without_a_panic() {
    // The reader goes away before the command writes (as `| head` does once it has its lines):
    // the first write meets a closed pipe.
    let mut child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["config", "defaults"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        status.success() || status.signal() == Some(libc::SIGPIPE),
        "{status:?} {err}"
    );
}
