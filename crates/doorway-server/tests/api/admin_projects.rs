use serde_json::json as j;

use crate::harness::{ADMIN_TOKEN, Backend, TestApp, json};
use crate::on_both_backends;

on_both_backends!(
    admin_reads_a_user_with_secure_metadata,
    admin_api_is_off_without_a_token,
    admin_api_requires_the_bearer_token,
    create_list_and_read_projects,
    creation_refuses_bad_and_taken_slugs
);

async fn admin_api_is_off_without_a_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.client.get(app.url("/admin/projects")).bearer_auth("anything").send().await.unwrap();
    assert_eq!(response.status(), 403);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "ADMIN_DISABLED");
    assert!(body["error"]["message"].as_str().unwrap().contains("admin_token"));
}

async fn admin_api_requires_the_bearer_token(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    let none = app.get("/admin/projects").await;
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
    assert_eq!(json(none).await["error"]["code"], "UNAUTHORIZED");
    let wrong = app.client.get(app.url("/admin/projects")).bearer_auth(format!("{ADMIN_TOKEN}x")).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let basic = app.client.get(app.url("/admin/projects")).basic_auth("admin", Some(ADMIN_TOKEN)).send().await.unwrap();
    assert_eq!(basic.status(), 401);
    let create = app.client.post(app.url("/admin/projects")).json(&j!({"slug": "x"})).send().await.unwrap();
    assert_eq!(create.status(), 401);
}

async fn create_list_and_read_projects(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    let response = app
        .admin_post(
            "/admin/projects",
            &j!({"slug": "acme", "name": "Acme Inc", "settings": {"access_token_ttl_secs": 600}}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created = json(response).await;
    assert_eq!(created["success"], true);
    let project = &created["data"];
    assert!(project["id"].as_str().unwrap().starts_with("prj_"));
    assert_eq!(project["slug"], "acme");
    assert_eq!(project["name"], "Acme Inc");
    assert_eq!(project["settings"]["access_token_ttl_secs"], 600);
    assert_eq!(project["issuer"], format!("{}/acme", app.address));
    assert!(project["createdAt"].as_str().unwrap().ends_with('Z'));

    // Served at once under its prefix, with its own key.
    let keys = json(app.get("/acme/.well-known/jwks.json").await).await;
    assert_eq!(keys["keys"].as_array().unwrap().len(), 1);

    let list = json(app.admin_get("/admin/projects").await).await;
    let slugs: Vec<&str> = list["data"].as_array().unwrap().iter().map(|p| p["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["acme", "default"]);

    let one = app.admin_get("/admin/projects/acme").await;
    assert_eq!(one.status(), 200);
    assert_eq!(json(one).await["data"]["id"], project["id"]);
    let missing = app.admin_get("/admin/projects/ghost").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(json(missing).await["error"]["code"], "PROJECT_NOT_FOUND");
    // Nothing secret is part of a project's view.
    let text = app.admin_get("/admin/projects/acme").await.text().await.unwrap();
    assert!(!text.contains("secret"), "{text}");
}

async fn creation_refuses_bad_and_taken_slugs(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    assert_eq!(app.admin_post("/admin/projects", &j!({"slug": "acme"})).await.status(), 201);
    let taken = app.admin_post("/admin/projects", &j!({"slug": "acme"})).await;
    assert_eq!(taken.status(), 409);
    assert_eq!(json(taken).await["error"]["code"], "PROJECT_EXISTS");

    for (slug, expect) in [
        ("api", "reserved"),
        ("healthz", "reserved"),
        (".well-known", "reserved"),
        ("Bad Slug", "a-z"),
        ("", "1 to 63"),
    ] {
        let response = app.admin_post("/admin/projects", &j!({"slug": slug})).await;
        assert_eq!(response.status(), 422, "{slug}");
        let body = json(response).await;
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(body["error"]["details"][0]["field"], "slug");
        assert!(body["error"]["details"][0]["message"].as_str().unwrap().contains(expect), "{body}");
    }
    // Every problem at once.
    let response = app
        .admin_post(
            "/admin/projects",
            &j!({"slug": "api", "name": "x".repeat(101), "settings": {"access_token_ttl_secs": 1}}),
        )
        .await;
    let body = json(response).await;
    let fields: Vec<&str> =
        body["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["slug", "name", "settings.access_token_ttl_secs"]);
    // Unknown settings keys are named, not ignored.
    let response =
        app.admin_post("/admin/projects", &j!({"slug": "typo", "settings": {"acces_token_ttl_secs": 600}})).await;
    assert_eq!(response.status(), 422);
    assert!(json(response).await["error"]["details"][0]["message"].as_str().unwrap().contains("acces_token_ttl_secs"));
    let list = json(app.admin_get("/admin/projects").await).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "nothing half-made");
}

async fn admin_reads_a_user_with_secure_metadata(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    let body = j!({"email": "s@example.com", "password": "longenough", "secureMetadata": {"internalId": "abc123"}});
    let created = json(app.post_json("/auth/sign-up", &body).await).await;
    let id = created["user"]["id"].as_str().unwrap();
    let response = app.admin_get(&format!("/admin/projects/default/users/{id}")).await;
    assert_eq!(response.status(), 200);
    let user = json(response).await;
    assert_eq!(user["data"]["secureMetadata"], j!({"internalId": "abc123"}));
    assert!(user["data"]["seq"].is_i64());
    let missing = app.admin_get("/admin/projects/default/users/usr_nope").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(json(missing).await["error"]["code"], "USER_NOT_FOUND");
    let unauthenticated = app.get(&format!("/admin/projects/default/users/{id}")).await;
    assert_eq!(unauthenticated.status(), 401);
}
