//! `steward watch`: the controller's live stream (`GET /v1/stream`) printed as it happens — a line
//! when a host's states or task change, when an alarm is raised or cleared, and for every
//! customer-log event. A lost connection is resumed with `Last-Event-ID`, so nothing is missed; when
//! the controller can no longer replay what was missed, the stream's `gap` event is printed and the
//! hosts are shown afresh.

use crate::api_client::{ApiClient, CliError};
use crate::host_cli::{finish, run_async, ApiArgs};
use clap::Args;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    /// Only these hosts (repeatable); default every host.
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
}

pub fn run(args: WatchArgs) -> anyhow::Result<()> {
    finish(run_async(&args.api.clone(), watch(args)))
}

/// One Server-Sent Event as it arrived.
#[derive(Debug, Default, PartialEq)]
struct SseEvent {
    id: Option<String>,
    event: String,
    data: String,
}

/// Splits a byte stream into Server-Sent Events (comments and keep-alives dropped).
#[derive(Default)]
struct SseParser {
    buf: String,
}

impl SseParser {
    fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.buf.push_str(&String::from_utf8_lossy(chunk));
        let mut out = Vec::new();
        while let Some(end) = self.buf.find("\n\n") {
            let block: String = self.buf.drain(..end + 2).collect();
            let mut ev = SseEvent {
                event: "message".into(),
                ..SseEvent::default()
            };
            let mut data = Vec::new();
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value);
                match field {
                    "id" => ev.id = Some(value.to_string()),
                    "event" => ev.event = value.to_string(),
                    "data" => data.push(value),
                    _ => {}
                }
            }
            if !data.is_empty() {
                ev.data = data.join("\n");
                out.push(ev);
            }
        }
        out
    }
}

/// What the operator sees, and which host lines were printed last (to print only changes).
struct Printer {
    only: Vec<String>,
    last: HashMap<String, String>,
}

impl Printer {
    fn wanted(&self, host: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|h| h == host)
    }

    fn host(&mut self, h: &Value) {
        let name = h["hostname"].as_str().unwrap_or("?").to_string();
        if !self.wanted(&name) {
            return;
        }
        let mut line = format!(
            "{}-{}-{}",
            h["administrative"].as_str().unwrap_or("?"),
            h["operational"].as_str().unwrap_or("?"),
            h["availability"].as_str().unwrap_or("?")
        );
        if let Some(task) = h["task"].as_str().filter(|t| !t.is_empty()) {
            line = format!("{line}  [{task}]");
        }
        if self.last.get(&name) != Some(&line) {
            println!("{} {name:<14} {line}", clock());
            self.last.insert(name, line);
        }
    }

    fn item(&mut self, ev: &SseEvent) {
        let data: Value = serde_json::from_str(&ev.data).unwrap_or(Value::Null);
        let host = data["hostname"].as_str().unwrap_or("").to_string();
        match ev.event.as_str() {
            "host" => self.host(&data),
            "host-removed" if self.wanted(&host) => {
                self.last.remove(&host);
                println!("{} {host:<14} deleted", clock());
            }
            "alarm-raised" if self.wanted(&host) => println!(
                "{} {host:<14} alarm {} raised ({}): {}",
                clock(),
                data["alarm_id"].as_str().unwrap_or("?"),
                data["severity"].as_str().unwrap_or("?"),
                data["reason_text"].as_str().unwrap_or("")
            ),
            "alarm-cleared" if self.wanted(&host) => println!(
                "{} {host:<14} alarm {} cleared",
                clock(),
                data["alarm_id"].as_str().unwrap_or("?")
            ),
            "event" if self.wanted(&host) => println!(
                "{} {host:<14} event {}: {}",
                clock(),
                data["event_log_id"].as_str().unwrap_or("?"),
                data["reason_text"].as_str().unwrap_or("")
            ),
            "gap" => println!(
                "{} note: {}",
                clock(),
                data["reason"].as_str().unwrap_or("events were missed")
            ),
            _ => {}
        }
    }
}

/// The time of day (UTC) a line is printed.
fn clock() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let s = ms / 1000 % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        ms % 1000
    )
}

async fn watch(args: WatchArgs) -> Result<(), CliError> {
    let api = ApiClient::new(&args.api.url, args.api.token.as_deref())?;
    let mut printer = Printer {
        only: args.hosts,
        last: HashMap::new(),
    };
    eprintln!("watching {} (Ctrl-C stops)", args.api.url);
    let mut last_id: Option<String> = None;
    let mut connected_once = false;
    loop {
        let res = match api.open_stream("/v1/stream", last_id.as_deref()).await {
            Ok(r) => r,
            // The first connection's failure is the operator's to fix; later ones are waited out.
            Err(e) if !connected_once => return Err(e),
            Err(CliError::Unreachable(e)) => {
                eprintln!("{e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        connected_once = true;
        let ended = follow(&api, res, &mut printer, &mut last_id).await;
        eprintln!("stream lost ({ended}); resuming");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Print one connection's items until it ends; returns why it ended.
async fn follow(
    api: &ApiClient,
    mut res: reqwest::Response,
    printer: &mut Printer,
    last_id: &mut Option<String>,
) -> String {
    let mut parser = SseParser::default();
    loop {
        let chunk = match res.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => return "the controller closed it".into(),
            Err(e) => return e.to_string(),
        };
        for ev in parser.push(&chunk) {
            if let Some(id) = &ev.id {
                *last_id = Some(id.clone());
            }
            match ev.event.as_str() {
                // The stream is live: a first connection (or one after a gap) shows where every
                // host stands, then the changes after it.
                "hello" if last_id.is_none() => show_hosts(api, printer).await,
                "gap" => {
                    printer.item(&ev);
                    show_hosts(api, printer).await;
                }
                _ => printer.item(&ev),
            }
        }
    }
}

async fn show_hosts(api: &ApiClient, printer: &mut Printer) {
    match api.get("/v1/ihosts").await {
        Ok(body) => {
            for h in body["ihosts"].as_array().into_iter().flatten() {
                printer.host(h);
            }
        }
        Err(e) => eprintln!("cannot list the hosts: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_events_split_across_chunks_and_skips_comments() {
        let mut p = SseParser::default();
        assert!(p.push(b": keep-alive\n\nevent: host\nid: 3-").is_empty());
        let evs = p.push(b"7\ndata: {\"a\":1}\n\nevent: hello\ndata: {}\n\n");
        assert_eq!(
            evs,
            [
                SseEvent {
                    id: Some("3-7".into()),
                    event: "host".into(),
                    data: "{\"a\":1}".into()
                },
                SseEvent {
                    id: None,
                    event: "hello".into(),
                    data: "{}".into()
                }
            ]
        );
    }
}
