//! The native API's email flows: verifying an address by code or link, re-sending the
//! verification mail, and passwordless sign-in by one-time code or magic link.
//!
//! A mailed link (`GET …?token=`) only shows a confirmation page; its button POSTs the token
//! to the same path, and only that POST verifies or signs in, so mail scanners that prefetch
//! links consume nothing.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Extension, Form, FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use doorway_core::email::EmailAddress;
use doorway_core::flows::email_code_sign_in;
use doorway_core::flows::verification::{self, CodeError, Proof};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::handlers::signed_in_response;
use super::views::{SignInResponse, UserView};
use crate::client_info::Client;
use crate::contracts::common::{Fields, NativeJson, presented_access_token};
use crate::errors::{ApiError, ErrorBody, MAX_BODY_BYTES};
use crate::hosted_pages::{self, Confirmation};
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifiedData {
    pub(crate) user: UserView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifiedResponse {
    pub(crate) success: bool,
    pub(crate) data: VerifiedData,
    pub(crate) message: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SentResponse {
    pub(crate) success: bool,
    pub(crate) message: &'static str,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = EmailCodeRequest)]
pub struct EmailCodeDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// The 6-digit code from the mail.
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = EmailRequest)]
pub struct EmailDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = LinkTokenRequest)]
pub struct LinkTokenDoc {
    /// The token of the link in the mail.
    #[schema(min_length = 1)]
    token: String,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// The token of the link in the mail (any value shows the page; the POST checks it).
    pub(crate) token: String,
}

/// A JSON body, or the urlencoded form posted by a confirmation page (as an object of strings).
pub struct JsonOrForm(pub(crate) Value);

impl<S: Send + Sync> FromRequest<S> for JsonOrForm {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        if !form {
            let NativeJson(body) = NativeJson::<Value>::from_request(req, state).await?;
            return Ok(Self(body));
        }
        let Form(fields) = Form::<BTreeMap<String, String>>::from_request(req, state).await.map_err(|r| match r {
            r @ FormRejection::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("The body is larger than {} KiB", MAX_BODY_BYTES / 1024),
            ),
            _ => ApiError::new(StatusCode::BAD_REQUEST, "INVALID_BODY", "The form body could not be read"),
        })?;
        Ok(Self(Value::Object(fields.into_iter().map(|(k, v)| (k, Value::String(v))).collect())))
    }
}

/// `{token}` from a JSON body or a confirmation page's form.
pub(crate) fn link_token(body: &Value) -> Result<String, ApiError> {
    let mut f = Fields::of(body)?;
    let token = f.required("token", "Token");
    f.finish(token).map(str::to_owned)
}

const CONFIRM_VERIFICATION: Confirmation = Confirmation {
    title: "Confirm your email address",
    text: "Press the button to confirm this address.",
    button: "Confirm my address",
    action: "verify-email",
    password_field: None,
};

const CONFIRM_SIGN_IN: Confirmation = Confirmation {
    title: "Sign in",
    text: "Press the button to finish signing in on this device.",
    button: "Sign me in",
    action: "email-link",
    password_field: None,
};

pub(crate) fn code_error(e: CodeError, failed: StatusCode) -> ApiError {
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

pub(crate) fn email_only(body: &Value) -> Result<EmailAddress, ApiError> {
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

/// `session` is the access token the request carried, if any: proving the address inside the
/// account's own session keeps its password and sessions.
async fn verified(
    state: &AppState,
    ctx: &doorway_core::ProjectContext,
    proof: Proof<'_>,
    session: Option<&str>,
    client: &doorway_core::events::ClientInfo,
) -> Result<Json<VerifiedResponse>, ApiError> {
    let user = verification::verify_email(&state.services, ctx, proof, session, client)
        .await
        .map_err(|e| code_error(e, StatusCode::BAD_REQUEST))?;
    Ok(Json(VerifiedResponse { success: true, data: VerifiedData { user: (&user).into() }, message: "Email verified" }))
}

/// Verify an address: with the code from the verification mail (`{email, code}`), or with the
/// link's token (`{token}`, or the form of the link's confirmation page).
#[utoipa::path(post, path = "/api/auth/verify-email", operation_id = "nativeVerifyEmail", tag = "auth",
    request_body(content(
        (EmailCodeDoc = "application/json"),
        (LinkTokenDoc = "application/x-www-form-urlencoded"),
    ), description = "`{email, code}`, or `{token}` as JSON or as a form"),
    description = "Send the account's own session (Bearer or `doorway_access` cookie) when verifying: a first verification from anywhere else drops the account's password and revokes its sessions, since whoever set them never proved the address.",
    responses(
        (status = 200, body = VerifiedResponse),
        (status = 400, body = ErrorBody, description = "INVALID_CODE, or CODE_EXPIRED (expired, used, or 5 wrong codes)"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR"),
        (status = 429, body = ErrorBody, description = "RATE_LIMITED: the client's budget of codes and links tried; see Retry-After"),
    ))]
pub async fn verify_by_code(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    JsonOrForm(body): JsonOrForm,
) -> Result<Json<VerifiedResponse>, ApiError> {
    let session = presented_access_token(&state, &ctx, &headers);
    if body.get("token").is_some() {
        let token = link_token(&body)?;
        return verified(&state, &ctx, Proof::Link { token: &token }, session, &client).await;
    }
    let (email, code) = email_and_code(&body)?;
    verified(&state, &ctx, Proof::Code { email: &email, code: &code }, session, &client).await
}

/// The link from the verification mail: the hosted verify page (or, with the pages off, a
/// confirmation page) whose button POSTs the token. Opening it verifies nothing.
#[utoipa::path(get, path = "/api/auth/verify-email", operation_id = "nativeVerifyEmailPage", tag = "auth", params(TokenQuery),
    responses(
        (status = 303, description = "To the hosted verify page (`/ui/verify-email?token=`), whose button confirms; verifies nothing"),
        (status = 200, content_type = "text/html", body = String, description = "When the project switched the hosted pages off: a confirmation page (no script; `Cache-Control: no-store`, `Referrer-Policy: no-referrer`)"),
        (status = 400, body = ErrorBody, description = "INVALID_REQUEST: no `token` in the query string"),
    ))]
pub async fn verify_by_link(
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let prefix = prefix.as_ref().map(|Extension(p)| p);
    crate::ui::link_landing(&ctx, prefix, "verify-email", &q.token)
        .unwrap_or_else(|| hosted_pages::confirmation(&CONFIRM_VERIFICATION, &q.token))
}

/// Send the verification mail again (the same code while it is valid). The answer does not
/// say whether the address has an account.
#[utoipa::path(post, path = "/api/auth/verify-email/resend", operation_id = "nativeResendVerification", tag = "auth", request_body = EmailDoc,
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
#[utoipa::path(post, path = "/api/auth/sign-in/email-code", operation_id = "nativeSendSignInCode", tag = "auth", request_body = EmailDoc,
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
#[utoipa::path(post, path = "/api/auth/sign-in/email-code/verify", operation_id = "nativeSignInWithCode", tag = "auth", request_body = EmailCodeDoc,
    responses(
        (status = 200, body = SignInResponse, description = "Signed in (`amr: [\"otp\"]`); refresh cookie set"),
        (status = 401, body = ErrorBody, description = "INVALID_CODE or CODE_EXPIRED"),
        (status = 429, body = ErrorBody, description = "RATE_LIMITED: the client's budget of codes and links tried; see Retry-After"),
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

/// The mailed magic link: a confirmation page whose button POSTs the token here. Opening it
/// signs nobody in.
#[utoipa::path(get, path = "/api/auth/sign-in/email-link", operation_id = "nativeSignInLinkPage", tag = "auth", params(TokenQuery),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "Confirmation page (no script; `Cache-Control: no-store`, `Referrer-Policy: no-referrer`)"),
        (status = 400, body = ErrorBody, description = "INVALID_REQUEST: no `token` in the query string"),
    ))]
pub async fn confirm_sign_in_link(Query(q): Query<TokenQuery>) -> Response {
    hosted_pages::confirmation(&CONFIRM_SIGN_IN, &q.token)
}

/// Sign in with the magic link's token (the confirmation page's form, or `{token}` as JSON).
#[utoipa::path(post, path = "/api/auth/sign-in/email-link", operation_id = "nativeSignInWithLink", tag = "auth",
    request_body(content(
        (LinkTokenDoc = "application/json"),
        (LinkTokenDoc = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, body = SignInResponse, description = "Signed in (`amr: [\"otp\"]`); refresh cookie set"),
        (status = 401, body = ErrorBody, description = "INVALID_CODE or CODE_EXPIRED"),
        (status = 429, body = ErrorBody, description = "RATE_LIMITED: the client's budget of codes and links tried; see Retry-After"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR: no token"),
    ))]
pub async fn sign_in_with_link(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    JsonOrForm(body): JsonOrForm,
) -> Result<Response, ApiError> {
    let token = link_token(&body)?;
    signed_in(&state, &ctx, prefix, jar, Proof::Link { token: &token }, &client).await
}
