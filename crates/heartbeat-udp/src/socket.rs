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

/// A socket address as the kernel takes it.
fn to_sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: an all-zero sockaddr_storage is valid; we write one of its variants into it below,
    // and sockaddr_storage is large and aligned enough for either.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: see above; the write stays within `storage`.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: see above.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

/// Send the same `payload` to every address of `dests` with as few `sendmmsg` calls as the
/// kernel allows (one per batch normally): at 10,000 hosts a syscall per pulse is a large part of
/// the controller's CPU. Returns how many were sent and how many failed; a failed destination is
/// skipped (it is a miss for that host, counted by the caller), never retried in a loop.
pub(crate) fn send_same_to_many(
    sock: &tokio::net::UdpSocket,
    payload: &[u8],
    dests: &[SocketAddr],
) -> (u64, u64) {
    let addrs: Vec<(libc::sockaddr_storage, libc::socklen_t)> =
        dests.iter().map(to_sockaddr).collect();
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    let (mut sent, mut failed) = (0u64, 0u64);
    let mut at = 0;
    while at < addrs.len() {
        let mut msgs: Vec<libc::mmsghdr> = addrs[at..]
            .iter()
            .map(|(sa, len)| {
                // SAFETY: an all-zero msghdr is valid (no control data, no flags).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = (sa as *const libc::sockaddr_storage) as *mut libc::c_void;
                h.msg_hdr.msg_namelen = *len;
                h.msg_hdr.msg_iov = &mut iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        let r = sock.try_io(tokio::io::Interest::WRITABLE, || {
            // SAFETY: every header points at a live sockaddr in `addrs` and at `iov`, which points
            // at `payload`; all outlive the call. The kernel only reads them (and writes msg_len).
            let n = unsafe {
                libc::sendmmsg(
                    sock.as_raw_fd(),
                    msgs.as_mut_ptr(),
                    msgs.len().min(1024) as libc::c_uint,
                    0,
                )
            };
            if n < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        });
        match r {
            Ok(n) if n > 0 => {
                sent += n as u64;
                at += n;
            }
            // Nothing went out: the first destination failed (or the buffer is full); skip it.
            Ok(_) | Err(_) => {
                failed += 1;
                at += 1;
            }
        }
    }
    (sent, failed)
}
