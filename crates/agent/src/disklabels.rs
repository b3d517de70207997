//! What makes a disk bootable and its partitions findable, and the bytes that erase it
//! (docs/protocol.md#wipe-disk). Pure: [`scan`] reads through a [`ReadAt`] (the runtime's file or
//! block device; a byte slice in tests) and returns what it found; [`erase_ranges`] turns that into
//! the byte ranges to zero. Steward parses the tables itself: it must not depend on the kernel
//! having parsed them (a kernel may be built without partition support, and a disk's in-kernel
//! view may be stale).
//!
//! Found and erased:
//! - the MBR / boot sector (LBA 0: boot code, the four partition entries, the 0x55AA signature;
//!   a protective MBR is one whose entry has type 0xEE), and the extended boot records of a DOS
//!   extended partition;
//! - the GPT: the primary header (LBA 1) and its partition entry array, the backup header (last
//!   LBA, or where the primary says) and its array; 512- and 4096-byte sectors;
//! - at the start of the disk and of every partition found: filesystem and volume signatures
//!   (ext2/3/4, XFS, Btrfs, swap, LVM2, LUKS, Linux MD RAID, FAT, NTFS, ISO 9660).
//!
//! Everything else (the data) is left alone: erasing labels takes kilobytes, not hours.

use std::ops::Range;

/// The sector size the MBR and, unless a GPT says otherwise, everything else use.
pub const SECTOR: u64 = 512;
/// The largest sector size probed for a GPT.
pub const MAX_SECTOR: u64 = 4096;
/// Partition entry arrays larger than this are taken as corrupt (128 entries × 128 bytes is 16
/// KiB; the limit leaves room for unusual layouts).
const MAX_ENTRY_ARRAY: u64 = 1 << 20;
/// Logical partitions followed in an extended partition's chain, at most.
const MAX_LOGICAL: usize = 128;

/// Random access to a disk's bytes.
pub trait ReadAt {
    /// `len` bytes at `offset`; None when they cannot all be read (past the end, an IO error).
    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>>;
}

impl ReadAt for [u8] {
    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        let start = usize::try_from(offset).ok()?;
        let end = start.checked_add(len)?;
        self.get(start..end).map(<[u8]>::to_vec)
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, offset: u64, len: usize) -> Option<Vec<u8>> {
        self.as_slice().read_at(offset, len)
    }
}

/// What a [`Signature`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A DOS partition table or boot sector (0x55AA at byte 510).
    Mbr,
    /// A protective MBR in front of a GPT.
    ProtectiveMbr,
    /// An extended boot record of a DOS extended partition.
    Ebr,
    GptPrimary,
    GptBackup,
    /// A GPT partition entry array (found through a header).
    GptEntries,
    Ext,
    Xfs,
    Btrfs,
    Swap,
    Lvm2,
    Luks,
    MdRaid,
    Fat,
    Ntfs,
    Iso9660,
}

/// One thing found on the disk, and the bytes that erase it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub kind: Kind,
    /// Where its magic (or header) is, from the start of the disk.
    pub offset: u64,
    /// The bytes to zero to erase it (may reach past the disk's end; [`erase_ranges`] clips).
    pub erase: Range<u64>,
}

/// A partition found in a table, in bytes from the start of the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Partition {
    pub start: u64,
    pub len: u64,
}

/// What [`scan`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DiskLabels {
    /// The disk's size in bytes.
    pub size: u64,
    /// 512, or 4096 when the GPT sits on 4096-byte sectors.
    pub sector_size: u64,
    /// Sorted, without duplicates (the primary and backup GPT list the same ones).
    pub partitions: Vec<Partition>,
    /// Sorted by offset.
    pub signatures: Vec<Signature>,
}

impl DiskLabels {
    /// Nothing that boots or names a partition or a filesystem is left.
    pub fn is_clean(&self) -> bool {
        self.signatures.is_empty()
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

/// Does `magic` sit at `offset`?
fn has(disk: &(impl ReadAt + ?Sized), offset: u64, magic: &[u8]) -> bool {
    disk.read_at(offset, magic.len())
        .is_some_and(|b| b == magic)
}

struct Scan<'a, D: ReadAt + ?Sized> {
    disk: &'a D,
    size: u64,
    sector: u64,
    partitions: Vec<Partition>,
    signatures: Vec<Signature>,
}

impl<D: ReadAt + ?Sized> Scan<'_, D> {
    fn found(&mut self, kind: Kind, offset: u64, erase: Range<u64>) {
        self.signatures.push(Signature {
            kind,
            offset,
            erase,
        });
    }

    /// A partition of `len` bytes at `start`, if it lies on the disk.
    fn partition(&mut self, start: u64, len: u64) {
        if start > 0 && start < self.size && len > 0 {
            let len = len.min(self.size - start);
            self.partitions.push(Partition { start, len });
        }
    }

    /// A GPT header at `offset` with sectors of `sector` bytes: record it, its entry array and
    /// its partitions. Returns whether one was there.
    fn gpt_header(&mut self, kind: Kind, offset: u64, sector: u64) -> bool {
        let Some(h) = self.disk.read_at(offset, 92) else {
            return false;
        };
        if &h[..8] != b"EFI PART" {
            return false;
        }
        self.found(kind, offset, offset..offset + sector);
        let entries_lba = le64(&h, 72);
        let count = u64::from(le32(&h, 80));
        let entry_size = u64::from(le32(&h, 84));
        let bytes = count.saturating_mul(entry_size);
        let Some(at) = entries_lba.checked_mul(sector) else {
            return true;
        };
        // A header with nonsense fields is still erased; its array is not followed.
        if !(128..=4096).contains(&entry_size)
            || entry_size % 8 != 0
            || bytes == 0
            || bytes > MAX_ENTRY_ARRAY
            || at == 0
            || at >= self.size
        {
            return true;
        }
        let end = (at + bytes).div_ceil(sector) * sector;
        self.found(Kind::GptEntries, at, at..end);
        let Some(array) = self.disk.read_at(at, bytes.min(self.size - at) as usize) else {
            return true;
        };
        for e in array.chunks_exact(entry_size as usize) {
            if e[..16].iter().all(|b| *b == 0) {
                continue; // unused entry
            }
            let (first, last) = (le64(e, 32), le64(e, 40));
            if first == 0 || last < first {
                continue;
            }
            if let (Some(start), Some(len)) = (
                first.checked_mul(sector),
                (last - first + 1).checked_mul(sector),
            ) {
                self.partition(start, len);
            }
        }
        true
    }

    fn gpt(&mut self) {
        let mut backup_at = Vec::new();
        for sector in [SECTOR, MAX_SECTOR] {
            if self.gpt_header(Kind::GptPrimary, sector, sector) {
                self.sector = sector;
                if let Some(h) = self.disk.read_at(sector, 92) {
                    if let Some(at) = le64(&h, 32).checked_mul(sector) {
                        backup_at.push((at, sector));
                    }
                }
                break;
            }
        }
        // The last LBA, for either sector size: a disk whose primary header is gone (or was
        // never written) still boots or is "repaired" from a backup.
        for sector in [SECTOR, MAX_SECTOR] {
            if self.size >= 2 * sector {
                backup_at.push(((self.size / sector - 1) * sector, sector));
            }
        }
        backup_at.sort_unstable();
        backup_at.dedup_by_key(|(at, _)| *at);
        for (at, sector) in backup_at {
            if at > sector
                && at < self.size
                && self.gpt_header(Kind::GptBackup, at, sector)
                && self.sector == SECTOR
            {
                self.sector = sector;
            }
        }
    }

    fn mbr(&mut self) {
        let s = self.sector;
        let Some(b) = self.disk.read_at(0, SECTOR as usize) else {
            return;
        };
        if b[510..512] != [0x55, 0xAA] {
            return;
        }
        let entries: Vec<&[u8]> = (0..4).map(|i| &b[446 + 16 * i..462 + 16 * i]).collect();
        let protective = entries.iter().any(|e| e[4] == 0xEE);
        self.found(
            if protective {
                Kind::ProtectiveMbr
            } else {
                Kind::Mbr
            },
            510,
            0..s,
        );
        // A FAT or NTFS boot sector also ends in 0x55AA; its bytes 446.. are code, not entries.
        if protective || entries.iter().any(|e| e[0] != 0 && e[0] != 0x80) {
            return;
        }
        for e in entries {
            let (kind, first, count) = (e[4], u64::from(le32(e, 8)), u64::from(le32(e, 12)));
            if kind == 0 || first == 0 {
                continue;
            }
            if matches!(kind, 0x05 | 0x0F | 0x85) {
                self.extended(first * s);
            } else {
                self.partition(first * s, count * s);
            }
        }
    }

    /// The chain of extended boot records of the extended partition at `base`: each names one
    /// logical partition (relative to itself) and the next record (relative to `base`).
    fn extended(&mut self, base: u64) {
        let s = self.sector;
        let mut at = base;
        for _ in 0..MAX_LOGICAL {
            let Some(b) = self.disk.read_at(at, SECTOR as usize) else {
                return;
            };
            if b[510..512] != [0x55, 0xAA] {
                return;
            }
            self.found(Kind::Ebr, at + 510, at..at + s);
            let (logical, next) = (&b[446..462], &b[462..478]);
            if logical[4] != 0 && le32(logical, 8) != 0 {
                self.partition(
                    at + u64::from(le32(logical, 8)) * s,
                    u64::from(le32(logical, 12)) * s,
                );
            }
            let step = u64::from(le32(next, 8)) * s;
            if next[4] == 0 || step == 0 || base + step <= at {
                return; // end of the chain, or a loop
            }
            at = base + step;
        }
    }

    /// Filesystem and volume signatures in the region of `len` bytes at `r`.
    fn filesystems(&mut self, r: u64, len: u64) {
        let end = r.saturating_add(len).min(self.size);
        let len = end.saturating_sub(r);
        let d = self.disk;
        let within = |off: u64, n: u64| r + off + n <= end;
        let mut at = |kind, off: u64, magic: &[u8], erase: Range<u64>| {
            if within(off, magic.len() as u64) && has(d, r + off, magic) {
                self.signatures.push(Signature {
                    kind,
                    offset: r + off,
                    // Clipped to the region: a neighbour's bytes are not this one's to erase.
                    erase: r + erase.start.min(len)..r + erase.end.min(len),
                });
            }
        };
        // ext2/3/4: the superblock is the 1024 bytes at 1024; its magic 0xEF53 at 56 in it.
        at(Kind::Ext, 1080, &[0x53, 0xEF], 1024..2048);
        at(Kind::Xfs, 0, b"XFSB", 0..512);
        at(Kind::Btrfs, 65_600, b"_BHRfS_M", 65_536..69_632);
        // Swap: the magic ends the first page, whatever the page size of the host that made it.
        for page in [4096u64, 8192, 16_384, 32_768, 65_536] {
            for magic in [&b"SWAPSPACE2"[..], b"SWAP-SPACE"] {
                at(Kind::Swap, page - 10, magic, page - 10..page);
            }
        }
        // LVM2: the label is in one of the first four sectors (the second by default).
        for s in 0..4u64 {
            at(Kind::Lvm2, s * 512, b"LABELONE", s * 512..s * 512 + 512);
        }
        at(Kind::Luks, 0, b"LUKS\xba\xbe", 0..512);
        at(Kind::Luks, 16_384, b"SKUL\xba\xbe", 16_384..16_896); // LUKS2 second header
                                                                 // MD RAID superblock 1.1 (start) and 1.2 (4 KiB in).
        let md = 0xa92b_4efcu32.to_le_bytes();
        at(Kind::MdRaid, 0, &md, 0..512);
        at(Kind::MdRaid, 4096, &md, 4096..4608);
        at(Kind::Ntfs, 3, b"NTFS    ", 0..512);
        if within(0, 512) && has(d, r + 510, &[0x55, 0xAA]) {
            at(Kind::Fat, 54, b"FAT", 0..512);
            at(Kind::Fat, 82, b"FAT32", 0..512);
        }
        at(Kind::Iso9660, 32_769, b"CD001", 32_768..34_816);
    }
}

/// Read the disk's tables and signatures. `size` is the disk's size in bytes.
pub fn scan(disk: &(impl ReadAt + ?Sized), size: u64) -> DiskLabels {
    let mut s = Scan {
        disk,
        size,
        sector: SECTOR,
        partitions: Vec::new(),
        signatures: Vec::new(),
    };
    s.gpt();
    s.mbr();
    s.partitions.sort_unstable();
    s.partitions.dedup();
    // A filesystem on the whole disk (no table), then one per partition.
    s.filesystems(0, size);
    for p in s.partitions.clone() {
        s.filesystems(p.start, p.len);
    }
    s.signatures.sort_by_key(|x| (x.offset, x.kind));
    s.signatures.dedup();
    DiskLabels {
        size,
        sector_size: s.sector,
        partitions: s.partitions,
        signatures: s.signatures,
    }
}

/// The byte ranges to zero: every signature's, and the boot sector (LBA 0) always (boot code
/// needs no signature to be run by some firmware). Clipped to the disk, sorted, merged.
pub fn erase_ranges(labels: &DiskLabels) -> Vec<Range<u64>> {
    let mut ranges: Vec<Range<u64>> = std::iter::once(0..labels.sector_size.max(SECTOR))
        .chain(labels.signatures.iter().map(|s| s.erase.clone()))
        .map(|r| r.start.min(labels.size)..r.end.min(labels.size))
        .filter(|r| !r.is_empty())
        .collect();
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}
