//! The sensor policy must stay sans-IO: readings and `now` in, effects out. Its Cargo.toml may only name
//! pure data crates (and the core, for its event and time types), and its sources may not reach for
//! I/O, threads or the clock.

use std::path::Path;

const ALLOWED_DEPENDENCIES: &[&str] = &["serde", "thiserror", "steward-maintenance"];

// Reading our own sources is the one file access this crate's tests need.
#[allow(clippy::disallowed_methods)]
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn cargo_toml_names_only_pure_crates() {
    let manifest = read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
    let doc: toml::Table = manifest.parse().unwrap();
    let deps = doc
        .get("dependencies")
        .and_then(|d| d.as_table())
        .cloned()
        .unwrap_or_default();
    for name in deps.keys() {
        assert!(
            ALLOWED_DEPENDENCIES.contains(&name.as_str()),
            "steward-sensors must stay sans-IO, but depends on `{name}`; the runtime maps BMC readings in"
        );
    }
}

#[allow(clippy::disallowed_methods)]
#[test]
fn sources_use_no_io_threads_or_clock() {
    let forbidden = [
        "std::net",
        "std::fs",
        "std::thread",
        "std::process",
        "SystemTime",
        "std::time::Instant",
        "tokio",
        "std::io::",
        "steward_bmc",
    ];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = read(&path);
        for f in forbidden {
            assert!(
                !text.contains(f),
                "{} uses `{f}`: the sensor policy is sans-IO",
                path.display()
            );
        }
    }
}
