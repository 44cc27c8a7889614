//! One-time codes and links, per address and purpose.
//!
//! The code and link token are derived from the project's signing key and the verification id
//! (HMAC), so the same code can be re-sent without ever storing it; only hashes are stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::keys::ProjectKey;
use crate::mail::CodePurpose;

#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub id: String,
    pub project_id: String,
    pub user_id: Option<String>,
    pub email: EmailAddress,
    pub purpose: CodePurpose,
    /// The signing key the code and link were derived from.
    pub kid: String,
    pub code_hash: String,
    pub link_hash: String,
    pub attempts: i64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub consumed_at: Option<Timestamp>,
}

impl Verification {
    pub fn is_usable(&self, now: Timestamp, max_attempts: i64) -> bool {
        self.consumed_at.is_none() && now < self.expires_at && self.attempts < max_attempts
    }
}

fn derive(key: &ProjectKey, label: &str, id: &str) -> [u8; 32] {
    #[allow(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let mut mac = Hmac::<Sha256>::new_from_slice(key.secret_bytes()).expect("HMAC takes any key length");
    mac.update(b"doorway-verification:");
    mac.update(label.as_bytes());
    mac.update(b":");
    mac.update(id.as_bytes());
    mac.finalize().into_bytes().into()
}

/// The 6-digit code of a verification.
pub fn code_for(key: &ProjectKey, id: &str) -> String {
    let bytes = derive(key, "code", id);
    let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) % 1_000_000;
    format!("{n:06}")
}

/// The link token of a verification.
pub fn link_token_for(key: &ProjectKey, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(derive(key, "link", id))
}

pub fn hash_secret(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_stable_per_id_and_key() {
        let key = ProjectKey::generate(Timestamp::from_millis(0));
        let a = code_for(&key, "ver_1");
        assert_eq!(a.len(), 6);
        assert!(a.chars().all(|c| c.is_ascii_digit()));
        assert_eq!(a, code_for(&key, "ver_1"));
        assert_ne!(link_token_for(&key, "ver_1"), link_token_for(&key, "ver_2"));
        let other = ProjectKey::generate(Timestamp::from_millis(0));
        assert_ne!(link_token_for(&key, "ver_1"), link_token_for(&other, "ver_1"));
    }
}
