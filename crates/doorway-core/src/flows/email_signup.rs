//! Sign-up by email with an optional password (Storyden, and native passwordless projects).
//!
//! A new address gets an account, a session and a verification mail. For an address that is
//! already registered the caller chooses: refuse, or re-send the verification mail with the
//! same code (Storyden's "sign-up doubles as resend") — never a session.

use crate::email::EmailAddress;
use crate::events::ClientInfo;
use crate::flows::account::{Credential, NewAccount, OrganizationPlan, SignupError, SignupOutcome, create_account};
use crate::flows::verification::{Recipient, check_code_mail_budget, send_code};
use crate::flows::{Audit, enforce_rate_limit, record_outcome};
use crate::mail::CodePurpose;
use crate::password::{Password, PasswordPolicy};
use crate::project::{PasswordMode, ProjectContext};
use crate::services::Services;
use crate::user::ProfileDraft;

pub struct EmailSignup {
    pub email: EmailAddress,
    pub password: Option<Password>,
    pub mode: PasswordMode,
    pub policy: PasswordPolicy,
    pub profile: ProfileDraft,
    pub organization_name: Option<String>,
    pub client: ClientInfo,
    pub on_existing: OnExisting,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Answer `EmailTaken`.
    Refuse,
    /// Re-send the verification mail (same code while valid) and answer `AlreadyRegistered`.
    ResendVerification,
}

pub enum EmailSignupOutcome {
    Created(Box<SignupOutcome>),
    AlreadyRegistered,
}

#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "email", outcome = tracing::field::Empty))]
pub async fn sign_up(
    svc: &Services,
    ctx: &ProjectContext,
    cmd: EmailSignup,
) -> Result<EmailSignupOutcome, SignupError> {
    record_outcome(sign_up_inner(svc, ctx, cmd).await)
}

async fn sign_up_inner(
    svc: &Services,
    ctx: &ProjectContext,
    cmd: EmailSignup,
) -> Result<EmailSignupOutcome, SignupError> {
    let audit = Audit { ctx, action: "signup", method: Some("email"), client: &cmd.client };
    let rule = ctx.project.settings.rate_limits.email_signup;
    enforce_rate_limit(svc, &audit, "email_signup", rule, cmd.client.ip.as_deref())
        .await
        .map_err(SignupError::RateLimited)?;
    let credential = match (cmd.password, cmd.mode) {
        (None, PasswordMode::Required) => return Err(SignupError::PasswordNotAccepted("Password is required")),
        (Some(_), PasswordMode::Off) => {
            return Err(SignupError::PasswordNotAccepted("This project signs in by email code only; send no password"));
        }
        (Some(password), _) => Some(Credential::checked(password, &cmd.policy)?),
        (None, _) => None,
    };

    if let Some((user, _)) = svc.store.user_with_password(&ctx.project.id, &cmd.email).await? {
        if cmd.on_existing == OnExisting::Refuse {
            audit.record_refusal(svc.store.as_ref(), "email_taken", None, svc.clock.now()).await;
            return Err(SignupError::EmailTaken);
        }
        let purpose = CodePurpose::VerifyEmail;
        check_code_mail_budget(svc, &audit, &cmd.email, Recipient::Account(&user.id), purpose)
            .await
            .map_err(SignupError::RateLimited)?;
        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        if !user.email_verified {
            send_code(tx.as_mut(), ctx, &cmd.email, Recipient::Account(&user.id), CodePurpose::VerifyEmail, now)
                .await?;
        }
        audit.record_in(tx.as_mut(), "denied:email_exists", Some(&user.id), now).await?;
        tx.commit().await?;
        return Ok(EmailSignupOutcome::AlreadyRegistered);
    }

    let account = NewAccount {
        credential,
        profile: cmd.profile,
        organization: cmd.organization_name.map(OrganizationPlan::Named),
        send_verification: true,
        ..NewAccount::new(cmd.email)
    };
    match create_account(svc, ctx, &audit, account).await {
        Ok(outcome) => Ok(EmailSignupOutcome::Created(Box::new(outcome))),
        // Lost a race with another sign-up of the same address.
        Err(SignupError::EmailTaken) if cmd.on_existing == OnExisting::ResendVerification => {
            Ok(EmailSignupOutcome::AlreadyRegistered)
        }
        Err(e) => Err(e),
    }
}
