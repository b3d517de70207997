//! Two controllers of a pair in this process, elected through a real etcd (started and stopped by
//! the test): the standby serves reads and refuses writes naming the active, swact hands the role
//! over and back, the standby takes over when the active's runtime dies, and an active cut off from
//! etcd stops acting before the standby starts.

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use steward_controller::ControllerConfig;
use steward_controller_pair::runtime::{ActiveFactory, Grant};
use steward_controller_pair::{MirrorSpec, Pair, PairSpec, Role, ACTIVE_URL_HEADER};
use steward_maintenance::config::Config;
use steward_maintenance::state::SystemType;
use steward_maintenance::SystemConfig;
use steward_protocol::ClusterSecret;
use steward_store::{MemStore, Retention, SecretBox, Store};
use steward_testpeers::etcd::EtcdPeer;
use steward_wiring::{ControllerBuilder, Storage};

const TOKEN: &str = "pair-test-token";
const STORE_KEY: [u8; 32] = [7; 32];

fn auth() -> steward_api::Auth {
    steward_api::Auth {
        tokens: vec![TOKEN.to_string()],
        loopback_without_token: false,
    }
}

fn config() -> Config {
    Config::default().scaled(20)
}

struct Member {
    pair: Pair,
    url: String,
    _dir: tempfile::TempDir,
}

async fn member(name: &str, etcd: Vec<String>, store: Arc<dyn Store>, ttl: Duration) -> Member {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let url = format!("http://{addr}");
    let system = SystemConfig {
        system_type: SystemType::Standard,
        own_host: name.to_string(),
        controller_uptime: Duration::from_secs(86_400),
    };
    let active: ActiveFactory = {
        let (name, store, path) = (name.to_string(), store.clone(), dir.path().to_path_buf());
        Arc::new(move |_grant: &Grant| {
            let mut b = ControllerBuilder::new(
                name.clone(),
                config(),
                Storage::Given {
                    store: store.clone(),
                    secrets: SecretBox::from_key(STORE_KEY),
                    cluster_secret: ClusterSecret::new(&[3u8; 32]).unwrap(),
                    dir: path.clone(),
                },
                "127.0.0.1:0".parse().unwrap(),
            )
            .lab(20);
            b.heartbeat_port = 0;
            b.push.enabled = false;
            Ok(b)
        })
    };
    let mirror = MirrorSpec {
        store,
        secrets: Arc::new(|| Ok(SecretBox::from_key(STORE_KEY))),
        config: ControllerConfig::new(config(), system),
        auth: Arc::new(auth),
    };
    let mut spec = PairSpec::new(name, url.clone(), etcd, active, mirror);
    spec.ttl = ttl;
    spec.margin = ttl / 4;
    spec.mirror_every = Duration::from_millis(300);
    Member {
        pair: Pair::start(spec, listener).unwrap(),
        url,
        _dir: dir,
    }
}

async fn active_epoch(m: &Member) -> u64 {
    match m
        .pair
        .handle()
        .wait_role(|r| matches!(r, Role::Active { .. }))
        .await
    {
        Role::Active { epoch } => epoch,
        other => panic!("not active: {other:?}"),
    }
}

async fn standby_of(m: &Member, active: &str) {
    m.pair
        .handle()
        .wait_role(|r| matches!(r, Role::Standby { active: Some(a) } if a.name == active))
        .await;
}

async fn send(
    url: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

async fn hostnames(url: &str) -> Option<Vec<String>> {
    let r = send(url, reqwest::Method::GET, "/v1/ihosts", None).await;
    if r.status() != StatusCode::OK {
        return None;
    }
    let body: Value = r.json().await.unwrap();
    Some(
        body["ihosts"]
            .as_array()?
            .iter()
            .filter_map(|h| h["hostname"].as_str().map(str::to_string))
            .collect(),
    )
}

/// controller-0 started and active (with its epoch), then controller-1 started as its standby; each
/// with its own etcd endpoints and store.
async fn start_pair(
    a: (Vec<String>, Arc<dyn Store>),
    b: (Vec<String>, Arc<dyn Store>),
    ttl: Duration,
) -> (Member, u64, Member) {
    let first = member("controller-0", a.0, a.1, ttl).await;
    let epoch = active_epoch(&first).await;
    let second = member("controller-1", b.0, b.1, ttl).await;
    standby_of(&second, "controller-0").await;
    (first, epoch, second)
}

/// POST a new host (`new_host`) to the API at `url`.
async fn post_host(url: &str, name: &str) -> reqwest::Response {
    send(
        url,
        reqwest::Method::POST,
        "/v1/ihosts",
        Some(new_host(name)),
    )
    .await
}

fn new_host(name: &str) -> Value {
    let n: u8 = name.trim_start_matches("worker-").parse().unwrap_or(0);
    json!({"hostname": name, "personality": "worker", "mgmt_ip": format!("127.9.0.{}", n + 10)})
}

/// A write on the standby is refused with 503 naming the active's URL (body and header).
async fn assert_refuses_writes(standby: &Member, active: &Member) {
    let r = post_host(&standby.url, "worker-9").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        r.headers()
            .get(ACTIVE_URL_HEADER)
            .and_then(|v| v.to_str().ok()),
        Some(active.url.as_str())
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["active_url"], active.url.as_str(), "{body}");
    // Only a client the API would serve learns where the active is: without a token, or with a
    // wrong one, the standby answers 401 like the API and names no URL.
    for token in [None, Some("not-the-token")] {
        let mut req = reqwest::Client::new()
            .post(format!("{}/v1/ihosts", standby.url))
            .json(&new_host("worker-9"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "token {token:?}");
        assert!(r.headers().get(ACTIVE_URL_HEADER).is_none());
        let text = r.text().await.unwrap();
        assert!(!text.contains(active.url.as_str()), "{text}");
    }
}

/// Until the standby's mirror shows `host` (it reloads every 300 ms).
async fn mirror_shows(standby: &Member, host: &str) {
    loop {
        if hostnames(&standby.url)
            .await
            .is_some_and(|h| h.iter().any(|n| n == host))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swact_hands_the_role_over_and_back_and_the_standby_serves_reads_only() {
    let etcd = EtcdPeer::start();
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let ttl = Duration::from_secs(2);
    let (a, epoch_a, b) = start_pair(
        (etcd.endpoints(), store.clone()),
        (etcd.endpoints(), store.clone()),
        ttl,
    )
    .await;

    // Writes go to the active; the standby refuses them and mirrors what was written.
    let r = post_host(&a.url, "worker-1").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_refuses_writes(&b, &a).await;
    mirror_shows(&b, "worker-1").await;

    // Swact: b takes over with a newer epoch, a becomes its standby.
    let t0 = Instant::now();
    a.pair.handle().swact().await;
    let epoch_b = active_epoch(&b).await;
    let swact = t0.elapsed();
    standby_of(&a, "controller-1").await;
    assert!(epoch_b > epoch_a, "{epoch_b} > {epoch_a}");
    assert_eq!(
        hostnames(&b.url).await.unwrap(),
        vec!["worker-1".to_string()]
    );
    assert_refuses_writes(&a, &b).await;
    let r = post_host(&b.url, "worker-2").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    mirror_shows(&a, "worker-2").await;

    // And back.
    let t1 = Instant::now();
    b.pair.handle().swact().await;
    let epoch_a2 = active_epoch(&a).await;
    let swact_back = t1.elapsed();
    standby_of(&b, "controller-0").await;
    assert!(epoch_a2 > epoch_b);
    let mut hosts = hostnames(&a.url).await.unwrap();
    hosts.sort();
    assert_eq!(hosts, vec!["worker-1".to_string(), "worker-2".to_string()]);
    eprintln!("swact {swact:?}, swact back {swact_back:?} (lease ttl {ttl:?})");
    a.pair.shutdown().await;
    b.pair.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_when_the_active_dies() {
    let etcd = EtcdPeer::start();
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let ttl = Duration::from_secs(2);
    let (a, epoch_a, b) = start_pair(
        (etcd.endpoints(), store.clone()),
        (etcd.endpoints(), store.clone()),
        ttl,
    )
    .await;
    let r = post_host(&a.url, "worker-1").await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // a's runtime dies without resigning: no more keepalives, the lease runs out.
    let t0 = Instant::now();
    a.pair.abandon();
    let epoch_b = active_epoch(&b).await;
    let takeover = t0.elapsed();
    assert!(epoch_b > epoch_a);
    // The lease cannot have expired before a TTL without keepalives had passed (minus the last
    // keepalive period at most): b did not act while a's lease was alive.
    assert!(takeover >= ttl - ttl / 3, "{takeover:?}");
    assert_eq!(
        hostnames(&b.url).await.unwrap(),
        vec!["worker-1".to_string()]
    );
    eprintln!("takeover after the active died: {takeover:?} (lease ttl {ttl:?})");
    b.pair.shutdown().await;
}

/// A TCP relay to etcd that the test can cut: open connections are dropped and new ones refused.
struct Relay {
    url: String,
    cut: Arc<std::sync::atomic::AtomicBool>,
    conns: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns = Arc::new(std::sync::Mutex::new(Vec::new()));
        let target = target.trim_start_matches("http://").to_string();
        let (c, k) = (cut.clone(), conns.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                let target = target.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut out) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                    }
                });
                k.lock().unwrap().push(task);
            }
        });
        Relay { url, cut, conns }
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in self.conns.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// When `m` first satisfies `pred` after now.
fn when(
    m: &Member,
    pred: impl Fn(&Role) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<Instant> {
    let h = m.pair.handle();
    tokio::spawn(async move {
        h.wait_role(pred).await;
        Instant::now()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_cut_off_from_etcd_stops_acting_before_the_standby_acts() {
    let etcd = EtcdPeer::start();
    let relay = Relay::start(etcd.endpoint()).await;
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let ttl = Duration::from_secs(2);
    let (a, epoch_a, b) = start_pair(
        (vec![relay.url.clone()], store.clone()),
        (etcd.endpoints(), store.clone()),
        ttl,
    )
    .await;

    let a_stops = when(&a, |r| !matches!(r, Role::Active { .. }));
    let b_acts = when(&b, |r| matches!(r, Role::Active { .. }));
    let t0 = Instant::now();
    relay.cut();
    let (a_stopped, b_active) = (a_stops.await.unwrap(), b_acts.await.unwrap());
    // a stepped down (its gate closed before its role changed) on its own clock, before b's
    // controller started: at no instant did both act.
    assert!(
        a_stopped < b_active,
        "a stopped {:?} after the cut, b acted {:?} after it",
        a_stopped - t0,
        b_active - t0
    );
    assert!(active_epoch(&b).await > epoch_a);
    // A write on the cut-off controller is refused: it is not active.
    let r = post_host(&a.url, "worker-3").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    eprintln!(
        "cut-off active stepped down {:?} after the cut, the standby acted {:?} after it",
        a_stopped - t0,
        b_active - t0
    );
    a.pair.abandon();
    b.pair.shutdown().await;
}

/// The role changes `m` goes through from now on, as they happen.
fn record_roles(m: &Member) -> Arc<std::sync::Mutex<Vec<Role>>> {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, s) = (m.pair.handle(), seen.clone());
    tokio::spawn(async move {
        let mut last = h.role();
        loop {
            let now = h.wait_role(|r| *r != last).await;
            s.lock().unwrap().push(now.clone());
            if now == Role::Stopped {
                break;
            }
            last = now;
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_member_loss_changes_nothing_and_quorum_loss_stops_both_until_it_returns() {
    use steward_testpeers::etcd::EtcdCluster;
    let mut etcd = tokio::task::spawn_blocking(|| EtcdCluster::start(3))
        .await
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    // The pair's default TTL (3 s; acting budget 2.25 s): the member killed first may be etcd's
    // leader, and the survivors' election plus the client's failover must fit in the budget on a
    // loaded machine. With 2 s (budget 1.5 s) the active sometimes stepped down needlessly —
    // safe, but a role change this test says a member loss must not cause.
    let ttl = Duration::from_secs(3);
    let (a, _, b) = start_pair(
        (etcd.endpoints(), store.clone()),
        (etcd.endpoints(), store.clone()),
        ttl,
    )
    .await;
    let (roles_a, roles_b) = (record_roles(&a), record_roles(&b));

    // One member of three lost (the first endpoint each controller tries): quorum holds, and for
    // three lease TTLs neither controller changes role.
    let mut etcd = tokio::task::spawn_blocking(move || {
        etcd.kill_member(0);
        etcd
    })
    .await
    .unwrap();
    tokio::time::sleep(ttl * 3).await;
    assert!(
        roles_a.lock().unwrap().is_empty(),
        "{:?}",
        roles_a.lock().unwrap()
    );
    assert!(
        roles_b.lock().unwrap().is_empty(),
        "{:?}",
        roles_b.lock().unwrap()
    );

    // A second member lost: no quorum. The active steps down on its own clock and nobody acts.
    let mut etcd = tokio::task::spawn_blocking(move || {
        etcd.kill_member(1);
        etcd
    })
    .await
    .unwrap();
    a.pair
        .handle()
        .wait_role(|r| !matches!(r, Role::Active { .. }))
        .await;
    tokio::time::sleep(ttl * 2).await;
    assert!(!matches!(a.pair.handle().role(), Role::Active { .. }));
    assert!(!matches!(b.pair.handle().role(), Role::Active { .. }));

    // Quorum back: one of them becomes active again.
    let etcd = tokio::task::spawn_blocking(move || {
        etcd.restart_member(1);
        etcd.restart_member(0);
        etcd.wait_healthy();
        etcd
    })
    .await
    .unwrap();
    let (ha, hb) = (a.pair.handle(), b.pair.handle());
    tokio::select! {
        _ = ha.wait_role(|r| matches!(r, Role::Active { .. })) => {}
        _ = hb.wait_role(|r| matches!(r, Role::Active { .. })) => {}
    }
    a.pair.shutdown().await;
    b.pair.shutdown().await;
    drop(etcd);
}

/// A shared store whose writes fail while `failing` is set, as the etcd store's do when etcd
/// answers a write with "leader changed" (its leader was lost with the write in flight).
struct FailingWrites {
    inner: Arc<dyn Store>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl FailingWrites {
    fn check(&self) -> Result<(), steward_store::StoreError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(steward_store::StoreError::Backend(
                "etcdserver: leader changed".into(),
            ));
        }
        Ok(())
    }
}

impl Store for FailingWrites {
    fn get(
        &self,
        key: &str,
    ) -> Result<Option<steward_store::Versioned>, steward_store::StoreError> {
        self.inner.get(key)
    }
    fn list(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, steward_store::Versioned)>, steward_store::StoreError> {
        self.inner.list(prefix)
    }
    fn txn(
        &self,
        ops: &[steward_store::Op],
        epoch: u64,
    ) -> Result<steward_store::Committed, steward_store::StoreError> {
        self.check()?;
        self.inner.txn(ops, epoch)
    }
    fn acquire_epoch(&self, epoch: u64) -> Result<(), steward_store::StoreError> {
        self.check()?;
        self.inner.acquire_epoch(epoch)
    }
    fn epoch(&self) -> Result<u64, steward_store::StoreError> {
        self.inner.epoch()
    }
    fn revision(&self) -> Result<u64, steward_store::StoreError> {
        self.inner.revision()
    }
}

/// The active's controller stops itself when a store write fails (fail-stop). Its pair runtime
/// must then give the role up — before the fix it kept the lease alive with nothing acting, and
/// the standby never took over (found by the namespace tier: an etcd leader lost with a write in
/// flight).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_whose_controller_stopped_on_a_failed_write_hands_the_role_over() {
    let etcd = EtcdPeer::start();
    let shared: Arc<dyn Store> = Arc::new(MemStore::new(Retention::default()));
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flaky: Arc<dyn Store> = Arc::new(FailingWrites {
        inner: shared.clone(),
        failing: failing.clone(),
    });
    let ttl = Duration::from_secs(2);
    let (a, _, b) = start_pair((etcd.endpoints(), flaky), (etcd.endpoints(), shared), ttl).await;

    failing.store(true, std::sync::atomic::Ordering::SeqCst);
    let r = post_host(&a.url, "worker-1").await;
    assert!(!r.status().is_success(), "the write failed: {}", r.status());
    // A bound on the rig, not a timing claim: the role moves within a few TTLs.
    tokio::time::timeout(ttl * 10, active_epoch(&b))
        .await
        .expect("controller-1 takes over from an active whose controller stopped");
    a.pair.shutdown().await;
    b.pair.shutdown().await;
}
