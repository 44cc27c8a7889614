use serde_json::json as j;

use crate::harness::{ADMIN_TOKEN, Backend, OVERSIZED_BYTES, TestApp, json, oversized};
use crate::on_both_backends;

on_both_backends!(malformed_requests_get_the_native_envelope, oversized_bodies_answer_in_each_contracts_format);

async fn malformed_requests_get_the_native_envelope(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(app.url("/admin/projects"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(u16, &str, reqwest::Response)> = vec![
        (404, "NOT_FOUND", app.get("/api/does-not-exist").await),
        (405, "METHOD_NOT_ALLOWED", app.client.delete(app.url("/healthz")).send().await.unwrap()),
        (415, "UNSUPPORTED_MEDIA_TYPE", post(br#"{"slug":"a"}"#.to_vec(), "text/plain").await.unwrap()),
        (400, "INVALID_JSON", post(b"{\"slug\": ".to_vec(), "application/json").await.unwrap()),
        (400, "INVALID_JSON", post(Vec::new(), "application/json").await.unwrap()),
        (422, "VALIDATION_ERROR", post(b"[1,2]".to_vec(), "application/json").await.unwrap()),
        (422, "VALIDATION_ERROR", post(br#"{"slug": 5}"#.to_vec(), "application/json").await.unwrap()),
        (413, "PAYLOAD_TOO_LARGE", oversized(&app, "/admin/projects").await),
    ];
    for (status, code, response) in cases {
        assert_eq!(response.status().as_u16(), status, "{code}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let body = json(response).await;
        assert_eq!(body["success"], false, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let typed = json(post(br#"{"slug": 5}"#.to_vec(), "application/json").await.unwrap()).await;
    assert_eq!(typed["error"]["details"][0]["field"], "slug", "{typed}");
    // None of the refused bodies created anything.
    let list = json(app.admin_get("/admin/projects").await).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    let _ = j!(null);
}

/// Every contract's 413 (and the routes that read raw bytes or forms) in its own format, never
/// axum's plain text.
async fn oversized_bodies_answer_in_each_contracts_format(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    for path in ["/api/auth/sign-up", "/api/auth/refresh", "/api/v1/auth/oauth/signup", "/api/auth/verify-email"] {
        let response = oversized(&app, path).await;
        assert_eq!(response.status(), 413, "{path}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"), "{path}");
        assert_eq!(json(response).await["error"]["code"], "PAYLOAD_TOO_LARGE", "{path}");
    }
    let replyke = oversized(&app, "/auth/sign-up").await;
    assert_eq!(replyke.status(), 413);
    assert_eq!(json(replyke).await["code"], "auth/payload-too-large");
    for path in ["/auth/email/signup", "/auth/email/verify"] {
        let response = oversized(&app, path).await;
        assert_eq!(response.status(), 413, "{path}");
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{path}");
        assert_eq!(json(response).await["status"], 413, "{path}");
    }
    // A form too large for a confirmation page's POST.
    let form = app
        .bare_client()
        .post(app.url("/api/auth/sign-in/email-link"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", "x".repeat(OVERSIZED_BYTES)))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 413);
    assert_eq!(json(form).await["error"]["code"], "PAYLOAD_TOO_LARGE");
    // A non-JSON body on a JSON route, and a bad query string, are never plain text either.
    let text = app
        .bare_client()
        .post(app.url("/api/auth/sign-in/email-link"))
        .header("content-type", "text/plain")
        .body("token=x")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    assert_eq!(json(text).await["error"]["code"], "UNSUPPORTED_MEDIA_TYPE");
    let query = app.admin_get("/admin/projects/default/audit?limit=many").await;
    assert_eq!(query.status(), 400);
    assert_eq!(json(query).await["error"]["code"], "INVALID_REQUEST");
}
