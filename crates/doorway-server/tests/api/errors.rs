use serde_json::json as j;

use crate::harness::{ADMIN_TOKEN, Backend, TestApp, json, oversized};
use crate::on_both_backends;

on_both_backends!(malformed_requests_get_the_native_envelope);

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
