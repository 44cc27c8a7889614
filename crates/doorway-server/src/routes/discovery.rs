//! Public keys and OIDC-style discovery, per project (`/{slug}/.well-known/…`).

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
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery", responses((status = 200, body = JwkSet)))]
pub async fn jwks(State(state): State<AppState>, CurrentProject(ctx): CurrentProject) -> Json<JwkSet> {
    let now = state.services.clock.now();
    Json(JwkSet { keys: ctx.published_keys(now).map(|k| k.jwk()).collect() })
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OpenIdConfiguration {
    issuer: String,
    jwks_uri: String,
    subject_types_supported: Vec<&'static str>,
    id_token_signing_alg_values_supported: Vec<&'static str>,
    token_endpoint_auth_methods_supported: Vec<&'static str>,
    claims_supported: Vec<&'static str>,
}

/// Where the project's tokens come from and how to verify them.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery", responses((status = 200, body = OpenIdConfiguration)))]
pub async fn openid_configuration(CurrentProject(ctx): CurrentProject) -> Json<OpenIdConfiguration> {
    Json(OpenIdConfiguration {
        jwks_uri: format!("{}/.well-known/jwks.json", ctx.issuer),
        issuer: ctx.issuer.clone(),
        subject_types_supported: vec!["public"],
        id_token_signing_alg_values_supported: vec!["EdDSA"],
        token_endpoint_auth_methods_supported: vec!["none"],
        claims_supported: vec!["iss", "sub", "aud", "exp", "iat", "sid", "amr"],
    })
}
