//! Seed 000 (Aufy): external sign-up with a model, and external sign-in, through the whole
//! redirect chain against the real OpenID Connect provider.

use std::collections::HashMap;

use doorway_core::oauth::ProviderSettings;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{ADMIN_TOKEN, Backend, TestApp, cookie_value, json, oversized_json, set_cookie, unique_email};
use crate::on_both_backends;

on_both_backends!(
    off_until_a_model_is_configured,
    challenge_checks_provider_and_callback,
    sign_up_with_the_model_then_sign_in_again,
    api_clients_use_the_pending_token_header,
    provider_failure_and_forged_state,
    unverified_provider_address_is_neither_verified_nor_linked,
    a_callback_opened_by_another_browser_is_refused,
    oversized_and_non_json_bodies_are_problems,
    token_mode_callbacks_cannot_climb_out_of_an_allowed_prefix,
);

fn issuer() -> String {
    std::env::var("TEST_OIDC_ISSUER").expect("TEST_OIDC_ISSUER is not set: run the suite with scripts/test.sh")
}

fn config(model: bool) -> ProjectConfig {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.providers.insert(
        "google".into(),
        ProviderSettings {
            client_id: "doorway-test".into(),
            client_secret: Some("doorway-test-secret".into()),
            scopes: None,
            issuer: Some(issuer()),
            authorize_url: None,
            token_url: None,
            userinfo_url: None,
            emails_url: None,
            redirect_uri: None,
        },
    );
    config.settings.redirect_allowlist = vec!["https://app.example.com".into()];
    if model {
        config.settings.external_signup.schema = Some(j!({
            "type": "object",
            "required": ["aboutMe", "mySiteUrl"],
            "properties": {
                "aboutMe": {"type": "string", "minLength": 3, "maxLength": 500},
                "mySiteUrl": {"type": "string", "format": "uri"}
            },
            "additionalProperties": false
        }));
    }
    config
}

async fn app(backend: Backend, model: bool) -> TestApp {
    TestApp::builder(backend).with_admin_token().with_project_config("acme", config(model)).spawn().await
}

/// Challenge → provider (as `identity`) → Doorway's callback; returns the callback's answer.
async fn round_trip(app: &TestApp, callback_url: &str, identity: &str, extra: &str) -> reqwest::Response {
    let browser = app.browser();
    let challenge = browser
        .get(app.url(&format!("/acme/auth/external/challenge/google?callbackUrl={}{extra}", urlencode(callback_url))))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 302);
    let mut to_provider = url::Url::parse(challenge.headers()["location"].to_str().unwrap()).unwrap();
    to_provider.query_pairs_mut().append_pair("login_hint", identity);
    let back = browser.get(to_provider).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(callback.starts_with(&format!("{}/acme/auth/external/callback/google?", app.address)), "{callback}");
    browser.get(callback).send().await.unwrap()
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn identity(email: &str) -> String {
    format!("sub-{email}|{email}|true|Ann Aufy")
}

async fn post_with_cookie(app: &TestApp, path: &str, cookie: Option<(&str, &str)>, body: Value) -> reqwest::Response {
    let mut request = app.bare_client().post(app.url(path)).json(&body);
    if let Some((name, value)) = cookie {
        request = request.header("cookie", format!("{name}={value}"));
    }
    request.send().await.unwrap()
}

async fn off_until_a_model_is_configured(backend: Backend) {
    let app = app(backend, false).await;
    let response = post_with_cookie(&app, "/acme/auth/signup/external", None, j!({})).await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    assert_eq!(json(response).await["status"], 404);
    // Without a model, a new identity signs in (its account is made then).
    let email = unique_email("nomodel");
    let landed = round_trip(&app, "/done", &identity(&email), "").await;
    assert_eq!(landed.headers()["location"], "/done");
    let cookie = cookie_value(&set_cookie(&landed, "Aufy.ExternalSignIn").expect("sign-in cookie"));
    let signed_in =
        post_with_cookie(&app, "/acme/auth/signin/external", Some(("Aufy.ExternalSignIn", &cookie)), j!(null)).await;
    assert_eq!(signed_in.status(), 200);
}

async fn challenge_checks_provider_and_callback(backend: Backend) {
    let app = app(backend, true).await;
    let browser = app.bare_client();
    let unknown = browser.get(app.url("/acme/auth/external/challenge/myspace?callbackUrl=/x")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    let evil = browser
        .get(app.url("/acme/auth/external/challenge/google?callbackUrl=https://evil.example.com/"))
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status(), 400);
    assert!(!evil.headers().contains_key("location"), "no redirect to a refused callback");
    let ok = browser
        .get(app.url("/acme/auth/external/challenge/google?callbackUrl=https://app.example.com/welcome"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 302);
    let location = url::Url::parse(ok.headers()["location"].to_str().unwrap()).unwrap();
    let params: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(params["code_challenge_method"], "S256");
    assert!(params.contains_key("state") && params.contains_key("nonce"));
    assert_eq!(params["redirect_uri"], format!("{}/acme/auth/external/callback/google", app.address));
}

async fn sign_up_with_the_model_then_sign_in_again(backend: Backend) {
    let app = app(backend, true).await;
    let email = unique_email("aufy");
    let landed = round_trip(&app, "https://app.example.com/welcome", &identity(&email), "").await;
    assert_eq!(landed.status(), 302);
    assert_eq!(landed.headers()["location"], "https://app.example.com/welcome?signup=true");
    let set = set_cookie(&landed, "Aufy.ExternalSignUp").expect("external sign-up cookie");
    for attribute in ["HttpOnly", "Max-Age=600", "Path=/acme;"] {
        assert!(set.contains(attribute), "{attribute}: {set}");
    }
    let cookie = cookie_value(&set);
    assert!(!cookie.contains(&email) && !cookie.contains("sub-"), "the cookie is encrypted");
    let signup = Some(("Aufy.ExternalSignUp", cookie.as_str()));

    // Every failing field is named; the cookie survives a refused body.
    let bad = post_with_cookie(
        &app,
        "/acme/auth/signup/external",
        signup,
        j!({"aboutMe": "x", "mySiteUrl": "not a uri", "extra": 1}),
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.headers()["content-type"], "application/problem+json");
    let errors = json(bad).await["errors"].clone();
    let fields: Vec<&str> = errors.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, ["$", "aboutMe", "mySiteUrl"], "{errors}");
    let missing = post_with_cookie(&app, "/acme/auth/signup/external", signup, j!({})).await;
    let errors = json(missing).await["errors"].clone();
    assert!(errors.get("aboutMe").is_some() && errors.get("mySiteUrl").is_some(), "{errors}");

    let model = j!({"aboutMe": "I like auth servers", "mySiteUrl": "https://ann.example.com"});
    let created = post_with_cookie(&app, "/acme/auth/signup/external", signup, model.clone()).await;
    assert_eq!(created.status(), 200);
    let refresh = set_cookie(&created, "Aufy.RefreshToken").expect("refresh cookie");
    assert!(refresh.contains("HttpOnly"));
    assert!(set_cookie(&created, "Aufy.AccessToken").is_none(), "only with usecookie=true");
    assert!(
        set_cookie(&created, "Aufy.ExternalSignUp").unwrap().contains("Max-Age=0"),
        "the sign-up cookie is cleared"
    );
    let body = json(created).await;
    assert_eq!(body.as_object().unwrap().len(), 3);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], j!(3600));
    let token = body["access_token"].as_str().unwrap().to_owned();

    // Single use.
    let replay = post_with_cookie(&app, "/acme/auth/signup/external", signup, model.clone()).await;
    assert_eq!(replay.status(), 401);
    assert_eq!(post_with_cookie(&app, "/acme/auth/signup/external", None, model).await.status(), 401);

    // The account: confirmed address, identity linked, model fields stored.
    let me = json(app.bare_client().get(app.url("/acme/api/auth/me")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(me["data"]["user"]["emailVerified"], true);
    let id = me["data"]["user"]["id"].as_str().unwrap();
    let admin = json(
        app.bare_client()
            .get(app.url(&format!("/admin/projects/acme/users/{id}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(admin["data"]["customFields"]["aboutMe"], "I like auth servers");

    // The same identity again: straight to sign-in, here with the access-token cookie too.
    let again = round_trip(&app, "https://app.example.com/welcome", &identity(&email), "").await;
    assert_eq!(again.headers()["location"], "https://app.example.com/welcome");
    let cookie = cookie_value(&set_cookie(&again, "Aufy.ExternalSignIn").expect("sign-in cookie"));
    let signin = Some(("Aufy.ExternalSignIn", cookie.as_str()));
    let signed_in = post_with_cookie(&app, "/acme/auth/signin/external?usecookie=true", signin, j!(null)).await;
    assert_eq!(signed_in.status(), 200);
    assert!(set_cookie(&signed_in, "Aufy.AccessToken").unwrap().contains("HttpOnly"));
    let again_me = json(
        app.bare_client()
            .get(app.url("/acme/api/auth/me"))
            .bearer_auth(json(signed_in).await["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(again_me["data"]["user"]["id"], id);
    assert_eq!(
        post_with_cookie(&app, "/acme/auth/signin/external", signin, j!(null)).await.status(),
        401,
        "single use"
    );
    // A sign-in cookie is no sign-up cookie.
    assert_eq!(
        post_with_cookie(&app, "/acme/auth/signup/external", Some(("Aufy.ExternalSignUp", &cookie)), j!({}))
            .await
            .status(),
        401
    );
}

async fn api_clients_use_the_pending_token_header(backend: Backend) {
    let app = app(backend, true).await;
    let email = unique_email("api");
    let landed = round_trip(&app, "https://app.example.com/native", &identity(&email), "&response=token").await;
    assert!(set_cookie(&landed, "Aufy.ExternalSignUp").is_none(), "no cookie for API clients");
    let location = landed.headers()["location"].to_str().unwrap().to_owned();
    let (target, fragment) = location.split_once('#').unwrap();
    assert_eq!(target, "https://app.example.com/native?signup=true");
    let token = fragment.strip_prefix("pending_token=").unwrap();
    let created = app
        .bare_client()
        .post(app.url("/acme/auth/signup/external"))
        .header("x-pending-external", token)
        .json(&j!({"aboutMe": "native app user", "mySiteUrl": "https://api.example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let forged = app
        .bare_client()
        .post(app.url("/acme/auth/signup/external"))
        .header("x-pending-external", "forged")
        .json(&j!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

async fn provider_failure_and_forged_state(backend: Backend) {
    let app = app(backend, true).await;
    let browser = app.browser();
    let challenge =
        browser.get(app.url("/acme/auth/external/challenge/google?callbackUrl=/back")).send().await.unwrap();
    let location = url::Url::parse(challenge.headers()["location"].to_str().unwrap()).unwrap();
    let state = location.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let failed = browser
        .get(app.url("/acme/auth/external/callback/google"))
        .query(&[("state", state.as_str()), ("error", "access_denied")])
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 302);
    assert_eq!(failed.headers()["location"], "/back?failed=true");
    let forged = browser.get(app.url("/acme/auth/external/callback/google?state=forged&code=x")).send().await.unwrap();
    assert_eq!(forged.status(), 400);
    assert_eq!(forged.headers()["content-type"], "application/problem+json");
    let replayed = browser
        .get(app.url("/acme/auth/external/callback/google"))
        .query(&[("state", state.as_str()), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 400, "a used state does not work twice");
    let unknown_project =
        browser.get(app.url("/ghost/auth/external/challenge/google?callbackUrl=/x")).send().await.unwrap();
    assert_eq!(unknown_project.status(), 404);
    assert_eq!(unknown_project.headers()["content-type"], "application/problem+json");
}

/// Finding 1: an attacker signs up through a provider that did not verify the victim's address.
/// The account must not count the address as verified, and the victim's later verified sign-in
/// (another identity) must not be linked into it.
async fn unverified_provider_address_is_neither_verified_nor_linked(backend: Backend) {
    let app = app(backend, true).await;
    let email = unique_email("victim");
    let attacker = format!("sub-mallory-{email}|{email}|false|Mallory");
    let landed = round_trip(&app, "https://app.example.com/welcome", &attacker, "").await;
    assert_eq!(landed.headers()["location"], "https://app.example.com/welcome?signup=true");
    let cookie = cookie_value(&set_cookie(&landed, "Aufy.ExternalSignUp").expect("external sign-up cookie"));
    let model = j!({"aboutMe": "definitely the owner", "mySiteUrl": "https://mallory.example.com"});
    let created =
        post_with_cookie(&app, "/acme/auth/signup/external", Some(("Aufy.ExternalSignUp", &cookie)), model).await;
    assert_eq!(created.status(), 200);
    let token = json(created).await["access_token"].as_str().unwrap().to_owned();
    let me = json(app.bare_client().get(app.url("/acme/api/auth/me")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(me["data"]["user"]["emailVerified"], false, "the provider did not verify the address");
    let attacker_id = me["data"]["user"]["id"].as_str().unwrap().to_owned();
    let admin = json(app.admin_get(&format!("/admin/projects/acme/users/{attacker_id}")).await).await;
    assert_eq!(admin["data"]["emailVerified"], false);

    // The real owner signs in with a provider that verified the address: refused, not linked.
    let victim = format!("sub-victim-{email}|{email}|true|Victim");
    let refused = round_trip(&app, "https://app.example.com/welcome", &victim, "").await;
    assert_eq!(refused.headers()["location"], "https://app.example.com/welcome?failed=true");
    assert!(
        set_cookie(&refused, "Aufy.ExternalSignIn").is_none() && set_cookie(&refused, "Aufy.ExternalSignUp").is_none()
    );
    let audit = app.state.services.store.audit(&app.project_id("acme").await).await.unwrap();
    let link = audit.iter().find(|a| a.action == "link").expect("the refusal is audited");
    assert_eq!(link.outcome, "denied:email_not_verified");
    assert_eq!(link.user_id.as_deref(), Some(attacker_id.as_str()));
}

/// Login CSRF on the external flow: a callback with the attacker's code, opened by a browser
/// that did not start the flow, sets no cookie and uses nothing up.
async fn a_callback_opened_by_another_browser_is_refused(backend: Backend) {
    let app = app(backend, true).await;
    let attacker = app.browser();
    let challenge = attacker
        .get(app.url(&format!("/acme/auth/external/challenge/google?callbackUrl={}", urlencode("/welcome"))))
        .send()
        .await
        .unwrap();
    assert_eq!(challenge.status(), 302);
    let binding = set_cookie(&challenge, "doorway_oauth_state").expect("the challenge binds the browser");
    assert!(binding.contains("HttpOnly") && binding.contains("Path=/acme/auth/external/callback/google"), "{binding}");
    let mut to_provider = url::Url::parse(challenge.headers()["location"].to_str().unwrap()).unwrap();
    to_provider.query_pairs_mut().append_pair("login_hint", &identity(&unique_email("eve")));
    let back = attacker.get(to_provider).send().await.unwrap();
    let callback = back.headers()["location"].to_str().unwrap().to_owned();

    for victim in [app.browser(), app.bare_client()] {
        let refused = victim.get(&callback).send().await.unwrap();
        assert_eq!(refused.status(), 400);
        assert_eq!(refused.headers()["content-type"], "application/problem+json");
        assert!(
            set_cookie(&refused, "Aufy.ExternalSignUp").is_none()
                && set_cookie(&refused, "Aufy.ExternalSignIn").is_none()
        );
        assert!(!refused.headers().contains_key("location"));
    }
    let landed = attacker.get(&callback).send().await.unwrap();
    assert_eq!(landed.status(), 302);
    assert_eq!(landed.headers()["location"], "/welcome?signup=true");
    assert!(set_cookie(&landed, "Aufy.ExternalSignUp").is_some());
}

async fn oversized_and_non_json_bodies_are_problems(backend: Backend) {
    let app = app(backend, true).await;
    let landed = round_trip(&app, "/welcome", &identity(&unique_email("big")), "").await;
    let cookie = cookie_value(&set_cookie(&landed, "Aufy.ExternalSignUp").unwrap());
    let send = |content_type: &'static str, body: String| {
        app.bare_client()
            .post(app.url("/acme/auth/signup/external"))
            .header("cookie", format!("Aufy.ExternalSignUp={cookie}"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    for (status, response) in [
        (413, send("application/json", oversized_json()).await.unwrap()),
        (415, send("text/plain", "{}".into()).await.unwrap()),
        (400, send("application/json", "{".into()).await.unwrap()),
    ] {
        assert_eq!(response.status(), status);
        assert_eq!(response.headers()["content-type"], "application/problem+json", "{status}");
        assert_eq!(json(response).await["status"], status);
    }
    // A query string that does not parse is a problem too, not plain text.
    let bad_query = app.bare_client().get(app.url("/acme/auth/external/challenge/google")).send().await.unwrap();
    assert_eq!(bad_query.status(), 400);
    assert_eq!(bad_query.headers()["content-type"], "application/problem+json");
    // The cookie was not used up by the refused bodies.
    let ok = send("application/json", r#"{"aboutMe": "still here", "mySiteUrl": "https://x.example"}"#.into())
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// With `https://other.example.com/auth/done` allowed, `…/auth/done/../../evil` used to pass
/// and the pending token landed on `/evil`. Dot segments, encoded separators and the other
/// ways out are refused before any redirect; what is accepted is redirected to normalised.
async fn token_mode_callbacks_cannot_climb_out_of_an_allowed_prefix(backend: Backend) {
    let mut config = config(true);
    config.settings.redirect_allowlist.push("https://other.example.com/auth/done".into());
    let app = TestApp::builder(backend).with_project_config("acme", config).spawn().await;
    let browser = app.bare_client();
    for evil in [
        "https://other.example.com/auth/done/../../evil",
        "https://other.example.com/auth/done/%2e%2e/%2e%2e/evil",
        "https://other.example.com/auth/done/..%2F..%2Fevil",
        "https://other.example.com/auth/donex",
        "https://app.example.com@evil.example.com/",
        "//evil.example.com",
        "/\\evil.example.com",
        "/%2F%2Fevil.example.com",
        "/a/..//evil.example.com",
        "javascript:alert(1)",
        "/\tdone",
    ] {
        let challenge =
            browser
                .get(app.url(&format!(
                    "/acme/auth/external/challenge/google?callbackUrl={}&response=token",
                    urlencode(evil)
                )))
                .send()
                .await
                .unwrap();
        assert_eq!(challenge.status(), 400, "{evil}");
        assert!(!challenge.headers().contains_key("location"), "{evil}");
    }

    let email = unique_email("dots");
    let landed =
        round_trip(&app, "https://other.example.com/auth/done/step/../next", &identity(&email), "&response=token")
            .await;
    let location = landed.headers()["location"].to_str().unwrap().to_owned();
    let (target, fragment) = location.split_once('#').unwrap();
    assert_eq!(target, "https://other.example.com/auth/done/next?signup=true", "the normalised URL, not the raw one");
    assert!(fragment.starts_with("pending_token="));
    let relative = round_trip(&app, "/after/./sign-in/../done", &identity(&unique_email("rel")), "").await;
    assert_eq!(relative.headers()["location"], "/after/done?signup=true");
}
