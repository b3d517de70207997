//! Counters and latencies the actor records as inputs and effects pass through it, for `/metrics`
//! (the API registers these families next to its own): heartbeat events per network, destructive
//! effects by cause (what recovery did, and who asked), BMC operation latency and failures, action
//! durations, and the hardware sensors' last readings.
//!
//! The families are shared handles (`prometheus_client` families are `Arc`s inside): the actor
//! writes, a scrape reads, nothing waits on the other.

use crate::sensor_audit::SensorReply;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use steward_maintenance::{Action, ActionId, ActionOutcome, JournalEntry};
use steward_maintenance::{BmcOutcome, BmcRequestId, Cause, Effect, Event};
use tokio::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HeartbeatLabels {
    /// `mgmt` or `cluster`.
    pub network: String,
    /// `minor-set` (4 pulses missed in a row by default), `degrade-set`, `loss`, and their clears.
    pub event: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DestructiveLabels {
    /// `auto-recovery`, `operator` or `critical-sensor`.
    pub cause: String,
    /// `reboot`, `lazy-reboot`, `wipe-disk` (through the agent), `power-reset`, `power-off` (BMC).
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BmcLabels {
    /// `power-status`, `power-on`, `power-off`, `power-reset`, `netboot-once`.
    pub operation: String,
    /// `done` or `failed`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// The action (`lock`, `unlock`, `reboot`, `reset`, …; the core's own ones too, such as
    /// `recover`).
    pub action: String,
    /// `completed`, `failed` or `superseded-by`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SensorLabels {
    pub host: String,
    /// The BMC's sensor name.
    pub sensor: String,
    /// `temperature`, `fan`, `voltage`, `current`, `power`, …
    pub kind: String,
    /// `C`, `RPM`, `V`, `A`, `W`, `%`, or the BMC's own word; empty when it gave none.
    pub unit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HostLabels {
    pub host: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// BMC operations take from tens of milliseconds (a status read) to minutes (a power action read
/// back, behind the BMC's queue): 50 ms to about 7 minutes.
fn bmc_latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.05, 2.0, 14))
}

/// Actions run from a second (a lock) to an hour (a reinstall): 250 ms to about 70 minutes.
fn action_duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.25, 2.0, 15))
}

/// The families, cloned into the API's registry; the actor holds the writing side.
#[derive(Clone, Debug)]
pub struct Telemetry {
    heartbeat: Family<HeartbeatLabels, Counter>,
    destructive: Family<DestructiveLabels, Counter>,
    bmc_latency: HistogramFamily<BmcLabels>,
    action_duration: HistogramFamily<ActionLabels>,
    sensor_reading: Family<SensorLabels, Gauge<f64, AtomicU64>>,
    sensor_read_failures: Family<HostLabels, Counter>,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            heartbeat: Family::default(),
            destructive: Family::default(),
            bmc_latency: Family::new_with_constructor(bmc_latency_histogram),
            action_duration: Family::new_with_constructor(action_duration_histogram),
            sensor_reading: Family::default(),
            sensor_read_failures: Family::default(),
        }
    }
}

impl Telemetry {
    /// Register the families (under the registry's prefix, `steward_` for the API's).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "heartbeat_events",
            "Heartbeat accounting events per network: minor-set, degrade-set and loss mark consecutive missed pulses crossing a threshold",
            self.heartbeat.clone(),
        );
        registry.register(
            "destructive_operations",
            "Reboots, resets and power-offs the controller ordered, by cause (auto-recovery counts recoveries)",
            self.destructive.clone(),
        );
        registry.register(
            "bmc_operation_seconds",
            "Time from a BMC operation's submission to its result (queueing behind the BMC's other operations included), by operation and outcome",
            self.bmc_latency.clone(),
        );
        registry.register(
            "action_seconds",
            "Time from an action's acceptance to its end, by action and outcome (actions this controller run accepted)",
            self.action_duration.clone(),
        );
        registry.register(
            "sensor_reading",
            "The last value read from each hardware sensor with a value (the series of a host whose last read failed are withdrawn)",
            self.sensor_reading.clone(),
        );
        registry.register(
            "sensor_read_failures",
            "Sensor reads of a host's BMC that failed whole",
            self.sensor_read_failures.clone(),
        );
    }
}

/// The actor's side: what was submitted when, to time each BMC operation.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    pub(crate) telemetry: Telemetry,
    bmc_started: HashMap<BmcRequestId, (&'static str, Instant)>,
    actions_started: HashMap<ActionId, (Action, Instant)>,
    /// The sensor series each host has, to withdraw them when they go stale.
    sensor_series: HashMap<String, Vec<SensorLabels>>,
}

/// serde's name of a value (`kebab-case` for the core's enums), the labels operators see in the API.
fn name<T: serde::Serialize + std::fmt::Debug>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{value:?}").to_lowercase(),
    }
}

fn cause_name(cause: Cause) -> Option<&'static str> {
    match cause {
        Cause::Operator { .. } => Some("operator"),
        Cause::AutoRecovery => Some("auto-recovery"),
        Cause::CriticalSensor => Some("critical-sensor"),
        Cause::Routine => None,
    }
}

impl Recorder {
    pub(crate) fn new(telemetry: Telemetry) -> Self {
        Recorder {
            telemetry,
            bmc_started: HashMap::new(),
            actions_started: HashMap::new(),
            sensor_series: HashMap::new(),
        }
    }

    /// An input on its way into the core.
    pub(crate) fn event(&mut self, event: &Event, now: Instant) {
        match event {
            Event::Heartbeat { network, event, .. } => {
                self.telemetry
                    .heartbeat
                    .get_or_create(&HeartbeatLabels {
                        network: name(network),
                        event: name(event),
                    })
                    .inc();
            }
            Event::Bmc {
                request, outcome, ..
            } => {
                if let Some((op, started)) = self.bmc_started.remove(request) {
                    let outcome = match outcome {
                        BmcOutcome::Done(_) => "done",
                        BmcOutcome::Failed(_) => "failed",
                    };
                    self.telemetry
                        .bmc_latency
                        .get_or_create(&BmcLabels {
                            operation: op.into(),
                            outcome: outcome.into(),
                        })
                        .observe(now.saturating_duration_since(started).as_secs_f64());
                }
            }
            _ => {}
        }
    }

    /// A journal line that became durable: an action accepted or ended. An action accepted
    /// before this controller started has no start here and is not timed.
    pub(crate) fn journal(&mut self, entry: &JournalEntry, now: Instant) {
        match entry {
            JournalEntry::Accepted { id, action, .. } => {
                if self.actions_started.len() > 100_000 {
                    self.actions_started.clear();
                }
                self.actions_started.insert(*id, (*action, now));
            }
            JournalEntry::Ended { id, outcome, .. } => {
                let Some((action, started)) = self.actions_started.remove(id) else {
                    return;
                };
                let outcome = match outcome {
                    ActionOutcome::Completed => "completed",
                    ActionOutcome::Failed { .. } => "failed",
                    ActionOutcome::SupersededBy { .. } => "superseded-by",
                };
                self.telemetry
                    .action_duration
                    .get_or_create(&ActionLabels {
                        action: action.as_str().to_string(),
                        outcome: outcome.into(),
                    })
                    .observe(now.saturating_duration_since(started).as_secs_f64());
            }
        }
    }

    /// A sensor read's answer, on its way to the sensor audit: the host's series are replaced by
    /// this read's values (a sensor that disappeared, or a read that failed, leaves no stale value).
    pub(crate) fn sensor_reply(&mut self, reply: &SensorReply) {
        self.forget_sensors(&reply.host);
        let readings = match &reply.result {
            Ok(readings) => readings,
            Err(_) => {
                self.telemetry
                    .sensor_read_failures
                    .get_or_create(&HostLabels {
                        host: reply.host.clone(),
                    })
                    .inc();
                return;
            }
        };
        let mut series = Vec::with_capacity(readings.len());
        for r in readings {
            let Some(value) = r.value.filter(|v| v.is_finite()) else {
                continue;
            };
            let labels = SensorLabels {
                host: reply.host.clone(),
                sensor: r.name.clone(),
                kind: name(&r.kind),
                unit: r.unit.clone().unwrap_or_default(),
            };
            self.telemetry
                .sensor_reading
                .get_or_create(&labels)
                .set(value);
            series.push(labels);
        }
        self.sensor_series.insert(reply.host.clone(), series);
    }

    fn forget_sensors(&mut self, host: &str) {
        for labels in self.sensor_series.remove(host).unwrap_or_default() {
            self.telemetry.sensor_reading.remove(&labels);
        }
    }

    /// An effect on its way out to the links.
    pub(crate) fn effect(&mut self, effect: &Effect, now: Instant) {
        let (operation, cause) = match effect {
            Effect::HostRemoved { host } => {
                self.forget_sensors(host);
                return;
            }
            Effect::Send { command, cause, .. } if command.is_destructive() => {
                (name(command), *cause)
            }
            Effect::Bmc { id, op, cause, .. } => {
                // A result never delivered (host deleted, BMC deprovisioned) must not pile up.
                if self.bmc_started.len() > 100_000 {
                    self.bmc_started.clear();
                }
                self.bmc_started.insert(*id, (op.name(), now));
                if !op.is_destructive() {
                    return;
                }
                (name(op), *cause)
            }
            _ => return,
        };
        if let Some(cause) = cause_name(cause) {
            self.telemetry
                .destructive
                .get_or_create(&DestructiveLabels {
                    cause: cause.into(),
                    operation,
                })
                .inc();
        }
    }
}
