//! Per-project Ed25519 signing keys, their public JWK form, and access-token signing.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;

/// One project signing key. The secret half never leaves the process except into the store.
#[derive(Clone)]
pub struct ProjectKey {
    pub kid: String,
    secret: [u8; 32],
    public: [u8; 32],
    /// The secret expanded once (deriving it costs a scalar multiplication per token).
    signing: ed25519_dalek::SigningKey,
    pub created_at: Timestamp,
    /// Set when a newer key replaced this one: from then on it only verifies, and at this time
    /// (after everything it signed or sealed has expired) it is no longer published or accepted.
    pub retires_at: Option<Timestamp>,
}

/// Where a key is in its life, for operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Signs new tokens.
    Active,
    /// Replaced: still published and verifying until `retires_at`.
    Retiring,
    /// No longer published or accepted; its private half awaits deletion.
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }
}

impl fmt::Debug for ProjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProjectKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("stored signing key {kid} is malformed")]
pub struct MalformedKey {
    pub kid: String,
}

impl ProjectKey {
    pub fn generate(now: Timestamp) -> Self {
        let signing = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        let public = signing.verifying_key().to_bytes();
        Self { kid: key_id(&public), secret: signing.to_bytes(), public, signing, created_at: now, retires_at: None }
    }

    /// Rebuilds a key from the store, checking that the halves belong together.
    pub fn from_stored(
        kid: String,
        secret: &[u8],
        created_at: Timestamp,
        retires_at: Option<Timestamp>,
    ) -> Result<Self, MalformedKey> {
        let secret: [u8; 32] = secret.try_into().map_err(|_| MalformedKey { kid: kid.clone() })?;
        let signing = ed25519_dalek::SigningKey::from_bytes(&secret);
        let public = signing.verifying_key().to_bytes();
        Ok(Self { kid, secret, public, signing, created_at, retires_at })
    }

    pub fn secret_bytes(&self) -> &[u8; 32] {
        &self.secret
    }

    pub fn public_bytes(&self) -> &[u8; 32] {
        &self.public
    }

    /// Whether the key is in the JWKS and accepted at `now`.
    pub fn is_published_at(&self, now: Timestamp) -> bool {
        self.retires_at.is_none_or(|r| now < r)
    }

    pub fn state_at(&self, now: Timestamp) -> KeyState {
        match self.retires_at {
            None => KeyState::Active,
            Some(_) if self.is_published_at(now) => KeyState::Retiring,
            Some(_) => KeyState::Retired,
        }
    }

    pub fn jwk(&self) -> PublicJwk {
        PublicJwk {
            kty: "OKP",
            crv: "Ed25519",
            alg: "EdDSA",
            key_use: "sig",
            kid: self.kid.clone(),
            x: URL_SAFE_NO_PAD.encode(self.public),
        }
    }

    pub fn decoding_key(&self) -> DecodingKey {
        DecodingKey::from_ed_der(&self.public)
    }

    /// Signs any claims as a compact JWT (JWS, RFC 7515) with this key's `kid`: EdDSA over
    /// `base64url(header) . base64url(claims)` with the expanded key, which jsonwebtoken would
    /// rebuild from PKCS#8 on every call. `verify_access_token` checks these with jsonwebtoken.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, jsonwebtoken::errors::Error> {
        use ed25519_dalek::Signer;
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        let mut jws = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?);
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(serde_json::to_vec(claims)?, &mut jws);
        let signature = self.signing.sign(jws.as_bytes());
        jws.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut jws);
        Ok(jws)
    }
}

/// RFC 7638-style thumbprint, shortened: stable, and derived from the public half only.
fn key_id(public: &[u8; 32]) -> String {
    let x = URL_SAFE_NO_PAD.encode(public);
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(&Sha256::digest(canonical.as_bytes())[..16])
}

/// The public half as published in `jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: &'static str,
    pub crv: &'static str,
    pub alg: &'static str,
    #[serde(rename = "use")]
    pub key_use: &'static str,
    pub kid: String,
    pub x: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Validation;

    #[derive(Serialize, Deserialize)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    #[test]
    fn signs_tokens_its_public_half_verifies() {
        let key = ProjectKey::generate(Timestamp::from_millis(0));
        let token = key.sign(&Claims { sub: "usr_1".into(), exp: 4_000_000_000 }).unwrap();
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(key.kid.as_str()));
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(&token, &key.decoding_key(), &validation).unwrap();
        assert_eq!(data.claims.sub, "usr_1");
    }

    #[test]
    fn stored_keys_round_trip_and_debug_hides_the_secret() {
        let key = ProjectKey::generate(Timestamp::from_millis(5));
        let back = ProjectKey::from_stored(key.kid.clone(), key.secret_bytes(), key.created_at, None).unwrap();
        assert_eq!(back.public_bytes(), key.public_bytes());
        assert!(!format!("{key:?}").contains(&format!("{:?}", key.secret_bytes())));
        assert!(ProjectKey::from_stored("k".into(), &[1, 2, 3], key.created_at, None).is_err());
    }

    #[test]
    fn jwk_carries_only_the_public_half() {
        let key = ProjectKey::generate(Timestamp::from_millis(0));
        let json = serde_json::to_value(key.jwk()).unwrap();
        assert_eq!(json["kty"], "OKP");
        assert_eq!(json["crv"], "Ed25519");
        assert!(json.get("d").is_none());
    }
}
