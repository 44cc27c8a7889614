//! Password sign-in, by address or by handle. An unknown address or handle costs the same hash
//! as a wrong password, and all get the same error.

use crate::email::EmailAddress;
use crate::events::ClientInfo;
use crate::flows::session::start_session;
use crate::flows::{Audit, enforce_rate_limit, record_outcome};
use crate::password::Password;
use crate::password_hashing::HashError;
use crate::project::ProjectContext;
use crate::services::Services;
use crate::session::{AccessToken, RefreshSecret, Session};
use crate::store::StoreError;
use crate::user::{User, Username};

/// Who is signing in, as the client typed it: parsed here, so a malformed name is answered
/// exactly like an unknown one.
#[derive(Debug, Clone, Copy)]
pub enum Identifier<'a> {
    Email(&'a str),
    Username(&'a str),
}

pub struct SignInOutcome {
    pub user: User,
    pub session: Session,
    pub access: AccessToken,
    pub refresh_secret: RefreshSecret,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("invalid email or password")]
    InvalidCredentials,
    #[error("too many sign-in attempts")]
    RateLimited(crate::rate_limit::RateLimited),
    #[error("too many sign-ins are being processed; retry shortly")]
    Busy { retry_after_secs: u64 },
    #[error("sign-in failed: {0}")]
    Unexpected(#[source] crate::error::Unexpected),
}

impl From<StoreError> for SignInError {
    fn from(e: StoreError) -> Self {
        Self::Unexpected(e.into())
    }
}

fn hash_error(e: HashError) -> SignInError {
    match e {
        HashError::Busy => SignInError::Busy { retry_after_secs: 1 },
        other => SignInError::Unexpected(crate::error::Unexpected::context("checking the password", other)),
    }
}

#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "password", outcome = tracing::field::Empty))]
pub async fn sign_in(
    svc: &Services,
    ctx: &ProjectContext,
    identifier: Identifier<'_>,
    password: Password,
    client: ClientInfo,
) -> Result<SignInOutcome, SignInError> {
    let result: Result<SignInOutcome, SignInError> = async {
        let found = match identifier {
            Identifier::Email(raw) => match EmailAddress::parse(raw) {
                Ok(email) => svc.store.user_with_password(&ctx.project.id, &email).await?,
                Err(_) => None,
            },
            Identifier::Username(raw) => match Username::parse(raw) {
                Ok(username) => svc.store.user_with_password_by_username(&ctx.project.id, &username).await?,
                Err(_) => None,
            },
        };
        let audit = Audit { ctx, action: "signin", method: Some("password"), client: &client };
        let rule = ctx.project.settings.rate_limits.sign_in;
        enforce_rate_limit(svc, &audit, "sign_in", rule, client.ip.as_deref())
            .await
            .map_err(SignInError::RateLimited)?;
        let (user, phc) = match found {
            Some((user, Some(phc))) if svc.hasher.verify(password.clone(), &phc).await.map_err(hash_error)? => {
                (user, phc)
            }
            Some((user, Some(_))) => {
                audit.record_refusal(svc.store.as_ref(), "invalid_credentials", Some(&user.id), svc.clock.now()).await;
                return Err(SignInError::InvalidCredentials);
            }
            _ => {
                svc.hasher.verify_dummy(password).await.map_err(hash_error)?;
                audit.record_refusal(svc.store.as_ref(), "invalid_credentials", None, svc.clock.now()).await;
                return Err(SignInError::InvalidCredentials);
            }
        };

        let now = svc.clock.now();
        let mut tx = svc.store.begin().await?;
        // The hash was checked outside the transaction: if a first proof of the address dropped the
        // password (or it changed) meanwhile, this password no longer opens a session.
        if tx.lock_password(&user.id).await?.as_deref() != Some(phc.as_str()) {
            drop(tx);
            audit.record_refusal(svc.store.as_ref(), "invalid_credentials", Some(&user.id), now).await;
            return Err(SignInError::InvalidCredentials);
        }
        let started = start_session(tx.as_mut(), ctx, &user, &["pwd"], None, None, &client, now).await?;
        audit.record_in(tx.as_mut(), "ok", Some(&user.id), now).await?;
        tx.commit().await?;
        let access = started.access_token(ctx, false, now).map_err(SignInError::Unexpected)?;
        Ok(SignInOutcome { user, session: started.session, access, refresh_secret: started.refresh_secret })
    }
    .await;
    record_outcome(result)
}
