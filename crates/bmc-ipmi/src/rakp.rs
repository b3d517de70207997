//! RMCP+ session establishment messages (IPMI v2.0 sections 13.17–13.23) and the RAKP
//! HMAC computations (sections 13.31 and 13.32). Pure, no I/O.

use crate::crypto::{ct_eq, AlgorithmIds, Algorithms, AuthAlg, CipherSuite, SessionKeys};
use crate::error::{DecodeError, RmcpStatus};
use crate::wire::Reader;

/// Privilege level ADMINISTRATOR.
pub const PRIV_ADMIN: u8 = 0x04;
/// RAKP 1 role bit 4: look the user up by name only (ipmitool's default).
pub const NAME_ONLY_LOOKUP: u8 = 0x10;

pub fn open_session_request(tag: u8, console_sid: u32, suite: CipherSuite) -> Vec<u8> {
    let mut p = vec![tag, PRIV_ADMIN, 0, 0];
    p.extend_from_slice(&console_sid.to_le_bytes());
    for (kind, alg) in [
        (0x00, suite.auth_alg()),
        (0x01, suite.integrity_alg()),
        (0x02, suite.confidentiality_alg()),
    ] {
        p.extend_from_slice(&[kind, 0, 0, 0x08, alg, 0, 0, 0]);
    }
    p
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSessionResponse {
    pub tag: u8,
    pub status: RmcpStatus,
    pub console_sid: u32,
    pub bmc_sid: u32,
    pub auth_alg: u8,
    pub integrity_alg: u8,
    pub conf_alg: u8,
}

impl OpenSessionResponse {
    /// The algorithms the BMC chose (meaningful only with status 0).
    pub fn algorithms(&self) -> AlgorithmIds {
        AlgorithmIds {
            auth: self.auth_alg,
            integrity: self.integrity_alg,
            confidentiality: self.conf_alg,
        }
    }

    pub fn decode(p: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(p, "Open Session Response");
        let tag = r.u8()?;
        let status = RmcpStatus(r.u8()?);
        if status.0 != 0 {
            // On error the BMC may send only tag, status, reserved and our SID.
            return Ok(OpenSessionResponse {
                tag,
                status,
                console_sid: 0,
                bmc_sid: 0,
                auth_alg: 0,
                integrity_alg: 0,
                conf_alg: 0,
            });
        }
        let _max_priv = r.u8()?;
        let _reserved = r.u8()?;
        let console_sid = r.u32()?;
        let bmc_sid = r.u32()?;
        let mut algs = [0u8; 3];
        for a in &mut algs {
            let rec = r.array::<8>()?;
            *a = rec[4] & 0x3F;
        }
        Ok(OpenSessionResponse {
            tag,
            status,
            console_sid,
            bmc_sid,
            auth_alg: algs[0],
            integrity_alg: algs[1],
            conf_alg: algs[2],
        })
    }
}

/// Inputs shared by all RAKP computations for one handshake.
pub struct RakpContext<'a> {
    /// The algorithms the BMC chose in its Open Session response.
    pub algs: Algorithms,
    pub console_sid: u32,
    pub bmc_sid: u32,
    pub console_rand: [u8; 16],
    /// Role byte exactly as sent in RAKP 1 (privilege | lookup bit).
    pub role: u8,
    pub username: &'a [u8],
    pub password: &'a [u8],
}

impl RakpContext<'_> {
    pub fn rakp1(&self, tag: u8) -> Vec<u8> {
        let mut p = vec![tag, 0, 0, 0];
        p.extend_from_slice(&self.bmc_sid.to_le_bytes());
        p.extend_from_slice(&self.console_rand);
        p.push(self.role);
        p.extend_from_slice(&[0, 0]);
        p.push(self.username.len() as u8);
        p.extend_from_slice(self.username);
        p
    }

    /// Expected RAKP 2 key exchange auth code:
    /// HMAC(Kuid, SIDm | SIDc | Rm | Rc | GUIDc | ROLEm | ULENm | UNAMEm).
    pub fn rakp2_auth_code(&self, bmc_rand: &[u8; 16], guid: &[u8; 16]) -> Vec<u8> {
        self.algs.auth.hmac(
            self.password,
            &[
                &self.console_sid.to_le_bytes(),
                &self.bmc_sid.to_le_bytes(),
                &self.console_rand,
                bmc_rand,
                guid,
                &[self.role, self.username.len() as u8],
                self.username,
            ],
        )
    }

    /// RAKP 3 auth code: HMAC(Kuid, Rc | SIDm | ROLEm | ULENm | UNAMEm).
    pub fn rakp3(&self, tag: u8, bmc_rand: &[u8; 16]) -> Vec<u8> {
        let code = self.algs.auth.hmac(
            self.password,
            &[
                bmc_rand,
                &self.console_sid.to_le_bytes(),
                &[self.role, self.username.len() as u8],
                self.username,
            ],
        );
        let mut p = vec![tag, 0, 0, 0];
        p.extend_from_slice(&self.bmc_sid.to_le_bytes());
        p.extend_from_slice(&code);
        p
    }

    /// SIK = HMAC(Kg or Kuid, Rm | Rc | ROLEm | ULENm | UNAMEm). We do not
    /// support a separate BMC key (Kg), so Kuid is used (the common setup).
    pub fn session_keys(&self, bmc_rand: &[u8; 16]) -> SessionKeys {
        let sik = self.algs.auth.hmac(
            self.password,
            &[
                &self.console_rand,
                bmc_rand,
                &[self.role, self.username.len() as u8],
                self.username,
            ],
        );
        SessionKeys::derive(self.algs, sik)
    }

    /// Expected RAKP 4 ICV: HMAC(SIK, Rm | SIDc | GUIDc) truncated.
    pub fn rakp4_icv(&self, keys: &SessionKeys, guid: &[u8; 16]) -> Vec<u8> {
        let mut v = self.algs.auth.hmac(
            &keys.sik,
            &[&self.console_rand, &self.bmc_sid.to_le_bytes(), guid],
        );
        v.truncate(self.algs.auth.icv_len());
        v
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp2 {
    pub tag: u8,
    pub status: RmcpStatus,
    pub console_sid: u32,
    pub bmc_rand: [u8; 16],
    pub guid: [u8; 16],
    pub auth_code: Vec<u8>,
}

impl Rakp2 {
    pub fn decode(p: &[u8], auth: impl Into<AuthAlg>) -> Result<Self, DecodeError> {
        let auth = auth.into();
        let mut r = Reader::new(p, "RAKP 2");
        let tag = r.u8()?;
        let status = RmcpStatus(r.u8()?);
        let _ = r.take(2)?;
        let console_sid = r.u32()?;
        if status.0 != 0 {
            return Ok(Rakp2 {
                tag,
                status,
                console_sid,
                bmc_rand: [0; 16],
                guid: [0; 16],
                auth_code: Vec::new(),
            });
        }
        let bmc_rand = r.array::<16>()?;
        let guid = r.array::<16>()?;
        let auth_code = r.take(auth.rakp_hmac_len())?.to_vec();
        Ok(Rakp2 {
            tag,
            status,
            console_sid,
            bmc_rand,
            guid,
            auth_code,
        })
    }

    pub fn verify(&self, ctx: &RakpContext<'_>) -> bool {
        ct_eq(
            &ctx.rakp2_auth_code(&self.bmc_rand, &self.guid),
            &self.auth_code,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rakp4 {
    pub tag: u8,
    pub status: RmcpStatus,
    pub console_sid: u32,
    pub icv: Vec<u8>,
}

impl Rakp4 {
    pub fn decode(p: &[u8], auth: impl Into<AuthAlg>) -> Result<Self, DecodeError> {
        let auth = auth.into();
        let mut r = Reader::new(p, "RAKP 4");
        let tag = r.u8()?;
        let status = RmcpStatus(r.u8()?);
        let _ = r.take(2)?;
        let console_sid = r.u32()?;
        let icv = if status.0 == 0 {
            r.take(auth.icv_len())?.to_vec()
        } else {
            Vec::new()
        };
        Ok(Rakp4 {
            tag,
            status,
            console_sid,
            icv,
        })
    }
}
