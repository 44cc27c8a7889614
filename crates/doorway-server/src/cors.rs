//! CORS for the project's routes: a browser page on one of the project's
//! `cors.allowed_origins` may call every route of every contract it serves, with credentials
//! (cookies), the way Aufy (ASP.NET Core), Storyden (rs/cors) and Replyke (express `cors`)
//! configure it for their own front ends.
//!
//! Per project, so tower-http's `CorsLayer` does not fit: its preflight answers every `OPTIONS`
//! of every path alike (admin routes and unknown paths included) and cannot tell a route's
//! methods. Here the routes are the contracts' own OpenAPI paths, so a preflight is answered
//! only for a route that exists, with that route's methods.
//!
//! - An allowed origin gets `Access-Control-Allow-Origin: <that origin>` and
//!   `Access-Control-Allow-Credentials: true` on every answer, errors included, and its
//!   preflight (204) lists the route's methods, the request headers the contracts read and a
//!   max age.
//! - Any other origin gets no `Access-Control-*` header at all, and its preflight still 204s
//!   without them (what rs/cors, express `cors` and ASP.NET Core do): the browser refuses the
//!   call; a status would tell it nothing more.
//! - Every answer of a project route carries `Vary: Origin`, since its headers depend on it.
//! - Administration, `/metrics`, health, docs and unknown paths get no CORS: browsers on other
//!   origins have no business there.
//!
//! The cross-site guard (`same_origin`) trusts the same list, so an allowed origin passes both.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use doorway_core::{ProjectContext, ProjectSlug};
use utoipa::openapi::PathItem;

use crate::contracts::{CONTRACTS, ContractAdapter};
use crate::state::AppState;

/// The request headers the contracts read, besides the CORS-safelisted ones: JSON bodies and
/// bearer tokens. A contract that reads another header adds it here.
const ALLOWED_HEADERS: &str = "authorization, content-type";

/// Response headers a client needs to read: when to retry after a 429/503, and the request id
/// to quote in a report.
const EXPOSED_HEADERS: &str = "retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, x-request-id";

/// How long a browser may reuse a preflight answer (Chromium caps it at 2 hours).
const MAX_AGE_SECS: &str = "600";

/// One route of one contract, as its OpenAPI path (`/api/auth/oauth/{provider}/callback`).
struct Route {
    segments: Vec<String>,
    methods: String,
    contract: &'static dyn ContractAdapter,
}

impl Route {
    fn matches(&self, path: &str) -> bool {
        let mut given = path.trim_start_matches('/').split('/');
        self.segments.iter().all(|s| given.next().is_some_and(|g| g == s || (s.starts_with('{') && !g.is_empty())))
            && given.next().is_none()
    }
}

fn methods_of(item: &PathItem) -> String {
    let operations = [
        ("GET", &item.get),
        ("POST", &item.post),
        ("PUT", &item.put),
        ("PATCH", &item.patch),
        ("DELETE", &item.delete),
        ("HEAD", &item.head),
        ("OPTIONS", &item.options),
        ("TRACE", &item.trace),
    ];
    operations.iter().filter(|(_, op)| op.is_some()).map(|(m, _)| *m).collect::<Vec<_>>().join(", ")
}

/// The middleware's state: the project directory and the contracts' routes, read once.
#[derive(Clone)]
pub(crate) struct Cors {
    state: AppState,
    routes: Arc<[Route]>,
}

/// Every contract's routes, from the paths of their OpenAPI documents.
fn contract_routes() -> Vec<Route> {
    CONTRACTS
        .iter()
        .flat_map(|&contract| {
            let (_, api) = contract.routes().split_for_parts();
            api.paths.paths.into_iter().map(move |(path, item)| Route {
                segments: path.trim_start_matches('/').split('/').map(str::to_owned).collect(),
                methods: methods_of(&item),
                contract,
            })
        })
        .collect()
}

impl Cors {
    pub(crate) fn new(state: AppState) -> Self {
        Self { state, routes: contract_routes().into() }
    }

    fn route(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(path))
    }
}

/// The `Origin` a request came from, when the project allows it.
fn allowed_origin(headers: &HeaderMap, ctx: &ProjectContext) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    ctx.project.settings.cors.allows(origin.to_str().ok()?).then(|| origin.clone())
}

/// Wraps the project's routes: runs after the project prefix was stripped.
pub(crate) async fn cors(State(cors): State<Cors>, req: Request, next: Next) -> Response {
    let Some(route) = cors.route(req.uri().path()) else {
        return next.run(req).await;
    };
    let ctx = match req.extensions().get::<Arc<ProjectContext>>() {
        Some(ctx) => ctx.clone(),
        None => match cors.state.projects.get(&ProjectSlug::default_project()).await {
            Ok(Some(ctx)) => ctx,
            Ok(None) => return next.run(req).await,
            Err(e) => return route.contract.internal(&e),
        },
    };
    if !ctx.project.settings.contract_enabled(route.contract.name()) {
        // Not a route of this project: it answers 404 like any unknown path, without CORS.
        return next.run(req).await;
    }
    let origin = allowed_origin(req.headers(), &ctx);
    let preflight =
        req.method() == Method::OPTIONS && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        if origin.is_some() {
            let headers = response.headers_mut();
            if let Ok(methods) = HeaderValue::from_str(&route.methods) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            }
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECS));
        } else if let Some(refused) = req.headers().get(header::ORIGIN) {
            tracing::info!(origin = ?refused, path = %req.uri().path(), "CORS preflight from an origin the project does not allow");
        }
        response
    } else {
        let mut response = next.run(req).await;
        if origin.is_some() {
            response
                .headers_mut()
                .insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
        }
        response
    };
    let headers = response.headers_mut();
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    }
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: &str) -> Route {
        Route {
            segments: path.trim_start_matches('/').split('/').map(str::to_owned).collect(),
            methods: "GET".to_owned(),
            contract: &crate::contracts::native::Native,
        }
    }

    #[test]
    fn paths_match_their_templates_segment_by_segment() {
        let callback = route("/api/auth/oauth/{provider}/callback");
        assert!(callback.matches("/api/auth/oauth/google/callback"));
        for other in [
            "/api/auth/oauth//callback",
            "/api/auth/oauth/google/callback/",
            "/api/auth/oauth/google",
            "/api/auth/oauth/google/callback/x",
        ] {
            assert!(!callback.matches(other), "{other}");
        }
        let me = route("/api/auth/me");
        assert!(me.matches("/api/auth/me"));
        assert!(!me.matches("/api/auth/me/"));
        assert!(!me.matches("/api/auth"));
    }

    #[test]
    fn every_contract_route_is_known_and_administration_is_not() {
        let routes = contract_routes();
        let find = |path: &str| routes.iter().find(|r| r.matches(path));
        assert_eq!(find("/api/auth/sign-up").map(|r| r.methods.as_str()), Some("POST"));
        assert_eq!(find("/api/auth/me").map(|r| r.contract.name()), Some("native"));
        assert_eq!(find("/auth/sign-up").map(|r| r.contract.name()), Some("replyke"));
        for not_cors in ["/admin/projects", "/metrics", "/healthz", "/openapi.json", "/docs/", "/.well-known/jwks.json"]
        {
            assert!(find(not_cors).is_none(), "{not_cors}");
        }
    }
}
