//! Seed 000: external sign-up with extra fields, and external sign-in.
//!
//! `GET /auth/external/challenge/{provider}?callbackUrl=` sends the browser to the provider;
//! `GET /auth/external/callback/{provider}` records what the provider vouched for and sets an
//! encrypted, single-use, 10-minute cookie: `Aufy.ExternalSignIn` (302 to `callbackUrl`) or
//! `Aufy.ExternalSignUp` (302 to `callbackUrl?signup=true`); `?failed=true` when the provider
//! failed. `POST /auth/signin/external` and `POST /auth/signup/external` (body: the project's
//! model) exchange the cookie for `{access_token, expires_in, token_type}` and the
//! `Aufy.RefreshToken` cookie (`Aufy.AccessToken` too with `?usecookie=true`). All four are
//! also served under `{auth}` (see `paths`).
//!
//! API clients without cookies add `response=token` to the challenge: the callback then puts
//! the pending token in the redirect's fragment (`#pending_token=…`), and the client sends it
//! back in the `X-Pending-External` header.

use std::collections::BTreeMap;

use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum_extra::extract::CookieJar;
use cookie::Key;
use doorway_core::ProjectContext;
use doorway_core::external_signup::SignUpModel;
use doorway_core::flows::external_signup::{self, NextStep};
use doorway_core::flows::oauth_signup::{self, OAuthError, RoundTrip};
use serde::Deserialize;
use serde_json::json;

use super::{SIGN_IN_COOKIE, SIGN_UP_COOKIE, TokenResponse, UseCookieQuery, cookie_path, cookie_tokens, prefix_of};
use crate::client_info::Client;
use crate::contracts::common::BotChecked;
use crate::contracts::common::bot_check::BotCheckHeader;
use crate::contracts::common::oauth::client_message;
use crate::contracts::common::{CallbackQuery, Problem, ProblemJson};
use crate::cookies::{CookiePolicy, redirect, with_query};
use crate::oauth_binding;
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;
use crate::telemetry::{oauth_signup_outcome, record_signup};

pub(crate) const PENDING_HEADER: &str = "x-pending-external";
const PENDING_TTL_SECS: i64 = 600;

/// The project's cookie key, derived from its newest signing key.
fn cookie_key(ctx: &ProjectContext) -> Option<Key> {
    ctx.keys.first().map(|k| Key::derive_from(k.secret_bytes()))
}

fn seal(ctx: &ProjectContext, name: &'static str, value: &str) -> Option<String> {
    let mut jar = cookie::CookieJar::new();
    jar.private_mut(&cookie_key(ctx)?).add(cookie::Cookie::new(name, value.to_owned()));
    jar.get(name).map(|c| c.value().to_owned())
}

/// Tries every published key, so a cookie sealed just before a key rotation still opens.
fn open(ctx: &ProjectContext, name: &'static str, sealed: &str) -> Option<String> {
    let mut jar = cookie::CookieJar::new();
    jar.add_original(cookie::Cookie::new(name, sealed.to_owned()));
    ctx.keys
        .iter()
        .find_map(|k| jar.private(&Key::derive_from(k.secret_bytes())).get(name).map(|c| c.value().to_owned()))
}

/// The pending id from the cookie, or from the header for clients without cookies.
pub(super) fn pending_id(
    ctx: &ProjectContext,
    name: &'static str,
    jar: &CookieJar,
    headers: &HeaderMap,
) -> Option<String> {
    let sealed = jar
        .get(name)
        .map(|c| c.value().to_owned())
        .or_else(|| headers.get(PENDING_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned))?;
    open(ctx, name, &sealed)
}

fn unauthorized() -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "No valid external sign-in in progress; start again with the provider")
}

fn not_found(detail: &str) -> Problem {
    Problem::new(StatusCode::NOT_FOUND, detail)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChallengeQuery {
    /// Where to send the browser back: a relative path or an allow-listed URL.
    #[serde(rename = "callbackUrl")]
    #[param(rename = "callbackUrl")]
    callback_url: String,
    /// `token` for API clients: the pending token comes back in the redirect's fragment.
    response: Option<String>,
}

/// Send the browser to the provider (state, nonce and PKCE kept server-side).
#[utoipa::path(get, path = "/auth/external/challenge/{provider}", operation_id = "aufyExternalChallenge", tag = "aufy", params(("provider" = String, Path), ChallengeQuery),
    responses(
        (status = 302, description = "To the provider"),
        (status = 400, description = "callbackUrl not allowed (problem+json); no redirect"),
        (status = 404, description = "Unknown or unconfigured provider (problem+json)"),
        (status = 429, description = "Rate limited (problem+json)"),
    ))]
pub async fn challenge(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    Path(provider): Path<String>,
    Query(q): Query<ChallengeQuery>,
) -> Result<Response, Problem> {
    let canonical = doorway_core::oauth::canonical_provider_id(&provider).to_owned();
    let redirect_uri = format!("{}/auth/external/callback/{canonical}", ctx.issuer);
    let purpose = if q.response.as_deref() == Some("token") { "aufy-token" } else { "aufy" };
    let started = oauth_signup::start(
        &state.services,
        state.identity_providers.as_ref(),
        &ctx,
        RoundTrip {
            provider_id: &provider,
            callback_url: &q.callback_url,
            redirect_uri: redirect_uri.clone(),
            purpose,
        },
        &client,
    )
    .await
    .map_err(|e| match e {
        OAuthError::UnknownProvider(p) => not_found(&format!("Unknown or unconfigured provider '{p}'")),
        OAuthError::CallbackNotAllowed => Problem::new(
            StatusCode::BAD_REQUEST,
            "callbackUrl must be a relative path or on the project's redirect_allowlist",
        ),
        OAuthError::RateLimited(r) => Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts")
            .with_retry(r.retry_after_secs, Some(r.limit)),
        OAuthError::Unexpected(cause) => Problem::internal(&cause),
        e @ (OAuthError::NoRedirectUri
        | OAuthError::InvalidState
        | OAuthError::CodeRejected(_)
        | OAuthError::ProviderFailed(_)
        | OAuthError::NoEmail
        | OAuthError::AccountExists
        | OAuthError::Denied(_)
        | OAuthError::HookUnavailable) => Problem::new(StatusCode::BAD_GATEWAY, client_message(&e)),
    })?;
    let binding = oauth_binding::bind(CookiePolicy::for_public_url(&state.public_url), started.state, &redirect_uri);
    Ok(redirect(CookieJar::new().add(binding), &started.authorization_url))
}

/// The provider's redirect back: records the next step and redirects to `callbackUrl`.
#[utoipa::path(get, path = "/auth/external/callback/{provider}", operation_id = "aufyExternalCallback", tag = "aufy", params(("provider" = String, Path), CallbackQuery),
    responses(
        (status = 302, description = "`callbackUrl` with the sign-in cookie; `callbackUrl?signup=true` with the sign-up cookie; `callbackUrl?failed=true` when the provider failed"),
        (status = 400, description = "Forged, replayed or expired state, or a browser that did not start this flow (no matching state cookie) (problem+json)"),
    ))]
#[allow(clippy::too_many_arguments, reason = "an axum handler takes one argument per extractor")]
pub async fn callback(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Path(provider): Path<String>,
    Query(q): Query<CallbackQuery>,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, Problem> {
    let invalid =
        || Problem::new(StatusCode::BAD_REQUEST, "The sign-in attempt is unknown, expired or was already used");
    let raw_state = q.state.as_deref().filter(|s| !s.is_empty()).ok_or_else(invalid)?;
    // Checked before the state is used up: a refused stranger costs the real browser nothing.
    if !oauth_binding::is_bound(&headers, raw_state) {
        return Err(Problem::new(StatusCode::BAD_REQUEST, "This sign-in was not started in this browser; start again"));
    }
    let taken = oauth_signup::take_state(&state.services, &ctx, &provider, raw_state).await.map_err(|e| match e {
        OAuthError::Unexpected(cause) => Problem::internal(&cause),
        OAuthError::UnknownProvider(_)
        | OAuthError::CallbackNotAllowed
        | OAuthError::NoRedirectUri
        | OAuthError::InvalidState
        | OAuthError::RateLimited(_)
        | OAuthError::CodeRejected(_)
        | OAuthError::ProviderFailed(_)
        | OAuthError::NoEmail
        | OAuthError::AccountExists
        | OAuthError::Denied(_)
        | OAuthError::HookUnavailable => invalid(),
    })?;
    let jar = jar.add(oauth_binding::release(CookiePolicy::for_public_url(&state.public_url), &taken.redirect_uri));
    let token_mode = match taken.purpose.as_str() {
        "aufy" => false,
        "aufy-token" => true,
        _ => return Err(invalid()),
    };
    let code = match (q.error.as_deref(), q.code.as_deref()) {
        (None, Some(code)) if !code.is_empty() => code,
        _ => return Ok(redirect(jar, &with_query(&taken.callback_url, "failed", "true"))),
    };
    let (pending, step) = match external_signup::after_callback(
        &state.services,
        state.identity_providers.as_ref(),
        &ctx,
        &taken,
        code,
        &client,
    )
    .await
    {
        Ok(found) => found,
        Err(OAuthError::Unexpected(cause)) => return Err(Problem::internal(&cause)),
        Err(
            e @ (OAuthError::UnknownProvider(_)
            | OAuthError::CallbackNotAllowed
            | OAuthError::NoRedirectUri
            | OAuthError::InvalidState
            | OAuthError::RateLimited(_)
            | OAuthError::CodeRejected(_)
            | OAuthError::ProviderFailed(_)
            | OAuthError::NoEmail
            | OAuthError::AccountExists
            | OAuthError::Denied(_)
            | OAuthError::HookUnavailable),
        ) => {
            tracing::warn!(reason = client_message(&e), provider, "external sign-in failed");
            return Ok(redirect(jar, &with_query(&taken.callback_url, "failed", "true")));
        }
    };
    let (name, target) = match step {
        NextStep::SignIn => (SIGN_IN_COOKIE, taken.callback_url.clone()),
        NextStep::SignUp => (SIGN_UP_COOKIE, with_query(&taken.callback_url, "signup", "true")),
    };
    let sealed = seal(&ctx, name, &pending).ok_or_else(|| Problem::internal(&"the project has no key"))?;
    if token_mode {
        return Ok(redirect(jar, &format!("{target}#pending_token={sealed}")));
    }
    let cookie = CookiePolicy::for_public_url(&state.public_url).set(
        name,
        sealed,
        cookie_path(&prefix_of(prefix)),
        PENDING_TTL_SECS,
    );
    Ok(redirect(jar.add(cookie), &target))
}

fn completion_problem(e: OAuthError) -> Problem {
    match e {
        OAuthError::AccountExists => Problem::new(StatusCode::CONFLICT, client_message(&e)),
        OAuthError::Denied(message) => Problem::new(StatusCode::FORBIDDEN, message),
        OAuthError::HookUnavailable => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, client_message(&e)).with_retry(5, None)
        }
        OAuthError::Unexpected(cause) => Problem::internal(&cause),
        e @ (OAuthError::UnknownProvider(_)
        | OAuthError::CallbackNotAllowed
        | OAuthError::NoRedirectUri
        | OAuthError::InvalidState
        | OAuthError::RateLimited(_)
        | OAuthError::CodeRejected(_)
        | OAuthError::ProviderFailed(_)
        | OAuthError::NoEmail) => Problem::new(StatusCode::BAD_REQUEST, client_message(&e)),
    }
}

/// Sign in with the external sign-in cookie (or `X-Pending-External` header).
#[utoipa::path(post, path = "/auth/signin/external", operation_id = "aufyExternalSignIn", tag = "aufy", params(UseCookieQuery),
    responses(
        (status = 200, body = TokenResponse, description = "Refresh token in the `Aufy.RefreshToken` cookie"),
        (status = 400, description = "The query string does not parse (problem+json)"),
        (status = 401, description = "No valid external sign-in cookie (problem+json)"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    Query(q): Query<UseCookieQuery>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, Problem> {
    let id = pending_id(&ctx, SIGN_IN_COOKIE, &jar, &headers).ok_or_else(unauthorized)?;
    let outcome = external_signup::sign_in(&state.services, &ctx, &id, &client)
        .await
        .map_err(completion_problem)?
        .ok_or_else(unauthorized)?;
    let pair = (&outcome.access, &outcome.refresh_secret);
    Ok(cookie_tokens(&state, &ctx, &prefix_of(prefix), jar, Some(SIGN_IN_COOKIE), pair, q.usecookie))
}

/// Sign up with the external sign-up cookie and the project's model as the body.
#[utoipa::path(post, path = "/auth/signup/external", operation_id = "aufyExternalSignUp", tag = "aufy", params(UseCookieQuery, BotCheckHeader),
    request_body(content = Object, description = "The project's sign-up model (`external_signup.schema`)"),
    responses(
        (status = 200, body = TokenResponse, description = "Account created; refresh token in the `Aufy.RefreshToken` cookie"),
        (status = 400, description = "The body breaks the model: `errors` names every failing field (problem+json)"),
        (status = 401, description = "No valid external sign-up cookie (problem+json)"),
        (status = 403, description = "Bot protection is on and `X-Altcha` is missing, invalid, expired or already used (problem+json)"),
        (status = 404, description = "No sign-up model configured: the endpoint is off (problem+json)"),
        (status = 413, description = "Body over 64 KiB (problem+json)"),
        (status = 415, description = "Body not sent as JSON (problem+json)"),
    ))]
#[allow(clippy::too_many_arguments, reason = "an axum handler takes one argument per extractor")]
pub async fn sign_up(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    Query(q): Query<UseCookieQuery>,
    headers: HeaderMap,
    _bot: BotChecked,
    jar: CookieJar,
    body: Result<ProblemJson, Problem>,
) -> Result<Response, Problem> {
    let Some(schema) = &ctx.project.settings.external_signup.schema else {
        return Err(not_found("External sign-up is not enabled for this project"));
    };
    let id = pending_id(&ctx, SIGN_UP_COOKIE, &jar, &headers).ok_or_else(unauthorized)?;
    let ProblemJson(body) = body?;
    let model = SignUpModel::compile(schema).map_err(|e| Problem::internal(&e))?;
    if let Err(errors) = model.check(&body) {
        record_signup("aufy", "external", "invalid");
        let mut p = Problem::new(StatusCode::BAD_REQUEST, "One or more validation errors occurred.");
        p.extensions.insert("errors".into(), json!(errors.into_iter().collect::<BTreeMap<_, _>>()));
        return Err(p);
    }
    let outcome = external_signup::sign_up(&state.services, &ctx, &id, body, &client)
        .await
        .map_err(|e| {
            record_signup("aufy", "external", oauth_signup_outcome(&e));
            completion_problem(e)
        })?
        .ok_or_else(unauthorized)?;
    record_signup("aufy", "external", "created");
    let pair = (&outcome.access, &outcome.refresh_secret);
    Ok(cookie_tokens(&state, &ctx, &prefix_of(prefix), jar, Some(SIGN_UP_COOKIE), pair, q.usecookie))
}
