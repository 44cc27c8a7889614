//! Native email verification and passwordless sign-in, over real SMTP.

use doorway_core::PasswordMode;
use doorway_server::settings::ProjectConfig;
use serde_json::json as j;

use crate::harness::{Backend, TestApp, json, mails_now, set_cookie, unique_email, wait_for_mails};
use crate::on_both_backends;

on_both_backends!(
    verify_email_by_link_and_by_code,
    resend_is_limited_to_three_mails_an_hour,
    passwordless_project_signs_in_by_code_and_link,
    opening_a_mailed_link_consumes_nothing,
);

/// The token of a mailed link.
fn link_token(link: &str) -> String {
    url::Url::parse(link).unwrap().query_pairs().find(|(k, _)| k == "token").unwrap().1.into_owned()
}

/// What the confirmation page's button sends: a same-origin urlencoded form.
async fn post_form(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.bare_client().post(app.url(path)).header("origin", &app.address).form(&[("token", token)]).send().await.unwrap()
}

fn config(verify_email: bool, password: PasswordMode) -> ProjectConfig {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.signup.verify_email = verify_email;
    config.settings.signup.password = password;
    config
}

async fn verify_email_by_link_and_by_code(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_smtp()
        .with_project_config("default", config(true, PasswordMode::Required))
        .spawn()
        .await;

    let by_link = unique_email("link");
    let created = json(app.sign_up("", &by_link, "Lin Kage", None).await).await;
    assert_eq!(created["data"]["user"]["emailVerified"], false);
    let mail = wait_for_mails(&by_link, 1).await.remove(0);
    assert!(mail.subject.contains("Acme"), "{}", mail.subject);
    let link = mail.link();
    assert!(link.starts_with(&format!("{}/api/auth/verify-email?token=", app.address)), "{link}");
    // Opening the link shows a confirmation page; its form posts the token.
    let page = app.bare_client().get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let verified = post_form(&app, "/api/auth/verify-email", &link_token(&link)).await;
    assert_eq!(verified.status(), 200);
    let body = json(verified).await;
    assert_eq!(body["data"]["user"]["emailVerified"], true);
    assert_eq!(body["message"], "Email verified");
    let reused = post_form(&app, "/api/auth/verify-email", &link_token(&link)).await;
    assert_eq!(reused.status(), 400);
    assert_eq!(json(reused).await["error"]["code"], "CODE_EXPIRED");
    let forged = post_form(&app, "/api/auth/verify-email", "forged").await;
    assert_eq!(json(forged).await["error"]["code"], "INVALID_CODE");

    let by_code = unique_email("code");
    app.sign_up("", &by_code, "Cody Code", None).await;
    let code = wait_for_mails(&by_code, 1).await[0].code();
    let wrong = app.post_json("/api/auth/verify-email", &j!({"email": by_code, "code": "12345x"})).await;
    assert_eq!(wrong.status(), 400);
    assert_eq!(json(wrong).await["error"]["code"], "INVALID_CODE");
    let ok = app.post_json("/api/auth/verify-email", &j!({"email": by_code, "code": code})).await;
    assert_eq!(ok.status(), 200);
    let missing = app.post_json("/api/auth/verify-email", &j!({"email": by_code})).await;
    assert_eq!(missing.status(), 422);

    let project = app.project_id("default").await;
    let audit = app.state.services.store.audit(&project).await.unwrap();
    assert!(
        audit.iter().any(|a| a.action == "verify_email" && a.outcome == "ok" && a.method.as_deref() == Some("link"))
    );
    assert!(audit.iter().any(|a| a.action == "verify_email" && a.outcome == "denied:invalid_code"));
    let events = app.state.services.store.outbox(&project).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.topic == "user.verified").count(), 2);
}

async fn resend_is_limited_to_three_mails_an_hour(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_smtp()
        .with_rate_limits()
        .with_project_config("default", config(true, PasswordMode::Required))
        .spawn()
        .await;
    let email = unique_email("resend");
    app.sign_up("", &email, "Re Send", None).await;
    for _ in 0..2 {
        let r = app.post_json("/api/auth/verify-email/resend", &j!({"email": email})).await;
        assert_eq!(r.status(), 200);
    }
    let fourth = app.post_json("/api/auth/verify-email/resend", &j!({"email": email})).await;
    assert_eq!(fourth.status(), 429);
    assert!(fourth.headers().contains_key("retry-after"));
    let mails = wait_for_mails(&email, 3).await;
    assert!(mails.iter().all(|m| m.code() == mails[0].code()), "the same code each time");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(mails_now(&email).len(), 3);
    // An unknown address gets the same answer and no mail.
    let stranger = unique_email("nobody");
    assert_eq!(app.post_json("/api/auth/verify-email/resend", &j!({"email": stranger})).await.status(), 200);
}

async fn passwordless_project_signs_in_by_code_and_link(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_smtp()
        .with_project_config("default", config(false, PasswordMode::Off))
        .spawn()
        .await;
    let email = unique_email("nopass");
    let created = app.post_json("/api/auth/sign-up", &j!({"email": email, "name": "No Pass"})).await;
    assert_eq!(created.status(), 201, "no password needed");
    let with_password = app
        .post_json(
            "/api/auth/sign-up",
            &j!({"email": unique_email("x"), "name": "Has Pass", "password": "Secure#Pass1"}),
        )
        .await;
    assert_eq!(with_password.status(), 422);
    let taken = app.post_json("/api/auth/sign-up", &j!({"email": email, "name": "No Pass"})).await;
    assert_eq!(taken.status(), 409);
    wait_for_mails(&email, 1).await;

    let request = app.post_json("/api/auth/sign-in/email-code", &j!({"email": email})).await;
    assert_eq!(request.status(), 200);
    let mails = wait_for_mails(&email, 2).await;
    let sign_in_mail = &mails[1];
    assert!(sign_in_mail.subject.contains("sign-in code"), "{}", sign_in_mail.subject);
    let response = app
        .bare_client()
        .post(app.url("/api/auth/sign-in/email-code/verify"))
        .json(&j!({"email": email, "code": sign_in_mail.code()}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(set_cookie(&response, "doorway_refresh").is_some());
    let body = json(response).await;
    assert_eq!(body["data"]["user"]["emailVerified"], true, "the code proves the mailbox");
    let token = body["data"]["session"]["token"].as_str().unwrap();
    let claims: serde_json::Value = {
        use base64::Engine;
        let payload = token.split('.').nth(1).unwrap();
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    };
    assert_eq!(claims["amr"], j!(["otp"]));
    let replay = app
        .bare_client()
        .post(app.url("/api/auth/sign-in/email-code/verify"))
        .json(&j!({"email": email, "code": sign_in_mail.code()}))
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 401);

    // Magic link.
    app.post_json("/api/auth/sign-in/email-code", &j!({"email": email})).await;
    let link = wait_for_mails(&email, 3).await[2].link();
    assert!(link.contains("/api/auth/sign-in/email-link?token="), "{link}");
    let by_link = post_form(&app, "/api/auth/sign-in/email-link", &link_token(&link)).await;
    assert_eq!(by_link.status(), 200);
    assert!(set_cookie(&by_link, "doorway_refresh").is_some());

    // An unknown address: same answer, no mail.
    let stranger = unique_email("stranger");
    assert_eq!(app.post_json("/api/auth/sign-in/email-code", &j!({"email": stranger})).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(mails_now(&stranger).is_empty());
    // No password sign-in for a passwordless account.
    let pw = app.post_json("/api/auth/sign-in", &j!({"email": email, "password": "Anything#1"})).await;
    assert_eq!(pw.status(), 401);
}

/// A mail scanner that fetches every link must not verify the address or sign anyone in: the
/// GET only shows a page whose button posts the token.
async fn opening_a_mailed_link_consumes_nothing(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_smtp()
        .with_project_config("default", config(true, PasswordMode::Optional))
        .spawn()
        .await;
    let email = unique_email("scanned");
    let created = json(app.sign_up("", &email, "Scan Ned", None).await).await;
    let verify_link = wait_for_mails(&email, 1).await[0].link();
    let token = link_token(&verify_link);

    for _ in 0..2 {
        let page = app.bare_client().get(&verify_link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let h = page.headers().clone();
        assert_eq!(h["content-type"], "text/html; charset=utf-8");
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(h["referrer-policy"], "no-referrer");
        let csp = h["content-security-policy"].to_str().unwrap();
        for directive in ["default-src 'none'", "form-action 'self'", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{directive}: {csp}");
        }
        assert!(set_cookie(&page, "doorway_access").is_none());
        let html = page.text().await.unwrap();
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains(r#"<form method="post" action="verify-email">"#), "{html}");
        assert!(html.contains(&format!(r#"name="token" value="{token}""#)), "{html}");
    }
    let me = json(
        app.bare_client()
            .get(app.url("/api/auth/me"))
            .bearer_auth(created["data"]["session"]["token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["data"]["user"]["emailVerified"], false, "the GETs verified nothing");
    // The page's form, sent by a browser that is signed in on this site: same-origin, accepted.
    let signed_in_cookie = format!("doorway_access={}", created["data"]["session"]["token"].as_str().unwrap());
    let confirmed = app
        .bare_client()
        .post(app.url("/api/auth/verify-email"))
        .header("origin", &app.address)
        .header("cookie", signed_in_cookie)
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    assert_eq!(json(confirmed).await["data"]["user"]["emailVerified"], true);

    // The magic link: the GET sets no cookie, the token still signs in afterwards (JSON too).
    app.post_json("/api/auth/sign-in/email-code", &j!({"email": email})).await;
    let link = wait_for_mails(&email, 2).await[1].link();
    let page = app.bare_client().get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(set_cookie(&page, "doorway_refresh").is_none() && set_cookie(&page, "doorway_access").is_none());
    assert!(page.text().await.unwrap().contains(r#"action="email-link""#));
    let by_json = app
        .bare_client()
        .post(app.url("/api/auth/sign-in/email-link"))
        .json(&j!({"token": link_token(&link)}))
        .send()
        .await
        .unwrap();
    assert_eq!(by_json.status(), 200);
    assert!(set_cookie(&by_json, "doorway_refresh").is_some());
    assert_eq!(post_form(&app, "/api/auth/sign-in/email-link", &link_token(&link)).await.status(), 401, "single use");

    // Whatever the link carries is escaped.
    let hostile = app
        .bare_client()
        .get(app.url("/api/auth/sign-in/email-link"))
        .query(&[("token", r#""><script>alert(1)</script>"#)])
        .send()
        .await
        .unwrap();
    let html = hostile.text().await.unwrap();
    assert!(!html.contains("<script") && html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
    // No token: an error in the native envelope, not axum's plain text.
    let missing = app.get("/api/auth/verify-email").await;
    assert_eq!(missing.status(), 400);
    assert_eq!(json(missing).await["error"]["code"], "INVALID_REQUEST");
    let no_token = post_form(&app, "/api/auth/sign-in/email-link", "").await;
    assert_eq!(no_token.status(), 401);
}
