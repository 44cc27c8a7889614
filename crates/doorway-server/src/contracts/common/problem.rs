//! RFC 9457 problem details (`application/problem+json`), used by the Storyden and Aufy contracts.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::errors::{Cause, INTERNAL_MESSAGE, InternalCause, describe, set_retry_headers, storage_outage};

#[derive(Debug)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
    /// Extra members, e.g. `errors` with every failing field.
    /// (Boxed: a `Problem` is the error side of many results.)
    pub extensions: Box<serde_json::Map<String, serde_json::Value>>,
    pub retry_after_secs: Option<u64>,
    pub rate_limit: Option<u32>,
    /// Set on 500s: what went wrong, for the log at the edge (never the client).
    pub cause: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            extensions: Default::default(),
            retry_after_secs: None,
            rate_limit: None,
            cause: None,
        }
    }

    /// Answers without any of the cause's text; the cause is logged at the edge. A storage
    /// outage is a 503 with `Retry-After`.
    pub fn internal(cause: &dyn Cause) -> Self {
        let answer = match storage_outage(cause) {
            Some(outage) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, outage.message()).with_retry(outage.retry_after_secs(), None)
            }
            None => Self::new(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE),
        };
        Self { cause: Some(describe(cause)), ..answer }
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
            object.extend(*self.extensions);
        }
        let mut response = (self.status, axum::Json(body)).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        set_retry_headers(&mut response, self.retry_after_secs, self.rate_limit);
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}
