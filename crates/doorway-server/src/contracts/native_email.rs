//! The native API's email flows: verifying an address by code or link, re-sending the
//! verification mail, and passwordless sign-in by one-time code or magic link.

use axum::Json;
use axum::extract::{Extension, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use doorway_core::email::EmailAddress;
use doorway_core::flows::email_code_sign_in;
use doorway_core::flows::verification::{self, CodeError, Proof};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client_info::Client;
use crate::contracts::native::{Fields, SignInResponse, UserView, signed_in_response};
use crate::errors::{ApiError, ErrorBody, NativeJson};
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifiedData {
    user: UserView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifiedResponse {
    success: bool,
    data: VerifiedData,
    message: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SentResponse {
    success: bool,
    message: &'static str,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = EmailCodeRequest)]
pub struct EmailCodeDoc {
    email: String,
    /// The 6-digit code from the mail.
    code: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = EmailRequest)]
pub struct EmailDoc {
    email: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The token of the link in the mail.
    token: String,
}

fn code_error(e: CodeError, failed: StatusCode) -> ApiError {
    match e {
        CodeError::Invalid => ApiError::new(failed, "INVALID_CODE", "The code or link is not valid"),
        CodeError::Expired => ApiError::new(
            failed,
            "CODE_EXPIRED",
            "The code or link has expired or had too many wrong attempts; request a new one",
        ),
        CodeError::RateLimited(r) => ApiError::rate_limited(r),
        CodeError::Unexpected(cause) => ApiError::internal(&cause),
    }
}

/// `{email, code}`, both strings; the email must parse.
fn email_and_code(body: &Value) -> Result<(String, String), ApiError> {
    let mut f = Fields::of(body)?;
    let email = f.required("email", "Email");
    let code = f.required("code", "Code");
    let (email, code) = f.finish(email.zip(code))?;
    Ok((email.to_owned(), code.to_owned()))
}

fn email_only(body: &Value) -> Result<EmailAddress, ApiError> {
    let mut f = Fields::of(body)?;
    let email = f.required("email", "Email").and_then(|raw| match EmailAddress::parse(raw) {
        Ok(e) => Some(e),
        Err(e) => {
            f.error("email", e.to_string());
            None
        }
    });
    f.finish(email)
}

async fn verified(
    state: &AppState,
    ctx: &doorway_core::ProjectContext,
    proof: Proof<'_>,
    client: &doorway_core::events::ClientInfo,
) -> Result<Json<VerifiedResponse>, ApiError> {
    let user = verification::verify_email(&state.services, ctx, proof, client)
        .await
        .map_err(|e| code_error(e, StatusCode::BAD_REQUEST))?;
    Ok(Json(VerifiedResponse { success: true, data: VerifiedData { user: (&user).into() }, message: "Email verified" }))
}

/// Verify an address with the code from the verification mail.
#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth", request_body = EmailCodeDoc,
    responses(
        (status = 200, body = VerifiedResponse),
        (status = 400, body = ErrorBody, description = "INVALID_CODE, or CODE_EXPIRED (expired, used, or 5 wrong codes)"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR"),
    ))]
pub async fn verify_by_code(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    NativeJson(body): NativeJson<Value>,
) -> Result<Json<VerifiedResponse>, ApiError> {
    let (email, code) = email_and_code(&body)?;
    verified(&state, &ctx, Proof::Code { email: &email, code: &code }, &client).await
}

/// Verify an address with the link from the verification mail.
#[utoipa::path(get, path = "/api/auth/verify-email", tag = "auth", params(TokenQuery),
    responses(
        (status = 200, body = VerifiedResponse),
        (status = 400, body = ErrorBody, description = "INVALID_CODE or CODE_EXPIRED"),
    ))]
pub async fn verify_by_link(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    Query(q): Query<TokenQuery>,
) -> Result<Json<VerifiedResponse>, ApiError> {
    verified(&state, &ctx, Proof::Link { token: &q.token }, &client).await
}

/// Send the verification mail again (the same code while it is valid). The answer does not
/// say whether the address has an account.
#[utoipa::path(post, path = "/api/auth/verify-email/resend", tag = "auth", request_body = EmailDoc,
    responses(
        (status = 200, body = SentResponse),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "Mail budget spent (by default 3 per hour per address and client, 10 per hour per address); see Retry-After"),
    ))]
pub async fn resend_verification(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    NativeJson(body): NativeJson<Value>,
) -> Result<Json<SentResponse>, ApiError> {
    let email = email_only(&body)?;
    verification::resend_verification(&state.services, &ctx, &email, &client)
        .await
        .map_err(|e| code_error(e, StatusCode::BAD_REQUEST))?;
    Ok(Json(SentResponse { success: true, message: "If the address has an unverified account, a mail is on its way" }))
}

/// Mail a one-time sign-in code and magic link. The answer does not say whether the address
/// has an account.
#[utoipa::path(post, path = "/api/auth/sign-in/email-code", tag = "auth", request_body = EmailDoc,
    responses(
        (status = 200, body = SentResponse),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "Mail budget spent (by default 3 per hour per address and client, 10 per hour per address); see Retry-After"),
    ))]
pub async fn request_sign_in_code(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    NativeJson(body): NativeJson<Value>,
) -> Result<Json<SentResponse>, ApiError> {
    let email = email_only(&body)?;
    email_code_sign_in::request_code(&state.services, &ctx, &email, &client)
        .await
        .map_err(|e| code_error(e, StatusCode::UNAUTHORIZED))?;
    Ok(Json(SentResponse { success: true, message: "If the address has an account, a sign-in code is on its way" }))
}

async fn signed_in(
    state: &AppState,
    ctx: &doorway_core::ProjectContext,
    prefix: Option<Extension<RoutePrefix>>,
    jar: CookieJar,
    proof: Proof<'_>,
    client: &doorway_core::events::ClientInfo,
) -> Result<Response, ApiError> {
    let outcome = email_code_sign_in::sign_in(&state.services, ctx, proof, client)
        .await
        .map_err(|e| code_error(e, StatusCode::UNAUTHORIZED))?;
    Ok(signed_in_response(state, ctx, prefix, jar, &outcome))
}

/// Sign in with the mailed one-time code.
#[utoipa::path(post, path = "/api/auth/sign-in/email-code/verify", tag = "auth", request_body = EmailCodeDoc,
    responses(
        (status = 200, body = SignInResponse, description = "Signed in (`amr: [\"otp\"]`); refresh cookie set"),
        (status = 401, body = ErrorBody, description = "INVALID_CODE or CODE_EXPIRED"),
        (status = 422, body = ErrorBody),
    ))]
pub async fn sign_in_with_code(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    NativeJson(body): NativeJson<Value>,
) -> Result<Response, ApiError> {
    let (email, code) = email_and_code(&body)?;
    signed_in(&state, &ctx, prefix, jar, Proof::Code { email: &email, code: &code }, &client).await
}

/// Sign in with the mailed magic link.
#[utoipa::path(get, path = "/api/auth/sign-in/email-link", tag = "auth", params(TokenQuery),
    responses(
        (status = 200, body = SignInResponse, description = "Signed in (`amr: [\"otp\"]`); refresh cookie set"),
        (status = 401, body = ErrorBody, description = "INVALID_CODE or CODE_EXPIRED"),
    ))]
pub async fn sign_in_with_link(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    signed_in(&state, &ctx, prefix, jar, Proof::Link { token: &q.token }, &client).await
}
