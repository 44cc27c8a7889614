//! Finding 2: pre-account hijacking. Someone signs up with the victim's address and their own
//! password and keeps a session; when the real owner first proves the mailbox, everything set
//! up before that proof is dropped unless the proof came from inside that very session.

use doorway_core::PasswordMode;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, cookie_value, json, set_cookie, unique_email, wait_for_mails};
use crate::on_both_backends;

on_both_backends!(
    owner_verifying_without_a_session_drops_the_native_password,
    owner_verifying_drops_a_storyden_password_and_cookie,
    owner_signing_in_by_code_drops_the_password,
    proof_inside_the_password_holders_session_keeps_everything,
);

async fn app(backend: Backend) -> TestApp {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.signup.verify_email = true;
    config.settings.signup.password = PasswordMode::Required;
    TestApp::builder(backend).with_smtp().with_project_config("default", config).spawn().await
}

/// Signs up over a cookie-less client; returns the sign-up's access token and refresh token.
async fn attacker_signs_up(app: &TestApp, email: &str) -> (String, String) {
    let response = app
        .bare_client()
        .post(app.url("/api/auth/sign-up"))
        .json(&j!({"email": email, "password": STRONG_PASSWORD, "name": "Mallory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let refresh = cookie_value(&set_cookie(&response, "doorway_refresh").expect("refresh cookie"));
    let access = json(response).await["data"]["session"]["token"].as_str().unwrap().to_owned();
    (access, refresh)
}

async fn password_sign_in(app: &TestApp, email: &str) -> reqwest::Response {
    app.bare_client()
        .post(app.url("/api/auth/sign-in"))
        .json(&j!({"email": email, "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, access: &str) -> reqwest::Response {
    app.bare_client().get(app.url("/api/auth/me")).bearer_auth(access).send().await.unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.bare_client()
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("doorway_refresh={token}"))
        .send()
        .await
        .unwrap()
}

/// The `account.secured` audit rows of the default project, as their `dropped` details.
async fn secured(app: &TestApp) -> Vec<Value> {
    let audit = app.state.services.store.audit(&app.project_id("default").await).await.unwrap();
    audit.into_iter().filter(|a| a.action == "account.secured").map(|a| a.detail["dropped"].clone()).collect()
}

async fn owner_verifying_without_a_session_drops_the_native_password(backend: Backend) {
    let app = app(backend).await;
    let victim = unique_email("victim");
    let (access, refresh_token) = attacker_signs_up(&app, &victim).await;
    let signed_in = password_sign_in(&app, &victim).await;
    assert_eq!(signed_in.status(), 200);
    let second_access = json(signed_in).await["data"]["session"]["token"].as_str().unwrap().to_owned();

    // The owner reads the mail and verifies, carrying a session of another account of theirs.
    let other = json(app.sign_up("", &unique_email("other"), "Other Me", None).await).await;
    let other_access = other["data"]["session"]["token"].as_str().unwrap().to_owned();
    let code = wait_for_mails(&victim, 1).await[0].code();
    let verified = app
        .bare_client()
        .post(app.url("/api/auth/verify-email"))
        .bearer_auth(&other_access)
        .json(&j!({"email": victim, "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);

    assert_eq!(password_sign_in(&app, &victim).await.status(), 401, "the attacker's password is gone");
    assert_eq!(me(&app, &access).await.status(), 401);
    assert_eq!(me(&app, &second_access).await.status(), 401);
    assert_eq!(refresh(&app, &refresh_token).await.status(), 401);
    assert_eq!(me(&app, &other_access).await.status(), 200, "the presenter's own account is untouched");
    assert_eq!(
        secured(&app).await,
        [j!({"password": true, "unverifiedIdentities": 0, "passkeys": 0, "sessionsRevoked": 2})]
    );
    let events = app.state.services.store.outbox(&app.project_id("default").await).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.topic == "user.secured").count(), 1);

    // The owner signs in by code from now on.
    app.post_json("/api/auth/sign-in/email-code", &j!({"email": victim})).await;
    let code = wait_for_mails(&victim, 2).await[1].code();
    let owner = app.post_json("/api/auth/sign-in/email-code/verify", &j!({"email": victim, "code": code})).await;
    assert_eq!(owner.status(), 200);
}

async fn owner_verifying_drops_a_storyden_password_and_cookie(backend: Backend) {
    let app = app(backend).await;
    let victim = unique_email("story-victim");
    let response = app
        .bare_client()
        .post(app.url("/auth/email/signup"))
        .json(&j!({"email": victim, "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = cookie_value(&set_cookie(&response, "storyden-session").expect("session cookie"));
    let with_cookie =
        |path: &str| app.bare_client().get(app.url(path)).header("cookie", format!("storyden-session={cookie}")).send();
    assert_eq!(with_cookie("/api/auth/me").await.unwrap().status(), 200);
    assert_eq!(password_sign_in(&app, &victim).await.status(), 200);

    let code = wait_for_mails(&victim, 1).await[0].code();
    let verified = app
        .bare_client()
        .post(app.url("/auth/email/verify"))
        .json(&j!({"email": victim, "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(with_cookie("/api/auth/me").await.unwrap().status(), 401);
    assert_eq!(password_sign_in(&app, &victim).await.status(), 401);
    assert_eq!(
        secured(&app).await,
        [j!({"password": true, "unverifiedIdentities": 0, "passkeys": 0, "sessionsRevoked": 2})]
    );
}

async fn owner_signing_in_by_code_drops_the_password(backend: Backend) {
    let app = app(backend).await;
    let victim = unique_email("code-victim");
    let (access, refresh_token) = attacker_signs_up(&app, &victim).await;
    wait_for_mails(&victim, 1).await;
    app.post_json("/api/auth/sign-in/email-code", &j!({"email": victim})).await;
    let code = wait_for_mails(&victim, 2).await[1].code();
    let owner = app
        .bare_client()
        .post(app.url("/api/auth/sign-in/email-code/verify"))
        .json(&j!({"email": victim, "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status(), 200);
    let owner_access = json(owner).await["data"]["session"]["token"].as_str().unwrap().to_owned();

    assert_eq!(password_sign_in(&app, &victim).await.status(), 401);
    assert_eq!(me(&app, &access).await.status(), 401);
    assert_eq!(refresh(&app, &refresh_token).await.status(), 401);
    let owner_me = json(me(&app, &owner_access).await).await;
    assert_eq!(owner_me["data"]["user"]["emailVerified"], true, "the code sign-in's own session survives");
    assert_eq!(
        secured(&app).await,
        [j!({"password": true, "unverifiedIdentities": 0, "passkeys": 0, "sessionsRevoked": 1})]
    );
}

async fn proof_inside_the_password_holders_session_keeps_everything(backend: Backend) {
    let app = app(backend).await;
    // Native: the code is sent with the sign-up's Bearer token.
    let email = unique_email("legit");
    let (access, refresh_token) = attacker_signs_up(&app, &email).await;
    let code = wait_for_mails(&email, 1).await[0].code();
    let verified = app
        .bare_client()
        .post(app.url("/api/auth/verify-email"))
        .bearer_auth(&access)
        .json(&j!({"email": email, "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(password_sign_in(&app, &email).await.status(), 200);
    assert_eq!(me(&app, &access).await.status(), 200);
    assert_eq!(refresh(&app, &refresh_token).await.status(), 200);
    // Already verified: a later code sign-in changes nothing.
    app.post_json("/api/auth/sign-in/email-code", &j!({"email": email})).await;
    let code = wait_for_mails(&email, 2).await[1].code();
    let by_code = app.post_json("/api/auth/sign-in/email-code/verify", &j!({"email": email, "code": code})).await;
    assert_eq!(by_code.status(), 200);
    assert_eq!(password_sign_in(&app, &email).await.status(), 200);

    // Native link, with the access cookie.
    let by_link = unique_email("legit-link");
    let (access, _) = attacker_signs_up(&app, &by_link).await;
    let link = wait_for_mails(&by_link, 1).await[0].link();
    let verified =
        app.bare_client().get(&link).header("cookie", format!("doorway_access={access}")).send().await.unwrap();
    assert_eq!(verified.status(), 303, "to the hosted verify page");
    assert_eq!(password_sign_in(&app, &by_link).await.status(), 200);

    // Storyden: the code is sent with the sign-up's cookie.
    let story = unique_email("legit-story");
    let response = app
        .bare_client()
        .post(app.url("/auth/email/signup"))
        .json(&j!({"email": story, "password": STRONG_PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = cookie_value(&set_cookie(&response, "storyden-session").unwrap());
    let code = wait_for_mails(&story, 1).await[0].code();
    let verified = app
        .bare_client()
        .post(app.url("/auth/email/verify"))
        .header("cookie", format!("storyden-session={cookie}"))
        .json(&j!({"email": story, "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), 200);
    assert_eq!(password_sign_in(&app, &story).await.status(), 200);
    assert!(secured(&app).await.is_empty());
}
