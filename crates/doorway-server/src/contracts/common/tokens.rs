//! The access token a request presents, whichever contract set it.

use axum::http::{HeaderMap, header};
use doorway_core::ProjectContext;

use super::cookies::CookieNames;
use crate::cookies::cookie_values;
use crate::state::AppState;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The access token from `Authorization: Bearer …`, else from an access cookie: the project's
/// own, or a seed-named one (`storyden-session`, `Aufy.AccessToken`). Seed names are the same in
/// every project, so a browser may send several of one name (the default project's at `/`,
/// another's at `/acme`): the first that verifies for this project (signature, issuer,
/// audience = slug) wins, whatever the order.
pub(crate) fn presented_access_token<'a>(
    state: &AppState,
    ctx: &ProjectContext,
    headers: &'a HeaderMap,
) -> Option<&'a str> {
    if let Some(token) = bearer(headers) {
        return Some(token);
    }
    let now = state.services.clock.now();
    let own = CookieNames::of(ctx).access;
    [own.as_str(), crate::contracts::storyden::SESSION_COOKIE, crate::contracts::aufy::ACCESS_COOKIE]
        .into_iter()
        .flat_map(|name| cookie_values(headers, name))
        .find(|token| state.services.session_cache.verified_claims(ctx, token, now).is_some())
}
