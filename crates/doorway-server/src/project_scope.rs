//! Resolves the project of a request once: `/{slug}/rest` is served as `/rest` for project
//! `slug`; a path whose first segment is one of Doorway's own routes belongs to `default`.
//! No handler parses the prefix.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::Uri;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use doorway_core::project::RESERVED_SLUGS;
use doorway_core::{ProjectContext, ProjectSlug};

use crate::contracts::{self, contract_for};
use crate::errors::ApiError;
use crate::state::AppState;

pub async fn resolve_project(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let trimmed = path.trim_start_matches('/');
    let (first, rest) = trimmed.split_once('/').map_or((trimmed, ""), |(f, r)| (f, r));
    if first.is_empty() || RESERVED_SLUGS.contains(&first) {
        if let Some(rebased) = rebased_in_default(&state, &path).await {
            set_path(&mut req, &rebased);
        }
        return next.run(req).await;
    }
    let contract = contract_for(&format!("/{rest}"));
    // `/nope` (one segment, no route under it) is more likely a mistyped route than a project.
    let unknown = |first: &str| {
        if rest.is_empty() {
            ApiError::not_found(format!(
                "No route {path} and no project named '{first}'; Doorway's routes are listed at /docs, \
                 and a project's are under /{{project}}/ (e.g. /{first}/api/auth/sign-up)"
            ))
            .into_response()
        } else {
            contract.project_not_found(first)
        }
    };
    let found = match ProjectSlug::parse(first) {
        Ok(slug) => match state.projects.get(&slug).await {
            Ok(found) => found.map(|ctx| (slug, ctx)),
            Err(e) => return contract.internal(&e),
        },
        Err(_) => None,
    };
    let Some((slug, ctx)) = found else {
        // Not a project: maybe a base path the default project gave a contract's routes.
        if let Some(rebased) = rebased_in_default(&state, &path).await {
            set_path(&mut req, &rebased);
            return next.run(req).await;
        }
        return unknown(first);
    };
    let stripped = format!("/{rest}");
    let new_path = contracts::aufy::paths::rebase(&ctx.project.settings, &stripped).unwrap_or(stripped);
    if !set_path(&mut req, &new_path) {
        return ApiError::not_found("No such route").into_response();
    }
    req.extensions_mut().insert(ctx);
    req.extensions_mut().insert(RoutePrefix(format!("/{slug}")));
    next.run(req).await
}

/// Where the default project serves `path` when one of its contract settings moved that route
/// (Aufy's base paths); looked up only for paths that may be such a route.
async fn rebased_in_default(state: &AppState, path: &str) -> Option<String> {
    if !contracts::aufy::paths::may_be_rebased(path) {
        return None;
    }
    let ctx = state.projects.get(&ProjectSlug::default_project()).await.ok()??;
    contracts::aufy::paths::rebase(&ctx.project.settings, path)
}

/// Replaces the request's path, keeping its query; false when the result is not a URI.
fn set_path(req: &mut Request, path: &str) -> bool {
    let uri = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    match uri.parse::<Uri>() {
        Ok(uri) => {
            *req.uri_mut() = uri;
            true
        }
        Err(_) => false,
    }
}

/// The path prefix the client used (`/acme`), or empty; cookie paths need it.
#[derive(Clone, Debug, Default)]
pub struct RoutePrefix(pub String);

/// The request's project: the one its prefix named, else `default`.
pub struct CurrentProject(pub Arc<ProjectContext>);

impl FromRequestParts<AppState> for CurrentProject {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(ctx) = parts.extensions.get::<Arc<ProjectContext>>() {
            return Ok(Self(ctx.clone()));
        }
        let slug = ProjectSlug::default_project();
        match state.projects.get(&slug).await {
            Ok(Some(ctx)) => Ok(Self(ctx)),
            Ok(None) => Err(ApiError::project_not_found(slug.as_str())),
            Err(e) => Err(ApiError::internal(&e)),
        }
    }
}
