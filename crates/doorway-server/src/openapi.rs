//! The OpenAPI document, assembled from the handlers' annotations. Contracts add their own
//! tags (see `contracts::routes`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Doorway", description = "Self-hosted sign-up and session server. Every route is also served under `/{project}/…` for a project other than `default`."),
    modifiers(&AdminToken),
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
