//! Shared by the API and CLI tests: the REST API served by a [`steward_testlab::TestLab`] (loopback,
//! random port) in front of a real controller over a redb store in a temp dir, with real simulated
//! hosts (node agent over UDP, Redfish BMC, heartbeat) on loopback, timers scaled.
#![allow(dead_code)]

use std::sync::Arc;
use steward_api::Auth;
use steward_controller::ControllerHandle;
use steward_store::{RedbStore, Retention, SecretBox, Store};
use steward_testlab::{LabSpec, TestLab};

pub const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A running controller with three in-service hosts (controller-0, controller-1, worker-0) and the
/// API in front of it.
pub struct Lab {
    pub url: String,
    pub handle: ControllerHandle,
    pub rig: TestLab,
    _dir: tempfile::TempDir,
}

impl Lab {
    /// `lab_mode`: loopback clients need no token (otherwise [`TOKEN`] is required).
    pub async fn start(lab_mode: bool) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(RedbStore::open(dir.path(), Retention::default()).unwrap());
        let auth = Auth {
            tokens: vec![TOKEN.into()],
            loopback_without_token: lab_mode,
        };
        // The rig serves the API as `steward controller` does, with the node link's inventory,
        // node settings and datagram counters behind it.
        let spec = LabSpec {
            api: Some(auth),
            ..LabSpec::standard()
        };
        let rig = TestLab::start(store, SecretBox::from_key([7; 32]), spec).await;
        rig.wait_until_settled().await;
        let url = rig.api_url().expect("the rig serves the API");
        let handle = rig.handle.clone();
        Lab {
            url,
            handle,
            rig,
            _dir: dir,
        }
    }

    /// The uuid `name` was added with.
    pub fn uuid(&self, name: &str) -> String {
        self.spec(name).uuid.clone()
    }

    /// The management address `name` was added with (its agent's loopback address).
    pub fn mgmt_ip(&self, name: &str) -> String {
        self.spec(name).mgmt_ip.clone().unwrap()
    }

    fn spec(&self, name: &str) -> &steward_maintenance::host::HostSpec {
        self.rig
            .specs()
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no host {name} in the rig"))
    }
}
