//! Email verification by code or link, and the mail budget per address.

use serde_json::json;

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::events::ClientInfo;
use crate::flows::account_securing::{self, Presenter};
use crate::flows::{Audit, emit, enforce_rate_limit, user_event};
use crate::ids::new_id;
use crate::mail::{CodePurpose, code_mail};
use crate::project::ProjectContext;
use crate::rate_limit::RateLimited;
use crate::services::Services;
use crate::store::{StoreError, StoreTx};
use crate::user::User;
use crate::verification::{Verification, code_for, hash_secret, link_token_for};
use crate::webhooks::{Delivery, DeliveryKind, DeliveryStatus};

#[derive(Debug, thiserror::Error)]
pub enum CodeError {
    #[error("the code or link is wrong")]
    Invalid,
    #[error("the code or link has expired or was used up; request a new one")]
    Expired,
    #[error("too many mails to this address")]
    RateLimited(RateLimited),
    #[error("verification failed: {0}")]
    Unexpected(String),
}

impl From<StoreError> for CodeError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.to_string())
    }
}

/// How the user proves they read the mail.
pub enum Proof<'a> {
    Code { email: &'a str, code: &'a str },
    Link { token: &'a str },
}

/// Counts one mail against the address's budget (`rate_limits.verification_email`).
pub(crate) async fn check_mail_budget(
    svc: &Services,
    audit: &Audit<'_>,
    email: &EmailAddress,
) -> Result<(), RateLimited> {
    let rule = audit.ctx.project.settings.rate_limits.verification_email;
    enforce_rate_limit(svc, audit, "verification_email", rule, Some(email.as_str())).await
}

/// Queues a mail with the address's still-valid code for `purpose` (the same code as before),
/// or with a new code when there is none, in the caller's transaction.
pub(crate) async fn send_code(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    email: &EmailAddress,
    user_id: Option<&str>,
    purpose: CodePurpose,
    now: Timestamp,
) -> Result<(), StoreError> {
    let settings = &ctx.project.settings.verification;
    let max_attempts = i64::from(settings.max_attempts);
    let existing = tx.latest_verification(&ctx.project.id, email, purpose).await?;
    let reusable = existing.and_then(|v| {
        let key = ctx.keys.iter().find(|k| k.kid == v.kid)?;
        v.is_usable(now, max_attempts).then(|| (v, key.clone()))
    });
    let (verification, key) = match reusable {
        Some(found) => found,
        None => {
            let key = ctx.signing_key().ok_or_else(|| StoreError::unexpected(NoKey))?.clone();
            let id = new_id("ver");
            let v = Verification {
                code_hash: hash_secret(&code_for(&key, &id)),
                link_hash: hash_secret(&link_token_for(&key, &id)),
                id,
                project_id: ctx.project.id.clone(),
                user_id: user_id.map(str::to_owned),
                email: email.clone(),
                purpose,
                kid: key.kid.clone(),
                attempts: 0,
                created_at: now,
                expires_at: now.plus_seconds(i64::from(settings.code_ttl_secs)),
                consumed_at: None,
            };
            tx.insert_verification(&v).await?;
            (v, key)
        }
    };
    let path = match purpose {
        CodePurpose::VerifyEmail => "/api/auth/verify-email",
        CodePurpose::SignIn => "/api/auth/sign-in/email-link",
    };
    let link = format!("{}{path}?token={}", ctx.issuer, link_token_for(&key, &verification.id));
    let minutes = ((verification.expires_at.millis() - now.millis()).max(0) as u64).div_ceil(60_000).max(1) as u32;
    let mail = code_mail(purpose, &ctx.project.name, &code_for(&key, &verification.id), &link, minutes);
    tx.insert_delivery(&Delivery {
        id: new_id("mail"),
        project_id: ctx.project.id.clone(),
        event_id: verification.id.clone(),
        kind: DeliveryKind::Mail,
        target: email.to_string(),
        body: serde_json::to_string(&mail).expect("mail serialises"),
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: now,
        claimed_until: None,
        last_error: None,
        created_at: now,
        delivered_at: None,
    })
    .await
}

#[derive(Debug, thiserror::Error)]
#[error("the project has no signing key to derive codes from")]
struct NoKey;

/// Checks a code or link inside the caller's transaction. On success the verification is
/// used up and the address is verified (a first proof secures the account: see
/// `account_securing`). Wrong codes are counted, so the caller must commit the transaction
/// whatever the answer.
pub(crate) async fn redeem(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    proof: &Proof<'_>,
    purpose: CodePurpose,
    presenter: &Presenter<'_>,
    now: Timestamp,
) -> Result<Result<User, CodeError>, StoreError> {
    let max_attempts = i64::from(ctx.project.settings.verification.max_attempts);
    let found = match proof {
        Proof::Code { email, .. } => match EmailAddress::parse(email) {
            Ok(email) => tx.latest_verification(&ctx.project.id, &email, purpose).await?,
            Err(_) => None,
        },
        Proof::Link { token } => {
            tx.verification_by_link_hash(&ctx.project.id, &hash_secret(token)).await?.filter(|v| v.purpose == purpose)
        }
    };
    let Some(v) = found else { return Ok(Err(CodeError::Invalid)) };
    if !v.is_usable(now, max_attempts) {
        return Ok(Err(CodeError::Expired));
    }
    if let Proof::Code { code, .. } = proof {
        let matches: bool =
            subtle::ConstantTimeEq::ct_eq(hash_secret(code.trim()).as_bytes(), v.code_hash.as_bytes()).into();
        if !matches {
            tx.count_verification_attempt(&v.id).await?;
            return Ok(Err(CodeError::Invalid));
        }
    }
    if !tx.consume_verification(&v.id, now).await? {
        return Ok(Err(CodeError::Expired));
    }
    let Some(user_id) = &v.user_id else { return Ok(Err(CodeError::Invalid)) };
    let Some(mut user) = tx.user_by_id(&ctx.project.id, user_id).await? else { return Ok(Err(CodeError::Invalid)) };
    if !user.email_verified {
        tx.mark_email_verified(&user.id, now).await?;
        user.email_verified = true;
        emit(tx, ctx, "user.verified", json!({ "user": user_event(&user) }), now).await?;
        account_securing::on_first_proof(tx, ctx, &user, presenter, now).await?;
    }
    Ok(Ok(user))
}

/// Verifies the address behind a code or link. `access_token` is the session the request
/// carried (Bearer or cookie), if any: proving the address inside the account's own session
/// keeps its credentials (see `account_securing`).
pub async fn verify_email(
    svc: &Services,
    ctx: &ProjectContext,
    proof: Proof<'_>,
    access_token: Option<&str>,
    client: &ClientInfo,
) -> Result<User, CodeError> {
    let now = svc.clock.now();
    let audit = Audit { ctx, action: "verify_email", method: Some(proof_method(&proof)), client };
    let presenter = Presenter::with_access_token(svc.store.as_ref(), ctx, access_token, client, now).await?;
    let mut tx = svc.store.begin().await?;
    let outcome = redeem(tx.as_mut(), ctx, &proof, CodePurpose::VerifyEmail, &presenter, now).await?;
    let (result, user_id) = match &outcome {
        Ok(user) => ("ok".to_owned(), Some(user.id.clone())),
        Err(e) => (format!("denied:{}", denial(e)), None),
    };
    audit.record_in(tx.as_mut(), &result, user_id.as_deref(), now).await?;
    tx.commit().await?;
    outcome
}

/// Sends the verification mail again (the same code while valid), within the mail budget.
/// Says nothing about whether the address has an account.
pub async fn resend_verification(
    svc: &Services,
    ctx: &ProjectContext,
    email: &EmailAddress,
    client: &ClientInfo,
) -> Result<(), CodeError> {
    let audit = Audit { ctx, action: "verify_email.resend", method: Some("email"), client };
    check_mail_budget(svc, &audit, email).await.map_err(CodeError::RateLimited)?;
    let Some((user, _)) = svc.store.user_with_password(&ctx.project.id, email).await? else { return Ok(()) };
    if user.email_verified {
        return Ok(());
    }
    let now = svc.clock.now();
    let mut tx = svc.store.begin().await?;
    send_code(tx.as_mut(), ctx, email, Some(&user.id), CodePurpose::VerifyEmail, now).await?;
    audit.record_in(tx.as_mut(), "ok", Some(&user.id), now).await?;
    tx.commit().await?;
    Ok(())
}

pub(crate) fn proof_method(proof: &Proof<'_>) -> &'static str {
    match proof {
        Proof::Code { .. } => "code",
        Proof::Link { .. } => "link",
    }
}

pub(crate) fn denial(e: &CodeError) -> &'static str {
    match e {
        CodeError::Invalid => "invalid_code",
        CodeError::Expired => "expired_code",
        CodeError::RateLimited(_) => "rate_limited",
        CodeError::Unexpected(_) => "error",
    }
}
