//! Session cookies: Doorway's own names per project, and setting/clearing them under the
//! prefix the client used.

use axum::extract::Extension;
use axum_extra::extract::CookieJar;
use doorway_core::ProjectContext;
use doorway_core::session::{AccessToken, RefreshSecret};

use crate::cookies::CookiePolicy;
use crate::project_scope::RoutePrefix;
use crate::state::AppState;

/// Doorway's own cookie names in a project: `doorway_access`/`doorway_refresh` in `default`,
/// `doorway_<slug>_access`/`doorway_<slug>_refresh` elsewhere (slugs have no `_`, so names
/// never collide).
pub(crate) struct CookieNames {
    pub(crate) access: String,
    pub(crate) refresh: String,
}

impl CookieNames {
    pub(crate) fn of(ctx: &ProjectContext) -> Self {
        let slug = &ctx.project.slug;
        let stem = if slug.is_default() { "doorway".to_owned() } else { format!("doorway_{slug}") };
        Self { access: format!("{stem}_access"), refresh: format!("{stem}_refresh") }
    }
}

/// Cookie paths follow the prefix the client used, so projects never see each other's cookies.
pub(crate) struct SessionCookies {
    policy: CookiePolicy,
    names: CookieNames,
    prefix: String,
    access_ttl: i64,
    refresh_ttl: i64,
}

impl SessionCookies {
    pub(crate) fn new(state: &AppState, ctx: &ProjectContext, prefix: Option<Extension<RoutePrefix>>) -> Self {
        Self {
            policy: CookiePolicy::for_public_url(&state.public_url),
            names: CookieNames::of(ctx),
            prefix: prefix.map(|Extension(p)| p.0).unwrap_or_default(),
            access_ttl: i64::from(ctx.project.settings.access_token_ttl_secs),
            refresh_ttl: i64::from(ctx.project.settings.refresh_token_ttl_secs),
        }
    }

    fn access_path(&self) -> String {
        if self.prefix.is_empty() { "/".to_owned() } else { self.prefix.clone() }
    }

    fn refresh_path(&self) -> String {
        format!("{}/api/auth", self.prefix)
    }

    pub(crate) fn issue(&self, jar: CookieJar, access: &AccessToken, refresh: &RefreshSecret) -> CookieJar {
        let names = &self.names;
        jar.add(self.policy.set(names.access.clone(), access.token.clone(), self.access_path(), self.access_ttl)).add(
            self.policy.set(names.refresh.clone(), refresh.expose().to_owned(), self.refresh_path(), self.refresh_ttl),
        )
    }

    pub(crate) fn clear(&self, jar: CookieJar) -> CookieJar {
        jar.add(self.policy.clear(self.names.access.clone(), self.access_path()))
            .add(self.policy.clear(self.names.refresh.clone(), self.refresh_path()))
    }
}
