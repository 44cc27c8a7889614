//! Common and leaked passwords are refused by every contract's sign-up, each in its own error
//! format; the NIST preset takes length over composition.

use doorway_server::settings::ProjectConfig;
use serde_json::json as j;

use crate::harness::{Backend, TestApp, json, unique_email};
use crate::on_both_backends;

on_both_backends!(
    every_contract_refuses_common_passwords,
    nist_preset_takes_passphrases,
    the_check_can_be_switched_off
);

const TOO_COMMON: &str = "Password is too common: it appears in lists of leaked passwords";

async fn every_contract_refuses_common_passwords(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Native: `Password1!` meets the seed's composition rule and is still refused.
    for password in ["Password1!", "P@ssw0rd1", "Password123!"] {
        let response = app
            .post_json(
                "/api/auth/sign-up",
                &j!({"email": unique_email("n"), "password": password, "name": "Nat Native"}),
            )
            .await;
        assert_eq!(response.status(), 422, "{password}");
        let body = json(response).await;
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"], j!([{"field": "password", "message": TOO_COMMON}]), "{password}");
    }
    // Replyke (no composition rule by default).
    for password in ["password123", "iloveyou", "Qwerty123"] {
        let response = app.post_json("/auth/sign-up", &j!({"email": unique_email("r"), "password": password})).await;
        assert_eq!(response.status(), 400, "{password}");
        let body = json(response).await;
        assert_eq!(body["code"], "auth/invalid-password");
        assert_eq!(
            body["details"],
            j!([{"field": "password", "code": "auth/invalid-password", "message": TOO_COMMON}])
        );
    }
    // Storyden.
    let response = app
        .bare_client()
        .post(app.url("/auth/email/signup"))
        .json(&j!({"email": unique_email("s"), "password": "password123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert_eq!(json(response).await["errors"], j!([TOO_COMMON]));
    let project = app.project_id("default").await;
    let created = app.state.services.store.outbox(&project).await.unwrap();
    assert!(created.iter().all(|e| e.topic != "user.created"), "nothing was created");
}

fn policy(keys: serde_json::Value) -> ProjectConfig {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.password_policy = serde_json::from_value(keys).unwrap();
    config
}

async fn sign_up(app: &TestApp, password: &str) -> reqwest::Response {
    let body = j!({"email": unique_email("p"), "password": password, "name": "Pat Phrase"});
    app.post_json("/acme/api/auth/sign-up", &body).await
}

async fn nist_preset_takes_passphrases(backend: Backend) {
    let app = TestApp::builder(backend).with_project_config("acme", policy(j!({"preset": "nist"}))).spawn().await;
    assert_eq!(sign_up(&app, "correct horse battery staple").await.status(), 201, "no composition rule");
    assert_eq!(sign_up(&app, &"long passphrase ".repeat(6)).await.status(), 201, "more than 64 characters");
    assert_eq!(sign_up(&app, "password123").await.status(), 422);
    let short = json(sign_up(&app, "tiny").await).await;
    assert_eq!(short["error"]["details"][0]["message"], "Password must be at least 8 characters");
}

async fn the_check_can_be_switched_off(backend: Backend) {
    let app = TestApp::builder(backend).with_project_config("acme", policy(j!({"refuse_common": false}))).spawn().await;
    assert_eq!(sign_up(&app, "Password1!").await.status(), 201);
}
