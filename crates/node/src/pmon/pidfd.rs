//! Watching a process that is not our child: a pidfd (pidfd_open(2)) becomes readable when the
//! process ends. It names one process for its lifetime, so a pid reused after the death can never
//! be mistaken for the watched one, and the wait costs no polling.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::io::unix::AsyncFd;

/// An open pidfd.
#[derive(Debug)]
pub struct Pidfd {
    fd: AsyncFd<OwnedFd>,
    pid: u32,
}

impl Pidfd {
    /// Open a pidfd for `pid`; fails (ESRCH) if no such process exists now.
    pub fn open(pid: u32) -> std::io::Result<Pidfd> {
        let raw_pid = libc::pid_t::try_from(pid)
            .map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
        if raw_pid <= 0 {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, raw_pid, libc::PIDFD_NONBLOCK) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the kernel just returned this descriptor to us; nothing else owns it.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // SAFETY: the AsyncFd owns the descriptor for its whole life; nothing else closes or
        // replaces it.
        let fd = unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        Ok(Pidfd { fd, pid })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Wait until the process has ended.
    pub async fn exited(&self) -> std::io::Result<()> {
        // Readable means ended; the readiness stays set, so one wake-up is enough.
        let _guard = self.fd.readable().await?;
        Ok(())
    }

    /// Whether the process has ended already (without waiting).
    pub fn has_exited(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd.get_ref().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n > 0 && p.revents & libc::POLLIN != 0
    }

    /// Send `signal` to exactly this process (never to a later owner of its pid).
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        // SAFETY: pidfd_send_signal with a valid pidfd, no siginfo, no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.get_ref().as_raw_fd(),
                signal,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
