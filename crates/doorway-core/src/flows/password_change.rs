//! Changing the password from inside a session (the current one is required), and adding a
//! password to an account that has none (signed up by mail code or a provider).

use serde_json::json;

use crate::error::Unexpected;
use crate::events::ClientInfo;
use crate::flows::account::{Credential, SignupError};
use crate::flows::password_recovery::password_accepted;
use crate::flows::session::{SessionError, authenticate};
use crate::flows::{Audit, emit, enforce_rate_limit, record_outcome, user_event};
use crate::password::{Password, PasswordPolicy};
use crate::password_hashing::HashError;
use crate::project::ProjectContext;
use crate::rate_limit::RateLimited;
use crate::services::Services;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PasswordChangeError {
    #[error("not signed in")]
    Unauthenticated,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("the account has no password to change")]
    NoPassword,
    #[error("the account already has a password")]
    PasswordAlreadySet,
    #[error("{0}")]
    PasswordNotAccepted(&'static str),
    #[error("the password breaks the project's policy")]
    WeakPassword(Vec<String>),
    #[error("too many attempts")]
    RateLimited(RateLimited),
    #[error("too many password changes are being processed; retry shortly")]
    Busy { retry_after_secs: u64 },
    #[error("password change failed: {0}")]
    Unexpected(#[source] Unexpected),
}

impl From<StoreError> for PasswordChangeError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<SessionError> for PasswordChangeError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Unexpected(u) => Self::Unexpected(u),
            _ => Self::Unauthenticated,
        }
    }
}

fn hash_error(e: HashError) -> PasswordChangeError {
    match e {
        HashError::Busy => PasswordChangeError::Busy { retry_after_secs: 1 },
        other => PasswordChangeError::Unexpected(Unexpected::context("hashing the password", other)),
    }
}

fn checked(
    ctx: &ProjectContext,
    password: Password,
    policy: &PasswordPolicy,
) -> Result<Credential, PasswordChangeError> {
    password_accepted(ctx).map_err(PasswordChangeError::PasswordNotAccepted)?;
    Credential::checked(password, policy).map_err(|e| match e {
        SignupError::WeakPassword(reasons) => PasswordChangeError::WeakPassword(reasons),
        other => PasswordChangeError::Unexpected(Unexpected::context("checking the password", other)),
    })
}

/// Replaces the password after checking the current one; the new one is held against `policy`
/// (the project's, or the contract's own). Every other session of the user is
/// revoked; the one that asked stays signed in.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "password", outcome = tracing::field::Empty))]
pub async fn change_password(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
    current: Password,
    new: Password,
    policy: &PasswordPolicy,
    client: &ClientInfo,
) -> Result<(), PasswordChangeError> {
    let result: Result<(), PasswordChangeError> = async {
        let (claims, user) = authenticate(svc, ctx, access_token).await?;
        let audit = Audit { ctx, action: "password.change", method: Some("password"), client };
        let credential = checked(ctx, new, policy)?;
        // A stolen access token must not become a password-guessing oracle: the sign-in budget applies.
        let rule = ctx.project.settings.rate_limits.sign_in;
        enforce_rate_limit(svc, &audit, "sign_in", rule, client.ip.as_deref())
            .await
            .map_err(PasswordChangeError::RateLimited)?;
        let Some(phc) = svc.store.password_of(&user.id).await? else {
            return Err(PasswordChangeError::NoPassword);
        };
        if !svc.hasher.verify(current, &phc).await.map_err(hash_error)? {
            audit.record_refusal(svc.store.as_ref(), "invalid_credentials", Some(&user.id), svc.clock.now()).await;
            return Err(PasswordChangeError::WrongPassword);
        }
        let new_phc = svc.hasher.hash(credential.into_password()).await.map_err(hash_error)?;

        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        // Checked outside the transaction: a concurrent change or reset wins, this one is refused.
        if tx.lock_password(&user.id).await?.as_deref() != Some(phc.as_str()) {
            drop(tx);
            audit.record_refusal(svc.store.as_ref(), "password_changed_meanwhile", Some(&user.id), now).await;
            return Err(PasswordChangeError::WrongPassword);
        }
        tx.delete_password(&user.id).await?;
        tx.insert_password(&user.id, &new_phc, now).await?;
        let revoked = tx.revoke_user_sessions(&user.id, Some(&claims.sid), now).await?;
        let mut entry = audit.entry("ok", Some(&user.id), now);
        entry.detail = json!({ "sessionsRevoked": revoked });
        tx.insert_audit(&entry).await?;
        emit(tx.as_mut(), ctx, "user.password_changed", json!({ "user": user_event(&user), "reason": "change" }), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    record_outcome(result)
}

/// Gives a password to a signed-in account that has none.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "password", outcome = tracing::field::Empty))]
pub async fn add_password(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
    new: Password,
    policy: &PasswordPolicy,
    client: &ClientInfo,
) -> Result<(), PasswordChangeError> {
    let result: Result<(), PasswordChangeError> = async {
        let (_, user) = authenticate(svc, ctx, access_token).await?;
        let audit = Audit { ctx, action: "password.add", method: Some("password"), client };
        let credential = checked(ctx, new, policy)?;
        if svc.store.password_of(&user.id).await?.is_some() {
            return Err(PasswordChangeError::PasswordAlreadySet);
        }
        let phc = svc.hasher.hash(credential.into_password()).await.map_err(hash_error)?;
        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        if tx.lock_password(&user.id).await?.is_some() {
            return Err(PasswordChangeError::PasswordAlreadySet);
        }
        tx.insert_password(&user.id, &phc, now).await?;
        audit.record_in(tx.as_mut(), "ok", Some(&user.id), now).await?;
        emit(tx.as_mut(), ctx, "user.password_changed", json!({ "user": user_event(&user), "reason": "added" }), now)
            .await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    record_outcome(result)
}
