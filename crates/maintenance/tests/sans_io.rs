//! The core must stay sans-IO: no runtime, sockets, files, threads or clocks. Its Cargo.toml may only
//! name pure data crates, and its sources may not reach for the standard library's I/O, threads or
//! wall clock.

use std::path::Path;

const ALLOWED_DEPENDENCIES: &[&str] = &["serde", "steward-types", "thiserror", "toml"];

#[test]
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
    ];
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for f in forbidden {
                assert!(
                    !text.contains(f),
                    "{} uses `{f}`: the core must stay sans-IO",
                    path.display()
                );
            }
        }
    }
}
