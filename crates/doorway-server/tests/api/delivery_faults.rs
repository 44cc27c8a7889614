//! Fault injection for deliveries: a receiver that hangs and one that fails, beside a healthy
//! one, on both engines. The healthy endpoint keeps its latency; the others hold a bounded
//! number of attempts.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use doorway_core::webhooks::WebhookEndpoint;
use doorway_server::settings::ProjectConfig;
use serde_json::json as j;

use crate::harness::{Backend, TestApp, json, unique_email};
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver, SECRET};

on_both_backends!(a_hanging_and_a_failing_endpoint_do_not_slow_a_healthy_one);

const USERS: usize = 10;

async fn a_hanging_and_a_failing_endpoint_do_not_slow_a_healthy_one(backend: Backend) {
    let healthy = Receiver::start(Answer::Json(StatusCode::OK, j!({}))).await;
    let hanging = Receiver::start(Answer::Hang(Duration::from_secs(30))).await;
    let failing = Receiver::start(Answer::Text(StatusCode::INTERNAL_SERVER_ERROR, "down")).await;
    let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    // The slow ones first, so a worker that serves endpoints in order would meet them first.
    config.settings.webhooks = [&hanging, &failing, &healthy]
        .iter()
        .map(|r| WebhookEndpoint { url: r.url.clone(), secret: SECRET.into(), events: vec!["user.created".into()] })
        .collect();
    // Attempts time out after 2 s (the harness's setting); at most 2 in flight per endpoint;
    // 3 failures in a row open an endpoint's circuit for 30 s.
    let app = TestApp::builder(backend)
        .with_project_config("default", config)
        .configure(|s| {
            s.webhook_delivery.max_in_flight_per_endpoint = 2;
            s.webhook_delivery.breaker_failures = 3;
        })
        .spawn()
        .await;

    let mut acknowledged = Vec::new();
    for i in 0..USERS {
        let response = app.sign_up("", &unique_email(&format!("fault{i}")), "Fault Test", None).await;
        assert_eq!(response.status(), 201);
        let at = Instant::now();
        let body = json(response).await;
        acknowledged.push((body["data"]["user"]["id"].as_str().unwrap().to_owned(), at));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let calls = healthy.wait_for_calls(USERS, 15).await;
    let mut worst = Duration::ZERO;
    for (user, acknowledged_at) in &acknowledged {
        let call = calls.iter().find(|c| c.body["data"]["user"]["id"] == user.as_str()).expect("delivered");
        worst = worst.max(call.at.saturating_duration_since(*acknowledged_at));
    }
    assert!(worst < Duration::from_millis(1000), "a healthy delivery took {worst:?} beside slow endpoints");

    // The failing endpoint's circuit opened after 3 failures (plus at most the other attempt
    // in flight then), instead of every delivery being tried and retried.
    let failed = failing.calls().len();
    assert!((3..=4).contains(&failed), "{failed} attempts reached the failing endpoint");
    // The hanging endpoint held at most 2 attempts at once: nothing more started before the
    // first ones timed out.
    let hung = hanging.calls();
    let first = hung.first().expect("the hanging endpoint was tried").at;
    let early = hung.iter().filter(|c| c.at < first + Duration::from_millis(1500)).count();
    assert!(early <= 2, "{early} attempts in flight at once to the hanging endpoint");
    println!(
        "measured: beside a hanging and a failing endpoint, the healthy one's slowest delivery took {worst:?}; \
         {failed} attempts reached the failing endpoint before its circuit opened"
    );
}
