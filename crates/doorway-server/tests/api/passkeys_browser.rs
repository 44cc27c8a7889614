//! Passkeys in a real browser: headless Chromium (set up by scripts/test.sh) with the DevTools
//! protocol's virtual authenticator, driven by tests/browser/passkeys.mjs. Doorway runs on
//! `http://localhost:<port>` (a secure context, so WebAuthn works, and the relying party id):
//! a passkey sign-up on the hosted page, sign-out, a passkey sign-in; a password account adds
//! a passkey through the JSON routes and signs in with it; axe-core on the pages with the
//! passkey section, and no CSP violation.

use std::path::PathBuf;
use std::time::Duration;

use doorway_core::passkey::PasskeySettings;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, unique_email};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the suite with scripts/test.sh"))
}

async fn app() -> TestApp {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    // Relying party and origin from public_url.
    config.settings.passkeys = PasskeySettings { enabled: true, ..Default::default() };
    TestApp::builder(Backend::Sqlite)
        .with_project_config("default", config)
        .configure(move |s| {
            s.listen = format!("127.0.0.1:{port}").parse().unwrap();
            s.public_url = Some(format!("http://localhost:{port}"));
        })
        .spawn()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_up_and_in_with_a_passkey() {
    let app = app().await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    let base = app.state.public_url.clone() + "/ui";
    let (email, password_email) = (unique_email("passkey"), unique_email("addkey"));
    let config = j!({
        "chromium": env("TEST_CHROMIUM"),
        "base": base,
        "email": email,
        "passwordEmail": password_email,
        "password": STRONG_PASSWORD,
    });
    let run = tokio::process::Command::new("node")
        .arg(dir.join("passkeys.mjs"))
        .arg(config.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("Chromium did not finish within 120 s")
        .expect("node not found: install Node.js");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "passkeys.mjs failed ({}): {stderr}", output.status);
    let results: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("passkeys.mjs printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)));
    eprintln!("passkeys.mjs timings (ms): {}", results["ms"]);
    assert_eq!(results["error"], Value::Null, "{results}");
    for (page, findings) in results["axe"].as_object().unwrap() {
        assert_eq!(findings, &j!([]), "axe-core on {page}");
    }
    assert_eq!(results["axe"].as_object().unwrap().len(), 2);
    assert_eq!(results["csp"], j!([]), "no page trips its own CSP");

    let steps = &results["steps"];
    assert_eq!(steps["signUp"]["needsEmail"], "Enter your email address above first.", "{steps}");
    assert_eq!(steps["signUp"]["landing"], "/ui/welcome", "{steps}");
    assert_eq!(steps["signUp"]["signedInAs"], email.as_str());
    assert_eq!(steps["signUp"]["residentKeys"], 1, "a discoverable credential: {steps}");
    assert_eq!(steps["signIn"], j!({"landing": "/ui/welcome", "signedInAs": email, "me": 200}), "{steps}");
    assert_eq!(steps["add"], j!({"add": 201, "name": "This browser", "listed": 1}), "{steps}");
    assert_eq!(steps["addedSignIn"], j!({"landing": "/ui/welcome", "signedInAs": password_email}), "{steps}");

    // The account made on the page has no password, and a passkey.
    let project = app.project_id("default").await;
    let user = app
        .state
        .services
        .store
        .user_with_password(&project, &doorway_core::email::EmailAddress::parse(&email).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.1, None, "no password");
    assert_eq!(app.state.services.store.passkeys_of_user(&user.0.id).await.unwrap().len(), 1);
}
