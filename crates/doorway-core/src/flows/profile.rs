//! Who is signed in: the user behind an access token, with their organizations, roles and
//! workspaces, read in one query.

use crate::flows::record_outcome;
use crate::flows::session::{SessionError, authenticate};
use crate::organization::Membership;
use crate::project::ProjectContext;
use crate::services::Services;
use crate::user::User;

pub struct WhoAmI {
    pub user: User,
    /// Oldest membership first, each with its workspaces (oldest first).
    pub memberships: Vec<Membership>,
}

#[tracing::instrument(skip_all, fields(project = %ctx.project.slug, method = "access_token", outcome = tracing::field::Empty))]
pub async fn who_am_i(svc: &Services, ctx: &ProjectContext, access_token: &str) -> Result<WhoAmI, SessionError> {
    let result = async {
        let (_, user) = authenticate(svc, ctx, access_token).await?;
        let memberships = svc.store.memberships_with_workspaces(&user.id).await?;
        Ok(WhoAmI { user, memberships })
    }
    .await;
    record_outcome(result)
}
