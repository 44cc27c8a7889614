//! Signing-key rotation with an overlap window, and private keys encrypted at rest.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use doorway_core::oauth::ProviderSettings;
use doorway_core::{Clock, PasswordMode};
use doorway_server::settings::ProjectConfig;
use doorway_server::{Application, Settings};
use doorway_store::test_support::stored_signing_keys;
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, json, manual_clock, unique_email, wait_for_mails};
use crate::on_both_backends;

on_both_backends!(
    tokens_signed_before_a_rotation_verify_until_the_overlap_ends,
    another_instance_picks_up_a_rotation_within_the_cache_ttl,
    a_code_mailed_before_a_rotation_still_verifies,
    a_pending_external_sign_up_sealed_before_a_rotation_still_opens,
    with_a_master_key_private_keys_are_stored_encrypted_and_survive_restarts,
    plaintext_keys_are_encrypted_on_the_first_start_with_a_master_key,
    a_missing_or_wrong_master_key_stops_the_start,
);

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn claims_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

async fn published_kids(app: &TestApp, prefix: &str) -> Vec<String> {
    let set = json(app.get(&format!("{prefix}/.well-known/jwks.json")).await).await;
    set["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.bare_client().get(app.url("/api/auth/me")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

async fn sign_in(app: &TestApp, email: &str) -> String {
    let body = json(app.post_json("/api/auth/sign-in", &j!({"email": email, "password": STRONG_PASSWORD})).await).await;
    body["data"]["session"]["token"].as_str().unwrap_or_else(|| panic!("no token in {body}")).to_owned()
}

async fn rotate(app: &TestApp, slug: &str) -> Value {
    let response = app.admin_post(&format!("/admin/projects/{slug}/keys/rotate"), &j!({})).await;
    assert_eq!(response.status(), 200);
    json(response).await["data"].clone()
}

async fn tokens_signed_before_a_rotation_verify_until_the_overlap_ends(backend: Backend) {
    let clock = manual_clock();
    let app = TestApp::builder(backend).with_admin_token().with_manual_clock(clock.clone()).spawn().await;
    let email = unique_email("rotation");
    let created = json(app.sign_up("", &email, "Rosa Tate", None).await).await;
    let before = created["data"]["session"]["token"].as_str().unwrap().to_owned();
    let old_kid = kid_of(&before);
    // A token of the old key that would outlive the overlap: only the key's retirement stops it.
    let project = app.project_id("default").await;
    let old_key = app.state.services.store.project_keys(&project).await.unwrap().remove(0);
    let mut claims = claims_of(&before);
    claims["exp"] = (clock.now().seconds() + 10 * 86_400).into();
    let long_lived = old_key.sign(&claims).unwrap();

    let rotated = rotate(&app, "default").await;
    let new_kid = rotated["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert_eq!(rotated["keys"][0]["kid"], new_kid.as_str());
    assert_eq!(rotated["keys"][0]["state"], "active");
    assert_eq!(rotated["keys"][1]["kid"], old_kid.as_str());
    assert_eq!(rotated["keys"][1]["state"], "retiring");
    assert!(rotated["keys"][1]["retiresAt"].is_string());
    assert_eq!(published_kids(&app, "").await, [new_kid.as_str(), old_kid.as_str()]);
    assert_eq!(me(&app, &before).await, 200, "a token signed before the rotation still verifies");
    assert_eq!(me(&app, &long_lived).await, 200);
    let after = sign_in(&app, &email).await;
    assert_eq!(kid_of(&after), new_kid, "new sign-ins are signed by the new key");
    let audit = app.state.services.store.audit(&project).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "admin.keys.rotate" && a.detail["kid"] == new_kid.as_str()));

    // Default settings: access tokens live 3600 s, the longest of what a key signs; plus 60 s slack.
    clock.advance_seconds(3600 + 60);
    assert_eq!(published_kids(&app, "").await, [new_kid.as_str()], "the old key is no longer published");
    assert_eq!(me(&app, &long_lived).await, 401, "the retired key's tokens are refused");
    assert_eq!(me(&app, &before).await, 401);
    assert_eq!(kid_of(&sign_in(&app, &email).await), new_kid);

    // A later rotation deletes keys already retired: their private halves are no longer needed.
    rotate(&app, "default").await;
    let kids: Vec<String> =
        app.state.services.store.project_keys(&project).await.unwrap().into_iter().map(|k| k.kid).collect();
    assert!(!kids.contains(&old_kid) && kids.contains(&new_kid), "{kids:?}");
}

async fn another_instance_picks_up_a_rotation_within_the_cache_ttl(backend: Backend) {
    let first = TestApp::builder(backend).with_admin_token().spawn().await;
    let old_kid = published_kids(&first, "").await.remove(0);
    assert_eq!(published_kids(&first, "").await, [old_kid.as_str()], "cached by the first instance");
    // The CLI or another instance rotates: the first instance's cache is not told.
    let second = TestApp::builder(backend).with_admin_token().on_database_of(&first).spawn().await;
    let new_kid = rotate(&second, "default").await["kid"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(12);
    while published_kids(&first, "").await != [new_kid.as_str(), old_kid.as_str()] {
        assert!(std::time::Instant::now() < deadline, "the first instance never saw the new key");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let email = unique_email("instances");
    first.sign_up("", &email, "Ian Stance", None).await;
    assert_eq!(kid_of(&sign_in(&first, &email).await), new_kid);
}

async fn a_code_mailed_before_a_rotation_still_verifies(backend: Backend) {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.signup.verify_email = true;
    config.settings.signup.password = PasswordMode::Required;
    let app =
        TestApp::builder(backend).with_admin_token().with_smtp().with_project_config("default", config).spawn().await;
    let email = unique_email("codes");
    app.sign_up("", &email, "Cora Code", None).await;
    let code = wait_for_mails(&email, 1).await[0].code();

    rotate(&app, "default").await;
    // Re-sending derives the same code from the old key, which is still there.
    let resent = app.post_json("/api/auth/verify-email/resend", &j!({"email": email})).await;
    assert_eq!(resent.status(), 200);
    assert_eq!(wait_for_mails(&email, 2).await[1].code(), code);
    let verified = app.post_json("/api/auth/verify-email", &j!({"email": email, "code": code})).await;
    assert_eq!(verified.status(), 200);
    assert_eq!(json(verified).await["data"]["user"]["emailVerified"], true);
}

async fn a_pending_external_sign_up_sealed_before_a_rotation_still_opens(backend: Backend) {
    let mut config = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    config.settings.providers.insert(
        "google".into(),
        ProviderSettings {
            client_id: "doorway-test".into(),
            client_secret: Some("doorway-test-secret".into()),
            scopes: None,
            issuer: Some(std::env::var("TEST_OIDC_ISSUER").expect("run the suite with scripts/test.sh")),
            authorize_url: None,
            token_url: None,
            userinfo_url: None,
            emails_url: None,
            redirect_uri: None,
        },
    );
    config.settings.redirect_allowlist = vec!["https://app.example.com".into()];
    config.settings.external_signup.schema = Some(j!({
        "type": "object",
        "properties": {"aboutMe": {"type": "string"}},
        "additionalProperties": false
    }));
    let app = TestApp::builder(backend).with_admin_token().with_project_config("acme", config).spawn().await;
    let browser = app.browser();
    let challenge = browser
        .get(app.url(
            "/acme/auth/external/challenge/google?callbackUrl=https%3A%2F%2Fapp.example.com%2Fnative&response=token",
        ))
        .send()
        .await
        .unwrap();
    let mut to_provider = url::Url::parse(challenge.headers()["location"].to_str().unwrap()).unwrap();
    let email = unique_email("sealed");
    to_provider.query_pairs_mut().append_pair("login_hint", &format!("sub-{email}|{email}|true|Sam Sealed"));
    let back = browser.get(to_provider).send().await.unwrap();
    let landed = browser.get(back.headers()["location"].to_str().unwrap()).send().await.unwrap();
    let location = landed.headers()["location"].to_str().unwrap().to_owned();
    let pending = location.split_once("#pending_token=").expect("a pending token").1.to_owned();

    rotate(&app, "acme").await;
    let created = browser
        .post(app.url("/acme/auth/signup/external"))
        .header("x-pending-external", pending)
        .json(&j!({"aboutMe": "signed up across a key rotation"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
}

fn encrypted_app(backend: Backend, master_key: &str) -> crate::harness::TestAppBuilder {
    let master_key = master_key.to_owned();
    TestApp::builder(backend).configure(move |s| s.master_key = Some(master_key))
}

/// Settings for starting one more instance on `app`'s database, outside the harness.
fn settings_on(app: &TestApp, master_key: Option<&str>) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: app.database_url.clone(),
        master_key: master_key.map(str::to_owned),
        ..Settings::default()
    }
}

async fn with_a_master_key_private_keys_are_stored_encrypted_and_survive_restarts(backend: Backend) {
    let master_key = doorway_store::MasterKey::generate();
    let app = encrypted_app(backend, &master_key).with_project("acme", "Acme").spawn().await;
    let mut secrets = Vec::new();
    for slug in ["default", "acme"] {
        let project = app.project_id(slug).await;
        secrets
            .extend(app.state.services.store.project_keys(&project).await.unwrap().iter().map(|k| *k.secret_bytes()));
    }
    let rows = stored_signing_keys(&app.database_url).await;
    assert_eq!(rows.len(), 2);
    for (kid, stored, format) in &rows {
        assert_eq!(format, "aes-256-gcm", "{kid}");
        for secret in &secrets {
            assert!(!stored.windows(32).any(|w| w == secret), "the raw secret of {kid} is in the table");
        }
    }
    let email = unique_email("sealed");
    let first = json(app.sign_up("", &email, "Sid Sealed", None).await).await["data"]["session"]["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(me(&app, &first).await, 200);

    // A restart with the same master key signs with the same key (each instance has its own issuer here).
    let again = encrypted_app(backend, &master_key).on_database_of(&app).spawn().await;
    let token = sign_in(&again, &email).await;
    assert_eq!(kid_of(&token), kid_of(&first));
    assert_eq!(me(&again, &token).await, 200);
    assert_eq!(stored_signing_keys(&app.database_url).await, rows, "nothing is sealed twice");
}

async fn plaintext_keys_are_encrypted_on_the_first_start_with_a_master_key(backend: Backend) {
    let plain = TestApp::builder(backend).spawn().await;
    let project = plain.project_id("default").await;
    let secret = *plain.state.services.store.project_keys(&project).await.unwrap()[0].secret_bytes();
    let rows = stored_signing_keys(&plain.database_url).await;
    assert_eq!((rows[0].1.as_slice(), rows[0].2.as_str()), (&secret[..], "plain"));
    let email = unique_email("plain");
    let before = json(plain.sign_up("", &email, "Pia Plain", None).await).await["data"]["session"]["token"]
        .as_str()
        .unwrap()
        .to_owned();

    let master_key = doorway_store::MasterKey::generate();
    let sealed = encrypted_app(backend, &master_key).on_database_of(&plain).spawn().await;
    let rows = stored_signing_keys(&plain.database_url).await;
    assert_eq!(rows[0].2, "aes-256-gcm");
    assert!(!rows[0].1.windows(32).any(|w| w == secret));
    let after = sign_in(&sealed, &email).await;
    assert_eq!(kid_of(&after), kid_of(&before), "the same key, now sealed, still signs");
    assert_eq!(me(&sealed, &after).await, 200);
}

async fn a_missing_or_wrong_master_key_stops_the_start(backend: Backend) {
    let master_key = doorway_store::MasterKey::generate();
    let app = encrypted_app(backend, &master_key).spawn().await;
    let kid = stored_signing_keys(&app.database_url).await.remove(0).0;

    let Err(missing) = Application::build(settings_on(&app, None)).await else { panic!("started without the key") };
    let message = missing.to_string();
    assert!(message.contains(&kid) && message.contains("master_key_file"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");

    let wrong = doorway_store::MasterKey::generate();
    let Err(refused) = Application::build(settings_on(&app, Some(&wrong))).await else { panic!("a wrong key opened") };
    let message = refused.to_string();
    assert!(message.contains(&format!("does not decrypt signing key {kid}")), "{message}");
    assert!(!message.contains(&wrong) && !message.contains(&master_key), "{message}");

    let Err(malformed) = Application::build(settings_on(&app, Some("not-a-key"))).await else { panic!("started") };
    assert!(malformed.to_string().starts_with("master_key: must be 32 random bytes"), "{malformed}");
    assert!(!malformed.to_string().contains("not-a-key"));
}
