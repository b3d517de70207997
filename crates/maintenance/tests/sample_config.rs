//! The sample configuration the `steward` Debian package installs as /etc/steward/steward.toml
//! (`packaging/steward.toml`) parses, is exactly the defaults, and writes out every key with a
//! comment above it: a key added to `Config` without a line there fails here. The file is read at
//! compile time, so the test does no file I/O.

use steward_maintenance::config::Config;

const SAMPLE: &str = include_str!("../../../packaging/steward.toml");

#[test]
fn the_packaged_sample_configuration_loads_as_the_defaults() {
    let loaded =
        Config::from_toml(SAMPLE).expect("packaging/steward.toml is a valid configuration");
    assert_eq!(
        loaded,
        Config::default(),
        "the sample must show the defaults"
    );
}

#[test]
fn the_packaged_sample_configuration_documents_every_key() {
    let defaults: toml::Table = Config::default()
        .to_toml()
        .parse()
        .expect("the defaults render as TOML");
    let lines: Vec<&str> = SAMPLE.lines().collect();
    let mut missing = Vec::new();
    for (section, table) in &defaults {
        let header = format!("[{section}]");
        let start = lines
            .iter()
            .position(|l| l.trim() == header)
            .unwrap_or_else(|| panic!("packaging/steward.toml has no {header} table"));
        for key in table.as_table().expect("every section is a table").keys() {
            let prefix = format!("{key} = ");
            let at = lines[start..]
                .iter()
                .position(|l| l.starts_with(&prefix))
                .map(|i| start + i);
            match at {
                Some(i) if lines[i - 1].starts_with("# ") && lines[i - 1].len() > 4 => {}
                _ => missing.push(format!("{section}.{key}")),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "packaging/steward.toml lacks (or has no comment above) {missing:?}"
    );
}
