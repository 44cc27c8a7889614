//! Seed 003 (Rivergen): `POST /api/v1/auth/oauth/signup {provider, code, agree_to_terms?,
//! terms_version?}`. The client obtained `code` itself with the provider's configured
//! `redirect_uri`; Doorway exchanges it, creates the user with a personal organization, default
//! workspace and roles, an SSO session and tokens (MFA bypassed), and answers 201.
//!
//! So a client keeps the session it got at sign-up: `POST /api/v1/auth/token/refresh
//! {refresh_token}` (the refresh token rotates) and `POST /api/v1/auth/logout` (Bearer access
//! token, or `{refresh_token}`), in the same envelope.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use doorway_core::flows::oauth_signup::{self, AccountOptions, OAuthError};
use doorway_core::flows::session::{self as session_flow, SessionError, SessionProof};
use doorway_core::session::RefreshSecret;
use serde::Serialize;
use serde_json::Value;

use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ContractAdapter;
use crate::client_info::Client;
use crate::contracts::common::body::{BodyRejection, is_json_media};
use crate::contracts::common::oauth::client_message;
use crate::contracts::common::{Fields, NativeJson, presented_access_token};
use crate::contracts::native::handlers::session_error;
use crate::contracts::native::oauth::oauth_error;
use crate::contracts::native::views::MessageResponse;
use crate::errors::{ApiError, ErrorBody, FieldError};
use crate::project_scope::CurrentProject;
use crate::state::AppState;
use crate::telemetry::{oauth_signup_outcome, record_signup};

/// Seed 003; its errors use the native envelope.
pub struct Rivergen;

impl ContractAdapter for Rivergen {
    fn name(&self) -> &'static str {
        "rivergen"
    }

    fn tag(&self) -> (&'static str, &'static str) {
        ("rivergen", "Rivergen-compatible social sign-up (seed 003)")
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new().routes(routes!(sign_up)).routes(routes!(refresh)).routes(routes!(logout))
    }

    fn owns(&self, path: &str) -> bool {
        path.starts_with("/api/v1/auth/")
    }

    fn refuse(&self, status: StatusCode, code: &'static str, message: String) -> Response {
        super::native_refusal(status, code, message)
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SocialSignupData {
    access_token: String,
    refresh_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    expires_in: u32,
    /// The user's integer id.
    user_id: i64,
    email: String,
    display_name: String,
    is_new_user: bool,
    provider: String,
    message: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SocialSignupResponse {
    success: bool,
    data: SocialSignupData,
    message: String,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = SocialSignupRequest)]
pub struct SocialSignupDoc {
    /// `github`, `google`, `apple`, `microsoft` (or any configured provider).
    provider: String,
    /// Authorization code from the provider.
    code: String,
    /// Default true; false is refused.
    agree_to_terms: Option<bool>,
    /// Default "1.0".
    terms_version: Option<String>,
}

fn failed(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "SOCIAL_SIGNUP_FAILED", message)
}

/// Social sign-up with a provider authorization code (Rivergen).
#[utoipa::path(post, path = "/api/v1/auth/oauth/signup", operation_id = "rivergenOAuthSignup", tag = "rivergen", request_body = SocialSignupDoc,
    responses(
        (status = 201, body = SocialSignupResponse),
        (status = 400, body = ErrorBody, description = "SOCIAL_SIGNUP_FAILED: bad or used code, provider error, unlinkable account"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR: missing fields, unknown provider, terms not accepted"),
        (status = 429, body = ErrorBody, description = "RATE_LIMITED"),
    ))]
pub async fn sign_up(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    NativeJson(body): NativeJson<Value>,
) -> Result<(StatusCode, Json<SocialSignupResponse>), ApiError> {
    let mut f = Fields::of(&body)?;
    let provider = f.required("provider", "Provider");
    let code = f.required("code", "Code").filter(|c| !c.is_empty());
    let agree = match body.get("agree_to_terms") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            f.error("agree_to_terms", "agree_to_terms must be a boolean");
            true
        }
    };
    if !agree {
        f.error("agree_to_terms", "The terms must be accepted to sign up");
    }
    let terms_version = f.optional("terms_version", "Terms version").unwrap_or("1.0").to_owned();
    let (provider, code) =
        f.finish(provider.zip(code)).inspect_err(|_| record_signup("rivergen", "oauth", "invalid"))?;

    let options =
        AccountOptions { personal_organization: true, terms_version: Some(terms_version), custom_fields: None };
    let outcome = oauth_signup::sign_up_with_code(
        &state.services,
        state.identity_providers.as_ref(),
        &ctx,
        provider,
        code,
        options,
        &client,
    )
    .await
    .map_err(|e| {
        record_signup("rivergen", "oauth", oauth_signup_outcome(&e));
        match e {
            e @ (OAuthError::UnknownProvider(_) | OAuthError::RateLimited(_) | OAuthError::Unexpected(_)) => {
                oauth_error(e)
            }
            OAuthError::NoRedirectUri => ApiError::validation(vec![FieldError::new(
                "provider",
                "This provider has no redirect_uri configured for client-side codes",
            )]),
            OAuthError::Denied(message) => failed(message),
            e @ (OAuthError::CallbackNotAllowed
            | OAuthError::InvalidState
            | OAuthError::CodeRejected(_)
            | OAuthError::ProviderFailed(_)
            | OAuthError::NoEmail
            | OAuthError::AccountExists
            | OAuthError::HookUnavailable) => failed(format!("Social sign-up failed: {}", client_message(&e))),
        }
    })?;
    if outcome.is_new_user {
        record_signup("rivergen", "oauth", "created");
    }
    let message = format!("{} signup successful", outcome.provider.display_name);
    let user = &outcome.user;
    // A provider sign-up always brings an address; the seed's `email` is a string regardless.
    let email = user.email.as_ref().map(ToString::to_string).unwrap_or_default();
    let display_name = user.name.clone().unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let data = SocialSignupData {
        access_token: outcome.access.token.clone(),
        refresh_token: outcome.refresh_secret.expose().to_owned(),
        token_type: "bearer",
        expires_in: ctx.project.settings.access_token_ttl_secs,
        user_id: user.seq,
        email,
        display_name,
        is_new_user: outcome.is_new_user,
        provider: outcome.provider.id.clone(),
        message: message.clone(),
    };
    Ok((StatusCode::CREATED, Json(SocialSignupResponse { success: true, data, message })))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenRefreshData {
    access_token: String,
    /// The new refresh token: the one sent is used up.
    refresh_token: String,
    /// Always `bearer`.
    token_type: &'static str,
    expires_in: u32,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenRefreshResponse {
    success: bool,
    data: TokenRefreshData,
    message: &'static str,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = TokenRefreshRequest)]
pub struct TokenRefreshDoc {
    /// The refresh token from sign-up or the last refresh.
    #[schema(min_length = 1)]
    refresh_token: String,
}

/// Exchange the refresh token for new tokens (Rivergen); the refresh token rotates, and using
/// one twice ends the session.
#[utoipa::path(post, path = "/api/v1/auth/token/refresh", operation_id = "rivergenTokenRefresh", tag = "rivergen",
    request_body = TokenRefreshDoc,
    responses(
        (status = 200, body = TokenRefreshResponse),
        (status = 401, body = ErrorBody, description = "INVALID_REFRESH_TOKEN, or REFRESH_TOKEN_REUSED (the session is then revoked)"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR: no refresh_token"),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    NativeJson(body): NativeJson<Value>,
) -> Result<Json<TokenRefreshResponse>, ApiError> {
    let mut f = Fields::of(&body)?;
    let token = f.required("refresh_token", "Refresh token").filter(|t| !t.is_empty());
    let token = f.finish(token)?;
    let refreshed = session_flow::refresh(&state.services, &ctx, &RefreshSecret::from_client(token), &client)
        .await
        .map_err(session_error)?;
    let data = TokenRefreshData {
        access_token: refreshed.access.token,
        refresh_token: refreshed.refresh_secret.expose().to_owned(),
        token_type: "bearer",
        expires_in: ctx.project.settings.access_token_ttl_secs,
    };
    Ok(Json(TokenRefreshResponse { success: true, data, message: "Token refreshed" }))
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = LogoutRequest)]
pub struct LogoutDoc {
    /// For a client that no longer holds a valid access token.
    refresh_token: Option<String>,
}

/// End the session (Rivergen): by `Authorization: Bearer <access_token>`, else by the body's
/// `refresh_token`.
#[utoipa::path(post, path = "/api/v1/auth/logout", operation_id = "rivergenLogout", tag = "rivergen",
    request_body(content = Option<LogoutDoc>, description = "Optional: `{refresh_token}` instead of the Bearer token"),
    security((), ("bearer" = [])),
    responses(
        (status = 200, body = MessageResponse, description = "Session revoked: its access and refresh tokens stop working"),
        (status = 401, body = ErrorBody, description = "UNAUTHORIZED: no valid session presented"),
        (status = 415, body = ErrorBody, description = "UNSUPPORTED_MEDIA_TYPE: a body not sent as JSON"),
        (status = 422, body = ErrorBody, description = "VALIDATION_ERROR: a body that is not `{refresh_token?}`"),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<MessageResponse>, ApiError> {
    let body: Value = if body.is_empty() {
        Value::Object(Default::default())
    } else if !headers.get(axum::http::header::CONTENT_TYPE).is_some_and(is_json_media) {
        let refused = BodyRejection::NotJson;
        return Err(ApiError::new(refused.status(), "UNSUPPORTED_MEDIA_TYPE", refused.message()));
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| ApiError::validation(vec![FieldError::new("body", "The body must be JSON")]))?
    };
    let mut f = Fields::of(&body)?;
    let refresh_token = f.optional("refresh_token", "Refresh token").filter(|t| !t.is_empty());
    let refresh_token = f.finish(Some(refresh_token.map(RefreshSecret::from_client)))?;
    let proof = match (presented_access_token(&state, &ctx, &headers), &refresh_token) {
        (Some(token), _) => SessionProof::AccessToken(token),
        (None, Some(secret)) => SessionProof::RefreshToken(secret),
        (None, None) => return Err(session_error(SessionError::Unauthenticated)),
    };
    session_flow::sign_out(&state.services, &ctx, proof, &client).await.map_err(session_error)?;
    Ok(Json(MessageResponse { success: true, message: "Logged out" }))
}
