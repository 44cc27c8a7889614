//! Passkeys through the native JSON routes, end to end with a software authenticator:
//! passkey-only sign-up, discoverable sign-in, adding/listing/removing one's passkeys, and
//! every refusal (expired or replayed ceremony, another browser, wrong origin, unknown
//! credential, a sign counter that went back, bad bodies, an address that has an account).

use doorway_core::passkey::PasskeySettings;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, TestApp, json, manual_clock, set_cookie, unique_email, wait_for_mails};
use crate::on_both_backends;
use crate::soft_authenticator::SoftAuthenticator;

on_both_backends!(
    passkey_sign_up_then_sign_in_without_a_username,
    ceremonies_are_single_use_bound_to_the_browser_and_expire,
    a_wrong_origin_is_rejected,
    unknown_credentials_and_cloned_counters_are_refused,
    bad_bodies_answer_4xx,
    an_address_with_an_account_is_refused,
    a_password_account_adds_lists_and_removes_passkeys,
    a_passkey_set_up_before_the_address_was_proved_is_dropped,
    passkeys_are_disabled_unless_enabled,
    project_routes_scope_the_ceremony_cookie,
);

const ORIGIN: &str = "https://app.example";

fn config() -> ProjectConfig {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.passkeys =
        PasskeySettings { enabled: true, rp_id: Some("app.example".into()), origins: vec![ORIGIN.into()] };
    config
}

async fn app(backend: Backend) -> TestApp {
    TestApp::builder(backend).with_smtp().with_project_config("default", config()).spawn().await
}

async fn post(client: &reqwest::Client, app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    client.post(app.url(path)).json(body).send().await.unwrap()
}

/// Asks for options and answers them with the authenticator; returns the options' `publicKey`.
async fn options(client: &reqwest::Client, app: &TestApp, path: &str, body: &Value) -> Value {
    let response = post(client, app, path, body).await;
    assert_eq!(response.status(), 200, "{path}");
    let cookie = set_cookie(&response, "doorway_passkey").expect("the ceremony's cookie");
    assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/api/auth") && cookie.contains("Max-Age=300"));
    let body = json(response).await;
    assert_eq!(body["success"], true);
    body["data"]["publicKey"].clone()
}

/// Signs up with a new passkey on `client`; returns the sign-up's body.
async fn passkey_sign_up(app: &TestApp, client: &reqwest::Client, key: &mut SoftAuthenticator, email: &str) -> Value {
    let public_key =
        options(client, app, "/api/auth/passkey/sign-up/options", &j!({"email": email, "name": "Ada"})).await;
    let response = post(client, app, "/api/auth/passkey/sign-up", &key.create(&public_key)).await;
    assert_eq!(response.status(), 201);
    json(response).await
}

async fn passkey_sign_in(app: &TestApp, client: &reqwest::Client, key: &mut SoftAuthenticator) -> reqwest::Response {
    let public_key = options(client, app, "/api/auth/passkey/sign-in/options", &j!({})).await;
    post(client, app, "/api/auth/passkey/sign-in", &key.get(&public_key)).await
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("none")
}

async fn passkey_sign_up_then_sign_in_without_a_username(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("ada");
    let mut key = SoftAuthenticator::new(ORIGIN);
    let browser = app.browser();

    let public_key =
        options(&browser, &app, "/api/auth/passkey/sign-up/options", &j!({"email": email, "name": "Ada"})).await;
    assert_eq!(public_key["rp"], j!({"name": "Acme", "id": "app.example"}));
    assert_eq!(public_key["user"]["name"], email.as_str());
    assert_eq!(public_key["user"]["displayName"], "Ada");
    assert_eq!(public_key["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(public_key["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(public_key["timeout"], 300_000);
    let response = post(&browser, &app, "/api/auth/passkey/sign-up", &key.create(&public_key)).await;
    assert_eq!(response.status(), 201);
    assert!(set_cookie(&response, "doorway_refresh").is_some());
    assert!(set_cookie(&response, "doorway_passkey").unwrap().contains("Max-Age=0"), "the ceremony cookie is cleared");
    let created = json(response).await;
    assert_eq!(created["data"]["user"]["email"], email.as_str());
    assert_eq!(created["data"]["user"]["name"], "Ada");
    assert_eq!(created["data"]["user"]["emailVerified"], false, "verified by the mailed code, as email sign-up");
    assert_eq!(claims(created["data"]["session"]["token"].as_str().unwrap())["amr"], j!(["hwk", "user"]));
    assert!(wait_for_mails(&email, 1).await[0].code().len() >= 6, "a verification code is mailed");

    // Another browser, no address typed: the authenticator picks the passkey.
    let other = app.browser();
    let public_key = options(&other, &app, "/api/auth/passkey/sign-in/options", &j!({})).await;
    assert_eq!(public_key["rpId"], "app.example");
    assert_eq!(public_key["allowCredentials"], j!([]));
    let response = post(&other, &app, "/api/auth/passkey/sign-in", &key.get(&public_key)).await;
    assert_eq!(response.status(), 200);
    let signed_in = json(response).await;
    assert_eq!(signed_in["message"], "Signed in successfully");
    assert_eq!(signed_in["data"]["user"]["id"], created["data"]["user"]["id"]);
    let token = signed_in["data"]["session"]["token"].as_str().unwrap();
    assert_eq!(claims(token)["amr"], j!(["hwk", "user"]));
    let me = app.bare_client().get(app.url("/api/auth/me")).bearer_auth(token).send().await.unwrap();
    assert_eq!(me.status(), 200);

    let listed =
        json(app.bare_client().get(app.url("/api/auth/passkeys")).bearer_auth(token).send().await.unwrap()).await;
    let passkeys = listed["data"]["passkeys"].as_array().unwrap();
    assert_eq!(passkeys.len(), 1);
    assert_eq!(passkeys[0]["name"], "Passkey");
    assert!(passkeys[0]["id"].as_str().unwrap().starts_with("pk_"));
    assert!(passkeys[0]["lastUsedAt"].is_string(), "{listed}");

    let audit = app.state.services.store.audit(&app.project_id("default").await).await.unwrap();
    let passkey_rows: Vec<_> = audit
        .iter()
        .filter(|a| a.method.as_deref() == Some("passkey"))
        .map(|a| (a.action.as_str(), a.outcome.as_str()))
        .collect();
    assert!(passkey_rows.contains(&("signup", "ok")) && passkey_rows.contains(&("signin", "ok")), "{passkey_rows:?}");
}

async fn ceremonies_are_single_use_bound_to_the_browser_and_expire(backend: Backend) {
    let clock = manual_clock();
    let app = TestApp::builder(backend)
        .with_manual_clock(clock.clone())
        .with_project_config("default", config())
        .spawn()
        .await;
    let mut key = SoftAuthenticator::new(ORIGIN);
    let browser = app.browser();
    passkey_sign_up(&app, &browser, &mut key, &unique_email("once")).await;

    // Replayed: the same answer, the same browser, after the ceremony was used.
    let public_key = options(&browser, &app, "/api/auth/passkey/sign-in/options", &j!({})).await;
    let answer = key.get(&public_key);
    assert_eq!(post(&browser, &app, "/api/auth/passkey/sign-in", &answer).await.status(), 200);
    let replayed = post(&browser, &app, "/api/auth/passkey/sign-in", &answer).await;
    assert_eq!(replayed.status(), 400);
    assert_eq!(error_code(&json(replayed).await), "PASSKEY_CEREMONY_EXPIRED");

    // Another browser (no ceremony cookie) cannot finish what this one started.
    let public_key = options(&browser, &app, "/api/auth/passkey/sign-in/options", &j!({})).await;
    let answer = key.get(&public_key);
    let elsewhere = post(&app.bare_client(), &app, "/api/auth/passkey/sign-in", &answer).await;
    assert_eq!(elsewhere.status(), 400);
    assert_eq!(error_code(&json(elsewhere).await), "PASSKEY_CEREMONY_EXPIRED");
    // A ceremony of another kind is no sign-in ceremony.
    let signup_options =
        post(&browser, &app, "/api/auth/passkey/sign-up/options", &j!({"email": unique_email("kind")})).await;
    assert_eq!(signup_options.status(), 200);
    let wrong_kind = post(&browser, &app, "/api/auth/passkey/sign-in", &answer).await;
    assert_eq!(error_code(&json(wrong_kind).await), "PASSKEY_CEREMONY_EXPIRED");

    // Expired: five minutes later the state is gone.
    let public_key = options(&browser, &app, "/api/auth/passkey/sign-in/options", &j!({})).await;
    let answer = key.get(&public_key);
    clock.advance_seconds(301);
    let late = post(&browser, &app, "/api/auth/passkey/sign-in", &answer).await;
    assert_eq!(late.status(), 400);
    assert_eq!(error_code(&json(late).await), "PASSKEY_CEREMONY_EXPIRED");
    let public_key =
        options(&browser, &app, "/api/auth/passkey/sign-up/options", &j!({"email": unique_email("late")})).await;
    let answer = key.create(&public_key);
    clock.advance_seconds(301);
    let late = post(&browser, &app, "/api/auth/passkey/sign-up", &answer).await;
    assert_eq!(late.status(), 400);
    assert_eq!(error_code(&json(late).await), "PASSKEY_CEREMONY_EXPIRED");
}

async fn a_wrong_origin_is_rejected(backend: Backend) {
    let app = app(backend).await;
    let mut phished = SoftAuthenticator::new("https://app.example.evil.test");
    let browser = app.browser();
    let public_key =
        options(&browser, &app, "/api/auth/passkey/sign-up/options", &j!({"email": unique_email("origin")})).await;
    let response = post(&browser, &app, "/api/auth/passkey/sign-up", &phished.create(&public_key)).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&json(response).await), "PASSKEY_REJECTED");

    // A passkey registered properly, then used from a page on another origin.
    let mut key = SoftAuthenticator::new(ORIGIN);
    passkey_sign_up(&app, &browser, &mut key, &unique_email("origin2")).await;
    key.origin = "https://evil.test".into();
    let response = passkey_sign_in(&app, &browser, &mut key).await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(&json(response).await), "PASSKEY_REJECTED");
}

async fn unknown_credentials_and_cloned_counters_are_refused(backend: Backend) {
    let app = app(backend).await;
    let browser = app.browser();
    // A passkey this project never registered.
    let mut stranger = SoftAuthenticator::new(ORIGIN);
    stranger.create(&j!({"rp": {"id": "app.example"}, "user": {"id": "AAAAAAAAAAAAAAAAAAAAAA"}, "challenge": "AAAA"}));
    let response = passkey_sign_in(&app, &browser, &mut stranger).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        json(response).await,
        j!({"success": false, "error": {"code": "PASSKEY_REJECTED", "message": "The passkey response did not verify"}})
    );

    // A clone: the counter goes back to a value already seen.
    let mut key = SoftAuthenticator::new(ORIGIN);
    passkey_sign_up(&app, &browser, &mut key, &unique_email("clone")).await;
    assert_eq!(passkey_sign_in(&app, &browser, &mut key).await.status(), 200);
    assert_eq!(passkey_sign_in(&app, &browser, &mut key).await.status(), 200);
    key.credentials[0].counter = 0;
    let response = passkey_sign_in(&app, &browser, &mut key).await;
    assert_eq!(response.status(), 401, "counter 1 after 2");
    assert_eq!(error_code(&json(response).await), "PASSKEY_REJECTED");
    let audit = app.state.services.store.audit(&app.project_id("default").await).await.unwrap();
    assert!(audit.iter().any(|a| a.outcome == "denied:passkey_counter_regressed"));
    assert!(audit.iter().any(|a| a.outcome == "denied:passkey_unknown"));
}

async fn bad_bodies_answer_4xx(backend: Backend) {
    let app = app(backend).await;
    let client = app.bare_client();
    for path in ["/api/auth/passkey/sign-up/options", "/api/auth/passkey/sign-up", "/api/auth/passkey/sign-in"] {
        let malformed = client
            .post(app.url(path))
            .header("content-type", "application/json")
            .body("{\"email\":")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 400, "{path}");
        assert_eq!(error_code(&json(malformed).await), "INVALID_JSON");
        for body in [j!([1, 2]), j!({"id": 5, "response": "x"}), j!("text")] {
            let response = post(&client, &app, path, &body).await;
            assert_eq!(response.status(), 422, "{path} {body}");
            assert_eq!(error_code(&json(response).await), "VALIDATION_ERROR");
        }
    }
    let response =
        post(&client, &app, "/api/auth/passkey/sign-up/options", &j!({"email": "not an address", "name": 7})).await;
    assert_eq!(response.status(), 422);
    let fields: Vec<Value> =
        json(response).await["error"]["details"].as_array().unwrap().iter().map(|d| d["field"].clone()).collect();
    assert_eq!(fields, [j!("email"), j!("name")]);

    // A well-formed answer with no ceremony behind it.
    let mut key = SoftAuthenticator::new(ORIGIN);
    let answer =
        key.create(&j!({"rp": {"id": "app.example"}, "user": {"id": "AAAAAAAAAAAAAAAAAAAAAA"}, "challenge": "AAAA"}));
    let response = post(&client, &app, "/api/auth/passkey/sign-up", &answer).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&json(response).await), "PASSKEY_CEREMONY_EXPIRED");

    // The signed-in routes refuse first without a session.
    assert_eq!(post(&client, &app, "/api/auth/passkeys/options", &j!({})).await.status(), 401);
    assert_eq!(post(&client, &app, "/api/auth/passkeys", &answer).await.status(), 401);
    assert_eq!(client.get(app.url("/api/auth/passkeys")).send().await.unwrap().status(), 401);
    assert_eq!(client.delete(app.url("/api/auth/passkeys/pk_x")).send().await.unwrap().status(), 401);
    let malformed = client
        .post(app.url("/api/auth/passkeys/options"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
}

async fn an_address_with_an_account_is_refused(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("taken");
    assert_eq!(app.sign_up("", &email, "Owner", None).await.status(), 201);
    let response =
        post(&app.bare_client(), &app, "/api/auth/passkey/sign-up/options", &j!({"email": email.to_uppercase()})).await;
    assert_eq!(response.status(), 409);
    assert!(set_cookie(&response, "doorway_passkey").is_none());
    assert_eq!(error_code(&json(response).await), "EMAIL_EXISTS");

    // The address got an account between the options and the answer.
    let browser = app.browser();
    let mut key = SoftAuthenticator::new(ORIGIN);
    let late = unique_email("race");
    let public_key = options(&browser, &app, "/api/auth/passkey/sign-up/options", &j!({"email": late})).await;
    assert_eq!(app.sign_up("", &late, "Owner", None).await.status(), 201);
    let response = post(&browser, &app, "/api/auth/passkey/sign-up", &key.create(&public_key)).await;
    assert_eq!(response.status(), 409);
    assert!(set_cookie(&response, "doorway_refresh").is_none());
    assert_eq!(error_code(&json(response).await), "EMAIL_EXISTS");
}

async fn a_password_account_adds_lists_and_removes_passkeys(backend: Backend) {
    let app = app(backend).await;
    let email = unique_email("adder");
    let created = json(app.sign_up("", &email, "Adder", None).await).await;
    let user_id = created["data"]["user"]["id"].clone();
    let token = created["data"]["session"]["token"].as_str().unwrap().to_owned();
    let browser = app.browser();
    let mut key = SoftAuthenticator::new(ORIGIN);

    let add_options = |body: Value| {
        let (browser, app, token) = (browser.clone(), &app, token.clone());
        async move {
            browser.post(app.url("/api/auth/passkeys/options")).bearer_auth(token).json(&body).send().await.unwrap()
        }
    };
    let too_long = add_options(j!({"name": "x".repeat(65)})).await;
    assert_eq!(too_long.status(), 422);
    let response = add_options(j!({"name": "Laptop"})).await;
    assert_eq!(response.status(), 200);
    let public_key = json(response).await["data"]["publicKey"].clone();
    assert_eq!(public_key["user"]["name"], email.as_str());
    let answer = key.create(&public_key);
    let response = browser.post(app.url("/api/auth/passkeys")).bearer_auth(&token).json(&answer).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let added = json(response).await;
    assert_eq!(added["data"]["name"], "Laptop");
    assert_eq!(added["data"]["lastUsedAt"], Value::Null);
    let passkey_id = added["data"]["id"].as_str().unwrap().to_owned();

    // A second passkey: the first is excluded, and both share the user handle.
    let response = add_options(j!({})).await;
    let public_key = json(response).await["data"]["publicKey"].clone();
    assert_eq!(public_key["excludeCredentials"].as_array().map(Vec::len), Some(1));
    let response = browser
        .post(app.url("/api/auth/passkeys"))
        .bearer_auth(&token)
        .json(&key.create(&public_key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(key.credentials[0].user_handle, key.credentials[1].user_handle);

    // Either passkey signs in to the password account.
    let response = passkey_sign_in(&app, &app.browser(), &mut key).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await["data"]["user"]["id"], user_id);

    let list = || async {
        json(app.bare_client().get(app.url("/api/auth/passkeys")).bearer_auth(&token).send().await.unwrap()).await
    };
    let names: Vec<Value> =
        list().await["data"]["passkeys"].as_array().unwrap().iter().map(|p| p["name"].clone()).collect();
    assert_eq!(names, [j!("Laptop"), j!("Passkey")]);

    // Another user sees none of them and cannot remove them.
    let other = json(app.sign_up("", &unique_email("other"), "Other", None).await).await;
    let other_token = other["data"]["session"]["token"].as_str().unwrap();
    let foreign = app
        .bare_client()
        .delete(app.url(&format!("/api/auth/passkeys/{passkey_id}")))
        .bearer_auth(other_token)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 404);
    assert_eq!(error_code(&json(foreign).await), "PASSKEY_NOT_FOUND");

    let removed = app
        .bare_client()
        .delete(app.url(&format!("/api/auth/passkeys/{passkey_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    assert_eq!(json(removed).await, j!({"success": true, "message": "Passkey removed"}));
    let again = app
        .bare_client()
        .delete(app.url(&format!("/api/auth/passkeys/{passkey_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    assert_eq!(list().await["data"]["passkeys"].as_array().unwrap().len(), 1);
    // The removed passkey no longer signs in.
    let response = options(&browser, &app, "/api/auth/passkey/sign-in/options", &j!({})).await;
    let answer = key.assert_with(0, &response["challenge"]);
    assert_eq!(post(&browser, &app, "/api/auth/passkey/sign-in", &answer).await.status(), 401);

    // A ceremony started by one user is not finished by another.
    let response = add_options(j!({})).await;
    let public_key = json(response).await["data"]["publicKey"].clone();
    let response = browser
        .post(app.url("/api/auth/passkeys"))
        .bearer_auth(other_token)
        .json(&key.create(&public_key))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(&json(response).await), "PASSKEY_CEREMONY_EXPIRED");
}

async fn a_passkey_set_up_before_the_address_was_proved_is_dropped(backend: Backend) {
    let app = app(backend).await;
    let victim = unique_email("victim");
    let mut attacker = SoftAuthenticator::new(ORIGIN);
    let browser = app.browser();
    let created = passkey_sign_up(&app, &browser, &mut attacker, &victim).await;
    let attacker_token = created["data"]["session"]["token"].as_str().unwrap().to_owned();
    assert_eq!(passkey_sign_in(&app, &browser, &mut attacker).await.status(), 200);

    // The owner reads the mail and proves the address, outside the attacker's session.
    let code = wait_for_mails(&victim, 1).await[0].code();
    let verified = post(&app.bare_client(), &app, "/api/auth/verify-email", &j!({"email": victim, "code": code})).await;
    assert_eq!(verified.status(), 200);

    let response = passkey_sign_in(&app, &app.browser(), &mut attacker).await;
    assert_eq!(response.status(), 401, "the attacker's passkey is gone");
    let me = app.bare_client().get(app.url("/api/auth/me")).bearer_auth(&attacker_token).send().await.unwrap();
    assert_eq!(me.status(), 401);
    let audit = app.state.services.store.audit(&app.project_id("default").await).await.unwrap();
    let secured: Vec<Value> =
        audit.into_iter().filter(|a| a.action == "account.secured").map(|a| a.detail["dropped"].clone()).collect();
    assert_eq!(secured, [j!({"password": false, "unverifiedIdentities": 0, "passkeys": 1, "sessionsRevoked": 2})]);
}

async fn passkeys_are_disabled_unless_enabled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let client = app.bare_client();
    for (path, body) in [
        ("/api/auth/passkey/sign-up/options", j!({"email": "a@example.com"})),
        ("/api/auth/passkey/sign-in/options", j!({})),
        (
            "/api/auth/passkey/sign-in",
            j!({"id": "x", "rawId": "eA", "type": "public-key", "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA"}}),
        ),
    ] {
        let response = post(&client, &app, path, &body).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(error_code(&json(response).await), "PASSKEYS_DISABLED");
    }
}

async fn project_routes_scope_the_ceremony_cookie(backend: Backend) {
    let app = TestApp::builder(backend).with_project_config("acme", config()).spawn().await;
    let browser = app.browser();
    let response =
        post(&browser, &app, "/acme/api/auth/passkey/sign-up/options", &j!({"email": unique_email("acme")})).await;
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(&response, "doorway_acme_passkey").expect("the project's ceremony cookie");
    assert!(cookie.contains("Path=/acme/api/auth"), "{cookie}");
    let public_key = json(response).await["data"]["publicKey"].clone();
    let mut key = SoftAuthenticator::new(ORIGIN);
    let answer = key.create(&public_key);
    // The default project (passkeys off there) knows nothing of it.
    assert_eq!(post(&browser, &app, "/api/auth/passkey/sign-up", &answer).await.status(), 404);
    let response = post(&browser, &app, "/acme/api/auth/passkey/sign-up", &answer).await;
    assert_eq!(response.status(), 201);
    assert!(set_cookie(&response, "doorway_acme_refresh").is_some());
}
