//! Private signing keys at rest. With an operator's master key they are sealed with
//! AES-256-GCM (random 96-bit nonce, the kid as associated data, so a sealed secret copied onto
//! another row does not open); without one they are stored as the raw 32 bytes.
//!
//! This lives in the store because encryption at rest is a property of storage: the `Store`
//! port keeps handing out `ProjectKey`s, so the core and every flow never see ciphertext.

use std::fmt;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

/// `signing_keys.secret_format` of a raw secret.
pub(crate) const PLAIN: &str = "plain";
/// `signing_keys.secret_format` of a sealed secret: nonce (12 bytes) ‖ ciphertext ‖ tag.
pub(crate) const SEALED: &str = "aes-256-gcm";
const NONCE_LEN: usize = 12;

/// The operator's key-encryption key: 32 random bytes. Never printed.
#[derive(Clone)]
pub struct MasterKey(Aes256Gcm);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MasterKeyError {
    #[error(
        "must be 32 random bytes as base64 (44 characters) or hex (64 characters); generate one with `doorway keys generate-master-key` or `openssl rand -base64 32`"
    )]
    Format,
}

/// Why a stored secret cannot be turned back into a key. Names the kid, never key material.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyAtRestError {
    #[error(
        "signing key {kid} is encrypted at rest and no master key is set: set master_key_file (or DOORWAY_MASTER_KEY / DOORWAY_MASTER_KEY_FILE)"
    )]
    NoMasterKey { kid: String },
    #[error("the master key does not decrypt signing key {kid}: set the master key it was encrypted with")]
    WrongMasterKey { kid: String },
    #[error("signing key {kid} is stored in an unknown format '{format}'")]
    UnknownFormat { kid: String, format: String },
}

impl MasterKey {
    /// Parses 32 bytes given as base64 (padded or not) or hex; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            STANDARD.decode(text).or_else(|_| STANDARD_NO_PAD.decode(text)).ok()
        };
        match bytes {
            Some(b) if b.len() == 32 => Aes256Gcm::new_from_slice(&b).map(Self).map_err(|_| MasterKeyError::Format),
            _ => Err(MasterKeyError::Format),
        }
    }

    /// A new random master key, as base64 text.
    pub fn generate() -> String {
        STANDARD.encode(Aes256Gcm::generate_key(OsRng))
    }

    #[allow(clippy::expect_used, reason = "AES-GCM only refuses messages over 64 GiB; a key is 32 bytes")]
    fn seal(&self, kid: &str, secret: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .0
            .encrypt(&nonce, Payload { msg: secret, aad: kid.as_bytes() })
            .expect("AES-GCM encrypts any 32-byte message");
        [&nonce[..], &sealed].concat()
    }

    fn open(&self, kid: &str, stored: &[u8]) -> Result<Vec<u8>, KeyAtRestError> {
        let wrong = || KeyAtRestError::WrongMasterKey { kid: kid.to_owned() };
        let (nonce, sealed) = stored.split_at_checked(NONCE_LEN).ok_or_else(wrong)?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| wrong())?;
        self.0.decrypt(&Nonce::from(nonce), Payload { msg: sealed, aad: kid.as_bytes() }).map_err(|_| wrong())
    }
}

/// The bytes and format to store for a key.
pub(crate) fn to_stored(master: Option<&MasterKey>, kid: &str, secret: &[u8]) -> (Vec<u8>, &'static str) {
    match master {
        Some(m) => (m.seal(kid, secret), SEALED),
        None => (secret.to_vec(), PLAIN),
    }
}

/// The raw secret of a stored row.
pub(crate) fn from_stored(
    master: Option<&MasterKey>,
    kid: &str,
    stored: &[u8],
    format: &str,
) -> Result<Vec<u8>, KeyAtRestError> {
    match (format, master) {
        (PLAIN, _) => Ok(stored.to_vec()),
        (SEALED, Some(m)) => m.open(kid, stored),
        (SEALED, None) => Err(KeyAtRestError::NoMasterKey { kid: kid.to_owned() }),
        (other, _) => Err(KeyAtRestError::UnknownFormat { kid: kid.to_owned(), format: other.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use doorway_core::Timestamp;
    use doorway_core::keys::ProjectKey;

    use super::*;

    fn key() -> ProjectKey {
        ProjectKey::generate(Timestamp::from_millis(0))
    }

    #[test]
    fn parses_base64_and_hex_and_refuses_anything_else() {
        let text = MasterKey::generate();
        assert_eq!(text.len(), 44);
        assert!(MasterKey::parse(&text).is_ok());
        assert!(MasterKey::parse(&format!("  {}\n", text.trim_end_matches('='))).is_ok());
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        for bad in ["", "short", &"ab".repeat(31), &STANDARD.encode([7u8; 31])] {
            assert_eq!(MasterKey::parse(bad).unwrap_err(), MasterKeyError::Format, "{bad}");
        }
    }

    #[test]
    fn sealed_secrets_hide_the_key_and_open_only_with_the_same_master_key_and_kid() {
        let master = MasterKey::parse(&MasterKey::generate()).unwrap();
        let k = key();
        let (stored, format) = to_stored(Some(&master), &k.kid, k.secret_bytes());
        assert_eq!(format, SEALED);
        assert!(!stored.windows(32).any(|w| w == k.secret_bytes()));
        assert_eq!(from_stored(Some(&master), &k.kid, &stored, format).unwrap(), k.secret_bytes());

        let other = MasterKey::parse(&MasterKey::generate()).unwrap();
        let wrong = KeyAtRestError::WrongMasterKey { kid: k.kid.clone() };
        assert_eq!(from_stored(Some(&other), &k.kid, &stored, format).unwrap_err(), wrong);
        let moved = from_stored(Some(&master), "another-kid", &stored, format).unwrap_err();
        assert_eq!(moved, KeyAtRestError::WrongMasterKey { kid: "another-kid".into() });
        assert!(matches!(from_stored(None, &k.kid, &stored, format), Err(KeyAtRestError::NoMasterKey { .. })));
    }

    #[test]
    fn plain_secrets_round_trip_and_debug_hides_the_master_key() {
        let k = key();
        let (stored, format) = to_stored(None, &k.kid, k.secret_bytes());
        assert_eq!((stored.as_slice(), format), (&k.secret_bytes()[..], PLAIN));
        let text = "ab".repeat(32);
        assert_eq!(format!("{:?}", MasterKey::parse(&text).unwrap()), "MasterKey(<redacted>)");
    }
}
