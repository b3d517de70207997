//! Open Session negotiation against the fake BMC told to answer with other
//! algorithms than proposed (`FakeConfig::answer_with`), as some real BMCs do:
//! steward accepts any answer it supports that the configured suites allow, refuses
//! downgrades and "none", and then retries with the next suite before failing with an
//! error that names what the BMC chose and what steward accepts.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use steward_bmc_ipmi::fake::{FakeBmc, FakeConfig};
use steward_bmc_ipmi::{
    AlgorithmIds, Algorithms, AuthAlg, CipherSuite, ConfAlg, IntegrityAlg, IpmiClient, IpmiConfig,
    IpmiError,
};

const BOTH: &[CipherSuite] = &[CipherSuite::Suite17, CipherSuite::Suite3];

fn ids(auth: u8, integrity: u8, confidentiality: u8) -> AlgorithmIds {
    AlgorithmIds {
        auth,
        integrity,
        confidentiality,
    }
}

async fn start(answer_with: Vec<(CipherSuite, AlgorithmIds)>) -> FakeBmc {
    FakeBmc::start(FakeConfig {
        answer_with,
        ..FakeConfig::lab()
    })
    .await
    .expect("fake BMC")
}

fn cfg(addr: SocketAddr, suites: &[CipherSuite]) -> IpmiConfig {
    let mut c = IpmiConfig::new(addr, "admin", "password");
    c.cipher_suites = suites.to_vec();
    c.timeout = Duration::from_millis(300);
    c.retries = 3;
    c
}

fn sessions(f: &FakeBmc) -> usize {
    f.state.sessions.load(Ordering::SeqCst)
}

/// Before: "negotiated algorithms differ from proposal". A mixed answer
/// (RAKP-HMAC-SHA256 with HMAC-SHA1-96) is now run end to end.
#[tokio::test]
async fn a_mixed_answer_is_accepted_and_used_end_to_end() {
    let f = start(vec![(CipherSuite::Suite17, ids(0x03, 0x01, 0x01))]).await;
    let mut c = IpmiClient::connect(cfg(f.addr, BOTH))
        .await
        .expect("connect");
    assert_eq!(c.cipher_suite(), CipherSuite::Suite17);
    assert_eq!(
        c.algorithms(),
        Algorithms {
            auth: AuthAlg::RakpHmacSha256,
            integrity: IntegrityAlg::HmacSha1_96,
            confidentiality: ConfAlg::AesCbc128,
        }
    );
    assert!(c.chassis_status().await.expect("status").power_on);
    let s = c.sensors().await.expect("sensors");
    assert_eq!(s[0].value, Some(96.0));
    c.close().await.expect("close");
    assert_eq!(sessions(&f), 1, "no second handshake was needed");
}

/// Suite 3's algorithms answered to a suite-17 proposal: weaker than proposed, but
/// the operator allows suite 3, so it is what the fallback would give anyway.
#[tokio::test]
async fn suite3_algorithms_answered_to_17_are_accepted_when_suite3_is_configured() {
    let f = start(vec![(CipherSuite::Suite17, ids(0x01, 0x01, 0x01))]).await;
    let mut c = IpmiClient::connect(cfg(f.addr, BOTH))
        .await
        .expect("connect");
    assert_eq!(c.algorithms(), CipherSuite::Suite3.algorithms());
    c.chassis_status().await.expect("status");
    assert_eq!(sessions(&f), 1);
}

/// A stronger answer than proposed is accepted too.
#[tokio::test]
async fn suite17_algorithms_answered_to_3_are_accepted() {
    let f = start(vec![(CipherSuite::Suite3, ids(0x03, 0x04, 0x01))]).await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite3]))
        .await
        .expect("connect");
    assert_eq!(c.algorithms(), CipherSuite::Suite17.algorithms());
    c.chassis_status().await.expect("status");
}

/// With suite 17 alone configured, the same SHA1 answer is a downgrade: refused,
/// before any RAKP message is sent.
#[tokio::test]
async fn a_downgrade_below_the_configured_suites_is_refused() {
    let f = start(vec![(CipherSuite::Suite17, ids(0x01, 0x01, 0x01))]).await;
    let e = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite17]))
        .await
        .expect_err("must refuse");
    assert!(matches!(e, IpmiError::AlgorithmsRefused { .. }), "{e:?}");
    let text = e.to_string();
    for want in [
        "to cipher suite 17",
        "authentication RAKP-HMAC-SHA1 (0x01)",
        "weaker than the configured cipher suites allow",
        "steward accepts authentication RAKP-HMAC-SHA256, integrity HMAC-SHA256-128",
    ] {
        assert!(text.contains(want), "missing {want:?} in: {text}");
    }
    assert_eq!(sessions(&f), 0);
}

/// An unsupported answer to suite 17 ("none" everywhere) makes steward propose
/// suite 3 next, which the BMC answers as proposed.
#[tokio::test]
async fn an_unsupported_answer_retries_with_the_next_suite() {
    let f = start(vec![(CipherSuite::Suite17, ids(0x00, 0x00, 0x00))]).await;
    let mut c = IpmiClient::connect(cfg(f.addr, BOTH))
        .await
        .expect("connect");
    assert_eq!(c.cipher_suite(), CipherSuite::Suite3);
    assert_eq!(c.algorithms(), CipherSuite::Suite3.algorithms());
    c.chassis_status().await.expect("status");
    assert_eq!(sessions(&f), 1);
}

/// Every proposal answered with something unusable: one error naming each answer
/// and what steward accepts.
#[tokio::test]
async fn unusable_answers_to_every_suite_fail_naming_each() {
    let f = start(vec![
        (CipherSuite::Suite17, ids(0x00, 0x00, 0x00)),
        (CipherSuite::Suite3, ids(0x01, 0x00, 0x01)),
    ])
    .await;
    let e = IpmiClient::connect(cfg(f.addr, BOTH))
        .await
        .expect_err("must fail");
    let IpmiError::AlgorithmsRefused { refusals, .. } = &e else {
        panic!("expected AlgorithmsRefused, got {e:?}");
    };
    assert_eq!(refusals.len(), 2);
    let text = e.to_string();
    for want in [
        "to cipher suite 17 the BMC answered authentication RAKP-none (0x00)",
        "steward does not support authentication RAKP-none",
        "to cipher suite 3 the BMC answered authentication RAKP-HMAC-SHA1 (0x01), integrity none (0x00)",
        "steward does not support integrity none",
        "steward accepts authentication RAKP-HMAC-SHA256 or RAKP-HMAC-SHA1",
        "cipher suites 17, 3 configured",
    ] {
        assert!(text.contains(want), "missing {want:?} in: {text}");
    }
    assert_eq!(sessions(&f), 0);
}

/// Suite 17 turned down outright by the BMC (a status code), suite 3 answered with
/// "none" algorithms: the error names both outcomes.
#[tokio::test]
async fn a_refused_answer_and_a_rejected_suite_are_both_named() {
    let f = FakeBmc::start(FakeConfig {
        answer_with: vec![(CipherSuite::Suite3, ids(0x01, 0x00, 0x00))],
        support_17: false,
        ..FakeConfig::lab()
    })
    .await
    .expect("fake BMC");
    let e = IpmiClient::connect(cfg(f.addr, BOTH))
        .await
        .expect_err("must fail");
    let text = e.to_string();
    for want in [
        "cipher suite 17 rejected by the BMC: 0x04",
        "to cipher suite 3 the BMC answered authentication RAKP-HMAC-SHA1 (0x01), integrity none (0x00)",
    ] {
        assert!(text.contains(want), "missing {want:?} in: {text}");
    }
}
