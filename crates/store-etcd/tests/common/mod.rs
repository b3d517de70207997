//! A store on a real etcd for the tests.

use std::sync::atomic::{AtomicU32, Ordering};

use steward_store::Retention;
use steward_store_etcd::{EtcdOptions, EtcdStore};

/// A store under a prefix of its own, so several can share one etcd.
pub fn store_on(endpoints: &[String], retention: Retention) -> EtcdStore {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let opts = EtcdOptions {
        prefix: format!("/test-{}/", NEXT.fetch_add(1, Ordering::Relaxed)),
        retention,
        ..EtcdOptions::default()
    };
    EtcdStore::connect(endpoints, opts).expect("connect to the test etcd")
}
