//! The verification mail: send it (again), and verify the address by its code or link.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use doorway_core::email::EmailAddress;
use doorway_core::flows::verification::{self, CodeError, Proof};
use serde::Serialize;

use super::views::AuthUserView;
use super::{Fields, MessageResponse, ReplykeError, ReplykeJson};
use crate::client_info::Client;
use crate::contracts::common::presented_access_token;
use crate::project_scope::CurrentProject;
use crate::state::AppState;

/// `{email}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeEmailRequest)]
pub struct EmailDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
}

/// `{email, code}` (the mailed code) or `{token}` (the mailed link's token; it wins when both
/// are sent).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeVerifyEmailRequest)]
#[serde(untagged)]
pub enum VerifyEmailDoc {
    Code(CodeDoc),
    Link(LinkDoc),
}

/// The address and the 6-digit code from the mail.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeEmailCode)]
pub struct CodeDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// The 6-digit code from the mail.
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: String,
}

/// The token of the mailed link.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeLinkToken)]
pub struct LinkDoc {
    #[schema(min_length = 1, example = "3q2-7wAAAAEAAAAB")]
    token: String,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReplykeVerifiedResponse)]
pub struct VerifiedResponse {
    success: bool,
    user: AuthUserView,
}

fn invalid_email() -> ReplykeError {
    ReplykeError::new(StatusCode::BAD_REQUEST, "auth/invalid-email", "Email must be a valid email address")
}

/// The address of a body's `email`, or why there is none.
pub(super) fn email_of(fields: &Fields<'_>, missing: &str) -> Result<EmailAddress, ReplykeError> {
    let raw = fields.string("email")?.ok_or_else(|| ReplykeError::missing(missing))?;
    EmailAddress::parse(raw).map_err(|_| invalid_email())
}

/// An `email` the flows only match against stored addresses (sign-in, codes): one over the
/// bound every contract documents (`maxLength`) names no account and is refused as invalid,
/// as the routes that parse their address refuse it.
pub(super) fn bounded_email(raw: &str) -> Result<&str, ReplykeError> {
    if raw.trim().chars().count() > EmailAddress::MAX_LEN { Err(invalid_email()) } else { Ok(raw) }
}

/// How a mailed code or link was refused.
pub(super) fn code_error(e: CodeError) -> ReplykeError {
    match e {
        CodeError::Invalid => {
            ReplykeError::new(StatusCode::BAD_REQUEST, "auth/invalid-code", "The code or link is not valid.")
        }
        CodeError::Expired => ReplykeError::new(
            StatusCode::BAD_REQUEST,
            "auth/code-expired",
            "The code or link has expired or had too many wrong attempts; request a new one.",
        ),
        CodeError::RateLimited(r) => ReplykeError::rate_limited(r),
        CodeError::Unexpected(cause) => ReplykeError::internal(&cause),
    }
}

/// `{email, code}` or `{token}`.
pub(super) fn proof_of<'a>(fields: &Fields<'a>, missing: &str) -> Result<Proof<'a>, ReplykeError> {
    if let Some(token) = fields.string("token")? {
        return Ok(Proof::Link { token });
    }
    match (fields.string("email")?, fields.string("code")?) {
        (Some(email), Some(code)) => Ok(Proof::Code { email: bounded_email(email)?, code }),
        _ => Err(ReplykeError::missing(missing)),
    }
}

/// Send the verification mail (again): the same code while it is valid (Replyke).
#[utoipa::path(post, path = "/auth/send-verification-email", operation_id = "replykeSendVerificationEmail", tag = "replyke",
    description = "Served for any project as `/{projectId}/auth/send-verification-email`. The answer is the same whether or not the address has an account to verify.",
    request_body = EmailDoc,
    responses(
        (status = 200, body = MessageResponse, description = "Sent if the address has an unverified account"),
        (status = 400, description = "`auth/missing-fields`, `auth/invalid-email` or `auth/invalid-body`"),
        (status = 404, description = "`project/not-found`"),
        (status = 429, description = "`auth/too-many-requests`: the address's mail budget, with Retry-After"),
    ))]
pub async fn send_verification_email(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    ReplykeJson(body): ReplykeJson,
) -> Result<Json<MessageResponse>, ReplykeError> {
    let email = email_of(&Fields::of(&body)?, "Email is required.")?;
    verification::resend_verification(&state.services, &ctx, &email, &client).await.map_err(code_error)?;
    Ok(MessageResponse::ok("If this address has an account to verify, a verification email was sent."))
}

/// Verify an address with the mailed code or link (Replyke).
#[utoipa::path(post, path = "/auth/verify-email", operation_id = "replykeVerifyEmail", tag = "replyke",
    description = "Served for any project as `/{projectId}/auth/verify-email`. Send the account's own access token (`Authorization: Bearer`) when verifying: a first verification from anywhere else drops the account's password and revokes its sessions, since whoever set them never proved the address.",
    request_body = VerifyEmailDoc,
    responses(
        (status = 200, body = VerifiedResponse, description = "Verified: the user, `isVerified: true`"),
        (status = 400, description = "`auth/invalid-code`, `auth/code-expired` (expired, used, or too many wrong codes), `auth/invalid-email` (over 254 characters), `auth/missing-fields` or `auth/invalid-body`"),
        (status = 404, description = "`project/not-found`"),
        (status = 429, description = "`auth/too-many-requests`, with Retry-After"),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    ReplykeJson(body): ReplykeJson,
) -> Result<Json<VerifiedResponse>, ReplykeError> {
    let fields = Fields::of(&body)?;
    let proof = proof_of(&fields, "Email and code, or token, are required.")?;
    let session = presented_access_token(&state, &ctx, &headers);
    let user = verification::verify_email(&state.services, &ctx, proof, session, &client).await.map_err(code_error)?;
    Ok(Json(VerifiedResponse { success: true, user: AuthUserView::of(&ctx, &user) }))
}
