//! Seed 004 (Storyden): `POST /auth/email/signup` and `/auth/email/verify`, over real SMTP.

use doorway_core::PasswordMode;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, TestApp, json, mails_now, manual_clock, set_cookie, unique_email, wait_for_mails};
use crate::on_both_backends;

on_both_backends!(
    new_address_gets_id_cookie_and_code,
    existing_address_is_422_without_cookie_and_the_same_code,
    a_new_code_once_the_old_one_expired,
    the_fourth_mail_in_an_hour_is_429,
    five_wrong_codes_kill_the_code,
    bad_bodies_are_400_problems,
    password_follows_the_project_mode,
);

async fn sign_up(app: &TestApp, body: Value) -> reqwest::Response {
    app.bare_client().post(app.url("/auth/email/signup")).json(&body).send().await.unwrap()
}

fn assert_problem(status: u16, response_status: u16, body: &Value) {
    assert_eq!(response_status, status, "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(), "{body}");
}

async fn new_address_gets_id_cookie_and_code(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().spawn().await;
    let email = unique_email("story");
    let response = sign_up(&app, j!({"email": email, "handle": "Storyteller"})).await;
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(&response, "storyden-session").expect("session cookie for a new address");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let body = json(response).await;
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();

    let mails = wait_for_mails(&email, 1).await;
    let mail = &mails[0];
    assert_eq!(mail.from, "doorway@tests.example");
    assert!(mail.text.starts_with(&format!("Your code: {}", mail.code())));
    assert!(mail.html.contains(&mail.code()));

    // The cookie works before verification; the address is not verified yet.
    let token = crate::harness::cookie_value(&cookie);
    let me = json(
        app.bare_client()
            .get(app.url("/api/auth/me"))
            .header("cookie", format!("storyden-session={token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["data"]["user"]["id"], id.as_str());
    assert_eq!(me["data"]["user"]["emailVerified"], false);

    // Verified from the same browser, so the sign-up's session survives the first proof.
    let verified = app
        .bare_client()
        .post(app.url("/auth/email/verify"))
        .header("cookie", format!("storyden-session={token}"))
        .json(&j!({"email": email, "code": mail.code()}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(json(verified).await, j!({"id": id}));
    let me = json(
        app.bare_client()
            .get(app.url("/api/auth/me"))
            .header("cookie", format!("storyden-session={token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["data"]["user"]["emailVerified"], true);
    // A used code does not work twice.
    let again = app
        .bare_client()
        .post(app.url("/auth/email/verify"))
        .json(&j!({"email": email, "code": mail.code()}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
}

async fn existing_address_is_422_without_cookie_and_the_same_code(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().spawn().await;
    let email = unique_email("again");
    assert_eq!(sign_up(&app, j!({"email": email})).await.status(), 200);
    let first = wait_for_mails(&email, 1).await[0].code();

    let response = sign_up(&app, j!({"email": email.to_uppercase()})).await;
    assert!(set_cookie(&response, "storyden-session").is_none(), "no cookie for an existing address");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let status = response.status().as_u16();
    assert_problem(422, status, &json(response).await);
    let mails = wait_for_mails(&email, 2).await;
    assert_eq!(mails[1].code(), first, "the same code is sent again");

    // A password does not turn the re-send into a sign-in.
    let with_password = sign_up(&app, j!({"email": email, "password": "guessing123"})).await;
    assert_eq!(with_password.status(), 422);
    assert!(set_cookie(&with_password, "storyden-session").is_none());
}

async fn a_new_code_once_the_old_one_expired(backend: Backend) {
    let clock = manual_clock();
    let app = TestApp::builder(backend).with_smtp().with_manual_clock(clock.clone()).spawn().await;
    let email = unique_email("expiry");
    assert_eq!(sign_up(&app, j!({"email": email})).await.status(), 200);
    let first = wait_for_mails(&email, 1).await[0].code();
    clock.advance_seconds(16 * 60);
    assert_eq!(sign_up(&app, j!({"email": email})).await.status(), 422);
    let second = wait_for_mails(&email, 2).await[1].code();
    assert_ne!(second, first, "an expired code is replaced");
    let old = app
        .bare_client()
        .post(app.url("/auth/email/verify"))
        .json(&j!({"email": email, "code": first}))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 400);
    let new = app
        .bare_client()
        .post(app.url("/auth/email/verify"))
        .json(&j!({"email": email, "code": second}))
        .send()
        .await
        .unwrap();
    assert_eq!(new.status(), 200);
}

async fn the_fourth_mail_in_an_hour_is_429(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().with_rate_limits().spawn().await;
    let email = unique_email("budget");
    assert_eq!(sign_up(&app, j!({"email": email})).await.status(), 200);
    assert_eq!(sign_up(&app, j!({"email": email})).await.status(), 422);
    assert_eq!(sign_up(&app, j!({"email": email})).await.status(), 422);
    let fourth = sign_up(&app, j!({"email": email})).await;
    assert_eq!(fourth.status(), 429);
    assert!(fourth.headers().contains_key("retry-after"));
    assert_eq!(fourth.headers()["content-type"], "application/problem+json");
    wait_for_mails(&email, 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(mails_now(&email).len(), 3, "no mail past the budget");
}

async fn five_wrong_codes_kill_the_code(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().spawn().await;
    let email = unique_email("lockout");
    assert_eq!(sign_up(&app, j!({"email": email})).await.status(), 200);
    let code = wait_for_mails(&email, 1).await[0].code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let r = app
            .bare_client()
            .post(app.url("/auth/email/verify"))
            .json(&j!({"email": email, "code": wrong}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400);
    }
    let right = app
        .bare_client()
        .post(app.url("/auth/email/verify"))
        .json(&j!({"email": email, "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 400, "the code is dead after five wrong attempts");
    assert!(json(right).await["detail"].as_str().unwrap().contains("too many"));
}

async fn bad_bodies_are_400_problems(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let raw = |body: &'static str| {
        app.bare_client()
            .post(app.url("/auth/email/signup"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for body in [
        "{nope",
        "[]",
        "{}",
        r#"{"email": 42}"#,
        r#"{"email": "not-an-email"}"#,
        r#"{"email": "a@example.com", "handle": "no spaces"}"#,
        r#"{"email": "a@example.com", "password": 5}"#,
    ] {
        let response = raw(body).await.unwrap();
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{body}");
        let status = response.status().as_u16();
        assert_problem(400, status, &json(response).await);
    }
    let missing = app
        .bare_client()
        .post(app.url("/ghost/auth/email/signup"))
        .json(&j!({"email": "a@example.com"}))
        .send()
        .await
        .unwrap();
    let status = missing.status().as_u16();
    assert_problem(404, status, &json(missing).await);
    let verify = app
        .bare_client()
        .post(app.url("/auth/email/verify"))
        .json(&j!({"email": "a@example.com"}))
        .send()
        .await
        .unwrap();
    let status = verify.status().as_u16();
    assert_problem(400, status, &json(verify).await);
}

async fn password_follows_the_project_mode(backend: Backend) {
    let with_mode = |mode: PasswordMode| {
        let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
        config.settings.contract_settings.insert("storyden".into(), serde_json::json!({ "password": mode }));
        TestApp::builder(backend).with_project_config("default", config).spawn()
    };
    let required = with_mode(PasswordMode::Required).await;
    assert_eq!(sign_up(&required, j!({"email": unique_email("m")})).await.status(), 400);
    assert_eq!(sign_up(&required, j!({"email": unique_email("m"), "password": "longenough"})).await.status(), 200);
    let off = with_mode(PasswordMode::Off).await;
    assert_eq!(sign_up(&off, j!({"email": unique_email("m"), "password": "longenough"})).await.status(), 400);
    assert_eq!(sign_up(&off, j!({"email": unique_email("m")})).await.status(), 200);
    let optional = with_mode(PasswordMode::Optional).await;
    assert_eq!(sign_up(&optional, j!({"email": unique_email("m"), "password": "short"})).await.status(), 400);
    // A password given at sign-up works for password sign-in.
    let email = unique_email("pw");
    assert_eq!(sign_up(&optional, j!({"email": email, "password": "longenough"})).await.status(), 200);
    let signin = optional.post_json("/api/auth/sign-in", &j!({"email": email, "password": "longenough"})).await;
    assert_eq!(signin.status(), 200);
}
