//! The native error envelope `{success:false, error:{code, message, details?}}` and the
//! extractor that turns every body rejection into it.

use axum::Json;
use axum::extract::Request;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use doorway_core::StoreError;
use doorway_core::error::Unexpected;
use doorway_core::store::Outage;
use serde::Serialize;

/// Request bodies larger than this are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// What a client reads about any unexpected failure, in every contract.
pub const INTERNAL_MESSAGE: &str = "Something went wrong on our side; please try again";

/// The cause of an unexpected failure, carried on the response from where it happened to the
/// edge (`log_failures`), which logs it once with the request id. Never rendered.
#[derive(Clone, Debug)]
pub struct InternalCause(pub String);

/// What went wrong behind an unexpected answer: logged at the edge, never rendered, and
/// looked into for a storage outage, which every contract answers 503 with `Retry-After`
/// (nothing is broken; the request may succeed later) instead of 500.
pub trait Cause: std::fmt::Display + std::any::Any {}

impl<T: std::fmt::Display + std::any::Any> Cause for T {}

/// The storage outage behind a cause (a flow's `Unexpected` or a `StoreError`), if that is
/// what it is; counted in `doorway_storage_unavailable_total`.
pub fn storage_outage(cause: &dyn Cause) -> Option<Outage> {
    let any: &dyn std::any::Any = cause;
    let outage = any
        .downcast_ref::<Unexpected>()
        .and_then(Unexpected::outage)
        .or_else(|| any.downcast_ref::<StoreError>().and_then(StoreError::outage))?;
    metrics::counter!("doorway_storage_unavailable_total", "outage" => outage.as_str()).increment(1);
    Some(outage)
}

/// The cause as logged: `{:#}`, so error types that print their chain in alternate form do.
pub fn describe(cause: &dyn Cause) -> String {
    format!("{cause:#}")
}

/// Attaches the cause of a 500 (or of a storage outage's 503) to a response rendered in
/// some contract's format.
pub fn with_cause(mut response: Response, cause: &dyn Cause) -> Response {
    response.extensions_mut().insert(InternalCause(describe(cause)));
    response
}

/// The edge: logs every answer with status 500 or above once, with its cause when one was
/// attached, and the request's `x-request-id`.
pub async fn log_failures(req: Request, next: axum::middleware::Next) -> Response {
    let request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let mut response = next.run(req).await;
    let status = response.status();
    match response.extensions_mut().remove::<InternalCause>() {
        Some(InternalCause(cause)) if status == StatusCode::SERVICE_UNAVAILABLE => {
            tracing::warn!(status = status.as_u16(), request_id, error = %cause, "refused: storage unavailable");
        }
        Some(InternalCause(cause)) => {
            tracing::error!(status = status.as_u16(), request_id, error = %cause, "request failed unexpectedly");
        }
        None if response.extensions().get::<crate::admission::Shed>().is_some() => {
            tracing::debug!(status = status.as_u16(), request_id, "shed: the server is busy");
        }
        None if status.is_server_error() => {
            tracing::warn!(status = status.as_u16(), request_id, "answered with a server error");
        }
        None => {}
    }
    response
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Vec<FieldError>>,
    pub retry_after_secs: Option<u64>,
    /// Set on 429s: the limit that was exceeded, for the `RateLimit-*` headers.
    pub rate_limit: Option<u32>,
    /// Set on 500s: what went wrong, for the log at the edge (never the client).
    pub cause: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(example = json!({
    "success": false,
    "error": {
        "code": "VALIDATION_ERROR",
        "message": "Invalid input data",
        "details": [{"field": "email", "message": "Email must be a valid email address"}]
    }
}))]
pub struct ErrorBody {
    /// Always `false`.
    success: bool,
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `VALIDATION_ERROR`.
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Vec<FieldError>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            rate_limit: None,
            cause: None,
        }
    }

    pub fn validation(details: Vec<FieldError>) -> Self {
        Self {
            details: Some(details),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR", "Invalid input data")
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    pub fn project_not_found(slug: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "PROJECT_NOT_FOUND", format!("No project named '{slug}'"))
    }

    /// Answers without any of the cause's text; the cause is logged once, at the edge, with
    /// the request id (see `log_failures`). A storage outage is a 503 `SERVICE_UNAVAILABLE`.
    pub fn internal(cause: &dyn Cause) -> Self {
        let answer = match storage_outage(cause) {
            Some(outage) => Self::unavailable(outage.message(), outage.retry_after_secs()),
            None => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", INTERNAL_MESSAGE),
        };
        Self { cause: Some(describe(cause)), ..answer }
    }

    pub fn unavailable(message: impl Into<String>, retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", message)
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What went wrong, for a person: each field's problem, or the message when there are none.
    pub fn summary(&self) -> String {
        match self.details.as_deref() {
            Some(details) if !details.is_empty() => {
                details.iter().map(|d| d.message.as_str()).collect::<Vec<_>>().join(". ")
            }
            _ => self.message.clone(),
        }
    }

    pub fn rate_limited(r: doorway_core::rate_limit::RateLimited) -> Self {
        Self {
            retry_after_secs: Some(r.retry_after_secs),
            rate_limit: Some(r.limit),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", "Too many attempts; retry later")
        }
    }
}

/// `Retry-After` and the IETF `RateLimit-*` headers of a refusal.
pub fn set_retry_headers(response: &mut Response, retry_after_secs: Option<u64>, limit: Option<u32>) {
    let headers = response.headers_mut();
    if let Some(secs) = retry_after_secs {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        if let Some(limit) = limit {
            headers.insert("ratelimit-limit", HeaderValue::from(limit));
            headers.insert("ratelimit-remaining", HeaderValue::from(0));
            headers.insert("ratelimit-reset", HeaderValue::from(secs));
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            success: false,
            error: ErrorDetail { code: self.code, message: self.message, details: self.details },
        };
        let mut response = (self.status, Json(body)).into_response();
        set_retry_headers(&mut response, self.retry_after_secs, self.rate_limit);
        if let Some(cause) = self.cause {
            response.extensions_mut().insert(InternalCause(cause));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "Send the body as JSON with 'Content-Type: application/json'",
            ),
            JsonRejection::JsonDataError(e) => Self::validation(vec![FieldError::new(
                data_error_field(&e.body_text()),
                e.body_text().rsplit(": ").next().unwrap_or("invalid value").to_owned(),
            )]),
            JsonRejection::JsonSyntaxError(_) => {
                Self::new(StatusCode::BAD_REQUEST, "INVALID_JSON", "The body is not valid JSON")
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("The body is larger than {} KiB", MAX_BODY_BYTES / 1024),
            ),
            other => Self::new(StatusCode::BAD_REQUEST, "INVALID_BODY", other.body_text()),
        }
    }
}

/// axum names the failing path as `Failed to deserialize the JSON body into the target type: slug: …`.
fn data_error_field(text: &str) -> String {
    let mut parts = text.split(": ");
    parts.next();
    match (parts.next(), parts.next()) {
        (Some(path), Some(_)) if !path.contains(' ') => path.to_owned(),
        _ => "body".to_owned(),
    }
}

/// axum's own rejections (a query string or path that does not parse, a body read as bytes
/// that is too large, …) answer in plain text; this renders every plain-text or empty error
/// answer in the format of the contract that owns the path, keeping its status.
pub async fn contract_errors(req: Request, next: axum::middleware::Next) -> Response {
    let contract = crate::contracts::contract_for(req.uri().path());
    let response = next.run(req).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_none_or(|t| t.to_str().is_ok_and(|t| t.starts_with("text/plain")));
    if !(status.is_client_error() || status.is_server_error()) || !plain {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.ok().and_then(|b| String::from_utf8(b.to_vec()).ok());
    let text = text.filter(|t| !t.trim().is_empty());
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ("PAYLOAD_TOO_LARGE", format!("The body is larger than {} KiB", MAX_BODY_BYTES / 1024))
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ("UNSUPPORTED_MEDIA_TYPE", text.unwrap_or_else(|| "Unsupported body type".into()))
        }
        StatusCode::NOT_FOUND => ("NOT_FOUND", "No such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ("METHOD_NOT_ALLOWED", "This route does not accept that method".to_owned()),
        s if s.is_server_error() => {
            let cause = format!("plain-text error answer: {}", text.as_deref().unwrap_or("(empty)"));
            let rendered = contract.refuse(status, "INTERNAL_ERROR", INTERNAL_MESSAGE.to_owned());
            return copy_headers(with_cause(rendered, &cause), &parts.headers);
        }
        _ => ("INVALID_REQUEST", text.unwrap_or_else(|| "The request is not valid".into())),
    };
    copy_headers(contract.refuse(status, code, message), &parts.headers)
}

/// The original answer's headers (`Allow`, `Retry-After`, …) on its re-rendered form.
fn copy_headers(mut rendered: Response, headers: &axum::http::HeaderMap) -> Response {
    for (name, value) in headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name, value.clone());
        }
    }
    rendered
}

/// 404 for any route that does not exist.
/// An unknown route: a page under the hosted pages' path, else the native error.
pub async fn route_not_found(uri: axum::http::Uri) -> Response {
    use crate::contracts::ContractAdapter;
    let pages = crate::ui::Pages;
    if pages.owns(uri.path()) {
        return pages.refuse(StatusCode::NOT_FOUND, "NOT_FOUND", crate::ui::i18n::EN.not_found.to_owned());
    }
    ApiError::not_found("No such route").into_response()
}

/// A bare 405: `contract_errors` renders it in the format of the contract owning the path.
pub async fn method_not_allowed() -> StatusCode {
    StatusCode::METHOD_NOT_ALLOWED
}

/// A handler that panicked answers like any other unexpected failure.
pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(&"handler panicked").into_response()
}
