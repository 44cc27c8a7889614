//! Native email verification and passwordless sign-in, over real SMTP.

use doorway_core::PasswordMode;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, TestApp, json, mails_now, set_cookie, unique_email, wait_for_mails};
use crate::on_both_backends;

on_both_backends!(
    verify_email_by_link_and_by_code,
    resend_is_limited_to_three_mails_an_hour,
    passwordless_project_signs_in_by_code_and_link,
    opening_a_mailed_link_consumes_nothing,
    wrong_codes_and_code_requests_do_not_tell_known_addresses_from_unknown,
    a_third_party_cannot_spend_the_owners_mail_budget,
    new_codes_stop_at_the_per_address_cap,
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
    // Opening the link leads to the hosted verify page; its form posts the token.
    let page = app.bare_client().get(&link).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert!(page.headers()["location"].to_str().unwrap().starts_with("/ui/verify-email?token="));
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
/// GET only leads to a page whose button posts the token.
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
        let landing = app.bare_client().get(&verify_link).send().await.unwrap();
        assert_eq!(landing.status(), 303);
        assert!(set_cookie(&landing, "doorway_access").is_none());
        let page =
            app.bare_client().get(app.url(landing.headers()["location"].to_str().unwrap())).send().await.unwrap();
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
        assert!(!html.contains("<script>"), "no inline script: {html}");
        assert!(html.contains(r#"<form method="post" action="/ui/verify-email">"#), "{html}");
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

/// Status and body of each of six wrong codes for `email` at `path`.
async fn six_wrong_codes(app: &TestApp, path: &str, email: &str, wrong: &str) -> Vec<(u16, Value)> {
    let mut answers = Vec::new();
    for _ in 0..6 {
        let response =
            app.bare_client().post(app.url(path)).json(&j!({"email": email, "code": wrong})).send().await.unwrap();
        let status = response.status().as_u16();
        let mut body: Value = response.json().await.unwrap();
        // Problem documents name the request; nothing else may differ.
        body.as_object_mut().map(|b| b.remove("instance"));
        answers.push((status, body));
    }
    answers
}

fn another_code(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

/// After 5 wrong codes an address with an account used to answer CODE_EXPIRED and an unknown
/// one INVALID_CODE forever; asking for a code did no work for an unknown address. Now both
/// count attempts on a verification row and answer alike, on every contract.
async fn wrong_codes_and_code_requests_do_not_tell_known_addresses_from_unknown(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_smtp()
        .with_project_config("default", config(true, PasswordMode::Optional))
        .spawn()
        .await;
    let known = unique_email("known");
    assert_eq!(app.sign_up("", &known, "Known Person", None).await.status(), 201);
    let code = wait_for_mails(&known, 1).await[0].code();
    let unknown = unique_email("unknown");

    // Verification codes (native).
    let expected: Vec<(u16, Value)> = std::iter::repeat_n("INVALID_CODE", 5)
        .chain(["CODE_EXPIRED"])
        .map(|code| {
            let message = if code == "INVALID_CODE" {
                "The code or link is not valid"
            } else {
                "The code or link has expired or had too many wrong attempts; request a new one"
            };
            (400, j!({"success": false, "error": {"code": code, "message": message}}))
        })
        .collect();
    let for_known = six_wrong_codes(&app, "/api/auth/verify-email", &known, &another_code(&code)).await;
    assert_eq!(for_known, expected);
    assert_eq!(six_wrong_codes(&app, "/api/auth/verify-email", &unknown, &another_code(&code)).await, expected);

    // Sign-in codes: the request answers alike, then wrong codes answer alike.
    let mut requests = Vec::new();
    for email in [&known, &unknown] {
        let response = app.post_json("/api/auth/sign-in/email-code", &j!({"email": email})).await;
        requests.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    assert_eq!(requests[0], requests[1]);
    assert_eq!(requests[0].0, 200);
    let sign_in_code = wait_for_mails(&known, 2).await[1].code();
    let path = "/api/auth/sign-in/email-code/verify";
    let for_known = six_wrong_codes(&app, path, &known, &another_code(&sign_in_code)).await;
    let for_unknown = six_wrong_codes(&app, path, &unknown, &another_code(&sign_in_code)).await;
    assert_eq!(for_known, for_unknown);
    assert_eq!(for_known[5].1["error"]["code"], "CODE_EXPIRED");

    // Storyden's verify answers alike too.
    let story_known = unique_email("story-known");
    let created =
        app.bare_client().post(app.url("/auth/email/signup")).json(&j!({"email": story_known})).send().await.unwrap();
    assert_eq!(created.status(), 200);
    let story_code = wait_for_mails(&story_known, 1).await[0].code();
    let story_unknown = unique_email("story-unknown");
    let for_known = six_wrong_codes(&app, "/auth/email/verify", &story_known, &another_code(&story_code)).await;
    let for_unknown = six_wrong_codes(&app, "/auth/email/verify", &story_unknown, &another_code(&story_code)).await;
    assert_eq!(for_known, for_unknown);
    assert_ne!(for_known[0], for_known[5], "the code runs out after 5 wrong attempts");

    // Only real accounts get mail; the unknown address's code mail was written but suppressed.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(mails_now(&unknown).is_empty());
    let project = app.project_id("default").await;
    let suppressed = app
        .state
        .services
        .store
        .deliveries(
            &project,
            doorway_core::webhooks::DeliveryKind::Mail,
            Some(doorway_core::webhooks::DeliveryStatus::Suppressed),
            50,
        )
        .await
        .unwrap();
    assert!(suppressed.iter().any(|d| d.target == unknown));
}

/// Three code requests by anyone used to block the owner's own codes for an hour. Now
/// re-sending the live code spends no budget (the mail goes to the owner, with the owner's
/// code; only a per-address re-send allowance bounds it), and new codes spend the requester's
/// own budget (client IP + address); a per-address cap bounds mail bombing from many clients.
async fn a_third_party_cannot_spend_the_owners_mail_budget(backend: Backend) {
    let app = TestApp::builder(backend)
        .with_smtp()
        .with_rate_limits()
        .configure(|s| s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()])
        .with_project_config("default", config(true, PasswordMode::Required))
        .spawn()
        .await;
    let victim = unique_email("victim");
    let owner_ip = "198.51.100.1";
    let resend = |ip: &'static str| {
        app.client
            .post(app.url("/api/auth/verify-email/resend"))
            .header("x-forwarded-for", ip)
            .json(&j!({"email": victim}))
            .send()
    };
    // Five wrong codes kill the live code, so that the next request needs a new one.
    let burn = |mails: usize| {
        let app = &app;
        let victim = victim.clone();
        async move {
            let code = wait_for_mails(&victim, mails).await.pop().unwrap().code();
            let wrong = if code == "000000" { "111111" } else { "000000" };
            for _ in 0..5 {
                let r = app.post_json("/api/auth/verify-email", &j!({"email": victim, "code": wrong})).await;
                assert_eq!(r.status(), 400);
            }
        }
    };
    let signed_up = app
        .client
        .post(app.url("/api/auth/sign-up"))
        .header("x-forwarded-for", owner_ip)
        .json(&j!({"email": victim, "password": crate::harness::STRONG_PASSWORD, "name": "Vic Tim"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 201);

    // Re-sends of the live code: no budget, only the address's re-send allowance (2/hour).
    let attacker = "203.0.113.7";
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(resend(attacker).await.unwrap().status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429]);
    let mails = wait_for_mails(&victim, 3).await;
    assert!(mails.iter().all(|m| m.code() == mails[0].code()), "the owner's own live code each time");

    // New codes (after burning the live one) spend the third party's own budget (3/hour).
    let mut sent = 3;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        burn(sent).await;
        let status = resend(attacker).await.unwrap().status().as_u16();
        sent += usize::from(status == 200);
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 200, 429], "the third party spends its own budget");

    // The owner still gets a new code, and it works.
    assert_eq!(resend(owner_ip).await.unwrap().status(), 200, "the owner still gets a code");
    sent += 1;
    let code = wait_for_mails(&victim, sent).await.pop().unwrap().code();
    let verified = app.post_json("/api/auth/verify-email", &j!({"email": victim, "code": code})).await;
    assert_eq!(verified.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(mails_now(&victim).len(), 7);
}

/// However many clients ask, an address gets at most `verification_email_per_address` new
/// codes an hour.
async fn new_codes_stop_at_the_per_address_cap(backend: Backend) {
    let mut config = config(false, PasswordMode::Off);
    config.settings.rate_limits.verification_email_per_address = doorway_core::rate_limit::Rule::per_hour(4);
    let app = TestApp::builder(backend)
        .with_smtp()
        .with_rate_limits()
        .configure(|s| s.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()])
        .with_project_config("default", config)
        .spawn()
        .await;
    let target = unique_email("bombed");
    let created = app.post_json("/api/auth/sign-up", &j!({"email": target, "name": "Bom Bed"})).await;
    assert_eq!(created.status(), 201, "the sign-up mail is the first new code");
    let mut statuses = Vec::new();
    for (i, ip) in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"].iter().enumerate() {
        if i > 0 {
            // Kill the live sign-in code so that the next request needs a new one.
            let code = wait_for_mails(&target, i + 1).await.pop().unwrap().code();
            let wrong = if code == "000000" { "111111" } else { "000000" };
            for _ in 0..5 {
                app.post_json("/api/auth/sign-in/email-code/verify", &j!({"email": target, "code": wrong})).await;
            }
        }
        let response = app
            .client
            .post(app.url("/api/auth/sign-in/email-code"))
            .header("x-forwarded-for", *ip)
            .json(&j!({"email": target}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429], "each client had budget left; the address had not");
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(mails_now(&target).len(), 4);
}
