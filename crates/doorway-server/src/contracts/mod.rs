//! Wire contracts: each parses its requests into core commands and renders outcomes in its
//! own format. No flow logic lives here.
//!
//! A contract is one module exporting one [`ContractAdapter`]: its routes (with their OpenAPI
//! paths), which paths are its own, and how it renders an error raised before one of its
//! handlers ran (unknown project, 404/405/413/415, the cross-site guard, axum's rejections).
//! The server mounts [`CONTRACTS`]; adding a contract is a new module plus one line there:
//!
//! 1. `contracts/acme.rs` (or `contracts/acme/` when it needs several files): its handlers with
//!    `#[utoipa::path(..., tag = "acme")]`, using `common` for bodies, fields, cookies and
//!    tokens, and `telemetry::record_signup("acme", method, outcome)` in its sign-up handler;
//!    its error mappings match every variant of the flow errors it handles.
//! 2. `pub struct Acme;` and `impl ContractAdapter for Acme` in that module: `name` (the key
//!    of `projects.<slug>.contracts.acme.enabled`), `tag`, `routes`, `owns`, `refuse` (and
//!    `project_not_found`/`internal` when its format needs more than a status and a message),
//!    and `settings_check` when it reads `projects.<slug>.acme` (a type implementing
//!    `common::settings::ContractSettings`).
//! 3. `pub mod acme;` below, and `&acme::Acme` in [`CONTRACTS`].

pub mod aufy;
pub mod common;
pub mod native;
pub mod replyke;
pub mod rivergen;
pub mod storyden;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use doorway_core::{ProjectContext, ProjectSlug};
use utoipa_axum::router::OpenApiRouter;

use crate::errors::{ApiError, INTERNAL_MESSAGE, route_not_found};
use crate::state::AppState;

/// A contract's settings key and the check of a project's settings for it.
pub type SettingsCheck = (&'static str, fn(&doorway_core::ProjectSettings) -> Vec<(String, String)>);

/// One wire contract, as the server sees it.
pub trait ContractAdapter: Sync {
    /// Its name in `projects.<slug>.contracts.<name>.enabled` and in the `contract` label of
    /// metrics.
    fn name(&self) -> &'static str;

    /// Its OpenAPI tag: name (the `tag` of its utoipa paths) and description.
    fn tag(&self) -> (&'static str, &'static str);

    /// Its routes, each with its utoipa path (the OpenAPI document is built from them).
    fn routes(&self) -> OpenApiRouter<AppState>;

    /// Whether a path (with the project prefix already stripped) is one of its own.
    fn owns(&self, path: &str) -> bool;

    /// A refusal raised before its handlers ran, in its format. `code` is the native code, for
    /// contracts that have codes of their own to map it to.
    fn refuse(&self, status: StatusCode, code: &'static str, message: String) -> Response;

    /// The prefix named no project.
    fn project_not_found(&self, slug: &str) -> Response {
        self.refuse(StatusCode::NOT_FOUND, "PROJECT_NOT_FOUND", format!("No project named '{slug}'"))
    }

    /// Its own settings, if it has any: their key under `projects.<slug>` and their check
    /// (see `common::settings::ContractSettings`).
    fn settings_check(&self) -> Option<SettingsCheck> {
        None
    }

    /// An unexpected failure before its handlers ran: the cause goes to the log (at the edge),
    /// never to the client. A storage outage is a 503 with `Retry-After`.
    fn internal(&self, cause: &dyn crate::errors::Cause) -> Response {
        let response = match crate::errors::storage_outage(cause) {
            Some(outage) => {
                let mut response =
                    self.refuse(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", outage.message().to_owned());
                crate::errors::set_retry_headers(&mut response, Some(outage.retry_after_secs()), None);
                response
            }
            None => self.refuse(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", INTERNAL_MESSAGE.to_owned()),
        };
        crate::errors::with_cause(response, cause)
    }
}

/// Every contract the server mounts. A path no contract owns answers in the native format.
pub const CONTRACTS: &[&dyn ContractAdapter] =
    &[&native::Native, &replyke::Replyke, &storyden::Storyden, &rivergen::Rivergen, &aufy::Aufy, &crate::ui::Pages];

/// The contract that owns a (prefix-stripped) path: its errors come in that contract's format.
pub fn contract_for(path: &str) -> &'static dyn ContractAdapter {
    CONTRACTS.iter().copied().find(|c| c.owns(path)).unwrap_or(&native::Native)
}

/// Every contract's routes, merged (the OpenAPI document with them and their tags).
pub fn routes() -> OpenApiRouter<AppState> {
    CONTRACTS.iter().fold(OpenApiRouter::new(), |router, contract| {
        let (name, description) = contract.tag();
        let mut routes = contract.routes();
        let tag = utoipa::openapi::tag::TagBuilder::new().name(name).description(Some(description)).build();
        routes.get_openapi_mut().tags.get_or_insert_with(Vec::new).push(tag);
        router.merge(routes)
    })
}

/// A contract switched off for the request's project (`contracts.<name>.enabled = false`)
/// answers like a route that does not exist: 404 `NOT_FOUND` in the native format, the answer
/// of every unknown route.
pub async fn refuse_disabled(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(contract) = CONTRACTS.iter().copied().find(|c| c.owns(req.uri().path())) else {
        return next.run(req).await;
    };
    let ctx: Arc<ProjectContext> = match req.extensions().get::<Arc<ProjectContext>>() {
        Some(ctx) => ctx.clone(),
        None => match state.projects.get(&ProjectSlug::default_project()).await {
            Ok(Some(ctx)) => ctx,
            Ok(None) => return next.run(req).await,
            Err(e) => return contract.internal(&e),
        },
    };
    if ctx.project.settings.contract_enabled(contract.name()) {
        next.run(req).await
    } else {
        route_not_found(req.uri().clone()).await
    }
}

/// The native refusal, for contracts whose errors use the native envelope.
pub(crate) fn native_refusal(status: StatusCode, code: &'static str, message: String) -> Response {
    ApiError::new(status, code, message).into_response()
}

/// Problems of a project's settings that only the contracts can see, as `(key, message)`
/// pairs: `contracts.<name>` switches that name no contract, keys that no contract claims, and
/// each contract's own settings.
pub fn settings_problems(settings: &doorway_core::ProjectSettings) -> Vec<(String, String)> {
    let known: Vec<&str> = CONTRACTS.iter().map(|c| c.name()).collect();
    let mut out: Vec<(String, String)> = settings
        .contracts
        .keys()
        .filter(|name| !known.contains(&name.as_str()))
        .map(|name| (format!("contracts.{name}"), format!("is not a contract; known: {}", known.join(", "))))
        .collect();
    let checks: Vec<SettingsCheck> = CONTRACTS.iter().filter_map(|c| c.settings_check()).collect();
    for key in settings.contract_settings.keys() {
        if !checks.iter().any(|(k, _)| k == key) {
            out.push((key.clone(), format!("unknown key '{key}': not a project setting")));
        }
    }
    for (key, check) in checks {
        if settings.contract_settings.contains_key(key) {
            out.extend(check(settings));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use doorway_core::StoreError;
    use doorway_core::error::Unexpected;
    use doorway_core::store::Outage;

    use super::*;

    async fn body(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn outage(outage: Outage) -> Unexpected {
        Unexpected::from(StoreError::unavailable(outage, std::io::Error::other("connection refused")))
    }

    /// A storage outage is 503 with `Retry-After` in every contract's own format, raised before
    /// a handler ran (`ContractAdapter::internal`) or by one (each format's `internal`); any
    /// other failure stays 500. Nothing of the cause reaches the client.
    #[tokio::test]
    async fn storage_outages_are_503_with_retry_after_in_every_format() {
        for contract in CONTRACTS {
            let response = contract.internal(&outage(Outage::Unreachable));
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{}", contract.name());
            assert_eq!(response.headers()["retry-after"], "5", "{}", contract.name());
            let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            assert!(!text.contains("connection refused"), "{text}");
            let broken = contract.internal(&Unexpected::new(std::io::Error::other("bug")));
            assert_eq!(broken.status(), StatusCode::INTERNAL_SERVER_ERROR, "{}", contract.name());
        }

        let native = ApiError::internal(&outage(Outage::Full)).into_response();
        assert_eq!(
            (native.status(), &native.headers()["retry-after"]),
            (StatusCode::SERVICE_UNAVAILABLE, &"30".parse().unwrap())
        );
        let native = body(native).await;
        assert_eq!(native["error"]["code"], "SERVICE_UNAVAILABLE");
        assert_eq!(native["error"]["message"], Outage::Full.message());

        let replyke = replyke::ReplykeError::internal(&outage(Outage::Unreachable)).into_response();
        assert_eq!(replyke.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(replyke.headers().contains_key("retry-after"));
        let replyke = body(replyke).await;
        assert_eq!(
            replyke,
            serde_json::json!({"error": Outage::Unreachable.message(), "code": "auth/service-unavailable"})
        );

        let problem = common::problem::Problem::internal(&StoreError::unavailable(
            Outage::Unreachable,
            std::io::Error::other("timed out"),
        ))
        .into_response();
        assert_eq!(problem.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(problem.headers()["content-type"], "application/problem+json");
        assert!(problem.headers().contains_key("retry-after"));
        assert_eq!(body(problem).await["status"], 503);
    }
}
