//! Sign-in, refresh rotation, sign-out and who-am-I around the native sign-up.

use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, cookie_value, json, manual_clock, set_cookie};
use crate::on_both_backends;

on_both_backends!(
    sign_in_returns_a_session_and_refuses_alike,
    refresh_rotates_and_reuse_revokes_the_family,
    refresh_works_without_cookies,
    concurrent_refreshes_with_one_token_rotate_once,
    sign_out_ends_the_session,
    me_accepts_bearer_or_cookie_and_refuses_forgeries,
    tokens_expire_on_the_injected_clock,
);

async fn signed_up(app: &TestApp, email: &str) -> Value {
    let response = app.sign_up("", email, "Sam Session", None).await;
    assert_eq!(response.status(), 201);
    json(response).await
}

async fn sign_in(app: &TestApp, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
    client.post(app.url("/api/auth/sign-in")).json(&j!({"email": email, "password": password})).send().await.unwrap()
}

async fn sign_in_returns_a_session_and_refuses_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = signed_up(&app, "sam@example.com").await;
    let client = app.bare_client();

    let ok = sign_in(&app, &client, "SAM@example.com", STRONG_PASSWORD).await;
    assert_eq!(ok.status(), 200);
    let refresh = set_cookie(&ok, "doorway_refresh").expect("refresh cookie on sign-in");
    assert!(refresh.contains("HttpOnly") && refresh.contains("Path=/api/auth"));
    let body = json(ok).await;
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Signed in successfully");
    assert_eq!(body["data"]["user"], created["data"]["user"]);
    assert!(body["data"]["session"]["token"].is_string() && body["data"]["session"]["expiresAt"].is_string());
    assert_ne!(body["data"]["session"]["token"], created["data"]["session"]["token"], "a new session");

    let wrong = sign_in(&app, &client, "sam@example.com", "securePassword123?").await;
    let unknown = sign_in(&app, &client, "nobody@example.com", STRONG_PASSWORD).await;
    let malformed = sign_in(&app, &client, "not an email", STRONG_PASSWORD).await;
    for response in [wrong, unknown, malformed] {
        assert_eq!(response.status(), 401);
        assert!(set_cookie(&response, "doorway_refresh").is_none());
        assert_eq!(
            json(response).await,
            j!({"success": false, "error": {"code": "INVALID_CREDENTIALS", "message": "Invalid email or password"}})
        );
    }
    let missing =
        client.post(app.url("/api/auth/sign-in")).json(&j!({"email": "sam@example.com"})).send().await.unwrap();
    assert_eq!(missing.status(), 422);
    assert_eq!(json(missing).await["error"]["details"][0]["field"], "password");

    let project = app.project_id("default").await;
    let outcomes: Vec<String> = app
        .state
        .services
        .store
        .audit(&project)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.action == "signin")
        .map(|a| a.outcome)
        .collect();
    assert_eq!(
        outcomes,
        ["ok", "denied:invalid_credentials", "denied:invalid_credentials", "denied:invalid_credentials"]
    );
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.bare_client()
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("doorway_refresh={token}"))
        .send()
        .await
        .unwrap()
}

async fn refresh_rotates_and_reuse_revokes_the_family(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.sign_up("", "rot@example.com", "Rita Rotate", None).await;
    let first = cookie_value(&set_cookie(&response, "doorway_refresh").unwrap());

    let rotated = refresh(&app, &first).await;
    assert_eq!(rotated.status(), 200);
    let second = cookie_value(&set_cookie(&rotated, "doorway_refresh").expect("rotated cookie"));
    assert_ne!(second, first);
    let body = json(rotated).await;
    assert_eq!(body["success"], true);
    let access = body["data"]["session"]["token"].as_str().unwrap().to_owned();
    assert_eq!(app.client.get(app.url("/api/auth/me")).bearer_auth(&access).send().await.unwrap().status(), 200);

    // Replaying the used token: 401, cookies cleared, and the whole family is dead.
    let replay = refresh(&app, &first).await;
    assert_eq!(replay.status(), 401);
    assert!(set_cookie(&replay, "doorway_refresh").unwrap().contains("Max-Age=0"));
    assert_eq!(json(replay).await["error"]["code"], "REFRESH_TOKEN_REUSED");
    let child = refresh(&app, &second).await;
    assert_eq!(child.status(), 401);
    assert_eq!(json(child).await["error"]["code"], "INVALID_REFRESH_TOKEN");
    assert_eq!(app.client.get(app.url("/api/auth/me")).bearer_auth(&access).send().await.unwrap().status(), 401);

    let project = app.project_id("default").await;
    let audit = app.state.services.store.audit(&project).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "refresh" && a.outcome == "denied:refresh_token_reused"));

    for bogus in ["", "not-a-token"] {
        let response = refresh(&app, bogus).await;
        assert_eq!(response.status(), 401);
        assert_eq!(json(response).await["error"]["code"], "INVALID_REFRESH_TOKEN");
    }
}

async fn refresh_works_without_cookies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.sign_up("", "api@example.com", "Api Client", None).await;
    let token = cookie_value(&set_cookie(&response, "doorway_refresh").unwrap());
    let client = app.bare_client();
    let rotated = client.post(app.url("/api/auth/refresh")).json(&j!({"refreshToken": token})).send().await.unwrap();
    assert_eq!(rotated.status(), 200);
    let none = client.post(app.url("/api/auth/refresh")).send().await.unwrap();
    assert_eq!(none.status(), 401);
}

async fn concurrent_refreshes_with_one_token_rotate_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app.sign_up("", "twice@example.com", "Twin Tabs", None).await;
    let token = cookie_value(&set_cookie(&response, "doorway_refresh").unwrap());
    let attempts = (0..6).map(|_| refresh(&app, &token));
    let statuses: Vec<u16> =
        futures_util::future::join_all(attempts).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 401).count(), 5, "{statuses:?}");
}

async fn sign_out_ends_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // The shared client keeps cookies like a browser.
    assert_eq!(app.sign_up("", "out@example.com", "Otto Out", None).await.status(), 201);
    assert_eq!(app.get("/api/auth/me").await.status(), 200, "access cookie authenticates");
    let out = app.client.post(app.url("/api/auth/sign-out")).send().await.unwrap();
    assert_eq!(out.status(), 200);
    assert!(set_cookie(&out, "doorway_access").unwrap().contains("Max-Age=0"));
    assert_eq!(json(out).await, j!({"success": true, "message": "Signed out"}));
    assert_eq!(app.get("/api/auth/me").await.status(), 401);

    // A token kept from before sign-out no longer works either.
    let body = signed_up(&app, "out2@example.com").await;
    let access = body["data"]["session"]["token"].as_str().unwrap();
    let client = app.bare_client();
    let out = client.post(app.url("/api/auth/sign-out")).bearer_auth(access).send().await.unwrap();
    assert_eq!(out.status(), 200);
    assert_eq!(client.get(app.url("/api/auth/me")).bearer_auth(access).send().await.unwrap().status(), 401);
    let again = client.post(app.url("/api/auth/sign-out")).bearer_auth(access).send().await.unwrap();
    assert_eq!(again.status(), 401);
    let nothing = client.post(app.url("/api/auth/sign-out")).send().await.unwrap();
    assert_eq!(nothing.status(), 401);
    assert_eq!(json(nothing).await["error"]["code"], "UNAUTHORIZED");
}

async fn me_accepts_bearer_or_cookie_and_refuses_forgeries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = signed_up(&app, "me@example.com").await;
    let token = body["data"]["session"]["token"].as_str().unwrap();
    let client = app.bare_client();
    let by_bearer = client.get(app.url("/api/auth/me")).bearer_auth(token).send().await.unwrap();
    assert_eq!(by_bearer.status(), 200);
    let me = json(by_bearer).await;
    assert_eq!(me["data"]["user"], body["data"]["user"]);
    assert_eq!(me["data"]["organizations"], j!([]));
    let by_cookie =
        client.get(app.url("/api/auth/me")).header("cookie", format!("doorway_access={token}")).send().await.unwrap();
    assert_eq!(by_cookie.status(), 200);

    let (head, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();
    let forged_alg = format!("{}.{payload}.", base64_url(r#"{"alg":"none","typ":"JWT"}"#));
    let tampered = format!("{head}.{}.{signature}", base64_url(r#"{"sub":"usr_evil"}"#));
    for bad in ["", "garbage", forged_alg.as_str(), tampered.as_str()] {
        let response = client.get(app.url("/api/auth/me")).bearer_auth(bad).send().await.unwrap();
        assert_eq!(response.status(), 401, "{bad}");
        assert_eq!(json(response).await["error"]["code"], "UNAUTHORIZED");
    }
    assert_eq!(client.get(app.url("/api/auth/me")).send().await.unwrap().status(), 401);
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

async fn tokens_expire_on_the_injected_clock(backend: Backend) {
    let clock = manual_clock();
    let app = TestApp::builder(backend).with_manual_clock(clock.clone()).spawn().await;
    let response = app.sign_up("", "time@example.com", "Tim Time", None).await;
    let refresh_token = cookie_value(&set_cookie(&response, "doorway_refresh").unwrap());
    let body = json(response).await;
    let access = body["data"]["session"]["token"].as_str().unwrap().to_owned();
    let client = app.bare_client();
    let me = |token: String| {
        let client = client.clone();
        let url = app.url("/api/auth/me");
        async move { client.get(url).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(me(access.clone()).await, 200);
    clock.advance_seconds(3600);
    assert_eq!(me(access.clone()).await, 401, "access token expired after access_token_ttl_secs");
    // The refresh token still works and yields a fresh access token.
    let rotated = refresh(&app, &refresh_token).await;
    assert_eq!(rotated.status(), 200);
    let next = cookie_value(&set_cookie(&rotated, "doorway_refresh").unwrap());
    clock.advance_seconds(30 * 24 * 3600);
    let expired = refresh(&app, &next).await;
    assert_eq!(expired.status(), 401, "the session ends after refresh_token_ttl_secs");
}
