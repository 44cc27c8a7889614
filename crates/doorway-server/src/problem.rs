//! RFC 9457 problem details (`application/problem+json`), used by the Storyden and Aufy contracts.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::errors::{json_value, set_retry_headers};

/// A JSON body whose rejections (400, 413, 415) are problem details.
pub struct ProblemJson(pub serde_json::Value);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ProblemJson {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        json_value(req, state).await.map(Self).map_err(|r| Problem::new(r.status(), r.message()))
    }
}

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
    /// Extra members, e.g. `errors` with every failing field.
    pub extensions: serde_json::Map<String, serde_json::Value>,
    pub retry_after_secs: Option<u64>,
    pub rate_limit: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self { status, detail: detail.into(), extensions: Default::default(), retry_after_secs: None, rate_limit: None }
    }

    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed unexpectedly");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side; please try again")
    }

    pub fn with_retry(mut self, retry_after_secs: u64, rate_limit: Option<u32>) -> Self {
        self.retry_after_secs = Some(retry_after_secs);
        self.rate_limit = rate_limit;
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        if let Some(object) = body.as_object_mut() {
            object.extend(self.extensions);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        set_retry_headers(&mut response, self.retry_after_secs, self.rate_limit);
        response
    }
}
