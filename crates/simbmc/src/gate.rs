//! Reachability fault injection at the transport: a listener and stream wrapper that make the
//! BMC look dead to its clients while the port stays bound (so a later "repair" gets the same
//! address back, and no other process can take the port in between).
//!
//! While the gate is closed, new connections are accepted and dropped at once, and any open
//! keep-alive connection fails on its next read or write. A client therefore sees a transport
//! error — never an HTTP status — exactly what the BMC access audit must classify as
//! "unreachable".

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

/// Shared switch: open while the BMC is reachable and not shut down.
#[derive(Debug)]
pub(crate) struct Gate {
    reachable: AtomicBool,
    stopped: AtomicBool,
}

impl Gate {
    pub fn new() -> Self {
        Gate {
            reachable: AtomicBool::new(true),
            stopped: AtomicBool::new(false),
        }
    }

    pub fn set_reachable(&self, on: bool) {
        self.reachable.store(on, Ordering::SeqCst);
    }

    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
    }

    pub fn open(&self) -> bool {
        self.reachable() && !self.stopped.load(Ordering::SeqCst)
    }
}

/// Open connections one BMC serves at once. Real BMCs have a small web server with a few
/// slots; steward holds one keep-alive connection per client, so this is generous, and it
/// keeps a misbehaving client from growing the task count without limit.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// A TCP listener that drops connections while its gate is closed or all slots are taken.
pub(crate) struct GatedListener {
    inner: TcpListener,
    gate: Arc<Gate>,
    open: Arc<AtomicUsize>,
}

impl GatedListener {
    pub fn new(inner: TcpListener, gate: Arc<Gate>) -> Self {
        GatedListener {
            inner,
            gate,
            open: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl axum::serve::Listener for GatedListener {
    type Io = GatedStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer))
                    if self.gate.open() && self.open.load(Ordering::SeqCst) < MAX_CONNECTIONS =>
                {
                    // Small JSON replies: send them now rather than waiting for Nagle.
                    let _ = stream.set_nodelay(true);
                    self.open.fetch_add(1, Ordering::SeqCst);
                    return (
                        GatedStream {
                            inner: stream,
                            gate: self.gate.clone(),
                            open: self.open.clone(),
                        },
                        peer,
                    );
                }
                Ok((stream, peer)) if self.gate.open() => {
                    warn!(%peer, limit = MAX_CONNECTIONS, "simulated BMC connection limit reached: dropping connection");
                    drop(stream);
                }
                Ok((stream, peer)) => {
                    debug!(%peer, "simulated BMC unreachable: dropping connection");
                    drop(stream);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    warn!(error = %e, "simulated BMC accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that fails as soon as its gate closes; holds one connection slot.
pub(crate) struct GatedStream {
    inner: TcpStream,
    gate: Arc<Gate>,
    open: Arc<AtomicUsize>,
}

impl Drop for GatedStream {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "simulated BMC is unreachable",
    )
}

impl AsyncRead for GatedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.gate.open() {
            return Poll::Ready(Err(closed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for GatedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if !self.gate.open() {
            return Poll::Ready(Err(closed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
