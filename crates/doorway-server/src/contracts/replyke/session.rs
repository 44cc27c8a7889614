//! The session routes of Replyke's client: sign-in, sign-out, request-new-access-token and
//! change-password.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::ProjectContext;
use doorway_core::flows::password_change::{self, PasswordChangeError};
use doorway_core::flows::session::{self as session_flow, SessionError, SessionProof};
use doorway_core::flows::sign_in::{self, SignInError};
use doorway_core::password::Password;
use doorway_core::session::RefreshSecret;
use serde::Serialize;
use serde_json::Value;

use super::views::{AuthResponse, AuthUserView, RefreshCookie};
use super::{Fields, MessageResponse, OptionalReplykeJson, ReplykeError, ReplykeJson, ReplykeSettings};
use crate::client_info::Client;
use crate::contracts::common::presented_access_token;
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;

/// `POST /auth/sign-in` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeSignInRequest)]
pub struct SignInDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    #[schema(format = Password, min_length = 1)]
    password: String,
}

/// `{refreshToken}`: for clients without a cookie jar (the cookie wins when both are sent).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeRefreshRequest)]
#[serde(rename_all = "camelCase")]
pub struct RefreshDoc {
    #[schema(nullable)]
    refresh_token: Option<String>,
}

/// The answer when no refresh token was presented: Replyke's signed-out state.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReplykeSignedOutResponse)]
// No other members (`additionalProperties: false`), so a refreshed session never matches it.
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignedOutResponse {
    /// Always null.
    #[schema(nullable, required = true, value_type = Option<Object>)]
    user: Option<AuthUserView>,
    /// Always null.
    #[schema(nullable, required = true, value_type = Option<String>)]
    access_token: Option<String>,
}

/// The answer of request-new-access-token: a refreshed session, or the signed-out state.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReplykeRequestNewAccessTokenResponse)]
#[serde(untagged)]
pub enum RefreshAnswer {
    Refreshed(AuthResponse),
    SignedOut(SignedOutResponse),
}

fn sign_in_error(e: SignInError) -> ReplykeError {
    match e {
        SignInError::InvalidCredentials => {
            ReplykeError::new(StatusCode::UNAUTHORIZED, "auth/invalid-credentials", "Incorrect email or password.")
        }
        SignInError::RateLimited(r) => ReplykeError::rate_limited(r),
        SignInError::Busy { retry_after_secs } => ReplykeError::busy(retry_after_secs),
        SignInError::Unexpected(cause) => ReplykeError::internal(&cause),
    }
}

/// Sign in with email and password (Replyke).
#[utoipa::path(post, path = "/auth/sign-in", operation_id = "replykeSignIn", tag = "replyke",
    description = "Served for any project as `/{projectId}/auth/sign-in`. Replyke tells an unknown address (403 `auth/no-user-found`) from a wrong password (401 `auth/wrong-password`); Doorway answers both with 401 `auth/invalid-credentials`, so the answer never says which addresses have accounts.",
    request_body = SignInDoc,
    responses(
        (status = 200, body = AuthResponse, description = "Signed in; the refresh token is also set in the `replyke-refresh-jwt` cookie"),
        (status = 400, description = "`auth/missing-fields`, `auth/invalid-email` (over 254 characters), or `auth/invalid-body` (not an object, or a field that is not a string)"),
        (status = 401, description = "`auth/invalid-credentials`: unknown address or wrong password"),
        (status = 404, description = "`project/not-found`"),
        (status = 429, description = "`auth/too-many-requests`, with Retry-After"),
        (status = 503, description = "`auth/server-busy`, with Retry-After"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    ReplykeJson(body): ReplykeJson,
) -> Result<Response, ReplykeError> {
    let fields = Fields::of(&body)?;
    let (Some(email), Some(password)) = (fields.string("email")?, fields.string("password")?) else {
        return Err(ReplykeError::missing("Email, and password are required."));
    };
    let email = sign_in::Identifier::Email(super::email::bounded_email(email)?);
    let outcome = sign_in::sign_in(&state.services, &ctx, email, Password::new(password.to_owned()), client)
        .await
        .map_err(sign_in_error)?;
    let jar = RefreshCookie::new(&state, &ctx, prefix).issue(jar, &outcome.refresh_secret);
    let body = AuthResponse::new(&ctx, &outcome.access, &outcome.refresh_secret, &outcome.user);
    Ok((jar, Json(body)).into_response())
}

/// The refresh token of a request: the cookie's, else the body's `refreshToken` (Replyke's order).
fn presented_refresh_token(jar: &CookieJar, body: &Value) -> Result<Option<RefreshSecret>, ReplykeError> {
    let from_body = Fields::of(body)?.string("refreshToken")?.map(RefreshSecret::from_client);
    Ok(RefreshCookie::presented(jar).or(from_body))
}

fn session_error(e: SessionError) -> ReplykeError {
    match e {
        // `NotFound` belongs to revoking one session by id, which no Replyke route does.
        SessionError::InvalidRefreshToken | SessionError::Unauthenticated | SessionError::NotFound => {
            ReplykeError::new(StatusCode::FORBIDDEN, "auth/refresh-token-invalid", "Invalid or expired refresh token.")
        }
        SessionError::RefreshTokenReused => ReplykeError::new(
            StatusCode::FORBIDDEN,
            "auth/refresh-token-reused",
            "This refresh token was already used; the session has been revoked. Sign in again.",
        ),
        SessionError::Unexpected(cause) => ReplykeError::internal(&cause),
    }
}

/// Exchange the refresh token for a new access token (Replyke); the refresh token rotates.
#[utoipa::path(post, path = "/auth/request-new-access-token", operation_id = "replykeRequestNewAccessToken", tag = "replyke",
    description = "Served for any project as `/{projectId}/auth/request-new-access-token`. The refresh token comes from the `replyke-refresh-jwt` cookie, else from the body's `refreshToken`. Unlike Replyke, Doorway rotates it: the answer carries the new one (body and cookie), and presenting a used one again revokes the session.",
    request_body(content = Option<RefreshDoc>, description = "Optional: `{refreshToken}` for clients that do not keep cookies"),
    responses(
        (status = 200, body = RefreshAnswer, description = "A new access token and a new refresh token (also in the cookie), with the user; `{user: null, accessToken: null}` when no refresh token was presented"),
        (status = 400, description = "`auth/invalid-body`: not a JSON object, or `refreshToken` not a string"),
        (status = 403, description = "`auth/refresh-token-invalid` (unknown, expired or revoked), or `auth/refresh-token-reused` (the session is now revoked); the cookie is cleared"),
        (status = 404, description = "`project/not-found`"),
    ))]
pub async fn request_new_access_token(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    OptionalReplykeJson(body): OptionalReplykeJson,
) -> Result<Response, Response> {
    let cookie = RefreshCookie::new(&state, &ctx, prefix);
    let Some(presented) = presented_refresh_token(&jar, &body).map_err(IntoResponse::into_response)? else {
        return Ok(Json(RefreshAnswer::SignedOut(SignedOutResponse { user: None, access_token: None })).into_response());
    };
    let refreshed = match session_flow::refresh(&state.services, &ctx, &presented, &client).await {
        Ok(r) => r,
        Err(e @ (SessionError::RefreshTokenReused | SessionError::InvalidRefreshToken)) => {
            return Err((cookie.clear(jar), session_error(e)).into_response());
        }
        Err(e) => return Err(session_error(e).into_response()),
    };
    let user = session_user(&state, &ctx, &refreshed.access.token).await.map_err(IntoResponse::into_response)?;
    let jar = cookie.issue(jar, &refreshed.refresh_secret);
    let body = AuthResponse::new(&ctx, &refreshed.access, &refreshed.refresh_secret, &user);
    Ok((jar, Json(RefreshAnswer::Refreshed(body))).into_response())
}

/// The user of a session just refreshed, through the same check every access token gets.
async fn session_user(
    state: &AppState,
    ctx: &ProjectContext,
    access_token: &str,
) -> Result<doorway_core::user::User, ReplykeError> {
    session_flow::authenticate(&state.services, ctx, access_token).await.map(|(_, user)| user).map_err(session_error)
}

/// End the session of a refresh token (Replyke).
#[utoipa::path(post, path = "/auth/sign-out", operation_id = "replykeSignOut", tag = "replyke",
    description = "Served for any project as `/{projectId}/auth/sign-out`. The refresh token comes from the `replyke-refresh-jwt` cookie, else from the body's `refreshToken`. As Replyke does, the answer is 204 whether or not a live session was found, so it says nothing about the token.",
    request_body(content = Option<RefreshDoc>, description = "Optional: `{refreshToken}` for clients that do not keep cookies"),
    responses(
        (status = 204, description = "The session (if any) is revoked and the cookie cleared"),
        (status = 400, description = "`auth/invalid-body`: not a JSON object, or `refreshToken` not a string"),
        (status = 404, description = "`project/not-found`"),
    ))]
pub async fn sign_out(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    OptionalReplykeJson(body): OptionalReplykeJson,
) -> Result<Response, ReplykeError> {
    let presented = presented_refresh_token(&jar, &body)?;
    let jar = match RefreshCookie::presented(&jar) {
        Some(_) => RefreshCookie::new(&state, &ctx, prefix).clear(jar),
        None => jar,
    };
    if let Some(secret) = &presented {
        match session_flow::sign_out(&state.services, &ctx, SessionProof::RefreshToken(secret), &client).await {
            Ok(()) | Err(SessionError::Unauthenticated) => {}
            Err(e) => return Err(session_error(e)),
        }
    }
    Ok((StatusCode::NO_CONTENT, jar).into_response())
}

/// `POST /auth/change-password` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeChangePasswordRequest)]
#[serde(rename_all = "camelCase")]
pub struct ChangePasswordDoc {
    /// The current password.
    #[schema(format = Password, min_length = 1)]
    password: String,
    /// The project's `password_policy`.
    #[schema(format = Password, min_length = 1)]
    new_password: String,
}

fn password_change_error(e: PasswordChangeError) -> ReplykeError {
    match e {
        PasswordChangeError::Unauthenticated => invalid_access_token(),
        PasswordChangeError::WrongPassword => {
            ReplykeError::new(StatusCode::UNAUTHORIZED, "auth/wrong-password", "Incorrect password.")
        }
        PasswordChangeError::NoPassword => ReplykeError::new(
            StatusCode::BAD_REQUEST,
            "auth/not-password-authenticated",
            "User is not authenticated with email and password.",
        ),
        PasswordChangeError::WeakPassword(reasons) => ReplykeError::weak_password("newPassword", reasons),
        PasswordChangeError::PasswordNotAccepted(message) => {
            ReplykeError::weak_password("newPassword", vec![message.to_owned()])
        }
        PasswordChangeError::RateLimited(r) => ReplykeError::rate_limited(r),
        PasswordChangeError::Busy { retry_after_secs } => ReplykeError::busy(retry_after_secs),
        // Only adding a password (which no Replyke route does) can meet an existing one.
        e @ PasswordChangeError::PasswordAlreadySet => ReplykeError::internal(&e),
        PasswordChangeError::Unexpected(cause) => ReplykeError::internal(&cause),
    }
}

/// Replyke's middleware answers 403 for an access token it cannot verify.
fn invalid_access_token() -> ReplykeError {
    ReplykeError::new(
        StatusCode::FORBIDDEN,
        "auth/invalid-access-token",
        "The access token is invalid or expired, or its session has ended.",
    )
}

/// Change the password of the signed-in user (Replyke).
#[utoipa::path(post, path = "/auth/change-password", operation_id = "replykeChangePassword", tag = "replyke",
    description = "Served for any project as `/{projectId}/auth/change-password`. Every other session of the user is revoked; the one that asked stays signed in. The new password follows the project's `password_policy` (the core password-change flow's policy), not `replyke.password_policy`.",
    security(("bearer" = [])),
    request_body = ChangePasswordDoc,
    responses(
        (status = 200, body = MessageResponse, description = "Password changed"),
        (status = 400, description = "`auth/missing-fields`, `auth/invalid-body`, `auth/invalid-password` (the new one, with `details`), or `auth/not-password-authenticated` (the account has no password)"),
        (status = 401, description = "`auth/unauthorized` (no access token), or `auth/wrong-password` (the current password)"),
        (status = 403, description = "`auth/invalid-access-token`: invalid or expired, or its session has ended"),
        (status = 404, description = "`project/not-found`"),
        (status = 429, description = "`auth/too-many-requests` (the sign-in budget), with Retry-After"),
        (status = 503, description = "`auth/server-busy`, with Retry-After"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    ReplykeJson(body): ReplykeJson,
) -> Result<Json<MessageResponse>, ReplykeError> {
    let Some(token) = presented_access_token(&state, &ctx, &headers) else {
        return Err(ReplykeError::new(
            StatusCode::UNAUTHORIZED,
            "auth/unauthorized",
            "Sign in first: send the access token as 'Authorization: Bearer …'.",
        ));
    };
    let fields = Fields::of(&body)?;
    let (Some(current), Some(new)) = (fields.string("password")?, fields.string("newPassword")?) else {
        return Err(ReplykeError::missing("The current password and a new password are both required."));
    };
    let (current, new) = (Password::new(current.to_owned()), Password::new(new.to_owned()));
    let policy = ReplykeSettings::password_policy(&ctx)?;
    password_change::change_password(&state.services, &ctx, token, current, new, &policy, &client)
        .await
        .map_err(password_change_error)?;
    Ok(MessageResponse::ok("Password updated successfully."))
}
