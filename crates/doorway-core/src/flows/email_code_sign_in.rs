//! Passwordless sign-in: a one-time code (or magic link) by mail, then a session.

use crate::email::EmailAddress;
use crate::events::ClientInfo;
use crate::flows::account_securing::Presenter;
use crate::flows::session::start_session;
use crate::flows::sign_in::SignInOutcome;
use crate::flows::verification::{
    CodeError, Proof, Recipient, check_code_budget, check_code_mail_budget, denial, proof_method, redeem, send_code,
};
use crate::flows::{Audit, record_outcome};
use crate::mail::CodePurpose;
use crate::project::ProjectContext;
use crate::services::Services;

/// Mails a sign-in code if the address has an account; the answer, the budget spent and the
/// work done are the same either way.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "otp", outcome = tracing::field::Empty))]
pub async fn request_code(
    svc: &Services,
    ctx: &ProjectContext,
    email: &EmailAddress,
    client: &ClientInfo,
) -> Result<(), CodeError> {
    let result: Result<(), CodeError> = async {
        let audit = Audit { ctx, action: "signin.code_requested", method: Some("otp"), client };
        let user = svc.store.user_with_password(&ctx.project.id, email).await?.map(|(user, _)| user);
        let (recipient, outcome) = match &user {
            Some(user) => (Recipient::Account(&user.id), "ok"),
            None => (Recipient::Nobody, "denied:no_account"),
        };
        check_code_mail_budget(svc, &audit, email, recipient, CodePurpose::SignIn)
            .await
            .map_err(CodeError::RateLimited)?;
        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        send_code(tx.as_mut(), ctx, email, recipient, CodePurpose::SignIn, now).await?;
        audit.record_in(tx.as_mut(), outcome, user.as_ref().map(|u| u.id.as_str()), now).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    record_outcome(result)
}

/// Whether the address has a sign-in code that can still be used: for a contract whose one
/// code endpoint takes both kinds of code (Storyden's `email/verify`), to know which it holds.
pub async fn sign_in_code_pending(
    svc: &Services,
    ctx: &ProjectContext,
    email: &EmailAddress,
) -> Result<bool, CodeError> {
    let now = svc.clock.now();
    let mut tx = svc.store.begin().await?;
    let latest = tx.latest_verification(&ctx.project.id, email, CodePurpose::SignIn).await?;
    // Nothing was written; committing ends the transaction (and SQLite's write lock) now.
    tx.commit().await?;
    let max_attempts = i64::from(ctx.project.settings.verification.max_attempts);
    Ok(latest.is_some_and(|v| v.is_usable(now, max_attempts)))
}

/// Exchanges a mailed code or link for a session (`amr: ["otp"]`); also verifies the address.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "otp", outcome = tracing::field::Empty))]
pub async fn sign_in(
    svc: &Services,
    ctx: &ProjectContext,
    proof: Proof<'_>,
    client: &ClientInfo,
) -> Result<SignInOutcome, CodeError> {
    let result: Result<SignInOutcome, CodeError> = async {
        let now = svc.clock.now();
        let audit = Audit { ctx, action: "signin", method: Some(proof_method(&proof)), client };
        check_code_budget(svc, &audit).await?;
        let mut tx = svc.store.begin().await?;
        // A sign-in by code proves the mailbox but is nobody's earlier session: a first proof here
        // drops what was set up before it, and the session made below is the only one left.
        let presenter = Presenter::without_session(client);
        let user = match redeem(tx.as_mut(), ctx, &proof, CodePurpose::SignIn, &presenter, now).await? {
            Ok(user) => user,
            Err(e) => {
                audit.record_in(tx.as_mut(), &format!("denied:{}", denial(&e)), None, now).await?;
                tx.commit().await?;
                return Err(e);
            }
        };
        let started = start_session(tx.as_mut(), ctx, &user, &["otp"], None, None, client, now).await?;
        audit.record_in(tx.as_mut(), "ok", Some(&user.id), now).await?;
        tx.commit().await?;
        let access = started.access_token(ctx, false, now).map_err(CodeError::Unexpected)?;
        Ok(SignInOutcome { user, session: started.session, access, refresh_secret: started.refresh_secret })
    }
    .await;
    record_outcome(result)
}
