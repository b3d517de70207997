//! Erasing a disk's labels: the reads and writes around the pure parser and plan of
//! [`steward_agent::disklabels`]. Works on block devices and image files alike (the size comes from
//! seeking to the end, which both answer); the writes are synced before the result is reported,
//! and the disk is scanned again to prove nothing is left.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use steward_agent::disklabels::{erase_ranges, scan, ReadAt, Signature};

/// Why a disk could not be wiped.
#[derive(Debug, thiserror::Error)]
pub enum WipeError {
    #[error("cannot open {path} for writing: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the size of {path}: {source}")]
    Size {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot zero {path} at bytes {range:?}: {source}")]
    Write {
        path: PathBuf,
        range: Range<u64>,
        source: std::io::Error,
    },
    #[error("cannot sync {path}: {source}")]
    Sync {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What one wipe did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WipeReport {
    /// What the scan found before.
    pub found: Vec<Signature>,
    /// The ranges zeroed.
    pub erased: Vec<Range<u64>>,
    /// Bytes zeroed in all.
    pub zeroed: u64,
    /// What a scan still finds after (empty unless a write was lost).
    pub left: Vec<Signature>,
}

/// A disk read through positioned reads (a short read is a failed one).
struct Disk<'a>(&'a File);

impl ReadAt for Disk<'_> {
    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.0.read_exact_at(&mut buf, offset).ok()?;
        Some(buf)
    }
}

/// What is on `path` now (read only).
pub fn inspect(path: &Path) -> Result<steward_agent::disklabels::DiskLabels, WipeError> {
    let f = File::open(path).map_err(|source| WipeError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let size = size_of(&f, path)?;
    Ok(scan(&Disk(&f), size))
}

fn size_of(f: &File, path: &Path) -> Result<u64, WipeError> {
    let mut f = f;
    f.seek(SeekFrom::End(0)).map_err(|source| WipeError::Size {
        path: path.to_path_buf(),
        source,
    })
}

/// Erase the partition tables and boot and filesystem signatures of `path`.
pub fn wipe_labels(path: &Path) -> Result<WipeReport, WipeError> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|source| WipeError::Open {
            path: path.to_path_buf(),
            source,
        })?;
    let size = size_of(&f, path)?;
    let labels = scan(&Disk(&f), size);
    let erased = erase_ranges(&labels);
    let zeros = vec![0u8; 64 * 1024];
    let mut zeroed = 0;
    for r in &erased {
        let mut at = r.start;
        while at < r.end {
            let n = (r.end - at).min(zeros.len() as u64);
            f.write_all_at(&zeros[..n as usize], at)
                .map_err(|source| WipeError::Write {
                    path: path.to_path_buf(),
                    range: r.clone(),
                    source,
                })?;
            at += n;
        }
        zeroed += r.end - r.start;
    }
    f.sync_all().map_err(|source| WipeError::Sync {
        path: path.to_path_buf(),
        source,
    })?;
    let left = scan(&Disk(&f), size).signatures;
    Ok(WipeReport {
        found: labels.signatures,
        erased,
        zeroed,
        left,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_disk_is_named() {
        let e = wipe_labels(Path::new("/nonexistent/disk.img"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("/nonexistent/disk.img"), "{e}");
    }

    #[test]
    fn a_short_image_is_wiped_without_reading_past_its_end() {
        let d = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let p = d.path().join("tiny.img");
        let mut img = vec![0u8; 700];
        img[510] = 0x55;
        img[511] = 0xAA;
        std::fs::write(&p, &img).unwrap_or_else(|e| panic!("{e}"));
        let r = wipe_labels(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.found.len(), 1);
        assert!(r.left.is_empty());
        let after = std::fs::read(&p).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(after.len(), 700, "the image keeps its size");
        assert!(after.iter().all(|b| *b == 0));
    }
}
