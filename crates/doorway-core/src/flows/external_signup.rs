//! External sign-up and sign-in after a provider round trip (Aufy).
//!
//! The callback does not sign in yet: it records what the provider vouched for as a pending,
//! single-use step (10 minutes) and tells the browser which step comes next. Sign-in then
//! exchanges a pending `signin`; sign-up exchanges a pending `signup` plus the fields of the
//! project's model.

use serde_json::{Value, json};

use crate::email::EmailAddress;
use crate::events::ClientInfo;
use crate::flows::account_linking::{Linking, decide};
use crate::flows::oauth_signup::{self, AccountOptions, OAuthError, OAuthOutcome};
use crate::flows::{Audit, record_outcome};
use crate::ids::new_id;
use crate::oauth::{ExternalProfile, IdentityProviders, Provider};
use crate::project::ProjectContext;
use crate::services::Services;
use crate::store::{OAuthState, PendingExternal};

pub(crate) const PENDING_TTL_SECS: i64 = 600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    SignIn,
    SignUp,
}

impl NextStep {
    fn kind(self) -> &'static str {
        match self {
            Self::SignIn => "signin",
            Self::SignUp => "signup",
        }
    }
}

fn profile_json(p: &ExternalProfile) -> Value {
    json!({
        "provider": p.provider, "subject": p.subject, "email": p.email.as_ref().map(|e| e.as_str()),
        "email_verified": p.email_verified, "name": p.name, "avatar_url": p.avatar_url,
    })
}

fn profile_from(v: &Value) -> Option<ExternalProfile> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    Some(ExternalProfile {
        provider: text("provider")?,
        subject: text("subject")?,
        email: text("email").map(EmailAddress::from_trusted),
        email_verified: v.get("email_verified").and_then(Value::as_bool).unwrap_or(false),
        name: text("name"),
        avatar_url: text("avatar_url"),
    })
}

/// Exchanges the code of a returning round trip and records the next step, as
/// `account_linking` decides: a known identity (or one that may be linked) signs in; a new one
/// signs up when the project has a sign-up model, and otherwise gets its account when it
/// signs in. The decision is taken again when the step completes.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "external", outcome = tracing::field::Empty))]
pub async fn after_callback(
    svc: &Services,
    idp: &dyn IdentityProviders,
    ctx: &ProjectContext,
    state: &OAuthState,
    code: &str,
    client: &ClientInfo,
) -> Result<(String, NextStep), OAuthError> {
    let result: Result<(String, NextStep), OAuthError> = async {
        let (provider, profile) = oauth_signup::exchange_returning(idp, ctx, state, code).await?;
        let store = svc.store.as_ref();
        let step = match decide(store, &ctx.project.id, &profile).await?.ok_or(OAuthError::NoEmail)? {
            Linking::SignIn(_) | Linking::Link(_) => NextStep::SignIn,
            Linking::Create(_) if ctx.project.settings.external_signup.schema.is_some() => NextStep::SignUp,
            Linking::Create(_) => NextStep::SignIn,
            Linking::Refuse(user) => {
                let method = format!("oauth:{}", provider.id);
                let audit = Audit { ctx, action: "link", method: Some(&method), client };
                audit.record_refusal(store, "email_not_verified", Some(&user.id), svc.clock.now()).await;
                return Err(OAuthError::AccountExists);
            }
        };
        let now = svc.clock.now();
        let pending = PendingExternal {
            id: new_id("pnd"),
            project_id: ctx.project.id.clone(),
            kind: step.kind().to_owned(),
            profile: profile_json(&profile),
            created_at: now,
            expires_at: now.plus_seconds(PENDING_TTL_SECS),
        };
        let mut tx = svc.store.begin().await?;
        tx.insert_pending_external(&pending).await?;
        tx.commit().await?;
        Ok((pending.id, step))
    }
    .await;
    record_outcome(result)
}

/// Uses up a pending step; `None` when it is unknown, used, expired or of the other kind.
async fn take(
    svc: &Services,
    ctx: &ProjectContext,
    id: &str,
    step: NextStep,
) -> Result<Option<ExternalProfile>, OAuthError> {
    let mut tx = svc.store.begin().await?;
    let pending = tx.take_pending_external(&ctx.project.id, id, step.kind(), svc.clock.now()).await?;
    tx.commit().await?;
    Ok(pending.and_then(|p| profile_from(&p.profile)))
}

/// Completes a pending sign-in. `Ok(None)`: nothing pending under that id.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "external", outcome = tracing::field::Empty))]
pub async fn sign_in(
    svc: &Services,
    ctx: &ProjectContext,
    pending_id: &str,
    client: &ClientInfo,
) -> Result<Option<OAuthOutcome>, OAuthError> {
    let result: Result<Option<OAuthOutcome>, OAuthError> = async {
        let Some(profile) = take(svc, ctx, pending_id, NextStep::SignIn).await? else { return Ok(None) };
        finish(svc, ctx, profile, AccountOptions::default(), client).await.map(Some)
    }
    .await;
    record_outcome(result)
}

/// Completes a pending sign-up with the model's (already validated) fields: the identity is
/// linked and the fields become the user's custom profile. The address counts as verified only
/// if the provider said so: filling in the model proves nothing about the mailbox.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "external", outcome = tracing::field::Empty))]
pub async fn sign_up(
    svc: &Services,
    ctx: &ProjectContext,
    pending_id: &str,
    fields: Value,
    client: &ClientInfo,
) -> Result<Option<OAuthOutcome>, OAuthError> {
    let result: Result<Option<OAuthOutcome>, OAuthError> = async {
        let Some(profile) = take(svc, ctx, pending_id, NextStep::SignUp).await? else { return Ok(None) };
        let options = AccountOptions { custom_fields: Some(fields), ..Default::default() };
        finish(svc, ctx, profile, options, client).await.map(Some)
    }
    .await;
    record_outcome(result)
}

async fn finish(
    svc: &Services,
    ctx: &ProjectContext,
    profile: ExternalProfile,
    options: AccountOptions,
    client: &ClientInfo,
) -> Result<OAuthOutcome, OAuthError> {
    let provider = Provider::resolve(&ctx.project.settings.providers, &profile.provider)
        .ok_or_else(|| OAuthError::UnknownProvider(profile.provider.clone()))?;
    oauth_signup::complete(svc, ctx, provider, profile, options, client).await
}

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("not signed in")]
    Unauthenticated,
    #[error("no external sign-in is pending under that id")]
    NothingPending,
    #[error("the external identity belongs to another account")]
    LinkedElsewhere,
    #[error("linking failed: {0}")]
    Unexpected(#[source] crate::error::Unexpected),
}

impl From<crate::store::StoreError> for LinkError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// Joins the identity of a pending step to the signed-in account (Aufy's "link external
/// login"). The owner asks for it inside their own session, so the addresses need not match;
/// an identity joined to another account stays where it is.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "external", outcome = tracing::field::Empty))]
pub async fn link(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
    pending: (&str, NextStep),
    client: &ClientInfo,
) -> Result<(), LinkError> {
    let result: Result<(), LinkError> = async {
        let (_, user) = crate::flows::session::authenticate(svc, ctx, access_token).await.map_err(|e| match e {
            crate::flows::session::SessionError::Unexpected(u) => LinkError::Unexpected(u),
            _ => LinkError::Unauthenticated,
        })?;
        let profile = match take(svc, ctx, pending.0, pending.1).await {
            Ok(Some(profile)) => profile,
            Ok(None) => return Err(LinkError::NothingPending),
            Err(OAuthError::Unexpected(u)) => return Err(LinkError::Unexpected(u)),
            Err(_) => return Err(LinkError::NothingPending),
        };
        let method = format!("oauth:{}", profile.provider);
        let audit = Audit { ctx, action: "link", method: Some(&method), client };
        let now = svc.clock.now();
        let owner = svc.store.identity_user(&ctx.project.id, &profile.provider, &profile.subject).await?;
        let mut tx = svc.store.begin().await?;
        match owner {
            Some(owner) if owner.id == user.id => {}
            Some(_) => {
                drop(tx);
                audit.record_refusal(svc.store.as_ref(), "linked_elsewhere", Some(&user.id), now).await;
                return Err(LinkError::LinkedElsewhere);
            }
            None => {
                let identity = crate::flows::account::linked_identity(ctx, &user.id, &profile, now);
                match tx.insert_identity(&identity).await {
                    Ok(()) => {}
                    // Linked elsewhere meanwhile.
                    Err(crate::store::StoreError::Conflict { .. }) => {
                        drop(tx);
                        audit.record_refusal(svc.store.as_ref(), "linked_elsewhere", Some(&user.id), now).await;
                        return Err(LinkError::LinkedElsewhere);
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        audit.record_in(tx.as_mut(), "ok", Some(&user.id), now).await?;
        tx.commit().await?;
        Ok(())
    }
    .await;
    record_outcome(result)
}
