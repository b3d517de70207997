//! Shared by the API and CLI tests: a real controller (redb store in a temp dir, the real core, fast
//! scaled timers) with in-process simulated nodes (copied from the controller's runtime test, sped up
//! for real time), and the API served on 127.0.0.1 with a random port.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use steward_api::Auth;
use steward_controller::links::*;
use steward_controller::*;
use steward_maintenance::config::Config;
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::io::*;
use steward_maintenance::state::*;
use steward_maintenance::SystemConfig;
use steward_store::{RedbStore, Retention, SecretBox, Store};

/// A simulated machine: boots in 0.6 s with a new boot id, reports alive every 200 ms, acks commands,
/// passes go-enabled; its BMC powers it.
#[derive(Clone)]
pub struct Nodes {
    inner: Arc<Mutex<HashMap<String, NodeState>>>,
    pub events: Arc<Mutex<Option<EventSender>>>,
}

#[derive(Clone)]
struct NodeState {
    up: bool,
    boot_id: u64,
    booted: tokio::time::Instant,
    locked: bool,
}

impl Nodes {
    pub fn new() -> Nodes {
        Nodes {
            inner: Arc::default(),
            events: Arc::default(),
        }
    }

    pub fn add(&self, name: &str, locked: bool) {
        let st = NodeState {
            up: true,
            boot_id: rand_id(name, 0),
            booted: tokio::time::Instant::now(),
            locked,
        };
        self.inner.lock().unwrap().insert(name.into(), st);
    }

    fn sender(&self) -> EventSender {
        self.events.lock().unwrap().clone().expect("wired")
    }

    fn alive(&self, name: &str) -> Option<Event> {
        let map = self.inner.lock().unwrap();
        let n = map.get(name)?;
        n.up.then(|| {
            Event::Alive(AliveReport {
                host: name.into(),
                network: Network::Mgmt,
                boot_id: n.boot_id,
                uptime: n.booted.elapsed(),
                flags: NodeFlags {
                    configured: true,
                    healthy: true,
                    locked: n.locked,
                    ..Default::default()
                },
            })
        })
    }

    /// Every node reports every second.
    pub fn start_reporting(&self) {
        let me = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let names: Vec<String> = me.inner.lock().unwrap().keys().cloned().collect();
                for n in names {
                    if let Some(ev) = me.alive(&n) {
                        me.sender().send(ev).await;
                    }
                }
            }
        });
    }

    fn reboot(&self, name: &str) {
        if let Some(n) = self.inner.lock().unwrap().get_mut(name) {
            n.up = false;
        }
        let me = self.clone();
        let name = name.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(600)).await;
            if let Some(n) = me.inner.lock().unwrap().get_mut(&name) {
                n.up = true;
                n.boot_id = rand_id(&name, n.boot_id);
                n.booted = tokio::time::Instant::now();
            }
        });
    }
}

fn rand_id(name: &str, prev: u64) -> u64 {
    prev.wrapping_mul(6364136223846793005)
        .wrapping_add(name.len() as u64 + 1442695040888963407)
}

impl NodeLink for Nodes {
    fn send(&mut self, host: &str, id: CommandId, command: NodeCommand, _networks: &[Network]) {
        let up = self.inner.lock().unwrap().get(host).is_some_and(|n| n.up);
        if !up {
            return;
        }
        let tx = self.sender();
        let h = host.to_string();
        match command {
            NodeCommand::Reboot | NodeCommand::LazyReboot | NodeCommand::WipeDisk => {
                self.reboot(host)
            }
            NodeCommand::Locked { .. } => {
                self.inner.lock().unwrap().get_mut(host).unwrap().locked = true
            }
            NodeCommand::Unlocked => {
                self.inner.lock().unwrap().get_mut(host).unwrap().locked = false
            }
            NodeCommand::MainGoEnabled | NodeCommand::SubfGoEnabled => {
                let subfunction = command == NodeCommand::SubfGoEnabled;
                let tx2 = tx.clone();
                let h2 = h.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    tx2.send(Event::GoEnabled {
                        host: h2,
                        subfunction,
                        passed: true,
                        detail: String::new(),
                    })
                    .await;
                });
            }
            NodeCommand::StopServices => {
                let tx2 = tx.clone();
                let h2 = h.clone();
                tokio::spawn(async move {
                    tx2.send(Event::HostServices {
                        host: h2,
                        passed: true,
                        detail: String::new(),
                    })
                    .await;
                });
            }
            NodeCommand::RequestAlive => {
                if let Some(ev) = self.alive(host) {
                    let tx2 = tx.clone();
                    tokio::spawn(async move {
                        tx2.send(ev).await;
                    });
                }
            }
        }
        if command != NodeCommand::RequestAlive {
            tokio::spawn(async move {
                tx.send(Event::CommandAck {
                    host: h,
                    command: id,
                    network: Network::Mgmt,
                })
                .await;
            });
        }
    }
}

impl BmcLink for Nodes {
    fn submit(&mut self, host: &str, id: BmcRequestId, op: BmcOp) {
        let power = match op {
            BmcOp::PowerOff => {
                if let Some(n) = self.inner.lock().unwrap().get_mut(host) {
                    n.up = false;
                }
                PowerState::Off
            }
            BmcOp::PowerOn | BmcOp::PowerReset => {
                self.reboot(host);
                PowerState::On
            }
            _ => {
                let up = self.inner.lock().unwrap().get(host).is_some_and(|n| n.up);
                if up {
                    PowerState::On
                } else {
                    PowerState::Off
                }
            }
        };
        let tx = self.sender();
        let h = host.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            tx.send(Event::Bmc {
                host: h,
                request: id,
                outcome: BmcOutcome::Done(power),
            })
            .await;
        });
    }
}

impl HeartbeatLink for Nodes {
    fn control(&mut self, _host: Option<&str>, _control: HeartbeatControl) {}
}

impl SwactLink for Nodes {
    fn swact(&mut self, _to: &str) {}
}

pub fn links(nodes: &Nodes) -> Links {
    Links {
        node: Box::new(nodes.clone()),
        bmc: Box::new(nodes.clone()),
        heartbeat: Box::new(nodes.clone()),
        swact: Box::new(nodes.clone()),
    }
}

pub fn spec(name: &str, i: u8) -> HostSpec {
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
            address: format!("bmc-{i}"),
            username: "admin".into(),
        }),
    }
}

pub fn config() -> ControllerConfig {
    let mut c = Config::default().scaled(10);
    c.timeouts.host_add_delay.0 = Duration::from_millis(100);
    ControllerConfig::new(
        c,
        SystemConfig {
            system_type: SystemType::Standard,
            own_host: "controller-0".into(),
            controller_uptime: Duration::from_secs(86_400),
        },
    )
}

pub const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A running controller with three in-service hosts and the API in front of it.
pub struct Lab {
    pub url: String,
    pub handle: ControllerHandle,
    pub nodes: Nodes,
    _dir: tempfile::TempDir,
}

impl Lab {
    /// `lab_mode`: loopback clients need no token (otherwise [`TOKEN`] is required).
    pub async fn start(lab_mode: bool) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(RedbStore::open(dir.path(), Retention::default()).unwrap());
        let nodes = Nodes::new();
        let (handle, events, _task) =
            spawn(config(), store, SecretBox::from_key([7; 32]), links(&nodes)).unwrap();
        *nodes.events.lock().unwrap() = Some(events);
        nodes.start_reporting();
        for (i, n) in ["controller-0", "controller-1", "worker-0"]
            .into_iter()
            .enumerate()
        {
            nodes.add(n, false);
            let rec = HostRecord::in_service(spec(n, i as u8 + 1), SystemType::Standard);
            handle.add_host(rec).await.unwrap();
        }
        // Let the adds settle: every host unlocked-enabled-available with no task.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let hosts = handle.hosts().await.unwrap();
            if hosts
                .iter()
                .all(|h| h.states.to_string() == "unlocked-enabled-available" && h.task.is_empty())
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "hosts did not settle: {hosts:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let auth = Auth {
            tokens: vec![TOKEN.into()],
            loopback_without_token: lab_mode,
        };
        tokio::spawn(steward_api::serve(listener, handle.clone(), auth));
        Lab {
            url,
            handle,
            nodes,
            _dir: dir,
        }
    }
}
