//! `docs/config.md` lists every configuration key with its default (docs/config.md#timeouts): a key
//! added to `Config` without a line on that page fails here. The page is read at compile time, so the
//! test does no file I/O.

use steward_maintenance::config::Config;

const PAGE: &str = include_str!("../../../docs/config.md");

#[test]
fn every_configuration_key_is_documented_with_its_default() {
    let defaults: toml::Table = Config::default()
        .to_toml()
        .parse()
        .expect("the defaults render as TOML");
    let mut missing = Vec::new();
    for (section, table) in &defaults {
        let heading = format!("`[{section}]`");
        assert!(
            PAGE.contains(&heading),
            "docs/config.md has no {heading} section"
        );
        let table = table.as_table().expect("every section is a table");
        for (key, value) in table {
            let shown = match value {
                toml::Value::Float(f) => format!("{f}"),
                toml::Value::String(s) => format!("\"{s}\""),
                other => other.to_string(),
            };
            let row = format!("| `{key}` | {} |", shown.trim_end_matches(".0"));
            let row_quoted = format!("| `{key}` | `{shown}` |");
            if !PAGE.contains(&row) && !PAGE.contains(&row_quoted) {
                missing.push(format!("{section}.{key} = {shown}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/config.md lacks these keys (or shows another default): {missing:?}"
    );
}
