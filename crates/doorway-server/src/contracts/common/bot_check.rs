//! The bot check of sign-up routes: an extractor that lets the request through when the
//! project does not use bot protection, or when the `X-Altcha` header carries a valid, unspent
//! solution (which it spends); otherwise it answers 403 in the format of the contract owning
//! the path.
//!
//! 403, not 400: the request itself may be well formed; what is refused is doing a sign-up
//! without the proof of work, as a missing or stale CSRF token is refused. And 400 or 422 in
//! the seed contracts mean "fix these fields", which a client must not read into this.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use doorway_core::ProjectContext;
use doorway_core::flows::bot_check::{self, BotCheckError};

use crate::contracts::contract_for;
use crate::errors::ApiError;
use crate::project_scope::CurrentProject;
use crate::state::AppState;

/// The header API clients send the solved payload in (base64 of the ALTCHA JSON solution).
pub(crate) const HEADER: &str = "x-altcha";

/// The native code of the refusal; contracts with codes of their own map it.
pub(crate) const REFUSED_CODE: &str = "BOT_CHECK_FAILED";

/// The header as every protected operation documents it (`params(BotCheckHeader)`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct BotCheckHeader {
    /// The solved proof-of-work challenge of `GET /api/auth/challenge` (base64 of the ALTCHA
    /// JSON `{algorithm, challenge, number, salt, signature}`), one per sign-up attempt:
    /// required when the project enables `bot_protection` (403 without a valid, unused one),
    /// ignored otherwise.
    // Base64 only: a header value with control characters is refused by the HTTP parser
    // itself (RFC 9110), before any contract could answer in its own format.
    #[param(rename = "X-Altcha", pattern = "^[A-Za-z0-9+/=]*$", max_length = 4096, nullable = false)]
    x_altcha: Option<String>,
}

/// A sign-up route's bot check, passed (or not asked for by the project).
pub(crate) struct BotChecked;

impl FromRequestParts<AppState> for BotChecked {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let CurrentProject(ctx) =
            CurrentProject::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let payload = parts.headers.get(HEADER).and_then(|v| v.to_str().ok());
        pass(state, &ctx, payload).await.map(|()| Self).map_err(|e| refusal(parts.uri.path(), e))
    }
}

/// The check for callers that carry the payload elsewhere (the hosted pages' form field).
pub(crate) async fn pass(state: &AppState, ctx: &ProjectContext, payload: Option<&str>) -> Result<(), BotCheckError> {
    let result = bot_check::pass(&state.services, ctx, payload).await;
    if ctx.project.settings.bot_protection.enabled {
        let outcome = match &result {
            Ok(()) => "passed",
            Err(BotCheckError::Refused(_)) => "refused",
            Err(BotCheckError::Unexpected(_)) => "error",
        };
        metrics::counter!("doorway_bot_checks_total", "outcome" => outcome).increment(1);
    }
    result
}

/// A refusal as a native error, for the hosted pages (which show it next to the widget).
pub(crate) fn page_refusal(e: BotCheckError) -> ApiError {
    match e {
        BotCheckError::Refused(why) => ApiError::new(StatusCode::FORBIDDEN, REFUSED_CODE, why.to_string()),
        BotCheckError::Unexpected(cause) => ApiError::internal(&cause),
    }
}

/// The refusal in the format of the contract owning `path` (prefix already stripped).
fn refusal(path: &str, e: BotCheckError) -> Response {
    let contract = contract_for(path);
    match e {
        BotCheckError::Refused(why) => contract.refuse(StatusCode::FORBIDDEN, REFUSED_CODE, why.to_string()),
        BotCheckError::Unexpected(cause) => contract.internal(&cause),
    }
}
