//! The per-project contract switch: `projects.<slug>.contracts.<name>.enabled`.

use doorway_core::project::ContractSwitch;
use doorway_server::settings::ProjectConfig;
use serde_json::json as j;

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, json, unique_email};
use crate::on_both_backends;

on_both_backends!(
    a_disabled_contract_answers_as_an_unknown_route,
    unknown_contract_names_are_refused,
    every_contract_records_its_sign_ups
);

async fn a_disabled_contract_answers_as_an_unknown_route(backend: Backend) {
    let mut acme = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    for name in ["replyke", "storyden", "aufy"] {
        acme.settings.contracts.insert(name.into(), ContractSwitch { enabled: false });
    }
    let app = TestApp::builder(backend).with_project_config("acme", acme).spawn().await;

    // Switched off in acme: 404 NOT_FOUND in the native envelope, like any unknown route.
    for path in ["/acme/auth/sign-up", "/acme/auth/email/signup", "/acme/auth/signup/external"] {
        let body = j!({"email": unique_email("off"), "password": STRONG_PASSWORD});
        let response = app.post_json(path, &body).await;
        assert_eq!(response.status(), 404, "{path}");
        let body = json(response).await;
        assert_eq!(body["success"], false, "{path}");
        assert_eq!(body["error"]["code"], "NOT_FOUND", "{path}");
    }
    let challenge = app.bare_client().get(app.url("/acme/auth/external/challenge/google?callbackUrl=/")).send().await;
    assert_eq!(challenge.unwrap().status(), 404);

    // Still served: acme's other contracts, and every contract of the default project.
    assert_eq!(app.sign_up("/acme", &unique_email("on"), "Ada", None).await.status(), 201);
    let replyke = app.post_json("/auth/sign-up", &j!({"email": unique_email("r"), "password": STRONG_PASSWORD})).await;
    assert_eq!(replyke.status(), 201);
    let storyden = app.post_json("/auth/email/signup", &j!({"email": unique_email("s")})).await;
    assert_eq!(storyden.status(), 200);
}

async fn unknown_contract_names_are_refused(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    let settings = j!({"contracts": {"replkye": {"enabled": false}}});
    let response = app.admin_post("/admin/projects", &j!({"slug": "typo", "settings": settings})).await;
    assert_eq!(response.status(), 422);
    let body = json(response).await;
    assert_eq!(body["error"]["details"][0]["field"], "settings.contracts.replkye", "{body}");
    let fine = j!({"slug": "fine", "settings": {"contracts": {"replyke": {"enabled": false}}}});
    assert_eq!(app.admin_post("/admin/projects", &fine).await.status(), 201);
    let replyke = app.post_json("/fine/auth/sign-up", &j!({"email": unique_email("f"), "password": "x"})).await;
    assert_eq!(replyke.status(), 404);
}

async fn every_contract_records_its_sign_ups(backend: Backend) {
    let app = TestApp::builder(backend).with_admin_token().spawn().await;
    assert_eq!(app.sign_up("", &unique_email("n"), "Ada", None).await.status(), 201);
    let replyke = app.post_json("/auth/sign-up", &j!({"email": unique_email("r"), "password": STRONG_PASSWORD})).await;
    assert_eq!(replyke.status(), 201);
    assert_eq!(app.post_json("/auth/email/signup", &j!({"email": unique_email("s")})).await.status(), 200);
    let rivergen = app.post_json("/api/v1/auth/oauth/signup", &j!({"provider": "github"})).await;
    assert_eq!(rivergen.status(), 422);
    let metrics = app.admin_get("/metrics").await.text().await.unwrap();
    let recorded = |contract: &str, method: &str, outcome: &str| {
        metrics.lines().any(|line| {
            line.starts_with("doorway_signups_total{")
                && [
                    format!("contract=\"{contract}\""),
                    format!("method=\"{method}\""),
                    format!("outcome=\"{outcome}\""),
                ]
                .iter()
                .all(|label| line.contains(label.as_str()))
        })
    };
    assert!(recorded("native", "password", "created"), "{metrics}");
    assert!(recorded("replyke", "password", "created"), "{metrics}");
    assert!(recorded("storyden", "email", "created"), "{metrics}");
    assert!(recorded("rivergen", "oauth", "invalid"), "{metrics}");
}
