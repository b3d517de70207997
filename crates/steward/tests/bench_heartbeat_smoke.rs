//! Smoke test of `steward bench heartbeat` with a handful of hosts: it runs, detects every kill
//! and reports. No wall-clock assertions (the figures are for BENCHMARKS.md, not for CI).

use std::process::Command;

#[test]
fn bench_heartbeat_small_run_reports() {
    let out = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args([
            "bench",
            "heartbeat",
            "--hosts",
            "6",
            "--seconds",
            "2",
            "--kills",
            "2",
        ])
        .output()
        .expect("run steward");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("heartbeat: 6 hosts"), "{text}");
    assert!(text.contains("pulses/s"), "{text}");
    assert!(text.contains("controller CPU"), "{text}");
    assert!(text.contains("(2/2 detected)"), "{text}");
    assert!(text.contains("false losses: 0"), "{text}");
}
