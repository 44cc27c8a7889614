//! OAuth social sign-up against a real OpenID Connect provider on loopback (started by
//! scripts/test.sh) and an in-process GitHub emulation: seed 002's OAuth start and seed 003.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use doorway_core::oauth::ProviderSettings;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, json, set_cookie, unique_email};
use crate::on_both_backends;

on_both_backends!(
    rivergen_sign_up_matches_the_contract,
    rivergen_refuses_bad_codes_and_input,
    rivergen_keeps_its_session_with_refresh_and_logout,
    rivergen_session_routes_refuse_bad_input_in_the_envelope,
    linking_needs_both_sides_verified,
    github_counts_only_a_verified_primary_email,
    native_redirect_flow_signs_in_and_refuses_replays,
    unverified_sign_up_collects_no_verified_sign_ins,
    a_callback_opened_by_another_browser_is_refused,
);

const FRONT_END: &str = "http://localhost:9999/front-end/callback";

fn issuer() -> String {
    std::env::var("TEST_OIDC_ISSUER").expect("TEST_OIDC_ISSUER is not set: run the suite with scripts/test.sh")
}

fn provider(issuer: Option<String>) -> ProviderSettings {
    ProviderSettings {
        client_id: "doorway-test".into(),
        client_secret: Some("doorway-test-secret".into()),
        scopes: None,
        issuer,
        authorize_url: None,
        token_url: None,
        userinfo_url: None,
        emails_url: None,
        redirect_uri: Some(FRONT_END.into()),
    }
}

async fn app(backend: Backend, github: Option<&GitHub>) -> TestApp {
    let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    config.settings.providers.insert("google".into(), provider(Some(issuer())));
    if let Some(gh) = github {
        config.settings.providers.insert(
            "github".into(),
            ProviderSettings {
                authorize_url: Some(format!("{}/login/oauth/authorize", gh.url)),
                token_url: Some(format!("{}/login/oauth/access_token", gh.url)),
                userinfo_url: Some(format!("{}/user", gh.url)),
                emails_url: Some(format!("{}/user/emails", gh.url)),
                ..provider(None)
            },
        );
    }
    config.settings.redirect_allowlist = vec!["https://app.example.com".into()];
    TestApp::builder(backend).with_smtp().with_project_config("default", config).spawn().await
}

/// A code from the provider for this identity, as a front end would obtain it.
async fn provider_code(sub: &str, email: &str, verified: bool, name: &str) -> String {
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let response = client
        .get(format!("{}/authorize", issuer()))
        .query(&[
            ("client_id", "doorway-test"),
            ("redirect_uri", FRONT_END),
            ("response_type", "code"),
            ("scope", "openid email profile"),
            ("state", "front-end-state"),
            ("login_hint", &format!("{sub}|{email}|{verified}|{name}")),
        ])
        .send()
        .await
        .unwrap();
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned()
}

async fn rivergen(app: &TestApp, body: Value) -> reqwest::Response {
    app.bare_client().post(app.url("/api/v1/auth/oauth/signup")).json(&body).send().await.unwrap()
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn rivergen_sign_up_matches_the_contract(backend: Backend) {
    let app = app(backend, None).await;
    let email = unique_email("social");
    let sub = format!("sub-{email}");
    let code = provider_code(&sub, &email, true, "Sam Social").await;
    let response =
        rivergen(&app, j!({"provider": "google", "code": code, "agree_to_terms": true, "terms_version": "2.1"})).await;
    assert_eq!(response.status(), 201);
    let body = json(response).await;
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Google signup successful");
    let data = &body["data"];
    let keys: Vec<&str> = data.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "access_token",
            "refresh_token",
            "token_type",
            "expires_in",
            "user_id",
            "email",
            "display_name",
            "is_new_user",
            "provider",
            "message"
        ]
    );
    assert!(data["access_token"].is_string() && data["refresh_token"].is_string());
    assert_eq!(data["token_type"], "bearer");
    assert_eq!(data["expires_in"], j!(3600));
    assert!(data["user_id"].is_i64(), "user_id is an integer: {data}");
    assert_eq!(data["email"], email.as_str());
    assert_eq!(data["display_name"], "Sam Social");
    assert_eq!(data["is_new_user"], true);
    assert_eq!(data["provider"], "google");
    assert_eq!(data["message"], "Google signup successful");

    let token = data["access_token"].as_str().unwrap();
    let c = claims(token);
    assert_eq!(c["amr"], j!(["oauth", "google"]));
    assert_eq!(c["mfa_bypassed"], true);

    // Personal organization, default workspace, the user as owner.
    let me = json(app.bare_client().get(app.url("/api/auth/me")).bearer_auth(token).send().await.unwrap()).await;
    assert_eq!(me["data"]["user"]["emailVerified"], true);
    let orgs = me["data"]["organizations"].as_array().unwrap();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["name"], "Sam Social's Organization");
    assert_eq!(orgs[0]["role"], "owner");
    assert_eq!(orgs[0]["workspaces"][0]["slug"], "default");

    // The refresh token works with the session API.
    let refreshed = app
        .bare_client()
        .post(app.url("/api/auth/refresh"))
        .json(&j!({"refreshToken": data["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);

    // The same identity again: not new, same integer id.
    let again = json(
        rivergen(&app, j!({"provider": "google", "code": provider_code(&sub, &email, true, "Sam Social").await})).await,
    )
    .await;
    assert_eq!(again["data"]["is_new_user"], false);
    assert_eq!(again["data"]["user_id"], data["user_id"]);

    let project = app.project_id("default").await;
    let audit = app.state.services.store.audit(&project).await.unwrap();
    let social: Vec<(&str, &str)> = audit
        .iter()
        .filter(|a| a.method.as_deref() == Some("oauth:google"))
        .map(|a| (a.action.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(social, [("signup", "ok"), ("signin", "ok")]);
}

async fn rivergen_refuses_bad_codes_and_input(backend: Backend) {
    let app = app(backend, None).await;
    let email = unique_email("bad");
    let code = provider_code(&format!("sub-{email}"), &email, true, "Bad Code").await;
    assert_eq!(rivergen(&app, j!({"provider": "google", "code": code})).await.status(), 201);
    let used = rivergen(&app, j!({"provider": "google", "code": code})).await;
    assert_eq!(used.status(), 400);
    let body = json(used).await;
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "SOCIAL_SIGNUP_FAILED");
    let bogus = rivergen(&app, j!({"provider": "google", "code": "not-a-real-code"})).await;
    assert_eq!(json(bogus).await["error"]["code"], "SOCIAL_SIGNUP_FAILED");

    for body in [
        j!({"provider": "myspace", "code": "x"}),
        j!({"provider": "github", "code": "x"}),
        j!({"code": "x"}),
        j!({"provider": "google"}),
        j!({"provider": "google", "code": "x", "agree_to_terms": false}),
        j!({"provider": 5, "code": "x"}),
        j!([]),
    ] {
        let response = rivergen(&app, body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
        assert_eq!(json(response).await["error"]["code"], "VALIDATION_ERROR", "{body}");
    }
    let project = app.project_id("default").await;
    let users =
        app.state.services.store.outbox(&project).await.unwrap().iter().filter(|e| e.topic == "user.created").count();
    assert_eq!(users, 1, "nothing created by refused requests");
}

async fn linking_needs_both_sides_verified(backend: Backend) {
    let app = app(backend, None).await;
    let email = unique_email("link");
    let created = json(app.sign_up("", &email, "Link Me", None).await).await;
    let user_id = created["data"]["user"]["id"].as_str().unwrap().to_owned();

    // The account's address is not verified: no link, whatever the provider says.
    let refused =
        rivergen(&app, j!({"provider": "google", "code": provider_code("sub-link-1", &email, true, "Link Me").await}))
            .await;
    assert_eq!(refused.status(), 400);
    assert!(json(refused).await["error"]["message"].as_str().unwrap().contains("verified"));

    // Verify the account's address; now a verified provider address links.
    let store = &app.state.services.store;
    let mut tx = store.begin().await.unwrap();
    tx.mark_email_verified(&user_id, app.state.services.clock.now()).await.unwrap();
    tx.commit().await.unwrap();
    let unverified =
        rivergen(&app, j!({"provider": "google", "code": provider_code("sub-link-2", &email, false, "Link Me").await}))
            .await;
    assert_eq!(unverified.status(), 400, "the provider must vouch for the address too");
    let linked = json(
        rivergen(&app, j!({"provider": "google", "code": provider_code("sub-link-3", &email, true, "Link Me").await}))
            .await,
    )
    .await;
    assert_eq!(linked["data"]["is_new_user"], false);
    let me = json(
        app.bare_client()
            .get(app.url("/api/auth/me"))
            .bearer_auth(linked["data"]["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["data"]["user"]["id"], user_id.as_str());
    // The password still works too.
    let signin = app.post_json("/api/auth/sign-in", &j!({"email": email, "password": STRONG_PASSWORD})).await;
    assert_eq!(signin.status(), 200);

    let audit = store.audit(&app.project_id("default").await).await.unwrap();
    let links: Vec<&str> = audit.iter().filter(|a| a.action == "link").map(|a| a.outcome.as_str()).collect();
    assert_eq!(links, ["denied:email_not_verified", "denied:email_not_verified", "ok"]);
}

/// GitHub's OAuth2 + REST API, emulated in process.
struct GitHub {
    url: String,
    codes: Arc<Mutex<HashMap<String, Value>>>,
}

impl GitHub {
    async fn start() -> Self {
        let codes: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
        let tokens: Arc<Mutex<HashMap<String, Value>>> = Arc::default();
        let state = (codes.clone(), tokens);
        let app = Router::new()
            .route("/login/oauth/access_token", post(gh_token))
            .route("/user", get(gh_user))
            .route("/user/emails", get(gh_emails))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, codes }
    }

    fn code_for(&self, user: Value) -> String {
        let code = uuid::Uuid::now_v7().simple().to_string();
        self.codes.lock().unwrap().insert(code.clone(), user);
        code
    }
}

type GhState = (Arc<Mutex<HashMap<String, Value>>>, Arc<Mutex<HashMap<String, Value>>>);

async fn gh_token(
    State((codes, tokens)): State<GhState>,
    Form(form): Form<HashMap<String, String>>,
) -> axum::Json<Value> {
    match form.get("code").and_then(|c| codes.lock().unwrap().remove(c)) {
        Some(user) if form.get("client_secret").map(String::as_str) == Some("doorway-test-secret") => {
            let token = format!("gho_{}", uuid::Uuid::now_v7().simple());
            tokens.lock().unwrap().insert(token.clone(), user);
            axum::Json(j!({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}))
        }
        _ => axum::Json(j!({"error": "bad_verification_code"})),
    }
}

fn gh_caller(headers: &HeaderMap, tokens: &Mutex<HashMap<String, Value>>) -> Option<Value> {
    let token = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?;
    tokens.lock().unwrap().get(token).cloned()
}

async fn gh_user(State((_, tokens)): State<GhState>, headers: HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    match gh_caller(&headers, &tokens) {
        Some(user) => axum::Json(
            j!({"id": user["id"], "login": user["login"], "name": user["name"], "avatar_url": null, "email": null}),
        )
        .into_response(),
        None => axum::http::StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn gh_emails(State((_, tokens)): State<GhState>, headers: HeaderMap) -> axum::response::Response {
    use axum::response::IntoResponse;
    match gh_caller(&headers, &tokens) {
        Some(user) => axum::Json(user["emails"].clone()).into_response(),
        None => axum::http::StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_counts_only_a_verified_primary_email(backend: Backend) {
    let gh = GitHub::start().await;
    let app = app(backend, Some(&gh)).await;
    let verified = unique_email("octo");
    let code = gh.code_for(j!({"id": 4242, "login": "octocat", "name": null, "emails": [
        {"email": unique_email("secondary"), "primary": false, "verified": true},
        {"email": verified, "primary": true, "verified": true},
    ]}));
    let body = json(rivergen(&app, j!({"provider": "github", "code": code})).await).await;
    assert_eq!(body["message"], "GitHub signup successful");
    assert_eq!(body["data"]["email"], verified.as_str());
    assert_eq!(body["data"]["display_name"], "octocat");
    let me = json(
        app.bare_client()
            .get(app.url("/api/auth/me"))
            .bearer_auth(body["data"]["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["data"]["user"]["emailVerified"], true);

    let unverified = unique_email("unverified");
    let code = gh.code_for(j!({"id": 4343, "login": "hubot", "name": "Hu Bot", "emails": [
        {"email": unverified, "primary": true, "verified": false},
        {"email": unique_email("other"), "primary": false, "verified": true},
    ]}));
    let body = json(rivergen(&app, j!({"provider": "github", "code": code})).await).await;
    assert_eq!(body["data"]["email"], unverified.as_str());
    let me = json(
        app.bare_client()
            .get(app.url("/api/auth/me"))
            .bearer_auth(body["data"]["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(me["data"]["user"]["emailVerified"], false, "an unverified primary address is not verified");
    let used = rivergen(&app, j!({"provider": "github", "code": code})).await;
    assert_eq!(used.status(), 400);
}

async fn native_redirect_flow_signs_in_and_refuses_replays(backend: Backend) {
    let app = app(backend, None).await;
    let start = app.post_json("/api/auth/sign-up", &j!({"provider": "google", "callbackUrl": "/dashboard"})).await;
    assert_eq!(start.status(), 200);
    let body = json(start).await;
    assert_eq!(body["success"], true);
    let authorization = url::Url::parse(body["data"]["authorizationUrl"].as_str().unwrap()).unwrap();
    assert!(authorization.as_str().starts_with(&format!("{}/authorize", issuer())));
    let params: HashMap<String, String> = authorization.query_pairs().into_owned().collect();
    for key in ["state", "nonce", "code_challenge", "client_id", "redirect_uri"] {
        assert!(params.contains_key(key), "{key} missing from {authorization}");
    }
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["redirect_uri"], format!("{}/api/auth/oauth/google/callback", app.address));

    // The browser goes to the provider, which sends it back with a code.
    let email = unique_email("browser");
    let mut to_provider = authorization.clone();
    to_provider.query_pairs_mut().append_pair("login_hint", &format!("sub-{email}|{email}|true|Bro Wser"));
    // The browser that started the flow (its cookie jar holds the state binding).
    let browser = app.client.clone();
    let back = browser.get(to_provider).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with(&format!("{}/api/auth/oauth/google/callback?", app.address)), "{callback}");

    let landed = browser.get(&callback).send().await.unwrap();
    assert_eq!(landed.status(), 302);
    assert_eq!(landed.headers()["location"], "/dashboard");
    let access = set_cookie(&landed, "doorway_access").expect("session cookies set");
    assert!(set_cookie(&landed, "doorway_refresh").is_some());
    let token = crate::harness::cookie_value(&access);
    let me = json(app.bare_client().get(app.url("/api/auth/me")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(me["data"]["user"]["email"], email.as_str());

    // Replayed or forged state: 400, nothing created.
    let replay = browser.get(&callback).send().await.unwrap();
    assert_eq!(replay.status(), 400);
    assert_eq!(json(replay).await["error"]["code"], "INVALID_STATE");
    let forged = browser.get(app.url("/api/auth/oauth/google/callback?code=x&state=forged")).send().await.unwrap();
    assert_eq!(forged.status(), 400);
    let missing = browser.get(app.url("/api/auth/oauth/google/callback?code=x")).send().await.unwrap();
    assert_eq!(missing.status(), 400);

    // The provider refused: back to the callback URL with the reason.
    let start = json(
        app.post_json(
            "/api/auth/sign-up",
            &j!({"provider": "google", "callbackUrl": "https://app.example.com/after?x=1"}),
        )
        .await,
    )
    .await;
    let authorization = url::Url::parse(start["data"]["authorizationUrl"].as_str().unwrap()).unwrap();
    let state = authorization.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let denied = browser
        .get(app.url("/api/auth/oauth/google/callback"))
        .query(&[("state", state.as_str()), ("error", "access_denied")])
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 302);
    assert_eq!(denied.headers()["location"], "https://app.example.com/after?x=1&error=access_denied");

    // No open redirects, no unknown providers.
    for (provider, callback, field) in [
        ("google", "https://evil.example.com/steal", "callbackUrl"),
        ("google", "//evil.example.com", "callbackUrl"),
        ("myspace", "/dashboard", "provider"),
    ] {
        let response = app.post_json("/api/auth/sign-up", &j!({"provider": provider, "callbackUrl": callback})).await;
        assert_eq!(response.status(), 422, "{provider} {callback}");
        assert_eq!(json(response).await["error"]["details"][0]["field"], field);
    }
}

/// Finding 1 on Rivergen and the native redirect: an account made from a provider that did
/// not verify the address stays unverified, so later verified identities of the real owner
/// are refused, never linked into it.
async fn unverified_sign_up_collects_no_verified_sign_ins(backend: Backend) {
    let app = app(backend, None).await;
    let email = unique_email("owner");
    let code = provider_code(&format!("sub-mallory-{email}"), &email, false, "Mallory").await;
    let created = rivergen(&app, j!({"provider": "google", "code": code})).await;
    assert_eq!(created.status(), 201);
    let token = json(created).await["data"]["access_token"].as_str().unwrap().to_owned();
    let me = json(app.bare_client().get(app.url("/api/auth/me")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(me["data"]["user"]["emailVerified"], false);
    let attacker_id = me["data"]["user"]["id"].as_str().unwrap().to_owned();

    // Rivergen: the owner's verified identity is refused.
    let code = provider_code(&format!("sub-owner-{email}"), &email, true, "Owner").await;
    let refused = rivergen(&app, j!({"provider": "google", "code": code})).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(json(refused).await["error"]["code"], "SOCIAL_SIGNUP_FAILED");

    // Native redirect: the same owner is sent back with account_exists and no session.
    let browser = app.browser();
    let start = browser.post(app.url("/api/auth/sign-up")).json(&j!({"provider": "google", "callbackUrl": "/home"}));
    let start = json(start.send().await.unwrap()).await;
    let mut to_provider = url::Url::parse(start["data"]["authorizationUrl"].as_str().unwrap()).unwrap();
    to_provider.query_pairs_mut().append_pair("login_hint", &format!("sub-owner2-{email}|{email}|true|Owner"));
    let back = browser.get(to_provider).send().await.unwrap();
    let landed = browser.get(back.headers()["location"].to_str().unwrap()).send().await.unwrap();
    assert_eq!(landed.headers()["location"], "/home?error=account_exists");
    assert!(set_cookie(&landed, "doorway_access").is_none());

    let audit = app.state.services.store.audit(&app.project_id("default").await).await.unwrap();
    let refusals: Vec<(&str, Option<&str>)> =
        audit.iter().filter(|a| a.action == "link").map(|a| (a.outcome.as_str(), a.user_id.as_deref())).collect();
    let expected = ("denied:email_not_verified", Some(attacker_id.as_str()));
    assert_eq!(refusals, [expected, expected]);

    // Finding 2: the owner proves the mailbox by a sign-in code; the identity the provider never
    // verified is unlinked and its session revoked, so the attacker is out for good.
    app.post_json("/api/auth/sign-in/email-code", &j!({"email": email})).await;
    let code = crate::harness::wait_for_mails(&email, 1).await[0].code();
    let owner = app.post_json("/api/auth/sign-in/email-code/verify", &j!({"email": email, "code": code})).await;
    assert_eq!(owner.status(), 200);
    let me = app.bare_client().get(app.url("/api/auth/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), 401);
    let code = provider_code(&format!("sub-mallory-{email}"), &email, false, "Mallory").await;
    let again = rivergen(&app, j!({"provider": "google", "code": code})).await;
    assert_eq!(again.status(), 400, "the attacker's identity is no longer linked");
    let audit = app.state.services.store.audit(&app.project_id("default").await).await.unwrap();
    let secured = audit.iter().find(|a| a.action == "account.secured").expect("audited");
    assert_eq!(
        secured.detail["dropped"],
        j!({"password": false, "unverifiedIdentities": 1, "passkeys": 0, "sessionsRevoked": 1})
    );
}

/// Login CSRF: the attacker starts a flow, signs in at the provider as themselves and sends the
/// victim the callback URL. The victim's browser never started that flow, so nothing happens;
/// the attacker's own browser can still finish it.
async fn a_callback_opened_by_another_browser_is_refused(backend: Backend) {
    let app = app(backend, None).await;
    let attacker = app.browser();
    let start = attacker
        .post(app.url("/api/auth/sign-up"))
        .json(&j!({"provider": "google", "callbackUrl": "/dashboard"}))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 200);
    let binding = set_cookie(&start, "doorway_oauth_state").expect("the start binds the browser");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/api/auth/oauth/google/callback", "Max-Age=600"] {
        assert!(binding.contains(attribute), "{attribute}: {binding}");
    }
    let mut to_provider = url::Url::parse(json(start).await["data"]["authorizationUrl"].as_str().unwrap()).unwrap();
    let email = unique_email("attacker");
    to_provider.query_pairs_mut().append_pair("login_hint", &format!("sub-{email}|{email}|true|Eve Attacker"));
    let back = attacker.get(to_provider).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();

    let victim = app.browser();
    let refused = victim.get(&callback).send().await.unwrap();
    assert_eq!(refused.status(), 400);
    assert!(set_cookie(&refused, "doorway_access").is_none() && set_cookie(&refused, "doorway_refresh").is_none());
    assert_eq!(json(refused).await["error"]["code"], "INVALID_STATE");
    assert_eq!(victim.get(app.url("/api/auth/me")).send().await.unwrap().status(), 401);
    let project = app.project_id("default").await;
    let created = |app: &TestApp| {
        let project = project.clone();
        let store = app.state.services.store.clone();
        async move { store.outbox(&project).await.unwrap().iter().filter(|e| e.topic == "user.created").count() }
    };
    assert_eq!(created(&app).await, 0, "the refused callback created nothing");
    // A forged binding cookie does not help either.
    let forged = app.bare_client().get(&callback).header("cookie", "doorway_oauth_state=guess").send().await.unwrap();
    assert_eq!(forged.status(), 400);

    // The browser that started the flow still finishes it, and the binding is cleared.
    let landed = attacker.get(&callback).send().await.unwrap();
    assert_eq!(landed.status(), 302);
    assert_eq!(landed.headers()["location"], "/dashboard");
    assert!(set_cookie(&landed, "doorway_access").is_some());
    assert!(set_cookie(&landed, "doorway_oauth_state").unwrap().contains("Max-Age=0"));
    assert_eq!(created(&app).await, 1);
}

async fn rivergen_post(app: &TestApp, path: &str, body: &str, bearer: Option<&str>) -> reqwest::Response {
    let mut request =
        app.bare_client().post(app.url(path)).header("content-type", "application/json").body(body.to_owned());
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn rivergen_refresh(app: &TestApp, refresh_token: &str) -> reqwest::Response {
    rivergen_post(app, "/api/v1/auth/token/refresh", &j!({"refresh_token": refresh_token}).to_string(), None).await
}

async fn me_status(app: &TestApp, access_token: &str) -> u16 {
    app.bare_client().get(app.url("/api/auth/me")).bearer_auth(access_token).send().await.unwrap().status().as_u16()
}

/// The refusal's status and native error code.
async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body = json(response).await;
    assert_eq!(body["success"], false, "{body}");
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

async fn rivergen_keeps_its_session_with_refresh_and_logout(backend: Backend) {
    let app = app(backend, None).await;
    let email = unique_email("keeper");
    let sub = format!("sub-{email}");
    let signed_up = json(
        rivergen(&app, j!({"provider": "google", "code": provider_code(&sub, &email, true, "Kim Keeper").await})).await,
    )
    .await;
    let access = signed_up["data"]["access_token"].as_str().unwrap().to_owned();
    let refresh = signed_up["data"]["refresh_token"].as_str().unwrap().to_owned();
    // Who am I.
    assert_eq!(me_status(&app, &access).await, 200);

    // Refresh: new tokens in Rivergen's envelope; the refresh token rotates.
    let refreshed = rivergen_refresh(&app, &refresh).await;
    assert_eq!(refreshed.status(), 200);
    let body = json(refreshed).await;
    assert_eq!(body["success"], true);
    assert_eq!(body["message"], "Token refreshed");
    let keys: Vec<&str> = body["data"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["access_token", "refresh_token", "token_type", "expires_in"]);
    assert_eq!(body["data"]["token_type"], "bearer");
    assert_eq!(body["data"]["expires_in"], j!(3600));
    let access = body["data"]["access_token"].as_str().unwrap().to_owned();
    let rotated = body["data"]["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rotated, refresh);
    assert_eq!(me_status(&app, &access).await, 200);

    // Sign out with the Bearer token: both tokens stop working.
    let out = rivergen_post(&app, "/api/v1/auth/logout", "", Some(&access)).await;
    assert_eq!(out.status(), 200);
    assert_eq!(json(out).await, j!({"success": true, "message": "Logged out"}));
    assert_eq!(me_status(&app, &access).await, 401);
    assert_eq!(refusal(rivergen_refresh(&app, &rotated).await).await, (401, "INVALID_REFRESH_TOKEN".to_owned()));
    let again = rivergen_post(&app, "/api/v1/auth/logout", "", Some(&access)).await;
    assert_eq!(refusal(again).await, (401, "UNAUTHORIZED".to_owned()));

    // Sign in again (the same identity), then sign out with the refresh token alone.
    let signed_in = json(
        rivergen(&app, j!({"provider": "google", "code": provider_code(&sub, &email, true, "Kim Keeper").await})).await,
    )
    .await;
    assert_eq!(signed_in["data"]["is_new_user"], false);
    let access = signed_in["data"]["access_token"].as_str().unwrap().to_owned();
    let refresh = signed_in["data"]["refresh_token"].as_str().unwrap().to_owned();
    let out = rivergen_post(&app, "/api/v1/auth/logout", &j!({"refresh_token": refresh}).to_string(), None).await;
    assert_eq!(out.status(), 200);
    assert_eq!(me_status(&app, &access).await, 401);

    // A refresh token used twice ends its session.
    let signed_in = json(
        rivergen(&app, j!({"provider": "google", "code": provider_code(&sub, &email, true, "Kim Keeper").await})).await,
    )
    .await;
    let refresh = signed_in["data"]["refresh_token"].as_str().unwrap().to_owned();
    let first = json(rivergen_refresh(&app, &refresh).await).await;
    let reused = rivergen_refresh(&app, &refresh).await;
    assert_eq!(refusal(reused).await, (401, "REFRESH_TOKEN_REUSED".to_owned()));
    assert_eq!(me_status(&app, first["data"]["access_token"].as_str().unwrap()).await, 401);
}

async fn rivergen_session_routes_refuse_bad_input_in_the_envelope(backend: Backend) {
    let app = app(backend, None).await;
    for body in ["{}", r#"{"refresh_token": ""}"#, r#"{"refresh_token": 5}"#, "[]"] {
        let response = rivergen_post(&app, "/api/v1/auth/token/refresh", body, None).await;
        assert_eq!(refusal(response).await, (422, "VALIDATION_ERROR".to_owned()), "{body}");
    }
    let malformed = rivergen_post(&app, "/api/v1/auth/token/refresh", "{nope", None).await;
    let (status, _) = refusal(malformed).await;
    assert_eq!(status, 400);
    let forged = rivergen_refresh(&app, "not-a-refresh-token").await;
    assert_eq!(refusal(forged).await, (401, "INVALID_REFRESH_TOKEN".to_owned()));

    for body in ["[]", "{nope", r#"{"refresh_token": 7}"#] {
        let response = rivergen_post(&app, "/api/v1/auth/logout", body, None).await;
        assert_eq!(refusal(response).await, (422, "VALIDATION_ERROR".to_owned()), "{body}");
    }
    for (body, bearer) in [("", None), ("{}", None), (r#"{"refresh_token": "forged"}"#, None), ("", Some("forged"))] {
        let response = rivergen_post(&app, "/api/v1/auth/logout", body, bearer).await;
        assert_eq!(refusal(response).await, (401, "UNAUTHORIZED".to_owned()), "{body} {bearer:?}");
    }
}
