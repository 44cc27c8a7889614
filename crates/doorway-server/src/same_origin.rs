//! CSRF: a state-changing request (POST, PUT, PATCH, DELETE) that carries cookies is served
//! only when it comes from Doorway's own origin (`Sec-Fetch-Site: same-origin`, or `Origin`
//! equal to `public_url`'s) or from one of the project's `cors.allowed_origins` (by `Origin`).
//! A request that says neither where it comes from (curl, a server, a very old browser) is
//! served when its body is JSON or absent: the forms and `text/plain` bodies a foreign page can
//! send without a CORS preflight are refused. Every route of every contract sits behind this
//! one layer; requests without cookies carry no ambient authority and pass.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use doorway_core::project::{CorsSettings, exact_origin};
use doorway_core::{ProjectContext, ProjectSlug};

use crate::contracts::contract_for;
use crate::state::AppState;

/// The refusal's message (also the OpenAPI document's example of it).
pub(crate) const CROSS_SITE_MESSAGE: &str =
    "Requests that carry cookies are accepted only from this site or an allowed origin";

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Allowed,
    CrossSite,
    NotJson,
}

fn verdict(headers: &HeaderMap, own_origin: &str, cors: &CorsSettings) -> Verdict {
    let fetch_site = headers.get("sec-fetch-site").map(|v| v.to_str().unwrap_or(""));
    // The browser's own word that the page is on Doorway's origin, whatever host it was
    // reached by (so a public_url that names another host does not lock out Doorway's pages).
    if fetch_site == Some("same-origin") {
        return Verdict::Allowed;
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        let trusted = exact_origin(origin).is_some_and(|o| o == own_origin) || cors.allows(origin);
        return if trusted { Verdict::Allowed } else { Verdict::CrossSite };
    }
    match fetch_site {
        Some("none") => Verdict::Allowed,
        Some(_) => Verdict::CrossSite,
        None => {
            let json = headers.get(header::CONTENT_TYPE).is_none_or(crate::contracts::common::body::is_json_media);
            if json { Verdict::Allowed } else { Verdict::NotJson }
        }
    }
}

pub async fn refuse_cross_site(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method().is_safe() || !req.headers().contains_key(header::COOKIE) {
        return next.run(req).await;
    }
    let contract = contract_for(req.uri().path());
    let ctx = match req.extensions().get::<Arc<ProjectContext>>() {
        Some(ctx) => ctx.clone(),
        None => match state.projects.get(&ProjectSlug::default_project()).await {
            Ok(Some(ctx)) => ctx,
            Ok(None) => return next.run(req).await,
            Err(e) => return contract.internal(&e),
        },
    };
    let own_origin = url::Url::parse(&state.public_url).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
    match verdict(req.headers(), &own_origin, &ctx.project.settings.cors) {
        Verdict::Allowed => next.run(req).await,
        Verdict::CrossSite => {
            tracing::warn!(origin = ?req.headers().get(header::ORIGIN), path = %req.uri().path(), "cross-site request with cookies refused");
            contract.refuse(StatusCode::FORBIDDEN, "CROSS_SITE_REQUEST", CROSS_SITE_MESSAGE.to_owned())
        }
        Verdict::NotJson => contract.refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "A request that carries cookies must send its body as JSON ('Content-Type: application/json')".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const OWN: &str = "https://auth.example.com";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn judges_by_origin_then_fetch_metadata_then_content_type() {
        let cors = CorsSettings { allowed_origins: vec!["https://app.example.com".into()] };
        let v = |pairs: &[(&'static str, &'static str)]| verdict(&headers(pairs), OWN, &cors);
        assert_eq!(v(&[("origin", "https://auth.example.com")]), Verdict::Allowed);
        assert_eq!(v(&[("origin", "https://app.example.com"), ("sec-fetch-site", "same-site")]), Verdict::Allowed);
        assert_eq!(
            v(&[("origin", "https://evil.example.com"), ("content-type", "application/json")]),
            Verdict::CrossSite
        );
        assert_eq!(v(&[("origin", "null")]), Verdict::CrossSite);
        assert_eq!(v(&[("sec-fetch-site", "same-origin"), ("content-type", "text/plain")]), Verdict::Allowed);
        assert_eq!(v(&[("sec-fetch-site", "same-origin"), ("origin", "http://localhost:8080")]), Verdict::Allowed);
        assert_eq!(v(&[("sec-fetch-site", "same-site"), ("origin", "https://evil.example.com")]), Verdict::CrossSite);
        assert_eq!(v(&[("sec-fetch-site", "cross-site")]), Verdict::CrossSite);
        assert_eq!(v(&[]), Verdict::Allowed);
        assert_eq!(v(&[("content-type", "application/json; charset=utf-8")]), Verdict::Allowed);
        assert_eq!(v(&[("content-type", "application/x-www-form-urlencoded")]), Verdict::NotJson);
        assert_eq!(v(&[("content-type", "text/plain")]), Verdict::NotJson);
    }
}
