//! Seed 001 (Replyke): change-password inside a session, and a forgotten password
//! (request-password-reset → mailed code or link → reset-password).

use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, TestApp, cookie_value, json, set_cookie, unique_email, wait_for_mails};
use crate::on_both_backends;
use crate::replyke_sessions::{PASSWORD, assert_auth_user};

on_both_backends!(
    change_password_keeps_this_session_and_ends_the_others,
    change_password_refusals,
    change_password_is_rate_limited,
    password_reset_by_mailed_code,
    password_reset_by_the_apps_link,
    password_reset_refusals,
    password_reset_mails_are_rate_limited,
    a_full_hashing_queue_answers_503,
    change_and_reset_accept_what_replyke_sign_up_accepts,
);

/// Satisfies both the Replyke policy and the project's stricter one.
const NEW_PASSWORD: &str = "Tr0ubadour&Co-2026";

fn token(body: &Value, key: &str) -> String {
    body[key].as_str().unwrap_or_else(|| panic!("no {key} in {body}")).to_owned()
}

async fn signed_up(app: &TestApp, slug: &str, email: &str) -> Value {
    let response = app.replyke(slug).sign_up(&j!({"email": email, "password": PASSWORD})).await;
    assert_eq!(response.status(), 201);
    json(response).await
}

async fn refresh_status(app: &TestApp, slug: &str, refresh_token: &str) -> u16 {
    let body = j!({"refreshToken": refresh_token});
    app.replyke(slug).with_cookie("request-new-access-token", Some(body), None).await.status().as_u16()
}

async fn sign_in_status(app: &TestApp, slug: &str, email: &str, password: &str) -> u16 {
    app.replyke(slug).sign_in(&j!({"email": email, "password": password})).await.status().as_u16()
}

async fn change_password_keeps_this_session_and_ends_the_others(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    let this = signed_up(&app, "acme", "cp@example.com").await;
    let other = json(replyke.sign_in(&j!({"email": "cp@example.com", "password": PASSWORD})).await).await;

    let response = replyke
        .with_bearer(
            "change-password",
            Some(&token(&this, "accessToken")),
            &j!({"password": PASSWORD, "newPassword": NEW_PASSWORD}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await, j!({"success": true, "message": "Password updated successfully."}));
    assert_eq!(refresh_status(&app, "acme", &token(&other, "refreshToken")).await, 403, "the other session ended");
    assert_eq!(refresh_status(&app, "acme", &token(&this, "refreshToken")).await, 200, "this one stays");
    assert_eq!(sign_in_status(&app, "acme", "cp@example.com", PASSWORD).await, 401);
    assert_eq!(sign_in_status(&app, "acme", "cp@example.com", NEW_PASSWORD).await, 200);
    let audit = app.state.services.store.audit(&app.project_id("acme").await).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "password.change" && a.outcome == "ok"));
}

async fn change_password_refusals(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    let created = signed_up(&app, "acme", "cpr@example.com").await;
    let access = token(&created, "accessToken");
    let change = |access: Option<String>, body: Value| {
        let replyke = &replyke;
        async move { replyke.with_bearer("change-password", access.as_deref(), &body).await }
    };
    let both = j!({"password": PASSWORD, "newPassword": NEW_PASSWORD});

    let response = change(None, both.clone()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(json(response).await["code"], "auth/unauthorized");
    let response = change(Some("not-a-token".into()), both.clone()).await;
    assert_eq!(response.status(), 403);
    assert_eq!(json(response).await["code"], "auth/invalid-access-token");
    // Another project's token does not open this one.
    let elsewhere = signed_up(&app, "default", "cpr@example.com").await;
    let response = change(Some(token(&elsewhere, "accessToken")), both.clone()).await;
    assert_eq!(response.status(), 403);

    for body in [
        j!({}),
        j!({"password": PASSWORD}),
        j!({"newPassword": NEW_PASSWORD}),
        j!({"password": "", "newPassword": NEW_PASSWORD}),
    ] {
        let response = change(Some(access.clone()), body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await["code"], "auth/missing-fields");
    }
    for body in [j!({"password": 1, "newPassword": NEW_PASSWORD}), j!([])] {
        let response = change(Some(access.clone()), body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await["code"], "auth/invalid-body");
    }
    let response = change(Some(access.clone()), j!({"password": "wrong password", "newPassword": NEW_PASSWORD})).await;
    assert_eq!(response.status(), 401);
    assert_eq!(json(response).await, j!({"error": "Incorrect password.", "code": "auth/wrong-password"}));
    let response = change(Some(access.clone()), j!({"password": PASSWORD, "newPassword": "short"})).await;
    assert_eq!(response.status(), 400);
    let body = json(response).await;
    assert_eq!(body["code"], "auth/invalid-password");
    assert_eq!(body["details"][0]["field"], "newPassword");
    assert_eq!(sign_in_status(&app, "acme", "cpr@example.com", PASSWORD).await, 200, "nothing changed");

    // An account without a password (a Storyden email sign-up in the default project).
    let storyden = app.storyden().sign_up(&j!({"email": unique_email("no-password")})).await;
    assert_eq!(storyden.status(), 200);
    let session = cookie_value(&set_cookie(&storyden, "storyden-session").expect("session cookie"));
    let response = app.replyke("default").with_bearer("change-password", Some(&session), &both).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json(response).await["code"], "auth/not-password-authenticated");

    let ghost = app.replyke("ghost").with_bearer("change-password", Some(&access), &both).await;
    assert_eq!(ghost.status(), 404);
    assert_eq!(json(ghost).await["code"], "project/not-found");
}

async fn change_password_is_rate_limited(backend: Backend) {
    let app = TestApp::builder(backend).with_rate_limits().spawn().await;
    let created = signed_up(&app, "default", "cpl@example.com").await;
    let access = token(&created, "accessToken");
    for attempt in 0..100 {
        let body = j!({"password": format!("guess-{attempt}"), "newPassword": NEW_PASSWORD});
        let response = app.replyke("default").with_bearer("change-password", Some(&access), &body).await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(json(response).await["code"], "auth/too-many-requests");
            return;
        }
        assert_eq!(response.status(), 401, "attempt {attempt}");
    }
    panic!("100 password guesses were never limited");
}

async fn password_reset_by_mailed_code(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    let email = unique_email("rk-reset");
    let first = signed_up(&app, "acme", &email).await;
    let second = json(replyke.sign_in(&j!({"email": email, "password": PASSWORD})).await).await;

    let response = replyke.post("request-password-reset", &j!({"email": email})).await;
    assert_eq!(response.status(), 200);
    let sent = json(response).await;
    assert_eq!(
        sent,
        j!({"success": true, "message": "If this address has an account, a password reset email was sent."})
    );
    // An unknown address: the same answer, and no mail.
    let stranger = unique_email("rk-stranger");
    let response = replyke.post("request-password-reset", &j!({"email": stranger})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await, sent);

    let mail = wait_for_mails(&email, 1).await.remove(0);
    assert!(mail.subject.contains("password reset"), "{}", mail.subject);
    assert!(mail.link().contains("/api/auth/reset-password?token="), "Doorway's own page by default: {}", mail.link());
    let code = mail.code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let response =
        replyke.post("reset-password", &j!({"email": email, "code": wrong, "newPassword": NEW_PASSWORD})).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json(response).await["code"], "auth/invalid-code");
    // A password the policy refuses costs no code.
    let response = replyke.post("reset-password", &j!({"email": email, "code": code, "newPassword": "short"})).await;
    assert_eq!(response.status(), 400);
    let body = json(response).await;
    assert_eq!(body["code"], "auth/invalid-password");
    assert_eq!(body["details"][0]["field"], "newPassword");

    let response =
        replyke.post("reset-password", &j!({"email": email, "code": code, "newPassword": NEW_PASSWORD})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await, j!({"success": true, "message": "Password reset successfully."}));
    // Every session ended; the new password opens a new one, and the address counts as verified.
    for session in [&first, &second] {
        assert_eq!(refresh_status(&app, "acme", &token(session, "refreshToken")).await, 403);
    }
    assert_eq!(sign_in_status(&app, "acme", &email, PASSWORD).await, 401);
    let signed_in = json(replyke.sign_in(&j!({"email": email, "password": NEW_PASSWORD})).await).await;
    assert_auth_user(&signed_in["user"], &email, "acme");
    assert_eq!(signed_in["user"]["isVerified"], true);
    // The code is used up.
    let again = replyke.post("reset-password", &j!({"email": email, "code": code, "newPassword": PASSWORD})).await;
    assert_eq!(again.status(), 400);
    let audit = app.state.services.store.audit(&app.project_id("acme").await).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "password.reset" && a.outcome == "ok"));
}

async fn password_reset_by_the_apps_link(backend: Backend) {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.redirect_allowlist = vec!["https://app.example.com".into()];
    let app = TestApp::builder(backend).with_smtp().with_project_config("acme", config).spawn().await;
    let replyke = app.replyke("acme");
    let email = unique_email("rk-link-reset");
    signed_up(&app, "acme", &email).await;

    let refused = replyke
        .post("request-password-reset", &j!({"email": email, "redirectTo": "https://evil.example.net/reset"}))
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(json(refused).await["code"], "auth/redirect-not-allowed");
    let response = replyke
        .post("request-password-reset", &j!({"email": email, "redirectTo": "https://app.example.com/reset"}))
        .await;
    assert_eq!(response.status(), 200);
    let link = wait_for_mails(&email, 1).await.remove(0).link();
    assert!(link.starts_with("https://app.example.com/reset?token="), "{link}");
    let link_token = url::Url::parse(&link).unwrap().query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned();
    let response = replyke.post("reset-password", &j!({"token": link_token, "newPassword": NEW_PASSWORD})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(sign_in_status(&app, "acme", &email, NEW_PASSWORD).await, 200);
    let forged = replyke.post("reset-password", &j!({"token": "forged", "newPassword": NEW_PASSWORD})).await;
    assert_eq!(forged.status(), 400);
    assert_eq!(json(forged).await["code"], "auth/invalid-code");
}

async fn password_reset_refusals(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    for (body, code) in [
        (j!({}), "auth/missing-fields"),
        (j!({"email": "not-an-address"}), "auth/invalid-email"),
        (j!({"email": ["a@example.com"]}), "auth/invalid-body"),
        (j!({"email": "a@example.com", "redirectTo": 5}), "auth/invalid-body"),
        (j!({"email": "a@example.com", "redirectTo": "not a url"}), "auth/redirect-not-allowed"),
    ] {
        let response = replyke.post("request-password-reset", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await["code"], code, "{body}");
    }
    for (body, code) in [
        (j!({}), "auth/missing-fields"),
        (j!({"email": "a@example.com", "code": "123456"}), "auth/missing-fields"),
        (j!({"email": "a@example.com", "newPassword": NEW_PASSWORD}), "auth/missing-fields"),
        (j!({"token": 7, "newPassword": NEW_PASSWORD}), "auth/invalid-body"),
        (j!({"token": "t", "newPassword": 7}), "auth/invalid-body"),
        (j!("reset"), "auth/invalid-body"),
    ] {
        let response = replyke.post("reset-password", &body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(json(response).await["code"], code, "{body}");
    }

    // Five wrong codes use the code up: the right one is then refused as expired.
    let email = unique_email("rk-expire");
    signed_up(&app, "acme", &email).await;
    assert_eq!(replyke.post("request-password-reset", &j!({"email": email})).await.status(), 200);
    let code = wait_for_mails(&email, 1).await.remove(0).code();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let response =
            replyke.post("reset-password", &j!({"email": email, "code": wrong, "newPassword": NEW_PASSWORD})).await;
        assert_eq!(response.status(), 400);
    }
    let response =
        replyke.post("reset-password", &j!({"email": email, "code": code, "newPassword": NEW_PASSWORD})).await;
    assert_eq!(response.status(), 400);
    assert_eq!(json(response).await["code"], "auth/code-expired");
    assert_eq!(sign_in_status(&app, "acme", &email, PASSWORD).await, 200, "the password is unchanged");

    for route in ["request-password-reset", "reset-password"] {
        let ghost = app.replyke("ghost").post(route, &j!({"email": "a@example.com"})).await;
        assert_eq!(ghost.status(), 404, "{route}");
        assert_eq!(json(ghost).await["code"], "project/not-found");
    }
}

async fn password_reset_mails_are_rate_limited(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().with_rate_limits().spawn().await;
    let email = unique_email("rk-reset-limit");
    signed_up(&app, "default", &email).await;
    for attempt in 0..50 {
        let response = app.replyke("default").post("request-password-reset", &j!({"email": email})).await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
            assert_eq!(json(response).await["code"], "auth/too-many-requests");
            return;
        }
        assert_eq!(response.status(), 200, "attempt {attempt}");
    }
    panic!("50 reset mails to one address were never limited");
}

async fn a_full_hashing_queue_answers_503(backend: Backend) {
    let slow =
        doorway_core::password_hashing::HashingSettings { iterations: 8, threads: 1, queue: 1, ..Default::default() };
    let app = TestApp::builder(backend).with_hashing(slow).spawn().await;
    let created = signed_up(&app, "default", "busy@example.com").await;
    let access = token(&created, "accessToken");
    let replyke = app.replyke("default");
    let routes: [(&str, Option<&str>, Value); 3] = [
        ("sign-in", None, j!({"email": "busy@example.com", "password": PASSWORD})),
        ("change-password", Some(&access), j!({"password": "wrong password", "newPassword": NEW_PASSWORD})),
        ("reset-password", None, j!({"email": "busy@example.com", "code": "000000", "newPassword": NEW_PASSWORD})),
    ];
    for (route, bearer, body) in routes {
        let attempts = (0..10).map(|_| replyke.with_bearer(route, bearer, &body));
        let responses = futures_util::future::join_all(attempts).await;
        let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
        assert!(statuses.contains(&503), "{route}: some attempts must be refused when the queue is full: {statuses:?}");
        for response in responses.into_iter().filter(|r| r.status() == 503) {
            assert_eq!(response.headers()["retry-after"], "1");
            assert_eq!(json(response).await["code"], "auth/server-busy", "{route}");
        }
    }
}

/// The Replyke policy (8–128 characters, no classes) holds for every password a Replyke route
/// sets, not only sign-up's: a user can always change or reset to a password they could sign up with.
async fn change_and_reset_accept_what_replyke_sign_up_accepts(backend: Backend) {
    const PLAIN: &str = "quiet meadowlark evening";
    const PLAINER: &str = "another quiet lark song";
    let app = TestApp::builder(backend).with_smtp().with_project("acme", "Acme").spawn().await;
    let replyke = app.replyke("acme");
    let email = unique_email("plain");
    let created = replyke.sign_up(&j!({"email": email, "password": PLAIN})).await;
    assert_eq!(created.status(), 201, "sign-up takes a password without character classes");
    let access = token(&json(created).await, "accessToken");
    let changed =
        replyke.with_bearer("change-password", Some(&access), &j!({"password": PLAIN, "newPassword": PLAINER})).await;
    assert_eq!(changed.status(), 200);
    let too_short =
        replyke.with_bearer("change-password", Some(&access), &j!({"password": PLAINER, "newPassword": "short"})).await;
    assert_eq!(too_short.status(), 400, "the Replyke policy still holds");

    replyke.post("request-password-reset", &j!({"email": email})).await;
    let code = wait_for_mails(&email, 1).await[0].code();
    let reset = replyke.post("reset-password", &j!({"email": email, "code": code, "newPassword": PLAIN})).await;
    assert_eq!(reset.status(), 200);
    assert_eq!(sign_in_status(&app, "acme", &email, PLAIN).await, 200);
}
