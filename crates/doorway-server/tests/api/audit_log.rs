//! The audit log through the admin API: filters and pagination.

use serde_json::json as j;

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, json};
use crate::on_both_backends;

on_both_backends!(audit_log_records_and_filters);

async fn audit_log_records_and_filters(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    let created = json(app.sign_up("", "audited@example.com", "Audi Ted", None).await).await;
    let user_id = created["data"]["user"]["id"].as_str().unwrap().to_owned();
    app.post_json("/api/auth/sign-in", &j!({"email": "audited@example.com", "password": "Wrong#Pass1"})).await;
    app.post_json("/api/auth/sign-in", &j!({"email": "audited@example.com", "password": STRONG_PASSWORD})).await;
    app.sign_up("", "audited@example.com", "Audi Ted", None).await;
    app.admin_post("/admin/projects", &j!({"slug": "other"})).await;

    let all = json(app.admin_get("/admin/projects/default/audit").await).await;
    let actions: Vec<(&str, &str)> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["action"].as_str().unwrap(), a["outcome"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("signup", "denied:email_taken"),
            ("signin", "ok"),
            ("signin", "denied:invalid_credentials"),
            ("signup", "ok")
        ],
        "newest first"
    );
    let row = &all["data"][3];
    assert_eq!(row["userId"], user_id.as_str());
    assert_eq!(row["method"], "password");
    assert_eq!(row["ip"], "127.0.0.1");
    assert!(row["at"].as_str().unwrap().ends_with('Z'));

    let denied = json(app.admin_get("/admin/projects/default/audit?outcome=denied:invalid_credentials").await).await;
    assert_eq!(denied["data"].as_array().unwrap().len(), 1);
    let signins =
        json(app.admin_get(&format!("/admin/projects/default/audit?action=signin&user={user_id}")).await).await;
    assert_eq!(signins["data"].as_array().unwrap().len(), 2);

    // Pages of two, following the cursor.
    let page1 = json(app.admin_get("/admin/projects/default/audit?limit=2").await).await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    let cursor = page1["nextCursor"].as_str().unwrap();
    let page2 = json(app.admin_get(&format!("/admin/projects/default/audit?limit=2&cursor={cursor}")).await).await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 2);
    assert!(page2["nextCursor"].is_null());
    assert_eq!(page2["data"][1]["action"], "signup");

    let future = json(app.admin_get("/admin/projects/default/audit?since=2999-01-01T00:00:00Z").await).await;
    assert!(future["data"].as_array().unwrap().is_empty());
    let past = json(app.admin_get("/admin/projects/default/audit?until=2000-01-01T00:00:00Z").await).await;
    assert!(past["data"].as_array().unwrap().is_empty());
    let bad = app.admin_get("/admin/projects/default/audit?since=yesterday&limit=0").await;
    assert_eq!(bad.status(), 422);
    assert_eq!(json(bad).await["error"]["details"].as_array().unwrap().len(), 2);

    let other = json(app.admin_get("/admin/projects/other/audit").await).await;
    assert_eq!(other["data"][0]["action"], "admin.project.create");
    assert_eq!(app.get("/admin/projects/default/audit").await.status(), 401);
    assert_eq!(app.admin_get("/admin/projects/ghost/audit").await.status(), 404);
}
