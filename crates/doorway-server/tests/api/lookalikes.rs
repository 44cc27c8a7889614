//! Finding 11: identities that look alike. Fullwidth twins of an address or handle are the same
//! account; names with hidden or text-direction characters are refused; mixed-script names are
//! refused where the project asks for it.

use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, json};
use crate::on_both_backends;

on_both_backends!(
    fullwidth_twins_are_the_same_account,
    hidden_characters_are_refused,
    mixed_scripts_when_the_project_asks
);

async fn native(app: &TestApp, prefix: &str, email: &str, name: &str) -> reqwest::Response {
    let body = j!({"email": email, "password": STRONG_PASSWORD, "name": name});
    app.post_json(&format!("{prefix}/api/auth/sign-up"), &body).await
}

async fn replyke(app: &TestApp, prefix: &str, body: Value) -> reqwest::Response {
    app.post_json(&format!("{prefix}/auth/sign-up"), &body).await
}

async fn fullwidth_twins_are_the_same_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(native(&app, "", "kim@example.com", "Kim Plain").await.status(), 201);
    let twin = native(&app, "", "ｋim@example.com", "Kim Twin").await;
    assert_eq!(twin.status(), 409);
    assert_eq!(json(twin).await["error"]["code"], "EMAIL_EXISTS");
    let twin = replyke(&app, "", j!({"email": "ＫＩＭ@example.com", "password": STRONG_PASSWORD})).await;
    assert_eq!(twin.status(), 409);
    assert_eq!(json(twin).await["code"], "auth/email-taken");
    let signed_in =
        app.post_json("/api/auth/sign-in", &j!({"email": "ｋｉｍ@example.com", "password": STRONG_PASSWORD})).await;
    assert_eq!(signed_in.status(), 200, "the twin spelling signs in to the one account");

    let first = j!({"email": "jane@example.com", "password": STRONG_PASSWORD, "username": "janedoe"});
    assert_eq!(replyke(&app, "", first).await.status(), 201);
    let twin = j!({"email": "jane2@example.com", "password": STRONG_PASSWORD, "username": "ｊａｎｅｄｏｅ"});
    let twin = replyke(&app, "", twin).await;
    assert_eq!(twin.status(), 409);
    assert_eq!(json(twin).await["code"], "auth/username-taken");
}

async fn hidden_characters_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for name in ["Ann\u{202E}nimda", "Ad\u{200B}min", "Ann\u{2066}Smith"] {
        let response = native(&app, "", "ann@example.com", name).await;
        assert_eq!(response.status(), 422, "{name:?}");
        let body = json(response).await;
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(
            body["error"]["details"],
            j!([{"field": "name", "message": "Name must not contain invisible, control or text-direction characters"}])
        );
        let response =
            replyke(&app, "", j!({"email": "ann@example.com", "password": STRONG_PASSWORD, "name": name})).await;
        assert_eq!(response.status(), 400);
        let body = json(response).await;
        assert_eq!(body["code"], "auth/invalid-name", "{body}");
        assert_eq!(body["error"], "Name must not contain invisible, control or text-direction characters");
    }
    let response =
        replyke(&app, "", j!({"email": "ann@example.com", "password": STRONG_PASSWORD, "username": "ad\u{200B}min"}))
            .await;
    assert_eq!(json(response).await["code"], "auth/invalid-username");
    let response = app
        .bare_client()
        .post(app.url("/auth/email/signup"))
        .json(&j!({"email": "ann@example.com", "handle": "ad\u{202E}min"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = native(&app, "", "ki\u{200B}m@example.com", "Kim Hidden").await;
    assert_eq!(json(response).await["error"]["details"][0]["field"], "email");
    let project = app.project_id("default").await;
    let events = app.state.services.store.outbox(&project).await.unwrap();
    assert!(events.iter().all(|e| e.topic != "user.created"), "nothing was created");
}

async fn mixed_scripts_when_the_project_asks(backend: Backend) {
    let mut strict = ProjectConfig { name: Some("Strict".into()), ..Default::default() };
    strict.settings.names.refuse_mixed_script = true;
    let app = TestApp::builder(backend).with_project_config("strict", strict).spawn().await;
    // "Pаypal" with a Cyrillic 'а'.
    let spoof = "P\u{0430}ypal Support";
    let response = native(&app, "/strict", "spoof@example.com", spoof).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        json(response).await["error"]["details"],
        j!([{"field": "name", "message": "Name must not mix writing systems (such as Latin and Cyrillic letters)"}])
    );
    let response =
        replyke(&app, "/strict", j!({"email": "spoof@example.com", "password": STRONG_PASSWORD, "name": spoof})).await;
    assert_eq!(json(response).await["code"], "auth/invalid-name");
    for name in ["Анна Каренина", "José García", "山田 たろう"] {
        assert_eq!(native(&app, "/strict", &format!("{}@example.com", name.len()), name).await.status(), 201, "{name}");
    }
    // Off by default.
    assert_eq!(native(&app, "", "spoof@example.com", spoof).await.status(), 201);
}
