//! Seed 000 (Aufy) and the endpoints around it, in Aufy's wire format: RFC 9457 problem details
//! and validation problem details (`errors: {Field: [message]}`) for every refusal.
//!
//! Aufy mounts two groups, `{auth}` (`AuthApiBasePath`, `/api/auth` by default) and `{account}`
//! (`AccountApiBasePath`, `/api/account`); both are project settings here
//! (`projects.<slug>.aufy.auth_api_base_path` / `account_api_base_path`, see [`paths`]).
//!
//! - `external`: seed 000's external sign-up with extra fields and external sign-in (served at
//!   `/auth/…`, where the seed put them, and under `{auth}`).
//! - `sign_up`: `{auth}/signup` (email + password) → `{requiresEmailConfirmation}`.
//! - `sign_in`: `{auth}/signin` (`?usecookie=true` sets `Aufy.AccessToken` too), `{auth}/token`
//!   (cookie-less: the refresh token in the body), `{auth}/signin/refresh` (by the
//!   `Aufy.RefreshToken` cookie), `{auth}/token/refresh` (by `Authorization: Bearer <refresh>`),
//!   `{auth}/signout`.
//! - `account`: `{auth}/whoami`, `{auth}/external/providers`, `{account}/info`,
//!   `{account}/password/change`, `{account}/link/external`.
//! - `recovery`: `{account}/email/confirm`, `{account}/email/confirm/resend`,
//!   `{account}/password/forgot`, `{account}/password/reset`.
//!
//! Request bodies are read as ASP.NET reads them: property names match case-insensitively.

mod account;
mod external;
mod input;
pub(crate) mod paths;
mod recovery;
mod sign_in;
mod sign_up;

use axum::Json;
use axum::extract::Extension;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::ProjectContext;
use doorway_core::flows::session::SessionError;
use doorway_core::session::{AccessToken, RefreshSecret};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::settings::ContractSettings;
use super::{ContractAdapter, SettingsCheck};
use crate::contracts::common::Problem;
use crate::cookies::CookiePolicy;
use crate::project_scope::RoutePrefix;
use crate::state::AppState;

pub use paths::AufySettings;

/// Seed 000; its errors are RFC 9457 problem details.
pub struct Aufy;

impl ContractAdapter for Aufy {
    fn name(&self) -> &'static str {
        "aufy"
    }

    fn tag(&self) -> (&'static str, &'static str) {
        ("aufy", "Aufy-compatible sign-up, sign-in, sessions, account and recovery (seed 000 and its companions)")
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(external::challenge))
            .routes(routes!(external::callback))
            .routes(routes!(external::sign_in))
            .routes(routes!(external::sign_up))
            .routes(routes!(sign_up::sign_up))
            .routes(routes!(sign_in::sign_in))
            .routes(routes!(sign_in::token))
            .routes(routes!(sign_in::sign_in_refresh))
            .routes(routes!(sign_in::token_refresh))
            .routes(routes!(sign_in::sign_out))
            .routes(routes!(account::who_am_i))
            .routes(routes!(account::external_providers))
            .routes(routes!(account::info))
            .routes(routes!(account::change_password))
            .routes(routes!(account::link_external))
            .routes(routes!(recovery::confirm_email))
            .routes(routes!(recovery::resend_confirmation))
            .routes(routes!(recovery::forgot_password))
            .routes(routes!(recovery::reset_password))
    }

    fn owns(&self, path: &str) -> bool {
        paths::owns(path)
    }

    fn refuse(&self, status: StatusCode, _code: &'static str, message: String) -> Response {
        Problem::new(status, message).into_response()
    }

    fn settings_check(&self) -> Option<SettingsCheck> {
        Some((AufySettings::KEY, paths::check))
    }
}

pub const SIGN_UP_COOKIE: &str = "Aufy.ExternalSignUp";
pub const SIGN_IN_COOKIE: &str = "Aufy.ExternalSignIn";
pub const REFRESH_COOKIE: &str = "Aufy.RefreshToken";
pub const ACCESS_COOKIE: &str = "Aufy.AccessToken";

fn prefix_of(prefix: Option<Extension<RoutePrefix>>) -> String {
    prefix.map(|Extension(p)| p.0).unwrap_or_default()
}

/// Aufy's cookies live at the root of the project's routes (Aufy sets them at `/`), so that
/// both `/auth/…` and `{auth}/…` (whatever the project configured) receive them.
fn cookie_path(prefix: &str) -> String {
    if prefix.is_empty() { "/".to_owned() } else { prefix.to_owned() }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UseCookieQuery {
    /// Also set the access token as the HttpOnly `Aufy.AccessToken` cookie.
    #[serde(default, alias = "useCookie", alias = "UseCookie")]
    #[param(rename = "usecookie")]
    usecookie: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    access_token: String,
    /// Seconds until the access token expires.
    expires_in: u32,
    /// Always `Bearer`.
    token_type: &'static str,
}

/// The cookie-less answer (`token`, `token/refresh`): the refresh token travels in the body.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BearerTokenResponse {
    access_token: String,
    /// Present it as `Authorization: Bearer …` to `{auth}/token/refresh`; it rotates on use.
    refresh_token: String,
    expires_in: u32,
    /// Always `Bearer`.
    token_type: &'static str,
}

/// A signed-in answer in cookie mode: the body, the `Aufy.RefreshToken` cookie, the
/// `Aufy.AccessToken` cookie on request, and `used` (a pending external cookie) cleared.
fn cookie_tokens(
    state: &AppState,
    ctx: &ProjectContext,
    prefix: &str,
    jar: CookieJar,
    used: Option<&'static str>,
    (access, refresh): (&AccessToken, &RefreshSecret),
    use_cookie: bool,
) -> Response {
    let policy = CookiePolicy::for_public_url(&state.public_url);
    let settings = &ctx.project.settings;
    let path = cookie_path(prefix);
    let mut jar = jar.add(policy.set(
        REFRESH_COOKIE,
        refresh.expose().to_owned(),
        path.clone(),
        i64::from(settings.refresh_token_ttl_secs),
    ));
    if let Some(used) = used {
        jar = jar.add(policy.clear(used, path.clone()));
    }
    if use_cookie {
        jar = jar.add(policy.set(ACCESS_COOKIE, access.token.clone(), path, i64::from(settings.access_token_ttl_secs)));
    }
    let body = TokenResponse {
        access_token: access.token.clone(),
        expires_in: settings.access_token_ttl_secs,
        token_type: "Bearer",
    };
    (jar, Json(body)).into_response()
}

/// Sets `Aufy.RefreshToken` and `Aufy.AccessToken`.
fn session_cookies(
    state: &AppState,
    ctx: &ProjectContext,
    prefix: &str,
    jar: CookieJar,
    (access, refresh): (&AccessToken, &RefreshSecret),
) -> CookieJar {
    let policy = CookiePolicy::for_public_url(&state.public_url);
    let settings = &ctx.project.settings;
    let path = cookie_path(prefix);
    jar.add(policy.set(
        REFRESH_COOKIE,
        refresh.expose().to_owned(),
        path.clone(),
        i64::from(settings.refresh_token_ttl_secs),
    ))
    .add(policy.set(ACCESS_COOKIE, access.token.clone(), path, i64::from(settings.access_token_ttl_secs)))
}

/// The cookie-less answer: both tokens in the body, no cookie.
fn bearer_tokens(ctx: &ProjectContext, access: &AccessToken, refresh: &RefreshSecret) -> Response {
    Json(BearerTokenResponse {
        access_token: access.token.clone(),
        refresh_token: refresh.expose().to_owned(),
        expires_in: ctx.project.settings.access_token_ttl_secs,
        token_type: "Bearer",
    })
    .into_response()
}

/// Clears Aufy's session cookies.
fn clear_session_cookies(state: &AppState, prefix: &str, jar: CookieJar) -> CookieJar {
    let policy = CookiePolicy::for_public_url(&state.public_url);
    jar.add(policy.clear(REFRESH_COOKIE, cookie_path(prefix))).add(policy.clear(ACCESS_COOKIE, cookie_path(prefix)))
}

/// 401 as Aufy's JWT bearer scheme answers it (with `WWW-Authenticate: Bearer`), as a problem.
fn unauthenticated() -> Response {
    let mut response =
        Problem::new(StatusCode::UNAUTHORIZED, "Sign in first: no valid access token was presented").into_response();
    response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
    response
}

fn too_many(r: doorway_core::rate_limit::RateLimited) -> Problem {
    Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts").with_retry(r.retry_after_secs, Some(r.limit))
}

fn busy(retry_after_secs: u64) -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Too many requests are being processed; retry shortly")
        .with_retry(retry_after_secs, None)
}

fn session_problem(e: SessionError) -> Response {
    match e {
        SessionError::InvalidRefreshToken
        | SessionError::RefreshTokenReused
        | SessionError::Unauthenticated
        | SessionError::NotFound => unauthenticated(),
        SessionError::Unexpected(cause) => Problem::internal(&cause).into_response(),
    }
}
