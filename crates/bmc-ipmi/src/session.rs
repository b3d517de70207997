//! UDP session driver: the only module that does I/O. Runs the RMCP+ handshake
//! (auth capabilities, Open Session, RAKP 1-4), then sends requests with
//! per-attempt timeouts and retries, matching replies by netfn/cmd/rqSeq and
//! skipping stale or hostile datagrams.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::commands::app;
use crate::crypto::{Algorithms, CipherSuite, SessionKeys};
use crate::error::{CompletionCode, DecodeError, IpmiError, Result};
use crate::negotiate::{self, Refusal, Verdict};
use crate::packet::{self, Inbound, IpmiRequest, IpmiResponse, PayloadType};
use crate::rakp::{self, OpenSessionResponse, Rakp2, Rakp4, RakpContext};

/// Username/password. Never printed: Debug shows only the username length.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials { <redacted> }")
    }
}

/// Connection settings. Debug output redacts the credentials.
#[derive(Clone)]
pub struct IpmiConfig {
    pub addr: SocketAddr,
    pub credentials: Credentials,
    /// Cipher suites in preference order; the first one the BMC accepts wins.
    pub cipher_suites: Vec<CipherSuite>,
    /// Per-attempt reply timeout.
    pub timeout: Duration,
    /// Extra attempts after the first one.
    pub retries: u32,
    /// Partial Get SDR read size (bytes per request); shrunk on 0xCA/0xFF.
    pub sdr_chunk_size: u8,
}

impl IpmiConfig {
    /// Defaults: prefer suite 17, fall back to 3; 2 s timeout, 2 retries
    /// (docs/bmc.md#ipmi-practicalities); 16-byte SDR chunks.
    pub fn new(addr: SocketAddr, username: impl Into<String>, password: impl Into<String>) -> Self {
        IpmiConfig {
            addr,
            credentials: Credentials {
                username: username.into(),
                password: password.into(),
            },
            cipher_suites: vec![CipherSuite::Suite17, CipherSuite::Suite3],
            timeout: Duration::from_secs(2),
            retries: 2,
            sdr_chunk_size: 16,
        }
    }
}

impl fmt::Debug for IpmiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpmiConfig")
            .field("addr", &self.addr)
            .field("credentials", &self.credentials)
            .field("cipher_suites", &self.cipher_suites)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("sdr_chunk_size", &self.sdr_chunk_size)
            .finish()
    }
}

struct Active {
    keys: SessionKeys,
    console_sid: u32,
    bmc_sid: u32,
    seq: u32,
}

/// An established RMCP+ session over a connected UDP socket.
pub struct Session {
    sock: UdpSocket,
    timeout: Duration,
    retries: u32,
    rq_seq: u8,
    tag: u8,
    active: Option<Active>,
    suite: CipherSuite,
    algs: Algorithms,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("suite", &self.suite)
            .field("algs", &self.algs)
            .field("active", &self.active.is_some())
            .finish_non_exhaustive()
    }
}

/// Why one suite's handshake did not give a session.
enum HandshakeError {
    /// The BMC answered with algorithms we will not use: try the next suite.
    Refused(Refusal),
    Failed(IpmiError),
}

impl<E: Into<IpmiError>> From<E> for HandshakeError {
    fn from(e: E) -> Self {
        HandshakeError::Failed(e.into())
    }
}

/// Outcome of feeding one datagram to an exchange's acceptor.
enum Accept<T> {
    Done(T),
    /// Not ours (stale retry, other request): keep waiting.
    Skip,
}

impl Session {
    /// Open a session: bind, probe capabilities, negotiate a suite, RAKP, and
    /// raise the session to ADMINISTRATOR.
    pub async fn open(cfg: &IpmiConfig) -> Result<Session> {
        let user = cfg.credentials.username.as_bytes();
        let pass = cfg.credentials.password.as_bytes();
        if user.len() > 16 {
            return Err(IpmiError::InvalidArgument("username longer than 16 bytes"));
        }
        if pass.len() > 20 {
            return Err(IpmiError::InvalidArgument("password longer than 20 bytes"));
        }
        if cfg.cipher_suites.is_empty() {
            return Err(IpmiError::InvalidArgument("no cipher suite configured"));
        }
        let bind: SocketAddr = if cfg.addr.is_ipv4() {
            "0.0.0.0:0"
                .parse()
                .map_err(|_| IpmiError::InvalidArgument("bind"))?
        } else {
            "[::]:0"
                .parse()
                .map_err(|_| IpmiError::InvalidArgument("bind"))?
        };
        let sock = UdpSocket::bind(bind).await?;
        sock.connect(cfg.addr).await?;
        let mut s = Session {
            sock,
            timeout: cfg.timeout,
            retries: cfg.retries,
            rq_seq: rand::random::<u8>() & 0x3F,
            tag: 0,
            active: None,
            suite: cfg.cipher_suites[0],
            algs: cfg.cipher_suites[0].algorithms(),
        };
        s.check_auth_caps().await?;
        let mut tried = Vec::new();
        let mut refusals = Vec::new();
        let mut rejected = Vec::new();
        for &suite in &cfg.cipher_suites {
            tried.push(suite.id());
            match s.handshake(suite, &cfg.cipher_suites, user, pass).await {
                Ok((active, algs)) => {
                    debug!(addr = %cfg.addr, suite = suite.id(), "RMCP+ session established");
                    s.suite = suite;
                    s.algs = algs;
                    s.active = Some(active);
                    s.request(&app::set_session_privilege(rakp::PRIV_ADMIN))
                        .await?;
                    return Ok(s);
                }
                Err(HandshakeError::Refused(r)) => {
                    // The BMC opened a session slot for this answer; it frees it at its
                    // inactivity timeout, as it does for an abandoned ipmitool handshake.
                    warn!(addr = %cfg.addr, refusal = %r, "refusing the BMC's algorithms, trying next suite");
                    refusals.push(r);
                }
                Err(HandshakeError::Failed(IpmiError::SessionRejected(st)))
                    if st.is_cipher_rejection() =>
                {
                    debug!(suite = suite.id(), status = %st, "cipher suite rejected, trying next");
                    rejected.push((suite.id(), st));
                }
                // Some BMCs silently drop proposals they do not support. The BMC did
                // answer Get Channel Auth Capabilities, so silence here is about the suite.
                Err(HandshakeError::Failed(IpmiError::Timeout { .. }))
                    if tried.len() < cfg.cipher_suites.len() =>
                {
                    debug!(
                        suite = suite.id(),
                        "no answer for cipher suite, trying next"
                    );
                }
                Err(HandshakeError::Failed(e)) => return Err(e),
            }
        }
        if refusals.is_empty() {
            Err(IpmiError::NoCipherSuite { tried })
        } else {
            Err(IpmiError::AlgorithmsRefused {
                refusals,
                rejected,
                accepted: negotiate::accepted_summary(&cfg.cipher_suites),
            })
        }
    }

    /// The cipher suite whose proposal gave this session. The BMC may have chosen
    /// other algorithms than the suite's: see [`Session::algorithms`].
    pub fn cipher_suite(&self) -> CipherSuite {
        self.suite
    }

    /// The algorithms the session runs on (the BMC's choice).
    pub fn algorithms(&self) -> Algorithms {
        self.algs
    }

    /// Send `build()` (rebuilt per attempt) and wait for a datagram `accept`
    /// takes. Decode errors are remembered: if nothing acceptable arrives they
    /// are returned instead of a bare timeout.
    async fn exchange<T>(
        &mut self,
        mut build: impl FnMut(&mut Self) -> Vec<u8>,
        accept: impl Fn(&Self, &[u8]) -> Result<Accept<T>, DecodeError>,
    ) -> Result<T> {
        let attempts = self.retries + 1;
        let mut last_err: Option<DecodeError> = None;
        let mut buf = vec![0u8; 2048];
        for attempt in 1..=attempts {
            let pkt = build(self);
            match self.sock.send(&pkt).await {
                Ok(_) => {}
                // A previous ICMP port-unreachable surfaces here on connected sockets.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e.into()),
            }
            let deadline = Instant::now() + self.timeout;
            loop {
                let n = match tokio::time::timeout_at(deadline, self.sock.recv(&mut buf)).await {
                    Err(_) => break, // attempt timed out
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        // Nobody listening: behaves like loss; wait out the attempt
                        // so retries keep their spacing.
                        tokio::time::sleep_until(deadline).await;
                        break;
                    }
                    Ok(Err(e)) => return Err(e.into()),
                };
                let datagram = buf.get(..n).unwrap_or(&[]);
                match accept(self, datagram) {
                    Ok(Accept::Done(t)) => return Ok(t),
                    Ok(Accept::Skip) => {}
                    Err(e) => {
                        debug!(error = %e, "discarding undecodable datagram");
                        last_err = Some(e);
                    }
                }
            }
            debug!(attempt, attempts, "no reply within timeout");
        }
        match last_err {
            Some(e) => Err(e.into()),
            None => Err(IpmiError::Timeout { attempts }),
        }
    }

    async fn check_auth_caps(&mut self) -> Result<()> {
        let req = app::get_channel_auth_caps();
        let rq_seq = self.next_rq_seq();
        let msg = req.encode(rq_seq);
        let pkt = packet::encode_v15_unauthenticated(&msg);
        let resp = self
            .exchange(
                |_| pkt.clone(),
                |_, d| {
                    let inb = packet::decode_v15(d)?;
                    let r = IpmiResponse::decode(&inb.payload)?;
                    Ok(if r.rq_seq == rq_seq && r.cmd == req.cmd {
                        Accept::Done(r)
                    } else {
                        Accept::Skip
                    })
                },
            )
            .await?;
        if resp.completion != 0 {
            return Err(IpmiError::Completion {
                netfn: req.netfn,
                cmd: req.cmd,
                code: CompletionCode(resp.completion),
            });
        }
        let caps = app::ChannelAuthCaps::decode(&resp.data)?;
        if !caps.ipmi20 {
            return Err(IpmiError::NoIpmi20);
        }
        Ok(())
    }

    fn next_tag(&mut self) -> u8 {
        self.tag = self.tag.wrapping_add(1);
        self.tag
    }

    fn next_rq_seq(&mut self) -> u8 {
        self.rq_seq = (self.rq_seq + 1) & 0x3F;
        self.rq_seq
    }

    /// Send a pre-session RMCP+ payload and wait for a reply of `want` type.
    async fn setup_exchange(
        &mut self,
        ptype: PayloadType,
        payload: Vec<u8>,
        want: PayloadType,
    ) -> Result<Vec<u8>> {
        let pkt = packet::encode_v20(ptype, 0, 0, &payload, None);
        self.exchange(
            |_| pkt.clone(),
            |_, d| {
                let inb: Inbound = packet::decode_v20(d, 0, None)?;
                Ok(if inb.payload_type == want {
                    Accept::Done(inb.payload)
                } else {
                    Accept::Skip
                })
            },
        )
        .await
    }

    async fn handshake(
        &mut self,
        suite: CipherSuite,
        configured: &[CipherSuite],
        user: &[u8],
        pass: &[u8],
    ) -> Result<(Active, Algorithms), HandshakeError> {
        // Session id 0 is reserved; a random id keeps stale replies of earlier
        // sessions from matching.
        let console_sid = rand::random::<u32>().max(1);
        let tag = self.next_tag();
        let p = self
            .setup_exchange(
                PayloadType::OpenSessionRequest,
                rakp::open_session_request(tag, console_sid, suite),
                PayloadType::OpenSessionResponse,
            )
            .await?;
        let osr = OpenSessionResponse::decode(&p)?;
        if osr.status.0 != 0 {
            return Err(IpmiError::SessionRejected(osr.status).into());
        }
        if osr.tag != tag || osr.console_sid != console_sid {
            return Err(DecodeError::Mismatch("open session response tag/session id").into());
        }
        let algs = match negotiate::judge(suite, configured, osr.algorithms()) {
            Ok(Verdict::AsProposed(a)) => a,
            Ok(Verdict::Different { chosen, weaker }) => {
                // Accepted (the configuration allows it), but an operator should be able
                // to see that the BMC did not take what steward asked for.
                if weaker.is_empty() {
                    info!(
                        suite = suite.id(),
                        proposed = %suite.algorithms(),
                        chosen = %chosen,
                        "BMC chose other algorithms than proposed; using its choice"
                    );
                } else {
                    warn!(
                        suite = suite.id(),
                        proposed = %suite.algorithms(),
                        chosen = %chosen,
                        weaker = ?weaker,
                        "BMC chose weaker algorithms than proposed; still within the configured cipher suites, using its choice"
                    );
                }
                chosen
            }
            Err(r) => return Err(HandshakeError::Refused(r)),
        };
        let ctx = RakpContext {
            algs,
            console_sid,
            bmc_sid: osr.bmc_sid,
            console_rand: rand::random(),
            role: rakp::PRIV_ADMIN | rakp::NAME_ONLY_LOOKUP,
            username: user,
            password: pass,
        };
        let tag = self.next_tag();
        let p = self
            .setup_exchange(PayloadType::Rakp1, ctx.rakp1(tag), PayloadType::Rakp2)
            .await?;
        let r2 = Rakp2::decode(&p, algs.auth)?;
        match r2.status.0 {
            0 => {}
            0x0D | 0x09 | 0x0A => {
                return Err(
                    IpmiError::Auth(format!("BMC refused user in RAKP 2: {}", r2.status)).into(),
                )
            }
            _ => return Err(IpmiError::SessionRejected(r2.status).into()),
        }
        if r2.tag != tag || r2.console_sid != console_sid {
            return Err(DecodeError::Mismatch("RAKP 2 tag/session id").into());
        }
        if !r2.verify(&ctx) {
            // Wrong password (or an impostor BMC): the BMC's proof of the shared
            // key does not match ours. Do not continue to RAKP 3.
            return Err(IpmiError::Auth(
                "RAKP 2 key exchange auth code mismatch (wrong password?)".into(),
            )
            .into());
        }
        let keys = ctx.session_keys(&r2.bmc_rand);
        let tag = self.next_tag();
        let p = self
            .setup_exchange(
                PayloadType::Rakp3,
                ctx.rakp3(tag, &r2.bmc_rand),
                PayloadType::Rakp4,
            )
            .await?;
        let r4 = Rakp4::decode(&p, algs.auth)?;
        match r4.status.0 {
            0 => {}
            0x0F | 0x0D => {
                return Err(IpmiError::Auth(format!("BMC rejected RAKP 3: {}", r4.status)).into())
            }
            _ => return Err(IpmiError::SessionRejected(r4.status).into()),
        }
        if r4.tag != tag || r4.console_sid != console_sid {
            return Err(DecodeError::Mismatch("RAKP 4 tag/session id").into());
        }
        if !crate::crypto::ct_eq(&ctx.rakp4_icv(&keys, &r2.guid), &r4.icv) {
            return Err(IpmiError::Auth("RAKP 4 integrity check value mismatch".into()).into());
        }
        Ok((
            Active {
                keys,
                console_sid,
                bmc_sid: osr.bmc_sid,
                seq: 0,
            },
            algs,
        ))
    }

    fn encode_in_session(&mut self, msg: &[u8]) -> Result<Vec<u8>> {
        let a = self.active.as_mut().ok_or(IpmiError::Closed)?;
        // Outbound session sequence numbers start at 1 and skip 0 on wrap.
        a.seq = a.seq.wrapping_add(1).max(1);
        let iv: [u8; 16] = rand::random();
        Ok(packet::encode_v20(
            PayloadType::Ipmi,
            a.bmc_sid,
            a.seq,
            msg,
            Some((&a.keys, iv)),
        ))
    }

    /// Send a request in the session; returns the response data after the
    /// completion code, or `IpmiError::Completion` for a non-zero code.
    pub async fn request(&mut self, req: &IpmiRequest) -> Result<Vec<u8>> {
        if self.active.is_none() {
            return Err(IpmiError::Closed);
        }
        let rq_seq = self.next_rq_seq();
        let msg = req.encode(rq_seq);
        let mut build_err = None;
        let resp = self
            .exchange(
                |s| match s.encode_in_session(&msg) {
                    Ok(p) => p,
                    Err(e) => {
                        build_err = Some(e);
                        Vec::new()
                    }
                },
                |s, d| {
                    let a = s
                        .active
                        .as_ref()
                        .ok_or(DecodeError::Mismatch("session closed"))?;
                    let inb = packet::decode_v20(d, a.console_sid, Some(&a.keys))?;
                    if inb.payload_type != PayloadType::Ipmi {
                        return Err(DecodeError::PayloadType(inb.payload_type as u8));
                    }
                    let r = IpmiResponse::decode(&inb.payload)?;
                    if r.rq_seq != rq_seq || r.cmd != req.cmd || r.netfn != req.netfn | 1 {
                        // Late reply to an earlier request: not an error, just not ours.
                        return Ok(Accept::Skip);
                    }
                    Ok(Accept::Done(r))
                },
            )
            .await;
        if let Some(e) = build_err {
            return Err(e);
        }
        let resp = resp?;
        if resp.completion != 0 {
            return Err(IpmiError::Completion {
                netfn: req.netfn,
                cmd: req.cmd,
                code: CompletionCode(resp.completion),
            });
        }
        Ok(resp.data)
    }

    /// Close the session (best effort: a lost reply still frees our side).
    pub async fn close(&mut self) -> Result<()> {
        let Some(bmc_sid) = self.active.as_ref().map(|a| a.bmc_sid) else {
            return Ok(());
        };
        let r = self.request(&app::close_session(bmc_sid)).await;
        self.active = None;
        r.map(|_| ())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // BMCs have few session slots; send a fire-and-forget Close Session so a
        // dropped client does not hold one until the BMC's inactivity timeout.
        if let Some(bmc_sid) = self.active.as_ref().map(|a| a.bmc_sid) {
            let rq_seq = self.next_rq_seq();
            let msg = app::close_session(bmc_sid).encode(rq_seq);
            if let Ok(pkt) = self.encode_in_session(&msg) {
                if let Err(e) = self.sock.try_send(&pkt) {
                    warn!(error = %e, "could not send Close Session on drop");
                }
            }
        }
    }
}
