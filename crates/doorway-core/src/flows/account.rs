//! Creating an account: the one pipeline every sign-up goes through (password, email-only,
//! OAuth, external). A sign-up flow checks its own method's steps (rate limit, password mode,
//! provider round trip), describes what it brings as a `NewAccount`, and `create_account` does
//! the rest: mail budget, pre-sign-up hook, password hashing, then one transaction with the
//! user, credential, identity, organization, terms acceptance, session, refresh token, events,
//! verification mail and audit row.

use serde_json::json;

use crate::email::EmailAddress;
use crate::error::Unexpected;
use crate::flows::session::start_session;
use crate::flows::verification::{Recipient, check_mail_budget, send_code};
use crate::flows::{Audit, emit, user_event};
use crate::hooks::{HookOutcome, Verdict, merge_into, run_pre_signup};
use crate::ids::new_id;
use crate::mail::CodePurpose;
use crate::oauth::ExternalProfile;
use crate::organization::{DEFAULT_ROLES, OWNER, Organization, Workspace, slug_candidate, slugify};
use crate::password::{Password, PasswordPolicy};
use crate::password_hashing::HashError;
use crate::project::ProjectContext;
use crate::services::Services;
use crate::session::{AccessToken, RefreshSecret, Session};
use crate::store::{Identity, StoreError, StoreTx, UniqueKey};
use crate::user::{ProfileDraft, User};

pub struct SignupOutcome {
    pub user: User,
    pub organization: Option<Organization>,
    pub session: Session,
    pub access: AccessToken,
    pub refresh_secret: RefreshSecret,
}

#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("the username is taken")]
    UsernameTaken,
    #[error("the pre-sign-up hook refused: {message}")]
    Denied { message: String },
    #[error("the pre-sign-up hook gave no usable answer")]
    HookUnavailable,
    #[error("too many sign-up attempts")]
    RateLimited(crate::rate_limit::RateLimited),
    #[error("{0}")]
    PasswordNotAccepted(&'static str),
    #[error("the password breaks the project's policy")]
    WeakPassword(Vec<String>),
    #[error("too many sign-ups are being processed; retry shortly")]
    Busy { retry_after_secs: u64 },
    #[error("sign-up failed: {0}")]
    Unexpected(#[source] Unexpected),
}

impl From<StoreError> for SignupError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

/// A password that met the project's policy: the only way a password gets into an account.
pub struct Credential(Password);

impl Credential {
    /// The one place a new password is held against the policy.
    pub fn checked(password: Password, policy: &PasswordPolicy) -> Result<Self, SignupError> {
        let violations = policy.violations(&password);
        if violations.is_empty() { Ok(Self(password)) } else { Err(SignupError::WeakPassword(violations)) }
    }

    pub(crate) fn into_password(self) -> Password {
        self.0
    }
}

/// An external identity the provider vouched for: linked to the account, and the first
/// session is an SSO session authenticated by the provider.
pub struct ExternalIdentity {
    /// The configured provider's id (the session's `amr` and the SSO session name it).
    pub provider_id: String,
    pub profile: ExternalProfile,
}

/// The organization a sign-up creates, owned by the new user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizationPlan {
    /// An organization with the given name.
    Named(String),
    /// "<name>'s Organization" with the default roles and a default workspace (Rivergen).
    Personal,
}

/// Everything a new account is made of, already validated by the sign-up flow.
pub struct NewAccount {
    /// None only for a handle account (`profile.username` is then its sign-in name).
    pub email: Option<EmailAddress>,
    pub credential: Option<Credential>,
    pub identity: Option<ExternalIdentity>,
    pub profile: ProfileDraft,
    pub organization: Option<OrganizationPlan>,
    pub terms_version: Option<String>,
    /// Fields of the project's external sign-up model, stored as the user's custom profile.
    pub custom_fields: Option<serde_json::Value>,
    /// Mail a verification code (the address's mail budget is checked first).
    pub send_verification: bool,
    /// A passkey registered during the sign-up (its `user_id` is set to the new user's).
    pub passkey: Option<crate::store::StoredPasskey>,
}

impl NewAccount {
    /// A bare account for `email`: no credential, identity, organization or mail.
    pub fn new(email: EmailAddress) -> Self {
        Self { email: Some(email), ..Self::without_address() }
    }

    /// A bare account with no address: give it a handle (`profile.username`).
    pub fn without_address() -> Self {
        Self {
            email: None,
            credential: None,
            identity: None,
            profile: ProfileDraft::default(),
            organization: None,
            terms_version: None,
            custom_fields: None,
            send_verification: false,
            passkey: None,
        }
    }

    /// How the first session was authenticated: `pwd`, `oauth` + the provider, the passkey's
    /// `hwk` + `user` (key possession with user verification), or nothing (email-only; the
    /// verification code comes later).
    fn amr(&self) -> Vec<String> {
        match (&self.identity, &self.credential, &self.passkey) {
            (Some(identity), _, _) => vec!["oauth".to_owned(), identity.provider_id.clone()],
            (None, Some(_), _) => vec!["pwd".to_owned()],
            (None, None, Some(_)) => PASSKEY_AMR.iter().map(|m| (*m).to_owned()).collect(),
            (None, None, None) => vec![],
        }
    }
}

/// A session opened with a passkey: possession of a key, with user verification (RFC 8176).
pub(crate) const PASSKEY_AMR: [&str; 2] = ["hwk", "user"];

/// Creates the account; the caller has counted the attempt against its rate limit.
pub(crate) async fn create_account(
    svc: &Services,
    ctx: &ProjectContext,
    audit: &Audit<'_>,
    mut account: NewAccount,
) -> Result<SignupOutcome, SignupError> {
    let amr = account.amr();
    // No address, no mail to send.
    let verify = account.email.clone().filter(|_| account.send_verification);
    if let Some(email) = &verify {
        check_mail_budget(svc, audit, email).await.map_err(SignupError::RateLimited)?;
    }
    let mut user = User::draft(new_id("usr"), ctx.project.id.clone(), account.email.clone(), svc.clock.now());
    std::mem::take(&mut account.profile).apply_to(&mut user);
    if let Some(identity) = &account.identity {
        // Only the provider's own assertion counts.
        user.email_verified = identity.profile.email_verified;
    }
    if let Some(fields) = &account.custom_fields {
        user.custom_fields = fields.clone();
    }
    ask_pre_signup_hook(svc, ctx, audit, audit.method.unwrap_or("password"), &mut user).await?;

    let phc = match account.credential.take() {
        Some(Credential(password)) => Some(svc.hasher.hash(password).await.map_err(|e| match e {
            HashError::Busy => SignupError::Busy { retry_after_secs: 1 },
            other => SignupError::Unexpected(Unexpected::context("hashing the password", other)),
        })?),
        None => None,
    };

    let now = svc.clock.now();
    user.created_at = now;
    user.updated_at = now;
    let mut tx = svc.store.begin().await?;
    match tx.insert_user(&user).await {
        Ok(seq) => user.seq = seq,
        Err(StoreError::Conflict { key: key @ (UniqueKey::Email | UniqueKey::Username) }) => {
            drop(tx);
            let (reason, error) = match key {
                UniqueKey::Username => ("username_taken", SignupError::UsernameTaken),
                _ => ("email_taken", SignupError::EmailTaken),
            };
            audit.record_refusal(svc.store.as_ref(), reason, None, now).await;
            return Err(error);
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(phc) = &phc {
        tx.insert_password(&user.id, phc, now).await?;
    }
    if let Some(identity) = &account.identity {
        tx.insert_identity(&linked_identity(ctx, &user.id, &identity.profile, now)).await?;
    }
    if let Some(passkey) = &account.passkey {
        tx.insert_passkey(&crate::store::StoredPasskey {
            user_id: user.id.clone(),
            created_at: now,
            ..passkey.clone()
        })
        .await?;
    }
    emit(tx.as_mut(), ctx, "user.created", json!({ "user": user_event(&user) }), now).await?;

    let organization = match &account.organization {
        Some(OrganizationPlan::Named(name)) => {
            Some(create_owned_organization(tx.as_mut(), ctx, &user, name.clone(), now).await?)
        }
        Some(OrganizationPlan::Personal) => Some(create_personal_organization(tx.as_mut(), ctx, &user, now).await?),
        None => None,
    };
    if let Some(version) = &account.terms_version {
        tx.insert_terms_acceptance(&user.id, version, now).await?;
    }

    let amr: Vec<&str> = amr.iter().map(String::as_str).collect();
    let sso = account.identity.as_ref().map(|i| (i.provider_id.as_str(), i.profile.subject.as_str()));
    // Before the session starts, so its first access token carries them.
    let roles = &ctx.project.settings.default_roles;
    tx.insert_user_roles(&user.id, roles, now).await?;
    // A new user has exactly these (in the order the store reads them): no need to read them back.
    let mut known_roles = roles.clone();
    known_roles.sort();
    known_roles.dedup();
    let started = start_session(tx.as_mut(), ctx, &user, &amr, sso, Some(known_roles), audit.client, now).await?;
    if let Some(email) = &verify {
        send_code(tx.as_mut(), ctx, email, Recipient::Account(&user.id), CodePurpose::VerifyEmail, now).await?;
    }
    audit.record_in(tx.as_mut(), "ok", Some(&user.id), now).await?;
    tx.commit().await?;

    // A provider sign-up was authenticated by the provider, so no second factor is asked for.
    let mfa_bypassed = account.identity.is_some();
    let access = started.access_token(ctx, mfa_bypassed, now).map_err(SignupError::Unexpected)?;
    Ok(SignupOutcome { user, organization, session: started.session, access, refresh_secret: started.refresh_secret })
}

/// The identity row linking a provider's subject to a user.
pub(crate) fn linked_identity(
    ctx: &ProjectContext,
    user_id: &str,
    profile: &ExternalProfile,
    now: crate::Timestamp,
) -> Identity {
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

/// Runs the project's pre-sign-up hook, if any, merging what it adds into the draft user.
async fn ask_pre_signup_hook(
    svc: &Services,
    ctx: &ProjectContext,
    audit: &Audit<'_>,
    method: &str,
    user: &mut User,
) -> Result<(), SignupError> {
    let Some(hook) = &ctx.project.settings.hooks.pre_signup else {
        return Ok(());
    };
    let payload = json!({
        "type": "user.creating",
        "project": ctx.project.slug.as_str(),
        "method": method,
        "user": {
            "email": user.email.as_ref().map(EmailAddress::as_str),
            "username": user.username,
            "name": user.name,
            "avatar": user.avatar_url,
            "bio": user.bio,
            "location": user.location.map(|l| json!({"longitude": l.longitude, "latitude": l.latitude})),
            "birthdate": user.birthdate,
            "metadata": user.metadata,
            "secureMetadata": user.secure_metadata,
        },
        "client": { "ip": audit.client.ip, "userAgent": audit.client.user_agent },
    });
    match run_pre_signup(svc.hooks.as_ref(), hook, &payload).await {
        HookOutcome::Decided(Verdict::Allow { metadata, secure_metadata }) => {
            merge_into(&mut user.metadata, metadata);
            merge_into(&mut user.secure_metadata, secure_metadata);
            Ok(())
        }
        HookOutcome::Decided(Verdict::Deny { message }) => {
            audit.record_refusal(svc.store.as_ref(), "hook_denied", None, svc.clock.now()).await;
            Err(SignupError::Denied { message })
        }
        HookOutcome::Failed(_) => {
            audit.record_refusal(svc.store.as_ref(), "hook_unavailable", None, svc.clock.now()).await;
            Err(SignupError::HookUnavailable)
        }
    }
}

/// The personal organization's name: the user's name, else their handle, else the address's
/// local part.
fn personal_organization_name(user: &User) -> String {
    let local_part = || user.email.as_ref().and_then(|e| e.as_str().split('@').next()).map(str::to_owned);
    let owner = user.name.clone().or_else(|| user.username.clone()).or_else(local_part).unwrap_or_else(|| "My".into());
    format!("{owner}'s Organization")
}

/// A personal organization with the default roles and a default workspace.
async fn create_personal_organization(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    user: &User,
    now: crate::Timestamp,
) -> Result<Organization, StoreError> {
    let org = create_owned_organization(tx, ctx, user, personal_organization_name(user), now).await?;
    tx.insert_roles(&org.id, &DEFAULT_ROLES, now).await?;
    let workspace = Workspace {
        id: new_id("wsp"),
        organization_id: org.id.clone(),
        name: "Default".into(),
        slug: "default".into(),
        created_at: now,
    };
    tx.insert_workspace(&workspace).await?;
    Ok(org)
}

/// Creates an organization owned by `user`, with the first free slug derived from its name.
async fn create_owned_organization(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    user: &User,
    name: String,
    now: crate::Timestamp,
) -> Result<Organization, StoreError> {
    let base = slugify(&name);
    let mut org = Organization {
        id: new_id("org"),
        project_id: ctx.project.id.clone(),
        name,
        slug: base.clone(),
        created_at: now,
    };
    let mut attempt = 1;
    while !tx.insert_organization_if_slug_free(&org).await? {
        attempt += 1;
        org.slug = if attempt <= 20 {
            slug_candidate(&base, attempt)
        } else {
            // Crowded base names: stop probing one by one.
            format!("{base}-{}", &new_id("x")[30..])
        };
    }
    tx.insert_membership(&org.id, &user.id, OWNER, now).await?;
    let data = json!({
        "organization": { "id": org.id, "name": org.name, "slug": org.slug, "createdAt": now.to_rfc3339() },
        "ownerId": user.id,
    });
    emit(tx, ctx, "organization.created", data, now).await?;
    Ok(org)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::password::PasswordPolicy;

    fn email() -> EmailAddress {
        EmailAddress::parse("ada@example.com").unwrap()
    }

    #[test]
    fn a_weak_password_never_becomes_a_credential() {
        let policy = PasswordPolicy::default();
        assert!(matches!(
            Credential::checked(Password::new("x".into()), &policy),
            Err(SignupError::WeakPassword(v)) if !v.is_empty()
        ));
        assert!(Credential::checked(Password::new("Sturdy-Passphrase-93!".into()), &policy).is_ok());
    }

    #[test]
    fn amr_follows_what_the_account_brings() {
        let mut account = NewAccount::new(email());
        assert!(account.amr().is_empty());
        account.credential = Some(Credential(Password::new("whatever".into())));
        assert_eq!(account.amr(), vec!["pwd"]);
        account.identity = Some(ExternalIdentity {
            provider_id: "github".into(),
            profile: ExternalProfile {
                provider: "github".into(),
                subject: "42".into(),
                email: Some(email()),
                email_verified: true,
                name: None,
                avatar_url: None,
            },
        });
        assert_eq!(account.amr(), vec!["oauth", "github"]);
    }

    #[test]
    fn personal_organizations_are_named_after_their_owner() {
        let mut user = User::draft("usr_1".into(), "prj_1".into(), Some(email()), crate::Timestamp::from_millis(0));
        assert_eq!(personal_organization_name(&user), "ada's Organization");
        user.name = Some("Ada Lovelace".into());
        assert_eq!(personal_organization_name(&user), "Ada Lovelace's Organization");
        let handle_only = User {
            username: Some("ada_l".into()),
            ..User::draft("usr_2".into(), "prj_1".into(), None, crate::Timestamp::from_millis(0))
        };
        assert_eq!(personal_organization_name(&handle_only), "ada_l's Organization");
    }

    #[test]
    fn unexpected_failures_keep_their_cause() {
        let e = SignupError::from(StoreError::unexpected(std::io::Error::other("disk on fire")));
        let source = std::error::Error::source(&e).expect("a source");
        assert_eq!(source.to_string(), "storage failure: disk on fire");
        assert!(matches!(e, SignupError::Unexpected(ref u) if u.downcast_ref::<StoreError>().is_some()));
    }
}
