//! Native account upkeep: forgotten password (code and link), password change, the user's
//! sessions. Mail goes through the real SMTP receiver.

use doorway_core::PasswordMode;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, json, mails_now, unique_email, wait_for_mails};
use crate::on_both_backends;

on_both_backends!(
    a_user_walks_through_the_whole_session_life,
    a_forgotten_password_is_reset_by_code_and_every_session_ends,
    the_reset_link_opens_a_form_that_sets_the_password,
    asking_for_a_reset_says_nothing_about_the_address,
    the_reset_mail_can_link_to_the_apps_own_page_only_if_allowed,
    changing_the_password_needs_the_current_one_and_ends_other_sessions,
    an_account_without_a_password_can_set_one,
    sessions_are_listed_and_ended_one_by_one_or_all_at_once,
    account_routes_refuse_bad_input_in_the_envelope,
);

const NEW_PASSWORD: &str = "Fresh-Horse-Battery-93";

fn config() -> ProjectConfig {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.redirect_allowlist = vec!["https://app.example.com/account".into()];
    config
}

async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend).with_smtp().with_project_config("default", config()).spawn().await
}

/// Signs in with a fresh client and returns the access token.
async fn signed_in(app: &TestApp, email: &str, password: &str) -> String {
    let r = app.post_json("/api/auth/sign-in", &j!({"email": email, "password": password})).await;
    assert_eq!(r.status(), 200, "sign-in of {email}");
    json(r).await["data"]["session"]["token"].as_str().unwrap().to_owned()
}

async fn signed_up(app: &TestApp, email: &str) -> String {
    let r = app.sign_up("", email, "Rhea Set", None).await;
    assert_eq!(r.status(), 201);
    json(r).await["data"]["session"]["token"].as_str().unwrap().to_owned()
}

async fn me_status(app: &TestApp, token: &str) -> u16 {
    app.bare_client().get(app.url("/api/auth/me")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

async fn post_bearer(app: &TestApp, path: &str, token: &str, body: &Value) -> reqwest::Response {
    app.bare_client().post(app.url(path)).bearer_auth(token).json(body).send().await.unwrap()
}

async fn error_code(response: reqwest::Response) -> Value {
    json(response).await["error"]["code"].clone()
}

/// Sign-up → who-am-I → refresh → sign-out → sign-in → forgot/reset → sign-in, as a browser
/// with a cookie jar does it.
async fn a_user_walks_through_the_whole_session_life(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("walk");
    let browser = app.browser();
    let post = |path: &str, body: Value| browser.post(app.url(path)).json(&body).send();

    let created =
        post("/api/auth/sign-up", j!({"email": email, "password": STRONG_PASSWORD, "name": "Wal Ker"})).await.unwrap();
    assert_eq!(created.status(), 201);
    let me = browser.get(app.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(me.status(), 200, "the access cookie is enough");
    assert_eq!(json(me).await["data"]["user"]["email"], email);
    let refreshed = post("/api/auth/refresh", j!({})).await.unwrap();
    assert_eq!(refreshed.status(), 200);
    assert_eq!(post("/api/auth/sign-out", j!({})).await.unwrap().status(), 200);
    assert_eq!(browser.get(app.url("/api/auth/me")).send().await.unwrap().status(), 401);
    assert_eq!(post("/api/auth/refresh", j!({})).await.unwrap().status(), 401);

    let signed_in = post("/api/auth/sign-in", j!({"email": email, "password": STRONG_PASSWORD})).await.unwrap();
    assert_eq!(signed_in.status(), 200);
    assert_eq!(post("/api/auth/forgot-password", j!({"email": email})).await.unwrap().status(), 200);
    let code = wait_for_mails(&email, 1).await[0].code();
    let reset =
        post("/api/auth/reset-password", j!({"email": email, "code": code, "password": NEW_PASSWORD})).await.unwrap();
    assert_eq!(reset.status(), 200);
    assert_eq!(browser.get(app.url("/api/auth/me")).send().await.unwrap().status(), 401, "the reset ended it");
    let again = post("/api/auth/sign-in", j!({"email": email, "password": NEW_PASSWORD})).await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(browser.get(app.url("/api/auth/me")).send().await.unwrap().status(), 200);
}

async fn a_forgotten_password_is_reset_by_code_and_every_session_ends(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("forgot");
    let first = signed_up(&app, &email).await;
    let second = signed_in(&app, &email, STRONG_PASSWORD).await;

    let asked = app.post_json("/api/auth/forgot-password", &j!({"email": email})).await;
    assert_eq!(asked.status(), 200);
    let mail = wait_for_mails(&email, 1).await.remove(0);
    assert!(mail.subject.contains("password reset code"), "{}", mail.subject);
    assert!(mail.link().starts_with(&format!("{}/api/auth/reset-password?token=", app.address)), "{}", mail.link());
    let code = mail.code();

    let wrong = app
        .post_json("/api/auth/reset-password", &j!({"email": email, "code": "000000", "password": NEW_PASSWORD}))
        .await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(error_code(wrong).await, "INVALID_CODE");
    // A refused password costs no code.
    let weak =
        app.post_json("/api/auth/reset-password", &j!({"email": email, "code": code, "password": "password"})).await;
    assert_eq!(weak.status(), 422);
    assert_eq!(json(weak).await["error"]["details"][0]["field"], "password");

    let reset =
        app.post_json("/api/auth/reset-password", &j!({"email": email, "code": code, "password": NEW_PASSWORD})).await;
    assert_eq!(reset.status(), 200);
    let body = json(reset).await;
    assert_eq!(body["data"]["user"]["emailVerified"], true, "the reset proved the mailbox");
    let again =
        app.post_json("/api/auth/reset-password", &j!({"email": email, "code": code, "password": NEW_PASSWORD})).await;
    assert_eq!(again.status(), 400, "a code is used once");

    assert_eq!(me_status(&app, &first).await, 401, "every session ended");
    assert_eq!(me_status(&app, &second).await, 401);
    let old = app.post_json("/api/auth/sign-in", &j!({"email": email, "password": STRONG_PASSWORD})).await;
    assert_eq!(old.status(), 401);
    signed_in(&app, &email, NEW_PASSWORD).await;

    let project = app.project_id("default").await;
    let audit = app.state.services.store.audit(&project).await.unwrap();
    let reset = audit.iter().find(|a| a.action == "password.reset" && a.outcome == "ok").expect("audited");
    // The address was unproved, so the proof itself secured the account (ending both sessions)
    // before the new password was set.
    assert!(reset.detail["sessionsRevoked"].is_u64());
    assert!(audit.iter().any(|a| a.action == "account.secured" && a.detail["dropped"]["sessionsRevoked"] == 2));
    assert!(audit.iter().any(|a| a.action == "password.reset" && a.outcome == "denied:invalid_code"));
    assert!(audit.iter().any(|a| a.action == "password.reset_requested" && a.outcome == "ok"));
    let events = app.state.services.store.outbox(&project).await.unwrap();
    assert!(events.iter().any(|e| e.topic == "user.password_changed" && e.payload["reason"] == "reset"));
}

async fn the_reset_link_opens_a_form_that_sets_the_password(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("resetlink");
    signed_up(&app, &email).await;
    app.post_json("/api/auth/forgot-password", &j!({"email": email})).await;
    let link = wait_for_mails(&email, 1).await[0].link();
    let token = url::Url::parse(&link).unwrap().query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned();

    // Opening the link changes nothing: it leads to the hosted reset page's form.
    let landing = app.bare_client().get(&link).send().await.unwrap();
    assert_eq!(landing.status(), 303);
    let location = landing.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with("/ui/reset-password?token="), "{location}");
    let page = app.bare_client().get(app.url(&location)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"name="password" type="password""#) && html.contains(r#"action="/ui/reset-password""#),
        "{html}"
    );

    let post = |password: &'static str| {
        app.bare_client()
            .post(app.url("/api/auth/reset-password"))
            .header("origin", &app.address)
            .form(&[("token", token.as_str()), ("password", password)])
            .send()
    };
    let weak = post("password").await.unwrap();
    assert_eq!(weak.status(), 422);
    assert!(weak.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(weak.text().await.unwrap().contains("Password not changed"));
    let done = post(NEW_PASSWORD).await.unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Password changed"));
    let reused = post(NEW_PASSWORD).await.unwrap();
    assert_eq!(reused.status(), 400);
    signed_in(&app, &email, NEW_PASSWORD).await;

    // The JSON form of the same token.
    let json_reuse = app.post_json("/api/auth/reset-password", &j!({"token": token, "password": NEW_PASSWORD})).await;
    assert_eq!(error_code(json_reuse).await, "CODE_EXPIRED");
    let forged = app.post_json("/api/auth/reset-password", &j!({"token": "forged", "password": NEW_PASSWORD})).await;
    assert_eq!(error_code(forged).await, "INVALID_CODE");

    // The address is proved now: a second reset ends the sessions itself.
    let session = signed_in(&app, &email, NEW_PASSWORD).await;
    app.post_json("/api/auth/forgot-password", &j!({"email": email})).await;
    let code = wait_for_mails(&email, 2).await[1].code();
    let body = j!({"email": email, "code": code, "password": "Second-Fresh-Password-7"});
    assert_eq!(app.post_json("/api/auth/reset-password", &body).await.status(), 200);
    assert_eq!(me_status(&app, &session).await, 401);
    let project = app.project_id("default").await;
    let audit = app.state.services.store.audit(&project).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "password.reset" && a.detail["sessionsRevoked"] == 2));
}

async fn asking_for_a_reset_says_nothing_about_the_address(backend: Backend) {
    let app = app(backend).await;
    let known = unique_email("known");
    signed_up(&app, &known).await;
    let stranger = unique_email("stranger");
    let a = app.post_json("/api/auth/forgot-password", &j!({"email": known})).await;
    let b = app.post_json("/api/auth/forgot-password", &j!({"email": stranger})).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(json(a).await, json(b).await, "the same answer");
    wait_for_mails(&known, 1).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(mails_now(&stranger).is_empty(), "no mail for an unknown address");
    // A guessed code for an unknown address is refused like a wrong one.
    let guess = app
        .post_json("/api/auth/reset-password", &j!({"email": stranger, "code": "123456", "password": NEW_PASSWORD}))
        .await;
    assert_eq!(error_code(guess).await, "INVALID_CODE");
}

async fn the_reset_mail_can_link_to_the_apps_own_page_only_if_allowed(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("applink");
    signed_up(&app, &email).await;
    for evil in
        ["https://evil.example/account", "https://app.example.com/other", "//evil.example", "javascript:alert(1)"]
    {
        let r = app.post_json("/api/auth/forgot-password", &j!({"email": email, "redirectTo": evil})).await;
        assert_eq!(r.status(), 422, "{evil}");
        assert_eq!(json(r).await["error"]["details"][0]["field"], "redirectTo");
    }
    let r = app
        .post_json(
            "/api/auth/forgot-password",
            &j!({"email": email, "redirectTo": "https://app.example.com/account/reset?lang=en"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let link = wait_for_mails(&email, 1).await[0].link();
    assert!(link.starts_with("https://app.example.com/account/reset?lang=en&token="), "{link}");
}

async fn changing_the_password_needs_the_current_one_and_ends_other_sessions(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("change");
    let mine = signed_up(&app, &email).await;
    let other = signed_in(&app, &email, STRONG_PASSWORD).await;
    let change = |current: &str, new: &str| j!({"currentPassword": current, "newPassword": new});

    let anonymous = app
        .bare_client()
        .post(app.url("/api/auth/change-password"))
        .json(&change(STRONG_PASSWORD, NEW_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let wrong = post_bearer(&app, "/api/auth/change-password", &mine, &change("not-it-at-all", NEW_PASSWORD)).await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(error_code(wrong).await, "INVALID_CURRENT_PASSWORD");
    let weak = post_bearer(&app, "/api/auth/change-password", &mine, &change(STRONG_PASSWORD, "password")).await;
    assert_eq!(weak.status(), 422);
    assert_eq!(json(weak).await["error"]["details"][0]["field"], "newPassword");
    let has_one = post_bearer(&app, "/api/auth/change-password", &mine, &j!({"newPassword": NEW_PASSWORD})).await;
    assert_eq!(has_one.status(), 409);
    assert_eq!(error_code(has_one).await, "PASSWORD_ALREADY_SET");

    let ok = post_bearer(&app, "/api/auth/change-password", &mine, &change(STRONG_PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(me_status(&app, &mine).await, 200, "the session that asked stays");
    assert_eq!(me_status(&app, &other).await, 401, "every other session ends");
    signed_in(&app, &email, NEW_PASSWORD).await;
    let old = app.post_json("/api/auth/sign-in", &j!({"email": email, "password": STRONG_PASSWORD})).await;
    assert_eq!(old.status(), 401);

    // With the access cookie from a foreign page: refused before anything runs.
    let browser = app.browser();
    browser
        .post(app.url("/api/auth/sign-in"))
        .json(&j!({"email": email, "password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap();
    let forged = browser
        .post(app.url("/api/auth/change-password"))
        .header("origin", "https://evil.example")
        .json(&change(NEW_PASSWORD, "Evil-Chosen-Password-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    signed_in(&app, &email, NEW_PASSWORD).await;
}

async fn an_account_without_a_password_can_set_one(backend: Backend) {
    let mut config = config();
    config.settings.signup.password = PasswordMode::Optional;
    let app = TestApp::builder(backend).with_smtp().with_project_config("default", config).spawn().await;
    let email = unique_email("nopass");
    let created = app.post_json("/api/auth/sign-up", &j!({"email": email, "name": "No Pass"})).await;
    assert_eq!(created.status(), 201);
    let token = json(created).await["data"]["session"]["token"].as_str().unwrap().to_owned();

    let change = post_bearer(
        &app,
        "/api/auth/change-password",
        &token,
        &j!({"currentPassword": "x", "newPassword": NEW_PASSWORD}),
    )
    .await;
    assert_eq!(change.status(), 409);
    assert_eq!(error_code(change).await, "NO_PASSWORD");
    let set = post_bearer(&app, "/api/auth/change-password", &token, &j!({"newPassword": NEW_PASSWORD})).await;
    assert_eq!(set.status(), 200);
    assert_eq!(json(set).await["message"], "Password set");
    let twice = post_bearer(&app, "/api/auth/change-password", &token, &j!({"newPassword": NEW_PASSWORD})).await;
    assert_eq!(error_code(twice).await, "PASSWORD_ALREADY_SET");
    signed_in(&app, &email, NEW_PASSWORD).await;
}

async fn sessions_are_listed_and_ended_one_by_one_or_all_at_once(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("sessions");
    let first = signed_up(&app, &email).await;
    let second = signed_in(&app, &email, STRONG_PASSWORD).await;
    let third = signed_in(&app, &email, STRONG_PASSWORD).await;
    let stranger = signed_up(&app, &unique_email("stranger")).await;

    let list = |token: String| {
        let app = &app;
        async move { app.bare_client().get(app.url("/api/auth/sessions")).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(app.bare_client().get(app.url("/api/auth/sessions")).send().await.unwrap().status(), 401);
    let listed = json(list(third.clone()).await).await;
    let sessions = listed["data"]["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 3, "{listed}");
    assert_eq!(sessions[0]["current"], true, "newest first, and it is this one");
    assert!(sessions[1..].iter().all(|s| s["current"] == false));
    assert_eq!(sessions[2]["amr"], j!(["pwd"]));
    assert!(sessions[0]["id"].as_str().unwrap().starts_with("ses_") && sessions[0]["expiresAt"].is_string());
    let second_id = sessions[1]["id"].as_str().unwrap().to_owned();

    let delete = |token: &str, id: &str| {
        app.bare_client().delete(app.url(&format!("/api/auth/sessions/{id}"))).bearer_auth(token).send()
    };
    let not_theirs = delete(&stranger, &second_id).await.unwrap();
    assert_eq!(not_theirs.status(), 404);
    assert_eq!(error_code(not_theirs).await, "SESSION_NOT_FOUND");
    assert_eq!(me_status(&app, &second).await, 200, "another user cannot end it");
    assert_eq!(delete(&third, "ses_unknown").await.unwrap().status(), 404);
    assert_eq!(delete(&third, &second_id).await.unwrap().status(), 200);
    assert_eq!(me_status(&app, &second).await, 401);
    assert_eq!(delete(&third, &second_id).await.unwrap().status(), 404, "already ended");
    assert_eq!(json(list(third.clone()).await).await["data"]["sessions"].as_array().unwrap().len(), 2);

    let everywhere = post_bearer(&app, "/api/auth/sign-out-everywhere", &third, &j!({})).await;
    assert_eq!(everywhere.status(), 200);
    assert_eq!(json(everywhere).await["data"]["revoked"], 2);
    assert_eq!(me_status(&app, &first).await, 401);
    assert_eq!(me_status(&app, &third).await, 401);
    assert_eq!(me_status(&app, &stranger).await, 200, "other users keep theirs");
    assert_eq!(post_bearer(&app, "/api/auth/sign-out-everywhere", &third, &j!({})).await.status(), 401);
}

async fn account_routes_refuse_bad_input_in_the_envelope(backend: Backend) {
    let app = app(backend).await;
    let token = signed_up(&app, &unique_email("bad")).await;
    for path in ["/api/auth/forgot-password", "/api/auth/reset-password", "/api/auth/change-password"] {
        let malformed = app
            .bare_client()
            .post(app.url(path))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{\"email\":")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 400, "{path}");
        assert_eq!(error_code(malformed).await, "INVALID_JSON", "{path}");
        let wrong_types =
            post_bearer(&app, path, &token, &j!({"email": 7, "password": [], "newPassword": {}, "code": 1})).await;
        assert_eq!(wrong_types.status(), 422, "{path}");
        assert_eq!(json(wrong_types).await["success"], false);
    }
    let not_an_address = app.post_json("/api/auth/forgot-password", &j!({"email": "not an address"})).await;
    assert_eq!(not_an_address.status(), 422);
    assert_eq!(app.get("/api/auth/reset-password").await.status(), 400, "no token");
}
