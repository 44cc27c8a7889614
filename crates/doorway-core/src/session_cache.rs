//! A short-lived, bounded in-process cache of bearer checks: session checks keyed by session id
//! (`sid`), so that a check reads the session row at most once per TTL instead of on every
//! request; and verified access tokens keyed by the SHA-256 of their bytes, so a client that
//! sends the same token many times a second pays for the EdDSA verification once per TTL.
//!
//! Staleness: a revocation committed by THIS process invalidates every cached check at once
//! (the store counts committed revocations, and an entry taken before the count moved is not
//! used). A revocation committed by ANOTHER instance on the same database is seen at the
//! latest one TTL later: that TTL is the window in which a revoked session's access token may
//! still pass a check on the other instances (its signature and expiry are checked anyway).
//!
//! A verified token is only reused for the project it was verified for, while the key that
//! verified it is still published, and its expiry is checked on every use: the cache never
//! accepts what a fresh verification would refuse.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::project::ProjectContext;
use crate::session::{AccessClaims, Session, verify_access_token, verify_access_token_with_kid};

/// Bound on entries (about 100 bytes each): past it, expired entries go, then everything.
const MAX_ENTRIES: usize = 65_536;

/// Bound on verified tokens (about 300 bytes each), pruned the same way.
const MAX_TOKENS: usize = 8_192;

/// What a check needs of a session.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedSession {
    pub project_id: String,
    pub expires_at: Timestamp,
    pub revoked: bool,
}

impl CachedSession {
    pub fn is_active(&self, now: Timestamp) -> bool {
        !self.revoked && now < self.expires_at
    }
}

impl From<&Session> for CachedSession {
    fn from(s: &Session) -> Self {
        Self { project_id: s.project_id.clone(), expires_at: s.expires_at, revoked: s.revoked_at.is_some() }
    }
}

struct Entry {
    session: CachedSession,
    /// The store's revocation count when the row was read.
    revocations: u64,
    read_at: Instant,
}

struct VerifiedToken {
    project_id: Box<str>,
    kid: String,
    claims: AccessClaims,
    verified_at: Instant,
}

pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<Box<str>, Entry>>,
    tokens: Mutex<HashMap<[u8; 32], VerifiedToken>>,
}

impl SessionCache {
    /// A TTL of zero turns the cache off.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()), tokens: Mutex::new(HashMap::new()) }
    }

    /// The claims of `token` if it verifies for this project now (signature, issuer, audience,
    /// expiry: `verify_access_token`), reusing a verification of the same bytes for the same
    /// project less than a TTL old.
    pub fn verified_claims(&self, ctx: &ProjectContext, token: &str, now: Timestamp) -> Option<AccessClaims> {
        if self.ttl.is_zero() {
            return verify_access_token(ctx, token, now);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        {
            let tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(hit) = tokens.get(&key)
                && *hit.project_id == *ctx.project.id
                && hit.verified_at.elapsed() < self.ttl
            {
                let key_published = ctx.published_keys(now).any(|k| k.kid == hit.kid);
                return (key_published && now.seconds() < hit.claims.exp).then(|| hit.claims.clone());
            }
        }
        let (claims, kid) = verify_access_token_with_kid(ctx, token, now)?;
        let mut tokens = self.tokens.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.len() >= MAX_TOKENS && !tokens.contains_key(&key) {
            let ttl = self.ttl;
            tokens.retain(|_, t| t.verified_at.elapsed() < ttl);
            if tokens.len() >= MAX_TOKENS {
                tokens.clear();
            }
        }
        let entry = VerifiedToken {
            project_id: ctx.project.id.as_str().into(),
            kid,
            claims: claims.clone(),
            verified_at: Instant::now(),
        };
        tokens.insert(key, entry);
        Some(claims)
    }

    pub fn disabled() -> Self {
        Self::new(Duration::ZERO)
    }

    /// The cached check of `sid`, if it was read less than a TTL ago and no revocation has been
    /// committed here since (`revocations` is the store's count now).
    pub fn get(&self, sid: &str, revocations: u64) -> Option<CachedSession> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.get(sid)?;
        (entry.revocations == revocations && entry.read_at.elapsed() < self.ttl).then(|| entry.session.clone())
    }

    /// Remembers a check read from the store; `revocations` is the store's count taken BEFORE
    /// the read, so a revocation committed during the read makes the entry unusable.
    pub fn put(&self, sid: &str, session: CachedSession, revocations: u64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(sid) {
            let ttl = self.ttl;
            entries.retain(|_, e| e.revocations == revocations && e.read_at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(sid.into(), Entry { session, revocations, read_at: Instant::now() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn active() -> CachedSession {
        CachedSession { project_id: "prj_1".into(), expires_at: Timestamp::from_millis(10), revoked: false }
    }

    #[test]
    fn serves_an_entry_until_a_local_revocation_or_the_ttl() {
        let cache = SessionCache::new(Duration::from_millis(50));
        cache.put("ses_1", active(), 3);
        assert_eq!(cache.get("ses_1", 3), Some(active()));
        assert_eq!(cache.get("ses_1", 4), None, "a revocation committed since invalidates it");
        assert_eq!(cache.get("ses_2", 3), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("ses_1", 3), None, "older than the TTL");
    }

    #[test]
    fn a_verified_token_is_reused_only_for_its_project_and_until_it_expires() {
        use crate::events::ClientInfo;
        use crate::session::tests::ctx;
        use crate::session::{new_session, sign_access_token};
        let (a, b) = (ctx("acme"), ctx("beta"));
        let now = Timestamp::from_millis(1_700_000_000_000);
        let s = new_session(&a, "usr_1", &["pwd"], &ClientInfo::default(), now);
        let token = sign_access_token(&a, &s.session, &[], false, now).unwrap().token;
        let cache = SessionCache::new(Duration::from_secs(60));
        let first = cache.verified_claims(&a, &token, now).unwrap();
        assert_eq!(cache.verified_claims(&a, &token, now), Some(first), "served from the cache");
        assert_eq!(cache.verified_claims(&b, &token, now), None, "not for another project");
        assert_eq!(cache.verified_claims(&a, &token, now.plus_seconds(3600)), None, "expired, cached or not");
        let mut tampered = token.clone();
        tampered.insert(tampered.len() - 5, 'x');
        assert_eq!(cache.verified_claims(&a, &tampered, now), None);
    }

    #[test]
    fn a_zero_ttl_caches_nothing() {
        let cache = SessionCache::disabled();
        cache.put("ses_1", active(), 0);
        assert_eq!(cache.get("ses_1", 0), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = SessionCache::new(Duration::from_secs(60));
        for i in 0..MAX_ENTRIES + 10 {
            cache.put(&format!("ses_{i}"), active(), 0);
        }
        let len = cache.entries.lock().map(|e| e.len()).unwrap_or_default();
        assert!(len <= MAX_ENTRIES, "{len}");
        assert!(cache.get(&format!("ses_{}", MAX_ENTRIES + 9), 0).is_some(), "the newest is kept");
    }
}
