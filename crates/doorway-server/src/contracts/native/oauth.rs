//! The native API's OAuth registration (seed 002): `POST /api/auth/sign-up {provider,
//! callbackUrl}` answers the provider's authorization URL; the provider sends the browser back
//! to `/api/auth/oauth/{provider}/callback`, which signs the user in and redirects to
//! `callbackUrl`.

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::ProjectContext;
use doorway_core::events::ClientInfo;
use doorway_core::flows::oauth_signup::{self, OAuthError, RoundTrip};
use serde::Serialize;
use serde_json::Value;

use crate::contracts::common::oauth::client_message;
use crate::contracts::common::{CallbackQuery, Fields, SessionCookies};
use crate::cookies::{CookiePolicy, redirect, with_query};
use crate::errors::{ApiError, FieldError};
use crate::oauth_binding;
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;
use crate::telemetry::{oauth_signup_outcome, record_signup};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationData {
    /// Send the browser here.
    authorization_url: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuthorizationResponse {
    success: bool,
    data: AuthorizationData,
}

pub fn oauth_error(e: OAuthError) -> ApiError {
    match e {
        OAuthError::UnknownProvider(p) => {
            ApiError::validation(vec![FieldError::new("provider", format!("Unknown or unconfigured provider '{p}'"))])
        }
        OAuthError::CallbackNotAllowed => ApiError::validation(vec![FieldError::new(
            "callbackUrl",
            "callbackUrl must be a relative path or on the project's redirect_allowlist",
        )]),
        OAuthError::RateLimited(r) => ApiError::rate_limited(r),
        OAuthError::InvalidState => ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_STATE",
            "The sign-in attempt is unknown, expired or was already used; start again",
        ),
        OAuthError::Denied(message) => ApiError::new(StatusCode::FORBIDDEN, "SIGNUP_DENIED", message),
        OAuthError::HookUnavailable => ApiError::unavailable("Sign-up validation is unavailable; retry shortly", 5),
        OAuthError::Unexpected(cause) => ApiError::internal(&cause),
        e @ (OAuthError::NoRedirectUri
        | OAuthError::CodeRejected(_)
        | OAuthError::ProviderFailed(_)
        | OAuthError::NoEmail
        | OAuthError::AccountExists) => ApiError::new(StatusCode::BAD_REQUEST, "OAUTH_FAILED", client_message(&e)),
    }
}

/// The OAuth form of `POST /api/auth/sign-up`; the answer also binds the flow to this browser
/// (see `oauth_binding`).
pub async fn start(
    state: &AppState,
    ctx: &ProjectContext,
    body: &Value,
    client: &ClientInfo,
) -> Result<Response, ApiError> {
    let mut f = Fields::of(body)?;
    let provider = f.required("provider", "Provider");
    let callback = f.optional("callbackUrl", "Callback URL").unwrap_or("/");
    let provider = f.finish(provider)?;
    let canonical = doorway_core::oauth::canonical_provider_id(provider);
    let redirect_uri = format!("{}/api/auth/oauth/{canonical}/callback", ctx.issuer);
    let started = oauth_signup::start(
        &state.services,
        state.identity_providers.as_ref(),
        ctx,
        RoundTrip {
            provider_id: provider,
            callback_url: callback,
            redirect_uri: redirect_uri.clone(),
            purpose: "native",
        },
        client,
    )
    .await
    .map_err(oauth_error)?;
    let binding = oauth_binding::bind(CookiePolicy::for_public_url(&state.public_url), started.state, &redirect_uri);
    let body = AuthorizationResponse {
        success: true,
        data: AuthorizationData { authorization_url: started.authorization_url },
    };
    Ok((CookieJar::new().add(binding), Json(body)).into_response())
}

/// Where the provider sends the browser back: checks that this browser started the flow and
/// the state (single use), exchanges the code, sets the session cookies and redirects to
/// `callbackUrl`.
#[utoipa::path(get, path = "/api/auth/oauth/{provider}/callback", operation_id = "nativeOAuthCallback", tag = "auth",
    params(("provider" = String, Path), CallbackQuery),
    responses(
        (status = 302, description = "To `callbackUrl` (session cookies set), or `callbackUrl?error=…` when the provider failed or refused"),
        (status = 400, body = crate::errors::ErrorBody, description = "INVALID_STATE: forged, replayed or expired state, or a browser that did not start this flow (no matching state cookie); nothing is created"),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    crate::client_info::Client(client): crate::client_info::Client,
    Path(provider): Path<String>,
    Query(q): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(raw_state) = q.state.as_deref().filter(|s| !s.is_empty()) else {
        return Err(oauth_error(OAuthError::InvalidState));
    };
    // Checked before the state is used up: a refused stranger costs the real browser nothing.
    if !oauth_binding::is_bound(&headers, raw_state) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_STATE",
            "This sign-in was not started in this browser; start again",
        ));
    }
    let taken = oauth_signup::take_state(&state.services, &ctx, &provider, raw_state).await.map_err(oauth_error)?;
    if taken.purpose != "native" {
        return Err(oauth_error(OAuthError::InvalidState));
    }
    let jar = CookieJar::from_headers(&headers)
        .add(oauth_binding::release(CookiePolicy::for_public_url(&state.public_url), &taken.redirect_uri));
    let code = match (q.error.as_deref(), q.code.as_deref()) {
        (None, Some(code)) if !code.is_empty() => code,
        (error, _) => {
            let reason = if error == Some("access_denied") { "access_denied" } else { "oauth_failed" };
            return Ok(redirect(jar, &with_query(&taken.callback_url, "error", reason)));
        }
    };
    let finished =
        oauth_signup::finish(&state.services, state.identity_providers.as_ref(), &ctx, &taken, code, &client).await;
    match &finished {
        Ok(outcome) if outcome.is_new_user => record_signup("native", "oauth", "created"),
        Ok(_) => {}
        Err(e) => record_signup("native", "oauth", oauth_signup_outcome(e)),
    }
    match finished {
        Ok(outcome) => {
            let jar = SessionCookies::new(&state, &ctx, prefix).issue(jar, &outcome.access, &outcome.refresh_secret);
            Ok(redirect(jar, &taken.callback_url))
        }
        Err(OAuthError::AccountExists) => {
            Ok(redirect(jar, &with_query(&taken.callback_url, "error", "account_exists")))
        }
        Err(OAuthError::Denied(_)) => Ok(redirect(jar, &with_query(&taken.callback_url, "error", "signup_denied"))),
        Err(OAuthError::Unexpected(cause)) => Err(ApiError::internal(&cause)),
        Err(
            e @ (OAuthError::UnknownProvider(_)
            | OAuthError::CallbackNotAllowed
            | OAuthError::NoRedirectUri
            | OAuthError::InvalidState
            | OAuthError::RateLimited(_)
            | OAuthError::CodeRejected(_)
            | OAuthError::ProviderFailed(_)
            | OAuthError::NoEmail
            | OAuthError::HookUnavailable),
        ) => {
            tracing::warn!(reason = client_message(&e), provider, "OAuth sign-in failed");
            Ok(redirect(jar, &with_query(&taken.callback_url, "error", "oauth_failed")))
        }
    }
}
