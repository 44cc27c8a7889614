//! Who is signed in and their account: `{auth}/whoami`, `{auth}/external/providers`,
//! `{account}/info`, `{account}/password/change` and `{account}/link/external`. Each needs the
//! access token (Bearer or the `Aufy.AccessToken` cookie) of an active session, except the
//! provider list.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use doorway_core::flows::external_signup::{self, LinkError, NextStep};
use doorway_core::flows::password_change::{self, PasswordChangeError};
use doorway_core::flows::profile::{self, AccountInfo};
use doorway_core::password::Password;
use doorway_core::user::User;
use serde::Serialize;

use super::external::pending_id;
use super::input::{Model, field_problem, validation_problem};
use super::{SIGN_IN_COOKIE, SIGN_UP_COOKIE, busy, session_problem, too_many, unauthenticated};
use crate::client_info::Client;
use crate::contracts::common::{Problem, ProblemJson, presented_access_token};
use crate::cookies::CookiePolicy;
use crate::project_scope::CurrentProject;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AufyWhoAmIResponse)]
pub struct WhoAmIResponse {
    /// The username, or the email address when there is none (Aufy's user name is the address).
    username: Option<String>,
    /// Null for an account without an address (made by handle through another contract).
    email: Option<String>,
    /// Project-wide roles, by name.
    roles: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AufyAccountInfoResponse)]
pub struct AccountInfoResponse {
    /// Null for an account without an address.
    email: Option<String>,
    username: Option<String>,
    /// Project-wide roles, by name.
    roles: Vec<String>,
    /// Providers of the linked external identities (`google`, `github`…).
    logins: Vec<String>,
    has_password: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AufyExternalProvidersResponse)]
pub struct ExternalProvidersResponse {
    /// The project's configured providers, by id.
    providers: Vec<String>,
}

fn username(user: &User) -> Option<String> {
    user.username.clone().or_else(|| email(user))
}

fn email(user: &User) -> Option<String> {
    user.email.as_ref().map(ToString::to_string)
}

impl From<AccountInfo> for AccountInfoResponse {
    fn from(info: AccountInfo) -> Self {
        Self {
            email: email(&info.user),
            username: username(&info.user),
            roles: info.roles,
            logins: info.logins,
            has_password: info.has_password,
        }
    }
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/whoami", operation_id = "aufyWhoAmI", tag = "aufy",
    security(("bearer" = [])),
    responses(
        (status = 200, body = WhoAmIResponse),
        (status = 401, description = "No valid access token, or its session ended (problem+json, `WWW-Authenticate: Bearer`)"),
    ))]
pub async fn who_am_i(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    headers: HeaderMap,
) -> Result<Json<WhoAmIResponse>, Response> {
    let me = profile::who_am_i(
        &state.services,
        &ctx,
        presented_access_token(&state, &ctx, &headers).ok_or_else(unauthenticated)?,
        profile::WhoAmIParts { memberships: false, roles: true },
    )
    .await
    .map_err(session_problem)?;
    Ok(Json(WhoAmIResponse { username: username(&me.user), email: email(&me.user), roles: me.roles }))
}

/// The external providers users can sign in with.
#[utoipa::path(get, path = "/api/auth/external/providers", operation_id = "aufyExternalProviders", tag = "aufy",
    responses((status = 200, body = ExternalProvidersResponse)))]
pub async fn external_providers(CurrentProject(ctx): CurrentProject) -> Json<ExternalProvidersResponse> {
    Json(ExternalProvidersResponse { providers: ctx.project.settings.providers.keys().cloned().collect() })
}

/// The signed-in user's account: roles, linked providers, whether a password is set.
#[utoipa::path(get, path = "/api/account/info", operation_id = "aufyAccountInfo", tag = "aufy",
    security(("bearer" = [])),
    responses(
        (status = 200, body = AccountInfoResponse),
        (status = 401, description = "No valid access token, or its session ended (problem+json, `WWW-Authenticate: Bearer`)"),
    ))]
pub async fn info(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    headers: HeaderMap,
) -> Result<Json<AccountInfoResponse>, Response> {
    let info = profile::account_info(
        &state.services,
        &ctx,
        presented_access_token(&state, &ctx, &headers).ok_or_else(unauthenticated)?,
    )
    .await
    .map_err(session_problem)?;
    Ok(Json(info.into()))
}

/// Link the external identity of a finished provider round trip (its `Aufy.ExternalSignIn` or
/// `Aufy.ExternalSignUp` cookie, or the `X-Pending-External` header) to the signed-in account.
#[utoipa::path(post, path = "/api/account/link/external", operation_id = "aufyLinkExternal", tag = "aufy",
    security(("bearer" = [])),
    responses(
        (status = 200, body = AccountInfoResponse, description = "Linked; the account as `{account}/info` shows it. The pending cookie is cleared"),
        (status = 400, description = "No valid pending external sign-in (problem+json)"),
        (status = 401, description = "No valid access token (problem+json)"),
        (status = 403, description = "Cookies sent from a foreign origin (problem+json)"),
        (status = 409, description = "The identity is linked to another account (problem+json)"),
    ))]
pub async fn link_external(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    prefix: Option<axum::extract::Extension<crate::project_scope::RoutePrefix>>,
    Client(client): Client,
    headers: HeaderMap,
    jar: CookieJar,
) -> Result<Response, Response> {
    let access = presented_access_token(&state, &ctx, &headers).ok_or_else(unauthenticated)?;
    let pending = [(SIGN_IN_COOKIE, NextStep::SignIn), (SIGN_UP_COOKIE, NextStep::SignUp)]
        .into_iter()
        .find_map(|(name, step)| pending_id(&ctx, name, &jar, &headers).map(|id| (id, step)));
    let Some((id, step)) = pending else {
        return Err(no_pending().into_response());
    };
    external_signup::link(&state.services, &ctx, access, (&id, step), &client).await.map_err(|e| match e {
        LinkError::Unauthenticated => unauthenticated(),
        LinkError::NothingPending => no_pending().into_response(),
        LinkError::LinkedElsewhere => {
            Problem::new(StatusCode::CONFLICT, "This external login is linked to another account").into_response()
        }
        LinkError::Unexpected(cause) => Problem::internal(&cause).into_response(),
    })?;
    let info = profile::account_info(&state.services, &ctx, access).await.map_err(session_problem)?;
    let policy = CookiePolicy::for_public_url(&state.public_url);
    let path = super::cookie_path(&super::prefix_of(prefix));
    let jar = jar.add(policy.clear(SIGN_IN_COOKIE, path.clone())).add(policy.clear(SIGN_UP_COOKIE, path));
    Ok((jar, Json(AccountInfoResponse::from(info))).into_response())
}

/// `{password, newPassword}`; property names match whatever their case.
#[derive(utoipa::ToSchema)]
#[allow(dead_code, reason = "documents the body; the handler reads it field by field")]
#[schema(as = AufyChangePasswordRequest, rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    #[schema(format = Password, min_length = 1, pattern = "\\S")]
    password: String,
    #[schema(format = Password, min_length = 1, pattern = "\\S")]
    new_password: String,
}

/// Change the signed-in user's password; the user's other sessions end.
#[utoipa::path(post, path = "/api/account/password/change", operation_id = "aufyChangePassword", tag = "aufy",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "Changed (empty body); every other session of the user is revoked"),
        (status = 400, description = "Wrong current password (`errors.PasswordMismatch`), no password to change, a new password the policy refuses (`errors.NewPassword`), a missing field, or a body that is not JSON (problem+json; validation problems carry `errors`)"),
        (status = 401, description = "No valid access token (problem+json)"),
        (status = 403, description = "Cookies sent from a foreign origin (problem+json)"),
        (status = 413, description = "Body over 64 KiB (problem+json)"),
        (status = 415, description = "Body not sent as JSON (problem+json)"),
        (status = 429, description = "Too many attempts (the sign-in budget); see Retry-After (problem+json)"),
        (status = 503, description = "Hashing queue full; see Retry-After (problem+json)"),
    ))]
pub async fn change_password(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
    Client(client): Client,
    headers: HeaderMap,
    body: Result<ProblemJson, Problem>,
) -> Result<Response, Response> {
    let access = presented_access_token(&state, &ctx, &headers).ok_or_else(unauthenticated)?;
    let ProblemJson(body) = body.map_err(IntoResponse::into_response)?;
    let mut model = Model::of(&body);
    let fields = model.required("Password").zip(model.required("NewPassword"));
    let (current, new) = model.finish(fields).map_err(IntoResponse::into_response)?;
    let (current, new) = (Password::new(current.to_owned()), Password::new(new.to_owned()));
    password_change::change_password(
        &state.services,
        &ctx,
        access,
        current,
        new,
        &ctx.project.settings.password_policy,
        &client,
    )
    .await
    .map_err(|e| {
        match e {
            PasswordChangeError::Unauthenticated => return unauthenticated(),
            PasswordChangeError::WrongPassword => field_problem("PasswordMismatch", "Incorrect password."),
            PasswordChangeError::NoPassword | PasswordChangeError::PasswordAlreadySet => {
                field_problem("Password", "The account has no password to change; set one with password/forgot")
            }
            PasswordChangeError::PasswordNotAccepted(message) => field_problem("NewPassword", message),
            PasswordChangeError::WeakPassword(reasons) => {
                validation_problem(std::collections::BTreeMap::from([("NewPassword".to_owned(), reasons)]))
            }
            PasswordChangeError::RateLimited(r) => too_many(r),
            PasswordChangeError::Busy { retry_after_secs } => busy(retry_after_secs),
            PasswordChangeError::Unexpected(cause) => Problem::internal(&cause),
        }
        .into_response()
    })?;
    Ok(StatusCode::OK.into_response())
}

fn no_pending() -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "No valid external sign-in in progress; start again with the provider")
}
