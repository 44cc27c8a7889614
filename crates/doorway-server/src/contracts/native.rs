//! Doorway's own API, seed 002's shape: `{success, data, message}` and
//! `{success:false, error:{code, message, details?}}`.
//!
//! Sign-up, sign-in, refresh, sign-out and who-am-I. The refresh token travels in the
//! `doorway_refresh` cookie (path `…/api/auth`), the access token in `data.session.token` and
//! in the `doorway_access` cookie; projects other than `default` use `doorway_<slug>_refresh`
//! and `doorway_<slug>_access`, so the default project's cookies (path `/`) never shadow theirs.

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::PasswordMode;
use doorway_core::ProjectContext;
use doorway_core::email::EmailAddress;
use doorway_core::events::ClientInfo;
use doorway_core::flows::email_signup::{self, EmailSignup, EmailSignupOutcome, OnExisting};
use doorway_core::flows::password_signup::{self, PasswordSignup, SignupError};
use doorway_core::flows::session::{self as session_flow, SessionError, SessionProof};
use doorway_core::flows::sign_in::{self, SignInError};
use doorway_core::lookalike;
use doorway_core::organization::Organization;
use doorway_core::password::Password;
use doorway_core::session::{AccessToken, RefreshSecret, verify_access_token};
use doorway_core::user::{ProfileDraft, User};
use serde::Serialize;
use serde_json::Value;

use crate::client_info::Client;
use crate::cookies::{CookiePolicy, cookie_values};
use crate::errors::{ApiError, ErrorBody, FieldError, NativeJson};
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;

/// Doorway's own cookie names in a project: `doorway_access`/`doorway_refresh` in `default`,
/// `doorway_<slug>_access`/`doorway_<slug>_refresh` elsewhere (slugs have no `_`, so names
/// never collide).
pub(crate) struct CookieNames {
    pub(crate) access: String,
    pub(crate) refresh: String,
}

impl CookieNames {
    pub(crate) fn of(ctx: &ProjectContext) -> Self {
        let slug = &ctx.project.slug;
        let stem = if slug.is_default() { "doorway".to_owned() } else { format!("doorway_{slug}") };
        Self { access: format!("{stem}_access"), refresh: format!("{stem}_refresh") }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// `usr_…`
    id: String,
    email: String,
    name: Option<String>,
    email_verified: bool,
    /// RFC 3339, UTC.
    created_at: String,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.clone(),
            email: u.email.to_string(),
            name: u.name.clone(),
            email_verified: u.email_verified,
            created_at: u.created_at.to_rfc3339(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    /// Access token: a JWT signed with the project's Ed25519 key (`EdDSA`).
    token: String,
    expires_at: String,
}

impl From<&AccessToken> for SessionView {
    fn from(a: &AccessToken) -> Self {
        Self { token: a.token.clone(), expires_at: a.expires_at.to_rfc3339() }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrganizationView {
    id: String,
    name: String,
    slug: String,
}

impl From<&Organization> for OrganizationView {
    fn from(o: &Organization) -> Self {
        Self { id: o.id.clone(), name: o.name.clone(), slug: o.slug.clone() }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignUpData {
    user: UserView,
    session: SessionView,
    /// Present when `organizationName` was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    organization: Option<OrganizationView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignUpResponse {
    success: bool,
    data: SignUpData,
    message: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInData {
    user: UserView,
    session: SessionView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignInResponse {
    success: bool,
    data: SignInData,
    message: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RefreshData {
    session: SessionView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RefreshResponse {
    success: bool,
    data: RefreshData,
    message: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MembershipView {
    id: String,
    name: String,
    slug: String,
    role: String,
    workspaces: Vec<WorkspaceView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct WorkspaceView {
    id: String,
    name: String,
    slug: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeData {
    user: UserView,
    organizations: Vec<MembershipView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MeResponse {
    success: bool,
    data: MeData,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MessageResponse {
    success: bool,
    message: &'static str,
}

/// Email/password sign-up request (seed 002). OAuth sign-up uses `{provider, callbackUrl}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = SignUpRequest, rename_all = "camelCase")]
pub struct SignUpRequestDoc {
    /// Valid address, unique in the project (case-insensitive).
    email: String,
    /// At least 8 characters with an uppercase letter, a number and a special character
    /// (the project's `password_policy`).
    password: String,
    /// 2–100 characters.
    name: String,
    /// Optional, 2–100 characters: creates an organization owned by the new user.
    organization_name: Option<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = SignInRequest)]
pub struct SignInRequestDoc {
    email: String,
    password: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = RefreshRequest)]
pub struct RefreshRequestDoc {
    /// Used when no `doorway_refresh` cookie is sent.
    #[schema(rename = "refreshToken")]
    refresh_token: String,
}

/// Reads the fields of a JSON object, collecting every problem instead of stopping at the first.
pub(crate) struct Fields<'a> {
    body: &'a serde_json::Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub(crate) fn of(body: &'a Value) -> Result<Self, ApiError> {
        match body {
            Value::Object(body) => Ok(Self { body, errors: Vec::new() }),
            _ => Err(ApiError::validation(vec![FieldError::new("body", "The body must be a JSON object")])),
        }
    }

    /// A required string; `label` names it in messages ("Email is required").
    pub(crate) fn required(&mut self, field: &str, label: &str) -> Option<&'a str> {
        match self.body.get(field) {
            None | Some(Value::Null) => {
                self.errors.push(FieldError::new(field, format!("{label} is required")));
                None
            }
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.errors.push(FieldError::new(field, format!("{label} must be a string")));
                None
            }
        }
    }

    pub(crate) fn optional(&mut self, field: &str, label: &str) -> Option<&'a str> {
        match self.body.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.errors.push(FieldError::new(field, format!("{label} must be a string")));
                None
            }
        }
    }

    pub(crate) fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, ApiError> {
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(ApiError::validation(self.errors)),
        }
    }
}

/// A display name or organization name: trimmed, 2–100 characters, nothing hidden, one script
/// when `refuse_mixed_script`.
fn bounded_text(
    fields: &mut Fields<'_>,
    field: &str,
    label: &str,
    raw: &str,
    refuse_mixed_script: bool,
) -> Option<String> {
    let trimmed = raw.trim();
    if let Err(e) = lookalike::check_name(trimmed, refuse_mixed_script) {
        fields.error(field, format!("{label} {e}"));
        return None;
    }
    if !(2..=100).contains(&trimmed.chars().count()) {
        fields.error(field, format!("{label} must be between 2 and 100 characters"));
        return None;
    }
    Some(trimmed.to_owned())
}

/// A native sign-up: with a password, or (when the project's `signup.password` allows) by
/// email only.
enum NativeSignup {
    Password(PasswordSignup),
    EmailOnly(EmailSignup),
}

fn parse_signup(body: &Value, ctx: &ProjectContext, client: ClientInfo) -> Result<NativeSignup, ApiError> {
    let settings = &ctx.project.settings;
    let mode = settings.signup.password;
    let mut f = Fields::of(body)?;
    let email = f.required("email", "Email").and_then(|raw| match EmailAddress::parse(raw) {
        Ok(e) => Some(e),
        Err(e) => {
            f.error("email", e.to_string());
            None
        }
    });
    let raw_password = match mode {
        PasswordMode::Required => f.required("password", "Password"),
        PasswordMode::Optional | PasswordMode::Off => f.optional("password", "Password"),
    };
    let password = match (raw_password, mode) {
        (Some(_), PasswordMode::Off) => {
            f.error("password", "This project signs in by email code only; send no password");
            None
        }
        (Some(raw), _) => {
            let password = Password::new(raw.to_owned());
            let violations = settings.password_policy.violations(&password);
            for v in &violations {
                f.error("password", v.clone());
            }
            violations.is_empty().then_some(Some(password))
        }
        (None, PasswordMode::Required) => None,
        (None, _) => Some(None),
    };
    let mixed = settings.names.refuse_mixed_script;
    let name = f.required("name", "Name").and_then(|raw| bounded_text(&mut f, "name", "Name", raw, mixed));
    let organization_name = match f.optional("organizationName", "Organization name") {
        Some(raw) => bounded_text(&mut f, "organizationName", "Organization name", raw, mixed).map(Some),
        None => Some(None),
    };
    let command = match (email, password, name, organization_name) {
        (Some(email), Some(password), Some(name), Some(organization_name)) => {
            let profile = ProfileDraft { name: Some(name), ..Default::default() };
            Some(match password {
                Some(password) => NativeSignup::Password(PasswordSignup {
                    email,
                    password,
                    policy: settings.password_policy.clone(),
                    profile,
                    organization_name,
                    client,
                }),
                None => NativeSignup::EmailOnly(EmailSignup {
                    email,
                    password: None,
                    mode,
                    policy: settings.password_policy.clone(),
                    profile,
                    organization_name,
                    client,
                    on_existing: OnExisting::Refuse,
                }),
            })
        }
        _ => None,
    };
    f.finish(command)
}

/// Cookie paths follow the prefix the client used, so projects never see each other's cookies.
pub(crate) struct SessionCookies {
    policy: CookiePolicy,
    names: CookieNames,
    prefix: String,
    access_ttl: i64,
    refresh_ttl: i64,
}

impl SessionCookies {
    pub(crate) fn new(state: &AppState, ctx: &ProjectContext, prefix: Option<Extension<RoutePrefix>>) -> Self {
        Self {
            policy: CookiePolicy::for_public_url(&state.public_url),
            names: CookieNames::of(ctx),
            prefix: prefix.map(|Extension(p)| p.0).unwrap_or_default(),
            access_ttl: i64::from(ctx.project.settings.access_token_ttl_secs),
            refresh_ttl: i64::from(ctx.project.settings.refresh_token_ttl_secs),
        }
    }

    fn access_path(&self) -> String {
        if self.prefix.is_empty() { "/".to_owned() } else { self.prefix.clone() }
    }

    fn refresh_path(&self) -> String {
        format!("{}/api/auth", self.prefix)
    }

    pub(crate) fn issue(&self, jar: CookieJar, access: &AccessToken, refresh: &RefreshSecret) -> CookieJar {
        let names = &self.names;
        jar.add(self.policy.set(names.access.clone(), access.token.clone(), self.access_path(), self.access_ttl)).add(
            self.policy.set(names.refresh.clone(), refresh.expose().to_owned(), self.refresh_path(), self.refresh_ttl),
        )
    }

    fn clear(&self, jar: CookieJar) -> CookieJar {
        jar.add(self.policy.clear(self.names.access.clone(), self.access_path()))
            .add(self.policy.clear(self.names.refresh.clone(), self.refresh_path()))
    }
}

fn signup_error(e: SignupError) -> ApiError {
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

fn session_error(e: SessionError) -> ApiError {
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
        SessionError::Unexpected(cause) => ApiError::internal(&cause),
    }
}

fn record_signup(outcome: &'static str) {
    metrics::counter!("doorway_signups_total", "method" => "password", "outcome" => outcome).increment(1);
}

/// Create an account with email and password (seed 002).
#[utoipa::path(post, path = "/api/auth/sign-up", tag = "auth",
    request_body = SignUpRequestDoc,
    responses(
        (status = 201, body = SignUpResponse, description = "Account created; refresh token set in the `doorway_refresh` cookie"),
        (status = 200, body = super::native_oauth::AuthorizationResponse, description = "OAuth form `{provider, callbackUrl}`: the provider's authorization URL; the short-lived HttpOnly `doorway_oauth_state` cookie binds the flow to this browser"),
        (status = 400, body = ErrorBody, description = "INVALID_JSON"),
        (status = 409, body = ErrorBody, description = "EMAIL_EXISTS"),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR, with every failing field in `details`"),
        (status = 503, body = ErrorBody, description = "Hashing queue full; see Retry-After"),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
    NativeJson(body): NativeJson<Value>,
) -> Result<Response, ApiError> {
    if body.get("provider").is_some() && body.get("password").is_none() {
        return super::native_oauth::start(&state, &ctx, &body, &client).await;
    }
    let command = parse_signup(&body, &ctx, client).inspect_err(|_| record_signup("invalid"))?;
    let result = match command {
        NativeSignup::Password(cmd) => password_signup::sign_up(&state.services, &ctx, cmd).await,
        NativeSignup::EmailOnly(cmd) => match email_signup::sign_up(&state.services, &ctx, cmd).await {
            Ok(EmailSignupOutcome::Created(outcome)) => Ok(*outcome),
            Ok(EmailSignupOutcome::AlreadyRegistered) => Err(SignupError::EmailTaken),
            Err(e) => Err(e),
        },
    };
    let outcome = result.map_err(|e| {
        record_signup(match &e {
            SignupError::EmailTaken | SignupError::UsernameTaken => "conflict",
            SignupError::Denied { .. } | SignupError::HookUnavailable => "denied",
            SignupError::WeakPassword(_) | SignupError::PasswordNotAccepted(_) => "invalid",
            SignupError::Busy { .. } => "busy",
            SignupError::RateLimited(_) => "rate_limited",
            SignupError::Unexpected(_) => "error",
        });
        signup_error(e)
    })?;
    record_signup("created");
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
#[utoipa::path(post, path = "/api/auth/sign-in", tag = "auth",
    request_body = SignInRequestDoc,
    responses(
        (status = 200, body = SignInResponse, description = "Signed in; refresh token set in the `doorway_refresh` cookie"),
        (status = 401, body = ErrorBody, description = "INVALID_CREDENTIALS (same answer for an unknown address)"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR"),
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
    let outcome = sign_in::sign_in(&state.services, &ctx, email, Password::new(password.to_owned()), client)
        .await
        .map_err(|e| match e {
            SignInError::InvalidCredentials => {
                ApiError::new(StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS", "Invalid email or password")
            }
            SignInError::Busy { retry_after_secs } => {
                ApiError::unavailable("Too many sign-ins in progress; retry shortly", retry_after_secs)
            }
            SignInError::RateLimited(r) => ApiError::rate_limited(r),
            SignInError::Unexpected(cause) => ApiError::internal(&cause),
        })?;
    Ok(signed_in_response(&state, &ctx, prefix, jar, &outcome))
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
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth",
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

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The access token from `Authorization: Bearer …`, else from an access cookie: the project's
/// own, or a seed-named one (`storyden-session`, `Aufy.AccessToken`). Seed names are the same in
/// every project, so a browser may send several of one name (the default project's at `/`,
/// another's at `/acme`): the first that verifies for this project (signature, issuer,
/// audience = slug) wins, whatever the order.
pub(crate) fn presented_access_token<'a>(
    state: &AppState,
    ctx: &ProjectContext,
    headers: &'a HeaderMap,
) -> Option<&'a str> {
    if let Some(token) = bearer(headers) {
        return Some(token);
    }
    let now = state.services.clock.now();
    let own = CookieNames::of(ctx).access;
    [own.as_str(), super::storyden::SESSION_COOKIE, super::aufy::ACCESS_COOKIE]
        .into_iter()
        .flat_map(|name| cookie_values(headers, name))
        .find(|token| verify_access_token(ctx, token, now).is_some())
}

/// End the current session (by Bearer token, access cookie or refresh cookie).
#[utoipa::path(post, path = "/api/auth/sign-out", tag = "auth",
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
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
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
    let token =
        presented_access_token(&state, &ctx, &headers).ok_or_else(|| session_error(SessionError::Unauthenticated))?;
    let me = doorway_core::flows::profile::who_am_i(&state.services, &ctx, token).await.map_err(session_error)?;
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
