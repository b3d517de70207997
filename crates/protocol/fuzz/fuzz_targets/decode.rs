//! Decoder and verifier on arbitrary bytes: must never panic, and must never accept (the fuzzer
//! cannot forge a MAC).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr};
use steward_protocol::{decode, ClusterSecret, Network, Verifier};

const SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));

fuzz_target!(|data: &[u8]| {
    let _ = decode(data);
    let secret = ClusterSecret::new(&[7u8; 32]).expect("valid secret");
    let mut controller = Verifier::controller(secret.clone());
    controller.allow("compute-0", Network::Mgmt, [SOURCE]);
    controller.allow("compute-0", Network::Cluster, [SOURCE]);
    assert!(controller.accept(data, SOURCE, 0).is_err());
    let mut node = Verifier::node(secret.controller_key("compute-0"));
    node.allow("controller-0", Network::Mgmt, [SOURCE]);
    assert!(node.accept(data, SOURCE, 0).is_err());
});
