//! An in-process fake IPMI 2.0 lanplus BMC: a test and benchmark peer, not a BMC.
//!
//! It answers RMCP+ session setup for cipher suites 3 and 17 (RAKP-HMAC-SHA1/SHA256,
//! HMAC-SHA1-96/SHA256-128, AES-CBC-128), Get Channel Authentication Capabilities,
//! Get Device ID, chassis status/control, the SDR repository (info, reserve, partial
//! Get SDR) and sensor readings/thresholds, from the same sensor set as the `ipmi_sim`
//! lab ([`crate::lab::EMU`] is parsed). `ipmitool -I lanplus -C 17` accepts it for
//! `chassis power status|on|off`, `sdr list` and `sensor list` (see the crate's
//! `tests/fake_ipmitool.rs`), which is what makes the native suite-17 tests against it
//! meaningful: ipmi_sim only speaks suite 3.
//!
//! [`FakeConfig::answer_with`] makes it answer a proposal with other algorithms
//! than proposed (mixed, weaker, stronger or "none"), as some real BMCs do.
//!
//! Several sessions may be open at once (keyed by the BMC session id). Behaviour knobs
//! ([`FakeConfig`]) inject faults: dropped requests, wire noise (wrong session, bad MAC,
//! junk, truncated and stale packets), reservation cancellation and refused SDR chunk
//! sizes. [`serve`] runs one BMC on a bound socket, so many can share one runtime
//! (`steward bench bmc-farm`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::UdpSocket;

use crate::crypto::{AlgorithmIds, Algorithms, CipherSuite, SessionKeys};
use crate::packet::{self, PayloadType};
use crate::rakp::RakpContext;

/// One sensor: its SDR record bytes and what Get Sensor Reading / Thresholds answer.
#[derive(Clone, Debug)]
pub struct FakeSensor {
    /// The whole SDR record (header included; the record id is rewritten by position).
    pub sdr: Vec<u8>,
    pub number: u8,
    pub raw: u8,
    /// Discrete sensors: the asserted state bits.
    pub discrete_state: u16,
    /// Threshold sensors: readable mask (bit 0 lnc … bit 5 unr) and raw values
    /// `[lnc, lcr, lnr, unc, ucr, unr]`.
    pub threshold_mask: u8,
    pub thresholds: [u8; 6],
}

impl FakeSensor {
    fn is_threshold(&self) -> bool {
        self.sdr.get(3) == Some(&0x01) && self.sdr.get(13) == Some(&0x01)
    }

    /// Threshold comparison status bits (unsigned raw values, rising = higher).
    fn status_bits(&self) -> u8 {
        let m = self.threshold_mask;
        let t = &self.thresholds;
        let mut s = 0;
        for (bit, lower) in [
            (0, true),
            (1, true),
            (2, true),
            (3, false),
            (4, false),
            (5, false),
        ] {
            if m & (1 << bit) == 0 {
                continue;
            }
            let thr = t[bit];
            let crossed = if lower {
                self.raw <= thr
            } else {
                self.raw >= thr
            };
            if crossed {
                s |= 1 << bit;
            }
        }
        s
    }
}

/// Parse the sensors of an OpenIPMI `.emu` text: `main_sdr_add`, `sensor_set_value`,
/// `sensor_set_threshold` and `sensor_set_bit` for MC 0x20, LUN 0.
pub fn sensors_from_emu(emu: &str) -> Vec<FakeSensor> {
    fn num(t: &str) -> Option<u8> {
        if let Some(h) = t.strip_prefix("0x") {
            u8::from_str_radix(h, 16).ok()
        } else if let Some(c) = t.strip_prefix('\'') {
            c.bytes().next()
        } else {
            t.parse().ok()
        }
    }
    let mut out: Vec<FakeSensor> = Vec::new();
    for line in emu.lines() {
        let tok: Vec<&str> = line.split_whitespace().collect();
        match tok.first().copied() {
            Some("main_sdr_add") if tok.len() > 8 => {
                let sdr: Vec<u8> = tok[2..].iter().filter_map(|t| num(t)).collect();
                if sdr.len() > 8 {
                    out.push(FakeSensor {
                        number: sdr[7],
                        sdr,
                        raw: 0,
                        discrete_state: 0,
                        threshold_mask: 0,
                        thresholds: [0; 6],
                    });
                }
            }
            Some("sensor_set_value") if tok.len() >= 5 => {
                if let (Some(n), Some(v)) = (num(tok[3]), num(tok[4])) {
                    if let Some(s) = out.iter_mut().find(|s| s.number == n) {
                        s.raw = v;
                    }
                }
            }
            Some("sensor_set_bit") if tok.len() >= 6 => {
                if let (Some(n), Some(b), Some(v)) = (num(tok[3]), num(tok[4]), num(tok[5])) {
                    if let Some(s) = out.iter_mut().find(|s| s.number == n) {
                        if b < 15 && v != 0 {
                            s.discrete_state |= 1 << b;
                        }
                    }
                }
            }
            // `sensor_set_threshold MC LUN N settable BITS unr ucr unc lnr lcr lnc`.
            Some("sensor_set_threshold") if tok.len() >= 12 => {
                let Some(n) = num(tok[3]) else { continue };
                let Some(s) = out.iter_mut().find(|s| s.number == n) else {
                    continue;
                };
                for (i, c) in tok[5].chars().take(6).enumerate() {
                    let bit = 5 - i;
                    if c == '1' {
                        s.threshold_mask |= 1 << bit;
                    }
                    s.thresholds[bit] = num(tok[6 + i]).unwrap_or(0);
                }
            }
            _ => {}
        }
    }
    out
}

/// Behaviour of a fake BMC.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    pub username: String,
    pub password: String,
    /// Accept cipher suite 17 (RAKP-HMAC-SHA256); suite 3 is always accepted.
    pub support_17: bool,
    /// Answer a proposal of this suite with these algorithms instead of the proposed
    /// ones, as some BMCs do. Algorithms the fake cannot run (e.g. "none") are
    /// answered, but the handshake then goes no further than RAKP 1.
    pub answer_with: Vec<(CipherSuite, AlgorithmIds)>,
    /// Drop this many in-session requests (not counting Set Session Privilege) first.
    pub drop_first: usize,
    /// Send noise (wrong session, bad MAC, junk, truncated, stale, unauthenticated) before each reply.
    pub noise: bool,
    /// Answer in-session requests only with noise (after the privilege command).
    pub only_noise: bool,
    /// Cancel the SDR reservation after this many Get SDR calls (0 = never).
    pub cancel_every: usize,
    /// Largest partial SDR read answered; larger ones get 0xCA.
    pub max_chunk: u8,
    pub sensors: Vec<FakeSensor>,
    /// Processing time per in-session reply (a real BMC takes milliseconds per command);
    /// requests to one fake are handled one at a time, like a BMC's single LAN channel.
    pub reply_delay: std::time::Duration,
}

impl FakeConfig {
    /// The ipmi_sim lab sensors ([`crate::lab::EMU`]), user `admin` / `password`,
    /// suites 17 and 3, partial SDR reads up to 32 bytes (like ipmi_sim).
    pub fn lab() -> Self {
        FakeConfig {
            username: "admin".into(),
            password: "password".into(),
            support_17: true,
            answer_with: Vec::new(),
            drop_first: 0,
            noise: false,
            only_noise: false,
            cancel_every: 0,
            max_chunk: 32,
            sensors: sensors_from_emu(crate::lab::EMU),
            reply_delay: std::time::Duration::ZERO,
        }
    }
}

/// Counters and chassis state of one running fake, shared with its owner.
#[derive(Debug)]
pub struct FakeState {
    /// In-session requests received (including dropped ones).
    pub requests: AtomicUsize,
    /// Sessions established (RAKP 4 sent with success).
    pub sessions: AtomicUsize,
    pub power_on: AtomicBool,
    /// Chassis control commands received.
    pub chassis_controls: AtomicUsize,
}

impl Default for FakeState {
    fn default() -> Self {
        FakeState {
            requests: AtomicUsize::new(0),
            sessions: AtomicUsize::new(0),
            power_on: AtomicBool::new(true),
            chassis_controls: AtomicUsize::new(0),
        }
    }
}

/// A fake BMC serving on its own task; stopped on drop.
pub struct FakeBmc {
    pub addr: SocketAddr,
    pub state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeBmc {
    /// Bind 127.0.0.1 on a free UDP port and serve on a new task.
    pub async fn start(cfg: FakeConfig) -> std::io::Result<FakeBmc> {
        let sock = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = sock.local_addr()?;
        let state = Arc::new(FakeState::default());
        let task = tokio::spawn(serve(sock, Arc::new(cfg), state.clone()));
        Ok(FakeBmc { addr, state, task })
    }

    /// In-session requests received so far.
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }
}

impl Drop for FakeBmc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const FIRST_BMC_SID: u32 = 0x0bad_ca00;
const GUID: [u8; 16] = [0x11; 16];
/// Upper bound on concurrently open sessions; the oldest is dropped beyond it.
const MAX_SESSIONS: usize = 16;

struct Session {
    algs: Algorithms,
    console_sid: u32,
    rm: [u8; 16],
    rc: [u8; 16],
    role: u8,
    user: Vec<u8>,
    keys: Option<SessionKeys>,
    out_seq: u32,
    /// In-session requests seen on this session.
    requests: usize,
}

struct Bmc {
    cfg: Arc<FakeConfig>,
    state: Arc<FakeState>,
    sessions: HashMap<u32, Session>,
    next_sid: u32,
    resv: u16,
    sdr_reads: usize,
    iv: u64,
}

/// Serve one fake BMC on `sock` until the task is dropped or the socket fails.
pub async fn serve(sock: UdpSocket, cfg: Arc<FakeConfig>, state: Arc<FakeState>) {
    let mut bmc = Bmc {
        cfg,
        state,
        sessions: HashMap::new(),
        next_sid: FIRST_BMC_SID,
        resv: 0,
        sdr_reads: 0,
        iv: 0,
    };
    let mut buf = [0u8; 2048];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            return;
        };
        let outs = bmc.handle(&buf[..n]);
        if !bmc.cfg.reply_delay.is_zero()
            && !outs.is_empty()
            && buf[4] == 0x06
            && buf[5] & 0x3f == 0
        {
            tokio::time::sleep(bmc.cfg.reply_delay).await;
        }
        for out in outs {
            let _ = sock.send_to(&out, peer).await;
        }
    }
}

fn lan_reply(req: &[u8], cc: u8, data: &[u8]) -> Vec<u8> {
    let netfn = req[1] >> 2;
    let mut r = vec![
        req[3],
        ((netfn | 1) << 2) | (req[4] & 3),
        0,
        req[0],
        (req[4] & 0xfc) | (req[1] & 3),
        req[5],
        cc,
    ];
    r[2] = packet::checksum(&r[0..2]);
    r.extend_from_slice(data);
    let c = packet::checksum(&r[3..]);
    r.push(c);
    r
}

fn v2(pt: PayloadType, p: &[u8]) -> Vec<u8> {
    packet::encode_v20(pt, 0, 0, p, None)
}

impl Bmc {
    fn ctx<'a>(&'a self, bmc_sid: u32, s: &'a Session) -> RakpContext<'a> {
        RakpContext {
            algs: s.algs,
            console_sid: s.console_sid,
            bmc_sid,
            console_rand: s.rm,
            role: s.role,
            username: &s.user,
            password: self.cfg.password.as_bytes(),
        }
    }

    fn handle(&mut self, pkt: &[u8]) -> Vec<Vec<u8>> {
        if pkt.len() < 6 || pkt[0] != 0x06 {
            return vec![];
        }
        if pkt[4] == 0x00 {
            return self.v15(pkt);
        }
        if pkt[4] != 0x06 || pkt.len() < 16 {
            return vec![];
        }
        let p = &pkt[16..];
        match pkt[5] & 0x3f {
            0x10 => self.open_session(p),
            0x12 => self.rakp1(p),
            0x14 => self.rakp3(p),
            0x00 => self.in_session(pkt),
            _ => vec![],
        }
    }

    /// IPMI 1.5 outside a session: only Get Channel Authentication Capabilities.
    fn v15(&mut self, pkt: &[u8]) -> Vec<Vec<u8>> {
        let Some(req) = pkt.get(14..) else {
            return vec![];
        };
        if req.len() < 7 || (req[1] >> 2, req[5]) != (0x06, 0x38) {
            return vec![];
        }
        // Channel 1; IPMI 2.0 extended data; MD5 + straight password; v2.0 connections.
        let reply = lan_reply(req, 0, &[0x01, 0x80 | 0x14, 0x00, 0x02, 0, 0, 0, 0]);
        vec![packet::encode_v15_unauthenticated(&reply)]
    }

    fn open_session(&mut self, p: &[u8]) -> Vec<Vec<u8>> {
        if p.len() < 32 {
            return vec![];
        }
        let tag = p[0];
        let console_sid = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
        let (auth, integ, conf) = (p[12], p[20], p[28]);
        let suite = match (auth, integ, conf) {
            (0x01, 0x01, 0x01) => CipherSuite::Suite3,
            (0x03, 0x04, 0x01) if self.cfg.support_17 => CipherSuite::Suite17,
            (0x03, _, _) => {
                return vec![v2(PayloadType::OpenSessionResponse, &[tag, 0x04, 0, 0])];
            }
            (0x01, _, _) => {
                return vec![v2(PayloadType::OpenSessionResponse, &[tag, 0x05, 0, 0])];
            }
            _ => return vec![v2(PayloadType::OpenSessionResponse, &[tag, 0x04, 0, 0])],
        };
        let answer = self
            .cfg
            .answer_with
            .iter()
            .find(|(proposed, _)| *proposed == suite)
            .map(|(_, ids)| *ids)
            .unwrap_or_else(|| suite.algorithms().ids());
        let bmc_sid = self.next_sid;
        self.next_sid = self.next_sid.wrapping_add(1).max(1);
        if self.sessions.len() >= MAX_SESSIONS {
            if let Some(oldest) = self.sessions.keys().min().copied() {
                self.sessions.remove(&oldest);
            }
        }
        self.iv = self.iv.wrapping_add(1);
        let mut rc = [0x5a; 16];
        rc[..8].copy_from_slice(&(u64::from(bmc_sid) ^ self.iv).to_le_bytes());
        let mut r = vec![tag, 0, 4, 0];
        r.extend_from_slice(&console_sid.to_le_bytes());
        r.extend_from_slice(&bmc_sid.to_le_bytes());
        for (kind, alg) in [
            (0x00, answer.auth),
            (0x01, answer.integrity),
            (0x02, answer.confidentiality),
        ] {
            r.extend_from_slice(&[kind, 0, 0, 0x08, alg, 0, 0, 0]);
        }
        let Some(algs) = Algorithms::from_ids(answer) else {
            // Answered, but no session we could run: RAKP 1 finds no session.
            return vec![v2(PayloadType::OpenSessionResponse, &r)];
        };
        self.sessions.insert(
            bmc_sid,
            Session {
                algs,
                console_sid,
                rm: [0; 16],
                rc,
                role: 0,
                user: vec![],
                keys: None,
                out_seq: 0,
                requests: 0,
            },
        );
        vec![v2(PayloadType::OpenSessionResponse, &r)]
    }

    fn rakp1(&mut self, p: &[u8]) -> Vec<Vec<u8>> {
        if p.len() < 28 {
            return vec![];
        }
        let bmc_sid = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
        let ulen = p[27] as usize;
        let Some(user) = p.get(28..28 + ulen) else {
            return vec![];
        };
        let user_ok = user == self.cfg.username.as_bytes();
        let Some(s) = self.sessions.get_mut(&bmc_sid) else {
            return vec![v2(PayloadType::Rakp2, &[p[0], 0x02, 0, 0, 0, 0, 0, 0])];
        };
        s.rm.copy_from_slice(&p[8..24]);
        s.role = p[24];
        s.user = user.to_vec();
        let console_sid = s.console_sid;
        if !user_ok {
            let mut r = vec![p[0], 0x0d, 0, 0];
            r.extend_from_slice(&console_sid.to_le_bytes());
            return vec![v2(PayloadType::Rakp2, &r)];
        }
        let s = &self.sessions[&bmc_sid];
        let code = self.ctx(bmc_sid, s).rakp2_auth_code(&s.rc, &GUID);
        let mut r = vec![p[0], 0, 0, 0];
        r.extend_from_slice(&console_sid.to_le_bytes());
        r.extend_from_slice(&s.rc);
        r.extend_from_slice(&GUID);
        r.extend_from_slice(&code);
        vec![v2(PayloadType::Rakp2, &r)]
    }

    fn rakp3(&mut self, p: &[u8]) -> Vec<Vec<u8>> {
        if p.len() < 8 {
            return vec![];
        }
        let bmc_sid = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
        let Some(s) = self.sessions.get(&bmc_sid) else {
            return vec![v2(PayloadType::Rakp4, &[p[0], 0x02, 0, 0, 0, 0, 0, 0])];
        };
        let console_sid = s.console_sid;
        let c = self.ctx(bmc_sid, s);
        let expect = c.rakp3(p[0], &s.rc);
        if p.get(1) != Some(&0) || expect[8..] != p[8..] {
            let mut r = vec![p[0], 0x0f, 0, 0];
            r.extend_from_slice(&console_sid.to_le_bytes());
            self.sessions.remove(&bmc_sid);
            return vec![v2(PayloadType::Rakp4, &r)];
        }
        let keys = c.session_keys(&s.rc);
        let icv = c.rakp4_icv(&keys, &GUID);
        let mut r = vec![p[0], 0, 0, 0];
        r.extend_from_slice(&console_sid.to_le_bytes());
        r.extend_from_slice(&icv);
        if let Some(s) = self.sessions.get_mut(&bmc_sid) {
            s.keys = Some(keys);
        }
        self.state.sessions.fetch_add(1, Ordering::SeqCst);
        vec![v2(PayloadType::Rakp4, &r)]
    }

    fn next_iv(&mut self) -> [u8; 16] {
        self.iv = self.iv.wrapping_add(1);
        let mut iv = [0xa5; 16];
        iv[..8].copy_from_slice(&self.iv.to_le_bytes());
        iv
    }

    fn in_session(&mut self, pkt: &[u8]) -> Vec<Vec<u8>> {
        if pkt.len() < 10 {
            return vec![];
        }
        let bmc_sid = u32::from_le_bytes([pkt[6], pkt[7], pkt[8], pkt[9]]);
        // Taken out while the request is handled (keys are deliberately not Clone).
        let Some(mut s) = self.sessions.remove(&bmc_sid) else {
            return vec![];
        };
        let outs = self.in_session_with(&mut s, bmc_sid, pkt);
        if let Some((outs, closed)) = outs {
            if !closed {
                self.sessions.insert(bmc_sid, s);
            }
            outs
        } else {
            self.sessions.insert(bmc_sid, s);
            vec![]
        }
    }

    /// `None`: not a valid packet of this session. `Some((replies, session_closed))`.
    fn in_session_with(
        &mut self,
        s: &mut Session,
        bmc_sid: u32,
        pkt: &[u8],
    ) -> Option<(Vec<Vec<u8>>, bool)> {
        let keys = s.keys.as_ref()?;
        let inb = packet::decode_v20(pkt, bmc_sid, Some(keys)).ok()?;
        let req = inb.payload;
        if req.len() < 7 {
            return None;
        }
        let (netfn, cmd) = (req[1] >> 2, req[5]);
        let data = &req[6..req.len() - 1];
        self.state.requests.fetch_add(1, Ordering::SeqCst);
        s.requests += 1;
        let is_priv = (netfn, cmd) == (0x06, 0x3b);
        if !is_priv && self.cfg.drop_first > 0 && s.requests <= self.cfg.drop_first + 1 {
            return Some((vec![], false));
        }
        let (cc, out) = self.command(netfn, cmd, data);
        let reply = lan_reply(&req, cc, &out);
        let iv = self.next_iv();
        s.out_seq += 1;
        let good = packet::encode_v20(
            PayloadType::Ipmi,
            s.console_sid,
            s.out_seq,
            &reply,
            Some((keys, iv)),
        );
        let mut outs = Vec::new();
        if self.cfg.noise || (self.cfg.only_noise && !is_priv) {
            outs.extend(noise(
                keys,
                s.console_sid,
                s.out_seq,
                &req,
                &reply,
                &good,
                &out,
            ));
        }
        if !self.cfg.only_noise || is_priv {
            outs.push(good);
        }
        Some((outs, (netfn, cmd) == (0x06, 0x3c)))
    }

    fn sensor(&self, n: u8) -> Option<&FakeSensor> {
        self.cfg.sensors.iter().find(|s| s.number == n)
    }

    fn command(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> (u8, Vec<u8>) {
        let count = self.cfg.sensors.len() as u16;
        match (netfn, cmd) {
            // Get Device ID: as ipmi_sim's `mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02`.
            (0x06, 0x01) => (
                0,
                vec![
                    0x23, 0x09, 0x08, 0x00, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f,
                ],
            ),
            // Set Session Privilege Level: grant what is asked (0 = "current": admin).
            (0x06, 0x3b) => (
                0,
                vec![data.first().copied().filter(|&p| p != 0).unwrap_or(4)],
            ),
            (0x06, 0x3c) => (0, vec![]),
            (0x00, 0x01) => {
                let on = self.state.power_on.load(Ordering::SeqCst);
                (0, vec![u8::from(on), 0, 0])
            }
            (0x00, 0x02) => {
                let Some(&op) = data.first() else {
                    return (0xc7, vec![]);
                };
                let on = match op & 0x0f {
                    0 | 5 => false,
                    1..=3 => true,
                    _ => return (0xcc, vec![]),
                };
                self.state.chassis_controls.fetch_add(1, Ordering::SeqCst);
                self.state.power_on.store(on, Ordering::SeqCst);
                (0, vec![])
            }
            // Get SDR Repository Info.
            (0x0a, 0x20) => {
                let mut r = vec![0x51];
                r.extend_from_slice(&count.to_le_bytes());
                r.extend_from_slice(&[0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0x02]);
                (0, r)
            }
            // Reserve SDR Repository.
            (0x0a, 0x22) => {
                self.resv = self.resv.wrapping_add(1).max(1);
                self.sdr_reads = 0;
                (0, self.resv.to_le_bytes().to_vec())
            }
            // Get SDR.
            (0x0a, 0x23) => {
                if data.len() < 6 {
                    return (0xc7, vec![]);
                }
                let resv = u16::from_le_bytes([data[0], data[1]]);
                let id = u16::from_le_bytes([data[2], data[3]]);
                let (off, cnt) = (data[4] as usize, data[5] as usize);
                self.sdr_reads += 1;
                if self.cfg.cancel_every > 0 && self.sdr_reads > self.cfg.cancel_every {
                    self.resv = self.resv.wrapping_add(1);
                    self.sdr_reads = 0;
                }
                let idx = usize::from(id);
                let Some(s) = self.cfg.sensors.get(idx) else {
                    return (0xcb, vec![]);
                };
                if off > 0 && resv != self.resv {
                    return (0xc5, vec![]);
                }
                if cnt > self.cfg.max_chunk as usize && !(off == 0 && cnt <= 5) {
                    return (0xca, vec![]);
                }
                let mut rec = s.sdr.clone();
                rec[0..2].copy_from_slice(&(idx as u16).to_le_bytes());
                let next = if idx + 1 < self.cfg.sensors.len() {
                    (idx + 1) as u16
                } else {
                    0xffff
                };
                let end = (off + cnt).min(rec.len());
                let mut r = next.to_le_bytes().to_vec();
                r.extend_from_slice(&rec[off.min(end)..end]);
                (0, r)
            }
            // Get Sensor Reading.
            (0x04, 0x2d) => {
                let Some(s) = data.first().and_then(|&n| self.sensor(n)) else {
                    return (0xcb, vec![]);
                };
                if s.is_threshold() {
                    (0, vec![s.raw, 0xc0, 0xc0 | s.status_bits()])
                } else {
                    let st = s.discrete_state.to_le_bytes();
                    (0, vec![s.raw, 0xc0, st[0], st[1] | 0x80])
                }
            }
            // Get Sensor Thresholds.
            (0x04, 0x27) => {
                let Some(s) = data.first().and_then(|&n| self.sensor(n)) else {
                    return (0xcb, vec![]);
                };
                if !s.is_threshold() {
                    return (0xcd, vec![]);
                }
                let mut r = vec![s.threshold_mask];
                for (i, v) in s.thresholds.iter().enumerate() {
                    r.push(if s.threshold_mask & (1 << i) != 0 {
                        *v
                    } else {
                        0
                    });
                }
                (0, r)
            }
            _ => (0xc1, vec![]),
        }
    }
}

/// Hostile packets sent before (or instead of) a good reply.
fn noise(
    keys: &SessionKeys,
    console_sid: u32,
    out_seq: u32,
    req: &[u8],
    reply: &[u8],
    good: &[u8],
    out: &[u8],
) -> Vec<Vec<u8>> {
    let mut outs = Vec::new();
    // Wrong session id.
    outs.push(packet::encode_v20(
        PayloadType::Ipmi,
        console_sid ^ 1,
        1,
        reply,
        Some((keys, [1; 16])),
    ));
    // Bad AuthCode.
    let mut bad = good.to_vec();
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    outs.push(bad);
    // Junk, a truncated copy and an oversized datagram.
    outs.push(vec![0x06, 0x00, 0xff, 0x07, 0x06, 0xc0, 1]);
    outs.push(good[..good.len() / 2].to_vec());
    let mut big = good.to_vec();
    big.resize(1400, 0xee);
    outs.push(big);
    // Well-formed reply to some other (stale) request sequence number.
    let mut stale_req = req.to_vec();
    stale_req[4] = stale_req[4].wrapping_add(4);
    let stale = lan_reply(&stale_req, 0, out);
    outs.push(packet::encode_v20(
        PayloadType::Ipmi,
        console_sid,
        out_seq,
        &stale,
        Some((keys, [2; 16])),
    ));
    // Unauthenticated packet inside the session.
    outs.push(packet::encode_v20(
        PayloadType::Ipmi,
        console_sid,
        out_seq,
        reply,
        None,
    ));
    outs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_emu_parses_into_four_sensors() {
        let s = sensors_from_emu(crate::lab::EMU);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].number, 1);
        assert_eq!(s[0].raw, 0x60);
        assert_eq!(s[0].threshold_mask, 0x38);
        assert_eq!(s[0].thresholds, [0, 0, 0, 0x70, 0x90, 0xa0]);
        assert_eq!(s[1].threshold_mask, 0x03);
        assert_eq!(s[2].threshold_mask, 0x3f);
        assert_eq!(s[2].thresholds, [0xb4, 0xaa, 0xa0, 0xd2, 0xdc, 0xe6]);
        assert!(!s[3].is_threshold());
        assert_eq!(s[3].discrete_state, 1);
        assert!(s[0].is_threshold());
        assert_eq!(s[0].status_bits(), 0);
    }
}
