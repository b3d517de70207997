//! The node protocol's cluster secret in the data dir.

use crate::StartError;
use std::path::Path;
use steward_protocol::ClusterSecret;

/// The cluster secret's file in the data dir.
pub const CLUSTER_SECRET_FILE: &str = "cluster.secret";

/// `<data-dir>/cluster.secret`: 32 random bytes, hex, mode 0600; created on first start.
pub fn load_or_create_cluster_secret(data_dir: &Path) -> Result<ClusterSecret, StartError> {
    let path = data_dir.join(CLUSTER_SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = steward_node::keyfile::from_hex(&text).ok_or_else(|| {
                StartError::new(
                    format!(
                        "{} is not a hex-encoded secret; restore it from a backup (nodes' keys derive from it)",
                        path.display()
                    ),
                    "not hex",
                )
            })?;
            ClusterSecret::new(&bytes)
                .map_err(|e| StartError::new(format!("{} is unusable", path.display()), e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            getrandom::getrandom(&mut bytes)
                .map_err(|e| StartError::new("the OS random source failed", e))?;
            steward_node::keyfile::write_private(
                &path,
                steward_node::keyfile::to_hex(&bytes).as_bytes(),
            )
            .map_err(|e| StartError::new(format!("cannot write {}", path.display()), e))?;
            ClusterSecret::new(&bytes).map_err(|e| StartError::new("a fresh cluster secret", e))
        }
        Err(e) => Err(StartError::new(
            format!("cannot read {}", path.display()),
            e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_secret_is_created_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_cluster_secret(dir.path()).unwrap();
        let b = load_or_create_cluster_secret(dir.path()).unwrap();
        assert_eq!(a.node_key("worker-0"), b.node_key("worker-0"));
        let mode = std::fs::metadata(dir.path().join(CLUSTER_SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join(CLUSTER_SECRET_FILE), "xyz").unwrap();
        let e = load_or_create_cluster_secret(dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("not a hex-encoded secret"));
    }
}
