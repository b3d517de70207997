//! The election's calls to etcd, over etcd's JSON gateway (`POST /v3/...` on every client URL, in
//! etcd 3.4 and later): grant, keep alive and revoke a lease; take the leader key only if it does
//! not exist (`create_revision == 0`); read it. Every call goes to the first endpoint that answers.
//!
//! The election needs only these five calls, each one request and one answer, so it speaks the
//! gateway with the HTTP client the workspace already has instead of a gRPC stack.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

/// An etcd lease id.
pub type LeaseId = i64;

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered (all down, partitioned, or without quorum).
    #[error("no etcd endpoint answered ({endpoints}): {last}")]
    Unreachable { endpoints: String, last: String },
    #[error("etcd answered {what} with something unexpected: {body}")]
    Unexpected { what: &'static str, body: String },
}

/// What the leader key holds: who is active, where its API is, and its controller epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderRecord {
    pub name: String,
    pub api_url: String,
    /// The fencing epoch the active took (0 until it has taken one).
    pub epoch: u64,
}

/// The leader key as read: its record, the lease it is bound to, and its create revision (which
/// names one term of one holder).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leader {
    pub record: LeaderRecord,
    pub lease: LeaseId,
    pub create_revision: i64,
}

/// The result of a campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Campaign {
    /// The key was free and is now ours, created at this revision.
    Won { create_revision: i64 },
    /// Another holder has it.
    Held(Option<Leader>),
}

/// A client of etcd's JSON gateway.
#[derive(Clone, Debug)]
pub struct Etcd {
    endpoints: Vec<String>,
    http: reqwest::Client,
}

impl Etcd {
    /// `endpoints`: `http://HOST:PORT` (or `HOST:PORT`) of each member. Every call gives up after
    /// `timeout` per endpoint, so a partitioned controller learns it within a keepalive period.
    pub fn new(endpoints: &[String], timeout: Duration) -> Etcd {
        let endpoints = endpoints
            .iter()
            .map(|e| {
                let e = e.trim_end_matches('/');
                if e.starts_with("http://") || e.starts_with("https://") {
                    e.to_string()
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .unwrap_or_default();
        Etcd { endpoints, http }
    }

    async fn call(&self, path: &str, body: Value) -> Result<Value, EtcdError> {
        let mut last = String::from("no endpoints");
        for e in &self.endpoints {
            match self
                .http
                .post(format!("{e}{path}"))
                .json(&body)
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => match r.json::<Value>().await {
                    Ok(v) => return Ok(v),
                    Err(err) => last = format!("{e}: {err}"),
                },
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    last = format!("{e}: {status} {text}");
                }
                Err(err) => last = format!("{e}: {err}"),
            }
        }
        Err(EtcdError::Unreachable {
            endpoints: self.endpoints.join(","),
            last,
        })
    }

    /// A new lease of `ttl` (whole seconds, at least 1).
    pub async fn grant(&self, ttl: Duration) -> Result<LeaseId, EtcdError> {
        let secs = ttl.as_secs().max(1);
        let v = self.call("/v3/lease/grant", json!({ "TTL": secs })).await?;
        int(&v["ID"]).ok_or_else(|| unexpected("lease grant", &v))
    }

    /// Renew `lease`; `false`: it no longer exists (expired or revoked).
    pub async fn keepalive(&self, lease: LeaseId) -> Result<bool, EtcdError> {
        let v = self
            .call("/v3/lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        let result = &v["result"];
        if result.is_null() {
            return Err(unexpected("lease keepalive", &v));
        }
        Ok(int(&result["TTL"]).unwrap_or(0) > 0)
    }

    /// Revoke `lease`: the keys bound to it (the leader key) are deleted at once.
    pub async fn revoke(&self, lease: LeaseId) -> Result<(), EtcdError> {
        self.call("/v3/lease/revoke", json!({ "ID": lease.to_string() }))
            .await
            .map(|_| ())
    }

    /// Create `key` holding `record`, bound to `lease`, if it does not exist; else read it.
    pub async fn campaign(
        &self,
        key: &str,
        record: &LeaderRecord,
        lease: LeaseId,
    ) -> Result<Campaign, EtcdError> {
        let k = B64.encode(key);
        let value = B64.encode(serde_json::to_vec(record).unwrap_or_default());
        let v = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [{"target": "CREATE", "key": k, "create_revision": "0"}],
                    "success": [{"request_put": {"key": k, "value": value, "lease": lease.to_string()}}],
                    "failure": [{"request_range": {"key": k}}],
                }),
            )
            .await?;
        if v["succeeded"].as_bool() == Some(true) {
            let rev = int(&v["header"]["revision"]).ok_or_else(|| unexpected("campaign", &v))?;
            return Ok(Campaign::Won {
                create_revision: rev,
            });
        }
        let kvs = &v["responses"][0]["response_range"]["kvs"];
        Ok(Campaign::Held(parse_leader(kvs)))
    }

    /// Replace the record of the leader key, only while it is still the one created at
    /// `create_revision` (this holder's term); `false`: the term is over.
    pub async fn update_record(
        &self,
        key: &str,
        record: &LeaderRecord,
        lease: LeaseId,
        create_revision: i64,
    ) -> Result<bool, EtcdError> {
        let k = B64.encode(key);
        let value = B64.encode(serde_json::to_vec(record).unwrap_or_default());
        let v = self
            .call(
                "/v3/kv/txn",
                json!({
                    "compare": [{"target": "CREATE", "key": k, "create_revision": create_revision.to_string()}],
                    "success": [{"request_put": {"key": k, "value": value, "lease": lease.to_string()}}],
                }),
            )
            .await?;
        Ok(v["succeeded"].as_bool() == Some(true))
    }

    /// The current holder of `key`, if any.
    pub async fn leader(&self, key: &str) -> Result<Option<Leader>, EtcdError> {
        let v = self
            .call("/v3/kv/range", json!({ "key": B64.encode(key) }))
            .await?;
        Ok(parse_leader(&v["kvs"]))
    }
}

fn parse_leader(kvs: &Value) -> Option<Leader> {
    let kv = kvs.get(0)?;
    let value = B64.decode(kv["value"].as_str().unwrap_or_default()).ok()?;
    let record: LeaderRecord = serde_json::from_slice(&value).ok()?;
    Some(Leader {
        record,
        lease: int(&kv["lease"]).unwrap_or(0),
        create_revision: int(&kv["create_revision"]).unwrap_or(0),
    })
}

/// The gateway writes 64-bit integers as strings.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

fn unexpected(what: &'static str, v: &Value) -> EtcdError {
    EtcdError::Unexpected {
        what,
        body: v.to_string(),
    }
}

/// The members of an `etcd://HOST:PORT[,HOST:PORT…]` store URL, as `http://HOST:PORT`.
pub fn endpoints_of(url: &str) -> Option<Vec<String>> {
    let rest = url.strip_prefix("etcd://")?;
    let eps: Vec<String> = rest
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| format!("http://{}", s.trim_end_matches('/')))
        .collect();
    (!eps.is_empty()).then_some(eps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls_name_every_member() {
        assert_eq!(
            endpoints_of("etcd://10.0.0.1:2379,10.0.0.2:2379"),
            Some(vec![
                "http://10.0.0.1:2379".to_string(),
                "http://10.0.0.2:2379".to_string()
            ])
        );
        assert_eq!(endpoints_of("etcd://"), None);
        assert_eq!(endpoints_of("redb:///x"), None);
    }

    #[test]
    fn gateway_integers_are_strings() {
        assert_eq!(
            int(&json!("7587899372163503365")),
            Some(7587899372163503365)
        );
        assert_eq!(int(&json!(3)), Some(3));
        assert_eq!(int(&Value::Null), None);
    }
}
