//! The hosted pages in a real browser: headless Chromium (Debian's `chromium`, driven by npm
//! `playwright-core` from tests/browser/pages.mjs, both set up by scripts/test.sh), one browser
//! process for the whole file. axe-core checks every page (no serious or critical finding); a
//! person signs up with a password and verifies by the mailed code (read here from the SMTP
//! receiver and handed to the script), resets a forgotten password through the mailed link,
//! signs up through the test OpenID Connect provider, and signs up, out and in with JavaScript
//! off. No page may trip its own CSP.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use doorway_core::oauth::ProviderSettings;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, unique_email};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the suite with scripts/test.sh"))
}

async fn app() -> TestApp {
    let mut default = ProjectConfig { name: Some("Default".into()), ..Default::default() };
    default.settings.signup.verify_email = true;
    default.settings.providers.insert(
        "google".into(),
        ProviderSettings {
            client_id: "doorway-test".into(),
            client_secret: Some("doorway-test-secret".into()),
            scopes: None,
            issuer: Some(env("TEST_OIDC_ISSUER")),
            authorize_url: None,
            token_url: None,
            userinfo_url: None,
            emails_url: None,
            redirect_uri: None,
        },
    );
    let mut acme = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    acme.settings.contract_settings.insert(
        "branding".into(),
        j!({"display_name": "Acme Cloud", "primary_color": "#0b7a75", "support_url": "https://help.example.com/"}),
    );
    TestApp::builder(Backend::Sqlite)
        .with_smtp()
        .with_project_config("default", default)
        .with_project_config("acme", acme)
        .with_project("plain", "Plain")
        .spawn()
        .await
}

/// Runs tests/browser/pages.mjs, answering its mail requests; returns its results.
async fn run_in_chromium(app: &TestApp, config: Value) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir() && dir.join("node_modules/axe-core").is_dir(),
        "{}/node_modules is incomplete: run `npm ci` there (scripts/test.sh does)",
        dir.display()
    );
    let mut child = tokio::process::Command::new("node")
        .arg(dir.join("pages.mjs"))
        .arg(config.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node not found: install Node.js");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = child.stderr.take().unwrap();
    let conversation = async {
        let mut mails_seen = std::collections::HashMap::<String, usize>::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            let message: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("pages.mjs said: {line}"));
            if let Some(results) = message.get("done") {
                return Some(results.clone());
            }
            // The script asks for the next mail to an address (verify, then reset).
            let email = message["email"].as_str().unwrap().to_owned();
            let seen = mails_seen.entry(email.clone()).or_default();
            *seen += 1;
            let mail = app.wait_for_mails_to(&email, *seen).await.remove(*seen - 1);
            let answer = j!({"code": mail.code(), "link": mail.link()});
            stdin.write_all(format!("{answer}\n").as_bytes()).await.unwrap();
        }
        None
    };
    let results = tokio::time::timeout(Duration::from_secs(240), conversation)
        .await
        .expect("Chromium did not finish within 240 s");
    drop(stdin);
    let mut errors = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut errors).await.unwrap();
    results.unwrap_or_else(|| panic!("pages.mjs ended without results: {errors}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_goes_through_every_page() {
    let app = app().await;
    let (email, nojs_email) = (unique_email("browser"), unique_email("nojs"));
    let new_password = "Another-fresh-Passw0rd";
    let results = run_in_chromium(
        &app,
        j!({
            "chromium": env("TEST_CHROMIUM"),
            "base": app.url("/ui"),
            "plain": app.url("/plain/ui"),
            "branded": app.url("/acme/ui"),
            "email": email,
            "nojsEmail": nojs_email,
            "password": STRONG_PASSWORD,
            "newPassword": new_password,
        }),
    )
    .await;

    eprintln!("pages.mjs timings (ms): {}", results["ms"]);
    // axe-core: every page, zero serious or critical findings.
    let audited = results["axe"].as_object().unwrap();
    assert!(audited.len() >= 13, "pages audited: {:?}", audited.keys().collect::<Vec<_>>());
    for (page, findings) in audited {
        assert_eq!(findings, &j!([]), "axe-core on {page}");
    }
    assert_eq!(results["csp"], j!([]), "no page trips its own CSP");
    let steps = &results["steps"];
    assert_eq!(steps["keyboard"], j!({"focused": "name", "outline": "solid"}), "{steps}");

    let signed_up = &steps["passwordSignUp"];
    assert_eq!(signed_up["afterSignUp"], "/ui/verify-email", "{signed_up}");
    assert_eq!(signed_up["wrongCode"]["error"], "The code is wrong.", "{signed_up}");
    assert_eq!(signed_up["wrongCode"]["describedBy"], "code-hint code-error", "{signed_up}");
    assert_eq!(signed_up["wrongCode"]["focused"], "summary", "the page script moved focus to the summary");
    assert_eq!(signed_up["landing"], "/ui/welcome", "{signed_up}");
    assert_eq!(signed_up["signedInAs"], email.as_str());
    assert_eq!(signed_up["me"], 200, "the native API sees the page's session");

    let reset = &steps["reset"];
    assert_eq!(reset["landing"], "/ui/reset-password", "the mailed link lands on the one reset page: {reset}");
    assert!(reset["notice"].as_str().unwrap().contains("a code and a link are on their way"), "{reset}");
    assert!(reset["done"].as_str().unwrap().starts_with("Your new password is set"), "{reset}");
    assert_eq!(reset["signedInAs"], email.as_str());

    assert_eq!(steps["oauth"]["landing"], "/ui/welcome", "{steps}");
    assert_eq!(steps["oauth"]["signedInAs"], "johndoe@example.com", "{steps}");

    let no_js = &steps["noJs"];
    assert_eq!(no_js["refused"]["summary"], "There is a problem", "{no_js}");
    assert_eq!(no_js["refused"]["nameError"], "Fill in this field.", "{no_js}");
    assert_eq!(no_js["signedInAs"], nojs_email.as_str());
    assert_eq!(no_js["signedInAgain"], nojs_email.as_str());
}
