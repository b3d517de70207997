//! Simulated hosts with real tokio time and scaled timers: disk across reboots, boot records, the lock
//! flag backup, faults through the control socket, and a real controller driving three of them.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use steward_controller::{spawn, ControllerConfig};
use steward_maintenance::config::Config;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::io::{CommandId, NodeCommand};
use steward_maintenance::state::{Personality, PowerState, SystemType};
use steward_maintenance::{ActionOutcome, OperatorAction, SystemConfig};
use steward_simhost::{control, AgentState, SimCluster, SimHost, SimHostConfig};
use steward_store::{RedbStore, Retention, SecretBox, Store};

fn cfg(name: &str, dir: &Path) -> SimHostConfig {
    let mut c = SimHostConfig::new(name, dir.join(name));
    c.boot_delay = Duration::from_millis(150);
    c.alive_period = Duration::from_millis(100);
    c.goenabled_delay = Duration::from_millis(50);
    c
}

/// Polls `f` every 20 ms until it holds; panics after a generous bound (not a timing assertion).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never happened: {what}");
}

#[tokio::test]
async fn volatile_wiped_persistent_kept_and_boot_id_changes() {
    let dir = tempfile::tempdir().unwrap();
    let h = SimHost::start(cfg("worker-0", dir.path()), true).unwrap();
    assert_eq!(h.status().agent, AgentState::Up);
    let first = h.boot_record().expect("boot record written at boot");
    assert_eq!(first.boot_id, h.status().boot_id);
    assert_eq!(first.boot_count, 1);
    let vol = h.dir().join("volatile/scratch");
    let per = h.dir().join("persistent/keep");
    std::fs::write(&vol, "x").unwrap();
    std::fs::write(&per, "y").unwrap();

    h.deliver(CommandId(1), NodeCommand::Reboot);
    assert_eq!(h.status().agent, AgentState::Booting);
    assert!(h.alive_report().is_none(), "silent while booting");
    until("rebooted", || h.status().agent == AgentState::Up).await;

    assert!(!vol.exists(), "volatile part wiped at boot");
    assert_eq!(std::fs::read_to_string(&per).unwrap(), "y");
    let second = h.boot_record().unwrap();
    assert_ne!(second.boot_id, first.boot_id);
    assert_eq!(second.boot_count, 2);
    assert_eq!(h.alive_report().unwrap().boot_id, second.boot_id);

    // A wipe clears the persistent part too: a fresh install.
    h.deliver(CommandId(2), NodeCommand::WipeDisk);
    until("reinstalled", || h.status().agent == AgentState::Up).await;
    assert!(!per.exists());
    assert_eq!(h.boot_record().unwrap().boot_count, 1);
    h.shutdown();
}

#[tokio::test]
async fn lock_flag_restored_from_backup_at_boot() {
    let dir = tempfile::tempdir().unwrap();
    let h = SimHost::start(cfg("worker-1", dir.path()), true).unwrap();
    assert!(!h.alive_report().unwrap().flags.locked);

    // Volatile only: gone after a reboot.
    h.deliver(CommandId(1), NodeCommand::Locked { persist: false });
    assert!(h.alive_report().unwrap().flags.locked);
    h.deliver(CommandId(2), NodeCommand::Reboot);
    until("rebooted", || h.status().agent == AgentState::Up).await;
    assert!(!h.alive_report().unwrap().flags.locked);

    // With the backup: restored at boot, reported in the very first alive report.
    h.deliver(CommandId(3), NodeCommand::Locked { persist: true });
    let id = h.status().boot_id;
    h.power_reset();
    until("reset", || {
        h.status().boot_id != id && h.status().agent == AgentState::Up
    })
    .await;
    assert!(h.locked_flag());
    assert!(h.alive_report().unwrap().flags.locked);

    h.deliver(CommandId(4), NodeCommand::Unlocked);
    assert!(!h.locked_flag());
    assert!(!h.dir().join("persistent/node_locked").exists());
    h.shutdown();
}

#[tokio::test]
async fn faults_and_power_through_the_control_socket() {
    let dir = tempfile::tempdir().unwrap();
    let h = SimHost::start(cfg("storage-0", dir.path()), true).unwrap();
    let d = h.dir().to_path_buf();
    let st = control(&d, "status").await.unwrap();
    assert!(st.starts_with("ok power=on agent=up"), "{st}");

    let r = control(&d, "hang").await.unwrap();
    assert!(r.contains("power=on agent=hung"), "{r}");
    assert!(h.alive_report().is_none(), "a hung host stops answering");
    let r = control(&d, "heal").await.unwrap();
    assert!(r.contains("agent=up"), "{r}");

    let r = control(&d, "crash").await.unwrap();
    assert!(r.contains("power=off agent=off"), "{r}");
    assert_eq!(h.power(), PowerState::Off);
    // Power loss lasts until the BMC powers it on.
    assert_eq!(control(&d, "on").await.unwrap(), "ok power=on");
    until("booted after power-on", || {
        h.status().agent == AgentState::Up
    })
    .await;

    assert_eq!(control(&d, "off").await.unwrap(), "ok power=off");
    let r = control(&d, "heal").await.unwrap();
    assert!(r.contains("power=on agent=booting"), "{r}");
    until("healed", || h.status().agent == AgentState::Up).await;

    // From another thread without a runtime, as the `steward lab` CLI does.
    let d2 = d.clone();
    let r = tokio::task::spawn_blocking(move || steward_simhost::control_blocking(&d2, "cycle"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, "ok power=on");
    let r = control(&d, "bogus").await.unwrap();
    assert!(r.starts_with("error unknown command"), "{r}");
    h.shutdown();
}

fn spec(name: &str, i: u8) -> HostSpec {
    HostSpec {
        name: name.into(),
        uuid: format!("00000000-0000-0000-0000-0000000000{i:02}"),
        personality: if name.starts_with("controller") {
            Personality::Controller
        } else {
            Personality::Worker
        },
        mgmt_ip: Some(format!("192.0.2.{i}")),
        mgmt_mac: None,
        cluster_ip: None,
        bmc: Some(BmcSpec {
            protocol: BmcProtocol::Redfish,
            address: format!("127.0.0.1:sim-{i}"),
            username: "admin".into(),
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_locks_and_unlocks_simulated_hosts() {
    const SCALE: u32 = 20;
    let dir = tempfile::tempdir().unwrap();
    let config = Config::default().scaled(SCALE);
    let cluster = SimCluster::new(SCALE);
    let names = ["controller-0", "controller-1", "worker-0"];
    for n in names {
        let mut c = SimHostConfig::new(n, dir.path().join(n)).scaled(SCALE);
        c.alive_period = config.timeouts.alive_period.0;
        cluster.add(SimHost::start(c, true).unwrap());
    }
    let store: Arc<dyn Store> =
        Arc::new(RedbStore::open(&dir.path().join("store"), Retention::default()).unwrap());
    let (handle, events, task) = spawn(
        ControllerConfig::new(
            config,
            SystemConfig {
                system_type: SystemType::Standard,
                own_host: "controller-0".into(),
                controller_uptime: Duration::from_secs(86_400),
            },
        ),
        store,
        SecretBox::from_key([3; 32]),
        cluster.links(),
    )
    .unwrap();
    cluster.set_events(events);
    for (i, n) in names.into_iter().enumerate() {
        let rec = HostRecord::in_service(spec(n, i as u8 + 1), SystemType::Standard);
        handle.add_host(rec).await.unwrap();
        // The password makes the controller provision the (simulated) BMC: it becomes accessible.
        let bmc = spec(n, i as u8 + 1).bmc.unwrap();
        handle
            .set_bmc_credentials(n, bmc, "secret".into())
            .await
            .unwrap();
    }

    // Self-protection: the controller's own host cannot be locked.
    let refused = handle
        .request("controller-0", OperatorAction::Lock)
        .await
        .unwrap_err();
    assert!(refused.to_string().starts_with("Cannot lock"), "{refused}");

    // Lock a worker: locked-disabled-online, and its agent holds the lock flag.
    let mut lock = None;
    for _ in 0..300 {
        match handle.request("worker-0", OperatorAction::Lock).await {
            Ok(id) => {
                lock = Some(id);
                break;
            }
            // Still settling after the add (e.g. a pending add delay): try again shortly.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    let lock = lock.expect("lock accepted");
    let outcome = handle
        .wait(lock, Duration::from_millis(50), |_| {})
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::Completed);
    let w = handle.host("worker-0").await.unwrap().unwrap();
    assert_eq!(w.states.to_string(), "locked-disabled-online");
    let sim = cluster.host("worker-0").unwrap();
    until("lock flag set on the host", || sim.locked_flag()).await;
    let boot_before = sim.status().boot_id;

    // Unlock: the host reboots and comes back enabled and available.
    let unlock = handle
        .request("worker-0", OperatorAction::Unlock)
        .await
        .unwrap();
    let outcome = handle
        .wait(unlock, Duration::from_millis(50), |_| {})
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::Completed);
    let w = handle.host("worker-0").await.unwrap().unwrap();
    assert_eq!(w.states.to_string(), "unlocked-enabled-available");
    assert_ne!(
        sim.status().boot_id,
        boot_before,
        "unlock rebooted the host"
    );
    assert!(!sim.locked_flag());

    // Power loss: heartbeat loss, then the controller powers the host on through its BMC and it
    // comes back in service with a new boot.
    let boot_before = sim.status().boot_id;
    sim.crash();
    let mut seen_failure = false;
    for _ in 0..1500 {
        let w = handle.host("worker-0").await.unwrap().unwrap();
        let s = w.states.to_string();
        if s != "unlocked-enabled-available" {
            seen_failure = true;
        } else if seen_failure && sim.status().boot_id != boot_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(seen_failure, "the controller noticed the power loss");
    let w = handle.host("worker-0").await.unwrap().unwrap();
    assert_eq!(w.states.to_string(), "unlocked-enabled-available");
    assert_eq!(
        sim.status().agent,
        AgentState::Up,
        "powered on by the controller"
    );

    // The others were untouched.
    for n in ["controller-0", "controller-1"] {
        let h = handle.host(n).await.unwrap().unwrap();
        assert_eq!(h.states.to_string(), "unlocked-enabled-available", "{n}");
    }
    handle.shutdown().await.unwrap();
    task.await.unwrap();
    cluster.shutdown();
}
