//! The pre-sign-up hook, against a real receiver on loopback, through both sign-up contracts.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use doorway_core::hooks::{HooksSettings, OnFailure, PreSignupHook};
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, json};
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver, SECRET};

on_both_backends!(
    allowed_sign_up_is_signed_and_enriched,
    denial_is_403_in_each_contract_and_writes_nothing,
    hanging_hook_times_out_to_503,
    failures_follow_on_failure,
);

async fn app_with_hook(backend: Backend, receiver: &Receiver, timeout_ms: u64, on_failure: OnFailure) -> TestApp {
    let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    config.settings.hooks = HooksSettings {
        pre_signup: Some(PreSignupHook { url: receiver.url.clone(), secret: SECRET.into(), timeout_ms, on_failure }),
    };
    TestApp::builder(backend).with_project_config("default", config).spawn().await
}

fn replyke_body(email: &str) -> Value {
    j!({"email": email, "password": "longenough", "username": "hooked", "metadata": {"plan": "free"}, "secureMetadata": {"ssn": "hidden"}})
}

async fn allowed_sign_up_is_signed_and_enriched(backend: Backend) {
    let receiver = Receiver::start(Answer::Json(
        StatusCode::OK,
        j!({"allow": true, "metadata": {"tier": "gold"}, "secureMetadata": {"crm": "42"}}),
    ))
    .await;
    let app = app_with_hook(backend, &receiver, 3000, OnFailure::Reject).await;
    let response = app
        .client
        .post(app.url("/auth/sign-up"))
        .header("user-agent", "hook-test/1.0")
        .json(&replyke_body("hooked@example.com"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let user = json(response).await["user"].clone();
    assert_eq!(user["metadata"], j!({"plan": "free", "tier": "gold"}));
    let stored = app
        .state
        .services
        .store
        .user_by_id(&app.project_id("default").await, user["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secure_metadata, j!({"ssn": "hidden", "crm": "42"}));

    let calls = receiver.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert!(call.signature_valid, "Standard Webhooks signature verifies with the shared secret");
    assert!(call.headers["webhook-id"].to_str().unwrap().starts_with("msg_"));
    assert!(call.headers["webhook-signature"].to_str().unwrap().starts_with("v1,"));
    assert!(call.headers["webhook-timestamp"].to_str().unwrap().parse::<i64>().is_ok());
    assert_eq!(call.body["type"], "user.creating");
    assert_eq!(call.body["project"], "default");
    assert_eq!(call.body["method"], "password");
    assert_eq!(call.body["user"]["email"], "hooked@example.com");
    assert_eq!(call.body["user"]["username"], "hooked");
    assert_eq!(call.body["user"]["secureMetadata"], j!({"ssn": "hidden"}));
    assert_eq!(call.body["client"]["ip"], "127.0.0.1");
    assert_eq!(call.body["client"]["userAgent"], "hook-test/1.0");
    let raw = String::from_utf8_lossy(&call.raw);
    assert!(!raw.contains("longenough"), "the password never leaves: {raw}");
    assert!(call.body["user"].get("password").is_none());

    // The native contract calls the same hook.
    assert_eq!(app.sign_up("", "native@example.com", "Nat Ive", None).await.status(), 201);
    assert_eq!(receiver.calls().len(), 2);
    assert!(receiver.calls()[1].signature_valid);
}

async fn denial_is_403_in_each_contract_and_writes_nothing(backend: Backend) {
    let receiver =
        Receiver::start(Answer::Json(StatusCode::OK, j!({"allow": false, "message": "Domain not allowed"}))).await;
    let app = app_with_hook(backend, &receiver, 3000, OnFailure::Reject).await;
    let replyke = app.post_json("/auth/sign-up", &replyke_body("no@example.com")).await;
    assert_eq!(replyke.status(), 403);
    assert_eq!(json(replyke).await, j!({"error": "Domain not allowed", "code": "auth/signup-denied"}));
    let native = app.sign_up("", "no2@example.com", "No Body", None).await;
    assert_eq!(native.status(), 403);
    assert_eq!(
        json(native).await,
        j!({"success": false, "error": {"code": "SIGNUP_DENIED", "message": "Domain not allowed"}})
    );

    let project = app.project_id("default").await;
    assert!(app.state.services.store.outbox(&project).await.unwrap().is_empty(), "nothing written");
    let login = app
        .client
        .post(app.url("/api/auth/sign-in"))
        .json(&j!({"email": "no2@example.com", "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 401, "no user exists");
    let audit = app.state.services.store.audit(&project).await.unwrap();
    let denied: Vec<&str> = audit.iter().filter(|a| a.action == "signup").map(|a| a.outcome.as_str()).collect();
    assert_eq!(denied, ["denied:hook_denied", "denied:hook_denied"]);
}

async fn hanging_hook_times_out_to_503(backend: Backend) {
    let receiver = Receiver::start(Answer::Hang(Duration::from_secs(5))).await;
    let app = app_with_hook(backend, &receiver, 300, OnFailure::Reject).await;
    let started = Instant::now();
    let response = app.post_json("/auth/sign-up", &replyke_body("slow@example.com")).await;
    assert!(started.elapsed() < Duration::from_secs(4), "the timeout is honoured");
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json(response).await["code"], "auth/hook-unavailable");
    let native = app.sign_up("", "slow2@example.com", "Slow Poke", None).await;
    assert_eq!(native.status(), 503);
    assert_eq!(json(native).await["error"]["code"], "SERVICE_UNAVAILABLE");
    let project = app.project_id("default").await;
    assert!(app.state.services.store.outbox(&project).await.unwrap().is_empty());
    let audit = app.state.services.store.audit(&project).await.unwrap();
    assert!(audit.iter().all(|a| a.outcome == "denied:hook_unavailable"));
}

async fn failures_follow_on_failure(backend: Backend) {
    let receiver = Receiver::start(Answer::Text(StatusCode::INTERNAL_SERVER_ERROR, "boom")).await;
    let rejecting = app_with_hook(backend, &receiver, 3000, OnFailure::Reject).await;
    assert_eq!(rejecting.post_json("/auth/sign-up", &replyke_body("a@example.com")).await.status(), 503);
    receiver.answer(Answer::Text(StatusCode::OK, "not json"));
    assert_eq!(rejecting.post_json("/auth/sign-up", &replyke_body("b@example.com")).await.status(), 503);
    receiver.answer(Answer::Json(StatusCode::OK, j!({"allow": "maybe"})));
    assert_eq!(rejecting.post_json("/auth/sign-up", &replyke_body("c@example.com")).await.status(), 503);

    receiver.answer(Answer::Text(StatusCode::BAD_GATEWAY, "down"));
    let allowing = app_with_hook(backend, &receiver, 3000, OnFailure::Allow).await;
    let response = allowing.post_json("/auth/sign-up", &replyke_body("d@example.com")).await;
    assert_eq!(response.status(), 201, "on_failure = allow lets sign-ups through");
}
