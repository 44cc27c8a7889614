//! Email + password sign-up: one transaction creates the user, credential, optional
//! organization with owner membership, session, refresh token, outbox events and audit row.

use serde_json::json;

use crate::email::EmailAddress;
use crate::events::ClientInfo;
use crate::flows::verification::{Recipient, check_mail_budget, send_code};
use crate::flows::{Audit, emit, enforce_rate_limit, session_event, user_event};
use crate::hooks::{HookOutcome, Verdict, merge_into, run_pre_signup};
use crate::ids::new_id;
use crate::mail::CodePurpose;
use crate::organization::{OWNER, Organization, slug_candidate, slugify};
use crate::password::{Password, PasswordPolicy};
use crate::password_hashing::HashError;
use crate::project::ProjectContext;
use crate::services::Services;
use crate::session::{AccessToken, RefreshSecret, Session, new_session, sign_access_token};
use crate::store::{StoreError, StoreTx};
use crate::user::{ProfileDraft, User};

pub struct PasswordSignup {
    pub email: EmailAddress,
    pub password: Password,
    /// The rule the password must meet (contracts differ).
    pub policy: PasswordPolicy,
    pub profile: ProfileDraft,
    pub organization_name: Option<String>,
    pub client: ClientInfo,
}

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
    Unexpected(String),
}

impl From<StoreError> for SignupError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.to_string())
    }
}

const METHOD: &str = "password";

pub async fn sign_up(svc: &Services, ctx: &ProjectContext, cmd: PasswordSignup) -> Result<SignupOutcome, SignupError> {
    let audit = Audit { ctx, action: "signup", method: Some(METHOD), client: &cmd.client };
    let rule = ctx.project.settings.rate_limits.password_signup;
    enforce_rate_limit(svc, &audit, "password_signup", rule, cmd.client.ip.as_deref())
        .await
        .map_err(SignupError::RateLimited)?;
    let violations = cmd.policy.violations(&cmd.password);
    if !violations.is_empty() {
        return Err(SignupError::WeakPassword(violations));
    }
    let verify = ctx.project.settings.signup.verify_email;
    if verify {
        check_mail_budget(svc, &audit, &cmd.email).await.map_err(SignupError::RateLimited)?;
    }
    let account = NewAccount {
        email: cmd.email,
        password: Some(cmd.password),
        profile: cmd.profile,
        organization_name: cmd.organization_name,
        amr: Some("pwd"),
        send_verification: verify,
    };
    create_account(svc, ctx, &audit, account).await
}

/// Everything a new account is made of, already validated.
pub(crate) struct NewAccount {
    pub email: EmailAddress,
    pub password: Option<Password>,
    pub profile: ProfileDraft,
    pub organization_name: Option<String>,
    /// How the first session was authenticated (`pwd`); none for an email-only sign-up.
    pub amr: Option<&'static str>,
    pub send_verification: bool,
}

/// The shared core of every sign-up: hook, hashing, then one transaction with the user,
/// credential, organization, session, refresh token, events, verification mail and audit row.
pub(crate) async fn create_account(
    svc: &Services,
    ctx: &ProjectContext,
    audit: &Audit<'_>,
    account: NewAccount,
) -> Result<SignupOutcome, SignupError> {
    let mut user = User::draft(new_id("usr"), ctx.project.id.clone(), account.email, svc.clock.now());
    account.profile.apply_to(&mut user);
    ask_pre_signup_hook(svc, ctx, audit, audit.method.unwrap_or(METHOD), &mut user).await?;

    let phc = match account.password {
        Some(password) => Some(svc.hasher.hash(password).await.map_err(|e| match e {
            HashError::Busy => SignupError::Busy { retry_after_secs: 1 },
            other => SignupError::Unexpected(other.to_string()),
        })?),
        None => None,
    };

    let now = svc.clock.now();
    user.created_at = now;
    user.updated_at = now;
    let mut tx = svc.store.begin().await?;
    match tx.insert_user(&user).await {
        Ok(seq) => user.seq = seq,
        Err(StoreError::Conflict { constraint }) => {
            drop(tx);
            let (reason, error) = if constraint.contains("username") {
                ("username_taken", SignupError::UsernameTaken)
            } else {
                ("email_taken", SignupError::EmailTaken)
            };
            audit.record_refusal(svc.store.as_ref(), reason, None, now).await;
            return Err(error);
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(phc) = &phc {
        tx.insert_password(&user.id, phc, now).await?;
    }
    emit(tx.as_mut(), ctx, "user.created", json!({ "user": user_event(&user) }), now).await?;

    let organization = match account.organization_name {
        Some(name) => Some(create_owned_organization(tx.as_mut(), ctx, &user, name, now).await?),
        None => None,
    };

    let amr: Vec<&str> = account.amr.into_iter().collect();
    let new = new_session(ctx, &user.id, &amr, audit.client, now);
    tx.insert_session(&new.session).await?;
    tx.insert_refresh_token(&new.refresh).await?;
    emit(tx.as_mut(), ctx, "session.created", json!({ "session": session_event(&new.session) }), now).await?;
    if account.send_verification {
        send_code(tx.as_mut(), ctx, &user.email, Recipient::Account(&user.id), CodePurpose::VerifyEmail, now).await?;
    }
    audit.record_in(tx.as_mut(), "ok", Some(&user.id), now).await?;
    tx.commit().await?;

    let access =
        sign_access_token(ctx, &new.session, false, now).map_err(|e| SignupError::Unexpected(e.to_string()))?;
    Ok(SignupOutcome { user, organization, session: new.session, access, refresh_secret: new.refresh_secret })
}

/// Runs the project's pre-sign-up hook, if any, merging what it adds into the draft user.
pub(crate) async fn ask_pre_signup_hook(
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
            "email": user.email.as_str(),
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

/// Creates an organization owned by `user`, with the first free slug derived from its name.
pub(crate) async fn create_owned_organization(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    user: &User,
    name: String,
    now: crate::Timestamp,
) -> Result<Organization, SignupError> {
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
