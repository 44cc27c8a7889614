//! Seed 002's rate limits: 429 with Retry-After and RateLimit-* headers in each contract's format.

use doorway_core::rate_limit::Rule;
use doorway_server::settings::ProjectConfig;
use serde_json::json as j;

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, json, manual_clock};
use crate::on_both_backends;

/// Whether the OpenAPI document lists `status` among the answers of `method path`.
async fn documents(app: &TestApp, method: &str, path: &str, status: u16) -> bool {
    let doc = json(app.get("/openapi.json").await).await;
    doc["paths"][path][method]["responses"].get(status.to_string()).is_some()
}

on_both_backends!(
    sixth_password_sign_up_from_one_ip_is_429,
    forwarded_for_counts_only_from_trusted_proxies,
    sign_in_attempts_are_limited,
    no_burst_at_a_fixed_window_boundary,
    code_guesses_are_limited_per_client_across_addresses,
);

async fn sixth_password_sign_up_from_one_ip_is_429(backend: Backend) {
    let app = TestApp::builder(backend).with_rate_limits().spawn().await;
    for i in 0..5 {
        let response = app.sign_up("", &format!("r{i}@example.com"), "Rate Limited", None).await;
        assert_eq!(response.status(), 201, "attempt {i}");
    }
    let sixth = app.sign_up("", "r5@example.com", "Rate Limited", None).await;
    assert_eq!(sixth.status(), 429);
    let retry_after: u64 = sixth.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after));
    assert_eq!(sixth.headers()["ratelimit-limit"], "5");
    assert_eq!(sixth.headers()["ratelimit-remaining"], "0");
    assert_eq!(json(sixth).await["error"]["code"], "RATE_LIMITED");
    // The Replyke route is the same password sign-up and shares the budget.
    let replyke = app.post_json("/auth/sign-up", &j!({"email": "r6@example.com", "password": "longenough"})).await;
    assert_eq!(replyke.status(), 429);
    assert!(replyke.headers().contains_key("retry-after"));
    assert_eq!(json(replyke).await["code"], "auth/too-many-requests");
    assert!(documents(&app, "post", "/api/auth/sign-up", 429).await);
    assert!(documents(&app, "post", "/auth/sign-up", 429).await);

    let audit = app.state.services.store.audit(&app.project_id("default").await).await.unwrap();
    assert_eq!(audit.iter().filter(|a| a.outcome == "denied:rate_limited").count(), 2);
}

async fn forwarded_for_counts_only_from_trusted_proxies(backend: Backend) {
    let trusting = TestApp::builder(backend)
        .with_rate_limits()
        .configure(|s| s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()])
        .spawn()
        .await;
    for i in 0..7 {
        let response = trusting
            .client
            .post(trusting.url("/api/auth/sign-up"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&j!({"email": format!("p{i}@example.com"), "password": STRONG_PASSWORD, "name": "Behind Proxy"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "each client address has its own budget");
    }
    let project = trusting.project_id("default").await;
    let audit = trusting.state.services.store.audit(&project).await.unwrap();
    assert_eq!(audit[0].ip.as_deref(), Some("198.51.100.0"), "the forwarded client is recorded");

    let untrusting = TestApp::builder(backend).with_rate_limits().spawn().await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let response = untrusting
            .client
            .post(untrusting.url("/api/auth/sign-up"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&j!({"email": format!("q{i}@example.com"), "password": STRONG_PASSWORD, "name": "Spoofer"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429], "a spoofed header from an untrusted peer is ignored");
}

async fn sign_in_attempts_are_limited(backend: Backend) {
    let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    config.settings.rate_limits.sign_in = Rule { limit: 2, window_secs: 60 };
    let app = TestApp::builder(backend).with_rate_limits().with_project_config("default", config).spawn().await;
    let body = j!({"email": "nobody@example.com", "password": "Wrong#Pass1"});
    assert_eq!(app.post_json("/api/auth/sign-in", &body).await.status(), 401);
    assert_eq!(app.post_json("/api/auth/sign-in", &body).await.status(), 401);
    let third = app.post_json("/api/auth/sign-in", &body).await;
    assert_eq!(third.status(), 429);
    assert_eq!(third.headers()["ratelimit-limit"], "2");
    assert!(documents(&app, "post", "/api/auth/sign-in", 429).await);
}

/// Each code dies after 5 wrong tries, but a client guessing across many addresses (every
/// unknown address gets a fresh decoy row) must run out too, on every route that takes a code.
async fn code_guesses_are_limited_per_client_across_addresses(backend: Backend) {
    let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    config.settings.rate_limits.code_verification = Rule { limit: 3, window_secs: 60 };
    let app = TestApp::builder(backend).with_rate_limits().with_project_config("default", config).spawn().await;
    let guess = |path: &'static str, i: usize| {
        let body = j!({"email": format!("guess{i}@example.com"), "code": "123456"});
        let app = &app;
        async move { app.post_json(path, &body).await }
    };
    for i in 0..3 {
        assert_eq!(guess("/api/auth/verify-email", i).await.status(), 400, "guess {i}");
    }
    let refused = guess("/api/auth/sign-in/email-code/verify", 3).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["ratelimit-limit"], "3");
    assert_eq!(json(refused).await["error"]["code"], "RATE_LIMITED");
    let storyden = guess("/auth/email/verify", 4).await;
    assert_eq!(storyden.status(), 429);
    assert_eq!(storyden.headers()["content-type"], "application/problem+json");
    // Every route that redeems a code or a link counts against the same budget, and says so
    // in the document.
    let verify = guess("/api/auth/verify-email", 5).await;
    assert_eq!(verify.status(), 429);
    assert_eq!(json(verify).await["error"]["code"], "RATE_LIMITED");
    let link = app.post_json("/api/auth/sign-in/email-link", &j!({"token": "not-a-real-link-token"})).await;
    assert_eq!(link.status(), 429);
    assert_eq!(json(link).await["error"]["code"], "RATE_LIMITED");
    for path in [
        "/api/auth/verify-email",
        "/api/auth/sign-in/email-code/verify",
        "/api/auth/sign-in/email-link",
        "/auth/email/verify",
    ] {
        assert!(documents(&app, "post", path, 429).await, "{path}");
    }
}

/// A fixed window let 5 sign-ups through just before the top of the hour and 5 more just after
/// it (10 in minutes under "5 per hour"). GCRA lets the 5 through at once, then one every 12
/// minutes.
async fn no_burst_at_a_fixed_window_boundary(backend: Backend) {
    let clock = manual_clock();
    // One minute before the top of an hour (manual_clock starts on one).
    clock.advance_seconds(3600 - 60);
    let app = TestApp::builder(backend).with_rate_limits().with_manual_clock(clock.clone()).spawn().await;
    for i in 0..5 {
        assert_eq!(app.sign_up("", &format!("b{i}@example.com"), "Bursty", None).await.status(), 201, "attempt {i}");
    }
    // Just past the boundary where a fixed window would have reset.
    clock.advance_seconds(61);
    let sixth = app.sign_up("", "b5@example.com", "Bursty", None).await;
    assert_eq!(sixth.status(), 429);
    assert_eq!(sixth.headers()["retry-after"], (12 * 60 - 61).to_string());
    assert_eq!(sixth.headers()["ratelimit-limit"], "5");
    assert_eq!(sixth.headers()["ratelimit-remaining"], "0");
    assert_eq!(sixth.headers()["ratelimit-reset"], (12 * 60 - 61).to_string());
    // The Replyke route shares the rule and reports the same wait in its own format.
    clock.advance_seconds(60);
    let replyke = app.post_json("/auth/sign-up", &j!({"email": "b5@example.com", "password": "longenough"})).await;
    assert_eq!(replyke.status(), 429);
    assert_eq!(replyke.headers()["retry-after"], (12 * 60 - 121).to_string());
    assert_eq!(replyke.headers()["ratelimit-reset"], (12 * 60 - 121).to_string());
    assert_eq!(replyke.headers()["ratelimit-remaining"], "0");
    assert_eq!(json(replyke).await["code"], "auth/too-many-requests");
    // Refusals cost nothing: 12 minutes after the burst one more goes through, and only one.
    clock.advance_seconds(12 * 60 - 121);
    assert_eq!(app.sign_up("", "b6@example.com", "Bursty", None).await.status(), 201);
    assert_eq!(app.sign_up("", "b7@example.com", "Bursty", None).await.status(), 429);
}

/// Two instances on one PostgreSQL enforce one shared limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_limit_is_shared_across_instances() {
    let first = TestApp::builder(Backend::Postgres).with_rate_limits().spawn().await;
    let second = TestApp::builder(Backend::Postgres).with_rate_limits().on_database_of(&first).spawn().await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { &first } else { &second };
        statuses.push(app.sign_up("", &format!("s{i}@example.com"), "Shared Limit", None).await.status().as_u16());
    }
    assert_eq!(statuses, [201, 201, 201, 201, 201, 429]);
}
