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
