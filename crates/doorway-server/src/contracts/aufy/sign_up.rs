//! `{auth}/signup`: email + password sign-up. Aufy answers `{requiresEmailConfirmation}`; the
//! client signs in next, after confirming the address when asked to.
//!
//! The session the sign-up opens is kept in the HttpOnly `Aufy.RefreshToken` and
//! `Aufy.AccessToken` cookies (never in the body, which stays Aufy's): confirming the address
//! from the same browser then counts as done inside the credential holder's session, so the
//! password survives the first proof of the address (see core's `account_securing`). Confirmed
//! from anywhere else, the password is dropped as for every contract; the owner sets a new one
//! with `{account}/password/forgot`.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::flows::password_signup::{self, PasswordSignup, SignupError};
use doorway_core::password::Password;
use doorway_core::user::{Login, ProfileDraft};
use serde::Serialize;

use super::input::{Model, field_problem, validation_problem};
use super::{prefix_of, session_cookies};
use crate::client_info::Client;
use crate::contracts::common::BotChecked;
use crate::contracts::common::bot_check::BotCheckHeader;
use crate::contracts::common::{Problem, ProblemJson};
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;
use crate::telemetry::{record_signup, signup_outcome};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AufySignUpResponse)]
pub struct SignUpResponse {
    /// Whether the address must be confirmed (the project's `signup.verify_email`); a
    /// confirmation mail with a code and a link was sent when true.
    requires_email_confirmation: bool,
}

/// `{email, password}`; property names match whatever their case.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the body; the handler reads it field by field")]
#[schema(as = AufySignUpRequest)]
pub struct SignUpRequest {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    #[schema(format = Password, min_length = 1, pattern = "\\S")]
    password: String,
}

pub(super) fn signup_problem(e: SignupError) -> Problem {
    match e {
        SignupError::EmailTaken => Problem::new(StatusCode::BAD_REQUEST, "Account with this email already exists"),
        SignupError::UsernameTaken => Problem::new(StatusCode::BAD_REQUEST, "This username is already taken"),
        SignupError::Denied { message } => Problem::new(StatusCode::FORBIDDEN, message),
        SignupError::HookUnavailable => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Sign-up validation is unavailable; retry shortly")
                .with_retry(5, None)
        }
        SignupError::WeakPassword(reasons) => {
            validation_problem(std::collections::BTreeMap::from([("Password".to_owned(), reasons)]))
        }
        SignupError::PasswordNotAccepted(message) => field_problem("Password", message),
        SignupError::RateLimited(r) => Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts")
            .with_retry(r.retry_after_secs, Some(r.limit)),
        SignupError::Busy { retry_after_secs } => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Too many sign-ups in progress; retry shortly")
                .with_retry(retry_after_secs, None)
        }
        SignupError::Unexpected(cause) => Problem::internal(&cause),
    }
}

/// Create an account with email and password.
#[utoipa::path(post, path = "/api/auth/signup", operation_id = "aufySignUp", tag = "aufy",
    params(BotCheckHeader), request_body = SignUpRequest,
    responses(
        (status = 200, body = SignUpResponse, description = "Account created with the project's `default_roles`; its first session is kept in the HttpOnly `Aufy.RefreshToken` and `Aufy.AccessToken` cookies"),
        (status = 400, description = "Validation problem (`errors` names each field: Email, Password with every broken password rule), the address has an account already, or the body is not JSON (problem+json)"),
        (status = 403, description = "Bot protection is on and `X-Altcha` is missing, invalid, expired or already used, or the pre-sign-up hook refused (problem+json)"),
        (status = 413, description = "Body over 64 KiB (problem+json)"),
        (status = 415, description = "Body not sent as JSON (problem+json)"),
        (status = 429, description = "Rate limited; see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full or hook unavailable; see Retry-After (problem+json)"),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    _bot: BotChecked,
    jar: CookieJar,
    body: Result<ProblemJson, Problem>,
) -> Result<Response, Problem> {
    let ProblemJson(body) = body?;
    let mut model = Model::of(&body);
    let fields = model.email("Email").zip(model.required("Password"));
    let (email, password) = model.finish(fields).inspect_err(|_| record_signup("aufy", "password", "invalid"))?;
    let command = PasswordSignup {
        login: Login::Email(email),
        password: Password::new(password.to_owned()),
        policy: ctx.project.settings.password_policy.clone(),
        profile: ProfileDraft::default(),
        organization_name: None,
        client,
    };
    let outcome = password_signup::sign_up(&state.services, &ctx, command).await.map_err(|e| {
        record_signup("aufy", "password", signup_outcome(&e));
        signup_problem(e)
    })?;
    record_signup("aufy", "password", "created");
    let body = SignUpResponse { requires_email_confirmation: ctx.project.settings.signup.verify_email };
    let pair = (&outcome.access, &outcome.refresh_secret);
    let jar = session_cookies(&state, &ctx, &prefix_of(prefix), jar, pair);
    Ok((jar, Json(body)).into_response())
}
