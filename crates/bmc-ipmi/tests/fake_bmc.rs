//! Driver-level tests against the in-process fake BMC (`steward_bmc_ipmi::fake`), which
//! `ipmitool -I lanplus -C 17` accepts (tests/fake_ipmitool.rs). It covers what ipmi_sim
//! cannot: cipher suite 17 end to end, reservation cancellation (0xC5), lost datagrams,
//! and hostile/wrong-session/truncated/oversized noise on the wire.

use std::net::SocketAddr;
use std::time::Duration;

use steward_bmc_ipmi::fake::{FakeBmc, FakeConfig};
use steward_bmc_ipmi::{CipherSuite, IpmiClient, IpmiConfig, IpmiError};

#[derive(Clone, Default)]
struct Behavior {
    support_17: bool,
    drop_first: usize,
    noise: bool,
    only_noise: bool,
    cancel_every: usize,
    max_chunk: u8,
}

async fn start(b: Behavior) -> FakeBmc {
    let cfg = FakeConfig {
        support_17: b.support_17,
        drop_first: b.drop_first,
        noise: b.noise,
        only_noise: b.only_noise,
        cancel_every: b.cancel_every,
        max_chunk: b.max_chunk,
        ..FakeConfig::lab()
    };
    FakeBmc::start(cfg).await.expect("fake BMC")
}

fn cfg(addr: SocketAddr, suites: &[CipherSuite]) -> IpmiConfig {
    let mut c = IpmiConfig::new(addr, "admin", "password");
    c.cipher_suites = suites.to_vec();
    c.timeout = Duration::from_millis(300);
    c.retries = 3;
    c
}

#[tokio::test]
async fn suite17_preferred_and_used_end_to_end() {
    let f = start(Behavior {
        support_17: true,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite17, CipherSuite::Suite3]))
        .await
        .expect("connect");
    assert_eq!(c.cipher_suite(), CipherSuite::Suite17);
    assert!(c.chassis_status().await.expect("status").power_on);
    let s = c.sensors().await.expect("sensors");
    assert_eq!(s[0].value, Some(96.0));
    c.close().await.expect("close");
}

#[tokio::test]
async fn falls_back_to_suite3_when_17_rejected() {
    let f = start(Behavior {
        support_17: false,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite17, CipherSuite::Suite3]))
        .await
        .expect("connect");
    assert_eq!(c.cipher_suite(), CipherSuite::Suite3);
    c.chassis_status().await.expect("status");
}

#[tokio::test]
async fn wrong_password_suite17_is_auth_error() {
    let f = start(Behavior {
        support_17: true,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = cfg(f.addr, &[CipherSuite::Suite17]);
    c.credentials.password = "nope".into();
    let e = IpmiClient::connect(c).await.expect_err("must fail");
    assert!(e.is_auth_error(), "{e:?}");
}

#[tokio::test]
async fn noise_on_the_wire_is_skipped() {
    let f = start(Behavior {
        noise: true,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite3]))
        .await
        .expect("connect");
    for _ in 0..5 {
        assert!(c.chassis_status().await.expect("status").power_on);
    }
    assert_eq!(c.sensors().await.expect("sensors")[0].value, Some(96.0));
}

#[tokio::test]
async fn only_hostile_replies_give_typed_decode_error() {
    let f = start(Behavior {
        only_noise: true,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite3]))
        .await
        .expect("connect");
    match c.chassis_status().await {
        Err(IpmiError::Decode(_)) => {}
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn lost_requests_are_retried() {
    let f = start(Behavior {
        drop_first: 2,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite3]))
        .await
        .expect("connect");
    assert!(
        c.chassis_status()
            .await
            .expect("status after 2 losses")
            .power_on
    );
    assert!(f.requests() >= 4);
}

#[tokio::test]
async fn sdr_walk_rereserves_and_shrinks() {
    // Reservation cancelled after every 2 Get SDR calls; reads over 7 bytes refused.
    let f = start(Behavior {
        cancel_every: 2,
        max_chunk: 7,
        ..Default::default()
    })
    .await;
    let mut c = cfg(f.addr, &[CipherSuite::Suite3]);
    c.sdr_chunk_size = 24;
    let mut c = IpmiClient::connect(c).await.expect("connect");
    let s = c.sensors().await.expect("sensors");
    let names: Vec<&str> = s.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["CPUTmp", "SysFan1", "P12V", "PSU1_Status"]);
    assert_eq!(s[0].thresholds.unr, Some(160.0));
}
