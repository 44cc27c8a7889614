//! Seed 001 (Replyke): `POST /{projectId}/auth/sign-up`.

use serde_json::{Value, json as j};

use crate::harness::{Backend, TestApp, json, oversized, set_cookie};
use crate::on_both_backends;

on_both_backends!(
    full_profile_sign_up_matches_the_contract,
    minimal_sign_up_renders_nulls_and_defaults,
    missing_email_or_password_is_auth_missing_fields,
    invalid_fields_get_specific_codes,
    taken_email_or_username_is_409,
    bad_bodies_and_unknown_projects,
    projects_are_isolated_for_email_and_username,
    overlong_addresses_are_invalid_emails,
);

fn seed_example() -> Value {
    j!({
        "email": "jane@example.com",
        "password": "securePassword123",
        "username": "JaneDoe",
        "name": "Jane Doe",
        "avatar": "https://example.com/avatar.jpg",
        "bio": "Tech enthusiast",
        "location": { "longitude": -73.935242, "latitude": 40.73061 },
        "birthdate": "1995-01-01",
        "metadata": { "office": "boston" },
        "secureMetadata": { "internalId": "abc123" }
    })
}

fn is_iso_millis(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 24 && s.ends_with('Z') && s.as_bytes()[19] == b'.')
}

async fn full_profile_sign_up_matches_the_contract(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let response = app.post_json("/acme/auth/sign-up", &seed_example()).await;
    assert_eq!(response.status(), 201);
    let cookie = set_cookie(&response, "replyke-refresh-jwt").expect("replyke-refresh-jwt cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/acme/auth"), "{cookie}");
    let raw = response.text().await.unwrap();
    assert!(!raw.contains("secureMetadata") && !raw.contains("abc123"), "secure metadata leaked: {raw}");
    assert!(!raw.contains("securePassword123"), "password leaked");
    let body: Value = serde_json::from_str(&raw).unwrap();

    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["success", "accessToken", "refreshToken", "user"]);
    assert_eq!(body["success"], true);
    assert!(body["accessToken"].as_str().unwrap().split('.').count() == 3);
    assert_eq!(crate::harness::cookie_value(&cookie), body["refreshToken"].as_str().unwrap());

    let user = &body["user"];
    let keys: Vec<&str> = user.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, crate::replyke_sessions::AUTH_USER_KEYS);
    assert!(user["id"].is_string());
    assert_eq!(user["email"], "jane@example.com");
    assert_eq!(user["username"], "janedoe", "lowercased");
    assert_eq!(user["name"], "Jane Doe");
    assert_eq!(user["avatar"], "https://example.com/avatar.jpg");
    assert_eq!(user["bio"], "Tech enthusiast");
    assert_eq!(user["location"], j!({"type": "Point", "coordinates": [-73.935242, 40.73061]}));
    assert_eq!(user["birthdate"], "1995-01-01T00:00:00.000Z");
    assert_eq!(user["metadata"], j!({"office": "boston"}));
    assert_eq!(user["suspensions"], j!([]));
    assert_eq!(user["reputation"], j!(0));
    assert!(user["reputation"].is_i64());
    assert!(is_iso_millis(&user["createdAt"]) && is_iso_millis(&user["updatedAt"]), "{user}");

    // Secure metadata is stored (for hooks and admins).
    let stored = app
        .state
        .services
        .store
        .user_by_id(&app.project_id("acme").await, user["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.secure_metadata, j!({"internalId": "abc123"}));

    // The tokens work with the session API.
    let me = app
        .client
        .get(app.url("/acme/api/auth/me"))
        .bearer_auth(body["accessToken"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let refresh = app
        .bare_client()
        .post(app.url("/acme/api/auth/refresh"))
        .json(&j!({"refreshToken": body["refreshToken"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refresh.status(), 200);
}

async fn minimal_sign_up_renders_nulls_and_defaults(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.post_json("/auth/sign-up", &j!({"email": "min@example.com", "password": "longenough"})).await;
    assert_eq!(response.status(), 201, "the default project is served without a prefix");
    assert!(set_cookie(&response, "replyke-refresh-jwt").unwrap().contains("Path=/auth"));
    let user = json(response).await["user"].clone();
    for key in ["username", "name", "avatar", "bio", "location", "birthdate"] {
        assert!(user[key].is_null(), "{key}: {user}");
    }
    assert_eq!(user["metadata"], j!({}));
}

async fn missing_email_or_password_is_auth_missing_fields(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for body in [
        j!({}),
        j!({"email": "a@example.com"}),
        j!({"password": "longenough"}),
        j!({"email": "", "password": "longenough"}),
        j!({"email": null, "password": null}),
    ] {
        let response = app.post_json("/auth/sign-up", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await, j!({"error": "Missing required fields", "code": "auth/missing-fields"}));
    }
}

async fn invalid_fields_get_specific_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let base = || j!({"email": "ok@example.com", "password": "longenough"});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("email", j!("not-an-email"), "auth/invalid-email"),
        ("email", j!(5), "auth/invalid-email"),
        ("password", j!(12345678), "auth/invalid-password"),
        ("password", j!("short"), "auth/invalid-password"),
        ("username", j!("no spaces allowed"), "auth/invalid-username"),
        ("avatar", j!("not a url"), "auth/invalid-avatar"),
        ("avatar", j!("javascript:alert(1)"), "auth/invalid-avatar"),
        ("location", j!({"longitude": 200, "latitude": 0}), "auth/invalid-location"),
        ("location", j!({"longitude": 0, "latitude": 95}), "auth/invalid-location"),
        ("location", j!("here"), "auth/invalid-location"),
        ("birthdate", j!("31/12/1990"), "auth/invalid-birthdate"),
        ("birthdate", j!("1990-02-30"), "auth/invalid-birthdate"),
        ("birthdate", j!("2999-01-01"), "auth/invalid-birthdate"),
        ("metadata", j!([1, 2]), "auth/invalid-metadata"),
        ("metadata", j!("text"), "auth/invalid-metadata"),
        ("secureMetadata", j!(7), "auth/invalid-secure-metadata"),
        ("name", j!(["x"]), "auth/invalid-name"),
        ("bio", j!("b".repeat(1001)), "auth/invalid-bio"),
    ];
    for (field, value, code) in cases {
        let mut body = base();
        body[field] = value.clone();
        let response = app.post_json("/auth/sign-up", &body).await;
        assert_eq!(response.status(), 400, "{field}={value}");
        let got = json(response).await;
        assert_eq!(got["code"], code, "{field}={value}: {got}");
        assert!(got["error"].as_str().is_some_and(|e| !e.is_empty()));
        assert_eq!(got["details"][0]["field"], field);
    }
    // Several problems at once are all listed.
    let mut body = base();
    body["avatar"] = j!("nope");
    body["metadata"] = j!(1);
    let got = json(app.post_json("/auth/sign-up", &body).await).await;
    assert_eq!(got["details"].as_array().unwrap().len(), 2);
    // Nothing was created by any refused request.
    assert!(app.state.services.store.outbox(&app.project_id("default").await).await.unwrap().is_empty());
}

async fn taken_email_or_username_is_409(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.post_json("/auth/sign-up", &seed_example()).await.status(), 201);
    let mut same_email = seed_example();
    same_email["username"] = j!("someone-else");
    same_email["email"] = j!("JANE@example.com");
    let response = app.post_json("/auth/sign-up", &same_email).await;
    assert_eq!(response.status(), 409);
    assert_eq!(json(response).await["code"], "auth/email-taken");
    let mut same_username = seed_example();
    same_username["email"] = j!("other@example.com");
    same_username["username"] = j!("JANEDOE");
    let response = app.post_json("/auth/sign-up", &same_username).await;
    assert_eq!(response.status(), 409);
    let body = json(response).await;
    assert_eq!(body["code"], "auth/username-taken");
    assert!(body["error"].is_string());
}

async fn bad_bodies_and_unknown_projects(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let raw = |path: &str, body: Vec<u8>, content_type: &'static str| {
        app.client.post(app.url(path)).header("content-type", content_type).body(body).send()
    };
    let cases = [
        (400, "auth/invalid-body", raw("/auth/sign-up", b"{nope".to_vec(), "application/json").await.unwrap()),
        (400, "auth/invalid-body", raw("/auth/sign-up", b"[]".to_vec(), "application/json").await.unwrap()),
        (415, "auth/unsupported-media-type", raw("/auth/sign-up", b"a=b".to_vec(), "text/plain").await.unwrap()),
        (413, "auth/payload-too-large", oversized(&app, "/auth/sign-up").await),
        (404, "project/not-found", raw("/ghost/auth/sign-up", b"{}".to_vec(), "application/json").await.unwrap()),
    ];
    for (status, code, response) in cases {
        assert_eq!(response.status().as_u16(), status, "{code}");
        let body = json(response).await;
        assert_eq!(body["code"], code);
        assert!(body["error"].is_string());
    }
}

async fn projects_are_isolated_for_email_and_username(backend: Backend) {
    let app = TestApp::builder(backend).with_project("one", "One").with_project("two", "Two").spawn().await;
    assert_eq!(app.post_json("/one/auth/sign-up", &seed_example()).await.status(), 201);
    assert_eq!(app.post_json("/two/auth/sign-up", &seed_example()).await.status(), 201);
    assert_eq!(app.post_json("/two/auth/sign-up", &seed_example()).await.status(), 409);
}

/// Every Replyke `email` is bounded like every other contract's (254 characters, the
/// document's `maxLength`): the routes that only match an address (sign-in, codes) refuse a
/// longer one as `auth/invalid-email`, as the routes that parse it do.
async fn overlong_addresses_are_invalid_emails(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long = format!("{}@example.com", "a".repeat(250));
    let bodies = [
        ("/auth/sign-in", j!({"email": long, "password": "securePassword123"})),
        ("/auth/verify-email", j!({"email": long, "code": "123456"})),
        ("/auth/reset-password", j!({"email": long, "code": "123456", "newPassword": "securePassword123"})),
        ("/auth/sign-up", j!({"email": long, "password": "securePassword123"})),
        ("/auth/send-verification-email", j!({"email": long})),
        ("/auth/request-password-reset", j!({"email": long})),
    ];
    for (path, body) in bodies {
        let response = app.post_json(path, &body).await;
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(json(response).await["code"], "auth/invalid-email", "{path}");
    }
    let doc = json(app.get("/openapi.json").await).await;
    for schema in ["ReplykeSignInRequest", "ReplykeEmailCode", "ReplykeResetPasswordWithCode", "ReplykeEmailRequest"] {
        assert_eq!(doc["components"]["schemas"][schema]["properties"]["email"]["maxLength"], 254, "{schema}");
    }
}
