//! Deliberate bugs for the simulator's mutation tests, chosen at build time.
//!
//! `STEWARD_MUTATION=<name> cargo test -p steward-simulator --release --test mutations` compiles this
//! crate with `--cfg mutation="<name>"`; without the variable the core is built as shipped. A build
//! variable rather than a cargo feature, so that `--all-features` can never ship a planted bug, and
//! read here rather than through a global `RUSTFLAGS --cfg`, so that only this crate (and what depends
//! on it) rebuilds when the variable changes.

// The crate's sans-IO lints (clippy.toml → lints/sans-io.toml) also reach its build script, but a build
// script's whole job is to read the build environment.
#![allow(clippy::disallowed_methods)]

/// Every deliberate bug the core knows; `tests/mutations.rs` of steward-simulator names the invariant
/// that must catch each one.
const MUTATIONS: &[&str] = &[
    "skip-mnfa",
    "recover-locked",
    "drop-journal",
    "lock-without-locked-command",
    "never-enter-mnfa",
    "ar-threshold-off-by-one",
    "clear-wrong-network",
    "keep-heartbeat-alarm",
    // Reinstall and pxeboot (issue 16): the virtual-media clean-up skips its eject; reinstall is
    // admitted and dispatched for an unlocked host; 200.003 is never cleared.
    "vmedia-skips-eject-on-failure",
    "reinstall-unlocked-host",
    "pxeboot-alarm-never-clears",
    // Planted in the simulator's controller-pair driver (crates/simulator/src/pair.rs, the stand-in
    // for the pair runtime), which reads the name through `MUTATION`; the core itself is unchanged.
    "pair-ignores-lease-deadline",
    "pair-no-takeover-grace",
];

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=STEWARD_MUTATION");
    let values: Vec<String> = MUTATIONS.iter().map(|m| format!("\"{m}\"")).collect();
    println!(
        "cargo::rustc-check-cfg=cfg(mutation, values({}))",
        values.join(", ")
    );
    let chosen = std::env::var("STEWARD_MUTATION").unwrap_or_default();
    let chosen = chosen.trim();
    if !chosen.is_empty() {
        if !MUTATIONS.contains(&chosen) {
            panic!(
                "STEWARD_MUTATION={chosen} is not a known mutation; known: {}",
                MUTATIONS.join(", ")
            );
        }
        println!("cargo::rustc-cfg=mutation=\"{chosen}\"");
        println!("cargo::warning=steward-maintenance built with the deliberate bug `{chosen}`");
    }
    println!("cargo::rustc-env=STEWARD_MUTATION_BUILT={chosen}");
}
