//! The native API's account upkeep: forgotten and changed passwords, and the user's sessions
//! (list, revoke one, sign out everywhere).

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::flows::password_change::{self, PasswordChangeError};
use doorway_core::flows::password_recovery::{self, RecoveryError, ResetLink};
use doorway_core::flows::session::{self as session_flow, SessionError};
use doorway_core::flows::verification::Proof;
use doorway_core::password::Password;
use serde::Serialize;
use serde_json::Value;

use super::email::{JsonOrForm, SentResponse, TokenQuery, VerifiedData, VerifiedResponse, email_only};
use super::handlers::{session_error, signed_in};
use super::views::MessageResponse;
use crate::client_info::Client;
use crate::contracts::common::{Fields, NativeJson, SessionCookies};
use crate::errors::{ApiError, ErrorBody, FieldError};
use crate::hosted_pages::{self, Confirmation};
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;

const RESET_PAGE: Confirmation = Confirmation {
    title: "Choose a new password",
    text: "Enter the password you want to use from now on. Every device signed in to your account will be signed out.",
    button: "Set my password",
    action: "reset-password",
    password_field: Some("New password"),
};

pub(crate) fn recovery_error(e: RecoveryError) -> ApiError {
    match e {
        RecoveryError::InvalidEmail => {
            ApiError::validation(vec![FieldError::new("email", "Enter a valid email address")])
        }
        RecoveryError::Invalid => {
            ApiError::new(StatusCode::BAD_REQUEST, "INVALID_CODE", "The code or link is not valid")
        }
        RecoveryError::Expired => ApiError::new(
            StatusCode::BAD_REQUEST,
            "CODE_EXPIRED",
            "The code or link has expired or had too many wrong attempts; request a new one",
        ),
        RecoveryError::LinkNotAllowed => ApiError::validation(vec![FieldError::new(
            "redirectTo",
            "Not an absolute URL under the project's redirect_allowlist",
        )]),
        RecoveryError::PasswordNotAccepted(message) => ApiError::validation(vec![FieldError::new("password", message)]),
        RecoveryError::WeakPassword(reasons) => {
            ApiError::validation(reasons.into_iter().map(|r| FieldError::new("password", r)).collect())
        }
        RecoveryError::RateLimited(r) => ApiError::rate_limited(r),
        RecoveryError::Busy { retry_after_secs } => {
            ApiError::unavailable("Too many password changes in progress; retry shortly", retry_after_secs)
        }
        RecoveryError::Unexpected(cause) => ApiError::internal(&cause),
    }
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ForgotPasswordRequest, rename_all = "camelCase")]
pub struct ForgotPasswordDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// The app's own reset page (absolute, under the project's `redirect_allowlist`); the mail
    /// links to it with `?token=…`. Without it, the mail links to Doorway's own page.
    #[schema(format = "uri", example = "https://app.example.com/reset")]
    redirect_to: Option<String>,
}

/// Mail a password-reset code and link. The answer does not say whether the address has an
/// account.
#[utoipa::path(post, path = "/api/auth/forgot-password", operation_id = "nativeForgotPassword", tag = "auth",
    request_body = ForgotPasswordDoc,
    responses(
        (status = 200, body = SentResponse),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR: no valid email, `redirectTo` not allowed, or the project has no passwords"),
        (status = 429, body = ErrorBody, description = "Mail budget spent (the verification mail budgets); see Retry-After"),
    ))]
pub async fn forgot_password(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    NativeJson(body): NativeJson<Value>,
) -> Result<Json<SentResponse>, ApiError> {
    let email = email_only(&body)?;
    let mut f = Fields::of(&body)?;
    let redirect_to = f.optional("redirectTo", "Redirect URL");
    let link = f
        .finish(Some(redirect_to))?
        .map_or(ResetLink::Hosted, |url| ResetLink::App { url: url.to_owned(), query_param: "token".to_owned() });
    password_recovery::request_password_reset(&state.services, &ctx, email.as_str(), link, &client)
        .await
        .map_err(recovery_error)?;
    Ok(Json(SentResponse { success: true, message: "If the address has an account, a reset mail is on its way" }))
}

/// The reset link from the mail: the hosted reset page (or, with the pages off, a
/// new-password form that POSTs here).
#[utoipa::path(get, path = "/api/auth/reset-password", operation_id = "nativeResetPasswordPage", tag = "auth", params(TokenQuery),
    responses(
        (status = 303, description = "To the hosted reset page (`/ui/reset-password?token=`), which asks for the new password; changes nothing"),
        (status = 200, content_type = "text/html", body = String, description = "When the project switched the hosted pages off: a new-password form (no script; `Cache-Control: no-store`, `Referrer-Policy: no-referrer`)"),
        (status = 400, body = ErrorBody, description = "INVALID_REQUEST: no `token` in the query string"),
    ))]
pub async fn reset_password_page(
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let prefix = prefix.as_ref().map(|Extension(p)| p);
    crate::ui::link_landing(&ctx, prefix, "reset-password", &q.token)
        .unwrap_or_else(|| hosted_pages::confirmation(&RESET_PAGE, &q.token))
}

/// `{token, password}` (the link, as the reset page's form sends it) or `{email, code, password}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ResetPasswordRequest)]
#[serde(untagged)]
pub enum ResetPasswordDoc {
    Link(ResetWithLinkDoc),
    Code(ResetWithCodeDoc),
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ResetPasswordWithLink)]
pub struct ResetWithLinkDoc {
    /// The link's token.
    #[schema(min_length = 1)]
    token: String,
    #[schema(min_length = 1, max_length = 256, format = Password)]
    password: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ResetPasswordWithCode)]
pub struct ResetWithCodeDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// The 6-digit code from the mail.
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: String,
    #[schema(min_length = 1, max_length = 256, format = Password)]
    password: String,
}

/// Set a new password with the mailed code (`{email, code, password}`) or link token
/// (`{token, password}`, as JSON or as the reset page's form). Every session of the user is
/// revoked; sign in with the new password.
#[utoipa::path(post, path = "/api/auth/reset-password", operation_id = "nativeResetPassword", tag = "auth",
    request_body(content(
        (ResetPasswordDoc = "application/json"),
        (ResetPasswordDoc = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Password set, address verified, every session revoked; a form post gets a page saying so", content(
            (VerifiedResponse = "application/json"), (String = "text/html"))),
        (status = 400, description = "INVALID_CODE or CODE_EXPIRED; a form post gets a page saying so", content(
            (ErrorBody = "application/json"), (String = "text/html"))),
        (status = 422, description = "VALIDATION_ERROR (missing fields, or the password breaks the policy); a form post gets a page saying so", content(
            (ErrorBody = "application/json"), (String = "text/html"))),
        (status = 429, description = "Too many codes tried; see Retry-After. A form post gets a page saying so", content(
            (ErrorBody = "application/json"), (String = "text/html"))),
        (status = 503, body = ErrorBody, description = "Hashing queue full; see Retry-After"),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm,
) -> Response {
    let answer = reset_with(&state, &ctx, &client, &body).await;
    // The reset page's form gets a page back, not JSON.
    if !is_form(&headers) {
        return answer.into_response();
    }
    match answer {
        Ok(_) => hosted_pages::notice(
            StatusCode::OK,
            "Password changed",
            "Your new password is set. Sign in with it; every other device was signed out.",
        ),
        // Failures are answered as JSON so that their cause is logged at the edge.
        Err(e) if e.status().is_server_error() => e.into_response(),
        Err(e) => hosted_pages::notice(e.status(), "Password not changed", &e.summary()),
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"))
}

pub(crate) async fn reset_with(
    state: &AppState,
    ctx: &doorway_core::ProjectContext,
    client: &doorway_core::events::ClientInfo,
    body: &Value,
) -> Result<Json<VerifiedResponse>, ApiError> {
    let mut f = Fields::of(body)?;
    let password = f.required("password", "Password");
    let proof = if body.get("token").is_some() {
        f.required("token", "Token").map(|token| (None, token))
    } else {
        let email = f.required("email", "Email");
        let code = f.required("code", "Code");
        email.zip(code).map(|(email, code)| (Some(email), code))
    };
    let (password, proof) = f.finish(password.zip(proof))?;
    let proof = match proof {
        (Some(email), code) => Proof::Code { email, code },
        (None, token) => Proof::Link { token },
    };
    let user = password_recovery::reset_password(
        &state.services,
        ctx,
        proof,
        Password::new(password.to_owned()),
        &ctx.project.settings.password_policy,
        client,
    )
    .await
    .map_err(recovery_error)?;
    Ok(Json(VerifiedResponse {
        success: true,
        data: VerifiedData { user: (&user).into() },
        message: "Password changed; sign in with the new password",
    }))
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ChangePasswordRequest, rename_all = "camelCase")]
pub struct ChangePasswordDoc {
    /// Required when the account has a password; leave it out to give a password to an account
    /// that has none (signed up by mail code or a provider).
    #[schema(min_length = 1, max_length = 256, format = Password)]
    current_password: Option<String>,
    #[schema(min_length = 1, max_length = 256, format = Password)]
    new_password: String,
}

/// Change the signed-in user's password (or set a first one). Every other session of the user
/// is revoked; this one stays.
#[utoipa::path(post, path = "/api/auth/change-password", operation_id = "nativeChangePassword", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePasswordDoc,
    responses(
        (status = 200, body = MessageResponse, description = "Password changed; other sessions revoked"),
        (status = 400, body = ErrorBody, description = "INVALID_CURRENT_PASSWORD"),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: no valid session"),
        (status = 403, body = ErrorBody, description = "CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
        (status = 409, body = ErrorBody, description = "NO_PASSWORD (the account has none: leave out `currentPassword`) or PASSWORD_ALREADY_SET"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR (the new password breaks the policy)"),
        (status = 429, body = ErrorBody, description = "Sign-in budget spent; see Retry-After"),
        (status = 503, body = ErrorBody, description = "Hashing queue full; see Retry-After"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    NativeJson(body): NativeJson<Value>,
) -> Result<Json<MessageResponse>, ApiError> {
    let token = signed_in(&state, &ctx, &headers)?;
    let mut f = Fields::of(&body)?;
    let current = f.optional("currentPassword", "Current password");
    let new = f.required("newPassword", "New password");
    let new = Password::new(f.finish(new)?.to_owned());
    let svc = &state.services;
    let policy = &ctx.project.settings.password_policy;
    let result = match current {
        Some(current) => {
            password_change::change_password(svc, &ctx, token, Password::new(current.to_owned()), new, policy, &client)
                .await
        }
        None => password_change::add_password(svc, &ctx, token, new, policy, &client).await,
    };
    result.map_err(|e| match e {
        PasswordChangeError::Unauthenticated => session_error(SessionError::Unauthenticated),
        PasswordChangeError::WrongPassword => {
            ApiError::new(StatusCode::BAD_REQUEST, "INVALID_CURRENT_PASSWORD", "The current password is wrong")
        }
        PasswordChangeError::NoPassword => ApiError::new(
            StatusCode::CONFLICT,
            "NO_PASSWORD",
            "The account has no password yet: send only `newPassword` to set one",
        ),
        PasswordChangeError::PasswordAlreadySet => ApiError::new(
            StatusCode::CONFLICT,
            "PASSWORD_ALREADY_SET",
            "The account has a password: send `currentPassword` to change it",
        ),
        PasswordChangeError::PasswordNotAccepted(message) => {
            ApiError::validation(vec![FieldError::new("newPassword", message)])
        }
        PasswordChangeError::WeakPassword(reasons) => {
            ApiError::validation(reasons.into_iter().map(|r| FieldError::new("newPassword", r)).collect())
        }
        PasswordChangeError::RateLimited(r) => ApiError::rate_limited(r),
        PasswordChangeError::Busy { retry_after_secs } => {
            ApiError::unavailable("Too many password changes in progress; retry shortly", retry_after_secs)
        }
        PasswordChangeError::Unexpected(cause) => ApiError::internal(&cause),
    })?;
    let message = if current.is_some() { "Password changed; other sessions signed out" } else { "Password set" };
    Ok(Json(MessageResponse { success: true, message }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionItem {
    /// `ses_…`
    id: String,
    /// Whether this is the session that asked.
    current: bool,
    /// How it was authenticated (`pwd`, `otp`, `oauth` + provider).
    amr: Vec<String>,
    /// RFC 3339, UTC.
    created_at: String,
    expires_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionsData {
    sessions: Vec<SessionItem>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionsResponse {
    success: bool,
    data: SessionsData,
}

/// The signed-in user's active sessions, newest first.
#[utoipa::path(get, path = "/api/auth/sessions", operation_id = "nativeListSessions", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SessionsResponse),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: no valid session"),
    ))]
pub async fn list_sessions(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    headers: HeaderMap,
) -> Result<Json<SessionsResponse>, ApiError> {
    let token = signed_in(&state, &ctx, &headers)?;
    let sessions = session_flow::list_sessions(&state.services, &ctx, token).await.map_err(session_error)?;
    let sessions = sessions
        .into_iter()
        .map(|i| SessionItem {
            id: i.session.id,
            current: i.current,
            amr: i.session.amr,
            created_at: i.session.created_at.to_rfc3339(),
            expires_at: i.session.expires_at.to_rfc3339(),
            ip: i.session.client.ip,
            user_agent: i.session.client.user_agent,
        })
        .collect();
    Ok(Json(SessionsResponse { success: true, data: SessionsData { sessions } }))
}

/// End one of the signed-in user's sessions (on another device, or this one).
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", operation_id = "nativeRevokeSession", tag = "auth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The session's id (`ses_…`)")),
    responses(
        (status = 200, body = MessageResponse, description = "Session revoked"),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: no valid session"),
        (status = 403, body = ErrorBody, description = "CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
        (status = 404, body = ErrorBody, description = "SESSION_NOT_FOUND: no active session of this user has that id"),
    ))]
pub async fn revoke_session(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<MessageResponse>, ApiError> {
    let token = signed_in(&state, &ctx, &headers)?;
    session_flow::revoke_own_session(&state.services, &ctx, token, &id, &client).await.map_err(session_error)?;
    Ok(Json(MessageResponse { success: true, message: "Session revoked" }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RevokedData {
    /// How many sessions were ended, this one included.
    revoked: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedOutEverywhereResponse {
    success: bool,
    data: RevokedData,
    message: &'static str,
}

/// End every session of the signed-in user, this one included; cookies are cleared.
#[utoipa::path(post, path = "/api/auth/sign-out-everywhere", operation_id = "nativeSignOutEverywhere", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = SignedOutEverywhereResponse),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: no valid session"),
        (status = 403, body = ErrorBody, description = "CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
    ))]
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let token = signed_in(&state, &ctx, &headers)?;
    let revoked =
        session_flow::sign_out_everywhere(&state.services, &ctx, token, &client).await.map_err(session_error)?;
    let jar = SessionCookies::new(&state, &ctx, prefix).clear(jar);
    let body = SignedOutEverywhereResponse {
        success: true,
        data: RevokedData { revoked },
        message: "Signed out on every device",
    };
    Ok((StatusCode::OK, jar, Json(body)).into_response())
}
