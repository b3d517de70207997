//! The disk label parser and erase plan against images built by the tests (independent writers in
//! steward-testpeers): every table and filesystem placed is found, erasing the planned ranges
//! leaves nothing the parser (or a boot loader) could find, and the data is left alone.

use proptest::prelude::*;
use steward_agent::disklabels::{erase_ranges, scan, Kind, Partition};
use steward_testpeers::disk_images::*;

const PAYLOAD: &[u8] = b"PAYLOAD-MUST-SURVIVE";

#[derive(Clone, Copy, Debug)]
enum Fs {
    None,
    Ext,
    Xfs,
    Swap,
    Lvm,
}

fn fs() -> impl Strategy<Value = Fs> {
    prop_oneof![
        Just(Fs::None),
        Just(Fs::Ext),
        Just(Fs::Xfs),
        Just(Fs::Swap),
        Just(Fs::Lvm)
    ]
}

fn place(img: &mut [u8], fs: Fs, at: u64) -> Option<Kind> {
    match fs {
        Fs::None => None,
        Fs::Ext => {
            put_ext_magic(img, at);
            Some(Kind::Ext)
        }
        Fs::Xfs => {
            put_xfs_magic(img, at);
            Some(Kind::Xfs)
        }
        Fs::Swap => {
            put_swap_magic(img, at);
            Some(Kind::Swap)
        }
        Fs::Lvm => {
            put_lvm_label(img, at);
            Some(Kind::Lvm2)
        }
    }
}

/// Zero the planned ranges; returns how many bytes that was.
fn wipe(img: &mut [u8]) -> u64 {
    let labels = scan(img, img.len() as u64);
    let mut erased = 0;
    for r in erase_ranges(&labels) {
        img[r.start as usize..r.end as usize].fill(0);
        erased += r.end - r.start;
    }
    erased
}

/// Partitions as (gap before, length) in sectors, laid out from LBA 2048.
fn layout(parts: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut lba = 2048;
    parts
        .iter()
        .map(|(gap, len)| {
            let first = lba + gap;
            lba = first + len;
            (first, first + len - 1)
        })
        .collect()
}

fn payload_at(first: u64, last: u64) -> usize {
    ((first + (last - first) / 2) * SECTOR) as usize
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_gpt_disk_is_found_whole_and_erased_whole(
        sectors in 8192u64..16384,
        parts in prop::collection::vec((0u64..64, 256u64..1024), 1..=4),
        kinds in prop::collection::vec(fs(), 4),
    ) {
        let lbas = layout(&parts);
        let mut img = gpt_image(sectors * SECTOR, &lbas);
        let mut expected = vec![Kind::ProtectiveMbr, Kind::GptPrimary, Kind::GptBackup];
        for (i, (first, last)) in lbas.iter().enumerate() {
            expected.extend(place(&mut img, kinds[i], first * SECTOR));
            let p = payload_at(*first, *last);
            img[p..p + PAYLOAD.len()].copy_from_slice(PAYLOAD);
        }
        let labels = scan(&img, img.len() as u64);
        let found: Vec<Partition> = lbas
            .iter()
            .map(|(f, l)| Partition { start: f * SECTOR, len: (l - f + 1) * SECTOR })
            .collect();
        prop_assert_eq!(&labels.partitions, &found);
        for k in &expected {
            prop_assert!(labels.signatures.iter().any(|s| s.kind == *k), "{:?} not found in {:?}", k, labels.signatures);
        }
        prop_assert_eq!(labels.signatures.iter().filter(|s| s.kind == Kind::GptEntries).count(), 2);

        let erased = wipe(&mut img);
        let after = scan(&img, img.len() as u64);
        prop_assert!(after.is_clean(), "left: {:?}", after.signatures);
        prop_assert!(after.partitions.is_empty());
        // Labels, not data: a few KiB per table and filesystem.
        prop_assert!(erased <= 64 * 1024, "{} bytes erased", erased);
        for (first, last) in &lbas {
            let p = payload_at(*first, *last);
            prop_assert_eq!(&img[p..p + PAYLOAD.len()], PAYLOAD);
        }
    }

    #[test]
    fn the_backup_gpt_alone_still_leads_to_the_partitions(
        parts in prop::collection::vec((0u64..64, 256u64..1024), 1..=4),
    ) {
        let lbas = layout(&parts);
        let mut img = gpt_image(12_288 * SECTOR, &lbas);
        // Primary header, its array and the protective MBR gone: what a half-done wipe leaves.
        img[..(34 * SECTOR) as usize].fill(0);
        for (first, _) in &lbas {
            put_ext_magic(&mut img, first * SECTOR);
        }
        let labels = scan(&img, img.len() as u64);
        prop_assert_eq!(labels.partitions.len(), lbas.len());
        prop_assert!(labels.signatures.iter().any(|s| s.kind == Kind::GptBackup));
        prop_assert_eq!(labels.signatures.iter().filter(|s| s.kind == Kind::Ext).count(), lbas.len());
        wipe(&mut img);
        prop_assert!(scan(&img, img.len() as u64).is_clean());
    }

    #[test]
    fn a_dos_disk_is_found_whole_and_erased_whole(
        parts in prop::collection::vec((0u32..64, 256u32..1024), 1..=4),
        kinds in prop::collection::vec(fs(), 4),
    ) {
        let mut lba = 2048u32;
        let mut entries = Vec::new();
        for (gap, len) in &parts {
            entries.push((0x83u8, lba + gap, *len));
            lba += gap + len;
        }
        let mut img = mbr_image(8192 * SECTOR, &entries);
        let mut expected = vec![Kind::Mbr];
        for (i, (_, first, _)) in entries.iter().enumerate() {
            expected.extend(place(&mut img, kinds[i], u64::from(*first) * SECTOR));
        }
        let labels = scan(&img, img.len() as u64);
        prop_assert_eq!(labels.partitions.len(), entries.len());
        for k in &expected {
            prop_assert!(labels.signatures.iter().any(|s| s.kind == *k), "{:?} not found", k);
        }
        wipe(&mut img);
        prop_assert!(scan(&img, img.len() as u64).is_clean());
        prop_assert!(img[..512].iter().all(|b| *b == 0), "boot sector not zeroed");
    }

    #[test]
    fn any_bytes_give_a_plan_inside_the_disk(bytes in prop::collection::vec(any::<u8>(), 0..20_000), gpt_at in 0usize..3) {
        let mut img = bytes;
        // Plant header magics so the pointer-following paths see garbage fields.
        for at in [512usize, 4096, img.len().saturating_sub(512)].into_iter().take(gpt_at) {
            if at + 8 <= img.len() {
                img[at..at + 8].copy_from_slice(b"EFI PART");
            }
        }
        if img.len() >= 512 {
            img[510] = 0x55;
            img[511] = 0xAA;
        }
        let labels = scan(&img, img.len() as u64);
        let ranges = erase_ranges(&labels);
        for w in ranges.windows(2) {
            prop_assert!(w[0].end < w[1].start, "overlapping or unsorted: {:?}", ranges);
        }
        for r in &ranges {
            prop_assert!(r.start < r.end && r.end <= img.len() as u64);
        }
    }
}

#[test]
fn an_extended_partition_chain_is_followed_and_cut() {
    // Primary 1 (Linux), then an extended partition holding two logical ones.
    let mut img = mbr_image(8192 * SECTOR, &[(0x83, 2048, 1024), (0x05, 4096, 3000)]);
    let ebr = |img: &mut Vec<u8>, at: u64, logical: (u32, u32), next: Option<(u32, u32)>| {
        let b = (at * SECTOR) as usize;
        img[b + 446 + 4] = 0x83;
        img[b + 446 + 8..b + 446 + 12].copy_from_slice(&logical.0.to_le_bytes());
        img[b + 446 + 12..b + 446 + 16].copy_from_slice(&logical.1.to_le_bytes());
        if let Some((off, len)) = next {
            img[b + 462 + 4] = 0x05;
            img[b + 462 + 8..b + 462 + 12].copy_from_slice(&off.to_le_bytes());
            img[b + 462 + 12..b + 462 + 16].copy_from_slice(&len.to_le_bytes());
        }
        img[b + 510] = 0x55;
        img[b + 511] = 0xAA;
    };
    ebr(&mut img, 4096, (64, 1000), Some((1200, 1500)));
    ebr(&mut img, 4096 + 1200, (64, 1000), None);
    put_xfs_magic(&mut img, (4096 + 64) * SECTOR);
    put_ext_magic(&mut img, (4096 + 1200 + 64) * SECTOR);
    let labels = scan(&img, img.len() as u64);
    let starts: Vec<u64> = labels.partitions.iter().map(|p| p.start / SECTOR).collect();
    assert_eq!(starts, vec![2048, 4096 + 64, 4096 + 1200 + 64]);
    let kinds: Vec<Kind> = labels.signatures.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec![Kind::Mbr, Kind::Ebr, Kind::Xfs, Kind::Ebr, Kind::Ext]
    );
    wipe(&mut img);
    assert!(scan(&img, img.len() as u64).is_clean());
}

#[test]
fn a_whole_disk_volume_without_a_table_is_erased() {
    let mut img = vec![0u8; 4096 * SECTOR as usize];
    put_lvm_label(&mut img, 0);
    put_swap_magic(&mut img, 0);
    let labels = scan(&img, img.len() as u64);
    assert!(labels.partitions.is_empty());
    let kinds: Vec<Kind> = labels.signatures.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, vec![Kind::Lvm2, Kind::Swap]);
    wipe(&mut img);
    assert!(scan(&img, img.len() as u64).is_clean());
}

#[test]
fn the_images_carry_valid_gpt_crcs() {
    // The writer's CRC, checked against the value every CRC-32 (IEEE) implementation gives.
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}

#[test]
fn a_gpt_on_4096_byte_sectors_is_found_and_erased() {
    const S: usize = 4096;
    let mut img = vec![0u8; 2048 * S]; // 8 MiB
    let last = (img.len() / S - 1) as u64;
    let header = |img: &mut Vec<u8>, at: usize, my: u64, alt: u64, entries: u64| {
        img[at..at + 8].copy_from_slice(b"EFI PART");
        img[at + 12..at + 16].copy_from_slice(&92u32.to_le_bytes());
        img[at + 24..at + 32].copy_from_slice(&my.to_le_bytes());
        img[at + 32..at + 40].copy_from_slice(&alt.to_le_bytes());
        img[at + 72..at + 80].copy_from_slice(&entries.to_le_bytes());
        img[at + 80..at + 84].copy_from_slice(&128u32.to_le_bytes());
        img[at + 84..at + 88].copy_from_slice(&128u32.to_le_bytes());
    };
    // Protective MBR, headers at LBA 1 and the last LBA, arrays at LBA 2 and last − 4.
    img[446 + 4] = 0xEE;
    img[510] = 0x55;
    img[511] = 0xAA;
    header(&mut img, S, 1, last, 2);
    header(&mut img, last as usize * S, last, 1, last - 4);
    for array in [2 * S, (last as usize - 4) * S] {
        img[array..array + 16].copy_from_slice(&[0xAB; 16]);
        img[array + 32..array + 40].copy_from_slice(&256u64.to_le_bytes()); // 1 MiB
        img[array + 40..array + 48].copy_from_slice(&511u64.to_le_bytes());
    }
    put_ext_magic(&mut img, 256 * S as u64);
    let labels = scan(&img, img.len() as u64);
    assert_eq!(labels.sector_size, 4096);
    assert_eq!(
        labels.partitions,
        vec![Partition {
            start: 1 << 20,
            len: 1 << 20
        }]
    );
    let kinds: Vec<Kind> = labels.signatures.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        vec![
            Kind::ProtectiveMbr,
            Kind::GptPrimary,
            Kind::GptEntries,
            Kind::Ext,
            Kind::GptEntries,
            Kind::GptBackup
        ]
    );
    wipe(&mut img);
    assert!(scan(&img, img.len() as u64).is_clean());
    // LBA 0 is a whole 4 KiB sector there.
    assert!(img[..S].iter().all(|b| *b == 0));
}
