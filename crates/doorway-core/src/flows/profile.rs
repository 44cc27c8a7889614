//! Who is signed in: the user behind an access token, with their organizations, roles and
//! workspaces, read in one query.

use crate::flows::record_outcome;
use crate::flows::session::{SessionError, authenticate, authenticated_claims};
use crate::organization::Membership;
use crate::project::ProjectContext;
use crate::services::Services;
use crate::user::User;

pub struct WhoAmI {
    pub user: User,
    /// Oldest membership first, each with its workspaces (oldest first); empty unless asked.
    pub memberships: Vec<Membership>,
    /// Project-wide roles, by name; empty unless asked.
    pub roles: Vec<String>,
}

/// What a contract shows beside the user: only the parts asked for are read (memberships come
/// in the user's own read; roles cost one more).
#[derive(Debug, Clone, Copy)]
pub struct WhoAmIParts {
    pub memberships: bool,
    pub roles: bool,
}

#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "access_token", outcome = tracing::field::Empty))]
pub async fn who_am_i(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
    parts: WhoAmIParts,
) -> Result<WhoAmI, SessionError> {
    let result = async {
        let (user, memberships) = if parts.memberships {
            let claims = authenticated_claims(svc, ctx, access_token).await?;
            svc.store.user_with_memberships(&ctx.project.id, &claims.sub).await?.ok_or(SessionError::Unauthenticated)?
        } else {
            (authenticate(svc, ctx, access_token).await?.1, Vec::new())
        };
        let roles = if parts.roles { svc.store.user_roles(&user.id).await? } else { Vec::new() };
        Ok(WhoAmI { user, memberships, roles })
    }
    .await;
    record_outcome(result)
}

/// How the signed-in user can sign in, beside who they are.
pub struct AccountInfo {
    pub user: User,
    /// Project-wide roles, by name.
    pub roles: Vec<String>,
    /// Providers of the linked external identities, by name.
    pub logins: Vec<String>,
    pub has_password: bool,
}

#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "access_token", outcome = tracing::field::Empty))]
pub async fn account_info(
    svc: &Services,
    ctx: &ProjectContext,
    access_token: &str,
) -> Result<AccountInfo, SessionError> {
    let result = async {
        let (_, user) = authenticate(svc, ctx, access_token).await?;
        let roles = svc.store.user_roles(&user.id).await?;
        let logins = svc.store.user_identity_providers(&user.id).await?;
        let has_password = svc.store.password_of(&user.id).await?.is_some();
        Ok(AccountInfo { user, roles, logins, has_password })
    }
    .await;
    record_outcome(result)
}
