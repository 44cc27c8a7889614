//! Event webhooks from the outbox, against a real receiver on loopback.

use std::collections::HashMap;

use axum::http::StatusCode;
use doorway_core::webhooks::WebhookEndpoint;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, TestApp, TestAppBuilder, json};
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver, SECRET};

on_both_backends!(
    sign_up_events_arrive_signed,
    endpoints_receive_only_their_events,
    failed_deliveries_are_retried_with_the_same_id,
    dead_deliveries_can_be_replayed,
);

/// The project's deliveries once `ready` holds for them (the receiver sees a call before the
/// worker has recorded its answer).
async fn deliveries_when(app: &TestApp, query: &str, ready: impl Fn(&Vec<Value>) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let list = json(app.admin_get(&format!("/admin/projects/default/webhooks/deliveries{query}")).await).await;
        if ready(list["data"].as_array().unwrap()) {
            return list["data"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "deliveries never became ready: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn with_webhook(builder: TestAppBuilder, receiver: &Receiver, events: &[&str]) -> TestAppBuilder {
    let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    config.settings.webhooks = vec![WebhookEndpoint {
        url: receiver.url.clone(),
        secret: SECRET.into(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
    }];
    builder.with_project_config("default", config).with_admin_token()
}

async fn sign_up_events_arrive_signed(backend: Backend) {
    let receiver = Receiver::start(Answer::Json(StatusCode::OK, j!({}))).await;
    let app = with_webhook(TestApp::builder(backend), &receiver, &[]).spawn().await;
    let created = json(app.sign_up("", "hooked@example.com", "Web Hook", Some("Hook Org")).await).await;
    let calls = receiver.wait_for_calls(3, 10).await;
    let mut types: Vec<&str> = calls.iter().map(|c| c.body["type"].as_str().unwrap()).collect();
    types.sort();
    assert_eq!(types, ["organization.created", "session.created", "user.created"]);
    for call in &calls {
        assert!(call.signature_valid, "signature verifies: {:?}", call.headers);
        assert!(call.body["timestamp"].as_str().unwrap().ends_with('Z'));
        assert!(call.body["data"].is_object());
    }
    let user_event = calls.iter().find(|c| c.body["type"] == "user.created").unwrap();
    assert_eq!(user_event.body["data"]["user"]["id"], created["data"]["user"]["id"]);
    assert_eq!(user_event.body["data"]["user"]["email"], "hooked@example.com");

    // The admin API shows them delivered (once the worker recorded the answers), with their
    // webhook-id and attempt log.
    let list = deliveries_when(&app, "?status=delivered", |rows| rows.len() == 3).await;
    let rows = list.as_array().unwrap();
    let ids: Vec<&str> = calls.iter().map(|c| c.headers["webhook-id"].to_str().unwrap()).collect();
    for row in rows {
        assert!(ids.contains(&row["id"].as_str().unwrap()));
        assert_eq!(row["log"][0]["statusCode"], 200);
        assert_eq!(row["attempts"], 1);
    }
    let text = app.admin_get("/admin/projects/default").await.text().await.unwrap();
    assert!(!text.contains(SECRET.trim_start_matches("whsec_")), "webhook secret not shown to admins: {text}");
}

async fn endpoints_receive_only_their_events(backend: Backend) {
    let receiver = Receiver::start(Answer::Json(StatusCode::OK, j!({}))).await;
    let app = with_webhook(TestApp::builder(backend), &receiver, &["session.created"]).spawn().await;
    app.sign_up("", "only@example.com", "Only Sessions", Some("Org")).await;
    let calls = receiver.wait_for_calls(1, 10).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.calls().len(), 1, "{calls:?}");
    assert_eq!(calls[0].body["type"], "session.created");
}

async fn failed_deliveries_are_retried_with_the_same_id(backend: Backend) {
    let receiver = Receiver::start(Answer::Json(StatusCode::OK, j!({}))).await;
    receiver.first_answers(vec![
        Answer::Text(StatusCode::INTERNAL_SERVER_ERROR, "down"),
        Answer::Text(StatusCode::BAD_GATEWAY, "still down"),
    ]);
    let app = with_webhook(TestApp::builder(backend), &receiver, &["user.created"]).spawn().await;
    app.sign_up("", "retry@example.com", "Re Try", None).await;
    let calls = receiver.wait_for_calls(3, 15).await;
    let ids: Vec<&str> = calls.iter().map(|c| c.headers["webhook-id"].to_str().unwrap()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "the webhook-id is stable across retries: {ids:?}");
    assert!(calls.iter().all(|c| c.raw == calls[0].raw), "the same bytes every time");

    let list = deliveries_when(&app, "", |rows| rows.first().is_some_and(|r| r["status"] == "delivered")).await;
    let row = &list[0];
    let codes: Vec<i64> = row["log"].as_array().unwrap().iter().map(|a| a["statusCode"].as_i64().unwrap()).collect();
    assert_eq!(codes, [500, 502, 200]);
    assert!(row["log"][0]["latencyMs"].is_i64());
    assert_eq!(row["log"][0]["error"], "HTTP 500");
}

async fn dead_deliveries_can_be_replayed(backend: Backend) {
    let receiver = Receiver::start(Answer::Text(StatusCode::SERVICE_UNAVAILABLE, "no")).await;
    let app = with_webhook(TestApp::builder(backend), &receiver, &["user.created"]).spawn().await;
    app.sign_up("", "dead@example.com", "Dead Letter", None).await;
    receiver.wait_for_calls(3, 15).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let dead = loop {
        let list = json(app.admin_get("/admin/projects/default/webhooks/deliveries?status=dead").await).await;
        if let Some(row) = list["data"].as_array().unwrap().first() {
            break row.clone();
        }
        assert!(std::time::Instant::now() < deadline, "the delivery never died");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(dead["attempts"], 3, "max_attempts of the test settings");
    assert_eq!(receiver.calls().len(), 3, "no attempts after death");

    receiver.answer(Answer::Json(StatusCode::OK, j!({})));
    let id = dead["id"].as_str().unwrap();
    let replay = app
        .client
        .post(app.url(&format!("/admin/projects/default/webhooks/deliveries/{id}/replay")))
        .bearer_auth(crate::harness::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 202);
    let calls = receiver.wait_for_calls(4, 10).await;
    assert_eq!(calls[3].headers["webhook-id"].to_str().unwrap(), id);
    let missing = app
        .client
        .post(app.url("/admin/projects/default/webhooks/deliveries/msg_nope/replay"))
        .bearer_auth(crate::harness::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let audit = app.state.services.store.audit(&app.project_id("default").await).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "admin.webhook.replay"));
}

/// Two instances on one PostgreSQL share the outbox: every event is delivered exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_deliver_each_event_once() {
    let receiver = Receiver::start(Answer::Json(StatusCode::OK, j!({}))).await;
    let first = with_webhook(TestApp::builder(Backend::Postgres), &receiver, &[]).spawn().await;
    let second = with_webhook(TestApp::builder(Backend::Postgres), &receiver, &[]).on_database_of(&first).spawn().await;
    let sign_ups = (0..10).map(|i| {
        let app = if i % 2 == 0 { &first } else { &second };
        async move { app.sign_up("", &format!("once{i}@example.com"), "Once Only", None).await.status().as_u16() }
    });
    assert!(futures_util::future::join_all(sign_ups).await.iter().all(|s| *s == 201));
    let calls = receiver.wait_for_calls(20, 15).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for call in receiver.calls() {
        *per_id.entry(call.headers["webhook-id"].to_str().unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(per_id.len(), 20, "10 user.created + 10 session.created: {calls:?}");
    assert!(per_id.values().all(|n| *n == 1), "each delivered once: {per_id:?}");
    let _: Value = j!(null);
}
