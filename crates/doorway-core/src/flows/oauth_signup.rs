//! Sign-up and sign-in through an OAuth / OpenID Connect provider.
//!
//! Two ways in: Doorway's own redirect round trip (state, nonce and PKCE kept server-side,
//! single use, 10 minutes), and a code the client obtained itself and posts (Rivergen). Both end
//! in `complete`: a known identity signs in; an address that already has an account is linked
//! only if both sides vouch for it; anyone else gets a new account.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde_json::json;

use crate::events::ClientInfo;
use crate::flows::account_linking::{Linking, decide};
use crate::flows::password_signup::{SignupError, ask_pre_signup_hook, create_owned_organization};
use crate::flows::{Audit, emit, enforce_rate_limit, session_event, user_event};
use crate::ids::new_id;
use crate::oauth::{CallbackUrl, ExternalProfile, IdentityProviders, Provider, ProviderError, RedirectSecrets};
use crate::organization::{DEFAULT_ROLES, Organization, Workspace};
use crate::project::ProjectContext;
use crate::rate_limit::RateLimited;
use crate::services::Services;
use crate::session::{AccessToken, RefreshSecret, Session, new_session, sign_access_token};
use crate::store::{Identity, OAuthState, SsoSession, StoreError, StoreTx};
use crate::user::User;
use crate::verification::hash_secret;

const STATE_TTL_SECS: i64 = 600;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("unknown or unconfigured provider '{0}'")]
    UnknownProvider(String),
    #[error("the callback URL is not allowed for this project")]
    CallbackNotAllowed,
    #[error("the provider has no redirect_uri configured for client-side codes")]
    NoRedirectUri,
    #[error("the state is unknown, used or expired")]
    InvalidState,
    #[error("too many OAuth attempts")]
    RateLimited(RateLimited),
    #[error("the provider refused the code: {0}")]
    CodeRejected(String),
    #[error("the provider failed: {0}")]
    ProviderFailed(String),
    #[error("the provider gave no email address")]
    NoEmail,
    #[error(
        "an account with this email already exists and cannot be linked: both the provider and the account must have the address verified"
    )]
    AccountExists,
    #[error("the pre-sign-up hook refused: {0}")]
    Denied(String),
    #[error("the pre-sign-up hook gave no usable answer")]
    HookUnavailable,
    #[error("OAuth sign-up failed: {0}")]
    Unexpected(String),
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.to_string())
    }
}

impl From<ProviderError> for OAuthError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Rejected(m) => Self::CodeRejected(m),
            ProviderError::Failed(m) => Self::ProviderFailed(m),
        }
    }
}

pub struct OAuthOutcome {
    pub provider: Provider,
    pub user: User,
    pub is_new_user: bool,
    pub organization: Option<Organization>,
    pub session: Session,
    pub access: AccessToken,
    pub refresh_secret: RefreshSecret,
}

/// What a completed sign-up creates besides the user.
#[derive(Debug, Clone, Default)]
pub struct AccountOptions {
    /// A personal organization with a default workspace and the default roles (Rivergen).
    pub personal_organization: bool,
    pub terms_version: Option<String>,
    /// Fields of the external sign-up model, stored as the user's custom profile.
    pub custom_fields: Option<serde_json::Value>,
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn provider(ctx: &ProjectContext, id: &str) -> Result<Provider, OAuthError> {
    Provider::resolve(&ctx.project.settings.providers, id).ok_or_else(|| OAuthError::UnknownProvider(id.to_owned()))
}

async fn count_attempt(svc: &Services, audit: &Audit<'_>) -> Result<(), OAuthError> {
    let rule = audit.ctx.project.settings.rate_limits.oauth_signup;
    enforce_rate_limit(svc, audit, "oauth_signup", rule, audit.client.ip.as_deref())
        .await
        .map_err(OAuthError::RateLimited)
}

/// Starts a redirect round trip; returns the provider URL to send the browser to.
pub async fn start(
    svc: &Services,
    idp: &dyn IdentityProviders,
    ctx: &ProjectContext,
    provider_id: &str,
    callback_url: &str,
    redirect_uri: String,
    purpose: &str,
    client: &ClientInfo,
) -> Result<String, OAuthError> {
    let provider = provider(ctx, provider_id)?;
    let callback_url = CallbackUrl::parse(callback_url, &ctx.project.settings.redirect_allowlist)
        .ok_or(OAuthError::CallbackNotAllowed)?;
    let method = format!("oauth:{}", provider.id);
    count_attempt(svc, &Audit { ctx, action: "oauth.start", method: Some(&method), client }).await?;
    let secrets = RedirectSecrets { state: random_secret(), nonce: random_secret(), pkce_verifier: random_secret() };
    let now = svc.clock.now();
    let state = OAuthState {
        id: new_id("ost"),
        project_id: ctx.project.id.clone(),
        state_hash: hash_secret(&secrets.state),
        provider: provider.id.clone(),
        nonce: secrets.nonce.clone(),
        pkce_verifier: secrets.pkce_verifier.clone(),
        redirect_uri: redirect_uri.clone(),
        callback_url: callback_url.as_str().to_owned(),
        purpose: purpose.to_owned(),
        created_at: now,
        expires_at: now.plus_seconds(STATE_TTL_SECS),
    };
    let mut tx = svc.store.begin().await?;
    tx.insert_oauth_state(&state).await?;
    tx.commit().await?;
    Ok(idp.authorization_url(&provider, &redirect_uri, &secrets).await?)
}

/// Uses up the state of a returning redirect. `InvalidState` for a forged, replayed, expired
/// or cross-provider state: nothing else may happen then.
pub async fn take_state(
    svc: &Services,
    ctx: &ProjectContext,
    provider_id: &str,
    state: &str,
) -> Result<OAuthState, OAuthError> {
    let provider = provider(ctx, provider_id)?;
    let mut tx = svc.store.begin().await?;
    let taken = tx.take_oauth_state(&ctx.project.id, &hash_secret(state), svc.clock.now()).await?;
    tx.commit().await?;
    taken.filter(|s| s.provider == provider.id).ok_or(OAuthError::InvalidState)
}

/// Finishes a redirect round trip whose state was taken: exchanges the code (PKCE verifier and
/// nonce checked) and completes the sign-up or sign-in.
pub async fn finish(
    svc: &Services,
    idp: &dyn IdentityProviders,
    ctx: &ProjectContext,
    state: &OAuthState,
    code: &str,
    client: &ClientInfo,
) -> Result<OAuthOutcome, OAuthError> {
    let provider = provider(ctx, &state.provider)?;
    let secrets = RedirectSecrets {
        state: String::new(),
        nonce: state.nonce.clone(),
        pkce_verifier: state.pkce_verifier.clone(),
    };
    let profile = idp.exchange(&provider, code, &state.redirect_uri, Some(&secrets)).await?;
    complete(svc, ctx, provider, profile, AccountOptions::default(), client).await
}

/// A code the client obtained itself (with the provider's configured `redirect_uri`).
pub async fn sign_up_with_code(
    svc: &Services,
    idp: &dyn IdentityProviders,
    ctx: &ProjectContext,
    provider_id: &str,
    code: &str,
    options: AccountOptions,
    client: &ClientInfo,
) -> Result<OAuthOutcome, OAuthError> {
    let provider = provider(ctx, provider_id)?;
    let redirect_uri = provider.settings.redirect_uri.clone().ok_or(OAuthError::NoRedirectUri)?;
    let method = format!("oauth:{}", provider.id);
    count_attempt(svc, &Audit { ctx, action: "signup", method: Some(&method), client }).await?;
    let profile = idp.exchange(&provider, code, &redirect_uri, None).await?;
    complete(svc, ctx, provider, profile, options, client).await
}

/// Signs in, links, refuses or creates, as `account_linking` decides.
pub async fn complete(
    svc: &Services,
    ctx: &ProjectContext,
    provider: Provider,
    profile: ExternalProfile,
    options: AccountOptions,
    client: &ClientInfo,
) -> Result<OAuthOutcome, OAuthError> {
    let method = format!("oauth:{}", provider.id);
    let store = svc.store.as_ref();
    match decide(store, &ctx.project.id, &profile).await?.ok_or(OAuthError::NoEmail)? {
        Linking::SignIn(user) => {
            let audit = Audit { ctx, action: "signin", method: Some(&method), client };
            sign_in(svc, ctx, &audit, provider, profile, user, None).await
        }
        Linking::Link(user) => {
            let audit = Audit { ctx, action: "link", method: Some(&method), client };
            sign_in(svc, ctx, &audit, provider, profile, user, Some(())).await
        }
        Linking::Refuse(user) => {
            let audit = Audit { ctx, action: "link", method: Some(&method), client };
            audit.record_refusal(store, "email_not_verified", Some(&user.id), svc.clock.now()).await;
            Err(OAuthError::AccountExists)
        }
        Linking::Create(email) => create(svc, ctx, provider, profile, email, options, client).await,
    }
}

fn identity(ctx: &ProjectContext, user_id: &str, profile: &ExternalProfile, now: crate::Timestamp) -> Identity {
    Identity {
        id: new_id("idn"),
        project_id: ctx.project.id.clone(),
        user_id: user_id.to_owned(),
        provider: profile.provider.clone(),
        subject: profile.subject.clone(),
        email: profile.email.as_ref().map(|e| e.to_string()),
        email_verified: profile.email_verified,
        created_at: now,
    }
}

/// Session, SSO session and refresh token for a provider sign-in, with their events.
async fn start_session(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    provider: &Provider,
    profile: &ExternalProfile,
    user: &User,
    client: &ClientInfo,
    now: crate::Timestamp,
) -> Result<(Session, RefreshSecret), StoreError> {
    let new = new_session(ctx, &user.id, &["oauth", &provider.id], client, now);
    tx.insert_session(&new.session).await?;
    tx.insert_sso_session(&SsoSession {
        id: new_id("sso"),
        session_id: new.session.id.clone(),
        user_id: user.id.clone(),
        provider: provider.id.clone(),
        subject: profile.subject.clone(),
        created_at: now,
    })
    .await?;
    tx.insert_refresh_token(&new.refresh).await?;
    emit(tx, ctx, "session.created", json!({ "session": session_event(&new.session) }), now).await?;
    Ok((new.session, new.refresh_secret))
}

async fn sign_in(
    svc: &Services,
    ctx: &ProjectContext,
    audit: &Audit<'_>,
    provider: Provider,
    profile: ExternalProfile,
    user: User,
    link: Option<()>,
) -> Result<OAuthOutcome, OAuthError> {
    let now = svc.clock.now();
    let mut tx = svc.store.begin().await?;
    if link.is_some() {
        tx.insert_identity(&identity(ctx, &user.id, &profile, now)).await?;
    }
    let (session, refresh_secret) =
        start_session(tx.as_mut(), ctx, &provider, &profile, &user, audit.client, now).await?;
    audit.record_in(tx.as_mut(), "ok", Some(&user.id), now).await?;
    tx.commit().await?;
    // The provider authenticated the user, so no second factor is asked for.
    let access = sign_access_token(ctx, &session, true, now).map_err(|e| OAuthError::Unexpected(e.to_string()))?;
    Ok(OAuthOutcome { provider, user, is_new_user: false, organization: None, session, access, refresh_secret })
}

async fn create(
    svc: &Services,
    ctx: &ProjectContext,
    provider: Provider,
    profile: ExternalProfile,
    email: crate::email::EmailAddress,
    options: AccountOptions,
    client: &ClientInfo,
) -> Result<OAuthOutcome, OAuthError> {
    let method = format!("oauth:{}", provider.id);
    let audit = Audit { ctx, action: "signup", method: Some(&method), client };
    let mut user = User::draft(new_id("usr"), ctx.project.id.clone(), email, svc.clock.now());
    user.email_verified = profile.email_verified;
    user.name = profile.name.clone();
    user.avatar_url = profile.avatar_url.clone();
    if let Some(fields) = options.custom_fields.clone() {
        user.custom_fields = fields;
    }
    ask_pre_signup_hook(svc, ctx, &audit, &method, &mut user).await.map_err(|e| match e {
        SignupError::Denied { message } => OAuthError::Denied(message),
        SignupError::HookUnavailable => OAuthError::HookUnavailable,
        other => OAuthError::Unexpected(other.to_string()),
    })?;

    let now = svc.clock.now();
    user.created_at = now;
    user.updated_at = now;
    let mut tx = svc.store.begin().await?;
    match tx.insert_user(&user).await {
        Ok(seq) => user.seq = seq,
        Err(StoreError::Conflict { .. }) => {
            drop(tx);
            audit.record_refusal(svc.store.as_ref(), "email_taken", None, now).await;
            return Err(OAuthError::AccountExists);
        }
        Err(e) => return Err(e.into()),
    }
    tx.insert_identity(&identity(ctx, &user.id, &profile, now)).await?;
    emit(tx.as_mut(), ctx, "user.created", json!({ "user": user_event(&user) }), now).await?;
    let organization = if options.personal_organization {
        let owner =
            user.name.clone().unwrap_or_else(|| user.email.as_str().split('@').next().unwrap_or("My").to_owned());
        let org = create_owned_organization(tx.as_mut(), ctx, &user, format!("{owner}'s Organization"), now)
            .await
            .map_err(|e| OAuthError::Unexpected(e.to_string()))?;
        for role in DEFAULT_ROLES {
            tx.insert_role(&org.id, role, now).await?;
        }
        let workspace = Workspace {
            id: new_id("wsp"),
            organization_id: org.id.clone(),
            name: "Default".into(),
            slug: "default".into(),
            created_at: now,
        };
        tx.insert_workspace(&workspace).await?;
        Some(org)
    } else {
        None
    };
    if let Some(version) = &options.terms_version {
        tx.insert_terms_acceptance(&user.id, version, now).await?;
    }
    let (session, refresh_secret) = start_session(tx.as_mut(), ctx, &provider, &profile, &user, client, now).await?;
    audit.record_in(tx.as_mut(), "ok", Some(&user.id), now).await?;
    tx.commit().await?;
    let access = sign_access_token(ctx, &session, true, now).map_err(|e| OAuthError::Unexpected(e.to_string()))?;
    Ok(OAuthOutcome { provider, user, is_new_user: true, organization, session, access, refresh_secret })
}
