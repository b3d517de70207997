//! The controller's sensor audit end to end with an in-process BMC link whose sensors the test sets:
//! reads on the host's audit interval, alarms 200.007/200.015 raised after two reads and cleared, the
//! host's hardware degrade, a critical sensor with action reset driving the core's reset through the
//! BMC link, operator changes over the handle, and a restart that neither raises again nor forgets.
//! Time is tokio's paused clock (the audit interval is at least 10 s).

use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_controller::links::{BmcAccess, BmcLink, HeartbeatLink, NodeLink, SwactLink};
use steward_controller::*;
use steward_maintenance::config::Config;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::io::{BmcOp, BmcOutcome, BmcRequestId, Event};
use steward_maintenance::state::{DegradeMask, Personality, PowerState, SystemType};
use steward_maintenance::SystemConfig;
use steward_sensors::{Action, BmcStatus, Reading, ReadingKind};
use steward_store::{MemStore, Retention, SecretBox, Store};

/// The simulated BMC's sensors and what it was asked to do.
#[derive(Default)]
struct Board {
    readings: Vec<Reading>,
    unreachable: bool,
    reads: u32,
    ops: Vec<BmcOp>,
    /// SEL entries the next read reports as new.
    sel: Vec<String>,
}

#[derive(Clone)]
struct FakeBmc {
    board: Arc<Mutex<Board>>,
    events: EventSender,
}

impl BmcLink for FakeBmc {
    fn submit(&mut self, host: &str, request: BmcRequestId, op: BmcOp) {
        self.board.lock().unwrap().ops.push(op.clone());
        let events = self.events.clone();
        let host = host.to_string();
        let state = if op == BmcOp::PowerOff {
            PowerState::Off
        } else {
            PowerState::On
        };
        tokio::spawn(async move {
            events
                .send(Event::Bmc {
                    host,
                    request,
                    outcome: BmcOutcome::Done(state),
                })
                .await
        });
    }

    fn provision(&mut self, host: &str, access: Option<BmcAccess>) {
        let events = self.events.clone();
        let host = host.to_string();
        tokio::spawn(async move {
            events
                .send(Event::BmcAccess {
                    host,
                    accessible: access.is_some(),
                })
                .await
        });
    }

    fn read_sensors(&mut self, host: &str, read: u64, replies: SensorReplies) {
        let (result, sel) = {
            let mut b = self.board.lock().unwrap();
            b.reads += 1;
            let sel = std::mem::take(&mut b.sel);
            if b.unreachable {
                (Err("BMC unreachable".to_string()), sel)
            } else {
                (Ok(b.readings.clone()), sel)
            }
        };
        let host = host.to_string();
        tokio::spawn(async move {
            replies
                .send(SensorReply {
                    host,
                    read,
                    result,
                    sel,
                })
                .await
        });
    }
}

struct Silent;

impl NodeLink for Silent {
    fn send(
        &mut self,
        _: &str,
        _: steward_maintenance::CommandId,
        _: steward_maintenance::io::NodeCommand,
        _: &[steward_maintenance::ProtocolNetwork],
    ) {
    }
}

impl HeartbeatLink for Silent {
    fn control(&mut self, _: Option<&str>, _: steward_maintenance::io::HeartbeatControl) {}
}

impl SwactLink for Silent {
    fn swact(&mut self, _: &str) {}
}

const INTERVAL: Duration = Duration::from_secs(10);

fn start(store: &Arc<dyn Store>, board: &Arc<Mutex<Board>>) -> ControllerHandle {
    let mut cfg = ControllerConfig::new(
        Config::default(),
        SystemConfig {
            system_type: SystemType::Standard,
            own_host: "controller-0".into(),
            controller_uptime: Duration::from_secs(86_400),
        },
    );
    cfg.sensors.audit_interval = INTERVAL;
    cfg.sensors.first_read_delay = Duration::from_secs(1);
    let (events, rx) = EventSender::channel(1024);
    let links = Links {
        node: Box::new(Silent),
        bmc: Box::new(FakeBmc {
            board: board.clone(),
            events: events.clone(),
        }),
        heartbeat: Box::new(Silent),
        swact: Box::new(Silent),
    };
    let (handle, _events, _task) = spawn_with_events(
        cfg,
        store.clone(),
        SecretBox::from_key([3; 32]),
        links,
        (events, rx),
    )
    .unwrap();
    handle
}

fn readings(cpu: f64, cpu_status: BmcStatus) -> Vec<Reading> {
    let mut fan = Reading::new("Fan 1", ReadingKind::Fan, Some(5200.0), BmcStatus::Ok);
    fan.unit = Some("RPM".into());
    let mut cpu = Reading::new("CPU Temp", ReadingKind::Temperature, Some(cpu), cpu_status);
    cpu.unit = Some("C".into());
    let mut psu = Reading::new("PSU1 Status", ReadingKind::Discrete, None, BmcStatus::Ok);
    psu.unit = None;
    vec![cpu, fan, psu]
}

fn set(board: &Arc<Mutex<Board>>, r: Vec<Reading>) {
    board.lock().unwrap().readings = r;
}

/// Let the paused clock run `reads` audit intervals. Reads happen 1 s after the BMC is provisioned
/// and every interval after; [`add_host_with_bmc`] leaves the clock half a second past the first, so
/// every check lands half a second after a read.
async fn run_reads(reads: u32) {
    tokio::time::sleep(INTERVAL * reads).await;
}

async fn sensor_alarms(handle: &ControllerHandle) -> Vec<(String, String, String)> {
    handle
        .sensor_alarms()
        .await
        .unwrap()
        .into_iter()
        .map(|a| {
            (
                a.alarm.id.code().to_string(),
                a.alarm.entity,
                format!("{:?}", a.alarm.severity).to_lowercase(),
            )
        })
        .collect()
}

async fn hwmon_degraded(handle: &ControllerHandle) -> bool {
    handle
        .host("worker-0")
        .await
        .unwrap()
        .unwrap()
        .degrade
        .has(DegradeMask::HWMON)
}

async fn add_host_with_bmc(handle: &ControllerHandle) {
    let spec = HostSpec {
        name: "worker-0".into(),
        uuid: "00000000-0000-4000-8000-000000000001".into(),
        personality: Personality::Worker,
        mgmt_ip: None,
        mgmt_mac: None,
        pxeboot_ip: None,
        cluster_ip: None,
        bmc: None,
        install: Default::default(),
    };
    handle
        .add_host(HostRecord::new_install(spec, SystemType::Standard))
        .await
        .unwrap();
    let bmc = BmcSpec {
        protocol: BmcProtocol::Redfish,
        address: "https://127.0.0.1:1".into(),
        username: "root".into(),
    };
    handle
        .set_bmc_credentials("worker-0", bmc, "pw".into())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
}

#[tokio::test(start_paused = true)]
async fn critical_reading_alarms_degrades_resets_and_clears() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let board = Arc::new(Mutex::new(Board::default()));
    set(&board, readings(45.0, BmcStatus::Ok));
    let handle = start(&store, &board);
    add_host_with_bmc(&handle).await;

    // The first read learns the model: three sensors in their canned groups, all ok.
    let view = handle.host_sensors("worker-0").await.unwrap();
    assert!(view.monitored);
    let names: Vec<&str> = view
        .sensors
        .iter()
        .map(|s| s.record.name.as_str())
        .collect();
    assert_eq!(names, ["CPU Temp", "Fan 1", "PSU1 Status"]);
    let cpu = &view.sensors[0];
    assert_eq!(cpu.record.status.as_str(), "ok");
    assert_eq!(cpu.value, Some(45.0));
    let groups: Vec<&str> = view.groups.iter().map(|g| g.record.kind.name()).collect();
    assert_eq!(
        groups,
        ["server temperature", "server fans", "server power"]
    );
    assert!(sensor_alarms(&handle).await.is_empty());

    // Critical for one read: nothing yet (debounce); the second read confirms it.
    set(&board, readings(97.0, BmcStatus::Critical));
    run_reads(1).await;
    assert!(sensor_alarms(&handle).await.is_empty());
    assert!(!hwmon_degraded(&handle).await);
    run_reads(1).await;
    assert_eq!(
        sensor_alarms(&handle).await,
        [(
            "200.007".into(),
            "host=worker-0.sensor=CPU Temp".into(),
            "critical".into()
        )]
    );
    assert!(hwmon_degraded(&handle).await);
    // The alarm is durable in the store.
    assert!(store
        .get("sensoralarms/200.007/host=worker-0.sensor=CPU Temp")
        .unwrap()
        .is_some());

    // The operator chooses reset for critical temperatures: the sensor is already in a critical
    // episode, so the core is asked once, and its reset handler goes to the BMC.
    let temp_group = view.groups[0].uuid.clone();
    let patched = handle
        .patch_sensor_group(
            &temp_group,
            GroupPatch {
                critical: Some(Action::Reset),
                ..GroupPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.record.actions.critical, Action::Reset);
    // The change is in the event log (a group line, 200.015), and so is the core's reset.
    let events = handle.events(50).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.entry.id.code() == "200.015" && e.entry.text.contains("server temperature")),
        "{events:?}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ops = board.lock().unwrap().ops.clone();
    assert!(ops.contains(&BmcOp::PowerReset), "{ops:?}");
    // Staying critical does not ask again.
    let resets = |b: &Arc<Mutex<Board>>| {
        b.lock()
            .unwrap()
            .ops
            .iter()
            .filter(|o| **o == BmcOp::PowerReset)
            .count()
    };
    let events = handle.events(50).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.entry.text.contains("auto reset (critical sensor)")),
        "{events:?}"
    );
    let before = resets(&board);
    tokio::time::sleep(Duration::from_secs(9)).await;
    run_reads(3).await;
    assert_eq!(resets(&board), before);

    // Back to normal: cleared after two good reads, degrade dropped.
    set(&board, readings(50.0, BmcStatus::Ok));
    run_reads(1).await;
    assert_eq!(sensor_alarms(&handle).await.len(), 1);
    run_reads(1).await;
    assert!(sensor_alarms(&handle).await.is_empty());
    assert!(!hwmon_degraded(&handle).await);

    // The BMC stops answering: every group's read failed (200.015, major), no degrade.
    board.lock().unwrap().unreachable = true;
    run_reads(1).await;
    let alarms = sensor_alarms(&handle).await;
    assert_eq!(alarms.len(), 3, "{alarms:?}");
    assert!(alarms.iter().all(|(id, e, sev)| id == "200.015"
        && e.starts_with("host=worker-0.sensorgroup=")
        && sev == "major"));
    assert!(!hwmon_degraded(&handle).await);
    board.lock().unwrap().unreachable = false;
    run_reads(1).await;
    assert!(sensor_alarms(&handle).await.is_empty());
    handle.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_model_settings_and_alarms() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let board = Arc::new(Mutex::new(Board::default()));
    set(&board, readings(45.0, BmcStatus::Ok));
    let handle = start(&store, &board);
    add_host_with_bmc(&handle).await;
    let view = handle.host_sensors("worker-0").await.unwrap();
    // Suppress the fan, set the host's interval to 30 s through the fans group.
    let fan = view.sensors[1].uuid.clone();
    handle
        .patch_sensor(
            &fan,
            SensorPatch {
                suppress: Some(true),
                ..SensorPatch::default()
            },
        )
        .await
        .unwrap();
    let fans = view.groups[1].uuid.clone();
    let g = handle
        .patch_sensor_group(
            &fans,
            GroupPatch {
                audit_interval: Some(Duration::from_secs(30)),
                ..GroupPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(g.audit_interval_secs, 30);
    // Below the minimum: refused, nothing changes.
    let refused = handle
        .patch_sensor_group(
            &fans,
            GroupPatch {
                audit_interval: Some(Duration::from_secs(5)),
                ..GroupPatch::default()
            },
        )
        .await;
    assert!(
        matches!(refused, Err(HandleError::Invalid(_))),
        "{refused:?}"
    );
    // A major reading with the default action log: no alarm; a critical one: alarm.
    set(&board, readings(97.0, BmcStatus::Critical));
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(sensor_alarms(&handle).await.len(), 1);
    handle.shutdown().await.unwrap();

    // The restarted controller shows the model before any read, keeps the alarm and the degrade,
    // and the settings.
    let reads_before = board.lock().unwrap().reads;
    let handle = start(&store, &board);
    let view = handle.host_sensors("worker-0").await.unwrap();
    assert_eq!(view.sensors.len(), 3);
    assert!(view.sensors[1].record.suppress);
    assert_eq!(view.sensors[0].record.status.as_str(), "critical");
    assert_eq!(view.sensors[0].audit_interval_secs, 30);
    assert_eq!(sensor_alarms(&handle).await.len(), 1);
    assert_eq!(board.lock().unwrap().reads, reads_before);
    // Recovered while the controller was down: the next reads clear it.
    set(&board, readings(50.0, BmcStatus::Ok));
    tokio::time::sleep(Duration::from_secs(70)).await;
    assert!(sensor_alarms(&handle).await.is_empty());

    // Relearn: the model is learned again from the next read, settings of sensors kept.
    handle.relearn_sensors("worker-0").await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let view = handle.host_sensors("worker-0").await.unwrap();
    assert!(view.sensors[1].record.suppress);
    handle.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn deleting_the_host_or_its_bmc_clears_its_sensor_alarms() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let board = Arc::new(Mutex::new(Board::default()));
    set(&board, readings(97.0, BmcStatus::Critical));
    let handle = start(&store, &board);
    add_host_with_bmc(&handle).await;
    // The first sample of a fault needs a second read too.
    run_reads(1).await;
    assert_eq!(sensor_alarms(&handle).await.len(), 1);
    assert!(store.get("sensors/worker-0").unwrap().is_some());
    let fan = handle.host_sensors("worker-0").await.unwrap().sensors[1]
        .uuid
        .clone();
    handle
        .patch_sensor(
            &fan,
            SensorPatch {
                suppress: Some(true),
                ..SensorPatch::default()
            },
        )
        .await
        .unwrap();

    // BMC deprovisioned: monitoring stops, its alarm and the degrade go, the model is kept.
    handle.set_bmc("worker-0", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sensor_alarms(&handle).await.is_empty());
    assert!(!hwmon_degraded(&handle).await);
    assert!(!handle.host_sensors("worker-0").await.unwrap().monitored);
    let reads = board.lock().unwrap().reads;
    run_reads(2).await;
    assert_eq!(board.lock().unwrap().reads, reads, "no reads without a BMC");

    // A model stored for a host that no longer exists (deleted while its BMC was deprovisioned and
    // the controller down) is forgotten at start.
    store
        .put(
            "sensors/worker-gone",
            &store.get("sensors/worker-0").unwrap().unwrap().value,
            steward_store::Expect::Any,
            store.epoch().unwrap(),
        )
        .unwrap();

    // Provisioned again: the kept model is restored and read; then the host is deleted.
    let bmc = BmcSpec {
        protocol: BmcProtocol::Redfish,
        address: "https://127.0.0.1:1".into(),
        username: "root".into(),
    };
    handle
        .set_bmc_credentials("worker-0", bmc, "pw".into())
        .await
        .unwrap();
    let view = handle.host_sensors("worker-0").await.unwrap();
    assert!(view.monitored);
    assert!(view.sensors[1].record.suppress, "settings kept: {view:?}");
    run_reads(2).await;
    assert_eq!(sensor_alarms(&handle).await.len(), 1);
    let del = handle
        .request("worker-0", steward_maintenance::OperatorAction::Delete)
        .await
        .unwrap();
    handle
        .wait(del, Duration::from_millis(100), |_| {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(sensor_alarms(&handle).await.is_empty());
    assert!(store.get("sensors/worker-0").unwrap().is_none());
    assert!(store.list("sensoralarms/").unwrap().is_empty());
    handle.shutdown().await.unwrap();
    let _handle = start(&store, &board);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(store.list("sensors/").unwrap().is_empty());
}

fn reads(board: &Arc<Mutex<Board>>) -> u32 {
    board.lock().unwrap().reads
}

#[tokio::test(start_paused = true)]
async fn a_push_event_reads_now_and_confirms_without_replacing_the_audit() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let board = Arc::new(Mutex::new(Board::default()));
    set(&board, readings(45.0, BmcStatus::Ok));
    let handle = start(&store, &board);
    assert!(
        !handle.read_sensors_now("worker-0").await.unwrap(),
        "not monitored yet"
    );
    add_host_with_bmc(&handle).await;
    assert_eq!(reads(&board), 1);

    // Mid-interval, the BMC says something changed: two reads at once, and the alarm.
    tokio::time::sleep(INTERVAL / 4).await;
    set(&board, readings(97.0, BmcStatus::Critical));
    assert!(handle.read_sensors_now("worker-0").await.unwrap());
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(reads(&board), 3, "one read to see, one to confirm");
    assert_eq!(
        sensor_alarms(&handle).await,
        [(
            "200.007".into(),
            "host=worker-0.sensor=CPU Temp".into(),
            "critical".into()
        )]
    );
    // No more reads until the audit's own, one interval after the last read.
    tokio::time::sleep(INTERVAL - Duration::from_millis(100)).await;
    assert_eq!(reads(&board), 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(reads(&board), 4, "the periodic audit goes on");

    // A read that finds new SEL sensor events logs them and confirms at once.
    set(&board, readings(45.0, BmcStatus::Ok));
    board.lock().unwrap().sel = vec!["Temperature sensor #1 asserted".into()];
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(reads(&board), 6, "the audit's read and its confirmation");
    assert!(sensor_alarms(&handle).await.is_empty());
    let events = handle.events(50).await.unwrap();
    assert!(
        events.iter().any(|e| e
            .entry
            .text
            .contains("BMC event log: Temperature sensor #1 asserted")),
        "{events:?}"
    );
}
