//! A forgotten password: mail a code and a link, then set a new password with either.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use doorway_core::flows::password_recovery::{self, RecoveryError, ResetLink};
use doorway_core::password::Password;

use super::email::{email_of, proof_of};
use super::{Fields, MessageResponse, ReplykeError, ReplykeJson, ReplykeSettings};
use crate::client_info::Client;
use crate::project_scope::CurrentProject;
use crate::state::AppState;

/// `POST /auth/request-password-reset` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeRequestPasswordResetRequest)]
#[serde(rename_all = "camelCase")]
pub struct RequestResetDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// The app's own reset page (absolute, under the project's `redirect_allowlist`); the mail
    /// links to it with `?token=…`. Without it, the mail links to Doorway's own page.
    #[schema(format = "uri", example = "https://app.example.com/reset")]
    redirect_to: Option<String>,
}

/// `POST /auth/reset-password` body: `{email, code, newPassword}` or `{token, newPassword}`
/// (the token wins when both are sent).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeResetPasswordRequest)]
#[serde(untagged)]
pub enum ResetDoc {
    Code(ResetWithCodeDoc),
    Link(ResetWithLinkDoc),
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeResetPasswordWithCode)]
#[serde(rename_all = "camelCase")]
pub struct ResetWithCodeDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// The 6-digit code from the mail.
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: String,
    /// The project's `password_policy`.
    #[schema(format = Password, min_length = 1, example = "Correct-horse-9")]
    new_password: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = ReplykeResetPasswordWithLink)]
#[serde(rename_all = "camelCase")]
pub struct ResetWithLinkDoc {
    /// The token of the mailed link.
    #[schema(min_length = 1, example = "3q2-7wAAAAEAAAAB")]
    token: String,
    /// The project's `password_policy`.
    #[schema(format = Password, min_length = 1, example = "Correct-horse-9")]
    new_password: String,
}

fn recovery_error(e: RecoveryError) -> ReplykeError {
    let bad = |code, error: &str| ReplykeError::new(StatusCode::BAD_REQUEST, code, error);
    match e {
        RecoveryError::InvalidEmail => bad("auth/invalid-email", "Email must be a valid email address"),
        RecoveryError::Invalid => bad("auth/invalid-code", "The code or link is not valid."),
        RecoveryError::Expired => {
            bad("auth/code-expired", "The code or link has expired or had too many wrong attempts; request a new one.")
        }
        RecoveryError::LinkNotAllowed => {
            bad("auth/redirect-not-allowed", "redirectTo is not under the project's allowed redirect URLs.")
        }
        RecoveryError::PasswordNotAccepted(message) => {
            ReplykeError::weak_password("newPassword", vec![message.to_owned()])
        }
        RecoveryError::WeakPassword(reasons) => ReplykeError::weak_password("newPassword", reasons),
        RecoveryError::RateLimited(r) => ReplykeError::rate_limited(r),
        RecoveryError::Busy { retry_after_secs } => ReplykeError::busy(retry_after_secs),
        RecoveryError::Unexpected(cause) => ReplykeError::internal(&cause),
    }
}

/// Mail a password-reset code and link (Replyke).
#[utoipa::path(post, path = "/auth/request-password-reset", operation_id = "replykeRequestPasswordReset", tag = "replyke",
    description = "Served for any project as `/{projectId}/auth/request-password-reset`. The answer is the same whether or not the address has an account; the mail budgets are those of verification mails.",
    request_body = RequestResetDoc,
    responses(
        (status = 200, body = MessageResponse, description = "Sent if the address has an account"),
        (status = 400, description = "`auth/missing-fields`, `auth/invalid-email`, `auth/invalid-body`, `auth/redirect-not-allowed`, or `auth/invalid-password` (the project has no passwords)"),
        (status = 404, description = "`project/not-found`"),
        (status = 429, description = "`auth/too-many-requests`: the address's mail budget, with Retry-After"),
    ))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    ReplykeJson(body): ReplykeJson,
) -> Result<Json<MessageResponse>, ReplykeError> {
    let fields = Fields::of(&body)?;
    let email = email_of(&fields, "Email is required.")?;
    let link = match fields.string("redirectTo")? {
        Some(url) => ResetLink::App { url: url.to_owned(), query_param: "token".to_owned() },
        None => ResetLink::Hosted,
    };
    password_recovery::request_password_reset(&state.services, &ctx, email.as_str(), link, &client)
        .await
        .map_err(recovery_error)?;
    Ok(MessageResponse::ok("If this address has an account, a password reset email was sent."))
}

/// Set a new password with the mailed code or link (Replyke).
#[utoipa::path(post, path = "/auth/reset-password", operation_id = "replykeResetPassword", tag = "replyke",
    description = "Served for any project as `/{projectId}/auth/reset-password`. The address counts as verified, and every session of the user is revoked: sign in again with the new password.",
    request_body = ResetDoc,
    responses(
        (status = 200, body = MessageResponse, description = "Password reset"),
        (status = 400, description = "`auth/invalid-code`, `auth/code-expired` (expired, used, or too many wrong codes), `auth/invalid-password` (with `details`), `auth/invalid-email` (over 254 characters), `auth/missing-fields` or `auth/invalid-body`"),
        (status = 404, description = "`project/not-found`"),
        (status = 429, description = "`auth/too-many-requests`, with Retry-After"),
        (status = 503, description = "`auth/server-busy`, with Retry-After"),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    ReplykeJson(body): ReplykeJson,
) -> Result<Json<MessageResponse>, ReplykeError> {
    let fields = Fields::of(&body)?;
    let missing = "A new password, with the email and code or the link's token, is required.";
    let proof = proof_of(&fields, missing)?;
    let new_password = fields.string("newPassword")?.ok_or_else(|| ReplykeError::missing(missing))?;
    let policy = ReplykeSettings::password_policy(&ctx)?;
    let new_password = Password::new(new_password.to_owned());
    password_recovery::reset_password(&state.services, &ctx, proof, new_password, &policy, &client)
        .await
        .map_err(recovery_error)?;
    Ok(MessageResponse::ok("Password reset successfully."))
}
