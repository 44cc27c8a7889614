//! Sessions, refresh-token families and SSO sessions. Every change to one session locks the
//! session row first, then its tokens: one lock order.

use async_trait::async_trait;
use doorway_core::Timestamp;
use doorway_core::session::{RefreshToken, Session};
use doorway_core::store::{SessionStore, SessionTx, SsoSession, StoreResult, TokenWithSession};

use super::{PgStore, PgTx, SqliteStore, SqliteTx};
use crate::rows::{RefreshTokenRow, SessionRow, TokenWithSessionRow};

/// A refresh token with its session, locked (`FOR UPDATE` on PostgreSQL; SQLite's writer holds
/// the whole database), and the user's roles as a JSON array (each engine's aggregate): one
/// read where a refresh made two.
macro_rules! token_with_session {
    ($roles:literal $(, $lock:literal)?) => {
        concat!(
            "SELECT s.*, t.id AS token_id, t.token_hash AS token_hash, t.parent_id AS token_parent_id,
                    t.created_at AS token_created_at, t.expires_at AS token_expires_at,
                    t.used_at AS token_used_at, t.revoked_at AS token_revoked_at, ",
            $roles,
            " AS roles
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
             WHERE t.token_hash = $1"
            $(, $lock)?
        )
    };
}
const TOKEN_WITH_SESSION_SQLITE: &str =
    token_with_session!("(SELECT json_group_array(r.role) FROM user_roles r WHERE r.user_id = s.user_id)");
const TOKEN_WITH_SESSION_POSTGRES: &str = token_with_session!(
    "COALESCE((SELECT json_agg(r.role) FROM user_roles r WHERE r.user_id = s.user_id), '[]')::text",
    " FOR UPDATE OF t, s"
);

macro_rules! sessions {
    ($store:ident, $tx:ident, $backend:literal, $claim:expr, $row_lock:literal) => {
        #[async_trait]
        impl SessionStore for $store {
            async fn session(&self, session_id: &str) -> StoreResult<Option<Session>> {
                Ok(read_optional!(self, SessionRow, "SELECT * FROM sessions WHERE id = $1", session_id)?
                    .map(Session::from))
            }

            async fn active_sessions(&self, user_id: &str, now: Timestamp) -> StoreResult<Vec<Session>> {
                Ok(read_all!(
                    self,
                    SessionRow,
                    "SELECT * FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
                     ORDER BY created_at DESC, id DESC",
                    user_id,
                    now.millis(),
                )?
                .into_iter()
                .map(Session::from)
                .collect())
            }
        }

        #[async_trait]
        impl SessionTx for $tx {
            async fn insert_session(&mut self, s: &Session) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO sessions (id, project_id, user_id, amr, ip, user_agent, created_at, expires_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &s.id,
                    &s.project_id,
                    &s.user_id,
                    s.amr.join(" "),
                    &s.client.ip,
                    &s.client.user_agent,
                    s.created_at.millis(),
                    s.expires_at.millis(),
                    s.revoked_at.map(|t| t.millis()),
                )?;
                Ok(())
            }

            async fn lock_session(&mut self, session_id: &str) -> StoreResult<Option<Session>> {
                Ok(fetch_optional!(
                    SessionRow,
                    self,
                    concat!("SELECT * FROM sessions WHERE id = $1", $row_lock),
                    session_id,
                )?
                .map(Session::from))
            }

            async fn revoke_session(&mut self, session_id: &str, now: Timestamp) -> StoreResult<()> {
                self.revokes = true;
                // Deferred: every caller holds the session's row lock already (`lock_session`, or
                // the token's join), so the order in which a combined statement runs them is moot.
                defer!(
                    self,
                    "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
                    session_id,
                    now.millis(),
                )?;
                defer!(
                    self,
                    "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE session_id = $1",
                    session_id,
                    now.millis(),
                )?;
                Ok(())
            }

            async fn revoke_user_sessions(
                &mut self,
                user_id: &str,
                except: Option<&str>,
                now: Timestamp,
            ) -> StoreResult<u64> {
                self.revokes = true;
                // `''` is no session id: with no exception, every session matches.
                let except = except.unwrap_or("");
                // Sessions first, then their tokens: the lock order of every session change.
                let revoked = exec!(
                    self,
                    "UPDATE sessions SET revoked_at = $2
                     WHERE user_id = $1 AND id <> $3 AND revoked_at IS NULL AND expires_at > $2",
                    user_id,
                    now.millis(),
                    except,
                )?;
                exec!(
                    self,
                    "UPDATE refresh_tokens SET revoked_at = COALESCE(revoked_at, $2)
                     WHERE session_id IN (SELECT id FROM sessions WHERE user_id = $1 AND id <> $3)",
                    user_id,
                    now.millis(),
                    except,
                )?;
                Ok(revoked)
            }

            async fn insert_refresh_token(&mut self, t: &RefreshToken) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, used_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &t.id,
                    &t.session_id,
                    &t.token_hash,
                    &t.parent_id,
                    t.created_at.millis(),
                    t.expires_at.millis(),
                    t.used_at.map(|x| x.millis()),
                    t.revoked_at.map(|x| x.millis()),
                )?;
                Ok(())
            }

            async fn refresh_token_with_session(&mut self, token_hash: &str) -> StoreResult<Option<TokenWithSession>> {
                let sql = if $backend == "sqlite" { TOKEN_WITH_SESSION_SQLITE } else { TOKEN_WITH_SESSION_POSTGRES };
                fetch_optional!(TokenWithSessionRow, self, sql, token_hash)?.map(TokenWithSession::try_from).transpose()
            }

            async fn refresh_token_by_hash(&mut self, token_hash: &str) -> StoreResult<Option<RefreshToken>> {
                Ok(fetch_optional!(
                    RefreshTokenRow,
                    self,
                    "SELECT * FROM refresh_tokens WHERE token_hash = $1",
                    token_hash,
                )?
                .map(RefreshToken::from))
            }

            async fn mark_refresh_token_used(&mut self, token_id: &str, now: Timestamp) -> StoreResult<()> {
                // Deferred: the caller holds the token's row (`refresh_token_with_session`).
                defer!(self, "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1", token_id, now.millis())
            }

            async fn insert_sso_session(&mut self, s: &SsoSession) -> StoreResult<()> {
                exec!(
                    self,
                    "INSERT INTO sso_sessions (id, session_id, user_id, provider, subject, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &s.id,
                    &s.session_id,
                    &s.user_id,
                    &s.provider,
                    &s.subject,
                    s.created_at.millis(),
                )?;
                Ok(())
            }
        }
    };
}

for_both_engines!(sessions);
