//! `GET /v1/openapi.json` describes every route the router has, with every method, and nothing
//! the router does not have. The router's own table (`steward_api::route_paths`) gives the paths;
//! the methods of each come from the router itself: a request with a method no route takes is
//! answered 405 with an `Allow` header listing the ones it does.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use support::{Lab, TOKEN};

/// Methods an OpenAPI path item may hold.
const DOCUMENTED_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The methods the router takes on `path` (HEAD aside: axum answers it on every GET route).
async fn router_methods(lab: &Lab, path: &str) -> BTreeSet<String> {
    let concrete = path.replace("{id}", "1");
    let probe = Method::from_bytes(b"PROBE").unwrap();
    let r = reqwest::Client::new()
        .request(probe, format!("{}{concrete}", lab.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "{path}");
    let allow = r
        .headers()
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{path}: 405 without Allow"))
        .to_string();
    allow
        .split(',')
        .map(|m| m.trim().to_ascii_lowercase())
        .filter(|m| !m.is_empty() && m != "head")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_and_method_is_in_the_openapi_document() {
    let lab = Lab::start(false).await;
    let doc: Value = reqwest::Client::new()
        .get(format!("{}/v1/openapi.json", lab.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented: BTreeMap<String, BTreeSet<String>> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| DOCUMENTED_METHODS.contains(&k.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect();

    let mut routed = BTreeMap::new();
    for path in steward_api::route_paths() {
        routed.insert(path.to_string(), router_methods(&lab, path).await);
    }
    assert!(routed.len() >= 15, "the table walked: {routed:?}");
    for (path, methods) in &routed {
        let doc_methods = documented
            .get(path)
            .unwrap_or_else(|| panic!("{path} is routed but not in /v1/openapi.json"));
        assert_eq!(
            methods, doc_methods,
            "{path}: the router takes {methods:?}, the document lists {doc_methods:?}"
        );
    }
    for path in documented.keys() {
        assert!(
            routed.contains_key(path),
            "{path} is in /v1/openapi.json but not routed"
        );
    }

    // Every operation documents its answers, errors included, and every path parameter it takes.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in &documented[path] {
            let op = &item[method.as_str()];
            let responses = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path}: no responses"));
            assert!(
                responses.contains_key("401"),
                "{method} {path}: the token refusal is not documented"
            );
            // Every error answer has the one error shape.
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        response["$ref"], "#/components/responses/Error",
                        "{method} {path} {status}: not the error shape"
                    );
                }
            }
            if path.contains("{id}") {
                let params = item["parameters"]
                    .as_array()
                    .or_else(|| op["parameters"].as_array())
                    .unwrap_or_else(|| panic!("{method} {path}: no parameters"));
                assert!(
                    params
                        .iter()
                        .any(|p| p["name"] == "id" && p["in"] == "path"),
                    "{method} {path}: the id parameter is not documented"
                );
            }
        }
    }
}

/// The document is OpenAPI 3.0 throughout: a nullable field is `nullable: true`, not 3.1's
/// `type: [T, "null"]` (schemathesis read those node-settings fields as no type at all), and the
/// node-settings PATCH documents the ranges the controller enforces.
#[test]
fn the_document_is_openapi_3_0_and_carries_the_node_settings_ranges() {
    let doc: Value = steward_api::openapi_document();
    assert_eq!(doc["openapi"], "3.0.3");
    fn no_type_arrays(at: &str, v: &Value) {
        match v {
            Value::Object(map) => {
                // (Inside `properties`, "type" may be a field's name, as in the ports rows.)
                if let Some(t) = map.get("type").filter(|_| !at.ends_with("/properties")) {
                    assert!(t.is_string(), "{at}: type {t} is not OpenAPI 3.0");
                }
                for (k, child) in map {
                    no_type_arrays(&format!("{at}/{k}"), child);
                }
            }
            Value::Array(items) => items.iter().for_each(|c| no_type_arrays(at, c)),
            _ => {}
        }
    }
    no_type_arrays("", &doc);
    let props = &doc["paths"]["/v1/node-settings"]["patch"]["requestBody"]["content"]
        ["application/json"]["schema"]["properties"];
    for field in steward_maintenance::NodeSettings::FIELDS {
        let p = &props[field.name];
        assert_eq!(p["minimum"], field.min, "{}", field.name);
        assert_eq!(p["maximum"], field.max, "{}", field.name);
        assert_eq!(p["nullable"], true, "{}", field.name);
    }
}
