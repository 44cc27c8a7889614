//! Seed 001 (Replyke): `POST /{projectId}/auth/sign-up` with a rich profile, and the companion
//! routes Replyke's own client (`@replyke/core`) calls around it: sign-in, sign-out,
//! request-new-access-token, change-password, the verification mail and password recovery.
//!
//! Successes carry `{success, accessToken, refreshToken, user}` (the user as Replyke's
//! `AuthUser`, never secure metadata) and the `replyke-refresh-jwt` cookie. Errors are
//! `{error, code, details?}` with `auth/…` codes. Every route is a thin adapter over
//! `doorway_core::flows`.

mod email;
mod recovery;
mod session;
mod sign_up;
mod views;

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use doorway_core::password::PasswordPolicy;
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::common::settings::{ContractSettings, relaxed_policy};
use super::{ContractAdapter, SettingsCheck};
use crate::contracts::common::{BodyRejection, json_value};
use crate::errors::set_retry_headers;
use crate::state::AppState;

/// The paths of the contract (under the project prefix).
const PATHS: &[&str] = &[
    "/auth/sign-up",
    "/auth/sign-in",
    "/auth/sign-out",
    "/auth/request-new-access-token",
    "/auth/change-password",
    "/auth/send-verification-email",
    "/auth/verify-email",
    "/auth/request-password-reset",
    "/auth/reset-password",
];

/// `projects.<slug>.replyke`: seed 001 documents no password rules of its own. The policy holds
/// for every password a Replyke route sets: sign-up, change-password and reset-password.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReplykeSettings {
    pub password_policy: PasswordPolicy,
}

impl Default for ReplykeSettings {
    fn default() -> Self {
        Self { password_policy: relaxed_policy() }
    }
}

impl ReplykeSettings {
    /// The password policy of the project's Replyke routes.
    pub(crate) fn password_policy(ctx: &doorway_core::ProjectContext) -> Result<PasswordPolicy, ReplykeError> {
        Ok(Self::of(&ctx.project.settings).map_err(|e| ReplykeError::internal(&e))?.password_policy)
    }
}

impl ContractSettings for ReplykeSettings {
    const KEY: &'static str = "replyke";

    fn problems(&self) -> Vec<(&'static str, String)> {
        self.password_policy.problems().into_iter().map(|(_, m)| ("password_policy", m)).collect()
    }
}

/// Seed 001; its errors are `{error, code, details?}` with `auth/…` codes.
pub struct Replyke;

impl ContractAdapter for Replyke {
    fn name(&self) -> &'static str {
        "replyke"
    }

    fn tag(&self) -> (&'static str, &'static str) {
        (
            "replyke",
            "Replyke-compatible sign-up (seed 001) and the session, verification and recovery routes of Replyke's client",
        )
    }

    fn routes(&self) -> OpenApiRouter<AppState> {
        OpenApiRouter::new()
            .routes(routes!(sign_up::sign_up))
            .routes(routes!(session::sign_in))
            .routes(routes!(session::sign_out))
            .routes(routes!(session::request_new_access_token))
            .routes(routes!(session::change_password))
            .routes(routes!(email::send_verification_email))
            .routes(routes!(email::verify_email))
            .routes(routes!(recovery::request_password_reset))
            .routes(routes!(recovery::reset_password))
    }

    fn owns(&self, path: &str) -> bool {
        PATHS.contains(&path.trim_end_matches('/'))
    }

    fn refuse(&self, status: StatusCode, code: &'static str, message: String) -> Response {
        if code == crate::contracts::common::bot_check::REFUSED_CODE {
            return ReplykeError::new(status, "auth/bot-check-failed", message).into_response();
        }
        ReplykeError::refusal(status, message).into_response()
    }

    fn project_not_found(&self, slug: &str) -> Response {
        ReplykeError::project_not_found(slug).into_response()
    }

    fn internal(&self, cause: &dyn crate::errors::Cause) -> Response {
        ReplykeError::internal(cause).into_response()
    }

    fn settings_check(&self) -> Option<SettingsCheck> {
        Some((ReplykeSettings::KEY, ReplykeSettings::check))
    }
}

#[derive(Debug, Serialize)]
pub struct FieldProblem {
    field: &'static str,
    code: &'static str,
    message: String,
}

/// Replyke's error body: `{error, code, details?}`.
#[derive(Debug)]
pub struct ReplykeError {
    status: StatusCode,
    error: String,
    code: &'static str,
    details: Option<Box<Value>>,
    retry_after_secs: Option<u64>,
    rate_limit: Option<u32>,
    /// Set on 500s: what went wrong, for the log at the edge (never the client).
    cause: Option<String>,
}

impl ReplykeError {
    fn new(status: StatusCode, code: &'static str, error: impl Into<String>) -> Self {
        Self { status, error: error.into(), code, details: None, retry_after_secs: None, rate_limit: None, cause: None }
    }

    fn missing_fields() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "auth/missing-fields", "Missing required fields")
    }

    fn invalid(problems: Vec<FieldProblem>) -> Self {
        let first = &problems[0];
        Self {
            details: Some(Box::new(json!(problems))),
            ..Self::new(StatusCode::BAD_REQUEST, first.code, first.message.clone())
        }
    }

    /// Answers without any of the cause's text; the cause is logged at the edge. A storage
    /// outage is a 503 `auth/service-unavailable` with `Retry-After`.
    pub fn internal(cause: &dyn crate::errors::Cause) -> Self {
        if let Some(outage) = crate::errors::storage_outage(cause) {
            return Self {
                cause: Some(crate::errors::describe(cause)),
                ..Self::unavailable("auth/service-unavailable", outage.message(), outage.retry_after_secs())
            };
        }
        Self {
            cause: Some(crate::errors::describe(cause)),
            details: Some(Box::new(json!(
                "Unexpected failure; the server log has the cause under this request's x-request-id"
            ))),
            ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "auth/server-error", "Internal server error")
        }
    }

    /// A refusal made before the handler ran, with the `auth/…` code of its status.
    pub fn refusal(status: StatusCode, error: impl Into<String>) -> Self {
        let code = match status {
            StatusCode::FORBIDDEN => "auth/forbidden",
            StatusCode::PAYLOAD_TOO_LARGE => "auth/payload-too-large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "auth/unsupported-media-type",
            StatusCode::NOT_FOUND => "auth/not-found",
            StatusCode::METHOD_NOT_ALLOWED => "auth/method-not-allowed",
            s if s.is_server_error() => "auth/server-error",
            _ => "auth/invalid-request",
        };
        Self::new(status, code, error)
    }

    pub fn project_not_found(slug: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "project/not-found", format!("No project named '{slug}'"))
    }

    fn unavailable(code: &'static str, error: &str, retry_after_secs: u64) -> Self {
        Self { retry_after_secs: Some(retry_after_secs), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, error) }
    }

    /// `auth/missing-fields` with a route's own message.
    fn missing(error: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "auth/missing-fields", error)
    }

    fn busy(retry_after_secs: u64) -> Self {
        Self::unavailable("auth/server-busy", "Too many requests in progress; retry shortly", retry_after_secs)
    }

    fn rate_limited(r: doorway_core::rate_limit::RateLimited) -> Self {
        Self {
            retry_after_secs: Some(r.retry_after_secs),
            rate_limit: Some(r.limit),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "auth/too-many-requests", "Too many attempts; retry later")
        }
    }

    /// A new password the policy refused: one problem per reason, on `field`.
    fn weak_password(field: &'static str, reasons: Vec<String>) -> Self {
        Self::invalid(
            reasons.into_iter().map(|message| FieldProblem { field, code: "auth/invalid-password", message }).collect(),
        )
    }
}

impl IntoResponse for ReplykeError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.error, "code": self.code });
        if let Some(details) = self.details {
            body["details"] = *details;
        }
        let mut response = (self.status, Json(body)).into_response();
        set_retry_headers(&mut response, self.retry_after_secs, self.rate_limit);
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(crate::errors::InternalCause(cause));
        }
        response
    }
}

/// A JSON body whose rejections use Replyke's error format.
pub struct ReplykeJson(Value);

impl<S: Send + Sync> FromRequest<S> for ReplykeJson {
    type Rejection = ReplykeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ReplykeError> {
        json_value(req, state).await.map(Self).map_err(|r| {
            let code = match r {
                BodyRejection::NotJson => "auth/unsupported-media-type",
                BodyRejection::TooLarge => "auth/payload-too-large",
                BodyRejection::Malformed => "auth/invalid-body",
            };
            ReplykeError::new(r.status(), code, r.message())
        })
    }
}

/// A JSON body, or none at all (`Value::Null`): the refresh and sign-out routes accept the
/// refresh token from the cookie alone.
pub struct OptionalReplykeJson(Value);

impl<S: Send + Sync> FromRequest<S> for OptionalReplykeJson {
    type Rejection = ReplykeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ReplykeError> {
        let headers = req.headers();
        let empty = !headers.contains_key(header::TRANSFER_ENCODING)
            && headers.get(header::CONTENT_LENGTH).is_none_or(|l| l.as_bytes() == b"0");
        if empty {
            return Ok(Self(Value::Null));
        }
        ReplykeJson::from_request(req, state).await.map(|ReplykeJson(v)| Self(v))
    }
}

/// The string fields of a request body. Absent, `null` and blank strings count as missing
/// (Replyke answers `auth/missing-fields` for falsy values); any other non-string is refused.
struct Fields<'a>(&'a Map<String, Value>);

/// The empty object, for optional bodies that were not sent.
static NO_FIELDS: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl<'a> Fields<'a> {
    fn of(body: &'a Value) -> Result<Self, ReplykeError> {
        match body {
            Value::Object(map) => Ok(Self(map)),
            Value::Null => Ok(Self(&NO_FIELDS)),
            _ => Err(ReplykeError::new(StatusCode::BAD_REQUEST, "auth/invalid-body", "The body must be a JSON object")),
        }
    }

    fn string(&self, key: &str) -> Result<Option<&'a str>, ReplykeError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(ReplykeError::new(
                StatusCode::BAD_REQUEST,
                "auth/invalid-body",
                format!("'{key}' must be a string"),
            )),
        }
    }
}

/// `{success: true, message}`: the answer of routes that only change state.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ReplykeMessageResponse)]
pub struct MessageResponse {
    success: bool,
    message: &'static str,
}

impl MessageResponse {
    fn ok(message: &'static str) -> Json<Self> {
        Json(Self { success: true, message })
    }
}
