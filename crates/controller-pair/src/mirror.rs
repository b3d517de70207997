//! The standby's read-only view: a copy of the shared store loaded into memory, with a controller
//! actor over it whose links go nowhere (no node command, BMC operation or pulse leaves it), and
//! the API's routes over that actor. It is rebuilt periodically, so reads on the standby lag the
//! active by at most the mirror period.

use axum::Router;
use std::sync::Arc;
use steward_controller::{ControllerConfig, ControllerHandle, Links};
use steward_store::{MemStore, Op, Retention, SecretBox, Store, StoreError};
use tokio::task::JoinHandle;

/// How the standby reads the shared store and opens its sealed records.
#[derive(Clone)]
pub struct MirrorSpec {
    /// The shared store, read only.
    pub store: Arc<dyn Store>,
    /// The store key (the same on both controllers, from their own config): BMC passwords open.
    pub secrets: Arc<dyn Fn() -> Result<SecretBox, StoreError> + Send + Sync>,
    /// The core's configuration (the mirror's core restores the stored state with it).
    pub config: ControllerConfig,
    pub auth: Arc<dyn Fn() -> steward_api::Auth + Send + Sync>,
}

/// One loaded mirror.
pub(crate) struct Mirror {
    pub(crate) router: Router,
    handle: ControllerHandle,
    task: JoinHandle<()>,
}

impl Mirror {
    /// `counters`: the standby's own datagram counters for `/metrics` (its pulses), if any.
    pub(crate) async fn load(
        spec: &MirrorSpec,
        counters: Option<Arc<dyn steward_api::LinkMetrics>>,
    ) -> Result<Mirror, String> {
        let source = spec.store.clone();
        // The store's calls are blocking (the etcd store waits on the network).
        let copy = tokio::task::spawn_blocking(move || copy_store(source.as_ref()))
            .await
            .map_err(|e| format!("mirror copy failed: {e}"))?
            .map_err(|e| format!("cannot read the shared store: {e}"))?;
        let secrets = (spec.secrets)().map_err(|e| format!("cannot open the store key: {e}"))?;
        let links = Links::nowhere();
        let (handle, _events, task) =
            steward_controller::spawn(spec.config.clone(), Arc::new(copy), secrets, links)
                .map_err(|e| format!("cannot load the mirror: {e}"))?;
        let extras = steward_api::ApiExtras {
            link_metrics: counters,
            ..steward_api::ApiExtras::default()
        };
        let router = steward_api::router_with(handle.clone(), (spec.auth)(), extras);
        Ok(Mirror {
            router,
            handle,
            task,
        })
    }

    /// The mirrored hosts (the standby pulses them).
    pub(crate) async fn hosts(&self) -> Vec<steward_maintenance::host::HostRecord> {
        self.handle.hosts().await.unwrap_or_default()
    }

    pub(crate) async fn stop(self) {
        let _ = self.handle.shutdown().await;
        let _ = self.task.await;
    }
}

/// Every key of `source`, at its epoch, in a new in-memory store.
fn copy_store(source: &dyn Store) -> Result<MemStore, StoreError> {
    let epoch = source.epoch()?;
    let copy = MemStore::new(Retention::default());
    if epoch > 0 {
        copy.acquire_epoch(epoch)?;
    }
    let ops: Vec<Op> = source
        .list("")?
        .into_iter()
        .map(|(key, v)| Op::Put {
            key,
            value: v.value,
            expect: steward_store::Expect::Any,
        })
        .collect();
    if !ops.is_empty() {
        copy.txn(&ops, epoch)?;
    }
    Ok(copy)
}
