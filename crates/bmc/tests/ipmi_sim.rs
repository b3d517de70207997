//! `steward-bmc` against a real OpenIPMI `ipmi_sim` (Debian `openipmi`).
//! No wall-clock assertions: only states read back and orderings.

mod support;

use std::time::Duration;

use steward_bmc::scheduler::{Priority, Scheduler, SchedulerConfig};
use steward_bmc::{
    Bmc, BmcConfig, BmcError, BmcProtocol, BootTarget, PowerAction, PowerState, SensorKind,
    SensorStatus,
};
use support::{require_ipmi_sim, IpmiSim};

fn close_to(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-6)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_learns_ipmi_and_reads_info() {
    if !require_ipmi_sim() {
        return;
    }
    let sim = IpmiSim::start().await;
    // Nothing answers https on the sim's port (UDP only): learning falls back to IPMI.
    let mut bmc = Bmc::connect(sim.config(BmcProtocol::Dynamic))
        .await
        .expect("connect dynamic");
    assert_eq!(bmc.configured_protocol(), BmcProtocol::Dynamic);
    assert_eq!(bmc.protocol(), BmcProtocol::Ipmi);
    let info = bmc.info().await.expect("info");
    assert_eq!(info.protocol, Some(BmcProtocol::Ipmi));
    assert!(
        info.manufacturer.as_deref().unwrap().contains("4753"),
        "{info:?}"
    );
    assert_eq!(info.model.as_deref(), Some("product 0x0F02"));
    assert_eq!(info.firmware.as_deref(), Some("9.08"));
    assert_eq!(info.protocol_version.as_deref(), Some("2.0"));
    assert!(!format!("{bmc:?}").contains(support::PASS));
    bmc.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_actions_read_back() {
    if !require_ipmi_sim() {
        return;
    }
    let sim = IpmiSim::start().await;
    let mut bmc = Bmc::connect(sim.config(BmcProtocol::Ipmi))
        .await
        .expect("connect");
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::On);

    assert_eq!(bmc.power(PowerAction::Off).await.unwrap(), PowerState::Off);
    assert_eq!(sim.file("power"), "0");
    assert_eq!(bmc.power(PowerAction::On).await.unwrap(), PowerState::On);
    assert_eq!(sim.file("power"), "1");
    assert_eq!(bmc.power(PowerAction::Reset).await.unwrap(), PowerState::On);
    assert!(
        sim.calls().iter().any(|c| c.contains("set reset 1")),
        "{:?}",
        sim.calls()
    );
    assert_eq!(
        bmc.power(PowerAction::SoftOff).await.unwrap(),
        PowerState::Off
    );
    assert!(sim.calls().iter().any(|c| c.contains("set shutdown 1")));
    assert_eq!(bmc.power(PowerAction::On).await.unwrap(), PowerState::On);

    // ipmi_sim's cycle only powers off (README quirk): the host stays off past the
    // grace period and we power it on ourselves; done only once On reads back.
    let before = sim.calls().len();
    assert_eq!(bmc.power(PowerAction::Cycle).await.unwrap(), PowerState::On);
    let calls = sim.calls()[before..].to_vec();
    let off = calls.iter().position(|c| c.contains("set power 0"));
    let on = calls.iter().position(|c| c.contains("set power 1"));
    assert!(
        matches!((off, on), (Some(a), Some(b)) if a < b),
        "{calls:?}"
    );
    assert_eq!(sim.file("power"), "1");

    // Cycle of an off host is a power on.
    bmc.power(PowerAction::Off).await.unwrap();
    assert_eq!(bmc.power(PowerAction::Cycle).await.unwrap(), PowerState::On);
    bmc.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_back_timeout_names_last_state() {
    if !require_ipmi_sim() {
        return;
    }
    let sim = IpmiSim::start().await;
    let mut cfg = sim.config(BmcProtocol::Ipmi);
    cfg.power_timeout = Duration::from_millis(600);
    let mut bmc = Bmc::connect(cfg).await.expect("connect");
    bmc.power(PowerAction::Off).await.unwrap();
    // Hard reset of an off chassis leaves it off in ipmi_sim: On never reads back.
    match bmc.power(PowerAction::Reset).await {
        Err(e @ BmcError::PowerTimeout { .. }) => {
            let m = e.to_string();
            assert!(m.contains("last state seen: off"), "{m}");
        }
        other => panic!("expected PowerTimeout, got {other:?}"),
    }
    bmc.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensors_normalized_sel_and_bootdev() {
    if !require_ipmi_sim() {
        return;
    }
    let sim = IpmiSim::start().await;
    let mut bmc = Bmc::connect(sim.config(BmcProtocol::Ipmi))
        .await
        .expect("connect");
    let s = bmc.sensors().await.expect("sensors");
    let get = |n: &str| {
        s.iter()
            .find(|r| r.name == n)
            .unwrap_or_else(|| panic!("{n}: {s:?}"))
    };
    let cpu = get("CPUTmp");
    assert_eq!(cpu.kind, SensorKind::Temperature);
    assert!(close_to(cpu.value, 96.0), "{cpu:?}");
    assert_eq!(cpu.unit.as_deref(), Some("C"));
    assert_eq!(cpu.status, SensorStatus::Ok);
    assert!(close_to(cpu.thresholds.upper_non_critical, 112.0));
    assert!(close_to(cpu.thresholds.upper_critical, 144.0));
    assert!(close_to(cpu.thresholds.upper_non_recoverable, 160.0));
    let fan = get("SysFan1");
    assert_eq!(fan.kind, SensorKind::Fan);
    assert!(close_to(fan.value, 4800.0));
    assert_eq!(fan.unit.as_deref(), Some("RPM"));
    assert!(close_to(fan.thresholds.lower_critical, 1000.0));
    let v = get("P12V");
    assert_eq!(v.kind, SensorKind::Voltage);
    assert!(close_to(v.value, 12.05));
    assert_eq!(v.unit.as_deref(), Some("V"));
    assert!(close_to(v.thresholds.lower_non_recoverable, 9.65));
    let psu = get("PSU1_Status");
    assert_eq!(psu.kind, SensorKind::Discrete);
    assert_eq!(psu.value, None);

    let sel = bmc.sel().await.expect("sel");
    assert_eq!(sel.len(), 2, "{sel:?}");
    assert!(sel[0].message.contains("asserted"), "{sel:?}");
    assert!(sel[1].message.contains("deasserted"), "{sel:?}");

    bmc.set_boot_device(BootTarget::Pxe, true)
        .await
        .expect("pxe");
    assert_eq!(sim.file("boot"), "pxe");
    bmc.set_boot_device(BootTarget::Cd, false)
        .await
        .expect("cd");
    assert_eq!(sim.file("boot"), "cdrom");
    bmc.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unreachable_are_typed() {
    if !require_ipmi_sim() {
        return;
    }
    let sim = IpmiSim::start().await;
    let mut cfg = sim.config(BmcProtocol::Ipmi);
    cfg.set_password("wrong-password");
    let err = Bmc::connect(cfg).await.expect_err("bad password");
    assert!(err.is_auth(), "{err:?}");
    let m = err.to_string();
    assert!(m.contains("check the username and password"), "{m}");
    assert!(!m.contains("wrong-password"), "{m}");

    // Nothing listens on this port (the socket is closed before connecting).
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cfg = BmcConfig::new(dead.to_string(), BmcProtocol::Dynamic, "admin", "pw");
    cfg.ipmi_timeout = Duration::from_millis(200);
    cfg.ipmi_retries = 0;
    let err = Bmc::connect(cfg).await.expect_err("unreachable");
    // Dynamic tried both protocols: the error says why each failed.
    assert!(matches!(err, BmcError::NoProtocol { .. }), "{err:?}");
    let m = err.to_string();
    assert!(
        m.contains("Redfish over https://") && m.contains("IPMI (RMCP+) on UDP"),
        "{m}"
    );
    assert!(
        m.contains("check the address and that the BMC is powered"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_serializes_concurrent_operations_on_one_bmc() {
    if !require_ipmi_sim() {
        return;
    }
    let sim = IpmiSim::start().await;
    let bmc = Bmc::connect(sim.config(BmcProtocol::Ipmi))
        .await
        .expect("connect");
    let gap = Duration::from_millis(300);
    let sched = Scheduler::new(SchedulerConfig {
        gap,
        max_concurrent: 4,
    });
    let (h, join) = sched.add(bmc);
    // Two callers at once: a sensor audit and a power action. Each records its own
    // start/end; the scheduler must not overlap them and must keep the gap.
    let h2 = h.clone();
    let audit = tokio::spawn(async move {
        h2.run(Priority::Audit, |b: &mut Bmc| {
            Box::pin(async move {
                let t0 = tokio::time::Instant::now();
                let r = b.sensors().await.map(|s| s.len());
                (t0, tokio::time::Instant::now(), r)
            })
        })
        .await
        .unwrap()
    });
    let h3 = h.clone();
    let power = tokio::spawn(async move {
        h3.run(Priority::Power, |b: &mut Bmc| {
            Box::pin(async move {
                let t0 = tokio::time::Instant::now();
                let r = b.power(PowerAction::Off).await;
                (t0, tokio::time::Instant::now(), r)
            })
        })
        .await
        .unwrap()
    });
    let (a0, a1, ar) = audit.await.unwrap();
    let (p0, p1, pr) = power.await.unwrap();
    assert_eq!(ar.expect("sensors"), 4);
    assert_eq!(pr.expect("power off"), PowerState::Off);
    let (first_end, second_start) = if a0 < p0 { (a1, p0) } else { (p1, a0) };
    assert!(
        second_start >= first_end + gap,
        "operations overlapped or were not spaced"
    );
    // Convenience wrappers go through the same queue.
    assert_eq!(h.power(PowerAction::On).await.unwrap(), PowerState::On);
    assert_eq!(h.power_state().await.unwrap(), PowerState::On);
    drop(h);
    let bmc = join.await.unwrap();
    bmc.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_lost_on_bmc_restart_is_reopened() {
    if !require_ipmi_sim() {
        return;
    }
    let mut sim = IpmiSim::start().await;
    let mut cfg = sim.config(BmcProtocol::Dynamic);
    cfg.ipmi_timeout = Duration::from_millis(500);
    cfg.ipmi_retries = 1;
    let mut bmc = Bmc::connect(cfg).await.expect("connect");
    assert_eq!(bmc.power_state().await.unwrap(), PowerState::On);
    // The BMC "reboots": our session id means nothing to the new process.
    sim.restart().await;
    assert_eq!(
        bmc.power_state().await.expect("reopened session"),
        PowerState::On
    );
    // The learned protocol is kept: no relearning on reconnect.
    assert_eq!(bmc.protocol(), BmcProtocol::Ipmi);
    assert_eq!(bmc.power(PowerAction::Off).await.unwrap(), PowerState::Off);
    bmc.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_boot_needs_redfish() {
    if !require_ipmi_sim() {
        return;
    }
    let sim = IpmiSim::start().await;
    let mut bmc = Bmc::connect(sim.config(BmcProtocol::Ipmi))
        .await
        .expect("connect");
    for result in [bmc.secure_boot().await, bmc.set_secure_boot(true).await] {
        match result {
            Err(e @ steward_bmc::BmcError::Unsupported { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("secure boot needs Redfish"), "{msg}");
                assert!(msg.contains(&sim.address()), "names the BMC: {msg}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }
    bmc.close().await.expect("close");
}
