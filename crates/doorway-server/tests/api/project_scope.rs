use doorway_core::ProjectSlug;

use crate::harness::{Backend, TestApp, json};
use crate::on_both_backends;

on_both_backends!(
    prefix_selects_the_project,
    unknown_project_is_404,
    config_declared_projects_are_created_then_updated,
    instances_starting_together_share_projects
);

async fn prefix_selects_the_project(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let via_default_prefix = json(app.get("/default/.well-known/jwks.json").await).await;
    let unprefixed = json(app.get("/.well-known/jwks.json").await).await;
    assert_eq!(via_default_prefix, unprefixed);
    let acme = app.get("/acme/.well-known/jwks.json").await;
    assert_eq!(acme.status(), 200);
    // Query strings survive the prefix being stripped, and a prefixed unknown route is a route 404.
    assert_eq!(app.get("/acme/healthz?probe=1").await.status(), 200);
    let missing = app.get("/acme/api/nothing-here").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(json(missing).await["error"]["code"], "NOT_FOUND");
}

async fn unknown_project_is_404(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/nope/.well-known/jwks.json", "/nope/api/auth/sign-up", "/Not_A_Slug/api/auth/sign-up"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body = json(response).await;
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], "PROJECT_NOT_FOUND", "{path}");
    }
    // One unknown segment is a route 404 that names both possibilities.
    for path in ["/nope", "/nope/", "/Nope.html"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body = json(response).await;
        assert_eq!(body["error"]["code"], "NOT_FOUND", "{path}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("No route") && message.contains("no project named"), "{message}");
    }
    // A missing documentation asset is a JSON 404 too.
    let asset = app.get("/docs/nope.js").await;
    assert_eq!(asset.status(), 404);
    assert_eq!(json(asset).await["error"]["code"], "NOT_FOUND");
}

async fn config_declared_projects_are_created_then_updated(backend: Backend) {
    let first = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let slug = ProjectSlug::parse("acme").unwrap();
    let created = first.state.services.store.project_by_slug(&slug).await.unwrap().unwrap();
    assert_eq!(created.name, "Acme");
    let keys = first.state.services.store.project_keys(&created.id).await.unwrap();
    assert_eq!(keys.len(), 1);

    // Restart with a new name: same project, same key, new name.
    let second = TestApp::builder(backend).on_database_of(&first).with_project("acme", "Acme Corp").spawn().await;
    let updated = second.state.services.store.project_by_slug(&slug).await.unwrap().unwrap();
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.name, "Acme Corp");
    assert_eq!(second.state.services.store.project_keys(&created.id).await.unwrap().len(), 1);
    assert_eq!(second.state.services.store.list_projects().await.unwrap().len(), 2, "default + acme");
}

async fn instances_starting_together_share_projects(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let (a, b) = tokio::join!(
        TestApp::builder(backend).on_database_of(&first).with_project("beta", "Beta").spawn(),
        TestApp::builder(backend).on_database_of(&first).with_project("beta", "Beta").spawn(),
    );
    let one = json(a.get("/beta/.well-known/jwks.json").await).await;
    let two = json(b.get("/beta/.well-known/jwks.json").await).await;
    assert_eq!(one, two);
    assert_eq!(one["keys"].as_array().unwrap().len(), 1);
}
