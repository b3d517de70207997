//! The standby pulses too (docs/controller-pair.md#the-standby-pulses), against a real etcd (started
//! and stopped by the test) and real pulse responders of the node agent: two controllers of a pair
//! in this process on a shared in-memory store holding two in-service hosts.
//!
//! - worker-1 answers both controllers; worker-2 answers controller-0 only (a host the standby
//!   cannot reach). The standby's pulses are answered by worker-1 while the active's are answered by
//!   both (the active declares nobody failed).
//! - Swact to controller-1: worker-1, seen answering by the standby, is not declared failed and gets
//!   no heartbeat-loss alarm; worker-2, seen silent by the standby, is detected after the takeover
//!   with the normal thresholds: seeding does not hide it.
//! - controller-0, standby now, pulses both and sees both answering.

use reqwest::StatusCode;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use steward_controller::ControllerConfig;
use steward_controller_pair::runtime::{ActiveFactory, Grant};
use steward_controller_pair::{MirrorSpec, Pair, PairSpec, Role, StandbyPulseSpec, StandbySeen};
use steward_maintenance::config::Config;
use steward_maintenance::host::{HostRecord, HostSpec};
use steward_maintenance::state::{
    AdminState, Availability, HostStates, Network, OperState, Personality, SystemType,
};
use steward_maintenance::SystemConfig;
use steward_node::pulse_responder::{Responder, ResponderConfig, ResponderHandle};
use steward_protocol::{ClusterSecret, HealthFlags};
use steward_store::typed::TypedStore;
use steward_store::{Expect, MemStore, Retention, SecretBox, Store};
use steward_testpeers::etcd::EtcdPeer;
use steward_wiring::{ControllerBuilder, Storage};

const TOKEN: &str = "pair-heartbeat-token";
const STORE_KEY: [u8; 32] = [7; 32];
const CONTROLLER_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn secret() -> ClusterSecret {
    ClusterSecret::new(&[3u8; 32]).unwrap()
}

fn auth() -> steward_api::Auth {
    steward_api::Auth {
        tokens: vec![TOKEN.to_string()],
        loopback_without_token: false,
    }
}

/// Timers 20 times faster (add delay 1 s, heartbeat soak 0.55 s); pulses stay at 100 ms, so a
/// silent host is lost 1 s after its monitoring starts.
fn config() -> Config {
    Config::default().scaled(20)
}

fn host_ip(name: &str) -> IpAddr {
    let n: u8 = name.trim_start_matches("worker-").parse().unwrap();
    IpAddr::V4(Ipv4Addr::new(127, 9, 1, 10 + n))
}

/// An unlocked-enabled-available worker at its loopback address.
fn in_service(name: &str) -> HostRecord {
    let mut r = HostRecord::new_install(
        HostSpec {
            name: name.into(),
            uuid: format!("uuid-{name}"),
            personality: Personality::Worker,
            mgmt_ip: Some(host_ip(name).to_string()),
            mgmt_mac: None,
            cluster_ip: None,
            pxeboot_ip: None,
            install: Default::default(),
            bmc: None,
        },
        SystemType::Standard,
    );
    r.states = HostStates::new(
        AdminState::Unlocked,
        OperState::Enabled,
        Availability::Available,
    );
    r
}

/// The node agent's pulse responder of `host`, answering the named controllers only.
fn responder(host: &str, port: u16, controllers: &[&str]) -> ResponderHandle {
    let s = secret();
    let cfg = ResponderConfig {
        hostname: host.into(),
        keys: s.node_keys(host),
        pulse_key: s.pulse_key(),
        controllers: controllers
            .iter()
            .map(|c| (c.to_string(), Network::Mgmt, CONTROLLER_IP))
            .collect(),
        bind: vec![(Network::Mgmt, SocketAddr::new(host_ip(host), port))],
    };
    Responder::spawn(cfg, Arc::new(|| HealthFlags::new(true, false, false))).unwrap()
}

struct Member {
    pair: Pair,
    url: String,
    _dir: tempfile::TempDir,
}

fn builder(
    name: &str,
    store: Arc<dyn Store>,
    dir: &std::path::Path,
    node_port: u16,
) -> ControllerBuilder {
    let mut b = ControllerBuilder::new(
        name,
        config(),
        Storage::Given {
            store,
            secrets: SecretBox::from_key(STORE_KEY),
            cluster_secret: secret(),
            dir: dir.to_path_buf(),
        },
        SocketAddr::new(CONTROLLER_IP, 0),
    )
    .lab(20);
    b.heartbeat_port = 0;
    b.node_heartbeat_port = node_port;
    b.push.enabled = false;
    b
}

async fn member(name: &str, etcd: Vec<String>, store: Arc<dyn Store>, node_port: u16) -> Member {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let active: ActiveFactory = {
        let (name, store, path) = (name.to_string(), store.clone(), dir.path().to_path_buf());
        Arc::new(move |_grant: &Grant| Ok(builder(&name, store.clone(), &path, node_port)))
    };
    let pulses = StandbyPulseSpec::of(
        &builder(name, store.clone(), dir.path(), node_port),
        secret(),
    );
    let system = SystemConfig {
        system_type: SystemType::Standard,
        own_host: name.to_string(),
        controller_uptime: Duration::from_secs(86_400),
    };
    let mirror = MirrorSpec {
        store,
        secrets: Arc::new(|| Ok(SecretBox::from_key(STORE_KEY))),
        config: ControllerConfig::new(config(), system),
        auth: Arc::new(auth),
    };
    let mut spec = PairSpec::new(name, url.clone(), etcd, active, mirror);
    spec.ttl = Duration::from_secs(2);
    spec.margin = spec.ttl / 4;
    spec.mirror_every = Duration::from_millis(300);
    spec.pulses = Some(pulses);
    Member {
        pair: Pair::start(spec, listener).unwrap(),
        url,
        _dir: dir,
    }
}

async fn get(url: &str, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{url}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

/// The heartbeat alarms (200.005) the controller at `url` has raised, by host.
async fn heartbeat_alarms(url: &str) -> Vec<(String, String)> {
    let body = get(url, "/v1/alarms").await;
    body["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["alarm_id"] == "200.005")
        .map(|a| {
            (
                a["hostname"].as_str().unwrap_or_default().to_string(),
                a["severity"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn availability(url: &str, host: &str) -> String {
    let body = get(url, "/v1/ihosts").await;
    body["ihosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hostname"] == host)
        .and_then(|h| h["availability"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn answering(seen: &StandbySeen, host: &str) -> bool {
    seen.hosts
        .iter()
        .any(|s| s.host == host && s.misses == 0 && s.last_answered.is_some())
}

fn silent(seen: &StandbySeen, host: &str) -> bool {
    seen.hosts
        .iter()
        .any(|s| s.host == host && s.misses >= 4 && s.last_answered.is_none())
}

/// Until what `m`'s standby pulses saw satisfies `pred` (reloaded every 300 ms).
async fn standby_sees(m: &Member, pred: impl Fn(&StandbySeen) -> bool) -> StandbySeen {
    loop {
        let seen = m.pair.handle().standby_heartbeat();
        if pred(&seen) {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_pulses_and_a_takeover_fails_no_answering_host_but_still_finds_a_silent_one() {
    let etcd = EtcdPeer::start();
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    store.acquire_epoch(1).unwrap();
    let typed = TypedStore::new(store.clone(), SecretBox::from_key(STORE_KEY), 1);
    for h in ["worker-1", "worker-2"] {
        typed.put_host(&in_service(h), Expect::Absent).unwrap();
    }
    // The agents' pulse port: free on worker-1's address (and on worker-2's, unused otherwise).
    let port = std::net::UdpSocket::bind(SocketAddr::new(host_ip("worker-1"), 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let w1 = responder("worker-1", port, &["controller-0", "controller-1"]);
    let w2 = responder("worker-2", port, &["controller-0"]);

    let a = member("controller-0", etcd.endpoints(), store.clone(), port).await;
    a.pair
        .handle()
        .wait_role(|r| matches!(r, Role::Active { .. }))
        .await;
    let b = member("controller-1", etcd.endpoints(), store.clone(), port).await;
    b.pair
        .handle()
        .wait_role(|r| matches!(r, Role::Standby { active: Some(x) } if x.name == "controller-0"))
        .await;

    // The standby's pulses: worker-1 answers them, worker-2 does not know controller-1.
    let seen = standby_sees(&b, |s| answering(s, "worker-1") && silent(s, "worker-2")).await;
    assert!(seen.stats.replies > 0, "{:?}", seen.stats);
    // The standby's read-only /metrics shows its pulses.
    loop {
        let text = reqwest::Client::new()
            .get(format!("{}/metrics", b.url))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let accepted = text.lines().any(|l| {
            l.contains("link=\"standby_heartbeat\"")
                && l.contains("outcome=\"accepted\"")
                && !l.trim_end().ends_with(" 0")
        });
        if accepted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Meanwhile the active's pulses are answered by both: past its add delay and soak (1.55 s),
    // and a loss's 1 s, nobody is failed.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(heartbeat_alarms(&a.url).await, vec![]);
    for h in ["worker-1", "worker-2"] {
        assert_eq!(
            availability(&a.url, h).await,
            "available",
            "{h} on the active"
        );
    }
    let answered_before = w1.stats().answered;

    // Swact: controller-1 takes over, starting from what it saw as standby.
    a.pair.handle().swact().await;
    b.pair
        .handle()
        .wait_role(|r| matches!(r, Role::Active { .. }))
        .await;
    // worker-2, silent under the standby, is found with the normal thresholds after the takeover.
    loop {
        let alarms = heartbeat_alarms(&b.url).await;
        if alarms.contains(&("worker-2".to_string(), "critical".to_string())) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // worker-1 was started at the same moment and answers: past its soak and a loss's worth of
    // pulses more, it is neither failed nor alarmed.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let alarms = heartbeat_alarms(&b.url).await;
    assert!(
        !alarms.iter().any(|(h, _)| h == "worker-1"),
        "worker-1 alarmed after the takeover: {alarms:?}"
    );
    assert_eq!(availability(&b.url, "worker-1").await, "available");
    assert!(w1.stats().answered > answered_before);

    // controller-0, standby now, pulses both: each answers it.
    standby_sees(&a, |s| answering(s, "worker-1") && answering(s, "worker-2")).await;

    a.pair.shutdown().await;
    b.pair.shutdown().await;
    w1.shutdown().await;
    w2.shutdown().await;
}
