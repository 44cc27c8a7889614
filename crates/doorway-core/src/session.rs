//! Sessions, refresh tokens and access tokens.
//!
//! A session is the server-side record of a sign-in. Its refresh tokens form one family:
//! each refresh marks the presented token used and issues a child; presenting a used token
//! again means it was stolen or replayed, so the whole session is revoked.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::events::ClientInfo;
use crate::ids::new_id;
use crate::project::ProjectContext;

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    /// Authentication methods (`pwd`, `otp`, `oauth`, …).
    pub amr: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
    pub client: ClientInfo,
}

impl Session {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefreshToken {
    pub id: String,
    pub session_id: String,
    /// SHA-256 of the token; the token itself is never stored.
    pub token_hash: String,
    pub parent_id: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

/// A refresh token as handed to the client, once.
pub struct RefreshSecret(String);

impl RefreshSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn from_client(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }
}

impl std::fmt::Debug for RefreshSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshSecret(***)")
    }
}

pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest)
}

/// A new session with its first refresh token, not yet stored.
pub struct NewSession {
    pub session: Session,
    pub refresh: RefreshToken,
    pub refresh_secret: RefreshSecret,
}

pub fn new_session(
    ctx: &ProjectContext,
    user_id: &str,
    amr: &[&str],
    client: &ClientInfo,
    now: Timestamp,
) -> NewSession {
    let expires_at = now.plus_seconds(i64::from(ctx.project.settings.refresh_token_ttl_secs));
    let session = Session {
        id: new_id("ses"),
        project_id: ctx.project.id.clone(),
        user_id: user_id.to_owned(),
        amr: amr.iter().map(|s| (*s).to_owned()).collect(),
        created_at: now,
        expires_at,
        revoked_at: None,
        client: client.clone(),
    };
    let (refresh, refresh_secret) = child_refresh_token(&session, None, now);
    NewSession { session, refresh, refresh_secret }
}

/// The next refresh token of a session's family.
pub fn child_refresh_token(
    session: &Session,
    parent_id: Option<&str>,
    now: Timestamp,
) -> (RefreshToken, RefreshSecret) {
    let secret = RefreshSecret::generate();
    let token = RefreshToken {
        id: new_id("rt"),
        session_id: session.id.clone(),
        token_hash: secret.hash(),
        parent_id: parent_id.map(str::to_owned),
        created_at: now,
        // A refresh token never outlives its session.
        expires_at: session.expires_at,
        used_at: None,
        revoked_at: None,
    };
    (token, secret)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub sid: String,
    pub amr: Vec<String>,
    /// The user's project-wide roles (the project's `default_roles` given at sign-up), by name.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Set when sign-in skipped a second factor because the provider vouched for the user.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa_bypassed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the project has no signing key")]
    NoSigningKey,
    #[error("signing failed: {0}")]
    Signing(#[from] jsonwebtoken::errors::Error),
}

pub struct AccessToken {
    pub token: String,
    pub expires_at: Timestamp,
}

pub fn sign_access_token(
    ctx: &ProjectContext,
    session: &Session,
    roles: &[String],
    mfa_bypassed: bool,
    now: Timestamp,
) -> Result<AccessToken, TokenError> {
    let key = ctx.signing_key().ok_or(TokenError::NoSigningKey)?;
    let expires_at = now.plus_seconds(i64::from(ctx.project.settings.access_token_ttl_secs)).min(session.expires_at);
    let claims = AccessClaims {
        iss: ctx.issuer.clone(),
        sub: session.user_id.clone(),
        aud: ctx.project.slug.to_string(),
        exp: expires_at.seconds(),
        iat: now.seconds(),
        sid: session.id.clone(),
        amr: session.amr.clone(),
        roles: roles.to_vec(),
        mfa_bypassed,
    };
    Ok(AccessToken { token: key.sign(&claims)?, expires_at })
}

/// Checks signature, issuer, audience and expiry (against the injected clock).
/// Whether the session is still active is the caller's second check.
pub fn verify_access_token(ctx: &ProjectContext, token: &str, now: Timestamp) -> Option<AccessClaims> {
    verify_access_token_with_kid(ctx, token, now).map(|(claims, _)| claims)
}

/// [`verify_access_token`], with the id of the key that verified it.
pub fn verify_access_token_with_kid(
    ctx: &ProjectContext,
    token: &str,
    now: Timestamp,
) -> Option<(AccessClaims, String)> {
    let header = jsonwebtoken::decode_header(token).ok()?;
    if header.alg != Algorithm::EdDSA {
        return None;
    }
    let kid = header.kid?;
    let key = ctx.published_keys(now).find(|k| k.kid == kid)?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[&ctx.issuer]);
    validation.set_audience(&[ctx.project.slug.as_str()]);
    validation.validate_exp = false;
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding_key(), &validation).ok()?.claims;
    (now.seconds() < claims.exp).then_some((claims, kid))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keys::ProjectKey;
    use crate::project::{Project, ProjectSettings, ProjectSlug};

    /// A project `slug` (id `prj_<slug>`) with one signing key.
    pub(crate) fn ctx(slug: &str) -> ProjectContext {
        let now = Timestamp::from_millis(0);
        ProjectContext {
            project: Project {
                id: format!("prj_{slug}"),
                slug: ProjectSlug::parse(slug).unwrap(),
                name: "P".into(),
                settings: ProjectSettings::default(),
                created_at: now,
                updated_at: now,
            },
            keys: vec![ProjectKey::generate(now)],
            issuer: format!("http://localhost/{slug}"),
        }
    }

    #[test]
    fn access_tokens_verify_until_they_expire() {
        let ctx = ctx("acme");
        let now = Timestamp::from_millis(1_700_000_000_000);
        let s = new_session(&ctx, "usr_1", &["pwd"], &ClientInfo::default(), now);
        let access = sign_access_token(&ctx, &s.session, &[], false, now).unwrap();
        let claims = verify_access_token(&ctx, &access.token, now).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_str(), claims.amr.clone()),
            ("usr_1", s.session.id.as_str(), vec!["pwd".to_owned()])
        );
        assert_eq!(claims.exp - claims.iat, 3600);
        assert!(verify_access_token(&ctx, &access.token, now.plus_seconds(3600)).is_none());
    }

    #[test]
    fn tokens_of_another_project_or_tampered_ones_fail() {
        let (a, b) = (ctx("acme"), ctx("beta"));
        let now = Timestamp::from_millis(1_700_000_000_000);
        let s = new_session(&a, "usr_1", &["pwd"], &ClientInfo::default(), now);
        let token = sign_access_token(&a, &s.session, &[], false, now).unwrap().token;
        assert!(verify_access_token(&b, &token, now).is_none());
        let mut tampered = token.clone();
        tampered.insert(tampered.len() - 5, 'x');
        assert!(verify_access_token(&a, &tampered, now).is_none());
        assert!(verify_access_token(&a, "not-a-jwt", now).is_none());
    }

    #[test]
    fn refresh_secrets_are_random_and_stored_hashed() {
        let (a, b) = (RefreshSecret::generate(), RefreshSecret::generate());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.hash(), hash_token(a.expose()));
        assert_ne!(a.hash(), a.expose());
        assert_eq!(format!("{a:?}"), "RefreshSecret(***)");
    }
}
