//! Storyden's password routes: sign-up and sign-in by handle (`password/…`, accounts without an
//! address) or by address (`email-password/…`), adding or changing the signed-in account's
//! password, and the reset by a mailed link to the front end's page.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::flows::password_change::{self, PasswordChangeError};
use doorway_core::flows::password_recovery::{self, RecoveryError, ResetLink};
use doorway_core::flows::password_signup::{self, PasswordSignup};
use doorway_core::flows::session::authenticate;
use doorway_core::flows::sign_in::{self, Identifier};
use doorway_core::flows::verification::Proof;
use doorway_core::password::Password;
use doorway_core::user::{Login, ProfileDraft, Username};
use serde_json::Value;

use super::{
    AccountId, StorydenSettings, bad_request, busy, email_field, object, rate_limited, required, sign_in_problem,
    signed_in, signup_problem, string_field, unauthorized, weak_password,
};
use crate::client_info::Client;
use crate::contracts::common::settings::ContractSettings;
use crate::contracts::common::{Problem, ProblemJson, presented_access_token};
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;
use crate::telemetry::{record_signup, signup_outcome};

/// `{identifier, token}` (Storyden's `AuthPair`) for sign-in: a handle and a password.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenAuthPair)]
pub struct AuthPairDoc {
    /// The handle (case-insensitive).
    #[schema(min_length = 1, example = "odin")]
    identifier: String,
    /// The password.
    #[schema(format = Password, min_length = 1, example = "correct horse battery")]
    token: String,
}

/// `{identifier, token}` (Storyden's `AuthPair`) for sign-up: a new handle and a password.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenAuthPairSignup)]
pub struct AuthPairSignupDoc {
    /// The handle: 2–30 letters, digits, `_`, `.` or `-` (case-insensitive).
    #[schema(pattern = "^[A-Za-z0-9_.-]{2,30}$", example = "odin")]
    identifier: String,
    /// The password.
    #[schema(format = Password, min_length = 1, example = "correct horse battery")]
    token: String,
}

/// `{email, password, handle?}` (Storyden's `AuthEmailPasswordInitialProps`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenEmailPasswordRequest)]
pub struct EmailPasswordDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    #[schema(format = Password, min_length = 1, example = "correct horse battery")]
    password: String,
    /// Sign-up only: 2–30 letters, digits, `_`, `.` or `-`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{2,30}$", example = "ada")]
    handle: Option<String>,
}

/// `POST /auth/password` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenPasswordCreateRequest)]
pub struct PasswordCreateDoc {
    #[schema(format = Password, min_length = 1, example = "correct horse battery")]
    password: String,
}

/// `PATCH /auth/password` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenPasswordUpdateRequest)]
pub struct PasswordUpdateDoc {
    #[schema(format = Password, min_length = 1)]
    old: String,
    #[schema(format = Password, min_length = 1)]
    new: String,
}

/// Where the reset mail links to.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenTokenUrl)]
pub struct TokenUrlDoc {
    /// The front end's reset page: absolute, under the project's `redirect_allowlist`.
    #[schema(format = "uri", example = "https://forum.example.com/password-reset")]
    url: String,
    /// The query parameter the link carries the token in.
    #[schema(pattern = "^[A-Za-z0-9_.-]{1,64}$", example = "token")]
    query: String,
}

/// `POST /auth/email-password/reset` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenPasswordResetRequestEmail)]
pub struct ResetRequestDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    token_url: TokenUrlDoc,
}

/// `POST /auth/password/reset` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenPasswordResetRequest)]
pub struct ResetDoc {
    /// The token from the mailed link.
    #[schema(min_length = 1)]
    token: String,
    #[schema(format = Password, min_length = 1)]
    new: String,
}

fn password(body: &Value, key: &str) -> Result<Password, Problem> {
    required(body, key).map(|p| Password::new(p.to_owned()))
}

fn handle(raw: &str) -> Result<Username, Problem> {
    Username::parse(raw).map_err(|e| bad_request(e.to_string()))
}

/// A password sign-up (by handle or address) with Storyden's rules; a registered address is 409.
async fn password_sign_up(
    state: &AppState,
    ctx: &doorway_core::ProjectContext,
    login: Login,
    password: Password,
    username: Option<Username>,
    client: doorway_core::events::ClientInfo,
) -> Result<doorway_core::flows::password_signup::SignupOutcome, Problem> {
    let settings = StorydenSettings::of(&ctx.project.settings).map_err(|e| Problem::internal(&e))?;
    if settings.password == doorway_core::PasswordMode::Off {
        record_signup("storyden", "password", "invalid");
        return Err(bad_request("This project signs in by email code only; it takes no passwords"));
    }
    let command = PasswordSignup {
        login,
        password,
        policy: settings.password_policy,
        profile: ProfileDraft { username, ..Default::default() },
        organization_name: None,
        client,
    };
    let outcome = password_signup::sign_up(&state.services, ctx, command).await.map_err(|e| {
        record_signup("storyden", "password", signup_outcome(&e));
        signup_problem(e, StatusCode::CONFLICT)
    })?;
    record_signup("storyden", "password", "created");
    Ok(outcome)
}

/// Register an account known by its handle, without an address (Storyden's `AuthPasswordSignup`).
#[utoipa::path(post, path = "/auth/password/signup", operation_id = "storydenPasswordSignup", tag = "storyden",
    description = "The account has no address: no mail is sent, and it signs in with `password/signin`.",
    request_body(content = AuthPairSignupDoc, description = "`{identifier, token}`: handle and password"),
    responses(
        (status = 200, body = AccountId, description = "Account created; `storyden-session` cookie set"),
        (status = 400, description = "Bad body, handle or password, or the project takes no passwords (problem+json)"),
        (status = 403, description = "Refused by the pre-sign-up hook (problem+json)"),
        (status = 409, description = "Handle taken (problem+json)"),
        (status = 429, description = "Rate limited; see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full or hook unavailable; see Retry-After (problem+json)"),
    ))]
pub async fn handle_sign_up(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    ProblemJson(body): ProblemJson,
) -> Result<Response, Problem> {
    let parsed = required(&body, "identifier").and_then(handle).and_then(|h| Ok((h, password(&body, "token")?)));
    let (username, password) = parsed.inspect_err(|_| record_signup("storyden", "password", "invalid"))?;
    let outcome = password_sign_up(&state, &ctx, Login::Username(username), password, None, client).await?;
    Ok(signed_in(&state, &ctx, prefix, jar, &outcome.access.token, outcome.user.id))
}

/// Register with an address and a password (Storyden's `AuthEmailPasswordSignup`).
#[utoipa::path(post, path = "/auth/email-password/signup", operation_id = "storydenEmailPasswordSignup", tag = "storyden",
    description = "A verification mail is sent when the project verifies addresses (`signup.verify_email`).",
    request_body(content = EmailPasswordDoc, description = "`{email, password, handle?}`"),
    responses(
        (status = 200, body = AccountId, description = "Account created; `storyden-session` cookie set"),
        (status = 400, description = "Bad body, address, handle or password, or the project takes no passwords (problem+json)"),
        (status = 403, description = "Refused by the pre-sign-up hook (problem+json)"),
        (status = 409, description = "Address or handle already registered (problem+json)"),
        (status = 429, description = "Rate limited; see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full or hook unavailable; see Retry-After (problem+json)"),
    ))]
pub async fn email_sign_up(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    ProblemJson(body): ProblemJson,
) -> Result<Response, Problem> {
    let parsed = (|| {
        let email = email_field(&body)?;
        let password = password(&body, "password")?;
        let username = string_field(&body, "handle")?.map(handle).transpose()?;
        Ok::<_, Problem>((email, password, username))
    })();
    let (email, password, username) = parsed.inspect_err(|_| record_signup("storyden", "password", "invalid"))?;
    let outcome = password_sign_up(&state, &ctx, Login::Email(email), password, username, client).await?;
    Ok(signed_in(&state, &ctx, prefix, jar, &outcome.access.token, outcome.user.id))
}

/// Sign in with a handle and password (Storyden's `AuthPasswordSignin`).
#[utoipa::path(post, path = "/auth/password/signin", operation_id = "storydenPasswordSignin", tag = "storyden",
    request_body(content = AuthPairDoc, description = "`{identifier, token}`: handle and password"),
    responses(
        (status = 200, body = AccountId, description = "Signed in; `storyden-session` cookie set"),
        (status = 400, description = "Bad body (problem+json)"),
        (status = 401, description = "Wrong handle or password (one answer for both) (problem+json)"),
        (status = 429, description = "Rate limited; see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full; see Retry-After (problem+json)"),
    ))]
pub async fn handle_sign_in(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    ProblemJson(body): ProblemJson,
) -> Result<Response, Problem> {
    let identifier = required(&body, "identifier")?;
    let password = password(&body, "token")?;
    let outcome = sign_in::sign_in(&state.services, &ctx, Identifier::Username(identifier), password, client)
        .await
        .map_err(sign_in_problem)?;
    Ok(signed_in(&state, &ctx, prefix, jar, &outcome.access.token, outcome.user.id))
}

/// Sign in with an address and password (Storyden's `AuthEmailPasswordSignin`).
#[utoipa::path(post, path = "/auth/email-password/signin", operation_id = "storydenEmailPasswordSignin", tag = "storyden",
    request_body(content = EmailPasswordDoc, description = "`{email, password}`"),
    responses(
        (status = 200, body = AccountId, description = "Signed in; `storyden-session` cookie set"),
        (status = 400, description = "Bad body (problem+json)"),
        (status = 401, description = "Wrong address or password (one answer for both) (problem+json)"),
        (status = 429, description = "Rate limited; see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full; see Retry-After (problem+json)"),
    ))]
pub async fn email_sign_in(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    ProblemJson(body): ProblemJson,
) -> Result<Response, Problem> {
    // Parsed by the flow, so a malformed address is answered like an unknown one.
    let email = required(&body, "email")?;
    let password = password(&body, "password")?;
    let outcome = sign_in::sign_in(&state.services, &ctx, Identifier::Email(email), password, client)
        .await
        .map_err(sign_in_problem)?;
    Ok(signed_in(&state, &ctx, prefix, jar, &outcome.access.token, outcome.user.id))
}

fn change_problem(e: PasswordChangeError) -> Problem {
    match e {
        PasswordChangeError::Unauthenticated => unauthorized("Sign in first: no valid session was presented"),
        PasswordChangeError::WrongPassword => unauthorized("The current password is wrong"),
        PasswordChangeError::NoPassword => {
            Problem::new(StatusCode::NOT_FOUND, "The account has no password to change; add one with POST")
        }
        PasswordChangeError::PasswordAlreadySet => {
            Problem::new(StatusCode::CONFLICT, "The account already has a password; change it with PATCH")
        }
        PasswordChangeError::PasswordNotAccepted(reason) => bad_request(reason),
        PasswordChangeError::WeakPassword(reasons) => weak_password(reasons),
        PasswordChangeError::RateLimited(r) => rate_limited(r),
        PasswordChangeError::Busy { retry_after_secs } => busy(retry_after_secs),
        PasswordChangeError::Unexpected(cause) => Problem::internal(&cause),
    }
}

/// The signed-in account's access token and id, or 401.
async fn signed_in_account<'a>(
    state: &AppState,
    ctx: &doorway_core::ProjectContext,
    headers: &'a HeaderMap,
) -> Result<(&'a str, String), Problem> {
    let token = presented_access_token(state, ctx, headers).ok_or_else(|| unauthorized("Sign in first"))?;
    let (_, user) = authenticate(&state.services, ctx, token).await.map_err(|e| match e {
        doorway_core::flows::session::SessionError::Unexpected(cause) => Problem::internal(&cause),
        _ => unauthorized("Sign in first: the session has ended"),
    })?;
    Ok((token, user.id))
}

/// Add a password to the signed-in account, which has none (Storyden's `AuthPasswordCreate`).
#[utoipa::path(post, path = "/auth/password", operation_id = "storydenPasswordCreate", tag = "storyden",
    description = "The session (the `storyden-session` cookie) stays signed in.",
    request_body(content = PasswordCreateDoc, description = "`{password}`"),
    responses(
        (status = 200, body = AccountId, description = "Password added"),
        (status = 400, description = "Bad body, or the password breaks the policy (problem+json)"),
        (status = 401, description = "No valid session (problem+json)"),
        (status = 409, description = "The account already has a password (problem+json)"),
        (status = 503, description = "Hashing queue full; see Retry-After (problem+json)"),
    ))]
pub async fn add(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    ProblemJson(body): ProblemJson,
) -> Result<Json<AccountId>, Problem> {
    let new = password(&body, "password")?;
    let (token, id) = signed_in_account(&state, &ctx, &headers).await?;
    let policy = StorydenSettings::of(&ctx.project.settings).map_err(|e| Problem::internal(&e))?.password_policy;
    password_change::add_password(&state.services, &ctx, token, new, &policy, &client).await.map_err(change_problem)?;
    Ok(Json(AccountId { id }))
}

/// Change the signed-in account's password (Storyden's `AuthPasswordUpdate`).
#[utoipa::path(patch, path = "/auth/password", operation_id = "storydenPasswordUpdate", tag = "storyden",
    description = "Every other session of the account is signed out; this one stays.",
    request_body(content = PasswordUpdateDoc, description = "`{old, new}`"),
    responses(
        (status = 200, body = AccountId, description = "Password changed"),
        (status = 400, description = "Bad body, or the new password breaks the policy (problem+json)"),
        (status = 401, description = "No valid session, or `old` is wrong (problem+json)"),
        (status = 404, description = "The account has no password (problem+json)"),
        (status = 429, description = "Rate limited; see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full; see Retry-After (problem+json)"),
    ))]
pub async fn change(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    ProblemJson(body): ProblemJson,
) -> Result<Json<AccountId>, Problem> {
    let old = password(&body, "old")?;
    let new = password(&body, "new")?;
    let (token, id) = signed_in_account(&state, &ctx, &headers).await?;
    let policy = StorydenSettings::of(&ctx.project.settings).map_err(|e| Problem::internal(&e))?.password_policy;
    password_change::change_password(&state.services, &ctx, token, old, new, &policy, &client)
        .await
        .map_err(change_problem)?;
    Ok(Json(AccountId { id }))
}

fn recovery_problem(e: RecoveryError) -> Problem {
    match e {
        RecoveryError::InvalidEmail => bad_request("'email' is not a valid email address"),
        RecoveryError::Invalid => unauthorized("The reset token is not valid"),
        RecoveryError::Expired => unauthorized("The reset token has expired or was used; ask for a new one"),
        RecoveryError::LinkNotAllowed => {
            bad_request("'token_url.url' must be an absolute URL under the project's redirect_allowlist")
        }
        RecoveryError::PasswordNotAccepted(reason) => bad_request(reason),
        RecoveryError::WeakPassword(reasons) => weak_password(reasons),
        RecoveryError::RateLimited(r) => rate_limited(r),
        RecoveryError::Busy { retry_after_secs } => busy(retry_after_secs),
        RecoveryError::Unexpected(cause) => Problem::internal(&cause),
    }
}

/// A query parameter name for the token: short, and nothing that needs escaping.
fn query_param(raw: &str) -> Option<&str> {
    let fits = (1..=64).contains(&raw.len())
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    fits.then_some(raw)
}

/// Mail a password-reset link to the front end's page (Storyden's `AuthPasswordResetRequestEmail`).
#[utoipa::path(post, path = "/auth/email-password/reset", operation_id = "storydenPasswordResetRequestEmail", tag = "storyden",
    description = "The mail links to `token_url.url` with the token in query parameter `token_url.query` (and carries a code too). The answer is the same whether or not the address has an account.",
    request_body(content = ResetRequestDoc, description = "`{email, token_url: {url, query}}`"),
    responses(
        (status = 200, description = "A reset mail is on its way if the address has an account (empty body)"),
        (status = 400, description = "Bad body or address, `token_url.url` not allowed, or the project has no passwords (problem+json)"),
        (status = 429, description = "Mail budget spent; see Retry-After (problem+json)"),
    ))]
pub async fn request_reset(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    ProblemJson(body): ProblemJson,
) -> Result<StatusCode, Problem> {
    let email = required(&body, "email")?;
    let token_url = match object(&body)?.get("token_url") {
        Some(v @ Value::Object(_)) => v,
        Some(_) => return Err(bad_request("'token_url' must be an object {url, query}")),
        None => return Err(bad_request("'token_url' is required")),
    };
    let url = required(token_url, "url")?;
    let query = query_param(required(token_url, "query")?)
        .ok_or_else(|| bad_request("'token_url.query' must be 1–64 letters, digits, '_', '.' or '-'"))?;
    let link = ResetLink::App { url: url.to_owned(), query_param: query.to_owned() };
    password_recovery::request_password_reset(&state.services, &ctx, email, link, &client)
        .await
        .map_err(recovery_problem)?;
    Ok(StatusCode::OK)
}

/// Set a new password with the token from the reset link (Storyden's `AuthPasswordReset`).
#[utoipa::path(post, path = "/auth/password/reset", operation_id = "storydenPasswordReset", tag = "storyden",
    description = "The address counts as verified, and every session of the account is signed out: sign in with the new password.",
    request_body(content = ResetDoc, description = "`{token, new}`"),
    responses(
        (status = 200, body = AccountId, description = "Password set"),
        (status = 400, description = "Bad body, or the password breaks the policy (problem+json)"),
        (status = 401, description = "The token is wrong, expired or used (problem+json)"),
        (status = 429, description = "Rate limited; see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full; see Retry-After (problem+json)"),
    ))]
pub async fn reset(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    ProblemJson(body): ProblemJson,
) -> Result<Response, Problem> {
    let token = required(&body, "token")?;
    let new = password(&body, "new")?;
    let policy = StorydenSettings::of(&ctx.project.settings).map_err(|e| Problem::internal(&e))?.password_policy;
    let user = password_recovery::reset_password(&state.services, &ctx, Proof::Link { token }, new, &policy, &client)
        .await
        .map_err(recovery_problem)?;
    Ok(Json(AccountId { id: user.id }).into_response())
}
