//! Seed 002, email + password: `POST /api/auth/sign-up`.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, json, oversized, set_cookie};
use crate::on_both_backends;

on_both_backends!(
    created_account_matches_the_contract,
    organization_slugs_are_unique_per_project,
    taken_email_is_409_whatever_its_spelling,
    every_field_error_is_reported_at_once,
    malformed_bodies_are_refused_without_writing,
    concurrent_sign_ups_for_one_address_create_one_user,
    the_sign_up_transaction_writes_events_and_audit,
    projects_are_isolated,
    oauth_form_without_configured_provider_is_422,
    a_full_hashing_queue_answers_503,
);

fn assert_rfc3339(value: &Value) {
    let text = value.as_str().unwrap_or_else(|| panic!("not a string: {value}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| panic!("not RFC 3339: {text}"));
}

async fn created_account_matches_the_contract(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.sign_up("", "  John.Doe@Example.COM ", "John Doe", None).await;
    assert_eq!(response.status(), 201);
    let refresh = set_cookie(&response, "doorway_refresh").expect("refresh cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/api/auth", "Max-Age=2592000"] {
        assert!(refresh.contains(attribute), "{attribute} missing: {refresh}");
    }
    assert!(!refresh.contains("Secure"), "plain http on loopback is not Secure: {refresh}");
    let access = set_cookie(&response, "doorway_access").expect("access cookie");
    assert!(access.contains("HttpOnly") && access.contains("Path=/;"), "{access}");

    let body = json(response).await;
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Account created successfully");
    let data = body["data"].as_object().unwrap();
    assert!(!data.contains_key("organization"), "no organization requested: {body}");
    let user = &body["data"]["user"];
    assert_eq!(user.as_object().unwrap().len(), 5, "{user}");
    assert!(user["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(user["email"], "john.doe@example.com");
    assert_eq!(user["name"], "John Doe");
    assert_eq!(user["emailVerified"], false);
    assert_rfc3339(&user["createdAt"]);
    let session = &body["data"]["session"];
    assert_rfc3339(&session["expiresAt"]);

    // The token is an EdDSA JWT the project's JWKS verifies, with the documented claims.
    let token = session["token"].as_str().unwrap();
    let jwks: JwkSet = serde_json::from_value(json(app.get("/.well-known/jwks.json").await).await).unwrap();
    let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&[&app.address]);
    validation.set_audience(&["default"]);
    let claims =
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwks.find(&kid).unwrap()).unwrap(), &validation)
            .unwrap()
            .claims;
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["amr"], j!(["pwd"]));
    assert!(claims["sid"].as_str().unwrap().starts_with("ses_"));
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 3600);

    // The session works at once.
    let me = app.client.get(app.url("/api/auth/me")).bearer_auth(token).send().await.unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(json(me).await["data"]["user"]["id"], user["id"]);
}

async fn organization_slugs_are_unique_per_project(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let first = json(app.sign_up("", "a@example.com", "Ann Example", Some("Acme Inc")).await).await;
    let org = &first["data"]["organization"];
    assert!(org["id"].as_str().unwrap().starts_with("org_"));
    assert_eq!(org["name"], "Acme Inc");
    assert_eq!(org["slug"], "acme-inc");
    let second = json(app.sign_up("", "b@example.com", "Bob Example", Some("Acme Inc")).await).await;
    assert_eq!(second["data"]["organization"]["slug"], "acme-inc-2");
    let third = json(app.sign_up("", "c@example.com", "Cid Example", Some("ACME, inc.")).await).await;
    assert_eq!(third["data"]["organization"]["slug"], "acme-inc-3");

    let token = second["data"]["session"]["token"].as_str().unwrap();
    let me = json(app.client.get(app.url("/api/auth/me")).bearer_auth(token).send().await.unwrap()).await;
    assert_eq!(
        me["data"]["organizations"],
        j!([{"id": second["data"]["organization"]["id"], "name": "Acme Inc", "slug": "acme-inc-2", "role": "owner", "workspaces": []}])
    );
}

async fn taken_email_is_409_whatever_its_spelling(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.sign_up("", "user@bücher.example", "First User", None).await.status(), 201);
    for spelling in ["user@bücher.example", "USER@BÜCHER.EXAMPLE", " user@xn--bcher-kva.example"] {
        let response = app.sign_up("", spelling, "Second User", None).await;
        assert_eq!(response.status(), 409, "{spelling}");
        assert!(set_cookie(&response, "doorway_refresh").is_none());
        assert_eq!(
            json(response).await,
            j!({"success": false, "error": {"code": "EMAIL_EXISTS", "message": "An account with this email already exists"}})
        );
    }
}

async fn every_field_error_is_reported_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (
            j!({}),
            vec![("email", "Email is required"), ("password", "Password is required"), ("name", "Name is required")],
        ),
        (
            j!({"email": "not-an-email", "password": "securepassword123!", "name": "J", "organizationName": "x".repeat(101)}),
            vec![
                ("email", "Email must be a valid email address"),
                ("password", "Password must contain at least one uppercase letter"),
                ("name", "Name must be between 2 and 100 characters"),
                ("organizationName", "Organization name must be between 2 and 100 characters"),
            ],
        ),
        (
            j!({"email": 42, "password": ["x"], "name": {"first": "J"}, "organizationName": 7}),
            vec![
                ("email", "Email must be a string"),
                ("password", "Password must be a string"),
                ("name", "Name must be a string"),
                ("organizationName", "Organization name must be a string"),
            ],
        ),
        (
            j!({"email": "a@example.com", "password": "Short1!", "name": "Ann"}),
            vec![("password", "Password must be at least 8 characters")],
        ),
        (
            j!({"email": "a@example.com", "password": "NoDigitsHere!", "name": "Ann"}),
            vec![("password", "Password must contain at least one number")],
        ),
        (
            j!({"email": "a@example.com", "password": "NoSpecial123", "name": "Ann"}),
            vec![("password", "Password must contain at least one special character")],
        ),
    ];
    for (body, expected) in cases {
        let response = app.post_json("/api/auth/sign-up", &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let got = json(response).await;
        assert_eq!(got["success"], false);
        assert_eq!(got["error"]["code"], "VALIDATION_ERROR");
        assert_eq!(got["error"]["message"], "Invalid input data");
        let details: Vec<(String, String)> = got["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["field"].as_str().unwrap().to_owned(), d["message"].as_str().unwrap().to_owned()))
            .collect();
        let expected: Vec<(String, String)> = expected.into_iter().map(|(f, m)| (f.to_owned(), m.to_owned())).collect();
        assert_eq!(details, expected, "{body}");
    }
    // Nothing was created by any of them.
    let project = app.project_id("default").await;
    assert!(app.state.services.store.outbox(&project).await.unwrap().is_empty());
}

async fn malformed_bodies_are_refused_without_writing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let raw = |body: Vec<u8>, content_type: &'static str| {
        app.client.post(app.url("/api/auth/sign-up")).header("content-type", content_type).body(body).send()
    };
    let cases = [
        (400, "INVALID_JSON", raw(b"{\"email\": \"a@example.com\",".to_vec(), "application/json").await.unwrap()),
        (400, "INVALID_JSON", raw(Vec::new(), "application/json").await.unwrap()),
        (422, "VALIDATION_ERROR", raw(b"[1, 2, 3]".to_vec(), "application/json").await.unwrap()),
        (422, "VALIDATION_ERROR", raw(b"\"a string\"".to_vec(), "application/json").await.unwrap()),
        (
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            raw(b"email=a@example.com".to_vec(), "application/x-www-form-urlencoded").await.unwrap(),
        ),
        (413, "PAYLOAD_TOO_LARGE", oversized(&app, "/api/auth/sign-up").await),
    ];
    for (status, code, response) in cases {
        assert_eq!(response.status().as_u16(), status, "{code}");
        let body = json(response).await;
        assert_eq!(body["success"], false);
        assert_eq!(body["error"]["code"], code);
    }
    let project = app.project_id("default").await;
    assert!(app.state.services.store.outbox(&project).await.unwrap().is_empty());
    assert!(app.state.services.store.audit(&project).await.unwrap().is_empty());
}

async fn concurrent_sign_ups_for_one_address_create_one_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let attempts =
        (0..12).map(|i| {
            let app = &app;
            async move {
                app.sign_up("", "race@example.com", &format!("Racer {i}"), Some("Race Org")).await.status().as_u16()
            }
        });
    let mut statuses = futures_util::future::join_all(attempts).await;
    statuses.sort();
    assert_eq!(statuses[0], 201, "{statuses:?}");
    assert!(statuses[1..].iter().all(|s| *s == 409), "{statuses:?}");

    let project = app.project_id("default").await;
    let events = app.state.services.store.outbox(&project).await.unwrap();
    let created = events.iter().filter(|e| e.topic == "user.created").count();
    let orgs = events.iter().filter(|e| e.topic == "organization.created").count();
    assert_eq!((created, orgs), (1, 1), "exactly one user and one organization");
}

async fn the_sign_up_transaction_writes_events_and_audit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json(app.sign_up("", "events@example.com", "Eve Events", Some("Eve Co")).await).await;
    let user_id = body["data"]["user"]["id"].as_str().unwrap();
    let project = app.project_id("default").await;
    let store = &app.state.services.store;

    let events = store.outbox(&project).await.unwrap();
    let topics: Vec<&str> = events.iter().map(|e| e.topic.as_str()).collect();
    assert_eq!(topics, ["user.created", "organization.created", "session.created"]);
    assert_eq!(events[0].payload["user"]["id"], user_id);
    assert_eq!(events[0].payload["user"]["email"], "events@example.com");
    assert_eq!(events[1].payload["organization"]["slug"], "eve-co");
    assert_eq!(events[2].payload["session"]["userId"], user_id);
    assert!(!events.iter().any(|e| e.payload.to_string().contains(STRONG_PASSWORD)), "no password in events");

    let audit = store.audit(&project).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!((audit[0].action.as_str(), audit[0].outcome.as_str()), ("signup", "ok"));
    assert_eq!(audit[0].method.as_deref(), Some("password"));
    assert_eq!(audit[0].user_id.as_deref(), Some(user_id));
    assert_eq!(audit[0].ip.as_deref(), Some("127.0.0.1"));

    // A refused sign-up adds no events, only its audit row.
    assert_eq!(app.sign_up("", "events@example.com", "Eve Again", Some("Other Co")).await.status(), 409);
    assert_eq!(store.outbox(&project).await.unwrap().len(), 3);
    let audit = store.audit(&project).await.unwrap();
    assert_eq!(audit.last().unwrap().outcome, "denied:email_taken");
}

async fn projects_are_isolated(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let default = app.sign_up("", "same@example.com", "Same Person", Some("Same Org")).await;
    assert_eq!(default.status(), 201);
    let acme = app.sign_up("/acme", "same@example.com", "Same Person", Some("Same Org")).await;
    assert_eq!(acme.status(), 201);
    let cookie = set_cookie(&acme, "doorway_acme_refresh").unwrap();
    assert!(cookie.contains("Path=/acme/api/auth"), "{cookie}");
    let body = json(acme).await;
    assert_eq!(body["data"]["organization"]["slug"], "same-org", "slugs are unique per project only");
    let token = body["data"]["session"]["token"].as_str().unwrap();
    // An acme token is not accepted by the default project.
    let me_default = app.client.get(app.url("/api/auth/me")).bearer_auth(token).send().await.unwrap();
    assert_eq!(me_default.status(), 401);
    let me_acme = app.client.get(app.url("/acme/api/auth/me")).bearer_auth(token).send().await.unwrap();
    assert_eq!(me_acme.status(), 200);
    assert_eq!(app.get("/ghost/api/auth/me").await.status(), 404);
}

async fn oauth_form_without_configured_provider_is_422(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.post_json("/api/auth/sign-up", &j!({"provider": "google", "callbackUrl": "/dashboard"})).await;
    assert_eq!(response.status(), 422);
    let body = json(response).await;
    assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    assert_eq!(body["error"]["details"][0]["field"], "provider");
}

async fn a_full_hashing_queue_answers_503(backend: Backend) {
    let slow =
        doorway_core::password_hashing::HashingSettings { iterations: 8, threads: 1, queue: 1, ..Default::default() };
    let app = TestApp::builder(backend).with_hashing(slow).spawn().await;
    let attempts = (0..10).map(|i| {
        let app = &app;
        async move { app.sign_up("", &format!("busy{i}@example.com"), "Busy Person", None).await }
    });
    let responses = futures_util::future::join_all(attempts).await;
    let busy: Vec<&reqwest::Response> = responses.iter().filter(|r| r.status() == 503).collect();
    assert!(!busy.is_empty(), "some sign-ups must be refused when the queue is full");
    assert_eq!(busy[0].headers()["retry-after"], "1");
    assert!(responses.iter().any(|r| r.status() == 201));
    for r in responses {
        if r.status() == 503 {
            assert_eq!(json(r).await["error"]["code"], "SERVICE_UNAVAILABLE");
        }
    }
}
