//! The sync [`steward_store::Store`] trait over the async etcd client: one dedicated thread runs a
//! current-thread tokio runtime and the client; callers hand it jobs over a channel and wait for the
//! answer with a bound. A caller may itself be a tokio task (the controller actor): it never enters
//! the worker's runtime, so there is no nested-runtime panic, and a silent etcd costs it at most the
//! timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions};
use steward_store::StoreError;
use tokio::sync::mpsc;

type Job = Box<dyn FnOnce(Vec<Client>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// Why a request failed: a store outcome (conflict, fencing, corrupt data) or an etcd error.
#[derive(Debug)]
pub(crate) enum Failure {
    Store(StoreError),
    Etcd(etcd_client::Error),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<etcd_client::Error> for Failure {
    fn from(e: etcd_client::Error) -> Self {
        Failure::Etcd(e)
    }
}

/// Whether `e` says the request was never executed, so that it is safe to send it again to
/// another member: the member could not be reached, or it has no leader (refused before proposing).
/// A request that may have been applied is never sent twice.
fn not_executed(e: &etcd_client::Error) -> bool {
    match e {
        etcd_client::Error::TransportError(_) => true,
        etcd_client::Error::GRpcStatus(status) => {
            const UNAVAILABLE: i32 = 14;
            let message = status.message();
            status.code() as i32 == UNAVAILABLE
                && (message.contains("connect") || message.contains("no leader"))
        }
        _ => false,
    }
}

/// Pause between two rounds over the members while none can serve a request.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// The thread that owns the etcd clients, one per member: a request goes to the member that
/// answered last and moves on to the next when a member is down or has no leader, as etcd's own
/// client fails over (a balanced channel keeps picking a dead member).
pub(crate) struct Worker {
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    thread: Option<JoinHandle<()>>,
    /// The member that answered last.
    preferred: Arc<AtomicUsize>,
    /// The endpoints, for error messages.
    pub(crate) endpoints: String,
    pub(crate) timeout: Duration,
}

impl Worker {
    /// Start the thread and the clients. Connecting is lazy (the first request opens a member's
    /// channel), so this fails only on a malformed endpoint.
    pub(crate) fn start(
        endpoints: &[String],
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Worker, StoreError> {
        let joined = endpoints.join(",");
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = std_mpsc::sync_channel::<Result<(), StoreError>>(1);
        let eps = endpoints.to_vec();
        let thread = std::thread::Builder::new()
            .name("steward-etcd".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(StoreError::Backend(format!(
                            "etcd client runtime: {e}"
                        ))));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let mut clients = Vec::new();
                    for ep in &eps {
                        let options = ConnectOptions::new()
                            .with_connect_timeout(connect_timeout)
                            .with_timeout(timeout)
                            // Without a leader (quorum lost) a member answers at once "no
                            // leader" instead of holding the request until the timeout.
                            .with_require_leader(true);
                        match Client::connect([ep], Some(options)).await {
                            Ok(c) => clients.push(c),
                            Err(e) => {
                                let _ = ready_tx
                                    .send(Err(StoreError::Open(format!("etcd at {ep}: {e}"))));
                                return;
                            }
                        }
                    }
                    let _ = ready_tx.send(Ok(()));
                    while let Some(job) = rx.recv().await {
                        tokio::spawn(job(clients.clone()));
                    }
                });
            })
            .map_err(|e| {
                StoreError::Backend(format!("cannot start the etcd client thread: {e}"))
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(StoreError::Backend(
                    "the etcd client thread stopped while connecting".into(),
                ))
            }
        }
        Ok(Worker {
            jobs: Mutex::new(Some(tx)),
            thread: Some(thread),
            preferred: Arc::new(AtomicUsize::new(0)),
            endpoints: joined,
            timeout,
        })
    }

    /// Run `request` on the worker and wait for its result, at most the timeout. `request` is
    /// called again, on the next member, only when etcd said it did not execute it.
    pub(crate) fn call<T, F, Fut>(&self, request: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Fn(Client) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, Failure>> + Send + 'static,
    {
        let (reply_tx, reply_rx) = std_mpsc::sync_channel(1);
        let timeout = self.timeout;
        let endpoints = self.endpoints.clone();
        let preferred = self.preferred.clone();
        let job: Job = Box::new(move |clients| {
            Box::pin(async move {
                let mut last: Option<etcd_client::Error> = None;
                let attempts = async {
                    let mut i = preferred.load(Ordering::Relaxed);
                    let mut tried = 0;
                    loop {
                        let member = i % clients.len();
                        match request(clients[member].clone()).await {
                            Ok(v) => {
                                preferred.store(member, Ordering::Relaxed);
                                return Ok(v);
                            }
                            Err(Failure::Store(e)) => return Err(e),
                            Err(Failure::Etcd(e)) if not_executed(&e) => {
                                tracing::debug!(member, error = %e, "etcd member cannot serve; trying the next");
                                last = Some(e);
                                i += 1;
                                tried += 1;
                                if tried % clients.len() == 0 {
                                    tokio::time::sleep(RETRY_PAUSE).await;
                                }
                            }
                            Err(Failure::Etcd(e)) => {
                                return Err(StoreError::Backend(format!(
                                    "etcd at {endpoints}: {e}"
                                )))
                            }
                        }
                    }
                };
                let result = match tokio::time::timeout(timeout, attempts).await {
                    Ok(result) => result,
                    Err(_) => Err(StoreError::Backend(match &last {
                        Some(e) => format!(
                            "etcd at {endpoints} did not answer within {timeout:?} (last error: {e})"
                        ),
                        None => format!("etcd at {endpoints} did not answer within {timeout:?}"),
                    })),
                };
                let _ = reply_tx.send(result);
            })
        });
        {
            let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            let sent = jobs.as_ref().map(|tx| tx.send(job).is_ok());
            if sent != Some(true) {
                return Err(StoreError::Backend(format!(
                    "the etcd client thread for {} has stopped",
                    self.endpoints
                )));
            }
        }
        // The job times itself out; the extra second only covers a worker that cannot run it.
        match reply_rx.recv_timeout(timeout + Duration::from_secs(1)) {
            Ok(result) => result,
            Err(_) => Err(StoreError::Backend(format!(
                "etcd at {} did not answer within {:?}",
                self.endpoints, self.timeout
            ))),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Closing the channel ends the worker's loop; its runtime drops the in-flight requests.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
