//! Storyden's auth surface beyond seed 004: password and handle sign-up and sign-in, the email
//! code sign-in, adding and changing a password, the reset by mailed link, logout and
//! `GET /accounts`, over real SMTP.

use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, cookie_value, json, set_cookie, unique_email};
use crate::on_both_backends;
use crate::receiver::{Answer, Receiver, SECRET};

on_both_backends!(
    a_user_walks_through_sign_up_sign_out_sign_in_and_a_reset,
    handle_accounts_have_no_address_and_sign_in_by_handle,
    email_sign_in_mails_a_code_that_verify_turns_into_a_session,
    a_password_is_added_once_then_changed_with_the_old_one,
    reset_links_go_only_to_allowed_pages,
    logout_redirects_to_paths_only,
    accounts_needs_a_live_session,
    sign_ins_and_code_mails_are_rate_limited,
    sign_ups_password_changes_and_resets_are_rate_limited,
    hook_refusals_are_403_and_503_problems,
    a_full_hashing_queue_is_503,
    password_sign_ups_are_refused_when_the_project_takes_no_passwords,
    bad_bodies_are_400_problems_on_every_route,
    password_changes_follow_the_storyden_policy,
);

const NEW_PASSWORD: &str = "Fresh-Horse-Battery-93";
const RESET_PAGE: &str = "https://forum.example.com/password-reset";

fn config() -> ProjectConfig {
    let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    config.settings.redirect_allowlist = vec![RESET_PAGE.into()];
    config
}

async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend).with_smtp().with_project_config("default", config()).spawn().await
}

/// A request from a browser holding `session` (the `storyden-session` cookie value) if any.
async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<Value>,
    session: Option<&str>,
) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.bare_client().request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(session) = session {
        request = request.header("cookie", format!("storyden-session={session}"));
    }
    request.send().await.unwrap()
}

async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    call(app, "POST", path, Some(body), None).await
}

/// `200 {id}` with a `storyden-session` cookie: the cookie's value and the id.
async fn session_of(response: reqwest::Response) -> (String, String) {
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(&response, "storyden-session").expect("a storyden-session cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    let body = json(response).await;
    assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    (cookie_value(&cookie), body["id"].as_str().unwrap().to_owned())
}

async fn account(app: &TestApp, session: &str) -> reqwest::Response {
    call(app, "GET", "/accounts", None, Some(session)).await
}

#[track_caller]
fn assert_problem(expected: u16, status: u16, body: &Value) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected, "{body}");
    assert!(body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(), "{body}");
}

/// The status and problem body of a refusal (checking its media type).
async fn problem(response: reqwest::Response) -> (u16, Value) {
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let status = response.status().as_u16();
    (status, json(response).await)
}

async fn a_user_walks_through_sign_up_sign_out_sign_in_and_a_reset(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("walker");

    // Sign up by address, with a handle.
    let signed_up = post(
        &app,
        "/auth/email-password/signup",
        j!({"email": email, "password": STRONG_PASSWORD, "handle": "Walker"}),
    )
    .await;
    let (session, id) = session_of(signed_up).await;
    assert!(id.starts_with("usr_"));

    // Who am I.
    let me = account(&app, &session).await;
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["cache-control"], "no-store");
    let me = json(me).await;
    let joined = me["joined"].as_str().unwrap().to_owned();
    assert_eq!(
        me,
        j!({
            "id": id, "handle": "walker", "name": "walker", "joined": joined, "verified_status": "none",
            "email_addresses": [{"email_address": email, "verified": false}],
        })
    );

    // Sign out: the cookie is cleared and the session ends.
    let out = call(&app, "POST", "/auth/logout?redirect=/goodbye", None, Some(&session)).await;
    assert_eq!(out.status(), 302);
    assert_eq!(out.headers()["location"], "/goodbye");
    assert_eq!(out.headers()["clear-site-data"], "\"cookies\"");
    let cleared = set_cookie(&out, "storyden-session").unwrap();
    assert!(cleared.starts_with("storyden-session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(account(&app, &session).await.status(), 401, "the session ended");

    // Sign in again, by address.
    let signed_in =
        post(&app, "/auth/email-password/signin", j!({"email": email.to_uppercase(), "password": STRONG_PASSWORD}))
            .await;
    let (session, same) = session_of(signed_in).await;
    assert_eq!(same, id);
    assert_eq!(account(&app, &session).await.status(), 200);

    // Forgot the password: the mail links to the front end's page with the token.
    let asked = post(
        &app,
        "/auth/email-password/reset",
        j!({"email": email, "token_url": {"url": RESET_PAGE, "query": "reset_token"}}),
    )
    .await;
    assert_eq!(asked.status(), 200);
    assert_eq!(asked.text().await.unwrap(), "");
    let mails = app.wait_for_mails_to(&email, 1).await;
    let link = mails.last().unwrap().link();
    let prefix = format!("{RESET_PAGE}?reset_token=");
    assert!(link.starts_with(&prefix), "{link}");
    let token = link[prefix.len()..].to_owned();

    let reset = post(&app, "/auth/password/reset", j!({"token": token, "new": NEW_PASSWORD})).await;
    assert_eq!(reset.status(), 200);
    assert_eq!(json(reset).await, j!({"id": id}));
    assert_eq!(account(&app, &session).await.status(), 401, "a reset ends every session");
    let replay = post(&app, "/auth/password/reset", j!({"token": token, "new": NEW_PASSWORD})).await;
    let (status, body) = problem(replay).await;
    assert_problem(401, status, &body);

    let old = post(&app, "/auth/email-password/signin", j!({"email": email, "password": STRONG_PASSWORD})).await;
    let (status, body) = problem(old).await;
    assert_problem(401, status, &body);
    let new = post(&app, "/auth/email-password/signin", j!({"email": email, "password": NEW_PASSWORD})).await;
    let (session, _) = session_of(new).await;
    let me = json(account(&app, &session).await).await;
    assert_eq!(me["verified_status"], "verified_email", "the reset proved the mailbox: {me}");
    assert_eq!(me["email_addresses"][0]["verified"], true);

    // The same address again is 409, as Storyden answers.
    let again = post(&app, "/auth/email-password/signup", j!({"email": email, "password": STRONG_PASSWORD})).await;
    assert!(set_cookie(&again, "storyden-session").is_none());
    let (status, body) = problem(again).await;
    assert_problem(409, status, &body);
}

async fn handle_accounts_have_no_address_and_sign_in_by_handle(backend: Backend) {
    let app = app(backend).await;
    let handle = format!("odin_{}", &uuid::Uuid::now_v7().simple().to_string()[24..]);
    let signed_up = post(&app, "/auth/password/signup", j!({"identifier": handle, "token": STRONG_PASSWORD})).await;
    let (session, id) = session_of(signed_up).await;
    let me = json(account(&app, &session).await).await;
    assert_eq!(me["id"], id.as_str());
    assert_eq!(me["handle"], handle.as_str());
    assert_eq!(me["verified_status"], "none");
    assert_eq!(me["email_addresses"], j!([]));
    // Other contracts see the account too, without an address.
    let native = app.bare_client().get(app.url("/api/auth/me")).bearer_auth(&session).send().await.unwrap();
    assert_eq!(json(native).await["data"]["user"]["email"], Value::Null);

    // Handles are unique whatever their case; a second address-less account is fine.
    let taken =
        post(&app, "/auth/password/signup", j!({"identifier": handle.to_uppercase(), "token": STRONG_PASSWORD})).await;
    assert!(set_cookie(&taken, "storyden-session").is_none());
    let (status, body) = problem(taken).await;
    assert_problem(409, status, &body);
    let other = format!("{handle}x");
    assert_eq!(
        post(&app, "/auth/password/signup", j!({"identifier": other, "token": STRONG_PASSWORD})).await.status(),
        200
    );

    // The account has a password: adding one is a conflict.
    let add = call(&app, "POST", "/auth/password", Some(j!({"password": NEW_PASSWORD})), Some(&session)).await;
    let (status, body) = problem(add).await;
    assert_problem(409, status, &body);

    let out = call(&app, "POST", "/auth/logout", None, Some(&session)).await;
    assert_eq!(out.status(), 302);
    assert_eq!(out.headers()["location"], "/");

    let signed_in =
        post(&app, "/auth/password/signin", j!({"identifier": handle.to_uppercase(), "token": STRONG_PASSWORD})).await;
    let (session, same) = session_of(signed_in).await;
    assert_eq!(same, id);
    assert_eq!(account(&app, &session).await.status(), 200);

    // Wrong password, unknown handle and a malformed one: one answer.
    for (identifier, token) in
        [(handle.as_str(), NEW_PASSWORD), ("nobody-here", STRONG_PASSWORD), ("no spaces!", STRONG_PASSWORD)]
    {
        let refused = post(&app, "/auth/password/signin", j!({"identifier": identifier, "token": token})).await;
        assert!(set_cookie(&refused, "storyden-session").is_none());
        let (status, body) = problem(refused).await;
        assert_problem(401, status, &body);
        assert_eq!(body["detail"], "Invalid credentials");
    }
    let bad_handle = post(&app, "/auth/password/signup", j!({"identifier": "x", "token": STRONG_PASSWORD})).await;
    let (status, body) = problem(bad_handle).await;
    assert_problem(400, status, &body);
}

async fn email_sign_in_mails_a_code_that_verify_turns_into_a_session(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("coder");
    let (_, id) = session_of(post(&app, "/auth/email/signup", j!({"email": email})).await).await;
    app.wait_for_mails_to(&email, 1).await;

    let asked = post(&app, "/auth/email/signin", j!({"email": email})).await;
    assert_eq!(asked.status(), 200);
    assert_eq!(json(asked).await, j!({"id": ""}));
    let code = app.wait_for_mails_to(&email, 2).await[1].code();
    // Asking again mails the same code.
    assert_eq!(post(&app, "/auth/email/signin", j!({"email": email})).await.status(), 200);
    assert_eq!(app.wait_for_mails_to(&email, 3).await[2].code(), code);

    // An unknown address: the same answer, and no mail.
    let stranger = unique_email("stranger");
    let unknown = post(&app, "/auth/email/signin", j!({"email": stranger})).await;
    assert_eq!(unknown.status(), 200);
    assert_eq!(json(unknown).await, j!({"id": ""}));

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let refused = post(&app, "/auth/email/verify", j!({"email": email, "code": wrong})).await;
    assert!(set_cookie(&refused, "storyden-session").is_none());
    let (status, body) = problem(refused).await;
    assert_problem(400, status, &body);

    let verified = post(&app, "/auth/email/verify", j!({"email": email, "code": code})).await;
    let (session, same) = session_of(verified).await;
    assert_eq!(same, id);
    let me = json(account(&app, &session).await).await;
    assert_eq!(me["verified_status"], "verified_email", "a sign-in code proves the mailbox: {me}");
    let used = post(&app, "/auth/email/verify", j!({"email": email, "code": code})).await;
    assert_eq!(used.status(), 400);
    assert!(app.mails_to(&stranger).is_empty());
}

async fn a_password_is_added_once_then_changed_with_the_old_one(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("adder");
    let (session, id) = session_of(post(&app, "/auth/email/signup", j!({"email": email})).await).await;

    // No password yet: nothing to change.
    let change = |old: &str, new: &str, session: Option<String>| {
        let body = j!({"old": old, "new": new});
        let app = &app;
        async move { call(app, "PATCH", "/auth/password", Some(body), session.as_deref()).await }
    };
    let (status, body) = problem(change(STRONG_PASSWORD, NEW_PASSWORD, Some(session.clone())).await).await;
    assert_problem(404, status, &body);

    let anonymous = call(&app, "POST", "/auth/password", Some(j!({"password": STRONG_PASSWORD})), None).await;
    let (status, body) = problem(anonymous).await;
    assert_problem(401, status, &body);
    let weak = call(&app, "POST", "/auth/password", Some(j!({"password": "short"})), Some(&session)).await;
    let (status, body) = problem(weak).await;
    assert_problem(400, status, &body);
    assert!(body["errors"].is_array(), "{body}");

    let added = call(&app, "POST", "/auth/password", Some(j!({"password": STRONG_PASSWORD})), Some(&session)).await;
    assert_eq!(added.status(), 200);
    assert_eq!(json(added).await, j!({"id": id}));
    let twice = call(&app, "POST", "/auth/password", Some(j!({"password": NEW_PASSWORD})), Some(&session)).await;
    let (status, body) = problem(twice).await;
    assert_problem(409, status, &body);

    // A second browser, signed in with the password.
    let (other, _) =
        session_of(post(&app, "/auth/email-password/signin", j!({"email": email, "password": STRONG_PASSWORD})).await)
            .await;

    let (status, body) = problem(change("Wrong-Password-42", NEW_PASSWORD, Some(session.clone())).await).await;
    assert_problem(401, status, &body);
    let (status, body) = problem(change(STRONG_PASSWORD, NEW_PASSWORD, None).await).await;
    assert_problem(401, status, &body);
    let (status, body) = problem(change(STRONG_PASSWORD, "short", Some(session.clone())).await).await;
    assert_problem(400, status, &body);

    let changed = change(STRONG_PASSWORD, NEW_PASSWORD, Some(session.clone())).await;
    assert_eq!(changed.status(), 200);
    assert_eq!(json(changed).await, j!({"id": id}));
    assert_eq!(account(&app, &session).await.status(), 200, "this session stays");
    assert_eq!(account(&app, &other).await.status(), 401, "the other one ends");
    let new = post(&app, "/auth/email-password/signin", j!({"email": email, "password": NEW_PASSWORD})).await;
    assert_eq!(new.status(), 200);
}

async fn reset_links_go_only_to_allowed_pages(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("resetter");
    session_of(post(&app, "/auth/email-password/signup", j!({"email": email, "password": STRONG_PASSWORD})).await)
        .await;
    let ask = |token_url: Value| post(&app, "/auth/email-password/reset", j!({"email": email, "token_url": token_url}));

    for url in ["https://evil.example/password-reset", "https://forum.example.com/elsewhere", "/password-reset"] {
        let (status, body) = problem(ask(j!({"url": url, "query": "token"})).await).await;
        assert_problem(400, status, &body);
    }
    for query in ["", "a&b=c", "to ken", &"q".repeat(65)] {
        let (status, body) = problem(ask(j!({"url": RESET_PAGE, "query": query})).await).await;
        assert_problem(400, status, &body);
    }
    for token_url in [Value::Null, j!("https://forum.example.com"), j!({"url": RESET_PAGE})] {
        let (status, body) = problem(ask(token_url).await).await;
        assert_problem(400, status, &body);
    }
    let bad_address = post(
        &app,
        "/auth/email-password/reset",
        j!({"email": "not-an-address", "token_url": {"url": RESET_PAGE, "query": "token"}}),
    )
    .await;
    let (status, body) = problem(bad_address).await;
    assert_problem(400, status, &body);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(app.mails_to(&email).is_empty(), "no refused request sent mail");

    // An unknown address gets the same answer and no mail.
    let stranger = unique_email("nobody");
    let unknown = post(
        &app,
        "/auth/email-password/reset",
        j!({"email": stranger, "token_url": {"url": RESET_PAGE, "query": "t"}}),
    )
    .await;
    assert_eq!(unknown.status(), 200);

    let (status, body) =
        problem(post(&app, "/auth/password/reset", j!({"token": "forged", "new": NEW_PASSWORD})).await).await;
    assert_problem(401, status, &body);
    assert_eq!(ask(j!({"url": RESET_PAGE, "query": "t"})).await.status(), 200);
    let link = app.wait_for_mails_to(&email, 1).await[0].link();
    let token = link.split_once("?t=").unwrap().1.to_owned();
    let weak = post(&app, "/auth/password/reset", j!({"token": token, "new": "short"})).await;
    let (status, body) = problem(weak).await;
    assert_problem(400, status, &body);
    // A refused password costs no token.
    assert_eq!(post(&app, "/auth/password/reset", j!({"token": token, "new": NEW_PASSWORD})).await.status(), 200);
    assert!(app.mails_to(&stranger).is_empty());
}

async fn logout_redirects_to_paths_only(backend: Backend) {
    let app = app(backend).await;
    let location = |response: &reqwest::Response| response.headers()["location"].to_str().unwrap().to_owned();
    for evil in [
        "//evil.example",
        "https://evil.example",
        "/\\evil.example",
        "//evil.example/%2F..",
        "/\n/evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "evil.example",
    ] {
        let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("redirect", evil).finish();
        let out = call(&app, "POST", &format!("/auth/logout?{query}"), None, None).await;
        assert_eq!((out.status().as_u16(), location(&out)), (302, "/".to_owned()), "{evil:?}");
    }
    let repeated = call(&app, "POST", "/auth/logout?redirect=/a&redirect=//evil.example&x=%ZZ", None, None).await;
    assert_eq!((repeated.status().as_u16(), location(&repeated)), (302, "/a".to_owned()), "the first one counts");
    let kept = call(&app, "POST", "/auth/logout?redirect=/threads/42%3Fpage%3D2", None, None).await;
    assert_eq!(location(&kept), "/threads/42?page=2");
    let no_session = call(&app, "POST", "/auth/logout", None, Some("not-a-token")).await;
    assert_eq!((no_session.status().as_u16(), location(&no_session)), (302, "/".to_owned()));
    assert!(set_cookie(&no_session, "storyden-session").is_some(), "the cookie is cleared anyway");

    // With the front end's address configured, the path is on it.
    let mut config = config();
    config.settings.contract_settings.insert("storyden".into(), j!({"web_address": "https://forum.example.com/"}));
    let fronted = TestApp::builder(backend).with_project_config("default", config).spawn().await;
    let out = call(&fronted, "POST", "/auth/logout?redirect=/bye", None, None).await;
    assert_eq!(location(&out), "https://forum.example.com/bye");
    let out = call(&fronted, "POST", "/auth/logout?redirect=//evil.example", None, None).await;
    assert_eq!(location(&out), "https://forum.example.com/");
}

async fn accounts_needs_a_live_session(backend: Backend) {
    let app = app(backend).await;
    let anonymous = app.bare_client().get(app.url("/accounts")).send().await.unwrap();
    let (status, body) = problem(anonymous).await;
    assert_problem(401, status, &body);
    let (status, body) = problem(account(&app, "forged.token.value").await).await;
    assert_problem(401, status, &body);
    // A bearer access token works as well as the cookie.
    let email = unique_email("bearer");
    let (session, id) = session_of(post(&app, "/auth/email/signup", j!({"email": email})).await).await;
    let bearer = app.bare_client().get(app.url("/accounts")).bearer_auth(&session).send().await.unwrap();
    assert_eq!(json(bearer).await["id"], id.as_str());
}

async fn sign_ins_and_code_mails_are_rate_limited(backend: Backend) {
    let app = TestApp::builder(backend).with_smtp().with_rate_limits().spawn().await;
    let mut last = 0;
    for _ in 0..40 {
        let r = post(&app, "/auth/password/signin", j!({"identifier": "nobody", "token": STRONG_PASSWORD})).await;
        last = r.status().as_u16();
        if last == 429 {
            assert!(r.headers().contains_key("retry-after"));
            let (status, body) = problem(r).await;
            assert_problem(429, status, &body);
            break;
        }
    }
    assert_eq!(last, 429, "sign-in attempts are limited");
    let email_sign_in =
        post(&app, "/auth/email-password/signin", j!({"email": "a@example.com", "password": "x"})).await;
    assert_eq!(email_sign_in.status(), 429, "the same limit covers sign-in by address");

    let email = unique_email("budget");
    session_of(post(&app, "/auth/email/signup", j!({"email": email})).await).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(post(&app, "/auth/email/signin", j!({"email": email})).await.status().as_u16());
    }
    assert_eq!(statuses.first(), Some(&200));
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

async fn bad_bodies_are_400_problems_on_every_route(backend: Backend) {
    let app = app(backend).await;
    let routes: &[(&str, &str, &[&str])] = &[
        (
            "POST",
            "/auth/password/signup",
            &[r#"{"identifier": "odin"}"#, r#"{"identifier": 1, "token": "x"}"#, r#"{"token": "x"}"#],
        ),
        ("POST", "/auth/password/signin", &[r#"{"identifier": "odin"}"#, r#"{"identifier": "odin", "token": 5}"#]),
        (
            "POST",
            "/auth/email-password/signup",
            &[
                r#"{"email": "a@example.com"}"#,
                r#"{"email": "nope", "password": "longenough"}"#,
                r#"{"email": "a@example.com", "password": "longenough", "handle": 7}"#,
            ],
        ),
        (
            "POST",
            "/auth/email-password/signin",
            &[r#"{"email": "a@example.com"}"#, r#"{"email": ["a"], "password": "x"}"#],
        ),
        (
            "POST",
            "/auth/email/signin",
            &[r#"{}"#, r#"{"email": "nope"}"#, r#"{"email": "a@example.com", "handle": 3}"#],
        ),
        (
            "POST",
            "/auth/email/verify",
            &[r#"{"email": "a@example.com"}"#, r#"{"email": "a@example.com", "code": 123456}"#],
        ),
        ("POST", "/auth/password", &[r#"{}"#, r#"{"password": true}"#]),
        ("PATCH", "/auth/password", &[r#"{"old": "x"}"#, r#"{"old": 1, "new": "y"}"#]),
        (
            "POST",
            "/auth/email-password/reset",
            &[r#"{"email": "a@example.com"}"#, r#"{"email": "a@example.com", "token_url": {"url": 1, "query": "t"}}"#],
        ),
        ("POST", "/auth/password/reset", &[r#"{"token": "x"}"#, r#"{"token": "x", "new": 42}"#]),
    ];
    for (method, path, bodies) in routes {
        for body in bodies.iter().copied().chain(["{nope", "[]", "null", "\"text\""]) {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = app
                .bare_client()
                .request(method.clone(), app.url(path))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let (status, problem_body) = problem(response).await;
            assert_eq!(status, 400, "{method} {path} {body}");
            assert_problem(400, status, &problem_body);
        }
    }
    // Not JSON at all.
    let form = app
        .bare_client()
        .post(app.url("/auth/password/signin"))
        .header("content-type", "text/plain")
        .body("identifier=odin")
        .send()
        .await
        .unwrap();
    let (status, body) = problem(form).await;
    assert_problem(415, status, &body);
    // Another project's routes answer in the same format.
    let missing = post(&app, "/ghost/auth/password/signin", j!({"identifier": "odin", "token": "x"})).await;
    let (status, body) = problem(missing).await;
    assert_problem(404, status, &body);
}

/// Posts until the answer is 429 (at most `tries` times); the 429 must be a problem with Retry-After.
async fn until_429(app: &TestApp, method: &str, path: &str, body: Value, session: Option<&str>, tries: usize) {
    for _ in 0..tries {
        let response = call(app, method, path, Some(body.clone()), session).await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"), "{path}");
            let (status, body) = problem(response).await;
            assert_problem(429, status, &body);
            return;
        }
    }
    panic!("{method} {path}: no 429 after {tries} tries");
}

fn handle() -> String {
    format!("h_{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

async fn sign_ups_password_changes_and_resets_are_rate_limited(backend: Backend) {
    let mut config = config();
    config.settings.rate_limits.enabled = true;
    let app =
        TestApp::builder(backend).with_smtp().with_rate_limits().with_project_config("default", config).spawn().await;
    let email = unique_email("limited");
    let (session, _) =
        session_of(post(&app, "/auth/email-password/signup", j!({"email": email, "password": STRONG_PASSWORD})).await)
            .await;
    until_429(&app, "POST", "/auth/password/signup", j!({"identifier": handle(), "token": STRONG_PASSWORD}), None, 6)
        .await;
    let more =
        post(&app, "/auth/email-password/signup", j!({"email": unique_email("more"), "password": STRONG_PASSWORD}));
    let (status, body) = problem(more.await).await;
    assert_problem(429, status, &body);

    let reset = j!({"email": email, "token_url": {"url": RESET_PAGE, "query": "token"}});
    until_429(&app, "POST", "/auth/email-password/reset", reset, None, 5).await;
    until_429(&app, "POST", "/auth/password/reset", j!({"token": "forged", "new": NEW_PASSWORD}), None, 32).await;
    let wrong = j!({"old": "Wrong-Password-42", "new": NEW_PASSWORD});
    until_429(&app, "PATCH", "/auth/password", wrong, Some(&session), 32).await;
}

async fn hook_refusals_are_403_and_503_problems(backend: Backend) {
    let hooked = |receiver: &Receiver, timeout_ms: u64| {
        let mut config = config();
        config.settings.hooks = doorway_core::hooks::HooksSettings {
            pre_signup: Some(doorway_core::hooks::PreSignupHook {
                url: receiver.url.clone(),
                secret: SECRET.into(),
                timeout_ms,
                on_failure: doorway_core::hooks::OnFailure::Reject,
            }),
        };
        TestApp::builder(backend).with_project_config("default", config).spawn()
    };
    let deny =
        Receiver::start(Answer::Json(axum::http::StatusCode::OK, j!({"allow": false, "message": "Not here"}))).await;
    let app = hooked(&deny, 3000).await;
    let by_handle = post(&app, "/auth/password/signup", j!({"identifier": handle(), "token": STRONG_PASSWORD})).await;
    let (status, body) = problem(by_handle).await;
    assert_problem(403, status, &body);
    assert_eq!(body["detail"], "Not here");
    let by_email =
        post(&app, "/auth/email-password/signup", j!({"email": unique_email("hooked"), "password": STRONG_PASSWORD}))
            .await;
    let (status, body) = problem(by_email).await;
    assert_problem(403, status, &body);

    let hang = Receiver::start(Answer::Hang(std::time::Duration::from_secs(5))).await;
    let app = hooked(&hang, 300).await;
    for (path, body) in [
        ("/auth/password/signup", j!({"identifier": handle(), "token": STRONG_PASSWORD})),
        ("/auth/email-password/signup", j!({"email": unique_email("slow"), "password": STRONG_PASSWORD})),
    ] {
        let response = post(&app, path, body).await;
        assert!(response.headers().contains_key("retry-after"), "{path}");
        let (status, body) = problem(response).await;
        assert_problem(503, status, &body);
    }
}

async fn a_full_hashing_queue_is_503(backend: Backend) {
    let slow =
        doorway_core::password_hashing::HashingSettings { iterations: 8, threads: 1, queue: 1, ..Default::default() };
    let app = TestApp::builder(backend).with_hashing(slow).spawn().await;
    let routes = [
        ("/auth/password/signup", "identifier", "token"),
        ("/auth/password/signin", "identifier", "token"),
        ("/auth/email-password/signup", "email", "password"),
        ("/auth/email-password/signin", "email", "password"),
    ];
    for (path, name_key, password_key) in routes {
        let attempts = (0..10).map(|i| {
            let app = &app;
            let name = if name_key == "email" { format!("busy{i}@example.com") } else { format!("busy_{i}") };
            async move { post(app, path, j!({name_key: name, password_key: STRONG_PASSWORD})).await }
        });
        let responses = futures_util::future::join_all(attempts).await;
        let busy: Vec<reqwest::Response> = responses.into_iter().filter(|r| r.status() == 503).collect();
        assert!(!busy.is_empty(), "{path}: some attempts are refused while the queue is full");
        for response in busy {
            assert_eq!(response.headers()["retry-after"], "1");
            let (status, body) = problem(response).await;
            assert_problem(503, status, &body);
        }
    }
}

async fn password_sign_ups_are_refused_when_the_project_takes_no_passwords(backend: Backend) {
    let mut config = config();
    config.settings.contract_settings.insert("storyden".into(), j!({"password": "off"}));
    let app = TestApp::builder(backend).with_project_config("default", config).spawn().await;
    for (path, body) in [
        ("/auth/password/signup", j!({"identifier": handle(), "token": STRONG_PASSWORD})),
        ("/auth/email-password/signup", j!({"email": unique_email("off"), "password": STRONG_PASSWORD})),
    ] {
        let response = post(&app, path, body).await;
        assert!(set_cookie(&response, "storyden-session").is_none());
        let (status, body) = problem(response).await;
        assert_problem(400, status, &body);
    }
}

/// `storyden.password_policy` (8–128 characters) holds for every password a Storyden route sets:
/// what sign-up accepted, a change accepts too.
async fn password_changes_follow_the_storyden_policy(backend: Backend) {
    const PLAIN: &str = "quiet meadowlark evening";
    let app = app(backend).await;
    let (session, _) =
        session_of(post(&app, "/auth/password/signup", j!({"identifier": "plainsong", "token": PLAIN})).await).await;
    let changed = call(
        &app,
        "PATCH",
        "/auth/password",
        Some(j!({"old": PLAIN, "new": "another quiet lark song"})),
        Some(&session),
    )
    .await;
    assert_eq!(changed.status(), 200);
    let signed_in =
        post(&app, "/auth/password/signin", j!({"identifier": "plainsong", "token": "another quiet lark song"}));
    session_of(signed_in.await).await;
}
