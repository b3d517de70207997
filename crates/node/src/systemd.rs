//! The daemons' side of systemd's service notification (`Type=notify`, `WatchdogSec=`): a few
//! lines over a Unix datagram socket instead of a libsystemd binding, so the node agent's binary
//! stays small and links nothing new.
//!
//! systemd passes the socket in `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace)
//! and the watchdog interval in `WATCHDOG_USEC` (with `WATCHDOG_PID`, the process it is meant
//! for). Outside systemd neither is set and every function here does nothing, so the daemons run
//! the same from a shell, in the lab and in tests.
//!
//! A daemon says `READY=1` once it serves (sockets bound, state loaded), `STOPPING=1` when it
//! begins to stop, and `WATCHDOG=1` at half the interval — but only while a check of its own
//! health passes: the controller asks its actor, the agent checks its loop, so a daemon whose
//! core is stuck stops pinging and systemd restarts it (`Restart=on-failure` in the units,
//! packaging/).

use std::future::Future;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The socket systemd listens on, if this process runs under a `Type=notify` unit.
fn notify_socket_addr() -> io::Result<Option<SocketAddr>> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(None);
    };
    let bytes = std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str());
    match bytes.split_first() {
        None => Ok(None),
        Some((b'@', name)) => {
            use std::os::linux::net::SocketAddrExt;
            SocketAddr::from_abstract_name(name).map(Some)
        }
        Some(_) => SocketAddr::from_pathname(&path).map(Some),
    }
}

/// Send one notification (`READY=1`, `WATCHDOG=1`, `STATUS=…`, lines joined by `\n`). Returns
/// whether it was sent: `false` when `NOTIFY_SOCKET` is not set.
pub fn notify(state: &str) -> io::Result<bool> {
    let Some(addr) = notify_socket_addr()? else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    socket.send_to_addr(state.as_bytes(), &addr)?;
    Ok(true)
}

/// [`notify`], logging a failure instead of returning it: a daemon must keep serving when the
/// service manager's socket misbehaves.
pub fn notify_or_log(state: &str) {
    match notify(state) {
        Ok(true) => tracing::debug!("told systemd {state:?}"),
        Ok(false) => {}
        Err(e) => tracing::warn!("cannot notify systemd ({state:?}): {e}"),
    }
}

/// The watchdog interval systemd expects pings within, if it set one for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    // WATCHDOG_PID names the process the interval is for; a child that inherited the variables
    // must not ping in its parent's name.
    if let Ok(pid) = std::env::var("WATCHDOG_PID") {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return None;
        }
    }
    Some(Duration::from_micros(usec))
}

/// Ping the watchdog at half its interval for as long as `healthy()` answers `true`; returns at
/// once when no watchdog is configured. Run it as a task of the daemon's runtime: a runtime too
/// busy or blocked to run it misses its pings as well, which is the point.
pub async fn run_watchdog<F, Fut>(mut healthy: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let Some(interval) = watchdog_interval() else {
        return;
    };
    let period = interval / 2;
    tracing::info!("systemd watchdog: {interval:?}, pinging every {period:?}");
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if healthy().await {
            notify_or_log("WATCHDOG=1");
        } else {
            tracing::warn!("health check failed: not pinging the systemd watchdog");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Environment variables are process-wide: one test sets and reads them all, in order.
    #[test]
    fn notifies_through_a_path_and_reads_the_watchdog_interval() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap_or_else(|e| panic!("{e}"));

        std::env::remove_var("NOTIFY_SOCKET");
        assert!(!notify("READY=1").unwrap_or_else(|e| panic!("{e}")));

        std::env::set_var("NOTIFY_SOCKET", &path);
        assert!(notify("READY=1").unwrap_or_else(|e| panic!("{e}")));
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&buf[..n], b"READY=1");

        std::env::set_var("WATCHDOG_USEC", "3000000");
        std::env::remove_var("WATCHDOG_PID");
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(3)));
        std::env::set_var("WATCHDOG_PID", std::process::id().to_string());
        assert_eq!(watchdog_interval(), Some(Duration::from_secs(3)));
        std::env::set_var("WATCHDOG_PID", "1");
        assert_eq!(watchdog_interval(), None, "meant for another process");
        std::env::set_var("WATCHDOG_USEC", "0");
        std::env::remove_var("WATCHDOG_PID");
        assert_eq!(watchdog_interval(), None);
        std::env::remove_var("WATCHDOG_USEC");
        assert_eq!(watchdog_interval(), None);
        std::env::remove_var("NOTIFY_SOCKET");
    }
}
