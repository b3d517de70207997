//! The sync [`steward_store::Store`] trait over the async etcd client: one dedicated thread runs a
//! current-thread tokio runtime and the client; callers hand it jobs over a channel and wait for the
//! answer with a bound. A caller may itself be a tokio task (the controller actor): it never enters
//! the worker's runtime, so there is no nested-runtime panic, and a silent etcd costs it at most the
//! timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc as std_mpsc;
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::Duration;

use etcd_client::{Client, ConnectOptions};
use steward_store::StoreError;
use tokio::sync::mpsc;

type Job = Box<dyn FnOnce(Client) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The thread that owns the etcd client.
pub(crate) struct Worker {
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    thread: Option<JoinHandle<()>>,
    /// The endpoints, for error messages.
    pub(crate) endpoints: String,
    pub(crate) timeout: Duration,
}

impl Worker {
    /// Start the thread and the client. Connecting is lazy (the first request opens the channel),
    /// so this fails only on a malformed endpoint.
    pub(crate) fn start(
        endpoints: &[String],
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Result<Worker, StoreError> {
        let joined = endpoints.join(",");
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let (ready_tx, ready_rx) = std_mpsc::sync_channel::<Result<(), StoreError>>(1);
        let eps = endpoints.to_vec();
        let label = joined.clone();
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
                    let options = ConnectOptions::new()
                        .with_connect_timeout(connect_timeout)
                        .with_timeout(timeout)
                        // Without a leader (quorum lost) a member answers at once with "no
                        // leader" instead of holding the request until the timeout.
                        .with_require_leader(true);
                    let client = match Client::connect(&eps, Some(options)).await {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = ready_tx
                                .send(Err(StoreError::Open(format!("etcd at {label}: {e}"))));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    while let Some(job) = rx.recv().await {
                        tokio::spawn(job(client.clone()));
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
            endpoints: joined,
            timeout,
        })
    }

    pub(crate) fn timed_out(&self) -> StoreError {
        StoreError::Backend(format!(
            "etcd at {} did not answer within {:?}",
            self.endpoints, self.timeout
        ))
    }

    /// Run `request` on the worker and wait for its result, at most the timeout.
    pub(crate) fn call<T, F, Fut>(&self, request: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(Client) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let (reply_tx, reply_rx) = std_mpsc::sync_channel(1);
        let timeout = self.timeout;
        let late = self.timed_out();
        let job: Job = Box::new(move |client| {
            Box::pin(async move {
                let result = match tokio::time::timeout(timeout, request(client)).await {
                    Ok(result) => result,
                    Err(_) => Err(late),
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
            Err(_) => Err(self.timed_out()),
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
