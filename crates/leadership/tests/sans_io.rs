//! The lease clock must stay sans-IO: sends, acks and `now` in, a deadline out. Its Cargo.toml may only
//! name pure data crates (and the core, for its `Instant`); what its code may call is held by its
//! `clippy.toml`, a link to `lints/sans-io.toml`.

use std::path::Path;

const ALLOWED_DEPENDENCIES: &[&str] = &["thiserror", "steward-maintenance"];

#[test]
// Reading the crate's own manifest is the point of this test, not I/O in the crate.
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
            "steward-leadership must stay sans-IO, but depends on `{name}`; the runtime talks to etcd"
        );
    }
}
