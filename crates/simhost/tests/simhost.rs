//! Simulated hosts with real time, the real node agent over UDP (to the controller's real node
//! link) and the Redfish BMC (through the project's BMC client): disk across reboots, boot ids,
//! the lock flag pair across reboots, power through Redfish, faults through the control socket.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use steward_bmc::{Bmc, BmcConfig, BmcProtocol, PowerAction};
use steward_controller::links::NodeLink;
use steward_controller::EventSender;
use steward_maintenance::host::HostSpec;
use steward_maintenance::io::{CommandId, Event, NodeCommand};
use steward_maintenance::state::{Network, Personality, PowerState};
use steward_node_link::{NodeLinkConfig, UdpNodeLink};
use steward_protocol::ClusterSecret;
use steward_simhost::lab::{host_address, LabHost};
use steward_simhost::{control, AgentState, SimHost, SimHostConfig};
use tokio::sync::mpsc;

const PASSWORD: &str = "simhost-test-password";

/// Each test host gets its own loopback addresses (tests run in parallel in one process).
static NEXT: AtomicUsize = AtomicUsize::new(7000);

fn secret() -> ClusterSecret {
    ClusterSecret::new(b"simhost tests: a secret of at least 32 bytes").unwrap()
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

struct Rig {
    host: SimHost,
    link: UdpNodeLink,
    events: mpsc::Receiver<Event>,
    _dir: tempfile::TempDir,
}

/// A controller-side node link and one simulated host with agent and BMC, both on loopback.
async fn rig(name: &str) -> Rig {
    rig_with(name, |_| {}).await
}

/// [`rig`], with the machine's configuration adjusted by `adjust` before it starts.
async fn rig_with(name: &str, adjust: impl FnOnce(&mut SimHostConfig)) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let i = NEXT.fetch_add(1, Ordering::Relaxed);
    let mgmt: IpAddr = host_address(Some(Network::Mgmt), i).into();
    // A port of our own: the link sends every command to it.
    let node_port = std::net::UdpSocket::bind((mgmt, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut lc = NodeLinkConfig::new(
        "controller-0",
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
        dir.path().join("session"),
    );
    lc.node_port = node_port;
    let (mut link, attach) = UdpNodeLink::start(lc, secret()).await.unwrap();
    let (tx, events) = EventSender::channel(1024);
    attach.attach(tx, 1);
    let lab = LabHost {
        name: name.into(),
        dir: dir.path().join(name),
        keys: secret().node_keys(name),
        mgmt_ip: mgmt,
        cluster_ip: None,
        node_port,
        heartbeat_port: None,
        controller: "controller-0".into(),
        controller_mgmt: link.local_addr(Network::Mgmt).unwrap(),
        controller_cluster: None,
        bmc_bind: Some(SocketAddr::new(host_address(None, i).into(), 0)),
        bmc_password: PASSWORD.into(),
        scale: 100,
        alive_period: Duration::from_millis(100),
        monitors: Default::default(),
        pmon_dir: None,
    };
    link.provision(&HostSpec {
        name: name.into(),
        uuid: format!("uuid-{name}"),
        personality: Personality::Worker,
        mgmt_ip: Some(mgmt.to_string()),
        mgmt_mac: None,
        pxeboot_ip: None,
        cluster_ip: None,
        bmc: None,
        install: Default::default(),
    });
    let mut config = lab.config();
    adjust(&mut config);
    let host = SimHost::start(config, true).await.unwrap();
    Rig {
        host,
        link,
        events,
        _dir: dir,
    }
}

/// The next alive report, skipping other events.
async fn next_alive(rx: &mut mpsc::Receiver<Event>) -> steward_maintenance::io::AliveReport {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("an alive report within 30 s")
            .expect("link running");
        if let Event::Alive(r) = ev {
            return r;
        }
    }
}

#[tokio::test]
async fn disk_and_boot_record_across_reboots() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = SimHostConfig::new("worker-0", dir.path().join("worker-0"));
    c.boot_delay = Duration::from_millis(100);
    let h = SimHost::start(c, true).await.unwrap();
    assert_eq!(h.status().agent, AgentState::Up);
    let first = h.boot_record().expect("boot record written at boot");
    assert_eq!(first.boot_id, h.status().boot_id);
    assert_eq!(first.boot_count, 1);
    let vol = h.dir().join("volatile/scratch");
    let per = h.dir().join("persistent/keep");
    std::fs::write(&vol, "x").unwrap();
    std::fs::write(&per, "y").unwrap();
    h.reboot();
    assert_eq!(h.status().agent, AgentState::Booting);
    until("rebooted", || h.status().agent == AgentState::Up).await;
    assert!(!vol.exists(), "volatile part wiped at boot");
    assert_eq!(std::fs::read_to_string(&per).unwrap(), "y");
    let second = h.boot_record().unwrap();
    assert_ne!(second.boot_id, first.boot_id);
    assert_eq!(second.boot_count, 2);
    h.shutdown().await;
}

#[tokio::test]
async fn the_real_agent_reports_boots_and_keeps_the_lock_flag_pair_across_reboots() {
    let mut r = rig("worker-1").await;
    let a = next_alive(&mut r.events).await;
    assert_eq!(a.boot_id, r.host.status().boot_id);

    // Locked with persist: both files; a reboot (by command, through the agent) keeps both and
    // the first report of the new boot already says locked.
    r.link.send(
        "worker-1",
        CommandId(1),
        NodeCommand::Locked { persist: true },
        &[Network::Mgmt.into()],
    );
    until("both flags", || r.host.lock_flags() == Some((true, true))).await;
    let before = r.host.status().boot_id;
    r.link.send(
        "worker-1",
        CommandId(2),
        NodeCommand::Reboot,
        &[Network::Mgmt.into()],
    );
    let after = loop {
        let a = next_alive(&mut r.events).await;
        if a.boot_id != before {
            break a;
        }
    };
    assert!(
        after.flags.locked,
        "restored from the backup before the first report"
    );
    assert!(after.uptime < Duration::from_secs(10));
    assert_eq!(r.host.lock_flags(), Some((true, true)));

    // Unlocked: both gone, and they stay gone across a BMC reset.
    r.link.send(
        "worker-1",
        CommandId(3),
        NodeCommand::Unlocked,
        &[Network::Mgmt.into()],
    );
    until("no flags", || r.host.lock_flags() == Some((false, false))).await;
    r.host.power_reset();
    until("back up", || r.host.status().agent == AgentState::Up).await;
    let a = loop {
        let a = next_alive(&mut r.events).await;
        if a.boot_id == r.host.status().boot_id {
            break a;
        }
    };
    assert!(!a.flags.locked);
    assert!(
        r.link.inventory("worker-1").is_some(),
        "inventory reported at start"
    );
    r.host.shutdown().await;
}

async fn bmc_client(h: &SimHost) -> Bmc {
    let mut c = BmcConfig::new(
        h.bmc_url().unwrap(),
        BmcProtocol::Redfish,
        "admin",
        PASSWORD,
    );
    c.poll_interval = Duration::from_millis(20);
    c.power_timeout = Duration::from_secs(20);
    Bmc::connect(c).await.unwrap()
}

#[tokio::test]
async fn power_through_the_redfish_bmc_acts_on_the_machine() {
    let r = rig("worker-2").await;
    let h = &r.host;
    let mut bmc = bmc_client(h).await;
    let id = h.status().boot_id;
    bmc.power(PowerAction::Reset).await.unwrap();
    until("reset seen as a new boot", || {
        h.status().boot_id != id && h.status().agent == AgentState::Up
    })
    .await;
    bmc.power(PowerAction::Off).await.unwrap();
    assert_eq!(h.power(), PowerState::Off);
    assert!(h.agent_stats().is_none(), "the agent dies with the power");
    bmc.power(PowerAction::On).await.unwrap();
    until("booted", || h.status().agent == AgentState::Up).await;
    assert!(h.agent_stats().is_some());
    h.shutdown().await;
}

#[tokio::test]
async fn faults_through_the_control_socket() {
    let r = rig("storage-0").await;
    let h = &r.host;
    let d = h.dir().to_path_buf();
    let st = control(&d, "status").await.unwrap();
    assert!(st.starts_with("ok power=on agent=up"), "{st}");

    let r2 = control(&d, "hang").await.unwrap();
    assert!(r2.contains("power=on agent=hung"), "{r2}");
    assert!(h.agent_stats().is_none(), "a hung host's agent is silent");
    let r2 = control(&d, "heal").await.unwrap();
    assert!(r2.contains("agent=up"), "{r2}");
    assert!(h.agent_stats().is_some());

    let r2 = control(&d, "crash").await.unwrap();
    assert!(r2.contains("power=off agent=off"), "{r2}");
    assert_eq!(control(&d, "on").await.unwrap(), "ok power=on");
    until("booted after power-on", || {
        h.status().agent == AgentState::Up
    })
    .await;

    // BMC unreachable and back: the client sees it.
    control(&d, "bmc-down").await.unwrap();
    let mut c = BmcConfig::new(
        h.bmc_url().unwrap(),
        BmcProtocol::Redfish,
        "admin",
        PASSWORD,
    );
    c.power_timeout = Duration::from_secs(5);
    assert!(Bmc::connect(c).await.is_err(), "an unreachable BMC refuses");
    control(&d, "bmc-up").await.unwrap();
    let mut bmc = bmc_client(h).await;
    assert_eq!(
        bmc.power_state().await.unwrap(),
        steward_bmc::PowerState::On
    );

    // A sensor event with nobody subscribed goes nowhere; an unknown sensor is refused.
    let ev = control(&d, "sensor-event CPU1 Temp").await.unwrap();
    assert_eq!(ev, "ok event about CPU1 Temp pushed to 0 subscriber(s)");
    let ev = control(&d, "sensor-event Warp Core").await.unwrap();
    assert!(ev.starts_with("error no sensor"), "{ev}");

    let d2 = d.clone();
    let out = tokio::task::spawn_blocking(move || steward_simhost::control_blocking(&d2, "bogus"))
        .await
        .unwrap()
        .unwrap();
    assert!(out.starts_with("error unknown command"), "{out}");
    h.shutdown().await;
}

#[tokio::test]
async fn a_hung_reboot_command_leaves_the_machine_up_for_the_agents_failsafe() {
    let trigger_dir = tempfile::tempdir().unwrap();
    let trigger = trigger_dir.path().join("sysrq-trigger");
    std::fs::write(&trigger, "").unwrap();
    let t = trigger.clone();
    let mut r = rig_with("worker-5", move |c| {
        let agent = c.agent.as_mut().unwrap();
        agent.safety.failsafe_reboot_delay = Some(Duration::from_millis(200));
        agent.safety.sysrq_trigger_path = t;
    })
    .await;
    next_alive(&mut r.events).await;
    let d = r.host.dir().to_path_buf();
    let before = r.host.status().boot_id;
    assert!(control(&d, "reboot-hang").await.unwrap().starts_with("ok"));
    assert!(r.host.reboot_hangs());
    r.link.send(
        "worker-5",
        CommandId(1),
        NodeCommand::Reboot,
        &[Network::Mgmt.into()],
    );
    // The failsafe fires only in an agent that outlived its reboot command: the machine stayed on
    // its boot.
    until("the failsafe's SysRq b", || {
        std::fs::read_to_string(&trigger).unwrap_or_default() == "b"
    })
    .await;
    assert_eq!(r.host.status().boot_id, before);
    assert_eq!(r.host.status().agent, AgentState::Up);
    // `heal` undoes the fault: the next reboot command reboots, and its agent's failsafe dies
    // with it.
    std::fs::write(&trigger, "").unwrap();
    control(&d, "heal").await.unwrap();
    assert!(!r.host.reboot_hangs());
    r.link.send(
        "worker-5",
        CommandId(2),
        NodeCommand::Reboot,
        &[Network::Mgmt.into()],
    );
    until("rebooted", || r.host.status().boot_id != before).await;
    until("booted", || r.host.status().agent == AgentState::Up).await;
    next_alive(&mut r.events).await;
    assert_eq!(std::fs::read_to_string(&trigger).unwrap(), "");
    r.host.shutdown().await;
}

/// The machine booted once from the virtual CD holding an install image comes back as a new
/// install: persistent disk wiped (but for what the image lays down), an install record naming the
/// image, a new boot whose count restarts, and an agent without state that takes the host as
/// locked. A `Cd` boot without media goes to the disk. The image is the lab's placeholder, served
/// by the controller's own image server and mounted by the BMC over HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booting_from_an_inserted_image_installs_the_machine_afresh() {
    use steward_simhost::lab::{write_lab_image, LAB_IMAGE};
    use steward_wiring::image_server::{serve_images, ImageServerOptions};

    let images = tempfile::tempdir().unwrap();
    write_lab_image(images.path()).unwrap();
    let served = serve_images(ImageServerOptions {
        dir: images.path().to_path_buf(),
        bind: "127.0.0.1:0".parse().unwrap(),
    })
    .await
    .unwrap();
    let image = served.url_of(LAB_IMAGE);

    let mut r = rig("worker-4").await;
    let h = r.host.clone();
    next_alive(&mut r.events).await;
    // The old install: unlocked (no flags), a file of its own, the platform's process files.
    r.link.send(
        "worker-4",
        CommandId(1),
        NodeCommand::Unlocked,
        &[Network::Mgmt.into()],
    );
    until("no flags", || h.lock_flags() == Some((false, false))).await;
    let persistent = h.dir().join("persistent");
    std::fs::write(persistent.join("old-install-data"), b"x").unwrap();
    std::fs::create_dir_all(persistent.join("pmon.d")).unwrap();
    std::fs::write(
        persistent.join("pmon.d/kept.toml"),
        b"# laid down by the image",
    )
    .unwrap();
    assert_eq!(h.install_record(), None);
    let before = h.status().boot_id;

    // What a reinstall by virtual media does through the BMC.
    let mut bmc = bmc_client(&h).await;
    bmc.power(PowerAction::Off).await.unwrap();
    bmc.insert_virtual_media(&image).await.unwrap();
    let media = bmc.virtual_media_status().await.unwrap();
    assert!(media.holds(&image), "{media:?}");
    let set = bmc.boot_once_virtual_cd(None).await.unwrap();
    assert_eq!((set.target.as_str(), set.enabled.as_str()), ("Cd", "Once"));
    bmc.power(PowerAction::On).await.unwrap();
    let report = loop {
        let a = next_alive(&mut r.events).await;
        if a.boot_id != before {
            break a;
        }
    };
    assert!(report.flags.locked, "a new install comes up locked");
    let installed = h.install_record().expect("install record");
    assert_eq!(installed.image, image);
    assert_eq!(installed.image_name, LAB_IMAGE);
    assert_eq!(
        h.boot_record().unwrap().boot_count,
        1,
        "boots since the install"
    );
    assert!(!persistent.join("old-install-data").exists(), "disk wiped");
    assert!(
        persistent.join("pmon.d/kept.toml").exists(),
        "the image's files"
    );
    until("both flags", || h.lock_flags() == Some((true, true))).await;
    bmc.eject_virtual_media().await.unwrap();
    assert!(!bmc.virtual_media_status().await.unwrap().inserted);
    assert_eq!(h.bmc_media().unwrap().image, None);

    // A Cd boot with nothing inserted boots the disk: the same install, one boot more.
    bmc.boot_once_virtual_cd(None).await.unwrap();
    let id = h.status().boot_id;
    bmc.power(PowerAction::Reset).await.unwrap();
    until("rebooted", || {
        h.status().boot_id != id && h.status().agent == AgentState::Up
    })
    .await;
    assert_eq!(h.install_record().unwrap().install_id, installed.install_id);
    assert_eq!(h.boot_record().unwrap().boot_count, 2);
    h.shutdown().await;
    served.stop().await;
}
