//! Serve one fake lanplus BMC (suites 3 and 17, the ipmi_sim lab sensors) on
//! 127.0.0.1:PORT until killed, for poking at it with ipmitool:
//!
//! ```text
//! cargo run -p steward-bmc-ipmi --example fake_bmc -- 9623 &
//! ipmitool -I lanplus -C 17 -H 127.0.0.1 -p 9623 -U admin -P password sensor list
//! ```

use std::sync::Arc;

use steward_bmc_ipmi::fake::{serve, FakeConfig, FakeState};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(9623);
    let sock = tokio::net::UdpSocket::bind(("127.0.0.1", port)).await?;
    println!("fake BMC on {}", sock.local_addr()?);
    serve(
        sock,
        Arc::new(FakeConfig::lab()),
        Arc::new(FakeState::default()),
    )
    .await;
    Ok(())
}
