//! The store's shared behaviour tests (`steward_store::conformance`, also run on the embedded
//! stores) on the etcd store, each on a real etcd of its own: revisions are etcd's, so they are
//! checked as `Increasing`, not `Dense`.

mod common;

use steward_store::conformance::{self, Revisions};
use steward_store::Retention;
use steward_testpeers::etcd::EtcdPeer;

fn on_etcd(retention: Retention, check: impl Fn(&dyn steward_store::Store)) {
    let peer = EtcdPeer::start();
    let store = common::store_on(&peer.endpoints(), retention);
    check(&store);
    // A second store on the same etcd under another prefix sees none of it.
    let other = common::store_on(&peer.endpoints(), Retention::default());
    assert!(steward_store::Store::list(&other, "").unwrap().is_empty());
    assert_eq!(steward_store::Store::epoch(&other).unwrap(), 0);
}

#[test]
fn cas_absent_and_revision() {
    on_etcd(Retention::default(), |s| {
        conformance::cas_absent_and_revision(s, Revisions::Increasing)
    });
}

#[test]
fn list_is_ordered_and_prefix_bounded() {
    on_etcd(
        Retention::default(),
        conformance::list_is_ordered_and_prefix_bounded,
    );
}

#[test]
fn fencing() {
    on_etcd(Retention::default(), conformance::fencing);
}

#[test]
fn txn_is_all_or_nothing() {
    on_etcd(Retention::default(), conformance::txn_is_all_or_nothing);
}

#[test]
fn append_sequences_and_retention() {
    on_etcd(
        conformance::append_retention(),
        conformance::append_sequences_and_retention,
    );
}
