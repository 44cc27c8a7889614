//! The OpenAPI document, assembled from the handlers' annotations. Contracts add their own
//! tags (see `contracts::routes`).

use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::{ServerBuilder, ServerVariableBuilder};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, ResponseBuilder, Type};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Doorway", description = "Self-hosted sign-up and session server.\n\n\
Every route except `/admin/…`, `/healthz`, `/readyz`, `/metrics`, `/openapi.json` and `/docs/` is also served under \
`/{project}/…` for a project other than `default` (the second server entry, with its `project` variable).\n\n\
Discovery: each project publishes its signing keys at `/.well-known/jwks.json` and RFC 8414 authorization server \
metadata (`issuer`, `jwks_uri`) at `/.well-known/oauth-authorization-server`. Doorway has no authorization or token \
endpoint, so it publishes no `/.well-known/openid-configuration`: OpenID Connect Discovery requires \
`authorization_endpoint` and `response_types_supported`, and an incomplete document would be invalid.\n\n\
Errors come in the owning contract's format: `{success: false, error: {code, message, details?}}` for the native \
API and administration, and each compatible contract's own format for its routes."),
    modifiers(&AdminToken, &ServersAndDocs),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "discovery", description = "Signing keys and issuer metadata"),
        (name = "admin", description = "Administration (Bearer admin_token)"),
    )
)]
pub struct ApiDoc;

struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

/// The per-project servers and the two routes the document itself is served on.
struct ServersAndDocs;

impl Modify for ServersAndDocs {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.servers = Some(vec![
            ServerBuilder::new().url("/").description(Some("The `default` project (and administration)")).build(),
            ServerBuilder::new()
                .url("/{project}")
                .description(Some("Any project, by slug"))
                .parameter(
                    "project",
                    ServerVariableBuilder::new().default_value("default").description(Some("The project's slug")),
                )
                .build(),
        ]);
        let document = OperationBuilder::new()
            .operation_id(Some("getOpenApiDocument"))
            .tag("operations")
            .summary(Some("This OpenAPI document"))
            .response(
                "200",
                ResponseBuilder::new().description("The OpenAPI 3.1 document").content(
                    "application/json",
                    ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::Object))).build(),
                ),
            )
            .build();
        let docs = OperationBuilder::new()
            .operation_id(Some("getDocsPage"))
            .tag("operations")
            .summary(Some("Interactive documentation (Swagger UI, served offline)"))
            .response(
                "200",
                ResponseBuilder::new().description("The documentation page").content(
                    "text/html",
                    ContentBuilder::new().schema(Some(ObjectBuilder::new().schema_type(Type::String))).build(),
                ),
            )
            .build();
        openapi.paths.paths.insert("/openapi.json".into(), PathItem::new(HttpMethod::Get, document));
        openapi.paths.paths.insert("/docs/".into(), PathItem::new(HttpMethod::Get, docs));
    }
}
