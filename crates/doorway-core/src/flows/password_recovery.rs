//! Forgotten passwords: a mail with a code and a link, then a new password.
//!
//! Asking says nothing about whether the address has an account (same answer, same statements,
//! a suppressed mail for nobody). Completing the reset proves the mailbox, so it verifies the
//! address (a first proof secures the account, see `account_securing`), replaces the password
//! and revokes every session: whoever knew the old password is signed out.

use serde_json::json;

use crate::email::EmailAddress;
use crate::error::Unexpected;
use crate::events::ClientInfo;
use crate::flows::account::{Credential, SignupError};
use crate::flows::account_securing::Presenter;
use crate::flows::verification::{
    CodeError, LinkTarget, Proof, Recipient, check_code_budget, check_code_mail_budget, denial, proof_method, redeem,
    send_code_linking,
};
use crate::flows::{Audit, emit, record_outcome, user_event};
use crate::mail::CodePurpose;
use crate::oauth::CallbackUrl;
use crate::password::{Password, PasswordPolicy};
use crate::password_hashing::HashError;
use crate::project::{PasswordMode, ProjectContext};
use crate::rate_limit::RateLimited;
use crate::services::Services;
use crate::store::StoreError;
use crate::user::User;

/// Where the mailed link leads.
#[derive(Debug, Clone)]
pub enum ResetLink {
    /// Doorway's own page: `{issuer}/api/auth/reset-password?token=…` (a form).
    Hosted,
    /// The app's page: `url` must be an absolute URL under the project's `redirect_allowlist`;
    /// the link token is added as query parameter `query_param`.
    App { url: String, query_param: String },
}

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    #[error("the address is not a valid email address")]
    InvalidEmail,
    #[error("the code or link is wrong")]
    Invalid,
    #[error("the code or link has expired or was used up; request a new one")]
    Expired,
    #[error("the reset link's URL is not allowed for this project")]
    LinkNotAllowed,
    #[error("{0}")]
    PasswordNotAccepted(&'static str),
    #[error("the password breaks the project's policy")]
    WeakPassword(Vec<String>),
    #[error("too many attempts")]
    RateLimited(RateLimited),
    #[error("too many password changes are being processed; retry shortly")]
    Busy { retry_after_secs: u64 },
    #[error("password reset failed: {0}")]
    Unexpected(#[source] Unexpected),
}

impl From<StoreError> for RecoveryError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

impl From<CodeError> for RecoveryError {
    fn from(e: CodeError) -> Self {
        match e {
            CodeError::Invalid => Self::Invalid,
            CodeError::Expired => Self::Expired,
            CodeError::RateLimited(r) => Self::RateLimited(r),
            CodeError::Unexpected(u) => Self::Unexpected(u),
        }
    }
}

/// Mails a reset code and link to the address's account; for an address without an account,
/// the same answer and no mail. Budgets are those of verification mails.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "email", outcome = tracing::field::Empty))]
pub async fn request_password_reset(
    svc: &Services,
    ctx: &ProjectContext,
    email: &str,
    link: ResetLink,
    client: &ClientInfo,
) -> Result<(), RecoveryError> {
    let result: Result<(), RecoveryError> = async {
        let email = EmailAddress::parse(email).map_err(|_| RecoveryError::InvalidEmail)?;
        let app_url = match &link {
            ResetLink::Hosted => None,
            ResetLink::App { url, query_param } => Some((app_link(ctx, url)?, query_param.as_str())),
        };
        password_accepted(ctx).map_err(RecoveryError::PasswordNotAccepted)?;
        let audit = Audit { ctx, action: "password.reset_requested", method: Some("email"), client };
        let user = svc.store.user_with_password(&ctx.project.id, &email).await?.map(|(user, _)| user);
        let (recipient, outcome) = match &user {
            Some(user) => (Recipient::Account(&user.id), "ok"),
            None => (Recipient::Nobody, "denied:unknown_address"),
        };
        check_code_mail_budget(svc, &audit, &email, recipient, CodePurpose::PasswordReset)
            .await
            .map_err(RecoveryError::RateLimited)?;
        let target = match &app_url {
            Some((url, query_param)) => LinkTarget::App { url, query_param },
            None => LinkTarget::Doorway,
        };
        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        send_code_linking(tx.as_mut(), ctx, &email, recipient, CodePurpose::PasswordReset, target, now).await?;
        audit.record_in(tx.as_mut(), outcome, user.as_ref().map(|u| u.id.as_str()), now).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    record_outcome(result)
}

/// The app's reset page, if it is an absolute http(s) URL under the project's allow-list.
fn app_link(ctx: &ProjectContext, raw: &str) -> Result<url::Url, RecoveryError> {
    CallbackUrl::parse(raw, &ctx.project.settings.redirect_allowlist)
        .and_then(|checked| url::Url::parse(checked.as_str()).ok())
        .ok_or(RecoveryError::LinkNotAllowed)
}

/// Projects that sign in only by mail have no passwords to reset.
pub(crate) fn password_accepted(ctx: &ProjectContext) -> Result<(), &'static str> {
    match ctx.project.settings.signup.password {
        PasswordMode::Off => Err("This project signs in by email code only; it has no passwords"),
        PasswordMode::Required | PasswordMode::Optional => Ok(()),
    }
}

/// Sets a new password with a reset code or link, held against `policy` (the project's, or the
/// contract's own where it has one, so that a reset accepts what its sign-up accepted). The
/// address counts as proved, and every session of the user is revoked.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "email_code", outcome = tracing::field::Empty))]
pub async fn reset_password(
    svc: &Services,
    ctx: &ProjectContext,
    proof: Proof<'_>,
    new_password: Password,
    policy: &PasswordPolicy,
    client: &ClientInfo,
) -> Result<User, RecoveryError> {
    let result: Result<User, RecoveryError> = async {
        let audit = Audit { ctx, action: "password.reset", method: Some(proof_method(&proof)), client };
        password_accepted(ctx).map_err(RecoveryError::PasswordNotAccepted)?;
        // The policy is checked before the code is spent, so a refused password costs no code.
        let credential = Credential::checked(new_password, policy).map_err(|e| match e {
            SignupError::WeakPassword(reasons) => RecoveryError::WeakPassword(reasons),
            other => RecoveryError::Unexpected(Unexpected::context("checking the password", other)),
        })?;
        check_code_budget(svc, &audit).await?;
        let phc = svc.hasher.hash(credential.into_password()).await.map_err(hash_error)?;

        let now = svc.clock.now();
        let presenter = Presenter::without_session(client);
        let mut tx = svc.store.begin().await?;
        let user = match redeem(tx.as_mut(), ctx, &proof, CodePurpose::PasswordReset, &presenter, now).await? {
            Ok(user) => user,
            Err(e) => {
                // Wrong codes are counted: the transaction is committed whatever the answer.
                audit.record_in(tx.as_mut(), &format!("denied:{}", denial(&e)), None, now).await?;
                tx.commit().await?;
                return Err(e.into());
            }
        };
        tx.delete_password(&user.id).await?;
        tx.insert_password(&user.id, &phc, now).await?;
        let revoked = tx.revoke_user_sessions(&user.id, None, now).await?;
        let mut entry = audit.entry("ok", Some(&user.id), now);
        entry.detail = json!({ "sessionsRevoked": revoked });
        tx.insert_audit(&entry).await?;
        emit(tx.as_mut(), ctx, "user.password_changed", json!({ "user": user_event(&user), "reason": "reset" }), now)
            .await?;
        tx.commit().await?;
        Ok(user)
    }
    .await;
    record_outcome(result)
}

pub(crate) fn hash_error(e: HashError) -> RecoveryError {
    match e {
        HashError::Busy => RecoveryError::Busy { retry_after_secs: 1 },
        other => RecoveryError::Unexpected(Unexpected::context("hashing the password", other)),
    }
}
