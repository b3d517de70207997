//! Prometheus metrics. Counters of actions are kept as requests pass; host and alarm gauges are
//! refreshed from the controller at each scrape.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use steward_maintenance::alarm::Alarm;
use steward_maintenance::host::HostRecord;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub administrative: String,
    pub operational: String,
    pub availability: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DatagramLabels {
    /// `node` (the node protocol) or `heartbeat`.
    pub link: String,
    /// `accepted`, `sent`, or the drop reason (`bad_mac`, `replayed`, `too_large`, …).
    pub outcome: String,
}

/// One counter of a protocol link, read at scrape time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkSample {
    pub link: &'static str,
    pub outcome: String,
    pub value: u64,
}

/// The controller's protocol links (node link, heartbeat service) as a metrics source: their
/// datagram counters, so forged, replayed or malformed traffic shows on a dashboard.
pub trait LinkMetrics: Send + Sync + 'static {
    fn samples(&self) -> Vec<LinkSample>;
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SeverityLabels {
    pub severity: String,
}

pub struct Metrics {
    registry: Registry,
    hosts: Family<StateLabels, Gauge>,
    alarms: Family<SeverityLabels, Gauge>,
    pub accepted: Family<ActionLabels, Counter>,
    pub refused: Family<ActionLabels, Counter>,
    datagrams: Family<DatagramLabels, Gauge>,
    /// Scrapes clear and refill the gauges: one at a time.
    scrape: std::sync::Mutex<()>,
}

/// One metric family `/metrics` exports: its name (as the `# TYPE` line gives it), type and help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyInfo {
    pub name: String,
    pub kind: String,
    pub help: String,
}

/// Every family `/metrics` exports, read from the descriptors of a fresh registry built exactly as
/// the served one is, so the OpenAPI document's list ([`crate::openapi_document`]) cannot drift from
/// what is registered.
pub fn families() -> Vec<FamilyInfo> {
    let m = Metrics::new(&steward_controller::telemetry::Telemetry::default());
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &m.registry);
    parse_families(&out)
}

/// The families of an exposition text, from its `# HELP` and `# TYPE` lines, in order.
pub fn parse_families(text: &str) -> Vec<FamilyInfo> {
    let mut help = std::collections::HashMap::new();
    let mut list = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some((name, h)) = rest.split_once(' ') {
                help.insert(name.to_string(), h.trim_end_matches('.').to_string());
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.split_once(' ') {
                list.push(FamilyInfo {
                    name: name.to_string(),
                    kind: kind.to_string(),
                    help: String::new(),
                });
            }
        }
    }
    for f in &mut list {
        f.help = help.remove(&f.name).unwrap_or_default();
    }
    list
}

impl Metrics {
    /// The API's own families plus the controller's (`telemetry`: heartbeat events, destructive
    /// operations by cause, BMC latency).
    pub fn new(telemetry: &steward_controller::telemetry::Telemetry) -> Metrics {
        let mut registry = Registry::with_prefix("steward");
        telemetry.register(&mut registry);
        let hosts = Family::<StateLabels, Gauge>::default();
        let alarms = Family::<SeverityLabels, Gauge>::default();
        let accepted = Family::<ActionLabels, Counter>::default();
        let refused = Family::<ActionLabels, Counter>::default();
        registry.register(
            "hosts",
            "Hosts by administrative, operational and availability state",
            hosts.clone(),
        );
        registry.register("alarms_active", "Active alarms by severity", alarms.clone());
        registry.register(
            "actions_accepted",
            "Operator actions accepted by the core's admission",
            accepted.clone(),
        );
        registry.register(
            "actions_refused",
            "Operator actions refused by the core's admission",
            refused.clone(),
        );
        let datagrams = Family::<DatagramLabels, Gauge>::default();
        registry.register(
            "protocol_datagrams",
            "Datagrams of the node protocol and heartbeat links since start, by outcome (accepted, sent, or the reason it was dropped)",
            datagrams.clone(),
        );
        Metrics {
            registry,
            hosts,
            alarms,
            accepted,
            refused,
            datagrams,
            scrape: std::sync::Mutex::new(()),
        }
    }

    pub fn count(&self, action: &str, accepted: bool) {
        let labels = ActionLabels {
            action: action.to_string(),
        };
        let family = if accepted {
            &self.accepted
        } else {
            &self.refused
        };
        family.get_or_create(&labels).inc();
    }

    /// Refresh the gauges from the controller's view and encode everything.
    pub fn render(&self, hosts: &[HostRecord], alarms: &[Alarm], links: &[LinkSample]) -> String {
        let _one = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.datagrams.clear();
        for l in links {
            self.datagrams
                .get_or_create(&DatagramLabels {
                    link: l.link.to_string(),
                    outcome: l.outcome.clone(),
                })
                .set(i64::try_from(l.value).unwrap_or(i64::MAX));
        }
        self.hosts.clear();
        for h in hosts {
            self.hosts
                .get_or_create(&StateLabels {
                    administrative: h.states.admin.to_string(),
                    operational: h.states.oper.to_string(),
                    availability: h.states.avail.to_string(),
                })
                .inc();
        }
        self.alarms.clear();
        for sev in ["warning", "minor", "major", "critical"] {
            self.alarms
                .get_or_create(&SeverityLabels {
                    severity: sev.into(),
                })
                .set(0);
        }
        for a in alarms {
            let sev = serde_json::to_value(a.severity)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            self.alarms
                .get_or_create(&SeverityLabels { severity: sev })
                .inc();
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_family_is_listed_with_its_type_and_help() {
        let f = families();
        let names: Vec<&str> = f.iter().map(|f| f.name.as_str()).collect();
        for n in [
            "steward_hosts",
            "steward_alarms_active",
            "steward_actions_accepted",
            "steward_protocol_datagrams",
            "steward_heartbeat_events",
            "steward_bmc_operation_seconds",
            "steward_sensor_reading",
        ] {
            assert!(names.contains(&n), "{n} not in {names:?}");
        }
        assert!(
            f.iter().all(|f| !f.kind.is_empty() && !f.help.is_empty()),
            "{f:#?}"
        );
    }
}
