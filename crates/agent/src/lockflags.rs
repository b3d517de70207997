//! The node-locked flag pair (docs/protocol.md#lock-flags).
//!
//! Two files say "this host is locked": a volatile one (cleared by every reboot, read by other
//! software to keep services off a locked host) and a non-volatile backup (survives a reboot, so a
//! locked host is still known to be locked after a dead-office recovery). This module is the
//! pure part: what the files should be for an admin state, and which writes bring observed files
//! there.

use serde::{Deserialize, Serialize};

/// The admin state the controller last confirmed with a LOCKED or UNLOCKED command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum LockState {
    Unlocked,
    /// `persist`: the controller asked for the non-volatile backup too (duplex systems; a simplex
    /// system gets `false` so its own services are not blocked after a reboot,
    /// docs/protocol.md#lock-flags).
    Locked {
        persist: bool,
    },
}

impl LockState {
    /// What a host that has never heard from a controller assumes: locked, both files. A new
    /// install comes up locked (seed test plan), and locked is the safe side: host services stay
    /// off until the controller says otherwise; an unlocked host reporting "locked" is answered
    /// with UNLOCKED by the controller within one alive period.
    pub const FRESH_INSTALL: LockState = LockState::Locked { persist: true };

    pub fn is_locked(self) -> bool {
        matches!(self, LockState::Locked { .. })
    }

    /// The files this state wants.
    pub fn target(self) -> FlagPair {
        match self {
            LockState::Unlocked => FlagPair::ABSENT,
            LockState::Locked { persist } => FlagPair {
                volatile: true,
                backup: persist,
            },
        }
    }
}

/// One of the two files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlagFile {
    /// Default `/run/steward/node_locked`.
    Volatile,
    /// Default `/var/lib/steward/node_locked`.
    Backup,
}

impl FlagFile {
    pub fn as_str(self) -> &'static str {
        match self {
            FlagFile::Volatile => "volatile",
            FlagFile::Backup => "backup",
        }
    }
}

/// Presence of the two files (observed, or wanted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlagPair {
    pub volatile: bool,
    pub backup: bool,
}

impl FlagPair {
    pub const ABSENT: FlagPair = FlagPair {
        volatile: false,
        backup: false,
    };
    pub const BOTH: FlagPair = FlagPair {
        volatile: true,
        backup: true,
    };

    pub fn get(self, f: FlagFile) -> bool {
        match f {
            FlagFile::Volatile => self.volatile,
            FlagFile::Backup => self.backup,
        }
    }

    pub fn set(&mut self, f: FlagFile, present: bool) {
        match f {
            FlagFile::Volatile => self.volatile = present,
            FlagFile::Backup => self.backup = present,
        }
    }

    /// The volatile file after the start-up restore: a copy of the backup (a stale volatile file
    /// without a backup is removed). Runs before anything else looks at the flags, so nothing
    /// decides on a volatile file that the last boot did not mean (docs/protocol.md#lock-flags).
    pub fn restored(self) -> FlagPair {
        FlagPair {
            volatile: self.backup,
            backup: self.backup,
        }
    }

    /// The writes that take `self` (observed) to `target`, volatile first, in a fixed order.
    pub fn corrections(self, target: FlagPair) -> Vec<(FlagFile, bool)> {
        [FlagFile::Volatile, FlagFile::Backup]
            .into_iter()
            .filter(|f| self.get(*f) != target.get(*f))
            .map(|f| (f, target.get(f)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(LockState::Unlocked.target(), FlagPair::ABSENT);
        assert_eq!(LockState::Locked { persist: true }.target(), FlagPair::BOTH);
        assert_eq!(
            LockState::Locked { persist: false }.target(),
            FlagPair {
                volatile: true,
                backup: false
            }
        );
    }

    #[test]
    fn restore_copies_the_backup() {
        for v in [false, true] {
            for b in [false, true] {
                let r = FlagPair {
                    volatile: v,
                    backup: b,
                }
                .restored();
                assert_eq!(r.volatile, b);
                assert_eq!(r.backup, b);
            }
        }
    }

    #[test]
    fn corrections_reach_the_target() {
        let all = [
            FlagPair::ABSENT,
            FlagPair::BOTH,
            FlagPair {
                volatile: true,
                backup: false,
            },
            FlagPair {
                volatile: false,
                backup: true,
            },
        ];
        for from in all {
            for to in all {
                let mut p = from;
                for (f, present) in from.corrections(to) {
                    p.set(f, present);
                }
                assert_eq!(p, to);
                assert!(to.corrections(to).is_empty());
            }
        }
    }
}
