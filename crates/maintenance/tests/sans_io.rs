//! The core must stay sans-IO: no runtime, sockets, files, threads or clocks. What its code may call is
//! enforced by clippy (`crates/maintenance/clippy.toml`, a link to `lints/sans-io.toml`); this test
//! guards the other door, its Cargo.toml, which may only name pure data crates.

use std::path::Path;

const ALLOWED_DEPENDENCIES: &[&str] = &["serde", "steward-types", "thiserror", "toml"];

#[test]
// Reading the crate's own manifest is the point of this test, not I/O in the core.
#[allow(clippy::disallowed_methods)]
fn cargo_toml_names_only_pure_crates() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let doc: toml::Table = manifest.parse().unwrap();
    let deps = doc
        .get("dependencies")
        .and_then(|d| d.as_table())
        .cloned()
        .unwrap_or_default();
    for name in deps.keys() {
        assert!(
            ALLOWED_DEPENDENCIES.contains(&name.as_str()),
            "steward-maintenance must stay sans-IO, but depends on `{name}`; move I/O into a driver crate"
        );
    }
}

/// Every sans-IO crate of the workspace. A new one (a policy crate, say) is added here and gets a
/// `clippy.toml` link to `lints/sans-io.toml`.
const SANS_IO_CRATES: &[&str] = &[
    "maintenance",
    "agent",
    "heartbeat",
    "protocol",
    "types",
    "sensors",
    "leadership",
];

#[test]
// Resolving the lint configuration's links reads the file system; the core itself still does not.
#[allow(clippy::disallowed_methods)]
fn every_sans_io_crate_is_under_the_shared_clippy_rules() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shared = crates.join("../lints/sans-io.toml").canonicalize().unwrap();
    for name in SANS_IO_CRATES {
        let config = crates.join(name).join("clippy.toml");
        let resolved = config.canonicalize().unwrap_or_else(|e| {
            panic!(
                "{}: {e}; sans-IO crates link it to lints/sans-io.toml",
                config.display()
            )
        });
        assert_eq!(
            resolved,
            shared,
            "{} must be a link to lints/sans-io.toml, so clippy holds crate `{name}` to the sans-IO rules",
            config.display()
        );
    }
    // A workspace-root clippy.toml would become the rules of every crate without its own; the runtime
    // crates must stay free of the sans-IO rules.
    assert!(
        !crates.join("../clippy.toml").exists(),
        "a workspace-root clippy.toml would apply to every runtime crate"
    );
}
