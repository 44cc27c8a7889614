//! The life of a session after sign-in: refresh rotation with reuse detection, sign-out, and
//! authenticating a request by its access token.

use serde_json::json;

use crate::events::ClientInfo;
use crate::flows::{Audit, emit, record_outcome, session_event};
use crate::ids::new_id;
use crate::project::ProjectContext;
use crate::services::Services;
use crate::session::{
    AccessClaims, AccessToken, RefreshSecret, Session, child_refresh_token, new_session, sign_access_token,
    verify_access_token,
};
use crate::session_cache::CachedSession;
use crate::store::{SsoSession, StoreError, StoreTx, TokenWithSession};
use crate::user::User;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the refresh token is unknown, expired or revoked")]
    InvalidRefreshToken,
    #[error("the refresh token was already used; the session is revoked")]
    RefreshTokenReused,
    #[error("not signed in")]
    Unauthenticated,
    #[error("no such session of this user")]
    NotFound,
    #[error("session failure: {0}")]
    Unexpected(#[source] crate::error::Unexpected),
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// A session just started, with what its first access token needs.
pub(crate) struct Started {
    pub session: Session,
    pub refresh_secret: RefreshSecret,
    /// The user's roles, for the token's `roles` claim.
    pub roles: Vec<String>,
}

impl Started {
    /// Signs the session's first access token.
    pub(crate) fn access_token(
        &self,
        ctx: &ProjectContext,
        mfa_bypassed: bool,
        now: crate::Timestamp,
    ) -> Result<AccessToken, crate::error::Unexpected> {
        sign_access_token(ctx, &self.session, &self.roles, mfa_bypassed, now)
            .map_err(|e| crate::error::Unexpected::context("signing the access token", e))
    }
}

/// A new session with its refresh token and `session.created` event; with `sso` (provider id,
/// subject), also the SSO session of a provider sign-in. The first access token carries the
/// user's roles: `known_roles` when the caller just wrote them (a new account), else read in
/// the same transaction.
#[allow(clippy::too_many_arguments, reason = "one call per flow that starts a session")]
pub(crate) async fn start_session(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    user: &User,
    amr: &[&str],
    sso: Option<(&str, &str)>,
    known_roles: Option<Vec<String>>,
    client: &crate::events::ClientInfo,
    now: crate::Timestamp,
) -> Result<Started, StoreError> {
    let new = new_session(ctx, &user.id, amr, client, now);
    tx.insert_session(&new.session).await?;
    if let Some((provider, subject)) = sso {
        tx.insert_sso_session(&SsoSession {
            id: new_id("sso"),
            session_id: new.session.id.clone(),
            user_id: user.id.clone(),
            provider: provider.to_owned(),
            subject: subject.to_owned(),
            created_at: now,
        })
        .await?;
    }
    tx.insert_refresh_token(&new.refresh).await?;
    emit(tx, ctx, "session.created", json!({ "session": session_event(&new.session) }), now).await?;
    let roles = match known_roles {
        Some(roles) => roles,
        None => tx.user_roles(&user.id).await?,
    };
    Ok(Started { session: new.session, refresh_secret: new.refresh_secret, roles })
}

pub struct Refreshed {
    pub session: Session,
    pub access: AccessToken,
    pub refresh_secret: RefreshSecret,
}

#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "refresh_token", outcome = tracing::field::Empty))]
pub async fn refresh(
    svc: &Services,
    ctx: &ProjectContext,
    presented: &RefreshSecret,
    client: &ClientInfo,
) -> Result<Refreshed, SessionError> {
    let result: Result<Refreshed, SessionError> = async {
        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        // The roles are read with the token at every refresh, so a change of roles reaches
        // the next access token.
        let Some(TokenWithSession { token, session, roles }) = tx.refresh_token_with_session(&presented.hash()).await?
        else {
            return Err(SessionError::InvalidRefreshToken);
        };
        if session.project_id != ctx.project.id
            || token.revoked_at.is_some()
            || !session.is_active(now)
            || now >= token.expires_at
        {
            return Err(SessionError::InvalidRefreshToken);
        }
        let audit = Audit { ctx, action: "refresh", method: None, client };
        // The token's row, held since the read, decides races: of two concurrent uses the
        // second waits for this transaction, then reads the token used.
        if token.used_at.is_some() {
            tx.revoke_session(&session.id, now).await?;
            audit.record_in(tx.as_mut(), "denied:refresh_token_reused", Some(&session.user_id), now).await?;
            tx.commit().await?;
            tracing::warn!(session = %session.id, "refresh token reused: session revoked");
            return Err(SessionError::RefreshTokenReused);
        }
        tx.mark_refresh_token_used(&token.id, now).await?;
        let (child, secret) = child_refresh_token(&session, Some(&token.id), now);
        tx.insert_refresh_token(&child).await?;
        tx.commit().await?;
        let access = sign_access_token(ctx, &session, &roles, false, now)
            .map_err(|e| SessionError::Unexpected(crate::error::Unexpected::context("signing the access token", e)))?;
        Ok(Refreshed { session, access, refresh_secret: secret })
    }
    .await;
    record_outcome(result)
}

/// How the caller proves which session to end.
pub enum SessionProof<'a> {
    AccessToken(&'a str),
    RefreshToken(&'a RefreshSecret),
}

#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "session", outcome = tracing::field::Empty))]
pub async fn sign_out(
    svc: &Services,
    ctx: &ProjectContext,
    proof: SessionProof<'_>,
    client: &ClientInfo,
) -> Result<(), SessionError> {
    let result: Result<(), SessionError> = async {
        let now = svc.clock.now();
        // An access token is checked before the transaction: the single SQLite writer is held
        // for the statements only.
        let checked = match &proof {
            SessionProof::AccessToken(token) => verify_access_token(ctx, token, now).map(|c| c.sid),
            SessionProof::RefreshToken(_) => None,
        };
        let mut tx = svc.store.begin().await?;
        let session_id = match proof {
            SessionProof::AccessToken(_) => checked,
            SessionProof::RefreshToken(secret) => tx.refresh_token_by_hash(&secret.hash()).await?.map(|t| t.session_id),
        };
        let Some(session_id) = session_id else {
            return Err(SessionError::Unauthenticated);
        };
        let Some(session) = tx.lock_session(&session_id).await? else {
            return Err(SessionError::Unauthenticated);
        };
        if session.project_id != ctx.project.id || !session.is_active(now) {
            return Err(SessionError::Unauthenticated);
        }
        tx.revoke_session(&session.id, now).await?;
        Audit { ctx, action: "signout", method: None, client }
            .record_in(tx.as_mut(), "ok", Some(&session.user_id), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    record_outcome(result)
}

/// The user behind an access token whose session is still active.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "access_token", outcome = tracing::field::Empty))]
pub async fn authenticate(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
) -> Result<(AccessClaims, User), SessionError> {
    let result: Result<(AccessClaims, User), SessionError> = async {
        let claims = authenticated_claims(svc, ctx, access_token).await?;
        let user = svc.store.user_by_id(&ctx.project.id, &claims.sub).await?.ok_or(SessionError::Unauthenticated)?;
        Ok((claims, user))
    }
    .await;
    record_outcome(result)
}

/// The claims of an access token whose session is still active; the caller reads the user
/// (`authenticate`, or a read that brings more with it).
pub(crate) async fn authenticated_claims(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
) -> Result<AccessClaims, SessionError> {
    let now = svc.clock.now();
    let claims = svc.session_cache.verified_claims(ctx, access_token, now).ok_or(SessionError::Unauthenticated)?;
    let session = checked_session(svc, &claims.sid).await?.ok_or(SessionError::Unauthenticated)?;
    if !session.is_active(now) || session.project_id != ctx.project.id {
        return Err(SessionError::Unauthenticated);
    }
    Ok(claims)
}

/// What a check needs of the session `sid`: from the cache when it was read recently and no
/// revocation was committed here since, else from the store (and then cached).
async fn checked_session(svc: &Services, sid: &str) -> Result<Option<CachedSession>, StoreError> {
    let revocations = svc.store.session_revocations();
    if let Some(hit) = svc.session_cache.get(sid, revocations) {
        return Ok(Some(hit));
    }
    let Some(session) = svc.store.session(sid).await? else {
        return Ok(None);
    };
    let checked = CachedSession::from(&session);
    svc.session_cache.put(sid, checked.clone(), revocations);
    Ok(Some(checked))
}

/// One of the user's active sessions, as they see it in a session list.
pub struct SessionInfo {
    pub session: Session,
    /// Whether this is the session that asked.
    pub current: bool,
}

/// The signed-in user's active sessions, newest first.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "access_token", outcome = tracing::field::Empty))]
pub async fn list_sessions(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
) -> Result<Vec<SessionInfo>, SessionError> {
    let result = async {
        let (claims, user) = authenticate(svc, ctx, access_token).await?;
        let sessions = svc.store.active_sessions(&user.id, svc.clock.now()).await?;
        Ok(sessions.into_iter().map(|session| SessionInfo { current: session.id == claims.sid, session }).collect())
    }
    .await;
    record_outcome(result)
}

/// Ends one of the signed-in user's sessions (possibly the current one). Another user's
/// session, an unknown id and an ended session all answer `NotFound`.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "access_token", outcome = tracing::field::Empty))]
pub async fn revoke_own_session(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
    session_id: &str,
    client: &ClientInfo,
) -> Result<(), SessionError> {
    let result = async {
        let (_, user) = authenticate(svc, ctx, access_token).await?;
        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        match tx.lock_session(session_id).await? {
            Some(s) if s.user_id == user.id && s.is_active(now) => tx.revoke_session(&s.id, now).await?,
            _ => return Err(SessionError::NotFound),
        }
        let mut entry = Audit { ctx, action: "session.revoke", method: None, client }.entry("ok", Some(&user.id), now);
        entry.detail = json!({ "sessionId": session_id });
        tx.insert_audit(&entry).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    record_outcome(result)
}

/// Ends every session of the signed-in user, the current one included; returns how many.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "access_token", outcome = tracing::field::Empty))]
pub async fn sign_out_everywhere(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
    client: &ClientInfo,
) -> Result<u64, SessionError> {
    let result = async {
        let (_, user) = authenticate(svc, ctx, access_token).await?;
        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        let revoked = tx.revoke_user_sessions(&user.id, None, now).await?;
        let mut entry =
            Audit { ctx, action: "signout.everywhere", method: None, client }.entry("ok", Some(&user.id), now);
        entry.detail = json!({ "sessionsRevoked": revoked });
        tx.insert_audit(&entry).await?;
        tx.commit().await?;
        Ok(revoked)
    }
    .await;
    record_outcome(result)
}
