//! The proof-of-work widget in a real browser: headless Chromium (scripts/test.sh sets it up)
//! signs up on the hosted sign-up page of a project with bot protection, where the vendored
//! ALTCHA widget solves a challenge under the pages' strict CSP; the same solution posted again
//! is refused; with JavaScript off the page says the check needs it.

use std::path::PathBuf;
use std::time::Duration;

use doorway_core::bot_check::BotProtectionSettings;
use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, unique_email};

async fn run_altcha_mjs(config: Value) -> Value {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "run `npm ci` in {} (scripts/test.sh does)",
        dir.display()
    );
    let run = tokio::process::Command::new("node")
        .arg(dir.join("altcha.mjs"))
        .arg(config.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("Chromium did not finish within 90 s")
        .expect("node not found: install Node.js");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "altcha.mjs failed ({}): {stderr}", output.status);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("altcha.mjs printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_signs_up_through_the_altcha_widget_once_per_solution() {
    let chromium = std::env::var("TEST_CHROMIUM")
        .expect("TEST_CHROMIUM is not set: run the suite with scripts/test.sh, which installs Debian's chromium");
    let mut acme = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    acme.settings.bot_protection = BotProtectionSettings { enabled: true, max_number: 2_000, challenge_ttl_secs: 120 };
    let app = TestApp::builder(Backend::Sqlite).with_project_config("acme", acme).spawn().await;
    let email = unique_email("widget");

    let started = std::time::Instant::now();
    let result = run_altcha_mjs(j!({
        "chromium": chromium,
        "signUpUrl": app.url("/acme/ui/sign-up"),
        "email": email,
        "password": STRONG_PASSWORD,
    }))
    .await;
    eprintln!("altcha browser run: {:?} ({result})", started.elapsed());

    assert_eq!(result["pageStatus"], 200, "{result}");
    let csp = result["csp"].as_str().unwrap_or_default();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"), "the pages' strict CSP: {csp}");
    assert_eq!(result["widget"], 1, "{result}");
    assert_eq!(result["problems"], j!([]), "no console error, no CSP violation: {result}");
    assert!(result["payload"].as_str().is_some_and(|p| !p.is_empty()), "{result}");
    assert_eq!(result["signUpStatus"], 200, "{result}");
    assert_eq!(result["afterSignUp"], "/acme/ui/welcome", "{result}");
    let acme = doorway_core::ProjectSlug::parse("acme").unwrap();
    let project = app.state.services.store.project_by_slug(&acme).await.unwrap().unwrap();
    let address = doorway_core::email::EmailAddress::parse(&email).unwrap();
    assert!(app.state.services.store.user_with_password(&project.id, &address).await.unwrap().is_some());

    assert_eq!(result["replayStatus"], 403, "{result}");
    assert!(result["replayError"].as_str().is_some_and(|e| e.contains("bot check")), "{result}");

    let no_script = result["noScriptText"].as_str().unwrap_or_default();
    assert!(no_script.contains("turn JavaScript on"), "{result}");
    assert_eq!(result["noScriptWidget"], 0, "{result}");
}
