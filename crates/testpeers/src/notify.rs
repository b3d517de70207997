//! A fake systemd for `Type=notify` daemons: the test binds the `NOTIFY_SOCKET` datagram socket
//! and reads what the daemon it started says. Shared by the controller's and the node agent's
//! sd_notify tests.

use std::os::unix::net::UnixDatagram;
use std::process::Child;

/// Kills the daemon when the test ends, however it ends.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The next notification, polling (the socket needs a read timeout) so that a daemon that exited
/// fails the test instead of leaving it waiting.
pub fn next_message(socket: &UnixDatagram, daemon: &mut Daemon) -> String {
    let mut buf = [0u8; 512];
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => return String::from_utf8_lossy(&buf[..n]).into_owned(),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if let Ok(Some(status)) = daemon.0.try_wait() {
                    panic!("the daemon exited ({status}) before notifying");
                }
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
}
