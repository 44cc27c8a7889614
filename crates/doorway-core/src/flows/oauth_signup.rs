//! Sign-up and sign-in through an OAuth / OpenID Connect provider.
//!
//! Two ways in: Doorway's own redirect round trip (state, nonce and PKCE kept server-side,
//! single use, 10 minutes), and a code the client obtained itself and posts (Rivergen). Both end
//! in `complete`: a known identity signs in; an address that already has an account is linked
//! only if both sides vouch for it; anyone else gets a new account.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use crate::error::Unexpected;
use crate::events::ClientInfo;
use crate::flows::account::{
    ExternalIdentity, NewAccount, OrganizationPlan, SignupError, create_account, linked_identity,
};
use crate::flows::account_linking::{Linking, decide};
use crate::flows::session::start_session;
use crate::flows::{Audit, enforce_rate_limit, record_outcome};
use crate::ids::new_id;
use crate::oauth::{CallbackUrl, ExternalProfile, IdentityProviders, Provider, ProviderError, RedirectSecrets};
use crate::organization::Organization;
use crate::project::ProjectContext;
use crate::rate_limit::RateLimited;
use crate::services::Services;
use crate::session::{AccessToken, RefreshSecret, Session};
use crate::store::{OAuthState, StoreError};
use crate::user::{ProfileDraft, User};
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
    Unexpected(#[source] Unexpected),
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// What the shared account pipeline's refusals mean for a provider sign-up.
impl From<SignupError> for OAuthError {
    fn from(e: SignupError) -> Self {
        match e {
            SignupError::EmailTaken | SignupError::UsernameTaken => Self::AccountExists,
            SignupError::Denied { message } => Self::Denied(message),
            SignupError::HookUnavailable => Self::HookUnavailable,
            SignupError::RateLimited(r) => Self::RateLimited(r),
            SignupError::Unexpected(cause) => Self::Unexpected(cause),
            // A provider sign-up brings no password and asks for no mail.
            e @ (SignupError::PasswordNotAccepted(_) | SignupError::WeakPassword(_) | SignupError::Busy { .. }) => {
                Self::Unexpected(Unexpected::new(e))
            }
        }
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

/// What a redirect round trip needs to start.
pub struct RoundTrip<'a> {
    pub provider_id: &'a str,
    /// Where to send the browser at the end (relative, or on the project's allow-list).
    pub callback_url: &'a str,
    /// Where the provider sends the browser back to Doorway.
    pub redirect_uri: String,
    /// Which flow started it (`native`, `aufy`, `aufy-token`).
    pub purpose: &'a str,
}

/// A started round trip: where to send the browser, and the state it must bring back (for
/// binding the flow to the browser that started it).
pub struct Started {
    pub authorization_url: String,
    pub state: String,
}

/// Starts a redirect round trip; returns the provider URL to send the browser to.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "oauth", outcome = tracing::field::Empty))]
pub async fn start(
    svc: &Services,
    idp: &dyn IdentityProviders,
    ctx: &ProjectContext,
    round_trip: RoundTrip<'_>,
    client: &ClientInfo,
) -> Result<Started, OAuthError> {
    let RoundTrip { provider_id, callback_url, redirect_uri, purpose } = round_trip;
    let result: Result<Started, OAuthError> = async {
        let provider = provider(ctx, provider_id)?;
        let callback_url = CallbackUrl::parse(callback_url, &ctx.project.settings.redirect_allowlist)
            .ok_or(OAuthError::CallbackNotAllowed)?;
        let method = format!("oauth:{}", provider.id);
        count_attempt(svc, &Audit { ctx, action: "oauth.start", method: Some(&method), client }).await?;
        let secrets =
            RedirectSecrets { state: random_secret(), nonce: random_secret(), pkce_verifier: random_secret() };
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
        let authorization_url = idp.authorization_url(&provider, &redirect_uri, &secrets).await?;
        Ok(Started { authorization_url, state: secrets.state })
    }
    .await;
    record_outcome(result)
}

/// Uses up the state of a returning redirect. `InvalidState` for a forged, replayed, expired
/// or cross-provider state: nothing else may happen then.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "oauth", outcome = tracing::field::Empty))]
pub async fn take_state(
    svc: &Services,
    ctx: &ProjectContext,
    provider_id: &str,
    state: &str,
) -> Result<OAuthState, OAuthError> {
    let result: Result<OAuthState, OAuthError> = async {
        let provider = provider(ctx, provider_id)?;
        let mut tx = svc.store.begin().await?;
        let taken = tx.take_oauth_state(&ctx.project.id, &hash_secret(state), svc.clock.now()).await?;
        tx.commit().await?;
        taken.filter(|s| s.provider == provider.id).ok_or(OAuthError::InvalidState)
    }
    .await;
    record_outcome(result)
}

/// The provider and what it vouches for, for the code of a returning redirect whose state was
/// taken (PKCE verifier and nonce checked).
pub(crate) async fn exchange_returning(
    idp: &dyn IdentityProviders,
    ctx: &ProjectContext,
    state: &OAuthState,
    code: &str,
) -> Result<(Provider, ExternalProfile), OAuthError> {
    let provider = provider(ctx, &state.provider)?;
    let secrets = RedirectSecrets {
        state: String::new(),
        nonce: state.nonce.clone(),
        pkce_verifier: state.pkce_verifier.clone(),
    };
    let profile = idp.exchange(&provider, code, &state.redirect_uri, Some(&secrets)).await?;
    Ok((provider, profile))
}

/// Finishes a redirect round trip whose state was taken: exchanges the code (PKCE verifier and
/// nonce checked) and completes the sign-up or sign-in.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "oauth", outcome = tracing::field::Empty))]
pub async fn finish(
    svc: &Services,
    idp: &dyn IdentityProviders,
    ctx: &ProjectContext,
    state: &OAuthState,
    code: &str,
    client: &ClientInfo,
) -> Result<OAuthOutcome, OAuthError> {
    let result: Result<OAuthOutcome, OAuthError> = async {
        let (provider, profile) = exchange_returning(idp, ctx, state, code).await?;
        complete(svc, ctx, provider, profile, AccountOptions::default(), client).await
    }
    .await;
    record_outcome(result)
}

/// A code the client obtained itself (with the provider's configured `redirect_uri`).
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "oauth", outcome = tracing::field::Empty))]
pub async fn sign_up_with_code(
    svc: &Services,
    idp: &dyn IdentityProviders,
    ctx: &ProjectContext,
    provider_id: &str,
    code: &str,
    options: AccountOptions,
    client: &ClientInfo,
) -> Result<OAuthOutcome, OAuthError> {
    let result: Result<OAuthOutcome, OAuthError> = async {
        let provider = provider(ctx, provider_id)?;
        let redirect_uri = provider.settings.redirect_uri.clone().ok_or(OAuthError::NoRedirectUri)?;
        let method = format!("oauth:{}", provider.id);
        count_attempt(svc, &Audit { ctx, action: "signup", method: Some(&method), client }).await?;
        let profile = idp.exchange(&provider, code, &redirect_uri, None).await?;
        complete(svc, ctx, provider, profile, options, client).await
    }
    .await;
    record_outcome(result)
}

/// Signs in, links, refuses or creates, as `account_linking` decides.
#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "oauth", outcome = tracing::field::Empty))]
pub async fn complete(
    svc: &Services,
    ctx: &ProjectContext,
    provider: Provider,
    profile: ExternalProfile,
    options: AccountOptions,
    client: &ClientInfo,
) -> Result<OAuthOutcome, OAuthError> {
    let result: Result<OAuthOutcome, OAuthError> = async {
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
    .await;
    record_outcome(result)
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
        tx.insert_identity(&linked_identity(ctx, &user.id, &profile, now)).await?;
    }
    let amr = ["oauth", provider.id.as_str()];
    let sso = Some((provider.id.as_str(), profile.subject.as_str()));
    let started = start_session(tx.as_mut(), ctx, &user, &amr, sso, None, audit.client, now).await?;
    audit.record_in(tx.as_mut(), "ok", Some(&user.id), now).await?;
    tx.commit().await?;
    // The provider authenticated the user, so no second factor is asked for.
    let access = started.access_token(ctx, true, now).map_err(OAuthError::Unexpected)?;
    let (session, refresh_secret) = (started.session, started.refresh_secret);
    Ok(OAuthOutcome { provider, user, is_new_user: false, organization: None, session, access, refresh_secret })
}

/// A new account through the shared pipeline: the identity linked, the first session an SSO
/// session, the address verified only if the provider said so.
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
    let account = NewAccount {
        profile: ProfileDraft {
            name: profile.name.clone(),
            avatar_url: profile.avatar_url.clone(),
            ..Default::default()
        },
        identity: Some(ExternalIdentity { provider_id: provider.id.clone(), profile }),
        organization: options.personal_organization.then_some(OrganizationPlan::Personal),
        terms_version: options.terms_version,
        custom_fields: options.custom_fields,
        ..NewAccount::new(email)
    };
    let created = create_account(svc, ctx, &audit, account).await?;
    Ok(OAuthOutcome {
        provider,
        user: created.user,
        is_new_user: true,
        organization: created.organization,
        session: created.session,
        access: created.access,
        refresh_secret: created.refresh_secret,
    })
}
