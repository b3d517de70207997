//! Property tests: arbitrary, truncated and bit-flipped bytes into every
//! decoder must yield Ok or a typed error, never a panic.

use proptest::prelude::*;
use steward_bmc_ipmi::commands::{app, chassis, sensor, storage};
use steward_bmc_ipmi::crypto::{CipherSuite, SessionKeys};
use steward_bmc_ipmi::packet::{self, IpmiRequest, IpmiResponse, PayloadType};
use steward_bmc_ipmi::rakp::{OpenSessionResponse, Rakp2, Rakp4};
use steward_bmc_ipmi::{sdr, SelEntry};

fn keys(suite: CipherSuite) -> SessionKeys {
    SessionKeys::derive(suite, vec![7u8; 20])
}

fn all_decoders(b: &[u8]) {
    let k3 = keys(CipherSuite::Suite3);
    let k17 = keys(CipherSuite::Suite17);
    let _ = packet::decode_v15(b);
    let _ = packet::decode_v20(b, 0, None);
    let _ = packet::decode_v20(b, 1, Some(&k3));
    let _ = packet::decode_v20(b, 1, Some(&k17));
    let _ = k3.decrypt(b);
    let _ = IpmiResponse::decode(b);
    let _ = OpenSessionResponse::decode(b);
    for s in [CipherSuite::Suite3, CipherSuite::Suite17] {
        let _ = Rakp2::decode(b, s);
        let _ = Rakp4::decode(b, s);
    }
    let _ = app::ChannelAuthCaps::decode(b);
    let _ = app::DeviceId::decode(b);
    let _ = chassis::ChassisStatus::decode(b);
    let _ = chassis::BootFlags::decode(b);
    let _ = sensor::RawReading::decode(b);
    let _ = sensor::RawThresholds::decode(b);
    let _ = storage::RepositoryInfo::decode(b);
    let _ = storage::decode_record_chunk(b);
    let _ = storage::decode_reservation(b);
    let _ = storage::decode_clear_sel(b);
    let _ = SelEntry::decode(b);
    let _ = sdr::SdrHeader::decode(b);
    if let Ok(sdr::Sdr::Sensor(s)) = sdr::decode_sdr(b) {
        if let Some(c) = s.conversion {
            for raw in [0u8, 1, 0x7f, 0x80, 0xff] {
                let _ = c.convert(raw);
            }
        }
        let _ = s.unit_name();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        all_decoders(&b);
    }

    #[test]
    fn sdr_shaped_bytes_never_panic(
        t in prop_oneof![Just(1u8), Just(2u8), any::<u8>()],
        len in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut b = vec![0, 0, 0x51, t, len];
        b.extend(body);
        all_decoders(&b);
    }

    #[test]
    fn truncated_and_flipped_valid_packets_never_panic(
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        cut in any::<usize>(),
        flip in any::<(usize, u8)>(),
        suite17 in any::<bool>(),
    ) {
        let suite = if suite17 { CipherSuite::Suite17 } else { CipherSuite::Suite3 };
        let k = keys(suite);
        let pkt = packet::encode_v20(PayloadType::Ipmi, 1, 1, &payload, Some((&k, [3; 16])));
        // The untouched packet round-trips.
        let inb = packet::decode_v20(&pkt, 1, Some(&k)).expect("valid packet");
        prop_assert_eq!(&inb.payload, &payload);
        let cut = cut % (pkt.len() + 1);
        all_decoders(&pkt[..cut]);
        prop_assert!(cut == pkt.len() || packet::decode_v20(&pkt[..cut], 1, Some(&k)).is_err());
        let mut f = pkt.clone();
        let i = flip.0 % f.len();
        let x = if flip.1 == 0 { 1 } else { flip.1 };
        f[i] ^= x;
        // Any change in the covered region or AuthCode is detected.
        if i >= 4 {
            prop_assert!(packet::decode_v20(&f, 1, Some(&k)).is_err());
        }
        all_decoders(&f);
    }

    #[test]
    fn lan_request_response_round_trip(netfn in 0u8..0x3f, cmd: u8, seq in 0u8..64, data in proptest::collection::vec(any::<u8>(), 0..40)) {
        let m = IpmiRequest::new(netfn, cmd, data.clone()).encode(seq);
        // Turn the request into a response frame with the same layout rules.
        let mut r = vec![0x81, ((netfn | 1) << 2), 0, 0x20, seq << 2, cmd, 0x00];
        r[2] = packet::checksum(&r[0..2]);
        r.extend(&data);
        let c = packet::checksum(&r[3..]);
        r.push(c);
        let d = IpmiResponse::decode(&r).expect("decode");
        prop_assert_eq!(d.rq_seq, seq);
        prop_assert_eq!(d.data, data);
        prop_assert_eq!(packet::checksum(&m[0..3]), 0);
        prop_assert_eq!(packet::checksum(&m[3..]), 0);
    }
}
