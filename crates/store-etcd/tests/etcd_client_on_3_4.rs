//! The `etcd-client` crate is tested upstream against etcd 3.5+; Debian ships 3.4. This checks every
//! kind of call the etcd store (and the controller's leader lease) makes against the real 3.4 server:
//! if a newer client broke one of them, this fails before the store tests do.

use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp,
    TxnOpResponse,
};
use steward_testpeers::etcd::EtcdPeer;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_call_the_store_makes_works_on_etcd_3_4() {
    let peer = EtcdPeer::start();
    runtime().block_on(async {
        let options = ConnectOptions::new()
            .with_timeout(Duration::from_secs(10))
            .with_require_leader(true);
        let mut c = Client::connect([peer.endpoint()], Some(options))
            .await
            .unwrap();
        let version = c.status().await.unwrap().version().to_owned();
        assert!(version.starts_with("3.4"), "etcd {version}");

        // Put, get, revisions.
        let r1 = c
            .put("a", "1", None)
            .await
            .unwrap()
            .header()
            .unwrap()
            .revision();
        let got = c.get("a", None).await.unwrap();
        assert_eq!(got.kvs()[0].value(), b"1");
        assert_eq!(got.kvs()[0].mod_revision(), r1);

        // A Txn of Gets (the store's snapshot read) and its responses.
        let resp = c
            .txn(Txn::new().and_then(vec![TxnOp::get("a", None), TxnOp::get("none", None)]))
            .await
            .unwrap();
        let rs = resp.op_responses();
        assert!(matches!(&rs[0], TxnOpResponse::Get(g) if g.kvs()[0].value() == b"1"));
        assert!(matches!(&rs[1], TxnOpResponse::Get(g) if g.kvs().is_empty()));

        // Compares on value, mod_revision and create_revision; puts, deletes and range deletes.
        let ok = Txn::new()
            .when(vec![
                Compare::value("a", CompareOp::Equal, "1"),
                Compare::mod_revision("a", CompareOp::Equal, r1),
                Compare::create_revision("none", CompareOp::Equal, 0),
            ])
            .and_then(vec![
                TxnOp::put("b/1", "x", None),
                TxnOp::put("b/2", "x", None),
                TxnOp::put("b/3", "x", None),
                TxnOp::delete("a", None),
            ]);
        let resp = c.txn(ok).await.unwrap();
        assert!(resp.succeeded());
        let r2 = resp.header().unwrap().revision();
        assert_eq!(r2, r1 + 1, "one Txn is one revision");
        let bad = Txn::new()
            .when(vec![Compare::create_revision("b/1", CompareOp::Equal, 0)])
            .and_then(vec![TxnOp::put("c", "x", None)]);
        assert!(!c.txn(bad).await.unwrap().succeeded());
        let range = Txn::new().and_then(vec![TxnOp::delete(
            "b/1",
            Some(DeleteOptions::new().with_range("b/3")),
        )]);
        assert!(c.txn(range).await.unwrap().succeeded());
        let left = c
            .get("b/", Some(GetOptions::new().with_prefix()))
            .await
            .unwrap();
        assert_eq!(left.kvs().len(), 1);

        // Paged ranges at a fixed revision.
        for i in 0..5 {
            c.put(format!("p/{i}"), "v", None).await.unwrap();
        }
        let page = c
            .get("p/", Some(GetOptions::new().with_prefix().with_limit(2)))
            .await
            .unwrap();
        assert!(page.more());
        assert_eq!(page.kvs().len(), 2);
        let at = page.header().unwrap().revision();
        c.put("p/9", "later", None).await.unwrap();
        let old = c
            .get(
                "p/",
                Some(GetOptions::new().with_prefix().with_revision(at)),
            )
            .await
            .unwrap();
        assert_eq!(old.kvs().len(), 5);

        // Leases: grant, a key held by it, the lease compare, keep-alive, revoke.
        let lease = c.lease_grant(5, None).await.unwrap().id();
        c.put("leader", "me", Some(PutOptions::new().with_lease(lease)))
            .await
            .unwrap();
        let held = Txn::new()
            .when(vec![Compare::lease("leader", CompareOp::Equal, lease)])
            .and_then(vec![TxnOp::put("w", "1", None)]);
        assert!(c.txn(held).await.unwrap().succeeded());
        let (mut keeper, mut stream) = c.lease_keep_alive(lease).await.unwrap();
        keeper.keep_alive().await.unwrap();
        let ttl = stream.message().await.unwrap().unwrap().ttl();
        assert!(ttl > 0);
        c.lease_revoke(lease).await.unwrap();
        assert!(c.get("leader", None).await.unwrap().kvs().is_empty());
        let lost = Txn::new()
            .when(vec![Compare::lease("leader", CompareOp::Equal, lease)])
            .and_then(vec![TxnOp::put("w", "2", None)]);
        assert!(!c.txn(lost).await.unwrap().succeeded());
    });
}
