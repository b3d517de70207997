//! RMCP+ cipher suites and key material (IPMI v2.0 sections 13.28–13.32). Pure functions,
//! no I/O: HMAC for RAKP, SIK/K1/K2 derivation, integrity AuthCode and AES-CBC-128.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};

use crate::error::DecodeError;

type HmacSha1 = Hmac<sha1::Sha1>;
type HmacSha256 = Hmac<sha2::Sha256>;
type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// RMCP+ authentication (RAKP) algorithms this client speaks. The authentication
/// algorithm also fixes the hash used for the SIK, K1 and K2 and the RAKP 4 ICV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuthAlg {
    RakpHmacSha1,
    RakpHmacSha256,
}

/// RMCP+ integrity algorithms this client speaks (per-packet AuthCode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntegrityAlg {
    HmacSha1_96,
    HmacSha256_128,
}

/// RMCP+ confidentiality algorithms this client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConfAlg {
    AesCbc128,
}

/// The hashes behind the algorithms above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
}

impl Hash {
    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Hash::Sha1 => {
                // HMAC accepts keys of any length, so new_from_slice cannot fail.
                let mut m = match HmacSha1::new_from_slice(key) {
                    Ok(m) => m,
                    Err(_) => unreachable_hmac(),
                };
                for p in parts {
                    m.update(p);
                }
                m.finalize().into_bytes().to_vec()
            }
            Hash::Sha256 => {
                let mut m = match HmacSha256::new_from_slice(key) {
                    Ok(m) => m,
                    Err(_) => unreachable_hmac(),
                };
                for p in parts {
                    m.update(p);
                }
                m.finalize().into_bytes().to_vec()
            }
        }
    }
}

impl AuthAlg {
    /// Algorithm number in the Open Session payloads.
    pub fn id(self) -> u8 {
        match self {
            AuthAlg::RakpHmacSha1 => 0x01,
            AuthAlg::RakpHmacSha256 => 0x03,
        }
    }

    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            0x01 => Some(AuthAlg::RakpHmacSha1),
            0x03 => Some(AuthAlg::RakpHmacSha256),
            _ => None,
        }
    }

    fn hash(self) -> Hash {
        match self {
            AuthAlg::RakpHmacSha1 => Hash::Sha1,
            AuthAlg::RakpHmacSha256 => Hash::Sha256,
        }
    }

    /// HMAC with this algorithm's hash (RAKP auth codes, SIK, K1/K2, RAKP 4 ICV).
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        self.hash().hmac(key, parts)
    }

    /// Length of the RAKP 2/3 key exchange auth code (full HMAC output).
    pub fn rakp_hmac_len(self) -> usize {
        match self {
            AuthAlg::RakpHmacSha1 => 20,
            AuthAlg::RakpHmacSha256 => 32,
        }
    }

    /// Length of the RAKP 4 integrity check value.
    pub fn icv_len(self) -> usize {
        match self {
            AuthAlg::RakpHmacSha1 => 12,
            AuthAlg::RakpHmacSha256 => 16,
        }
    }
}

impl IntegrityAlg {
    pub fn id(self) -> u8 {
        match self {
            IntegrityAlg::HmacSha1_96 => 0x01,
            IntegrityAlg::HmacSha256_128 => 0x04,
        }
    }

    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            0x01 => Some(IntegrityAlg::HmacSha1_96),
            0x04 => Some(IntegrityAlg::HmacSha256_128),
            _ => None,
        }
    }

    fn hash(self) -> Hash {
        match self {
            IntegrityAlg::HmacSha1_96 => Hash::Sha1,
            IntegrityAlg::HmacSha256_128 => Hash::Sha256,
        }
    }

    /// Length of the per-packet AuthCode.
    pub fn auth_code_len(self) -> usize {
        match self {
            IntegrityAlg::HmacSha1_96 => 12,
            IntegrityAlg::HmacSha256_128 => 16,
        }
    }
}

impl ConfAlg {
    pub fn id(self) -> u8 {
        0x01
    }

    pub fn from_id(id: u8) -> Option<Self> {
        (id == 0x01).then_some(ConfAlg::AesCbc128)
    }
}

/// Name of an authentication algorithm number, known to steward or not.
pub fn auth_alg_name(id: u8) -> &'static str {
    match id {
        0x00 => "RAKP-none",
        0x01 => "RAKP-HMAC-SHA1",
        0x02 => "RAKP-HMAC-MD5",
        0x03 => "RAKP-HMAC-SHA256",
        0xC0..=0xFF => "OEM",
        _ => "reserved",
    }
}

/// Name of an integrity algorithm number, known to steward or not.
pub fn integrity_alg_name(id: u8) -> &'static str {
    match id {
        0x00 => "none",
        0x01 => "HMAC-SHA1-96",
        0x02 => "HMAC-MD5-128",
        0x03 => "MD5-128",
        0x04 => "HMAC-SHA256-128",
        0xC0..=0xFF => "OEM",
        _ => "reserved",
    }
}

/// Name of a confidentiality algorithm number, known to steward or not.
pub fn conf_alg_name(id: u8) -> &'static str {
    match id {
        0x00 => "none",
        0x01 => "AES-CBC-128",
        0x02 => "xRC4-128",
        0x03 => "xRC4-40",
        0x30..=0x3F => "OEM",
        _ => "reserved",
    }
}

/// The three algorithm numbers of an Open Session request or response, as sent
/// on the wire (possibly ones steward does not speak).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AlgorithmIds {
    pub auth: u8,
    pub integrity: u8,
    pub confidentiality: u8,
}

impl std::fmt::Display for AlgorithmIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "authentication {} (0x{:02X}), integrity {} (0x{:02X}), confidentiality {} (0x{:02X})",
            auth_alg_name(self.auth),
            self.auth,
            integrity_alg_name(self.integrity),
            self.integrity,
            conf_alg_name(self.confidentiality),
            self.confidentiality
        )
    }
}

/// A session's algorithms: what the BMC chose in its Open Session response.
/// Usually one of the suites below, but a BMC may mix (e.g. RAKP-HMAC-SHA256 with
/// HMAC-SHA1-96), so the session runs on this rather than on a [`CipherSuite`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Algorithms {
    pub auth: AuthAlg,
    pub integrity: IntegrityAlg,
    pub confidentiality: ConfAlg,
}

impl Algorithms {
    /// `None` when any of the three is an algorithm steward does not speak.
    pub fn from_ids(ids: AlgorithmIds) -> Option<Self> {
        Some(Algorithms {
            auth: AuthAlg::from_id(ids.auth)?,
            integrity: IntegrityAlg::from_id(ids.integrity)?,
            confidentiality: ConfAlg::from_id(ids.confidentiality)?,
        })
    }

    pub fn ids(self) -> AlgorithmIds {
        AlgorithmIds {
            auth: self.auth.id(),
            integrity: self.integrity.id(),
            confidentiality: self.confidentiality.id(),
        }
    }
}

impl std::fmt::Display for Algorithms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.ids().fmt(f)
    }
}

/// The cipher suites this client proposes. Both use AES-CBC-128 confidentiality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CipherSuite {
    /// Suite 3: RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128. The common denominator.
    Suite3,
    /// Suite 17: RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128. Newer BMCs.
    Suite17,
}

impl CipherSuite {
    pub fn id(self) -> u8 {
        match self {
            CipherSuite::Suite3 => 3,
            CipherSuite::Suite17 => 17,
        }
    }

    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            3 => Some(CipherSuite::Suite3),
            17 => Some(CipherSuite::Suite17),
            _ => None,
        }
    }

    /// The suite's three algorithms.
    pub fn algorithms(self) -> Algorithms {
        match self {
            CipherSuite::Suite3 => Algorithms {
                auth: AuthAlg::RakpHmacSha1,
                integrity: IntegrityAlg::HmacSha1_96,
                confidentiality: ConfAlg::AesCbc128,
            },
            CipherSuite::Suite17 => Algorithms {
                auth: AuthAlg::RakpHmacSha256,
                integrity: IntegrityAlg::HmacSha256_128,
                confidentiality: ConfAlg::AesCbc128,
            },
        }
    }

    /// Authentication algorithm number (Open Session payload).
    pub fn auth_alg(self) -> u8 {
        self.algorithms().auth.id()
    }

    /// Integrity algorithm number.
    pub fn integrity_alg(self) -> u8 {
        self.algorithms().integrity.id()
    }

    /// Confidentiality algorithm number (AES-CBC-128 for both).
    pub fn confidentiality_alg(self) -> u8 {
        self.algorithms().confidentiality.id()
    }

    /// Length of the RAKP 2/3 key exchange auth code (full HMAC output).
    pub fn rakp_hmac_len(self) -> usize {
        self.algorithms().auth.rakp_hmac_len()
    }

    /// Length of the RAKP 4 integrity check value and of the per-packet AuthCode.
    pub fn icv_len(self) -> usize {
        self.algorithms().auth.icv_len()
    }

    /// HMAC with this suite's hash (used for RAKP, SIK, K1/K2 and integrity).
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        self.algorithms().auth.hmac(key, parts)
    }
}

impl From<CipherSuite> for Algorithms {
    fn from(s: CipherSuite) -> Self {
        s.algorithms()
    }
}

impl From<CipherSuite> for AuthAlg {
    fn from(s: CipherSuite) -> Self {
        s.algorithms().auth
    }
}

#[cold]
fn unreachable_hmac() -> ! {
    // hmac's new_from_slice only errors for fixed-key-size MACs; HMAC has none.
    unreachable!("HMAC accepts any key length")
}

/// Session keys derived after RAKP. Deliberately no Debug/Clone that would leak.
pub struct SessionKeys {
    pub algs: Algorithms,
    pub sik: Vec<u8>,
    /// Integrity key (K1), full HMAC output.
    pub k1: Vec<u8>,
    /// AES-128 key: first 16 bytes of K2.
    pub aes_key: [u8; 16],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("algs", &self.algs)
            .finish_non_exhaustive()
    }
}

/// K_N constants are 20 bytes of N for both hashes (ipmitool and OpenBMC agree; the
/// SHA-256 suites did not lengthen them).
const CONST_1: [u8; 20] = [0x01; 20];
const CONST_2: [u8; 20] = [0x02; 20];

impl SessionKeys {
    /// K1 and K2 are HMACs keyed by the SIK with the *authentication* algorithm's
    /// hash (as ipmitool does), whatever the integrity algorithm.
    pub fn derive(algs: impl Into<Algorithms>, sik: Vec<u8>) -> Self {
        let algs = algs.into();
        let k1 = algs.auth.hmac(&sik, &[&CONST_1]);
        let k2 = algs.auth.hmac(&sik, &[&CONST_2]);
        let mut aes_key = [0u8; 16];
        aes_key.copy_from_slice(&k2[..16]);
        SessionKeys {
            algs,
            sik,
            k1,
            aes_key,
        }
    }

    /// Per-packet AuthCode: HMAC(K1, AuthType..NextHeader) with the integrity
    /// algorithm's hash, truncated to its length.
    pub fn auth_code(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = self.algs.integrity.hash().hmac(&self.k1, &[data]);
        mac.truncate(self.algs.integrity.auth_code_len());
        mac
    }

    /// Encrypt an IPMI payload: IV || AES-CBC(payload || pad 1..n || n).
    pub fn encrypt(&self, payload: &[u8], iv: [u8; 16]) -> Vec<u8> {
        let mut pad_len = 16 - (payload.len() + 1) % 16;
        if pad_len == 16 {
            pad_len = 0;
        }
        let mut buf = Vec::with_capacity(16 + payload.len() + pad_len + 1);
        buf.extend_from_slice(payload);
        for i in 1..=pad_len {
            buf.push(i as u8);
        }
        buf.push(pad_len as u8);
        let len = buf.len();
        let enc = Aes128CbcEnc::new(&self.aes_key.into(), &iv.into());
        // The buffer is a multiple of 16 by construction, so NoPadding cannot fail.
        let ct = match enc.encrypt_padded_mut::<NoPadding>(&mut buf, len) {
            Ok(ct) => ct.to_vec(),
            Err(_) => Vec::new(),
        };
        let mut out = iv.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypt IV || ciphertext and strip the confidentiality trailer.
    pub fn decrypt(&self, data: &[u8]) -> Result<Vec<u8>, DecodeError> {
        if data.len() < 32 || data.len() % 16 != 0 {
            return Err(DecodeError::Decrypt(
                "encrypted payload length not a multiple of 16",
            ));
        }
        let (iv, ct) = data.split_at(16);
        let mut iv_arr = [0u8; 16];
        iv_arr.copy_from_slice(iv);
        let mut buf = ct.to_vec();
        let dec = Aes128CbcDec::new(&self.aes_key.into(), &iv_arr.into());
        let pt = dec
            .decrypt_padded_mut::<NoPadding>(&mut buf)
            .map_err(|_| DecodeError::Decrypt("block decrypt failed"))?;
        let (&pad_len, body) = pt
            .split_last()
            .ok_or(DecodeError::Decrypt("empty plaintext"))?;
        let pad_len = pad_len as usize;
        if pad_len > 15 || pad_len > body.len() {
            return Err(DecodeError::Decrypt("bad confidentiality pad length"));
        }
        let (payload, pad) = body.split_at(body.len() - pad_len);
        // The pad must be 1, 2, 3 ... ; anything else means the wrong key or tampering.
        if pad.iter().enumerate().any(|(i, &b)| b as usize != i + 1) {
            return Err(DecodeError::Decrypt("bad confidentiality pad bytes"));
        }
        Ok(payload.to_vec())
    }
}

/// Compare MACs without an early exit on the first differing byte.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
