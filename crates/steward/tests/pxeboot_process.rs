//! The pxeboot network end to end (docs/protocol.md#the-pxeboot-network): `steward node` as a real
//! process with a management and a pxeboot address (127.0.0.x), the controller's real UDP node link
//! bound on both, and the real maintenance core fed with what the link delivers.
//!
//! A network is "cut" by provisioning the host with an address nothing answers on: the link then
//! drops the node's frames on that network (wrong source) and sends its own into the void.
//!
//! 1. Pxeboot reports stop while management keeps reporting: alarm 200.003 is raised; they resume:
//!    it clears.
//! 2. Management is cut, pxeboot is not: a reboot sent on both still reaches the node (its reboot
//!    command runs) and the ack comes back on pxeboot.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use steward_controller::links::NodeLink;
use steward_controller::EventSender;
use steward_maintenance::alarm::{AlarmChange, AlarmId};
use steward_maintenance::config::Config;
use steward_maintenance::host::{HostRecord, HostSpec};
use steward_maintenance::state::{Personality, SystemType};
use steward_maintenance::{
    CommandId, Effect, Event, Maintenance, NodeCommand, ProtocolNetwork, SystemConfig,
};
use steward_node_link::{NodeLinkConfig, UdpNodeLink};
use steward_protocol::ClusterSecret;
use tokio::sync::mpsc;

const HOST: &str = "worker-7";

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A UDP port free on both of the node's addresses (the agent listens on one port everywhere).
fn free_port_on(a: IpAddr, b: IpAddr) -> u16 {
    for _ in 0..50 {
        let s = UdpSocket::bind(SocketAddr::new(a, 0)).unwrap_or_else(|e| panic!("{e}"));
        let port = s.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        if UdpSocket::bind(SocketAddr::new(b, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free on both {a} and {b}");
}

fn spec(mgmt: IpAddr, pxeboot: IpAddr) -> HostSpec {
    HostSpec {
        name: HOST.into(),
        uuid: "00000000-0000-0000-0000-000000000007".into(),
        personality: Personality::Worker,
        mgmt_ip: Some(mgmt.to_string()),
        mgmt_mac: None,
        pxeboot_ip: Some(pxeboot.to_string()),
        cluster_ip: None,
        bmc: None,
        install: Default::default(),
    }
}

/// The core driven on the wall clock from the link's events.
struct Core {
    core: Maintenance,
    start: std::time::Instant,
    alarms: Vec<AlarmChange>,
    events: mpsc::Receiver<Event>,
}

impl Core {
    fn now(&self) -> steward_maintenance::Instant {
        steward_maintenance::Instant::ZERO + self.start.elapsed()
    }

    fn drain(&mut self) {
        while let Some(e) = self.core.poll_effect() {
            if let Effect::Alarm(a) = e {
                self.alarms.push(a);
            }
        }
    }

    /// Feed events and timers for `d`, returning the events seen.
    async fn run_for(&mut self, d: Duration) -> Vec<Event> {
        let end = tokio::time::Instant::now() + d;
        let mut seen = Vec::new();
        loop {
            let tick = tokio::time::Instant::now() + Duration::from_millis(100);
            tokio::select! {
                ev = self.events.recv() => {
                    let Some(ev) = ev else { break };
                    let now = self.now();
                    self.core.handle_event(now, ev.clone());
                    seen.push(ev);
                }
                _ = tokio::time::sleep_until(tick.min(end)) => {}
            }
            let now = self.now();
            self.core.handle_timeout(now);
            self.drain();
            if tokio::time::Instant::now() >= end {
                break;
            }
        }
        seen
    }

    /// Run until the pxeboot alarm is `raised` (true) or cleared (false), at most `limit`.
    async fn until_alarm(&mut self, raised: bool, limit: Duration) -> Duration {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            self.run_for(Duration::from_millis(200)).await;
            if self.core.alarms().is_active(AlarmId::PxebootAlive, HOST) == raised {
                return start.elapsed();
            }
        }
        panic!(
            "200.003 not {} within {limit:?}; alarm changes: {:?}",
            if raised { "raised" } else { "cleared" },
            self.alarms
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pxeboot_alive_is_monitored_and_a_reboot_crosses_pxeboot_when_mgmt_is_cut() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let secret = ClusterSecret::new(&[7u8; 32]).unwrap_or_else(|e| panic!("{e}"));
    let keys = dir.path().join("keys.json");
    steward_node::keyfile::save(&keys, HOST, &secret.node_keys(HOST))
        .unwrap_or_else(|e| panic!("{e}"));
    // Controller: management 127.0.0.1, pxeboot 127.0.0.2. Node: 127.0.0.6 and 127.0.0.7.
    let (node_mgmt, node_pxe) = (ip(6), ip(7));
    let node_port = free_port_on(node_mgmt, node_pxe);
    let mut link_cfg = NodeLinkConfig::new(
        "controller-0",
        SocketAddr::new(ip(1), 0),
        dir.path().join("session"),
    );
    link_cfg.pxeboot_bind = Some(SocketAddr::new(ip(2), 0));
    link_cfg.node_port = node_port;
    let (mut link, attach) = UdpNodeLink::start(link_cfg, secret.clone())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (events, events_rx) = EventSender::channel(1024);
    attach.attach(events, 1);
    link.provision(&spec(node_mgmt, node_pxe));
    let ctrl_mgmt = link.local_addr(ProtocolNetwork::Mgmt).expect("mgmt bound");
    let ctrl_pxe = link
        .local_addr(ProtocolNetwork::Pxeboot)
        .expect("pxeboot bound");

    let rebooted = dir.path().join("rebooted");
    let p = |p: &std::path::Path| p.display().to_string();
    let child: Child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .args(["node", "--keys", &p(&keys), "--hostname", HOST])
        .args([
            "--mgmt-bind",
            &SocketAddr::new(node_mgmt, node_port).to_string(),
        ])
        .args(["--controller", &format!("controller-0={ctrl_mgmt}")])
        .args([
            "--pxeboot-bind",
            &SocketAddr::new(node_pxe, node_port).to_string(),
        ])
        .args(["--pxeboot-controller", &format!("controller-0={ctrl_pxe}")])
        .args(["--lock-flag", &p(&dir.path().join("run/node_locked"))])
        .args([
            "--lock-flag-backup",
            &p(&dir.path().join("lib/node_locked")),
        ])
        .args(["--state-dir", &p(&dir.path().join("lib"))])
        .args(["--goenabled-dir", &p(&dir.path().join("goenabled.d"))])
        .args(["--services-dir", &p(&dir.path().join("services.d"))])
        .args(["--status-socket", "none"])
        .args(["--alive-period", "200ms"])
        .args(["--reboot-command", &format!("touch {}", p(&rebooted))])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let _guard = KillOnDrop(child);

    // The core, with 1 s pxeboot checks: raised after 6 s without pxeboot reports, cleared after
    // 6 good checks.
    let mut cfg = Config::default();
    cfg.pxeboot.check_period.0 = Duration::from_secs(1);
    let start = std::time::Instant::now();
    let now = steward_maintenance::Instant::ZERO;
    let mut core = Maintenance::new(
        cfg,
        SystemConfig {
            system_type: SystemType::Standard,
            own_host: "controller-0".into(),
            controller_uptime: Duration::from_secs(86_400),
        },
        now,
    );
    core.add_host(
        now,
        HostRecord::in_service(spec(node_mgmt, node_pxe), SystemType::Standard),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let mut core = Core {
        core,
        start,
        alarms: Vec::new(),
        events: events_rx,
    };

    // Reports arrive on both networks, saying the agent reports on pxeboot.
    let seen = core.run_for(Duration::from_secs(3)).await;
    let on = |net: ProtocolNetwork| {
        seen.iter()
            .filter(|e| matches!(e, Event::Alive(a) if a.network == net && a.flags.pxeboot_alive))
            .count()
    };
    assert!(on(ProtocolNetwork::Mgmt) >= 3, "{seen:?}");
    assert!(on(ProtocolNetwork::Pxeboot) >= 3, "{seen:?}");
    core.run_for(Duration::from_secs(3)).await;
    assert!(core.alarms.is_empty(), "{:?}", core.alarms);

    // 1. Pxeboot cut: raised (6 missed 1 s checks), then restored: cleared (6 good checks).
    link.provision(&spec(node_mgmt, ip(98)));
    let took = core.until_alarm(true, Duration::from_secs(20)).await;
    assert!(took >= Duration::from_secs(5), "raised after only {took:?}");
    link.provision(&spec(node_mgmt, node_pxe));
    let took = core.until_alarm(false, Duration::from_secs(20)).await;
    assert!(
        took >= Duration::from_secs(5),
        "cleared after only {took:?}"
    );

    // 2. Management cut: the reboot sent on both networks arrives on pxeboot.
    link.provision(&spec(ip(99), node_pxe));
    core.run_for(Duration::from_millis(500)).await;
    link.send(
        HOST,
        CommandId(4242),
        NodeCommand::Reboot,
        &[ProtocolNetwork::Mgmt, ProtocolNetwork::Pxeboot],
    );
    let mut acked_on = None;
    for _ in 0..50 {
        let seen = core.run_for(Duration::from_millis(200)).await;
        acked_on = acked_on.or(seen.iter().find_map(|e| match e {
            Event::CommandAck {
                command: CommandId(4242),
                network,
                ..
            } => Some(*network),
            _ => None,
        }));
        if acked_on.is_some() && rebooted.exists() {
            break;
        }
    }
    assert_eq!(acked_on, Some(ProtocolNetwork::Pxeboot));
    assert!(rebooted.exists(), "the node's reboot command ran");
    assert!(
        link.stats().dropped(steward_protocol::Drop::WrongSource) > 0,
        "the cut management network's reports were dropped"
    );
}

/// Stops the node process however the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
