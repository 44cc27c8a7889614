//! Public keys and RFC 8414 metadata, per project (`/{slug}/.well-known/…`).

use axum::Json;
use axum::extract::State;
use doorway_core::keys::PublicJwk;
use serde::Serialize;

use crate::project_scope::CurrentProject;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct JwkSet {
    #[schema(value_type = Vec<Object>)]
    keys: Vec<PublicJwk>,
}

/// The project's public signing keys (Ed25519, `EdDSA`).
#[utoipa::path(get, path = "/.well-known/jwks.json", operation_id = "getJwks", tag = "discovery", responses((status = 200, body = JwkSet)))]
pub async fn jwks(State(state): State<AppState>, CurrentProject(ctx): CurrentProject) -> Json<JwkSet> {
    let now = state.services.clock.now();
    Json(JwkSet { keys: ctx.published_keys(now).map(|k| k.jwk()).collect() })
}

/// RFC 8414 authorization server metadata, limited to what Doorway serves: where the project's
/// tokens come from (`issuer`) and the keys that verify them (`jwks_uri`). Doorway has no
/// authorization or token endpoint, so `response_types_supported` and `grant_types_supported` are
/// empty. There is no `/.well-known/openid-configuration`: OpenID Connect Discovery requires an
/// `authorization_endpoint`, and publishing one Doorway does not serve would be false.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AuthorizationServerMetadata {
    /// The project's issuer (`iss` of its tokens): the base URL, plus `/{project}` for a project other than `default`.
    #[schema(format = "uri", example = "https://auth.example.com/acme")]
    issuer: String,
    /// The project's public signing keys.
    #[schema(format = "uri", example = "https://auth.example.com/acme/.well-known/jwks.json")]
    jwks_uri: String,
    /// Always empty: no authorization endpoint.
    response_types_supported: Vec<&'static str>,
    /// Always empty: no token endpoint.
    grant_types_supported: Vec<&'static str>,
    /// `EdDSA` (Ed25519): the algorithm of every token Doorway signs.
    id_token_signing_alg_values_supported: Vec<&'static str>,
}

/// Where the project's tokens come from and how to verify them (RFC 8414 metadata).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", operation_id = "getAuthorizationServerMetadata", tag = "discovery",
    responses((status = 200, body = AuthorizationServerMetadata)))]
pub async fn authorization_server_metadata(CurrentProject(ctx): CurrentProject) -> Json<AuthorizationServerMetadata> {
    Json(AuthorizationServerMetadata {
        jwks_uri: format!("{}/.well-known/jwks.json", ctx.issuer),
        issuer: ctx.issuer.clone(),
        response_types_supported: Vec::new(),
        grant_types_supported: Vec::new(),
        id_token_signing_alg_values_supported: vec!["EdDSA"],
    })
}
