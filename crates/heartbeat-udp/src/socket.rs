//! Socket setup shared by both sides.

use crate::HeartbeatUdpError;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

/// Bind a non-blocking UDP socket for tokio, asking for a receive buffer of `rcvbuf` bytes.
///
/// The controller's socket takes one answer per host per period; at thousands of hosts the
/// default buffer (≈200 KiB, a few hundred small datagrams once kernel overhead is counted) would
/// overflow while the loop is busy sending, and every overflowed answer is a false miss. The
/// kernel caps the request at `net.core.rmem_max`; a smaller buffer is not an error.
pub(crate) fn bind_udp(
    addr: SocketAddr,
    rcvbuf: usize,
) -> Result<tokio::net::UdpSocket, HeartbeatUdpError> {
    let bind_err = |source| HeartbeatUdpError::Bind { addr, source };
    let std = std::net::UdpSocket::bind(addr).map_err(bind_err)?;
    std.set_nonblocking(true).map_err(bind_err)?;
    if rcvbuf > 0 {
        let size = rcvbuf.min(i32::MAX as usize) as libc::c_int;
        // SAFETY: setsockopt reads `size` (an int, as SO_RCVBUF expects) from a valid pointer
        // for the given length; the fd is open for the lifetime of `std`.
        let rc = unsafe {
            libc::setsockopt(
                std.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            tracing::debug!(%addr, rcvbuf, "SO_RCVBUF not applied; keeping the default");
        }
    }
    tokio::net::UdpSocket::from_std(std).map_err(bind_err)
}
