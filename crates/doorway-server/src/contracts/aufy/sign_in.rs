//! Sessions, Aufy's way: `{auth}/signin` and `{auth}/signin/refresh` keep the refresh token in
//! the HttpOnly `Aufy.RefreshToken` cookie (and the access token in `Aufy.AccessToken` with
//! `?usecookie=true`); `{auth}/token` and `{auth}/token/refresh` are cookie-less, the refresh
//! token travelling in the body and back as `Authorization: Bearer …`. Every refresh rotates
//! the refresh token (core's reuse detection applies). `{auth}/signout` ends the session.

use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::flows::session::{self as session_flow, Refreshed, SessionError, SessionProof};
use doorway_core::flows::sign_in::{self, SignInError, SignInOutcome};
use doorway_core::password::Password;
use doorway_core::session::RefreshSecret;

use super::input::{Model, field_problem};
use super::{
    BearerTokenResponse, REFRESH_COOKIE, TokenResponse, UseCookieQuery, bearer_tokens, clear_session_cookies,
    cookie_tokens, prefix_of, session_problem,
};
use crate::client_info::Client;
use crate::contracts::common::{Problem, ProblemJson, presented_access_token};
use crate::cookies::cookie_values;
use crate::project_scope::{CurrentProject, RoutePrefix};
use crate::state::AppState;

/// `{email, password}`; property names match whatever their case.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the body; the handler reads it field by field")]
#[schema(as = AufySignInRequest)]
pub struct SignInRequest {
    email: String,
    password: String,
}

fn busy_or_limited(e: SignInError) -> Problem {
    match e {
        SignInError::RateLimited(r) => Problem::new(StatusCode::TOO_MANY_REQUESTS, "Too many attempts")
            .with_retry(r.retry_after_secs, Some(r.limit)),
        SignInError::Busy { retry_after_secs } => {
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "Too many sign-ins in progress; retry shortly")
                .with_retry(retry_after_secs, None)
        }
        SignInError::Unexpected(cause) => Problem::internal(&cause),
        SignInError::InvalidCredentials => Problem::new(StatusCode::UNAUTHORIZED, "Invalid email or password"),
    }
}

/// Reads `{email, password}` and signs in.
async fn password_sign_in(
    state: &AppState,
    ctx: &doorway_core::ProjectContext,
    client: doorway_core::events::ClientInfo,
    body: Result<ProblemJson, Problem>,
    invalid: fn() -> Problem,
) -> Result<SignInOutcome, Problem> {
    let ProblemJson(body) = body?;
    let mut model = Model::of(&body);
    let fields = model.email("Email").zip(model.required("Password"));
    let (email, password) = model.finish(fields)?;
    sign_in::sign_in(
        &state.services,
        ctx,
        sign_in::Identifier::Email(email.as_str()),
        Password::new(password.to_owned()),
        client,
    )
    .await
    .map_err(|e| match e {
        SignInError::InvalidCredentials => invalid(),
        other => busy_or_limited(other),
    })
}

/// Sign in with email and password; the refresh token goes into the `Aufy.RefreshToken` cookie.
#[utoipa::path(post, path = "/api/auth/signin", operation_id = "aufySignIn", tag = "aufy", params(UseCookieQuery),
    request_body = SignInRequest,
    responses(
        (status = 200, body = TokenResponse, description = "Signed in: HttpOnly `Aufy.RefreshToken` cookie; `Aufy.AccessToken` too with `usecookie=true`. The token's `roles` claim lists the user's roles"),
        (status = 400, description = "Wrong email or password (`errors.SignIn`, the same for an unknown address), a missing or malformed field (`errors.Email`, `errors.Password`), a body that is not JSON or a query string that does not parse (problem+json; validation problems carry `errors`)"),
        (status = 413, description = "Body over 64 KiB (problem+json)"),
        (status = 415, description = "Body not sent as JSON (problem+json)"),
        (status = 429, description = "Rate limited; see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full; see Retry-After (problem+json)"),
    ))]
pub async fn sign_in(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    Query(q): Query<UseCookieQuery>,
    jar: CookieJar,
    body: Result<ProblemJson, Problem>,
) -> Result<Response, Problem> {
    let invalid = || field_problem("SignIn", "Invalid email or password");
    let outcome = password_sign_in(&state, &ctx, client, body, invalid).await?;
    let pair = (&outcome.access, &outcome.refresh_secret);
    Ok(cookie_tokens(&state, &ctx, &prefix_of(prefix), jar, None, pair, q.usecookie))
}

/// Cookie-less sign-in: both tokens in the body.
#[utoipa::path(post, path = "/api/auth/token", operation_id = "aufyToken", tag = "aufy",
    request_body = SignInRequest,
    responses(
        (status = 200, body = BearerTokenResponse, description = "Signed in; no cookie"),
        (status = 400, description = "A missing or malformed field, or a body that is not JSON (problem+json; validation problems carry `errors`)"),
        (status = 401, description = "Wrong email or password, the same for an unknown address (problem+json)"),
        (status = 413, description = "Body over 64 KiB (problem+json)"),
        (status = 415, description = "Body not sent as JSON (problem+json)"),
        (status = 429, description = "Rate limited; see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full; see Retry-After (problem+json)"),
    ))]
pub async fn token(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    body: Result<ProblemJson, Problem>,
) -> Result<Response, Problem> {
    let invalid = || Problem::new(StatusCode::UNAUTHORIZED, "Invalid email or password");
    let outcome = password_sign_in(&state, &ctx, client, body, invalid).await?;
    Ok(bearer_tokens(&ctx, &outcome.access, &outcome.refresh_secret))
}

/// Rotates the first presented refresh token that belongs to this project. A browser may hold
/// several `Aufy.RefreshToken` cookies (the default project's at `/`, another's at `/acme`);
/// one of another project is refused without being used.
async fn refresh_any(
    state: &AppState,
    ctx: &doorway_core::ProjectContext,
    presented: &[&str],
    client: &doorway_core::events::ClientInfo,
) -> Result<Refreshed, SessionError> {
    let mut last = SessionError::InvalidRefreshToken;
    for token in presented.iter().filter(|t| !t.is_empty()) {
        match session_flow::refresh(&state.services, ctx, &RefreshSecret::from_client(token), client).await {
            Err(SessionError::InvalidRefreshToken) => last = SessionError::InvalidRefreshToken,
            done => return done,
        }
    }
    Err(last)
}

/// New tokens for the `Aufy.RefreshToken` cookie, which rotates.
#[utoipa::path(post, path = "/api/auth/signin/refresh", operation_id = "aufySignInRefresh", tag = "aufy", params(UseCookieQuery),
    responses(
        (status = 200, body = TokenResponse, description = "A new access token (with the user's current roles); the `Aufy.RefreshToken` cookie is replaced"),
        (status = 400, description = "The query string does not parse (problem+json)"),
        (status = 401, description = "No, an expired, a revoked or an already used refresh cookie (a reused one revokes the session); the cookies are cleared (problem+json)"),
        (status = 403, description = "Cookies sent from a foreign origin (problem+json)"),
    ))]
pub async fn sign_in_refresh(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    Query(q): Query<UseCookieQuery>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, Response> {
    let prefix = prefix_of(prefix);
    let presented = cookie_values(&headers, REFRESH_COOKIE);
    match refresh_any(&state, &ctx, &presented, &client).await {
        Ok(r) => Ok(cookie_tokens(&state, &ctx, &prefix, jar, None, (&r.access, &r.refresh_secret), q.usecookie)),
        Err(SessionError::Unexpected(cause)) => Err(Problem::internal(&cause).into_response()),
        Err(e) => Err((clear_session_cookies(&state, &prefix, jar), session_problem(e)).into_response()),
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// New tokens for the refresh token of `{auth}/token`, presented as `Authorization: Bearer …`.
#[utoipa::path(post, path = "/api/auth/token/refresh", operation_id = "aufyTokenRefresh", tag = "aufy",
    security(("bearer" = [])),
    responses(
        (status = 200, body = BearerTokenResponse, description = "New tokens; the presented refresh token is used up"),
        (status = 401, description = "No, an expired, a revoked or an already used refresh token (a reused one revokes the session) (problem+json)"),
    ))]
pub async fn token_refresh(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
) -> Result<Response, Response> {
    let presented: Vec<&str> = bearer(&headers).into_iter().collect();
    let r = refresh_any(&state, &ctx, &presented, &client).await.map_err(session_problem)?;
    Ok(bearer_tokens(&ctx, &r.access, &r.refresh_secret))
}

/// End the current session: by its access token (Bearer or `Aufy.AccessToken`), else by the
/// `Aufy.RefreshToken` cookie. The refresh token stops working and the cookies are cleared.
#[utoipa::path(post, path = "/api/auth/signout", operation_id = "aufySignOut", tag = "aufy",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Signed out (empty body); the cookies are cleared"),
        (status = 401, description = "No valid session presented (problem+json)"),
        (status = 403, description = "Cookies sent from a foreign origin (problem+json)"),
    ))]
pub async fn sign_out(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<Extension<RoutePrefix>>,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, Response> {
    let refresh = cookie_values(&headers, REFRESH_COOKIE);
    let secrets: Vec<RefreshSecret> =
        refresh.iter().filter(|t| !t.is_empty()).map(|t| RefreshSecret::from_client(t)).collect();
    let mut proofs: Vec<SessionProof<'_>> = Vec::new();
    if let Some(token) = presented_access_token(&state, &ctx, &headers) {
        proofs.push(SessionProof::AccessToken(token));
    }
    proofs.extend(secrets.iter().map(SessionProof::RefreshToken));
    let mut result = Err(SessionError::Unauthenticated);
    for proof in proofs {
        result = session_flow::sign_out(&state.services, &ctx, proof, &client).await;
        if !matches!(result, Err(SessionError::Unauthenticated)) {
            break;
        }
    }
    result.map_err(session_problem)?;
    let jar = clear_session_cookies(&state, &prefix_of(prefix), jar);
    Ok((StatusCode::OK, jar).into_response())
}
