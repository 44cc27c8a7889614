//! Seed 004 (Storyden): `POST /auth/email/signup` and `POST /auth/email/verify`.
//!
//! A new address gets `200 {id}`, a verification mail and an HttpOnly `storyden-session`
//! cookie. An address already registered gets 422 and no cookie, and its still-valid code is
//! mailed again ("sign-up doubles as resend"), within the mail budget. Errors are RFC 9457
//! problem details.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::PasswordMode;
use doorway_core::email::EmailAddress;
use doorway_core::flows::email_signup::{self, EmailSignup, EmailSignupOutcome, OnExisting};
use doorway_core::flows::password_signup::SignupError;
use doorway_core::flows::verification::{self, CodeError, Proof};
use doorway_core::password::Password;
use doorway_core::user::{ProfileDraft, Username};
use serde::Serialize;
use serde_json::{Value, json};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::settings::{ContractSettings, relaxed_policy};
use super::{ContractAdapter, SettingsCheck};
use crate::client_info::Client;
use crate::contracts::common::{Problem, ProblemJson, presented_access_token};
use crate::cookies::CookiePolicy;
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;
use crate::telemetry::{record_signup, signup_outcome};

/// `projects.<slug>.storyden`: whether sign-up takes a password, and its rules.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorydenSettings {
    pub password: PasswordMode,
    pub password_policy: doorway_core::password::PasswordPolicy,
}

impl Default for StorydenSettings {
    fn default() -> Self {
        Self { password: PasswordMode::Optional, password_policy: relaxed_policy() }
    }
}

impl ContractSettings for StorydenSettings {
    const KEY: &'static str = "storyden";
}

/// Seed 004; its errors are RFC 9457 problem details.
pub struct Storyden;

impl ContractAdapter for Storyden {
    fn name(&self) -> &'static str {
        "storyden"
    }

    fn tag(&self) -> (&'static str, &'static str) {
        ("storyden", "Storyden-compatible email sign-up (seed 004)")
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new().routes(routes!(sign_up)).routes(routes!(verify))
    }

    fn owns(&self, path: &str) -> bool {
        matches!(path.trim_end_matches('/'), "/auth/email/signup" | "/auth/email/verify")
    }

    fn refuse(&self, status: StatusCode, _code: &'static str, message: String) -> Response {
        Problem::new(status, message).into_response()
    }

    fn settings_check(&self) -> Option<SettingsCheck> {
        Some((StorydenSettings::KEY, StorydenSettings::check))
    }
}

pub const SESSION_COOKIE: &str = "storyden-session";

fn bad_request(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, detail)
}

fn string_field<'a>(body: &'a Value, key: &str) -> Result<Option<&'a str>, Problem> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad_request(format!("'{key}' must be a string"))),
    }
}

fn email_field(body: &Value) -> Result<EmailAddress, Problem> {
    if !body.is_object() {
        return Err(bad_request("The body must be a JSON object"));
    }
    let raw = string_field(body, "email")?.ok_or_else(|| bad_request("'email' is required"))?;
    EmailAddress::parse(raw).map_err(|e| bad_request(e.to_string()))
}

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

#[derive(Serialize, utoipa::ToSchema)]
pub struct AccountId {
    /// The account's id.
    id: String,
}

fn signup_problem(e: SignupError) -> Problem {
    match e {
        SignupError::EmailTaken => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "The address is already registered"),
        SignupError::UsernameTaken => Problem::new(StatusCode::CONFLICT, "This handle is already taken"),
        SignupError::WeakPassword(reasons) => {
            let mut p = bad_request(reasons.join("; "));
            p.extensions.insert("errors".into(), json!(reasons));
            p
        }
        SignupError::PasswordNotAccepted(reason) => bad_request(reason),
        SignupError::Denied { message } => Problem::new(StatusCode::FORBIDDEN, message),
        SignupError::HookUnavailable => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Sign-up validation is unavailable; retry shortly")
                .with_retry(5, None)
        }
        SignupError::Busy { retry_after_secs } => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Too many sign-ups in progress; retry shortly")
                .with_retry(retry_after_secs, None)
        }
        SignupError::RateLimited(r) => Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts; retry later")
            .with_retry(r.retry_after_secs, Some(r.limit)),
        SignupError::Unexpected(cause) => Problem::internal(&cause),
    }
}

/// Register with an email address and optional password (Storyden).
#[utoipa::path(post, path = "/auth/email/signup", operation_id = "storydenEmailSignup", tag = "storyden",
    description = "`password` is optional, required or refused per the project's `storyden.password` mode. Heavily rate limited.",
    request_body(content = SignupDoc, description = "`{email, password?, handle?}`"),
    responses(
        (status = 200, body = AccountId, description = "New address: account created, verification mail sent, `storyden-session` cookie set"),
        (status = 400, description = "Bad body (problem+json)"),
        (status = 403, description = "Refused by the pre-sign-up hook (problem+json)"),
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
    match result.map_err(signup_problem)? {
        EmailSignupOutcome::Created(outcome) => {
            let prefix = prefix.map(|Extension(p)| p.0).unwrap_or_default();
            let cookie = CookiePolicy::for_public_url(&state.public_url).set(
                SESSION_COOKIE,
                outcome.access.token.clone(),
                if prefix.is_empty() { "/".to_owned() } else { prefix },
                i64::from(ctx.project.settings.access_token_ttl_secs),
            );
            Ok((jar.add(cookie), Json(AccountId { id: outcome.user.id })).into_response())
        }
        EmailSignupOutcome::AlreadyRegistered => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The address is already registered; if it is not verified yet, the verification mail was sent again",
        )),
    }
}

/// Verify an address with the code from the mail (Storyden).
#[utoipa::path(post, path = "/auth/email/verify", operation_id = "storydenEmailVerify", tag = "storyden",
    description = "Send the `storyden-session` cookie of the sign-up: a first verification without it drops the account's password and revokes its sessions.",
    request_body(content = VerifyDoc, description = "`{email, code}`"),
    responses(
        (status = 200, body = AccountId, description = "The address is verified"),
        (status = 400, description = "Bad body, or a wrong, expired or used-up code (problem+json)"),
        (status = 500, description = "Unexpected failure (problem+json)"),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    ProblemJson(body): ProblemJson,
) -> Result<Json<AccountId>, Problem> {
    let email = email_field(&body)?;
    let code = string_field(&body, "code")?.ok_or_else(|| bad_request("'code' is required"))?;
    let proof = Proof::Code { email: email.as_str(), code };
    // Verifying inside the sign-up's own session keeps it; from anywhere else, what was set up
    // before the proof is dropped.
    let session = presented_access_token(&state, &ctx, &headers);
    match verification::verify_email(&state.services, &ctx, proof, session, &client).await {
        Ok(user) => Ok(Json(AccountId { id: user.id })),
        Err(CodeError::Invalid) => Err(bad_request("The code is not valid")),
        Err(CodeError::Expired) => {
            Err(bad_request("The code has expired or had too many wrong attempts; sign up again for a new one"))
        }
        Err(CodeError::RateLimited(r)) => Err(Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts")
            .with_retry(r.retry_after_secs, Some(r.limit))),
        Err(CodeError::Unexpected(cause)) => Err(Problem::internal(&cause)),
    }
}
