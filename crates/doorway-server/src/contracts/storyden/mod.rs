//! Seed 004 (Storyden) and the rest of Storyden's auth surface (`/auth/…`, `GET /accounts`),
//! in the shapes of Storyden's own `api/openapi.yaml`.
//!
//! Every way in answers `200 {id}` and sets the HttpOnly `storyden-session` cookie (the access
//! token), as Storyden does. Errors are RFC 9457 problem details.
//!
//! - [`email`]: `email/signup` (seed 004: an address already registered gets 422, no cookie,
//!   and its code again), `email/signin` (a code by mail), `email/verify`.
//! - [`password`]: sign-up and sign-in by handle (`password/…`) or address (`email-password/…`),
//!   adding and changing a password, and the reset by mailed link.
//! - [`session`]: `logout` (cookie cleared, redirect to a path) and who-am-I (`GET /accounts`).

mod email;
mod password;
mod session;

use axum::extract::Extension;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::PasswordMode;
use doorway_core::ProjectContext;
use doorway_core::email::EmailAddress;
use doorway_core::flows::password_signup::SignupError;
use doorway_core::flows::sign_in::SignInError;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::settings::{ContractSettings, relaxed_policy};
use super::{ContractAdapter, SettingsCheck};
use crate::contracts::common::Problem;
use crate::cookies::CookiePolicy;
use crate::project_scope::RoutePrefix;
use crate::state::AppState;

/// `projects.<slug>.storyden`: whether sign-up takes a password, its rules, and where a
/// logout redirects to.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorydenSettings {
    pub password: PasswordMode,
    pub password_policy: doorway_core::password::PasswordPolicy,
    /// The front end's origin (Storyden's `WEB_ADDRESS`): `logout?redirect=/path` goes to
    /// `{web_address}/path`. Unset: to `/path` on Doorway's own origin.
    pub web_address: Option<String>,
}

impl Default for StorydenSettings {
    fn default() -> Self {
        Self { password: PasswordMode::Optional, password_policy: relaxed_policy(), web_address: None }
    }
}

impl ContractSettings for StorydenSettings {
    const KEY: &'static str = "storyden";

    fn problems(&self) -> Vec<(&'static str, String)> {
        match &self.web_address {
            Some(raw) if web_origin(raw).is_none() => {
                vec![("web_address", format!("'{raw}' is not an http(s) origin such as https://forum.example.com"))]
            }
            _ => Vec::new(),
        }
    }
}

/// An absolute http(s) URL with nothing after the host and port, without its trailing slash.
fn web_origin(raw: &str) -> Option<String> {
    let url = url::Url::parse(raw).ok()?;
    let bare = matches!(url.scheme(), "http" | "https")
        && url.host().is_some()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    bare.then(|| url.as_str().trim_end_matches('/').to_owned())
}

/// Seed 004 and Storyden's auth routes; its errors are RFC 9457 problem details.
pub struct Storyden;

/// Paths this contract owns (project prefix stripped).
const PATHS: &[&str] = &[
    "/auth/email/signup",
    "/auth/email/signin",
    "/auth/email/verify",
    "/auth/password",
    "/auth/password/signup",
    "/auth/password/signin",
    "/auth/password/reset",
    "/auth/email-password/signup",
    "/auth/email-password/signin",
    "/auth/email-password/reset",
    "/auth/logout",
    "/accounts",
];

impl ContractAdapter for Storyden {
    fn name(&self) -> &'static str {
        "storyden"
    }

    fn tag(&self) -> (&'static str, &'static str) {
        ("storyden", "Storyden-compatible sign-up (seed 004), sign-in, passwords, logout and who-am-I")
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(email::sign_up))
            .routes(routes!(email::sign_in))
            .routes(routes!(email::verify))
            .routes(routes!(password::handle_sign_up))
            .routes(routes!(password::handle_sign_in))
            .routes(routes!(password::email_sign_up))
            .routes(routes!(password::email_sign_in))
            .routes(routes!(password::add, password::change))
            .routes(routes!(password::request_reset))
            .routes(routes!(password::reset))
            .routes(routes!(session::logout))
            .routes(routes!(session::account))
    }

    fn owns(&self, path: &str) -> bool {
        PATHS.contains(&path.trim_end_matches('/'))
    }

    fn refuse(&self, status: StatusCode, _code: &'static str, message: String) -> Response {
        Problem::new(status, message).into_response()
    }

    fn settings_check(&self) -> Option<SettingsCheck> {
        Some((StorydenSettings::KEY, StorydenSettings::check))
    }
}

pub const SESSION_COOKIE: &str = "storyden-session";

/// `200 {id}`: what Storyden answers to every way in.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = StorydenAuthSuccess)]
pub struct AccountId {
    /// The account's id (empty after `email/signin`, which says nothing about the address).
    id: String,
}

/// The path of the session cookie: the project's prefix, or `/`.
fn cookie_path(prefix: Option<Extension<RoutePrefix>>) -> String {
    let prefix = prefix.map(|Extension(p)| p.0).unwrap_or_default();
    if prefix.is_empty() { "/".to_owned() } else { prefix }
}

/// `200 {id}` with the `storyden-session` cookie holding the access token.
fn signed_in(
    state: &AppState,
    ctx: &ProjectContext,
    prefix: Option<Extension<RoutePrefix>>,
    jar: CookieJar,
    access_token: &str,
    user_id: String,
) -> Response {
    let cookie = CookiePolicy::for_public_url(&state.public_url).set(
        SESSION_COOKIE,
        access_token.to_owned(),
        cookie_path(prefix),
        i64::from(ctx.project.settings.access_token_ttl_secs),
    );
    (jar.add(cookie), axum::Json(AccountId { id: user_id })).into_response()
}

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, detail)
}

fn unauthorized(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, detail)
}

/// A JSON object, or 400.
fn object(body: &Value) -> Result<&serde_json::Map<String, Value>, Problem> {
    body.as_object().ok_or_else(|| bad_request("The body must be a JSON object"))
}

fn string_field<'a>(body: &'a Value, key: &str) -> Result<Option<&'a str>, Problem> {
    match object(body)?.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad_request(format!("'{key}' must be a string"))),
    }
}

/// A string member that must be there and not be empty.
fn required<'a>(body: &'a Value, key: &str) -> Result<&'a str, Problem> {
    string_field(body, key)?.filter(|s| !s.is_empty()).ok_or_else(|| bad_request(format!("'{key}' is required")))
}

fn email_field(body: &Value) -> Result<EmailAddress, Problem> {
    EmailAddress::parse(required(body, "email")?).map_err(|e| bad_request(e.to_string()))
}

fn rate_limited(r: doorway_core::rate_limit::RateLimited) -> Problem {
    Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts; retry later")
        .with_retry(r.retry_after_secs, Some(r.limit))
}

fn busy(retry_after_secs: u64) -> Problem {
    Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Too many requests in progress; retry shortly")
        .with_retry(retry_after_secs, None)
}

fn weak_password(reasons: Vec<String>) -> Problem {
    let mut p = bad_request(reasons.join("; "));
    p.extensions.insert("errors".into(), json!(reasons));
    p
}

/// Sign-up refusals. `email_taken` is the status for a registered address: 422 on seed 004's
/// `email/signup`, Storyden's 409 on the password sign-ups.
fn signup_problem(e: SignupError, email_taken: StatusCode) -> Problem {
    match e {
        SignupError::EmailTaken => Problem::new(email_taken, "The address is already registered"),
        SignupError::UsernameTaken => Problem::new(StatusCode::CONFLICT, "This handle is already taken"),
        SignupError::WeakPassword(reasons) => weak_password(reasons),
        SignupError::PasswordNotAccepted(reason) => bad_request(reason),
        SignupError::Denied { message } => Problem::new(StatusCode::FORBIDDEN, message),
        SignupError::HookUnavailable => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Sign-up validation is unavailable; retry shortly")
                .with_retry(5, None)
        }
        SignupError::Busy { retry_after_secs } => busy(retry_after_secs),
        SignupError::RateLimited(r) => rate_limited(r),
        SignupError::Unexpected(cause) => Problem::internal(&cause),
    }
}

fn sign_in_problem(e: SignInError) -> Problem {
    match e {
        SignInError::InvalidCredentials => unauthorized("Invalid credentials"),
        SignInError::RateLimited(r) => rate_limited(r),
        SignInError::Busy { retry_after_secs } => busy(retry_after_secs),
        SignInError::Unexpected(cause) => Problem::internal(&cause),
    }
}

#[cfg(test)]
mod tests {
    use super::{ContractSettings, StorydenSettings, web_origin};

    #[test]
    fn a_web_address_that_is_not_an_origin_is_a_settings_problem() {
        let with = |raw: &str| StorydenSettings { web_address: Some(raw.into()), ..Default::default() }.problems();
        assert!(with("https://forum.example.com").is_empty());
        let problems = with("forum.example.com/app");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, "web_address");
    }

    #[test]
    fn web_address_is_a_bare_origin() {
        assert_eq!(web_origin("https://forum.example.com").as_deref(), Some("https://forum.example.com"));
        assert_eq!(web_origin("http://localhost:3000/").as_deref(), Some("http://localhost:3000"));
        for bad in [
            "forum.example.com",
            "ftp://x.example",
            "https://x.example/app",
            "https://x.example/?a=1",
            "https://u@x.example",
        ] {
            assert_eq!(web_origin(bad), None, "{bad}");
        }
    }
}
