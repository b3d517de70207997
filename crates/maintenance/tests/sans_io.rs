//! Every sans-IO crate of the workspace must stay sans-IO: no runtime, sockets, files, threads or
//! clocks. What their code may call is enforced by clippy (each crate's `clippy.toml`, a link to
//! `lints/sans-io.toml`); this test guards the other two doors: that link, and each crate's
//! Cargo.toml, which may only name pure data crates (and other sans-IO crates).
//!
//! It lives in the core's tests because the core is the first of these crates; it checks them all.

use std::path::{Path, PathBuf};

/// Every sans-IO crate (its folder under `crates/`) and the only dependencies it may name. A new
/// one (a policy crate, say) is added here and gets a `clippy.toml` link to `lints/sans-io.toml`.
const SANS_IO_CRATES: &[(&str, &[&str])] = &[
    (
        "maintenance",
        &["serde", "steward-types", "thiserror", "toml"],
    ),
    ("agent", &["serde", "steward-types", "steward-protocol"]),
    ("heartbeat", &["steward-maintenance"]),
    (
        "protocol",
        &[
            "hmac",
            "sha2",
            "zeroize",
            "thiserror",
            "tracing",
            "steward-types",
        ],
    ),
    ("types", &["serde"]),
    ("sensors", &["serde", "thiserror", "steward-maintenance"]),
    ("process-policy", &["serde", "thiserror", "toml"]),
    ("leadership", &["thiserror", "steward-maintenance"]),
];

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
// Reading the crates' own manifests is the point of this test, not I/O in the core.
#[allow(clippy::disallowed_methods)]
fn every_sans_io_manifest_names_only_pure_crates() {
    for (name, allowed) in SANS_IO_CRATES {
        let path = crates_dir().join(name).join("Cargo.toml");
        let manifest =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: toml::Table = manifest
            .parse()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let deps = doc
            .get("dependencies")
            .and_then(|d| d.as_table())
            .cloned()
            .unwrap_or_default();
        for dep in deps.keys() {
            assert!(
                allowed.contains(&dep.as_str()),
                "crate `{name}` must stay sans-IO, but depends on `{dep}`; move I/O into a runtime crate"
            );
        }
    }
}

#[test]
// Resolving the lint configuration's links reads the file system; the core itself still does not.
#[allow(clippy::disallowed_methods)]
fn every_sans_io_crate_is_under_the_shared_clippy_rules() {
    let crates = crates_dir();
    let shared = crates.join("../lints/sans-io.toml").canonicalize().unwrap();
    for (name, _) in SANS_IO_CRATES {
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
    // The other way round: a crate under the sans-IO rules is listed above, so its manifest is
    // checked too.
    for entry in std::fs::read_dir(&crates).unwrap() {
        let dir = entry.unwrap().path();
        let config = dir.join("clippy.toml");
        if config.canonicalize().ok().as_ref() == Some(&shared) {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                SANS_IO_CRATES.iter().any(|(n, _)| *n == name),
                "crate `{name}` links lints/sans-io.toml but is missing from SANS_IO_CRATES"
            );
        }
    }
    // A workspace-root clippy.toml would become the rules of every crate without its own; the runtime
    // crates must stay free of the sans-IO rules.
    assert!(
        !crates.join("../clippy.toml").exists(),
        "a workspace-root clippy.toml would apply to every runtime crate"
    );
}
