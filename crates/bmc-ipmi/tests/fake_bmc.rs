//! Driver-level tests against an in-process fake BMC built from the crate's own
//! sans-IO pieces (the BMC side of RAKP uses the same formulas). It covers what
//! ipmi_sim cannot: cipher suite 17 end to end, reservation cancellation
//! (0xC5), lost datagrams, and hostile/wrong-session noise on the wire.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use steward_bmc_ipmi::crypto::{CipherSuite, SessionKeys};
use steward_bmc_ipmi::packet::{self, PayloadType};
use steward_bmc_ipmi::rakp::RakpContext;
use steward_bmc_ipmi::{IpmiClient, IpmiConfig, IpmiError};
use tokio::net::UdpSocket;

const CPU_SDR: [u8; 54] = [
    0x00, 0x00, 0x51, 0x01, 0x31, 0x20, 0x00, 0x01, 0x03, 0x01, 0x67, 0x88, 0x01, 0x01, 0xc0, 0x0f,
    0xc0, 0x7f, 0x38, 0x38, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x60,
    0xb0, 0x00, 0xb0, 0x00, 0xa0, 0x90, 0x70, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc6,
    b'C', b'P', b'U', b'T', b'm', b'p',
];

#[derive(Clone, Default)]
struct Behavior {
    support_17: bool,
    /// Drop this many in-session requests before answering.
    drop_first: usize,
    /// Send noise (wrong session, bad MAC, junk, stale reply) before each reply.
    noise: bool,
    /// Answer in-session requests only with noise (after the privilege command).
    only_noise: bool,
    /// Cancel the SDR reservation after this many Get SDR calls (0 = never).
    cancel_every: usize,
    /// Largest partial SDR read answered; larger ones get 0xCA.
    max_chunk: u8,
}

struct State {
    keys: Option<SessionKeys>,
    suite: CipherSuite,
    console_sid: u32,
    rm: [u8; 16],
    role: u8,
    user: Vec<u8>,
    out_seq: u32,
    resv: u16,
    sdr_reads: usize,
    requests: usize,
}

const BMC_SID: u32 = 0x0badcafe;
const RC: [u8; 16] = [0x5a; 16];
const GUID: [u8; 16] = [0x11; 16];

fn lan_reply(req: &[u8], cc: u8, data: &[u8]) -> Vec<u8> {
    let netfn = req[1] >> 2;
    let mut r = vec![
        0x81,
        ((netfn | 1) << 2) | (req[1] & 3),
        0,
        0x20,
        req[4],
        req[5],
        cc,
    ];
    r[2] = packet::checksum(&r[0..2]);
    r.extend_from_slice(data);
    let c = packet::checksum(&r[3..]);
    r.push(c);
    r
}

struct Fake {
    addr: SocketAddr,
    served: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(b: Behavior) -> Fake {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let addr = sock.local_addr().expect("addr");
    let served = Arc::new(AtomicUsize::new(0));
    let served2 = served.clone();
    let task = tokio::spawn(async move {
        let mut st = State {
            keys: None,
            suite: CipherSuite::Suite3,
            console_sid: 0,
            rm: [0; 16],
            role: 0,
            user: vec![],
            out_seq: 0,
            resv: 0,
            sdr_reads: 0,
            requests: 0,
        };
        let mut buf = [0u8; 2048];
        loop {
            let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let pkt = buf[..n].to_vec();
            for out in handle(&b, &mut st, &pkt) {
                let _ = sock.send_to(&out, peer).await;
            }
            served2.store(st.requests, Ordering::SeqCst);
        }
    });
    Fake { addr, served, task }
}

fn ctx<'a>(st: &'a State, password: &'a [u8]) -> RakpContext<'a> {
    RakpContext {
        suite: st.suite,
        console_sid: st.console_sid,
        bmc_sid: BMC_SID,
        console_rand: st.rm,
        role: st.role,
        username: &st.user,
        password,
    }
}

fn handle(b: &Behavior, st: &mut State, pkt: &[u8]) -> Vec<Vec<u8>> {
    if pkt.len() < 6 {
        return vec![];
    }
    if pkt[4] == 0x00 {
        // IPMI 1.5 Get Channel Auth Capabilities.
        let req = &pkt[14..];
        let reply = lan_reply(req, 0, &[0x01, 0x80 | 0x14, 0x00, 0x02, 0, 0, 0, 0]);
        return vec![packet::encode_v15_unauthenticated(&reply)];
    }
    let ptype = pkt[5] & 0x3f;
    let v2 = |pt: PayloadType, p: &[u8]| packet::encode_v20(pt, 0, 0, p, None);
    match ptype {
        0x10 => {
            let p = &pkt[16..];
            let tag = p[0];
            st.console_sid = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
            let auth = p[12];
            st.suite = if auth == 0x03 {
                CipherSuite::Suite17
            } else {
                CipherSuite::Suite3
            };
            if auth == 0x03 && !b.support_17 {
                return vec![v2(PayloadType::OpenSessionResponse, &[tag, 0x04, 0, 0])];
            }
            let mut r = vec![tag, 0, 4, 0];
            r.extend_from_slice(&st.console_sid.to_le_bytes());
            r.extend_from_slice(&BMC_SID.to_le_bytes());
            r.extend_from_slice(&p[8..32]);
            vec![v2(PayloadType::OpenSessionResponse, &r)]
        }
        0x12 => {
            let p = &pkt[16..];
            st.rm.copy_from_slice(&p[8..24]);
            st.role = p[24];
            let ulen = p[27] as usize;
            st.user = p[28..28 + ulen].to_vec();
            let code = ctx(st, b"password").rakp2_auth_code(&RC, &GUID);
            let mut r = vec![p[0], 0, 0, 0];
            r.extend_from_slice(&st.console_sid.to_le_bytes());
            r.extend_from_slice(&RC);
            r.extend_from_slice(&GUID);
            r.extend_from_slice(&code);
            vec![v2(PayloadType::Rakp2, &r)]
        }
        0x14 => {
            let p = &pkt[16..];
            let c = ctx(st, b"password");
            let expect = c.rakp3(p[0], &RC);
            if expect[8..] != p[8..] {
                return vec![v2(PayloadType::Rakp4, &[p[0], 0x0f, 0, 0, 0, 0, 0, 0])];
            }
            let keys = c.session_keys(&RC);
            let icv = c.rakp4_icv(&keys, &GUID);
            let mut r = vec![p[0], 0, 0, 0];
            r.extend_from_slice(&st.console_sid.to_le_bytes());
            r.extend_from_slice(&icv);
            st.keys = Some(keys);
            vec![v2(PayloadType::Rakp4, &r)]
        }
        0x00 => in_session(b, st, pkt),
        _ => vec![],
    }
}

fn in_session(b: &Behavior, st: &mut State, pkt: &[u8]) -> Vec<Vec<u8>> {
    let Some(keys) = st.keys.as_ref() else {
        return vec![];
    };
    let Ok(inb) = packet::decode_v20(pkt, BMC_SID, Some(keys)) else {
        return vec![];
    };
    let req = inb.payload;
    let (netfn, cmd) = (req[1] >> 2, req[5]);
    let data = &req[6..req.len() - 1];
    st.requests += 1;
    let is_priv = (netfn, cmd) == (0x06, 0x3b);
    if !is_priv && st.requests <= b.drop_first + 1 {
        return vec![];
    }
    let (cc, out): (u8, Vec<u8>) = match (netfn, cmd) {
        (0x06, 0x3b) => (0, vec![0x04]),
        (0x06, 0x3c) => (0, vec![]),
        (0x00, 0x01) => (0, vec![0x01, 0, 0]),
        (0x0a, 0x20) => (0, vec![0x51, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
        (0x0a, 0x22) => {
            st.resv = st.resv.wrapping_add(1).max(1);
            st.sdr_reads = 0;
            (0, st.resv.to_le_bytes().to_vec())
        }
        (0x0a, 0x23) => {
            let resv = u16::from_le_bytes([data[0], data[1]]);
            let (off, cnt) = (data[4] as usize, data[5] as usize);
            st.sdr_reads += 1;
            if b.cancel_every > 0 && st.sdr_reads > b.cancel_every {
                st.resv = st.resv.wrapping_add(1);
            }
            if off > 0 && resv != st.resv {
                (0xc5, vec![])
            } else if cnt > b.max_chunk as usize {
                (0xca, vec![])
            } else {
                let end = (off + cnt).min(CPU_SDR.len());
                let mut r = vec![0xff, 0xff];
                r.extend_from_slice(&CPU_SDR[off.min(end)..end]);
                (0, r)
            }
        }
        (0x04, 0x2d) => (0, vec![0x60, 0xc0, 0x00]),
        (0x04, 0x27) => (0, vec![0x38, 0, 0, 0, 0x70, 0x90, 0xa0]),
        _ => (0xc1, vec![]),
    };
    let reply = lan_reply(&req, cc, &out);
    st.out_seq += 1;
    let good = packet::encode_v20(
        PayloadType::Ipmi,
        st.console_sid,
        st.out_seq,
        &reply,
        Some((keys, [9; 16])),
    );
    let mut outs = Vec::new();
    if b.noise || (b.only_noise && !is_priv) {
        // Wrong session id.
        outs.push(packet::encode_v20(
            PayloadType::Ipmi,
            st.console_sid ^ 1,
            1,
            &reply,
            Some((keys, [1; 16])),
        ));
        // Bad AuthCode.
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 1] ^= 0xff;
        outs.push(bad);
        // Junk and a truncated copy.
        outs.push(vec![0x06, 0x00, 0xff, 0x07, 0x06, 0xc0, 1]);
        outs.push(good[..good.len() / 2].to_vec());
        // Well-formed reply to some other (stale) request sequence number.
        let mut stale_req = req.clone();
        stale_req[4] = stale_req[4].wrapping_add(4);
        let stale = lan_reply(&stale_req, 0, &out);
        outs.push(packet::encode_v20(
            PayloadType::Ipmi,
            st.console_sid,
            st.out_seq,
            &stale,
            Some((keys, [2; 16])),
        ));
        // Unauthenticated packet inside the session.
        outs.push(packet::encode_v20(
            PayloadType::Ipmi,
            st.console_sid,
            st.out_seq,
            &reply,
            None,
        ));
    }
    if !b.only_noise || is_priv {
        outs.push(good);
    }
    outs
}

fn cfg(addr: SocketAddr, suites: &[CipherSuite]) -> IpmiConfig {
    let mut c = IpmiConfig::new(addr, "admin", "password");
    c.cipher_suites = suites.to_vec();
    c.timeout = Duration::from_millis(300);
    c.retries = 3;
    c
}

#[tokio::test]
async fn suite17_preferred_and_used_end_to_end() {
    let f = start(Behavior {
        support_17: true,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite17, CipherSuite::Suite3]))
        .await
        .expect("connect");
    assert_eq!(c.cipher_suite(), CipherSuite::Suite17);
    assert!(c.chassis_status().await.expect("status").power_on);
    let s = c.sensors().await.expect("sensors");
    assert_eq!(s[0].value, Some(96.0));
    c.close().await.expect("close");
}

#[tokio::test]
async fn falls_back_to_suite3_when_17_rejected() {
    let f = start(Behavior {
        support_17: false,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite17, CipherSuite::Suite3]))
        .await
        .expect("connect");
    assert_eq!(c.cipher_suite(), CipherSuite::Suite3);
    c.chassis_status().await.expect("status");
}

#[tokio::test]
async fn wrong_password_suite17_is_auth_error() {
    let f = start(Behavior {
        support_17: true,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = cfg(f.addr, &[CipherSuite::Suite17]);
    c.credentials.password = "nope".into();
    let e = IpmiClient::connect(c).await.expect_err("must fail");
    assert!(e.is_auth_error(), "{e:?}");
}

#[tokio::test]
async fn noise_on_the_wire_is_skipped() {
    let f = start(Behavior {
        noise: true,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite3]))
        .await
        .expect("connect");
    for _ in 0..5 {
        assert!(c.chassis_status().await.expect("status").power_on);
    }
    assert_eq!(c.sensors().await.expect("sensors")[0].value, Some(96.0));
}

#[tokio::test]
async fn only_hostile_replies_give_typed_decode_error() {
    let f = start(Behavior {
        only_noise: true,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite3]))
        .await
        .expect("connect");
    match c.chassis_status().await {
        Err(IpmiError::Decode(_)) => {}
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn lost_requests_are_retried() {
    let f = start(Behavior {
        drop_first: 2,
        max_chunk: 32,
        ..Default::default()
    })
    .await;
    let mut c = IpmiClient::connect(cfg(f.addr, &[CipherSuite::Suite3]))
        .await
        .expect("connect");
    assert!(
        c.chassis_status()
            .await
            .expect("status after 2 losses")
            .power_on
    );
    assert!(f.served.load(Ordering::SeqCst) >= 4);
}

#[tokio::test]
async fn sdr_walk_rereserves_and_shrinks() {
    // Reservation cancelled after every 2 Get SDR calls; reads over 7 bytes refused.
    let f = start(Behavior {
        cancel_every: 2,
        max_chunk: 7,
        ..Default::default()
    })
    .await;
    let mut c = cfg(f.addr, &[CipherSuite::Suite3]);
    c.sdr_chunk_size = 24;
    let mut c = IpmiClient::connect(c).await.expect("connect");
    let s = c.sensors().await.expect("sensors");
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].name, "CPUTmp");
    assert_eq!(s[0].thresholds.unr, Some(160.0));
}
