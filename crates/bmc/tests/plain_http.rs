//! Redfish over HTTPS against a real plain-HTTP Redfish service on loopback (the lab's
//! simulated BMC, `steward-simbmc`): the TLS handshake cannot succeed, and the error
//! must say so and name the `http://` fix instead of hiding it. Under `--protocol
//! dynamic` the error lists why each protocol failed (before: only "IPMI unreachable").

use std::sync::Arc;
use std::time::Duration;

use steward_bmc::{Bmc, BmcConfig, BmcError, BmcProtocol, PowerState};
use steward_simbmc::{BootDevice, Power, PowerTarget, SimBmc, SimBmcConfig};

const USER: &str = "root";
const PASSWORD: &str = "lab-s3cret";

/// A machine that is on and ignores every action: only the connection matters here.
struct AlwaysOn;

impl PowerTarget for AlwaysOn {
    fn power(&self) -> Power {
        Power::On
    }
    fn power_on(&self) {}
    fn power_off(&self) {}
    fn reset(&self) {}
    fn power_cycle(&self) {}
    fn booting_from(&self, _device: BootDevice) {}
}

async fn plain_http_bmc() -> SimBmc {
    SimBmc::start(
        SimBmcConfig::new("node-1", USER, PASSWORD),
        Arc::new(AlwaysOn),
    )
    .await
    .expect("start simulated BMC")
}

/// `127.0.0.1:PORT` without a scheme: Redfish then defaults to https.
fn config(bmc: &SimBmc, protocol: BmcProtocol) -> BmcConfig {
    let mut c = BmcConfig::new(bmc.addr().to_string(), protocol, USER, PASSWORD);
    // IPMI is tried on UDP at the same port, where nothing answers.
    c.ipmi_timeout = Duration::from_millis(200);
    c.ipmi_retries = 0;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_lists_each_protocols_failure_and_the_http_fix() {
    let bmc = plain_http_bmc().await;
    let port = bmc.addr().port();
    let err = Bmc::connect(config(&bmc, BmcProtocol::Dynamic))
        .await
        .expect_err("https to a plain-HTTP service cannot work");
    let BmcError::NoProtocol { attempts, fix, .. } = &err else {
        panic!("expected NoProtocol, got {err:?}");
    };
    assert_eq!(attempts.len(), 2, "{err}");
    assert_eq!(attempts[0].protocol, BmcProtocol::Redfish);
    assert_eq!(attempts[0].endpoint, format!("https://127.0.0.1:{port}"));
    assert!(
        attempts[0].why.contains("TLS handshake") && attempts[0].why.contains("answers plain HTTP"),
        "{err}"
    );
    assert_eq!(attempts[1].protocol, BmcProtocol::Ipmi);
    assert_eq!(attempts[1].endpoint, format!("UDP 127.0.0.1:{port}"));
    assert!(attempts[1].why.contains("no reply"), "{err}");
    assert!(fix.contains(&format!("http://127.0.0.1:{port}")), "{err}");

    // The fix works: the same service through the http:// address.
    let mut cfg = config(&bmc, BmcProtocol::Dynamic);
    cfg.address = format!("http://127.0.0.1:{port}");
    let mut ok = Bmc::connect(cfg).await.expect("http:// connects");
    assert_eq!(ok.protocol(), BmcProtocol::Redfish);
    assert_eq!(ok.power_state().await.expect("power"), PowerState::On);
    ok.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_redfish_over_https_names_the_http_fix() {
    let bmc = plain_http_bmc().await;
    let port = bmc.addr().port();
    let err = Bmc::connect(config(&bmc, BmcProtocol::Redfish))
        .await
        .expect_err("https to a plain-HTTP service cannot work");
    assert!(matches!(err, BmcError::PlainHttp { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&format!("use the address http://127.0.0.1:{port}")),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");
}

/// Nothing listens on TCP or UDP: no plain-HTTP advice, both attempts listed, the
/// generic fix names the port both were tried on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_with_nothing_listening_lists_both_attempts() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cfg = BmcConfig::new(dead.to_string(), BmcProtocol::Dynamic, USER, PASSWORD);
    cfg.ipmi_timeout = Duration::from_millis(200);
    cfg.ipmi_retries = 0;
    let err = Bmc::connect(cfg).await.expect_err("nothing listens");
    let text = err.to_string();
    assert!(matches!(err, BmcError::NoProtocol { .. }), "{err:?}");
    assert!(text.contains("(1) Redfish over https://"), "{text}");
    assert!(text.contains("(2) IPMI (RMCP+) on UDP"), "{text}");
    assert!(!text.contains("plain HTTP"), "{text}");
    assert!(
        text.contains(&format!(
            "both protocols were tried on port {}",
            dead.port()
        )),
        "{text}"
    );
}

/// Event subscriptions: a receiver subscribing again from another port (a restarted controller)
/// replaces its stale subscription instead of filling the BMC's slots; another receiver's is left
/// alone; unsubscribing deletes only its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resubscribing_receiver_replaces_its_stale_subscription() {
    let bmc = plain_http_bmc().await;
    let mut cfg = config(&bmc, BmcProtocol::Redfish);
    cfg.address = format!("http://{}", bmc.addr());
    let mut c = Bmc::connect(cfg).await.expect("connect");
    let other = c
        .subscribe_events("http://10.9.9.9:7000/redfish/events", "theirs")
        .await
        .expect("subscribe")
        .expect("the lab BMC offers an EventService");
    assert_eq!(bmc.subscription_count(), 1);
    let first = c
        .subscribe_events("http://127.0.0.1:4001/redfish/events", "a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bmc.subscription_count(), 2);
    let second = c
        .subscribe_events("http://127.0.0.1:4002/redfish/events", "b")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(first.uri, second.uri);
    assert_eq!(bmc.subscription_count(), 2, "the stale one was replaced");
    c.unsubscribe_events(&second).await.unwrap();
    assert_eq!(bmc.subscription_count(), 1);
    // Already gone: fine.
    c.unsubscribe_events(&first).await.unwrap();
    c.unsubscribe_events(&other).await.unwrap();
    assert_eq!(bmc.subscription_count(), 0);
}
