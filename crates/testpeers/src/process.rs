//! Helpers for tests that run real steward processes: a child that is killed when the test drops
//! it (a failing test leaves nothing behind) and free loopback ports.

use std::net::Ipv4Addr;
use std::process::Child;

/// Kills its process when dropped, and reaps it.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Interrupts its process when dropped (SIGINT, as Ctrl-C: a `steward lab` stops its controllers,
/// etcd, hosts and their processes in order), waits up to 20 s for it to end, then kills it.
pub struct InterruptOnDrop(pub Child);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a child this test started and has not reaped yet.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGINT) };
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_secs(20) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TCP port free on 127.0.0.1 right now (the system's pick).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free TCP port on 127.0.0.1: {e}"))
}

/// A UDP port free on `ip` right now (the system's pick).
pub fn free_udp_port(ip: Ipv4Addr) -> u16 {
    std::net::UdpSocket::bind((ip, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free UDP port on {ip}: {e}"))
}
