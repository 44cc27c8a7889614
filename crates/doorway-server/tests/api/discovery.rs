use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

use crate::harness::{Backend, TestApp, json};
use crate::on_both_backends;

on_both_backends!(jwks_verifies_a_token_signed_with_the_project_key, discovery_names_issuer_and_jwks_per_project);

#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
}

async fn jwks_verifies_a_token_signed_with_the_project_key(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), 200);
    let raw = json(response).await;
    for key in raw["keys"].as_array().unwrap() {
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert!(key.get("d").is_none(), "private part published: {key}");
        assert!(key["kid"].as_str().is_some_and(|k| !k.is_empty()));
    }
    let set: JwkSet = serde_json::from_value(raw).unwrap();

    // Sign with the key the server stored for the default project.
    let project =
        app.state.services.store.project_by_slug(&doorway_core::ProjectSlug::default_project()).await.unwrap().unwrap();
    let keys = app.state.services.store.project_keys(&project.id).await.unwrap();
    let claims = Claims { iss: app.address.clone(), sub: "usr_test".into(), exp: 4_000_000_000 };
    let token = keys[0].sign(&claims).unwrap();

    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let jwk = set.find(&kid).expect("token's kid is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[&app.address]);
    let verified = jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_jwk(jwk).unwrap(), &validation).unwrap();
    assert_eq!(verified.claims.sub, "usr_test");

    // A token signed by another project's key does not verify against this set.
    let other = doorway_core::keys::ProjectKey::generate(doorway_core::Timestamp::from_millis(0));
    let forged = other.sign(&claims).unwrap();
    assert!(set.find(&jsonwebtoken::decode_header(&forged).unwrap().kid.unwrap()).is_none());
    assert!(jsonwebtoken::decode::<Claims>(&forged, &DecodingKey::from_jwk(jwk).unwrap(), &validation).is_err());
}

async fn discovery_names_issuer_and_jwks_per_project(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let response = app.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(response.status(), 200);
    let default = json(response).await;
    assert_eq!(default["issuer"], app.address);
    assert_eq!(default["jwks_uri"], format!("{}/.well-known/jwks.json", app.address));
    assert_eq!(default["id_token_signing_alg_values_supported"][0], "EdDSA");
    // Only what is served: no authorization or token endpoint, so no OpenID Connect document.
    assert_eq!(default["response_types_supported"], serde_json::json!([]));
    assert!(default.get("authorization_endpoint").is_none());
    assert_eq!(app.get("/.well-known/openid-configuration").await.status(), 404);

    let acme = json(app.get("/acme/.well-known/oauth-authorization-server").await).await;
    assert_eq!(acme["issuer"], format!("{}/acme", app.address));
    assert_eq!(acme["jwks_uri"], format!("{}/acme/.well-known/jwks.json", app.address));

    // The advertised jwks_uri serves that project's own keys.
    let acme_keys = json(app.client.get(acme["jwks_uri"].as_str().unwrap()).send().await.unwrap()).await;
    let default_keys = json(app.get("/.well-known/jwks.json").await).await;
    assert_ne!(acme_keys["keys"][0]["kid"], default_keys["keys"][0]["kid"]);
}
