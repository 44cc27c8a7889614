//! Headers every response carries: no MIME sniffing, no framing (both the old header and CSP
//! `frame-ancestors`), no referrer, and `Cache-Control: no-store` (RFC 6749 §5.1) on everything
//! but the static docs, since almost every answer carries a token or user data. A response that
//! set its own CSP or cache policy (the confirmation pages) keeps it.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// JSON answers load nothing and may not be framed.
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Swagger UI (vendored, served from /docs/): its scripts are files (no inline script), its
/// styles include inline style attributes, its icons are data: URLs, and it fetches
/// /openapi.json and, on "Try it out", Doorway's own routes.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
frame-ancestors 'none'";

/// `/docs/…` or `/{project}/docs/…`.
fn is_docs(path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    segments.next() == Some("docs") || segments.next() == Some("docs")
}

pub async fn security_headers(req: Request, next: Next) -> Response {
    let docs = is_docs(req.uri().path());
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    // Room for all six at once: growing the map header by header reallocates it twice.
    headers.reserve(6);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(if docs {
        DOCS_CSP
    } else {
        API_CSP
    }));
    if !docs && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_paths() {
        for docs in ["/docs", "/docs/", "/docs/swagger-ui.css", "/acme/docs/", "/acme/docs"] {
            assert!(is_docs(docs), "{docs}");
        }
        for other in ["/api/auth/me", "/acme/api/docs", "/openapi.json"] {
            assert!(!is_docs(other), "{other}");
        }
    }
}
