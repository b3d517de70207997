//! RMCP+ cipher suites and key material (IPMI 2.0 §13.28–13.32). Pure functions,
//! no I/O: HMAC for RAKP, SIK/K1/K2 derivation, integrity AuthCode and AES-CBC-128.

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};

use crate::error::DecodeError;

type HmacSha1 = Hmac<sha1::Sha1>;
type HmacSha256 = Hmac<sha2::Sha256>;
type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;

/// The cipher suites this client speaks. Both use AES-CBC-128 confidentiality.
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

    /// Authentication algorithm number (Open Session payload).
    pub fn auth_alg(self) -> u8 {
        match self {
            CipherSuite::Suite3 => 0x01,  // RAKP-HMAC-SHA1
            CipherSuite::Suite17 => 0x03, // RAKP-HMAC-SHA256
        }
    }

    /// Integrity algorithm number.
    pub fn integrity_alg(self) -> u8 {
        match self {
            CipherSuite::Suite3 => 0x01,  // HMAC-SHA1-96
            CipherSuite::Suite17 => 0x04, // HMAC-SHA256-128
        }
    }

    /// Confidentiality algorithm number (AES-CBC-128 for both).
    pub fn confidentiality_alg(self) -> u8 {
        0x01
    }

    /// Length of the RAKP 2/3 key exchange auth code (full HMAC output).
    pub fn rakp_hmac_len(self) -> usize {
        match self {
            CipherSuite::Suite3 => 20,
            CipherSuite::Suite17 => 32,
        }
    }

    /// Length of the RAKP 4 integrity check value and of the per-packet AuthCode.
    pub fn icv_len(self) -> usize {
        match self {
            CipherSuite::Suite3 => 12,
            CipherSuite::Suite17 => 16,
        }
    }

    /// HMAC with this suite's hash (used for RAKP, SIK, K1/K2 and integrity).
    pub fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            CipherSuite::Suite3 => {
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
            CipherSuite::Suite17 => {
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

#[cold]
fn unreachable_hmac() -> ! {
    // hmac's new_from_slice only errors for fixed-key-size MACs; HMAC has none.
    unreachable!("HMAC accepts any key length")
}

/// Session keys derived after RAKP. Deliberately no Debug/Clone that would leak.
pub struct SessionKeys {
    pub suite: CipherSuite,
    pub sik: Vec<u8>,
    /// Integrity key (K1), full HMAC output.
    pub k1: Vec<u8>,
    /// AES-128 key: first 16 bytes of K2.
    pub aes_key: [u8; 16],
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("suite", &self.suite)
            .finish_non_exhaustive()
    }
}

/// K_N constants are 20 bytes of N for both suites (ipmitool and OpenBMC agree; the
/// SHA-256 suites did not lengthen them).
const CONST_1: [u8; 20] = [0x01; 20];
const CONST_2: [u8; 20] = [0x02; 20];

impl SessionKeys {
    pub fn derive(suite: CipherSuite, sik: Vec<u8>) -> Self {
        let k1 = suite.hmac(&sik, &[&CONST_1]);
        let k2 = suite.hmac(&sik, &[&CONST_2]);
        let mut aes_key = [0u8; 16];
        aes_key.copy_from_slice(&k2[..16]);
        SessionKeys {
            suite,
            sik,
            k1,
            aes_key,
        }
    }

    /// Per-packet AuthCode: truncated HMAC(K1, AuthType..NextHeader).
    pub fn auth_code(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = self.suite.hmac(&self.k1, &[data]);
        mac.truncate(self.suite.icv_len());
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
