//! Storyden's session routes: `POST /auth/logout` and who-am-I (`GET /accounts`).

use axum::Json;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::flows::session::{self as session_flow, SessionError, SessionProof};
use doorway_core::user::User;
use serde::Serialize;

use super::{SESSION_COOKIE, StorydenSettings, cookie_path, unauthorized, web_origin};
use crate::client_info::Client;
use crate::contracts::common::settings::ContractSettings;
use crate::contracts::common::{Problem, presented_access_token};
use crate::cookies::{CookiePolicy, redirect};
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct LogoutQuery {
    /// A path on the front end (`/…`), never a URL: anything else goes to `/`.
    redirect: Option<String>,
}

/// The first `redirect` of the query string. Read by hand so that no query string, however
/// malformed (repeated keys, stray `%`), stops a logout.
fn redirect_param(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == "redirect").map(|(_, v)| v.into_owned())
}

/// `raw` if it is a plain path: it starts with one `/` and nothing in it can make a browser
/// leave the origin (`//host`, `/\host`, control characters); else `/`.
fn local_path(raw: Option<&str>) -> String {
    let Some(raw) = raw else { return "/".to_owned() };
    let plain = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.contains('\\')
        && raw.chars().all(|c| !c.is_control() && !c.is_whitespace());
    // Resolved against a stand-in origin, the path must stay on it.
    let base = url::Url::parse("http://doorway.invalid/").ok();
    let stays = base.and_then(|b| b.join(raw).ok()).is_some_and(|u| u.host_str() == Some("doorway.invalid"));
    if plain && stays { raw.to_owned() } else { "/".to_owned() }
}

/// Sign out: the session is ended, the cookie cleared, and the browser sent to `redirect`
/// (Storyden's `AuthProviderLogout`).
#[utoipa::path(post, path = "/auth/logout", operation_id = "storydenLogout", tag = "storyden",
    description = "Ends the session of the `storyden-session` cookie (if any), clears the cookie and redirects to `redirect` — a path, resolved against the project's `storyden.web_address` when set (else Doorway's own origin). Anything but a plain path (`//host`, `https://…`, `/\\host`) redirects to `/`.",
    params(LogoutQuery),
    responses(
        (status = 302, description = "Cookie cleared (`Set-Cookie`, `Clear-Site-Data: \"cookies\"`, `Cache-Control: no-store`); `Location` is the path"),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    if let Some(token) = presented_access_token(&state, &ctx, &headers) {
        match session_flow::sign_out(&state.services, &ctx, SessionProof::AccessToken(token), &client).await {
            // Already ended: the cookie is cleared all the same.
            Ok(()) | Err(SessionError::Unauthenticated) => {}
            Err(e) => return Err(Problem::internal(&e)),
        }
    }
    let settings = StorydenSettings::of(&ctx.project.settings).map_err(|e| Problem::internal(&e))?;
    let origin = settings.web_address.as_deref().and_then(web_origin).unwrap_or_default();
    let path = local_path(redirect_param(query.as_deref()).as_deref());
    let cleared = CookiePolicy::for_public_url(&state.public_url).clear(SESSION_COOKIE, cookie_path(prefix));
    let mut response = redirect(jar.add(cleared), &format!("{origin}{path}"));
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("clear-site-data", HeaderValue::from_static("\"cookies\""));
    Ok(response)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EmailAddressView {
    email_address: String,
    verified: bool,
}

/// The auth-relevant part of Storyden's `Account`.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = StorydenAccount)]
pub struct AccountView {
    id: String,
    /// Null for an account that signed up by address without a handle.
    handle: Option<String>,
    /// The name, else the handle.
    name: Option<String>,
    /// RFC 3339, UTC.
    joined: String,
    /// `verified_email` once the address is verified, else `none`.
    #[schema(example = "none")]
    verified_status: &'static str,
    /// The account's address (none for an account known by its handle only).
    email_addresses: Vec<EmailAddressView>,
}

impl From<User> for AccountView {
    fn from(u: User) -> Self {
        Self {
            verified_status: if u.email_verified { "verified_email" } else { "none" },
            email_addresses: u
                .email
                .iter()
                .map(|e| EmailAddressView { email_address: e.to_string(), verified: u.email_verified })
                .collect(),
            joined: u.created_at.to_rfc3339(),
            name: u.name.or_else(|| u.username.clone()),
            handle: u.username,
            id: u.id,
        }
    }
}

/// Who am I: the signed-in account (Storyden's `AccountGet`).
#[utoipa::path(get, path = "/accounts", operation_id = "storydenAccountGet", tag = "storyden",
    description = "With the `storyden-session` cookie (or a bearer access token).",
    responses(
        (status = 200, body = AccountView, description = "The signed-in account (`Cache-Control: no-store`)"),
        (status = 401, description = "No valid session (problem+json)"),
    ))]
pub async fn account(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let token = presented_access_token(&state, &ctx, &headers).ok_or_else(|| unauthorized("Sign in first"))?;
    let (_, user) = session_flow::authenticate(&state.services, &ctx, token).await.map_err(|e| match e {
        SessionError::Unexpected(cause) => Problem::internal(&cause),
        _ => unauthorized("Sign in first: the session has ended"),
    })?;
    let mut response = Json(AccountView::from(user)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::{local_path, redirect_param};

    #[test]
    fn the_first_redirect_of_any_query_string() {
        assert_eq!(redirect_param(Some("redirect=%2Fa&redirect=/b")).as_deref(), Some("/a"));
        assert_eq!(redirect_param(Some("x=1&redirect=/b%ZZ")).as_deref(), Some("/b%ZZ"));
        assert_eq!(redirect_param(Some("x=1")), None);
        assert_eq!(redirect_param(None), None);
    }

    #[test]
    fn only_plain_paths_are_kept() {
        for good in ["/", "/bye", "/a/b?x=1#y", "/caf%C3%A9"] {
            assert_eq!(local_path(Some(good)), good);
        }
        assert_eq!(local_path(None), "/");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "evil.example",
            "/\t/evil.example",
            "/ /evil.example",
            "",
            "javascript:alert(1)",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad:?}");
        }
    }
}
