//! Storyden's email routes: `email/signup` (seed 004), `email/signin` (a code by mail) and
//! `email/verify` (a verification code, or a sign-in code, which signs in).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::email::EmailAddress;
use doorway_core::flows::email_code_sign_in;
use doorway_core::flows::email_signup::{self, EmailSignup, EmailSignupOutcome, OnExisting};
use doorway_core::flows::verification::{self, CodeError, Proof};
use doorway_core::password::Password;
use doorway_core::user::{ProfileDraft, Username};
use serde_json::Value;

use super::{
    AccountId, StorydenSettings, bad_request, email_field, rate_limited, required, signed_in, signup_problem,
    string_field,
};
use crate::client_info::Client;
use crate::contracts::common::BotChecked;
use crate::contracts::common::bot_check::BotCheckHeader;
use crate::contracts::common::settings::ContractSettings;
use crate::contracts::common::{Problem, ProblemJson, presented_access_token};
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;
use crate::telemetry::{record_signup, signup_outcome};

/// `{email, password?, handle?}`: an empty password counts as none.
fn parse_signup(body: &Value) -> Result<(EmailAddress, Option<Password>, Option<Username>), Problem> {
    let email = email_field(body)?;
    let password = string_field(body, "password")?.filter(|p| !p.is_empty()).map(|p| Password::new(p.to_owned()));
    let username = match string_field(body, "handle")? {
        Some(raw) => Some(Username::parse(raw).map_err(|e| bad_request(e.to_string()))?),
        None => None,
    };
    Ok((email, password, username))
}

/// `POST /auth/email/signup` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenEmailSignupRequest)]
pub struct SignupDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// Optional, required or refused per the project's `storyden.password` mode; empty counts as none.
    #[schema(format = Password, max_length = 128, example = "correct horse battery")]
    password: Option<String>,
    /// 2–30 letters, digits, `_`, `.` or `-`.
    #[schema(pattern = "^[A-Za-z0-9_.-]{2,30}$", example = "ada")]
    handle: Option<String>,
}

/// `POST /auth/email/verify` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenEmailVerifyRequest)]
pub struct VerifyDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// The 6-digit code from the mail.
    #[schema(pattern = "^[0-9]{6}$", example = "123456")]
    code: String,
}

/// `POST /auth/email/signin` body.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = StorydenEmailSigninRequest)]
pub struct SigninDoc {
    #[schema(format = Email, min_length = 3, max_length = 254, example = "ada@example.com")]
    email: String,
    /// Accepted and ignored (Storyden's `AuthEmailInitialProps`).
    handle: Option<String>,
}

/// Register with an email address and optional password (Storyden).
#[utoipa::path(post, path = "/auth/email/signup", operation_id = "storydenEmailSignup", tag = "storyden",
    description = "`password` is optional, required or refused per the project's `storyden.password` mode. Heavily rate limited.",
    params(BotCheckHeader),
    request_body(content = SignupDoc, description = "`{email, password?, handle?}`"),
    responses(
        (status = 200, body = AccountId, description = "New address: account created, verification mail sent, `storyden-session` cookie set"),
        (status = 400, description = "Bad body (problem+json)"),
        (status = 403, description = "Bot protection is on and `X-Altcha` is missing, invalid, expired or already used, or the pre-sign-up hook refused (problem+json)"),
        (status = 409, description = "Handle taken (problem+json)"),
        (status = 422, description = "Address already registered: no cookie; the same code is mailed again (problem+json)"),
        (status = 429, description = "Rate limited; see Retry-After (problem+json)"),
        (status = 500, description = "Unexpected failure (problem+json)"),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    _bot: BotChecked,
    jar: CookieJar,
    ProblemJson(body): ProblemJson,
) -> Result<Response, Problem> {
    let method = match body.get("password") {
        Some(Value::String(p)) if !p.is_empty() => "password",
        _ => "email",
    };
    let (email, password, username) =
        parse_signup(&body).inspect_err(|_| record_signup("storyden", method, "invalid"))?;
    let settings = StorydenSettings::of(&ctx.project.settings).map_err(|e| Problem::internal(&e))?;
    let command = EmailSignup {
        email,
        password,
        mode: settings.password,
        policy: settings.password_policy.clone(),
        profile: ProfileDraft { username, ..Default::default() },
        organization_name: None,
        client,
        on_existing: OnExisting::ResendVerification,
    };
    let result = email_signup::sign_up(&state.services, &ctx, command).await;
    record_signup(
        "storyden",
        method,
        match &result {
            Ok(EmailSignupOutcome::Created(_)) => "created",
            Ok(EmailSignupOutcome::AlreadyRegistered) => "conflict",
            Err(e) => signup_outcome(e),
        },
    );
    match result.map_err(|e| signup_problem(e, StatusCode::UNPROCESSABLE_ENTITY))? {
        EmailSignupOutcome::Created(outcome) => {
            Ok(signed_in(&state, &ctx, prefix, jar, &outcome.access.token, outcome.user.id))
        }
        EmailSignupOutcome::AlreadyRegistered => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The address is already registered; if it is not verified yet, the verification mail was sent again",
        )),
    }
}

fn code_problem(e: CodeError) -> Problem {
    match e {
        CodeError::Invalid => bad_request("The code is not valid"),
        CodeError::Expired => bad_request("The code has expired or had too many wrong attempts; ask for a new one"),
        CodeError::RateLimited(r) => rate_limited(r),
        CodeError::Unexpected(cause) => Problem::internal(&cause),
    }
}

/// Start signing in by mail: a code goes to the address if it has an account (Storyden's
/// magic-code mode). While the code is live, asking again mails the same code.
#[utoipa::path(post, path = "/auth/email/signin", operation_id = "storydenEmailSignin", tag = "storyden",
    description = "Send the code to `email/verify` to sign in. The answer is the same whether or not the address has an account, so `id` is always empty (as Storyden answers).",
    request_body(content = SigninDoc, description = "`{email, handle?}`"),
    responses(
        (status = 200, body = AccountId, description = "`{\"id\": \"\"}`: a code is on its way if the address has an account"),
        (status = 400, description = "Bad body or address (problem+json)"),
        (status = 429, description = "Mail budget spent; see Retry-After (problem+json)"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    ProblemJson(body): ProblemJson,
) -> Result<Json<AccountId>, Problem> {
    let email = email_field(&body)?;
    string_field(&body, "handle")?;
    email_code_sign_in::request_code(&state.services, &ctx, &email, &client).await.map_err(code_problem)?;
    Ok(Json(AccountId { id: String::new() }))
}

/// Verify an address, or sign in, with the code from the mail (Storyden).
#[utoipa::path(post, path = "/auth/email/verify", operation_id = "storydenEmailVerify", tag = "storyden",
    description = "With the `storyden-session` cookie of the sign-up: verifies the address (a first verification without it drops the account's password and revokes its sessions). Without a session, a code from `email/signin` signs in: `storyden-session` is set. While the address has a live `email/signin` code, a code sent without a session is taken as that one.",
    request_body(content = VerifyDoc, description = "`{email, code}`"),
    responses(
        (status = 200, body = AccountId, description = "The address is verified; after `email/signin`, signed in with the `storyden-session` cookie"),
        (status = 400, description = "Bad body, or a wrong, expired or used-up code (problem+json)"),
        (status = 429, description = "Too many attempts; see Retry-After (problem+json)"),
        (status = 500, description = "Unexpected failure (problem+json)"),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    headers: HeaderMap,
    ProblemJson(body): ProblemJson,
) -> Result<Response, Problem> {
    let email = email_field(&body)?;
    let code = required(&body, "code")?;
    let proof = || Proof::Code { email: email.as_str(), code };
    // Verifying inside the sign-up's own session keeps it; from anywhere else, what was set up
    // before the proof is dropped.
    let session = presented_access_token(&state, &ctx, &headers);
    // Outside a session, a live code of `email/signin` is the code being sent: it signs in.
    if session.is_none()
        && email_code_sign_in::sign_in_code_pending(&state.services, &ctx, &email).await.map_err(code_problem)?
    {
        let outcome =
            email_code_sign_in::sign_in(&state.services, &ctx, proof(), &client).await.map_err(code_problem)?;
        return Ok(signed_in(&state, &ctx, prefix, jar, &outcome.access.token, outcome.user.id));
    }
    let user =
        verification::verify_email(&state.services, &ctx, proof(), session, &client).await.map_err(code_problem)?;
    Ok(Json(AccountId { id: user.id }).into_response())
}
