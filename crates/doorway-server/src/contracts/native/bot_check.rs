//! `GET /api/auth/challenge`: a proof-of-work challenge in ALTCHA's own shape (not the native
//! envelope), so the ALTCHA widget and ALTCHA client libraries read it as is.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use doorway_core::bot_check::BotChallenge;
use doorway_core::flows::bot_check;
use serde::Serialize;

use crate::errors::{ApiError, ErrorBody};
use crate::project_scope::CurrentProject;
use crate::state::AppState;

/// An ALTCHA challenge (`SHA-256`). Solve it by finding `number` in `0..=maxnumber` with
/// `hex(sha256(salt + number)) == challenge`, then send base64 of the JSON
/// `{algorithm, challenge, number, salt, signature}` in the `X-Altcha` header of a sign-up.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BotChallengeResponse {
    /// Always `SHA-256`.
    #[schema(example = "SHA-256")]
    algorithm: &'static str,
    /// Hex SHA-256 of `salt` followed by the secret number in decimal.
    challenge: String,
    /// The largest possible number.
    maxnumber: u64,
    /// Random hex and the expiry: `…?expires=<unix seconds>&`.
    salt: String,
    /// Hex HMAC-SHA256 of `challenge` by the project's server-side key.
    signature: String,
}

impl From<BotChallenge> for BotChallengeResponse {
    fn from(c: BotChallenge) -> Self {
        Self {
            algorithm: c.algorithm,
            challenge: c.challenge,
            maxnumber: c.maxnumber,
            salt: c.salt,
            signature: c.signature,
        }
    }
}

/// A proof-of-work challenge for the project's sign-ups (ALTCHA-compatible).
#[utoipa::path(get, path = "/api/auth/challenge", operation_id = "nativeBotChallenge", tag = "auth",
    responses(
        (status = 200, body = BotChallengeResponse, description = "A new challenge, valid for the project's `bot_protection.challenge_ttl_secs` (`Cache-Control: no-store`)"),
        (status = 404, body = ErrorBody, description = "NOT_FOUND: the project does not use bot protection"),
    ))]
pub async fn challenge(
    State(state): State<AppState>,
    CurrentProject(ctx): CurrentProject,
) -> Result<Response, ApiError> {
    let challenge = bot_check::challenge(&state.services, &ctx)
        .map_err(|cause| ApiError::internal(&cause))?
        .ok_or_else(|| ApiError::not_found("This project does not use bot protection"))?;
    let mut response = Json(BotChallengeResponse::from(challenge)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
