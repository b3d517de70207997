//! The write latency of a core step on the etcd store against the embedded redb store, at 2,000
//! hosts (BENCHMARKS.md, "Store write latency"). A benchmark, not a test: ignored by default, run
//! in release:
//!
//! ```text
//! cargo test --release -p steward-store-etcd --test write_latency -- --ignored --nocapture
//! ```
//!
//! A core step is what the controller commits for one host event: the host record (CAS on its
//! revision) and a customer-log event, in one batch through the typed layer. Both stores hold
//! 2,000 host records first; each step updates a random-ish host. redb fsyncs every commit; etcd
//! (one member on loopback, its data dir in the temp dir like redb's) fsyncs its WAL.

use std::sync::Arc;
use std::time::{Duration, Instant};

use steward_maintenance::alarm::{CustomerLog, LogId};
use steward_maintenance::host::{BmcProtocol, BmcSpec, HostRecord, HostSpec};
use steward_maintenance::state::{Personality, SystemType};
use steward_store::typed::TypedStore;
use steward_store::{Expect, RedbStore, Retention, SecretBox, Store};
use steward_store_etcd::{EtcdOptions, EtcdStore};
use steward_testpeers::etcd::EtcdPeer;

const HOSTS: usize = 2_000;
const STEPS: usize = 2_000;

fn record(i: usize) -> HostRecord {
    HostRecord::new_install(
        HostSpec {
            name: format!("worker-{i:04}"),
            uuid: format!("3c1c0f4e-0000-4000-8000-{i:012}"),
            personality: Personality::Worker,
            mgmt_ip: Some(format!("192.168.{}.{}", 204 + i / 250, i % 250 + 2)),
            mgmt_mac: Some(format!("52:54:00:00:{:02x}:{:02x}", i / 256, i % 256)),
            cluster_ip: None,
            pxeboot_ip: None,
            install: Default::default(),
            bmc: Some(BmcSpec {
                protocol: BmcProtocol::Dynamic,
                address: format!("10.10.{}.{}", i / 250, i % 250 + 2),
                username: "root".into(),
            }),
        },
        SystemType::Standard,
    )
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Load 2,000 hosts, then time STEPS core steps; returns the sorted latencies.
fn measure(store: Arc<dyn Store>) -> Vec<Duration> {
    store.acquire_epoch(1).unwrap();
    let typed = TypedStore::new(store, SecretBox::from_key([9; 32]), 1);
    let mut revisions = Vec::with_capacity(HOSTS);
    let mut records = Vec::with_capacity(HOSTS);
    for chunk in (0..HOSTS).collect::<Vec<_>>().chunks(100) {
        let mut batch = typed.batch();
        for &i in chunk {
            batch.put_host(&record(i), Expect::Absent).unwrap();
        }
        let rev = batch.commit().unwrap().revision;
        for &i in chunk {
            revisions.push(rev);
            records.push(record(i));
        }
    }
    assert_eq!(typed.hosts().unwrap().len(), HOSTS);
    let mut latencies = Vec::with_capacity(STEPS);
    for step in 0..STEPS {
        let h = (step * 7919) % HOSTS; // a stride through the hosts
        records[h].task = format!("step {step}");
        let log = CustomerLog {
            id: LogId::Command,
            host: records[h].spec.name.clone(),
            text: format!("step {step}"),
            critical: false,
        };
        let started = Instant::now();
        let mut batch = typed.batch();
        batch
            .put_host(&records[h], Expect::Revision(revisions[h]))
            .unwrap();
        batch.event(step as u64, &log).unwrap();
        revisions[h] = batch.commit().unwrap().revision;
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    latencies
}

fn report(name: &str, l: &[Duration]) {
    let mean = l.iter().sum::<Duration>() / l.len() as u32;
    println!(
        "{name}: {STEPS} core steps at {HOSTS} hosts: p50 {:?}, p99 {:?}, max {:?}, mean {:?}",
        percentile(l, 0.50),
        percentile(l, 0.99),
        l[l.len() - 1],
        mean
    );
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn core_step_write_latency_etcd_vs_redb() {
    let dir = tempfile::tempdir().unwrap();
    let redb: Arc<dyn Store> = Arc::new(RedbStore::open(dir.path(), Retention::default()).unwrap());
    let redb_latencies = measure(redb);

    let peer = EtcdPeer::start();
    let etcd: Arc<dyn Store> =
        Arc::new(EtcdStore::connect(&peer.endpoints(), EtcdOptions::default()).unwrap());
    let etcd_latencies = measure(etcd);

    let mut cluster = steward_testpeers::etcd::EtcdCluster::start(3);
    let replicated: Arc<dyn Store> =
        Arc::new(EtcdStore::connect(&cluster.endpoints(), EtcdOptions::default()).unwrap());
    let cluster_latencies = measure(replicated);
    cluster.wait_healthy();

    let version = std::process::Command::new(steward_testpeers::etcd::etcd_bin())
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default();
    report("redb (embedded, fsync per commit)", &redb_latencies);
    report(
        &format!("etcd ({version}, 1 member on loopback)"),
        &etcd_latencies,
    );
    report("etcd (3 members on loopback)", &cluster_latencies);
}
