//! The sender session: strictly greater than every earlier run's, persisted before the first frame,
//! so agents never take a restarted controller's fresh sequence numbers for replays.

use crate::LinkError;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Reads the last session (if any), picks the next one and writes it back durably.
pub(crate) fn take_next(path: &Path) -> Result<u64, LinkError> {
    let err = |source| LinkError::Session {
        path: path.to_path_buf(),
        source,
    };
    let last = match std::fs::read_to_string(path) {
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(v) => Some(v),
            Err(_) => {
                // The clock still gives a fresh session; say so rather than refuse to start.
                tracing::warn!(path = %path.display(), "session file unreadable, starting from the clock");
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(err(e)),
    };
    let now_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let next = steward_protocol::next_session(now_us, last);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(format!("{next}\n").as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(err)?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sessions_grow_across_runs_even_with_a_clock_behind() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/session");
        let a = super::take_next(&p).unwrap();
        // A file far in the future (clock went back): the next session is still above it.
        std::fs::write(&p, format!("{}\n", a + 1_000_000_000)).unwrap();
        let b = super::take_next(&p).unwrap();
        assert_eq!(b, a + 1_000_000_001);
        let c = super::take_next(&p).unwrap();
        assert!(c > b);
        std::fs::write(&p, "garbage").unwrap();
        assert!(super::take_next(&p).unwrap() > 0);
    }
}
