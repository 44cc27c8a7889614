//! Body extractors: a JSON body, or why there is none, rendered in each contract's format.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::problem::Problem;
use crate::errors::{ApiError, MAX_BODY_BYTES};

/// Why a JSON body was refused, before a contract renders it in its own format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRejection {
    NotJson,
    TooLarge,
    Malformed,
}

impl BodyRejection {
    pub fn status(self) -> StatusCode {
        match self {
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Malformed => StatusCode::BAD_REQUEST,
        }
    }

    pub fn message(self) -> String {
        match self {
            Self::NotJson => "Send the body as JSON with 'Content-Type: application/json'".to_owned(),
            Self::TooLarge => format!("The body is larger than {} KiB", MAX_BODY_BYTES / 1024),
            Self::Malformed => "The body is not valid JSON".to_owned(),
        }
    }
}

/// Whether a `Content-Type` names JSON (`application/json` or `…+json`, any parameters).
pub(crate) fn is_json_media(content_type: &axum::http::HeaderValue) -> bool {
    let media = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    media == "application/json" || media.ends_with("+json")
}

/// Any JSON value (contracts check its shape field by field), or why there is none.
pub async fn json_value<S: Send + Sync>(req: Request, state: &S) -> Result<serde_json::Value, BodyRejection> {
    match Json::<serde_json::Value>::from_request(req, state).await {
        Ok(Json(v)) => Ok(v),
        Err(JsonRejection::MissingJsonContentType(_)) => Err(BodyRejection::NotJson),
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(BodyRejection::TooLarge),
        Err(_) => Err(BodyRejection::Malformed),
    }
}

/// `Json<T>` whose rejections use the native envelope.
pub struct NativeJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for NativeJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// A JSON body whose rejections (400, 413, 415) are problem details.
pub struct ProblemJson(pub serde_json::Value);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ProblemJson {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        json_value(req, state).await.map(Self).map_err(|r| Problem::new(r.status(), r.message()))
    }
}
