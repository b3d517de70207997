//! Small helpers to read `serde_json::Value` trees without panicking: BMC replies are
//! untrusted and frequently omit or mistype properties.

use serde_json::Value;

/// String at a JSON pointer (e.g. `/Status/Health`), if present and a string.
pub(crate) fn str_at<'a>(v: &'a Value, ptr: &str) -> Option<&'a str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// Owned string at a JSON pointer.
pub(crate) fn string_at(v: &Value, ptr: &str) -> Option<String> {
    str_at(v, ptr).map(str::to_owned)
}

/// Number at a JSON pointer; integers and floats both accepted.
pub(crate) fn f64_at(v: &Value, ptr: &str) -> Option<f64> {
    v.pointer(ptr).and_then(Value::as_f64)
}

/// Bool at a JSON pointer.
pub(crate) fn bool_at(v: &Value, ptr: &str) -> Option<bool> {
    v.pointer(ptr).and_then(Value::as_bool)
}

/// `@odata.id` of a navigation property `key` (`{"key": {"@odata.id": "..."}}`).
pub(crate) fn link(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(|l| l.get("@odata.id"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// `@odata.id` of every element of an array of links, e.g. `Members` or `Links/Chassis`.
pub(crate) fn link_array(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("@odata.id").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Array of strings at a pointer (non-strings skipped); `None` when the property is absent.
pub(crate) fn str_array(v: &Value, ptr: &str) -> Option<Vec<String>> {
    v.pointer(ptr).and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    })
}
