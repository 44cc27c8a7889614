use crate::harness::{Backend, TestApp, json};
use crate::on_both_backends;

on_both_backends!(
    health_and_readiness,
    every_response_has_a_request_id,
    metrics_count_requests,
    metrics_need_the_admin_token_or_their_own_listener,
);

async fn health_and_readiness(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
    assert_eq!(json(health).await["status"], "ok");

    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body = json(ready).await;
    assert_eq!(body["status"], "ok");
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(body["database"], expected);
}

async fn every_response_has_a_request_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/healthz", "/no/such/route", "/api/missing"] {
        let response = app.get(path).await;
        let id = response.headers().get("x-request-id").unwrap_or_else(|| panic!("no x-request-id on {path}"));
        assert!(!id.is_empty());
    }
    // A caller's id is kept, so logs can be joined across services.
    let response = app.client.get(app.url("/healthz")).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

async fn metrics_count_requests(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    app.get("/healthz").await;
    let response = app.admin_get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = response.text().await.unwrap();
    assert!(text.contains("doorway_http_requests_total"), "{text}");
    assert!(text.contains("doorway_http_request_duration_seconds"), "{text}");
}

async fn metrics_need_the_admin_token_or_their_own_listener(backend: Backend) {
    // No admin token configured: the main port does not serve metrics at all.
    let closed = TestApp::spawn(backend).await;
    let response = closed.get("/metrics").await;
    assert_eq!(response.status(), 403);
    assert_eq!(json(response).await["error"]["code"], "ADMIN_DISABLED");
    assert_eq!(closed.get("/acme/metrics").await.status(), 404);

    let app = TestApp::builder(backend)
        .with_admin_token()
        .configure(|s| s.metrics_listen = Some("127.0.0.1:0".parse().unwrap()))
        .spawn()
        .await;
    let anonymous = app.get("/metrics").await;
    assert_eq!(anonymous.status(), 401);
    assert_eq!(json(anonymous).await["error"]["code"], "UNAUTHORIZED");
    let wrong = app.client.get(app.url("/metrics")).bearer_auth("not-the-token-at-all").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(app.admin_get("/metrics").await.status(), 200);

    // The metrics listener serves /metrics without authentication, and nothing else.
    let metrics = app.metrics_address.clone().expect("metrics_listen bound");
    assert_ne!(metrics, app.address);
    let scraped = app.bare_client().get(format!("{metrics}/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    assert_eq!(scraped.headers()["x-content-type-options"], "nosniff");
    assert!(scraped.text().await.unwrap().contains("doorway_http_requests_total"));
    for path in ["/api/auth/me", "/admin/projects", "/healthz"] {
        let response = app
            .bare_client()
            .get(format!("{metrics}{path}"))
            .bearer_auth(crate::harness::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}

#[tokio::test]
async fn openapi_document_and_offline_docs_page() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let doc = json(app.get("/openapi.json").await).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
        "/admin/projects",
        "/admin/projects/{slug}",
        "/admin/projects/{slug}/users/{user_id}",
        "/admin/projects/{slug}/audit",
        "/admin/projects/{slug}/webhooks/deliveries",
        "/admin/projects/{slug}/webhooks/deliveries/{id}/replay",
        "/api/auth/sign-up",
        "/api/auth/sign-in",
        "/api/auth/refresh",
        "/api/auth/sign-out",
        "/api/auth/me",
        "/api/auth/verify-email",
        "/api/auth/verify-email/resend",
        "/api/auth/sign-in/email-code",
        "/api/auth/sign-in/email-code/verify",
        "/api/auth/sign-in/email-link",
        "/api/auth/oauth/{provider}/callback",
        "/api/v1/auth/oauth/signup",
        "/auth/sign-up",
        "/auth/email/signup",
        "/auth/email/verify",
        "/auth/external/challenge/{provider}",
        "/auth/external/callback/{provider}",
        "/auth/signup/external",
        "/auth/signin/external",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
    let page = app.get("/docs/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // The page's assets are served by Doorway itself, not fetched from a CDN.
    assert!(!html.contains("cdn.") && !html.contains("unpkg"), "{html}");
    let init = app.get("/docs/swagger-initializer.js").await;
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("/openapi.json"));
    assert_eq!(app.get("/docs/swagger-ui-bundle.js").await.status(), 200);
}
