//! The filesystem monitor's I/O (docs/node-monitoring.md#filesystems): one sample of a mount point with
//! `statvfs`. The policy (thresholds, when to report) is `steward_agent::FsMonitor`.

use rustix::fs::{statvfs, StatVfsMountFlags};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use steward_agent::FsSample;

/// Whether `path` is mounted, read-only, and how much space and how many inodes are free. A path
/// that does not exist, or is only a directory of its parent's filesystem, is `Missing`: the
/// filesystem meant to be there is not.
///
/// May block (a hung NFS server): the caller runs it on a blocking thread.
pub fn sample(path: &Path) -> FsSample {
    let Ok(meta) = std::fs::metadata(path) else {
        return FsSample::Missing;
    };
    if !is_mount_point(path, &meta) {
        return FsSample::Missing;
    }
    let Ok(st) = statvfs(path) else {
        return FsSample::Missing;
    };
    let pct = |part: u64, whole: u64| (whole > 0).then(|| part as f64 * 100.0 / whole as f64);
    FsSample::Mounted {
        read_only: st.f_flag.contains(StatVfsMountFlags::RDONLY),
        free_space_pct: pct(st.f_bavail, st.f_blocks).unwrap_or(100.0),
        free_inodes_pct: pct(st.f_favail, st.f_files),
    }
}

/// A mount point sits on another device than its parent directory (or is the root).
fn is_mount_point(path: &Path, meta: &std::fs::Metadata) -> bool {
    let Some(parent) = path.parent() else {
        return true;
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    match std::fs::metadata(parent) {
        Ok(p) => p.dev() != meta.dev() || p.ino() == meta.ino(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_not_a_mounted_filesystem_and_root_is() {
        let t = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sample(&t.path().join("nothing")), FsSample::Missing);
        let dir = t.path().join("plain");
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sample(&dir), FsSample::Missing);
        assert!(matches!(sample(Path::new("/")), FsSample::Mounted { .. }));
    }
}
