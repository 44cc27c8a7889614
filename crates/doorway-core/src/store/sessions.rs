//! Sessions, their refresh-token families, and the provider sessions they came from.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Timestamp;
use crate::session::{RefreshToken, Session};

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn session(&self, session_id: &str) -> StoreResult<Option<Session>>;
    /// The user's sessions that are neither revoked nor expired at `now`, newest first.
    async fn active_sessions(&self, user_id: &str, now: Timestamp) -> StoreResult<Vec<Session>>;
}

#[async_trait]
pub trait SessionTx: Send {
    async fn insert_session(&mut self, session: &Session) -> StoreResult<()>;
    /// Reads the session and holds it until commit, so that everything done to one session
    /// (refresh, reuse, sign-out) happens one transaction at a time, in one lock order.
    async fn lock_session(&mut self, session_id: &str) -> StoreResult<Option<Session>>;
    /// Revokes the session and every refresh token of its family. The caller holds the
    /// session's row lock (`lock_session`, `refresh_token_with_session`).
    async fn revoke_session(&mut self, session_id: &str, now: Timestamp) -> StoreResult<()>;
    /// Revokes every active session of the user (but `except`) and their refresh tokens;
    /// returns how many sessions.
    async fn revoke_user_sessions(&mut self, user_id: &str, except: Option<&str>, now: Timestamp) -> StoreResult<u64>;
    async fn insert_refresh_token(&mut self, token: &RefreshToken) -> StoreResult<()>;
    async fn refresh_token_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<RefreshToken>>;
    /// The refresh token with this hash, its session (locked as `lock_session` locks it) and
    /// the session user's roles, in one statement.
    async fn refresh_token_with_session(&mut self, token_hash: &str) -> StoreResult<Option<TokenWithSession>>;
    /// Marks the token used. The caller read it unused with `refresh_token_with_session`,
    /// which holds its row until the transaction ends, so no other use can come between: a
    /// concurrent one waits, then reads it used. On PostgreSQL the write is deferred.
    async fn mark_refresh_token_used(&mut self, token_id: &str, now: Timestamp) -> StoreResult<()>;
    async fn insert_sso_session(&mut self, sso: &SsoSession) -> StoreResult<()>;
}

/// What a refresh reads at once: the presented token, its session, and the roles the new access
/// token carries (in name order).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenWithSession {
    pub token: RefreshToken,
    pub session: Session,
    pub roles: Vec<String>,
}

/// The provider session a Doorway session came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SsoSession {
    pub id: String,
    pub session_id: String,
    pub user_id: String,
    pub provider: String,
    pub subject: String,
    pub created_at: Timestamp,
}
