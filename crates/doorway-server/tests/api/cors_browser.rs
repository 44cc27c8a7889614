//! CORS in a real browser: headless Chromium (Debian's `chromium`, driven by npm
//! `playwright-core` from tests/browser/, both set up by scripts/test.sh) loads an app page from
//! one loopback origin and calls Doorway on another with `credentials: "include"`.
//!
//! - `http://127.0.0.1:<app>` is allowed and same-site with Doorway (`http://127.0.0.1:<doorway>`:
//!   sites ignore ports), like an SPA on app.example.com calling auth.example.com: the session
//!   cookies (SameSite=Lax) ride along, so sign-up, who-am-I and refresh all work by cookie.
//! - `http://localhost:<app>` is allowed but cross-site: the browser reads every answer, yet
//!   keeps the Lax cookies out, so such an app uses the bearer token.
//! - `http://127.0.0.1:<other>` is not allowed: every fetch rejects with a TypeError.

use std::path::PathBuf;
use std::time::Duration;

use doorway_server::settings::ProjectConfig;
use serde_json::{Value, json as j};

use crate::harness::{Backend, STRONG_PASSWORD, TestApp, unique_email};

/// The browser scripts/test.sh found or installed.
fn chromium() -> String {
    std::env::var("TEST_CHROMIUM")
        .expect("TEST_CHROMIUM is not set: run the suite with scripts/test.sh, which installs Debian's chromium")
}

/// Serves one HTML page on a free loopback port; answers until the test ends.
async fn app_page() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let page = axum::Router::new()
        .route("/", axum::routing::get(|| async { axum::response::Html("<!doctype html><title>An app</title>") }));
    tokio::spawn(async move { axum::serve(listener, page).await });
    port
}

fn browser_tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Runs tests/browser/cors.mjs; one entry per page, each with its steps.
async fn run_in_chromium(config: Value) -> Vec<Value> {
    let dir = browser_tests_dir();
    let chromium = config["chromium"].as_str().unwrap_or_default();
    assert!(
        std::path::Path::new(chromium).exists(),
        "{chromium} not found: install Debian's chromium (scripts/test.sh does: apt-get install chromium)"
    );
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "{}/node_modules/playwright-core is missing: run `npm ci` there (scripts/test.sh does)",
        dir.display()
    );
    let run = tokio::process::Command::new("node")
        .arg(dir.join("cors.mjs"))
        .arg(config.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("Chromium did not finish within 90 s")
        .expect("node not found: install Node.js");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cors.mjs failed ({}): {stderr}", output.status);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("cors.mjs printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

fn status(steps: &Value, step: &str) -> u64 {
    steps[step]["status"].as_u64().unwrap_or_else(|| panic!("{step} did not complete: {}", steps[step]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_calls_doorway_from_allowed_origins_only() {
    let (app_port, other_port) = (app_page().await, app_page().await);
    let same_site = format!("http://127.0.0.1:{app_port}");
    let cross_site = format!("http://localhost:{app_port}");
    let refused = format!("http://127.0.0.1:{other_port}");
    let mut acme = ProjectConfig { name: Some("Acme".into()), ..Default::default() };
    acme.settings.cors.allowed_origins = vec![same_site.clone(), cross_site.clone()];
    let app = TestApp::builder(Backend::Sqlite).with_project_config("acme", acme).spawn().await;

    let results = run_in_chromium(j!({
        "chromium": chromium(),
        "api": app.url("/acme"),
        "password": STRONG_PASSWORD,
        "pages": [
            {"url": format!("{same_site}/"), "email": unique_email("same-site")},
            {"url": format!("{cross_site}/"), "email": unique_email("cross-site")},
            {"url": format!("{refused}/"), "email": unique_email("refused")},
        ],
    }))
    .await;
    assert_eq!(results.len(), 3);
    for (result, origin) in results.iter().zip([&same_site, &cross_site, &refused]) {
        assert_eq!(result["origin"], origin.as_str(), "{result}");
    }

    // Same-site, allowed: the whole session by cookie, as an SPA on a sibling subdomain.
    let steps = &results[0]["steps"];
    assert_eq!(status(steps, "signUp"), 201, "{steps}");
    assert_eq!(status(steps, "meByCookie"), 200, "the access cookie rode along: {steps}");
    assert_eq!(steps["meByCookie"]["body"]["data"]["user"]["email"], steps["signUp"]["body"]["data"]["user"]["email"]);
    assert_eq!(status(steps, "refresh"), 200, "the refresh cookie rode along, and the guard let it: {steps}");
    assert_eq!(status(steps, "meAfterRefresh"), 200, "{steps}");
    assert_eq!(status(steps, "revokeUnknownSession"), 404, "a DELETE after its preflight, with the cookie: {steps}");
    assert_eq!(steps["revokeUnknownSession"]["body"]["error"]["code"], "SESSION_NOT_FOUND", "{steps}");
    assert_eq!(status(steps, "meByBearer"), 200, "a preflight allowed `authorization`: {steps}");
    assert_eq!(status(steps, "signOut"), 200, "{steps}");
    assert_eq!(status(steps, "meAfterSignOut"), 401, "sign-out cleared the cookies: {steps}");

    // Cross-site, allowed: every answer is readable, but SameSite=Lax keeps the cookies home.
    let steps = &results[1]["steps"];
    assert_eq!(status(steps, "signUp"), 201, "{steps}");
    assert_eq!(status(steps, "meByCookie"), 401, "no cookie crosses sites: {steps}");
    assert_eq!(steps["meByCookie"]["body"]["error"]["code"], "UNAUTHORIZED", "{steps}");
    assert_eq!(status(steps, "refresh"), 401, "{steps}");
    assert_eq!(status(steps, "meByBearer"), 200, "a cross-site app uses the token: {steps}");

    // Not allowed: the browser refuses every call, simple or preflighted.
    let steps = &results[2]["steps"];
    for step in ["signUp", "meByCookie", "refresh", "revokeUnknownSession", "meByBearer", "signOut"] {
        let error = steps[step]["error"].as_str().unwrap_or_else(|| panic!("{step} was not refused: {steps}"));
        assert!(error.starts_with("TypeError"), "{step}: {error}");
    }
}
