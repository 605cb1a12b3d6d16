//! The versioned AES-256-GCM envelope every stored secret is sealed in:
//!
//! `"BRTH"` · version (1 byte) · nonce (12 random bytes) · ciphertext with its 16-byte tag
//!
//! The associated data names the row and the purpose (`key:anthropic`, `ide:<workspace id>`):
//! a value moved to another row, or read for another purpose, fails to open.

use super::Sensitive;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use std::fmt;

const MAGIC: &[u8; 4] = b"BRTH";
const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
const HEADER_LEN: usize = MAGIC.len() + 1 + NONCE_LEN;

/// The install's master key: 32 random bytes that live in the OS keychain and in the daemon's
/// memory, never on disk.
#[derive(Debug)]
pub struct MasterKey(Sensitive<[u8; 32]>);

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey(Sensitive::new(bytes))
    }

    pub fn generate() -> Result<MasterKey, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(MasterKey::from_bytes(bytes))
    }

    pub(super) fn bytes(&self) -> &[u8; 32] {
        self.0.expose()
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.bytes().into())
    }
}

/// Why an envelope did not open. Each says something different to the user: damaged data,
/// data from a newer Berth, or a key (or row) that does not fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenError {
    /// Too short, or not an envelope at all.
    NotAnEnvelope,
    /// Written by a newer Berth.
    UnknownVersion(u8),
    /// The tag does not verify: a wrong master key, a changed byte, or another row's value.
    Rejected,
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NotAnEnvelope => f.write_str("it is not an encrypted value Berth wrote"),
            OpenError::UnknownVersion(v) => {
                write!(f, "it was encrypted by a newer Berth (format {v})")
            }
            OpenError::Rejected => f.write_str(
                "it does not decrypt: it was changed, belongs to another entry, or the master key is not the one it was sealed with",
            ),
        }
    }
}

/// Seals `plain` for `aad` with a fresh random nonce.
pub fn seal(key: &MasterKey, aad: &str, plain: &[u8]) -> Result<Vec<u8>, getrandom::Error> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce)?;
    let sealed = key
        .cipher()
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: aad.as_bytes(),
            },
        )
        // AES-GCM fails only on inputs of more than 64 GiB.
        .expect("AES-GCM encrypts any value Berth stores");
    let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens an envelope sealed for `aad`.
pub fn open(key: &MasterKey, aad: &str, envelope: &[u8]) -> Result<Sensitive<Vec<u8>>, OpenError> {
    if envelope.len() < HEADER_LEN + 16 || &envelope[..4] != MAGIC {
        return Err(OpenError::NotAnEnvelope);
    }
    if envelope[4] != VERSION {
        return Err(OpenError::UnknownVersion(envelope[4]));
    }
    let nonce = &envelope[5..HEADER_LEN];
    key.cipher()
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: &envelope[HEADER_LEN..],
                aad: aad.as_bytes(),
            },
        )
        .map(Sensitive::new)
        .map_err(|_| OpenError::Rejected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> MasterKey {
        MasterKey::from_bytes([b; 32])
    }

    #[test]
    fn a_sealed_value_opens_for_its_row_only() {
        let k = key(1);
        let sealed = seal(&k, "key:anthropic", b"sk-secret").unwrap();
        assert_eq!(&sealed[..4], b"BRTH");
        assert_eq!(sealed[4], 1);
        assert!(!sealed.windows(9).any(|w| w == b"sk-secret"));
        assert_eq!(
            open(&k, "key:anthropic", &sealed).unwrap().expose(),
            b"sk-secret"
        );
        assert_eq!(
            open(&k, "key:openai", &sealed).unwrap_err(),
            OpenError::Rejected
        );
        assert_eq!(
            open(&key(2), "key:anthropic", &sealed).unwrap_err(),
            OpenError::Rejected
        );
    }

    #[test]
    fn every_changed_byte_is_caught() {
        let k = key(3);
        let sealed = seal(&k, "row", b"value").unwrap();
        for i in 5..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                open(&k, "row", &bad).unwrap_err(),
                OpenError::Rejected,
                "{i}"
            );
        }
        let mut newer = sealed.clone();
        newer[4] = 2;
        assert_eq!(
            open(&k, "row", &newer).unwrap_err(),
            OpenError::UnknownVersion(2)
        );
        assert_eq!(
            open(&k, "row", b"plain text value that is long").unwrap_err(),
            OpenError::NotAnEnvelope
        );
        assert_eq!(
            open(&k, "row", &sealed[..20]).unwrap_err(),
            OpenError::NotAnEnvelope
        );
    }

    #[test]
    fn nonces_are_fresh() {
        let k = key(4);
        assert_ne!(seal(&k, "r", b"v").unwrap(), seal(&k, "r", b"v").unwrap());
    }
}
