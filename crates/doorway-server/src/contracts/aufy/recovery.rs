//! Proving the address and recovering the password: `{account}/email/confirm`,
//! `{account}/email/confirm/resend`, `{account}/password/forgot` and `{account}/password/reset`.
//! None needs a session; none says whether an address has an account.
//!
//! Doorway's mails carry a 6-digit code and a link; Aufy's endpoints take one `code`. Either
//! works here: the 6-digit code (with the address, or for `email/confirm` the user's id), or
//! the link's token.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use doorway_core::flows::password_recovery::{self, RecoveryError, ResetLink};
use doorway_core::flows::verification::{self, CodeError, Proof};
use doorway_core::password::Password;
use doorway_core::user::User;
use serde::Deserialize;

use super::AufySettings;
use super::input::{Model, field_problem, validation_problem};
use crate::client_info::Client;
use crate::contracts::common::settings::ContractSettings;
use crate::contracts::common::{Problem, ProblemJson, presented_access_token};
use crate::project_scope::CurrentProject;
use crate::state::AppState;

/// A 6-digit code (digits only) is checked against the address's code; anything else is a
/// link token.
fn proof<'a>(email: &'a str, code: &'a str) -> Proof<'a> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Proof::Code { email, code }
    } else {
        Proof::Link { token: code }
    }
}

fn rate_limited(r: doorway_core::rate_limit::RateLimited) -> Problem {
    Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts").with_retry(r.retry_after_secs, Some(r.limit))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConfirmQuery {
    /// The mail's 6-digit code, or its link's token.
    #[serde(alias = "Code")]
    #[param(required = true, min_length = 1, pattern = "\\S")]
    code: Option<String>,
    /// The user's id (`usr_…`) or email address; needed with a 6-digit code.
    #[serde(rename = "userId", alias = "userid", alias = "UserId")]
    #[param(rename = "userId", required = true, min_length = 1)]
    user_id: Option<String>,
}

/// Confirm the address with the code or link token of the confirmation mail.
#[utoipa::path(get, path = "/api/account/email/confirm", operation_id = "aufyConfirmEmail", tag = "aufy", params(ConfirmQuery),
    responses(
        (status = 200, description = "Confirmed (empty body)"),
        (status = 400, description = "`code` or `userId` missing (validation problem+json)"),
        (status = 404, description = "Unknown user, address already confirmed, or a wrong, expired or used code (problem+json)"),
        (status = 429, description = "Too many codes tried; see Retry-After (problem+json)"),
    ))]
pub async fn confirm_email(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    q: Result<Query<ConfirmQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Problem> {
    let not_found = || Problem::new(StatusCode::NOT_FOUND, "The confirmation code is wrong, expired or already used");
    let Query(q) = q.map_err(|_| field_problem("code", "The query string does not parse."))?;
    let (Some(code), Some(user_id)) = (q.code.filter(|c| !c.trim().is_empty()), q.user_id.filter(|u| !u.is_empty()))
    else {
        return Err(field_problem("code", "The code and userId query parameters are required."));
    };
    let email = if user_id.contains('@') {
        user_id
    } else {
        let user =
            state.services.store.user_by_id(&ctx.project.id, &user_id).await.map_err(|e| Problem::internal(&e))?;
        match user {
            Some(User { email: Some(email), email_verified: false, .. }) => email.to_string(),
            _ => return Err(not_found()),
        }
    };
    // Proved from inside the account's own session (the sign-up's cookies), the password stays.
    let session = presented_access_token(&state, &ctx, &headers);
    match verification::verify_email(&state.services, &ctx, proof(&email, &code), session, &client).await {
        Ok(_) => Ok(StatusCode::OK.into_response()),
        Err(CodeError::Invalid | CodeError::Expired) => Err(not_found()),
        Err(CodeError::RateLimited(r)) => Err(rate_limited(r)),
        Err(CodeError::Unexpected(cause)) => Err(Problem::internal(&cause)),
    }
}

/// `{email}`; property names match whatever their case.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the body; the handler reads it field by field")]
#[schema(as = AufyEmailRequest)]
pub struct EmailRequest {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
}

/// Send the confirmation mail again (the same code while it is valid).
#[utoipa::path(post, path = "/api/account/email/confirm/resend", operation_id = "aufyResendEmailConfirmation", tag = "aufy",
    request_body = EmailRequest,
    responses(
        (status = 200, description = "Sent if the address has an unconfirmed account (empty body; the same answer otherwise)"),
        (status = 400, description = "`email` missing or not an address, or a body that is not JSON (problem+json; validation problems carry `errors`)"),
        (status = 413, description = "Body over 64 KiB (problem+json)"),
        (status = 415, description = "Body not sent as JSON (problem+json)"),
        (status = 429, description = "Too many mails; see Retry-After (problem+json)"),
    ))]
pub async fn resend_confirmation(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    body: Result<ProblemJson, Problem>,
) -> Result<Response, Problem> {
    let ProblemJson(body) = body?;
    let mut model = Model::of(&body);
    let email = model.email("Email");
    let email = model.finish(email)?;
    match verification::resend_verification(&state.services, &ctx, &email, &client).await {
        Ok(()) => Ok(StatusCode::OK.into_response()),
        Err(CodeError::RateLimited(r)) => Err(rate_limited(r)),
        Err(CodeError::Unexpected(cause)) => Err(Problem::internal(&cause)),
        // Resending checks no code.
        Err(CodeError::Invalid | CodeError::Expired) => Ok(StatusCode::OK.into_response()),
    }
}

fn recovery_problem(e: RecoveryError) -> Problem {
    match e {
        RecoveryError::InvalidEmail => field_problem("Email", "The Email field is not a valid e-mail address."),
        RecoveryError::Invalid | RecoveryError::Expired => field_problem("InvalidToken", "Invalid token."),
        RecoveryError::PasswordNotAccepted(message) => field_problem("Password", message),
        RecoveryError::WeakPassword(reasons) => {
            validation_problem(std::collections::BTreeMap::from([("Password".to_owned(), reasons)]))
        }
        RecoveryError::RateLimited(r) => rate_limited(r),
        RecoveryError::Busy { retry_after_secs } => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Too many password changes in progress; retry shortly")
                .with_retry(retry_after_secs, None)
        }
        // `aufy.password_reset_url` left the allow-list: the configuration's fault, checked at start.
        RecoveryError::LinkNotAllowed => Problem::internal(&"aufy.password_reset_url is not on redirect_allowlist"),
        RecoveryError::Unexpected(cause) => Problem::internal(&cause),
    }
}

/// Mail a reset code and link to the address's account.
#[utoipa::path(post, path = "/api/account/password/forgot", operation_id = "aufyForgotPassword", tag = "aufy",
    request_body = EmailRequest,
    responses(
        (status = 200, description = "Sent if the address has an account (empty body; the same answer otherwise). The link leads to `aufy.password_reset_url?code=…` when set, else to Doorway's reset page"),
        (status = 400, description = "`email` missing or not an address, a project without passwords, or a body that is not JSON (problem+json; validation problems carry `errors`)"),
        (status = 413, description = "Body over 64 KiB (problem+json)"),
        (status = 415, description = "Body not sent as JSON (problem+json)"),
        (status = 429, description = "Too many mails; see Retry-After (problem+json)"),
    ))]
pub async fn forgot_password(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    body: Result<ProblemJson, Problem>,
) -> Result<Response, Problem> {
    let ProblemJson(body) = body?;
    let mut model = Model::of(&body);
    let email = model.email("Email");
    let email = model.finish(email)?;
    let link = match AufySettings::of(&ctx.project.settings).ok().and_then(|s| s.password_reset_url) {
        Some(url) => ResetLink::App { url, query_param: "code".to_owned() },
        None => ResetLink::Hosted,
    };
    password_recovery::request_password_reset(&state.services, &ctx, email.as_str(), link, &client)
        .await
        .map_err(recovery_problem)?;
    Ok(StatusCode::OK.into_response())
}

/// `{email, code, password}`; property names match whatever their case.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the body; the handler reads it field by field")]
#[schema(as = AufyResetPasswordRequest)]
pub struct ResetPasswordRequest {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// The mail's 6-digit code, or its link's token.
    #[schema(min_length = 1, pattern = "\\S", example = "123456")]
    code: String,
    /// The new password.
    #[schema(format = Password, min_length = 1, pattern = "\\S")]
    password: String,
}

/// Set a new password with the reset mail's code; every session of the user ends.
#[utoipa::path(post, path = "/api/account/password/reset", operation_id = "aufyResetPassword", tag = "aufy",
    request_body = ResetPasswordRequest,
    responses(
        (status = 200, description = "The password is set (empty body), the address counts as confirmed, and every session of the user is revoked"),
        (status = 400, description = "A wrong, expired or used code (`errors.InvalidToken`), a password the policy refuses (`errors.Password`), a missing field, or a body that is not JSON (problem+json; validation problems carry `errors`)"),
        (status = 413, description = "Body over 64 KiB (problem+json)"),
        (status = 415, description = "Body not sent as JSON (problem+json)"),
        (status = 429, description = "Too many codes tried; see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full; see Retry-After (problem+json)"),
    ))]
pub async fn reset_password(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    body: Result<ProblemJson, Problem>,
) -> Result<Response, Problem> {
    let ProblemJson(body) = body?;
    let mut model = Model::of(&body);
    let fields = model.email("Email").zip(model.required("Code")).zip(model.required("Password"));
    let ((email, code), password) = model.finish(fields)?;
    let proof = proof(email.as_str(), code);
    password_recovery::reset_password(
        &state.services,
        &ctx,
        proof,
        Password::new(password.to_owned()),
        &ctx.project.settings.password_policy,
        &client,
    )
    .await
    .map_err(recovery_problem)?;
    Ok(StatusCode::OK.into_response())
}
