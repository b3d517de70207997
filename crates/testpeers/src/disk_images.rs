//! Disk images for the wipe-disk tests, built byte by byte: a GPT (protective MBR, primary and
//! backup headers and entry arrays, with the CRCs libblkid checks) or a DOS MBR, and filesystem
//! magics placed in them. Written from the UEFI and DOS layouts, not by the code under test.

/// 512-byte sectors throughout.
pub const SECTOR: u64 = 512;
const ENTRIES: u64 = 128;
const ENTRY_SIZE: u64 = 128;
/// Sectors of one entry array (128 × 128 bytes).
const ARRAY_SECTORS: u64 = ENTRIES * ENTRY_SIZE / SECTOR;

/// The Linux filesystem partition type GUID, as stored (mixed endian).
const LINUX_FS: [u8; 16] = [
    0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4,
];

/// CRC-32 (IEEE, reflected), as the GPT uses.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn put(img: &mut [u8], at: u64, bytes: &[u8]) {
    let at = at as usize;
    img[at..at + bytes.len()].copy_from_slice(bytes);
}

fn header(my_lba: u64, alt_lba: u64, entries_lba: u64, last_lba: u64, array_crc: u32) -> [u8; 92] {
    let mut h = [0u8; 92];
    h[..8].copy_from_slice(b"EFI PART");
    h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
    h[12..16].copy_from_slice(&92u32.to_le_bytes());
    h[24..32].copy_from_slice(&my_lba.to_le_bytes());
    h[32..40].copy_from_slice(&alt_lba.to_le_bytes());
    h[40..48].copy_from_slice(&(2 + ARRAY_SECTORS).to_le_bytes());
    h[48..56].copy_from_slice(&(last_lba - 1 - ARRAY_SECTORS).to_le_bytes());
    h[56..72].copy_from_slice(&[0x5A; 16]);
    h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
    h[80..84].copy_from_slice(&(ENTRIES as u32).to_le_bytes());
    h[84..88].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
    h[88..92].copy_from_slice(&array_crc.to_le_bytes());
    let crc = crc32(&h);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
    h
}

/// A GPT disk of `size` bytes (a multiple of 512, at least 128 KiB) with one Linux partition per
/// `(first_lba, last_lba)` (at most 128, inside the usable area).
pub fn gpt_image(size: u64, parts: &[(u64, u64)]) -> Vec<u8> {
    let mut img = vec![0u8; size as usize];
    let last = size / SECTOR - 1;
    // Protective MBR: one entry of type 0xEE covering the disk.
    let mut e = [0u8; 16];
    e[4] = 0xEE;
    e[8..12].copy_from_slice(&1u32.to_le_bytes());
    e[12..16].copy_from_slice(&(last.min(u64::from(u32::MAX)) as u32).to_le_bytes());
    put(&mut img, 446, &e);
    put(&mut img, 510, &[0x55, 0xAA]);
    let mut array = vec![0u8; (ENTRIES * ENTRY_SIZE) as usize];
    for (i, (first, end)) in parts.iter().enumerate() {
        let e = &mut array[i * ENTRY_SIZE as usize..(i + 1) * ENTRY_SIZE as usize];
        e[..16].copy_from_slice(&LINUX_FS);
        e[16..32].copy_from_slice(&[i as u8 + 1; 16]);
        e[32..40].copy_from_slice(&first.to_le_bytes());
        e[40..48].copy_from_slice(&end.to_le_bytes());
        for (j, c) in format!("part{i}").encode_utf16().enumerate() {
            e[56 + 2 * j..58 + 2 * j].copy_from_slice(&c.to_le_bytes());
        }
    }
    let array_crc = crc32(&array);
    let backup_entries = last - ARRAY_SECTORS;
    put(&mut img, 2 * SECTOR, &array);
    put(&mut img, backup_entries * SECTOR, &array);
    put(&mut img, SECTOR, &header(1, last, 2, last, array_crc));
    put(
        &mut img,
        last * SECTOR,
        &header(last, 1, backup_entries, last, array_crc),
    );
    img
}

/// A DOS-labelled disk with up to four primary partitions `(type, first_lba, sectors)`.
pub fn mbr_image(size: u64, parts: &[(u8, u32, u32)]) -> Vec<u8> {
    let mut img = vec![0u8; size as usize];
    put(&mut img, 0, &[0xEB, 0x63, 0x90]); // boot code starts with a jump, as real ones do
    put(&mut img, 440, &0x1234_5678u32.to_le_bytes()); // disk signature
    for (i, (kind, first, count)) in parts.iter().take(4).enumerate() {
        let mut e = [0u8; 16];
        e[0] = if i == 0 { 0x80 } else { 0 };
        e[4] = *kind;
        e[8..12].copy_from_slice(&first.to_le_bytes());
        e[12..16].copy_from_slice(&count.to_le_bytes());
        put(&mut img, 446 + 16 * i as u64, &e);
    }
    put(&mut img, 510, &[0x55, 0xAA]);
    img
}

/// The magic of an ext2/3/4 superblock for a filesystem starting at `at` (plus a few plausible
/// fields; enough for steward's parser, not for libblkid: use `mkfs.ext4` for that).
pub fn put_ext_magic(img: &mut [u8], at: u64) {
    put(img, at + 1024, &64u32.to_le_bytes()); // inodes count
    put(img, at + 1024 + 24, &0u32.to_le_bytes()); // log block size: 1 KiB
    put(img, at + 1080, &[0x53, 0xEF]);
}

/// XFS superblock magic at `at`.
pub fn put_xfs_magic(img: &mut [u8], at: u64) {
    put(img, at, b"XFSB");
}

/// A swap signature at the end of the first 4 KiB page at `at`.
pub fn put_swap_magic(img: &mut [u8], at: u64) {
    put(img, at + 4096 - 10, b"SWAPSPACE2");
}

/// An LVM2 physical volume label in the second sector at `at`.
pub fn put_lvm_label(img: &mut [u8], at: u64) {
    put(img, at + 512, b"LABELONE");
    put(img, at + 512 + 24, b"LVM2 001");
}
