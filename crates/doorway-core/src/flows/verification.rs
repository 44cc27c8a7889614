//! Email verification by code or link, and the mail budget per address.

use serde_json::json;

use crate::clock::Timestamp;
use crate::email::EmailAddress;
use crate::events::ClientInfo;
use crate::flows::account_securing::{self, Presenter};
use crate::flows::{Audit, emit, enforce_rate_limit, record_outcome, user_event};
use crate::ids::new_id;
use crate::keys::ProjectKey;
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
    Unexpected(#[source] crate::error::Unexpected),
}

impl From<StoreError> for CodeError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// How the user proves they read the mail.
pub enum Proof<'a> {
    Code { email: &'a str, code: &'a str },
    Link { token: &'a str },
}

/// Counts a mail with a new code for `email`: first against the requester's own budget for
/// that address (`rate_limits.verification_email`, keyed by client IP and address), then
/// against the address's cap (`rate_limits.verification_email_per_address`). A refused hit
/// costs nothing and the cap is only reached through requests a requester's budget let
/// through, so a third party spends its own budget, never the owner's, and needs many client
/// addresses to reach the cap.
pub(crate) async fn check_mail_budget(
    svc: &Services,
    audit: &Audit<'_>,
    email: &EmailAddress,
) -> Result<(), RateLimited> {
    let limits = &audit.ctx.project.settings.rate_limits;
    let requester = format!("{}|{}", requester(audit.client.ip.as_deref()), email.as_str());
    enforce_rate_limit(svc, audit, "verification_email", limits.verification_email, Some(&requester)).await?;
    let cap = limits.verification_email_per_address;
    enforce_rate_limit(svc, audit, "verification_email_per_address", cap, Some(email.as_str())).await
}

/// Counts a code mail for `recipient`. Re-sending the live code spends no budget, only the
/// address's re-send allowance (`rate_limits.verification_resend`, against mail bombing):
/// whoever asks, the mail goes to the owner, with the code the owner already has. A new code
/// (none is live) is counted by [`check_mail_budget`].
pub(crate) async fn check_code_mail_budget(
    svc: &Services,
    audit: &Audit<'_>,
    email: &EmailAddress,
    recipient: Recipient<'_>,
    purpose: CodePurpose,
) -> Result<(), RateLimited> {
    let now = svc.clock.now();
    let live = async {
        let mut tx = svc.store.begin().await?;
        let latest = tx.latest_verification(&audit.ctx.project.id, email, purpose).await?;
        // Nothing was written; committing ends the transaction (and SQLite's write lock) now.
        tx.commit().await?;
        Ok::<_, StoreError>(live_code(audit.ctx, latest, recipient, now).is_some())
    };
    match live.await {
        Ok(true) => {
            let rule = audit.ctx.project.settings.rate_limits.verification_resend;
            enforce_rate_limit(svc, audit, "verification_resend", rule, Some(email.as_str())).await
        }
        Ok(false) => check_mail_budget(svc, audit, email).await,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look up the live code; counting the mail as a new code");
            check_mail_budget(svc, audit, email).await
        }
    }
}

/// The verification `latest` if it is `recipient`'s and can still be used, with its key.
fn live_code(
    ctx: &ProjectContext,
    latest: Option<Verification>,
    recipient: Recipient<'_>,
    now: Timestamp,
) -> Option<(Verification, ProjectKey)> {
    let max_attempts = i64::from(ctx.project.settings.verification.max_attempts);
    // Only the same recipient's code is re-sent: an account made after a code was asked for
    // the bare address gets a code of its own.
    let v = latest.filter(|v| v.user_id.as_deref() == recipient.user_id())?;
    let key = ctx.keys.iter().find(|k| k.kid == v.kid)?;
    v.is_usable(now, max_attempts).then(|| (v, key.clone()))
}

/// Who asks: the client IP, or its /64 for IPv6 (one host usually holds a whole /64).
fn requester(ip: Option<&str>) -> String {
    match ip.and_then(|ip| ip.parse::<std::net::IpAddr>().ok()).map(|ip| ip.to_canonical()) {
        Some(std::net::IpAddr::V6(v6)) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
        Some(v4) => v4.to_string(),
        None => ip.unwrap_or("-").to_owned(),
    }
}

/// Who a code mail is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Recipient<'a> {
    /// The account's owner: the mail goes out.
    Account(&'a str),
    /// An address with no account (or nothing to verify): the same statements run, with a
    /// verification row without a user (so wrong codes are counted as for an account) and a
    /// suppressed delivery, so that neither the answer nor its timing says which it was.
    Nobody,
}

impl Recipient<'_> {
    fn user_id(&self) -> Option<&str> {
        match self {
            Self::Account(id) => Some(id),
            Self::Nobody => None,
        }
    }
}

/// Where the link in a code mail leads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LinkTarget<'a> {
    /// Doorway's own landing page for the purpose.
    Doorway,
    /// The app's page (already checked against the project's allow-list), with the link
    /// token in query parameter `query_param`.
    App { url: &'a url::Url, query_param: &'a str },
}

/// Queues a mail with the address's still-valid code for `purpose` (the same code as before),
/// or with a new code when there is none, in the caller's transaction.
pub(crate) async fn send_code(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    email: &EmailAddress,
    recipient: Recipient<'_>,
    purpose: CodePurpose,
    now: Timestamp,
) -> Result<(), StoreError> {
    send_code_linking(tx, ctx, email, recipient, purpose, LinkTarget::Doorway, now).await
}

/// [`send_code`], with the mail's link leading to `target`.
pub(crate) async fn send_code_linking(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    email: &EmailAddress,
    recipient: Recipient<'_>,
    purpose: CodePurpose,
    target: LinkTarget<'_>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let status = match recipient {
        Recipient::Account(_) => DeliveryStatus::Pending,
        Recipient::Nobody => DeliveryStatus::Suppressed,
    };
    let latest = tx.latest_verification(&ctx.project.id, email, purpose).await?;
    let (verification, key) = match live_code(ctx, latest, recipient, now) {
        Some(found) => found,
        None => {
            let (v, key) = new_verification(ctx, email, recipient.user_id(), purpose, now)?;
            tx.insert_verification(&v).await?;
            (v, key)
        }
    };
    let token = link_token_for(&key, &verification.id);
    let link = match target {
        LinkTarget::Doorway => {
            let path = match purpose {
                CodePurpose::VerifyEmail => "/api/auth/verify-email",
                CodePurpose::SignIn => "/api/auth/sign-in/email-link",
                CodePurpose::PasswordReset => "/api/auth/reset-password",
            };
            format!("{}{path}?token={token}", ctx.issuer)
        }
        LinkTarget::App { url, query_param } => {
            let mut url = url.clone();
            url.query_pairs_mut().append_pair(query_param, &token);
            url.into()
        }
    };
    let minutes = ((verification.expires_at.millis() - now.millis()).max(0) as u64).div_ceil(60_000).max(1) as u32;
    let mail = code_mail(purpose, &ctx.project.name, &code_for(&key, &verification.id), &link, minutes);
    tx.insert_delivery(&Delivery {
        id: new_id("mail"),
        project_id: ctx.project.id.clone(),
        event_id: verification.id.clone(),
        kind: DeliveryKind::Mail,
        target: email.to_string(),
        body: serde_json::to_string(&mail).map_err(StoreError::unexpected)?,
        status,
        attempts: 0,
        next_attempt_at: now,
        claimed_until: None,
        last_error: None,
        created_at: now,
        delivered_at: None,
    })
    .await
}

/// A fresh verification (not stored yet) and the key its code and link derive from.
fn new_verification(
    ctx: &ProjectContext,
    email: &EmailAddress,
    user_id: Option<&str>,
    purpose: CodePurpose,
    now: Timestamp,
) -> Result<(Verification, ProjectKey), StoreError> {
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
        expires_at: now.plus_seconds(i64::from(ctx.project.settings.verification.code_ttl_secs)),
        consumed_at: None,
    };
    Ok((v, key))
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
            Ok(email) => match tx.latest_verification(&ctx.project.id, &email, purpose).await? {
                Some(v) => Some(v),
                None => {
                    // No code for this address: count the wrong code on a verification without
                    // a user, so that attempts run out as they would for an account.
                    let (mut v, _) = new_verification(ctx, &email, None, purpose, now)?;
                    v.attempts = 1;
                    tx.insert_verification(&v).await?;
                    return Ok(Err(CodeError::Invalid));
                }
            },
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
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "email_code", outcome = tracing::field::Empty))]
pub async fn verify_email(
    svc: &Services,
    ctx: &ProjectContext,
    proof: Proof<'_>,
    access_token: Option<&str>,
    client: &ClientInfo,
) -> Result<User, CodeError> {
    let result: Result<User, CodeError> = async {
        let now = svc.clock.now();
        let audit = Audit { ctx, action: "verify_email", method: Some(proof_method(&proof)), client };
        check_code_budget(svc, &audit).await?;
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
    .await;
    record_outcome(result)
}

/// Counts one presented code or link against the client's budget (`rate_limits.code_verification`).
pub(crate) async fn check_code_budget(svc: &Services, audit: &Audit<'_>) -> Result<(), CodeError> {
    let rule = audit.ctx.project.settings.rate_limits.code_verification;
    enforce_rate_limit(svc, audit, "code_verification", rule, audit.client.ip.as_deref())
        .await
        .map_err(CodeError::RateLimited)
}

/// Sends the verification mail again (the same code while valid), within the mail budget.
/// Says nothing about whether the address has an account, in its answer or its timing.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "email", outcome = tracing::field::Empty))]
pub async fn resend_verification(
    svc: &Services,
    ctx: &ProjectContext,
    email: &EmailAddress,
    client: &ClientInfo,
) -> Result<(), CodeError> {
    let result: Result<(), CodeError> = async {
        let audit = Audit { ctx, action: "verify_email.resend", method: Some("email"), client };
        let user = svc.store.user_with_password(&ctx.project.id, email).await?.map(|(user, _)| user);
        let unverified = user.as_ref().filter(|u| !u.email_verified);
        let (recipient, outcome) = match unverified {
            Some(user) => (Recipient::Account(&user.id), "ok"),
            None => (Recipient::Nobody, "denied:nothing_to_verify"),
        };
        check_code_mail_budget(svc, &audit, email, recipient, CodePurpose::VerifyEmail)
            .await
            .map_err(CodeError::RateLimited)?;
        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        send_code(tx.as_mut(), ctx, email, recipient, CodePurpose::VerifyEmail, now).await?;
        audit.record_in(tx.as_mut(), outcome, user.as_ref().map(|u| u.id.as_str()), now).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    record_outcome(result)
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

#[cfg(test)]
mod tests {
    use super::requester;

    #[test]
    fn requesters_are_client_ips_with_ipv6_by_64() {
        assert_eq!(requester(Some("203.0.113.7")), "203.0.113.7");
        assert_eq!(requester(Some("::ffff:203.0.113.7")), "203.0.113.7");
        assert_eq!(requester(Some("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(requester(Some("2001:db8:1:2:ffff::9")), requester(Some("2001:db8:1:2::1")));
        assert_eq!(requester(None), "-");
    }
}
