//! The native passkey routes: each ceremony is `…/options` (the WebAuthn options, as the
//! spec's JSON encoding, in `data.publicKey`) then the authenticator's answer (the spec's
//! `RegistrationResponseJSON` / `AuthenticationResponseJSON`, as the body). The options
//! response sets a short-lived HttpOnly cookie binding the ceremony to this browser; the
//! answer is only accepted with it, and only once.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::ProjectContext;
use doorway_core::email::EmailAddress;
use doorway_core::flows::passkey::{self as flow, PasskeyError, PasskeyName, PasskeySignup, Started};
use doorway_core::store::StoredPasskey;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::handlers::{session_error, signed_in, signed_in_response, signup_error};
use super::parse::bounded_text;
use super::views::{MessageResponse, SignInResponse, SignUpData, SignUpResponse};
use crate::client_info::Client;
use crate::contracts::common::bot_check::BotCheckHeader;
use crate::contracts::common::{BotChecked, Fields, NativeJson, SessionCookies};
use crate::cookies::{CookiePolicy, cookie_values};
use crate::errors::{ApiError, ErrorBody, FieldError};
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;
use crate::telemetry::{record_signup, signup_outcome};

fn passkey_error(e: PasskeyError) -> ApiError {
    match e {
        PasskeyError::Disabled => {
            ApiError::new(StatusCode::NOT_FOUND, "PASSKEYS_DISABLED", "Passkeys are not enabled in this project")
        }
        PasskeyError::CeremonyExpired => ApiError::new(
            StatusCode::BAD_REQUEST,
            "PASSKEY_CEREMONY_EXPIRED",
            "No passkey ceremony of this browser is waiting: it expired, was already used, or was never started; request new options",
        ),
        PasskeyError::Rejected => {
            ApiError::new(StatusCode::BAD_REQUEST, "PASSKEY_REJECTED", "The passkey response did not verify")
        }
        PasskeyError::UnknownCredential => {
            ApiError::new(StatusCode::UNAUTHORIZED, "PASSKEY_REJECTED", "The passkey response did not verify")
        }
        PasskeyError::CredentialExists => {
            ApiError::new(StatusCode::CONFLICT, "PASSKEY_EXISTS", "This passkey is already registered")
        }
        PasskeyError::NotFound => {
            ApiError::new(StatusCode::NOT_FOUND, "PASSKEY_NOT_FOUND", "No passkey of yours has this id")
        }
        PasskeyError::Unauthenticated => session_error(doorway_core::flows::session::SessionError::Unauthenticated),
        PasskeyError::RateLimited(r) => ApiError::rate_limited(r),
        PasskeyError::Signup(e) => signup_error(e),
        PasskeyError::Unexpected(cause) => ApiError::internal(&cause),
    }
}

/// A failed sign-in says the same whatever failed: verification, or an unknown credential.
fn sign_in_error(e: PasskeyError) -> ApiError {
    match e {
        PasskeyError::Rejected => passkey_error(PasskeyError::UnknownCredential),
        other => passkey_error(other),
    }
}

/// The binding cookie: per project (like the session cookies), on the project's `/api/auth`.
struct Binding {
    policy: CookiePolicy,
    name: String,
    path: String,
}

impl Binding {
    fn new(state: &AppState, ctx: &ProjectContext, prefix: Option<Extension<RoutePrefix>>) -> Self {
        let slug = &ctx.project.slug;
        let name = if slug.is_default() { "doorway_passkey".to_owned() } else { format!("doorway_{slug}_passkey") };
        let prefix = prefix.map(|Extension(p)| p.0).unwrap_or_default();
        Self { policy: CookiePolicy::for_public_url(&state.public_url), name, path: format!("{prefix}/api/auth") }
    }

    fn set(&self, jar: CookieJar, secret: String) -> CookieJar {
        jar.add(self.policy.set(self.name.clone(), secret, self.path.clone(), doorway_core::passkey::CEREMONY_TTL_SECS))
    }

    fn clear(&self, jar: CookieJar) -> CookieJar {
        jar.add(self.policy.clear(self.name.clone(), self.path.clone()))
    }

    fn presented<'a>(&self, headers: &'a HeaderMap) -> Vec<&'a str> {
        cookie_values(headers, &self.name)
    }
}

/// `{success, data: {publicKey}}` with the binding cookie.
fn options_response(binding: &Binding, jar: CookieJar, started: Started) -> Response {
    let public_key = started.options.get("publicKey").cloned().unwrap_or(Value::Null);
    let body = serde_json::json!({ "success": true, "data": { "publicKey": public_key } });
    (binding.set(jar, started.binding), Json(body)).into_response()
}

/// The authenticator's answer, as webauthn-rs reads it; a body of another shape is a 422.
fn credential<T: DeserializeOwned>(body: Value, what: &str) -> Result<T, ApiError> {
    if !body.is_object() {
        return Err(ApiError::validation(vec![FieldError::new("body", "The body must be a JSON object")]));
    }
    serde_json::from_value(body).map_err(|e| {
        ApiError::validation(vec![FieldError::new("body", format!("The body is not a WebAuthn {what}: {e}"))])
    })
}

/// An optional passkey label in an options body.
fn passkey_name(f: &mut Fields<'_>) -> Option<Option<PasskeyName>> {
    match f.optional("name", "Name").map(PasskeyName::parse) {
        None => Some(None),
        Some(Ok(name)) => Some(Some(name)),
        Some(Err(message)) => {
            f.error("name", message);
            None
        }
    }
}

/// An optional JSON body: an empty one reads as `{}`.
fn object_or_empty(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "INVALID_JSON", "The body is not valid JSON"))
}

/// Start a passkey-only sign-up.
#[utoipa::path(post, path = "/api/auth/passkey/sign-up/options", operation_id = "nativePasskeySignUpOptions", tag = "auth",
    params(BotCheckHeader), request_body = PasskeySignUpOptionsRequest,
    responses(
        (status = 200, body = PasskeyCreationOptionsResponse, description = "Options for `navigator.credentials.create()`; the HttpOnly `doorway_passkey` cookie binds the ceremony (5 minutes) to this browser"),
        (status = 400, body = ErrorBody, description = "INVALID_JSON"),
        (status = 403, body = ErrorBody, description = "BOT_CHECK_FAILED: the project's bot protection is on and `X-Altcha` is missing, invalid, expired or already used (one solution per passkey sign-up); CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
        (status = 404, body = ErrorBody, description = "PASSKEYS_DISABLED"),
        (status = 409, body = ErrorBody, description = "EMAIL_EXISTS: the address has an account (sign in, or add a passkey to it)"),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR, with every failing field in `details`"),
        (status = 429, body = ErrorBody, description = "RATE_LIMITED; see Retry-After"),
    ))]
pub async fn sign_up_options(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    _bot: BotChecked,
    jar: CookieJar,
    NativeJson(body): NativeJson<Value>,
) -> Result<Response, ApiError> {
    let mut f = Fields::of(&body)?;
    let email = f.required("email", "Email").and_then(|raw| match EmailAddress::parse(raw) {
        Ok(email) => Some(email),
        Err(e) => {
            f.error("email", e.to_string());
            None
        }
    });
    let mixed = ctx.project.settings.names.refuse_mixed_script;
    let name = match f.optional("name", "Name") {
        Some(raw) => bounded_text(&mut f, "name", "Name", raw, mixed).map(Some),
        None => Some(None),
    };
    let (email, name) = f.finish(email.zip(name))?;
    let started = flow::start_sign_up(&state.services, &ctx, PasskeySignup { email, name, client })
        .await
        .map_err(passkey_error)?;
    Ok(options_response(&Binding::new(&state, &ctx, prefix), jar, started))
}

/// Finish a passkey-only sign-up with the authenticator's answer: the account has no
/// password, and a verification code is mailed to the address.
#[utoipa::path(post, path = "/api/auth/passkey/sign-up", operation_id = "nativePasskeySignUp", tag = "auth",
    request_body = RegistrationResponseJson,
    responses(
        (status = 201, body = SignUpResponse, description = "Account created and signed in (`amr: [\"hwk\", \"user\"]`); refresh token in the `doorway_refresh` cookie"),
        (status = 400, body = ErrorBody, description = "INVALID_JSON; PASSKEY_CEREMONY_EXPIRED (no ceremony of this browser waiting: expired, used, or never started); PASSKEY_REJECTED (origin, rp id, challenge or signature did not verify)"),
        (status = 403, body = ErrorBody, description = "SIGNUP_DENIED by the pre-sign-up hook; CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
        (status = 404, body = ErrorBody, description = "PASSKEYS_DISABLED"),
        (status = 409, body = ErrorBody, description = "EMAIL_EXISTS (the address got an account meanwhile); PASSKEY_EXISTS"),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR: the body is not a RegistrationResponseJSON"),
        (status = 429, body = ErrorBody, description = "RATE_LIMITED (verification mail budget); see Retry-After"),
        (status = 503, body = ErrorBody, description = "The pre-sign-up hook is unavailable; see Retry-After"),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
    NativeJson(body): NativeJson<Value>,
) -> Result<Response, ApiError> {
    let binding = Binding::new(&state, &ctx, prefix.clone());
    let response = credential(body, "RegistrationResponseJSON")?;
    let outcome = flow::finish_sign_up(&state.services, &ctx, &binding.presented(&headers), &response, client)
        .await
        .map_err(|e| {
            if let PasskeyError::Signup(e) = &e {
                record_signup("native", "passkey", signup_outcome(e));
            }
            passkey_error(e)
        })?;
    record_signup("native", "passkey", "created");
    tracing::info!(project = %ctx.project.slug, user = %outcome.user.id, "native passkey sign-up");
    let jar =
        SessionCookies::new(&state, &ctx, prefix).issue(binding.clear(jar), &outcome.access, &outcome.refresh_secret);
    let body = SignUpResponse {
        success: true,
        data: SignUpData { user: (&outcome.user).into(), session: (&outcome.access).into(), organization: None },
        message: "Account created successfully",
    };
    Ok((StatusCode::CREATED, jar, Json(body)).into_response())
}

/// Start a sign-in with a passkey (a discoverable credential: no address is asked for).
#[utoipa::path(post, path = "/api/auth/passkey/sign-in/options", operation_id = "nativePasskeySignInOptions", tag = "auth",
    request_body(content = Option<EmptyRequest>, description = "Nothing, or `{}`"),
    responses(
        (status = 200, body = PasskeyRequestOptionsResponse, description = "Options for `navigator.credentials.get()`; the HttpOnly `doorway_passkey` cookie binds the ceremony (5 minutes) to this browser"),
        (status = 403, body = ErrorBody, description = "CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
        (status = 404, body = ErrorBody, description = "PASSKEYS_DISABLED"),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE"),
        (status = 415, body = ErrorBody, description = "Cookies sent with a non-JSON body and no Origin or Sec-Fetch-Site"),
        (status = 429, body = ErrorBody, description = "RATE_LIMITED; see Retry-After"),
    ))]
pub async fn sign_in_options(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    // The body, if any, is not read: the options depend on nothing the client says.
    let started = flow::start_sign_in(&state.services, &ctx, &client).await.map_err(passkey_error)?;
    Ok(options_response(&Binding::new(&state, &ctx, prefix), jar, started))
}

/// Sign in with the authenticator's answer.
#[utoipa::path(post, path = "/api/auth/passkey/sign-in", operation_id = "nativePasskeySignIn", tag = "auth",
    request_body = AuthenticationResponseJson,
    responses(
        (status = 200, body = SignInResponse, description = "Signed in (`amr: [\"hwk\", \"user\"]`); refresh token in the `doorway_refresh` cookie"),
        (status = 400, body = ErrorBody, description = "INVALID_JSON; PASSKEY_CEREMONY_EXPIRED (no ceremony of this browser waiting: expired, used, or never started)"),
        (status = 401, body = ErrorBody, description = "PASSKEY_REJECTED: unknown credential, or the assertion did not verify (origin, challenge, signature, a sign counter that went back); one answer for all"),
        (status = 403, body = ErrorBody, description = "CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
        (status = 404, body = ErrorBody, description = "PASSKEYS_DISABLED"),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR: the body is not an AuthenticationResponseJSON"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
    NativeJson(body): NativeJson<Value>,
) -> Result<Response, ApiError> {
    let binding = Binding::new(&state, &ctx, prefix.clone());
    let response = credential(body, "AuthenticationResponseJSON")?;
    let outcome = flow::finish_sign_in(&state.services, &ctx, &binding.presented(&headers), &response, &client)
        .await
        .map_err(sign_in_error)?;
    Ok(signed_in_response(&state, &ctx, prefix, binding.clear(jar), &outcome))
}

/// Start adding a passkey to the signed-in user's account.
#[utoipa::path(post, path = "/api/auth/passkeys/options", operation_id = "nativeAddPasskeyOptions", tag = "auth",
    security(("bearer" = [])),
    request_body(content = Option<AddPasskeyOptionsRequest>, description = "Optionally, the new passkey's name"),
    responses(
        (status = 200, body = PasskeyCreationOptionsResponse, description = "Options for `navigator.credentials.create()`, excluding the user's passkeys; the HttpOnly `doorway_passkey` cookie binds the ceremony (5 minutes) to this browser"),
        (status = 400, body = ErrorBody, description = "INVALID_JSON"),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: no valid session"),
        (status = 403, body = ErrorBody, description = "CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
        (status = 404, body = ErrorBody, description = "PASSKEYS_DISABLED"),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE"),
        (status = 415, body = ErrorBody, description = "Cookies sent with a non-JSON body and no Origin or Sec-Fetch-Site"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR"),
    ))]
pub async fn add_options(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    headers: HeaderMap,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body = object_or_empty(&body)?;
    let mut f = Fields::of(&body)?;
    let name = passkey_name(&mut f);
    let name = f.finish(name)?;
    let token = signed_in(&state, &ctx, &headers)?;
    let started = flow::start_add(&state.services, &ctx, token, name).await.map_err(passkey_error)?;
    Ok(options_response(&Binding::new(&state, &ctx, prefix), jar, started))
}

/// Add a passkey to the signed-in user's account with the authenticator's answer.
#[utoipa::path(post, path = "/api/auth/passkeys", operation_id = "nativeAddPasskey", tag = "auth",
    security(("bearer" = [])),
    request_body = RegistrationResponseJson,
    responses(
        (status = 201, body = PasskeyResponse, description = "Passkey added"),
        (status = 400, body = ErrorBody, description = "INVALID_JSON; PASSKEY_CEREMONY_EXPIRED (none of this browser and user waiting); PASSKEY_REJECTED"),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: no valid session"),
        (status = 403, body = ErrorBody, description = "CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
        (status = 404, body = ErrorBody, description = "PASSKEYS_DISABLED"),
        (status = 409, body = ErrorBody, description = "PASSKEY_EXISTS"),
        (status = 413, body = ErrorBody, description = "PAYLOAD_TOO_LARGE"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR: the body is not a RegistrationResponseJSON"),
    ))]
pub async fn add(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
    NativeJson(body): NativeJson<Value>,
) -> Result<Response, ApiError> {
    let binding = Binding::new(&state, &ctx, prefix);
    let response = credential(body, "RegistrationResponseJSON")?;
    let token = signed_in(&state, &ctx, &headers)?;
    let added = flow::finish_add(&state.services, &ctx, token, &binding.presented(&headers), &response, &client)
        .await
        .map_err(passkey_error)?;
    let body = PasskeyResponse { success: true, data: (&added).into() };
    Ok((StatusCode::CREATED, binding.clear(jar), Json(body)).into_response())
}

/// The signed-in user's passkeys, oldest first.
#[utoipa::path(get, path = "/api/auth/passkeys", operation_id = "nativeListPasskeys", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, body = PasskeysResponse),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: no valid session"),
        (status = 404, body = ErrorBody, description = "PASSKEYS_DISABLED"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    headers: HeaderMap,
) -> Result<Json<PasskeysResponse>, ApiError> {
    let token = signed_in(&state, &ctx, &headers)?;
    let passkeys = flow::list(&state.services, &ctx, token).await.map_err(passkey_error)?;
    Ok(Json(PasskeysResponse {
        success: true,
        data: PasskeysData { passkeys: passkeys.iter().map(Into::into).collect() },
    }))
}

/// Remove one of the signed-in user's passkeys.
#[utoipa::path(delete, path = "/api/auth/passkeys/{id}", operation_id = "nativeRemovePasskey", tag = "auth",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The passkey's id (`pk_…`)")),
    responses(
        (status = 200, body = MessageResponse, description = "Passkey removed"),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: no valid session"),
        (status = 403, body = ErrorBody, description = "CROSS_SITE_REQUEST: cookies sent from a foreign origin"),
        (status = 404, body = ErrorBody, description = "PASSKEY_NOT_FOUND (no passkey of this user has that id); PASSKEYS_DISABLED"),
    ))]
pub async fn remove(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<MessageResponse>, ApiError> {
    let token = signed_in(&state, &ctx, &headers)?;
    flow::remove(&state.services, &ctx, token, &id, &client).await.map_err(passkey_error)?;
    Ok(Json(MessageResponse { success: true, message: "Passkey removed" }))
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyView {
    /// `pk_…`
    id: String,
    name: String,
    /// RFC 3339, UTC.
    created_at: String,
    /// RFC 3339, UTC; null until it is first used to sign in.
    last_used_at: Option<String>,
}

impl From<&StoredPasskey> for PasskeyView {
    fn from(p: &StoredPasskey) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            created_at: p.created_at.to_rfc3339(),
            last_used_at: p.last_used_at.map(|t| t.to_rfc3339()),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PasskeyResponse {
    success: bool,
    data: PasskeyView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PasskeysData {
    passkeys: Vec<PasskeyView>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PasskeysResponse {
    success: bool,
    data: PasskeysData,
}

pub use super::passkey_docs::*;
