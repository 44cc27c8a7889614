//! Public keys and RFC 8414 metadata, per project (`/{slug}/.well-known/…`).

use axum::Json;
use axum::extract::State;
use doorway_core::keys::PublicJwk;
use serde::Serialize;

use crate::project_scope::CurrentProject;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct JwkSet {
    /// The current key first, then keys rotated out whose tokens may still be live.
    #[schema(value_type = Vec<JwkDoc>)]
    keys: Vec<PublicJwk>,
}

/// One public key (RFC 8037: an Ed25519 octet key pair), as `PublicJwk` serializes it.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
#[schema(as = Jwk)]
struct JwkDoc {
    #[schema(pattern = "^OKP$", example = "OKP")]
    kty: String,
    #[schema(pattern = "^Ed25519$", example = "Ed25519")]
    crv: String,
    #[schema(pattern = "^EdDSA$", example = "EdDSA")]
    alg: String,
    #[schema(rename = "use", pattern = "^sig$", example = "sig")]
    key_use: String,
    /// The key id, the `kid` header of the tokens it signed.
    /// A shortened RFC 7638 thumbprint: 16 bytes, base64url.
    #[schema(pattern = "^[A-Za-z0-9_-]{22}$", example = "q8C1n0bq0y3hXg3tQk7f2w")]
    kid: String,
    /// The public key, base64url without padding (32 bytes).
    #[schema(pattern = "^[A-Za-z0-9_-]{43}$", example = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")]
    x: String,
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
