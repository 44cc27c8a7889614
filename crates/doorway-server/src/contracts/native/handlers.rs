//! The native session handlers: sign-up, sign-in, refresh, sign-out and who-am-I.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::ProjectContext;
use doorway_core::flows::email_signup::{self, EmailSignupOutcome};
use doorway_core::flows::password_signup::{self, SignupError, SignupOutcome};
use doorway_core::flows::session::{self as session_flow, SessionError, SessionProof};
use doorway_core::flows::sign_in::{self, SignInError};
use doorway_core::password::Password;
use doorway_core::session::RefreshSecret;
use serde_json::Value;

use super::parse::{NativeSignup, parse_signup};
use super::views::*;
use crate::client_info::Client;
use crate::contracts::common::bot_check::BotCheckHeader;
use crate::contracts::common::{BotChecked, CookieNames, Fields, NativeJson, SessionCookies, presented_access_token};
use crate::errors::{ApiError, ErrorBody, FieldError};
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;
use crate::telemetry::{record_signup, signup_outcome};

pub(crate) fn signup_error(e: SignupError) -> ApiError {
    match e {
        SignupError::EmailTaken => {
            ApiError::new(StatusCode::CONFLICT, "EMAIL_EXISTS", "An account with this email already exists")
        }
        SignupError::UsernameTaken => {
            ApiError::new(StatusCode::CONFLICT, "USERNAME_EXISTS", "This username is already taken")
        }
        SignupError::Denied { message } => ApiError::new(StatusCode::FORBIDDEN, "SIGNUP_DENIED", message),
        SignupError::HookUnavailable => ApiError::unavailable("Sign-up validation is unavailable; retry shortly", 5),
        SignupError::WeakPassword(reasons) => {
            ApiError::validation(reasons.into_iter().map(|r| FieldError::new("password", r)).collect())
        }
        SignupError::Busy { retry_after_secs } => {
            ApiError::unavailable("Too many sign-ups in progress; retry shortly", retry_after_secs)
        }
        SignupError::RateLimited(r) => ApiError::rate_limited(r),
        SignupError::PasswordNotAccepted(message) => ApiError::validation(vec![FieldError::new("password", message)]),
        SignupError::Unexpected(cause) => ApiError::internal(&cause),
    }
}

pub(crate) fn session_error(e: SessionError) -> ApiError {
    match e {
        SessionError::InvalidRefreshToken => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "INVALID_REFRESH_TOKEN",
            "The refresh token is missing, expired or revoked; sign in again",
        ),
        SessionError::RefreshTokenReused => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "REFRESH_TOKEN_REUSED",
            "This refresh token was already used; the session has been revoked, sign in again",
        ),
        SessionError::Unauthenticated => {
            ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Sign in first: no valid session was presented")
        }
        SessionError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "SESSION_NOT_FOUND", "No active session of yours has this id")
        }
        SessionError::Unexpected(cause) => ApiError::internal(&cause),
    }
}

/// The access token the request carries (Bearer or cookie), or the native 401.
pub(crate) fn signed_in<'a>(
    state: &AppState,
    ctx: &ProjectContext,
    headers: &'a HeaderMap,
) -> Result<&'a str, ApiError> {
    presented_access_token(state, ctx, headers).ok_or_else(|| session_error(SessionError::Unauthenticated))
}

/// Runs a parsed native sign-up (password, or email only) and records it under `contract`'s
/// metrics label; the hosted pages create accounts through this too.
pub(crate) async fn create_account(
    state: &AppState,
    ctx: &ProjectContext,
    command: NativeSignup,
    contract: &'static str,
) -> Result<SignupOutcome, ApiError> {
    let (method, result) = match command {
        NativeSignup::Password(cmd) => ("password", password_signup::sign_up(&state.services, ctx, cmd).await),
        NativeSignup::EmailOnly(cmd) => (
            "email",
            match email_signup::sign_up(&state.services, ctx, cmd).await {
                Ok(EmailSignupOutcome::Created(outcome)) => Ok(*outcome),
                Ok(EmailSignupOutcome::AlreadyRegistered) => Err(SignupError::EmailTaken),
                Err(e) => Err(e),
            },
        ),
    };
    let outcome = result.map_err(|e| {
        record_signup(contract, method, signup_outcome(&e));
        signup_error(e)
    })?;
    record_signup(contract, method, "created");
    Ok(outcome)
}

/// Create an account with email and password (seed 002).
#[utoipa::path(post, path = "/api/auth/sign-up", operation_id = "nativeSignUp", tag = "auth",
    params(BotCheckHeader), request_body = SignUpRequestDoc,
    responses(
        (status = 201, body = SignUpResponse, description = "Account created; refresh token set in the `doorway_refresh` cookie"),
        (status = 200, body = super::oauth::AuthorizationResponse, description = "OAuth form `{provider, callbackUrl}`: the provider's authorization URL; the short-lived HttpOnly `doorway_oauth_state` cookie binds the flow to this browser"),
        (status = 400, body = ErrorBody, description = "INVALID_JSON"),
        (status = 403, body = ErrorBody, description = "BOT_CHECK_FAILED: the project's bot protection is on and `X-Altcha` is missing, invalid, expired or already used (also for the OAuth form); SIGNUP_DENIED: the pre-sign-up hook refused"),
        (status = 409, body = ErrorBody, description = "EMAIL_EXISTS"),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE"),
        (status = 403, body = ErrorBody, description = "SIGNUP_DENIED by the project's pre-sign-up hook, or CROSS_SITE_REQUEST"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR, with every failing field in `details`"),
        (status = 429, body = ErrorBody, description = "RATE_LIMITED: the sign-up budget of the client (password, email-only or OAuth start), or the address's verification mail budget; see Retry-After and RateLimit-*"),
        (status = 503, body = ErrorBody, description = "Hashing queue full, or the pre-sign-up hook unavailable; see Retry-After"),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    _bot: BotChecked,
    jar: CookieJar,
    NativeJson(body): NativeJson<Value>,
) -> Result<Response, ApiError> {
    if body.get("provider").is_some() && body.get("password").is_none() {
        return super::oauth::start(&state, &ctx, &body, &client).await;
    }
    let command = parse_signup(&body, &ctx, client).inspect_err(|_| record_signup("native", "password", "invalid"))?;
    let outcome = create_account(&state, &ctx, command, "native").await?;
    tracing::info!(project = %ctx.project.slug, user = %outcome.user.id, "native sign-up");
    let jar = SessionCookies::new(&state, &ctx, prefix).issue(jar, &outcome.access, &outcome.refresh_secret);
    let body = SignUpResponse {
        success: true,
        data: SignUpData {
            user: (&outcome.user).into(),
            session: (&outcome.access).into(),
            organization: outcome.organization.as_ref().map(Into::into),
        },
        message: "Account created successfully",
    };
    Ok((StatusCode::CREATED, jar, Json(body)).into_response())
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/auth/sign-in", operation_id = "nativeSignIn", tag = "auth",
    request_body = SignInRequestDoc,
    responses(
        (status = 200, body = SignInResponse, description = "Signed in; refresh token set in the `doorway_refresh` cookie"),
        (status = 401, body = ErrorBody, description = "INVALID_CREDENTIALS (same answer for an unknown address)"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR"),
        (status = 429, body = ErrorBody, description = "RATE_LIMITED: the client's sign-in budget; see Retry-After and RateLimit-*"),
        (status = 503, body = ErrorBody, description = "Hashing queue full; see Retry-After"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    NativeJson(body): NativeJson<Value>,
) -> Result<Response, ApiError> {
    let mut f = Fields::of(&body)?;
    let email = f.required("email", "Email");
    let password = f.required("password", "Password");
    let (email, password) = f.finish(email.zip(password))?;
    let outcome = sign_in::sign_in(
        &state.services,
        &ctx,
        sign_in::Identifier::Email(email),
        Password::new(password.to_owned()),
        client,
    )
    .await
    .map_err(sign_in_error)?;
    Ok(signed_in_response(&state, &ctx, prefix, jar, &outcome))
}

pub(crate) fn sign_in_error(e: SignInError) -> ApiError {
    match e {
        SignInError::InvalidCredentials => {
            ApiError::new(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS", "Invalid email or password")
        }
        SignInError::Busy { retry_after_secs } => {
            ApiError::unavailable("Too many sign-ins in progress; retry shortly", retry_after_secs)
        }
        SignInError::RateLimited(r) => ApiError::rate_limited(r),
        SignInError::Unexpected(cause) => ApiError::internal(&cause),
    }
}

/// The answer of every native sign-in: the session in the body, the tokens in cookies.
pub(crate) fn signed_in_response(
    state: &AppState,
    ctx: &ProjectContext,
    prefix: Option<Extension<RoutePrefix>>,
    jar: CookieJar,
    outcome: &doorway_core::flows::sign_in::SignInOutcome,
) -> Response {
    let jar = SessionCookies::new(state, ctx, prefix).issue(jar, &outcome.access, &outcome.refresh_secret);
    let body = SignInResponse {
        success: true,
        data: SignInData { user: (&outcome.user).into(), session: (&outcome.access).into() },
        message: "Signed in successfully",
    };
    (jar, Json(body)).into_response()
}

/// The refresh token from the cookie, or from a JSON body `{"refreshToken": …}` for clients
/// without a cookie jar.
fn presented_refresh_token(ctx: &ProjectContext, jar: &CookieJar, body: &[u8]) -> Option<RefreshSecret> {
    if let Some(c) = jar.get(&CookieNames::of(ctx).refresh).filter(|c| !c.value().is_empty()) {
        return Some(RefreshSecret::from_client(c.value()));
    }
    let body: Value = serde_json::from_slice(body).ok()?;
    body.get("refreshToken")?.as_str().filter(|t| !t.is_empty()).map(RefreshSecret::from_client)
}

/// Exchange the refresh token for a new access token; the refresh token rotates.
#[utoipa::path(post, path = "/api/auth/refresh", operation_id = "nativeRefresh", tag = "auth",
    request_body(content = Option<RefreshRequestDoc>, description = "Optional: the refresh token for clients that do not keep cookies"),
    responses(
        (status = 200, body = RefreshResponse, description = "New access token; a new refresh token replaces the old one"),
        (status = 401, body = ErrorBody, description = "INVALID_REFRESH_TOKEN, or REFRESH_TOKEN_REUSED (the session is then revoked)"),
        (status = 403, body = ErrorBody, description = "CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
        (status = 415, body = ErrorBody, description = "Cookies sent with a non-JSON body and no Origin or Sec-Fetch-Site"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Result<Response, Response> {
    let cookies = SessionCookies::new(&state, &ctx, prefix);
    let Some(presented) = presented_refresh_token(&ctx, &jar, &body) else {
        return Err(session_error(SessionError::InvalidRefreshToken).into_response());
    };
    match session_flow::refresh(&state.services, &ctx, &presented, &client).await {
        Ok(r) => {
            let jar = cookies.issue(jar, &r.access, &r.refresh_secret);
            let body = RefreshResponse {
                success: true,
                data: RefreshData { session: (&r.access).into() },
                message: "Session refreshed",
            };
            Ok((jar, Json(body)).into_response())
        }
        Err(e @ (SessionError::RefreshTokenReused | SessionError::InvalidRefreshToken)) => {
            Err((cookies.clear(jar), session_error(e)).into_response())
        }
        Err(e) => Err(session_error(e).into_response()),
    }
}

/// End the current session (by Bearer token, access cookie or refresh cookie).
#[utoipa::path(post, path = "/api/auth/sign-out", operation_id = "nativeSignOut", tag = "auth",
    responses(
        (status = 200, body = MessageResponse, description = "Session revoked; cookies cleared"),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: no valid session presented"),
        (status = 403, body = ErrorBody, description = "CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
    ))]
pub async fn sign_out(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let refresh = jar.get(&CookieNames::of(&ctx).refresh).map(|c| RefreshSecret::from_client(c.value()));
    let proof = match (presented_access_token(&state, &ctx, &headers), &refresh) {
        (Some(token), _) => SessionProof::AccessToken(token),
        (None, Some(secret)) => SessionProof::RefreshToken(secret),
        (None, None) => return Err(session_error(SessionError::Unauthenticated)),
    };
    session_flow::sign_out(&state.services, &ctx, proof, &client).await.map_err(session_error)?;
    let jar = SessionCookies::new(&state, &ctx, prefix).clear(jar);
    Ok((jar, Json(MessageResponse { success: true, message: "Signed out" })).into_response())
}

/// The signed-in user and their organizations.
#[utoipa::path(get, path = "/api/auth/me", operation_id = "nativeMe", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = MeResponse),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: missing, invalid or expired token, or the session was revoked"),
    ))]
pub async fn me(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    headers: HeaderMap,
) -> Result<Json<MeResponse>, ApiError> {
    let token = signed_in(&state, &ctx, &headers)?;
    let parts = doorway_core::flows::profile::WhoAmIParts { memberships: true, roles: false };
    let me =
        doorway_core::flows::profile::who_am_i(&state.services, &ctx, token, parts).await.map_err(session_error)?;
    let organizations = me
        .memberships
        .into_iter()
        .map(|m| MembershipView {
            id: m.organization.id,
            name: m.organization.name,
            slug: m.organization.slug,
            role: m.role,
            workspaces: m
                .workspaces
                .into_iter()
                .map(|w| WorkspaceView { id: w.id, name: w.name, slug: w.slug })
                .collect(),
        })
        .collect();
    Ok(Json(MeResponse { success: true, data: MeData { user: (&me.user).into(), organizations } }))
}
