//! Replyke's published client (`@replyke/core`, pinned in tests/clients/replyke) against the
//! real server: `node tests/clients/replyke/run.mjs` bundles the client's store and auth thunks
//! with esbuild and walks sign-up → request-new-access-token → sign-out → sign-in.
//! scripts/test.sh installs the client (`npm ci`); without Node.js or the client this test
//! fails, it never skips.

use std::path::PathBuf;

use crate::harness::{Backend, TestApp, unique_email};
use crate::on_both_backends;

on_both_backends!(published_client_walks_a_whole_session);

async fn published_client_walks_a_whole_session(backend: Backend) {
    let app = TestApp::builder(backend).with_project("acme", "Acme").spawn().await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/clients/replyke");
    assert!(
        dir.join("node_modules/@replyke/core/package.json").is_file(),
        "the Replyke client is not installed: run `npm ci` in tests/clients/replyke (scripts/test.sh does)"
    );
    let email = unique_email("replyke-client");
    let args = [app.address.clone(), "acme".to_owned(), email.clone()];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node").arg("run.mjs").args(args).current_dir(dir).output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run `node` ({e}): the Replyke client test needs Node.js on PATH"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the Replyke client failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(stdout.contains("replyke client: all steps passed"), "{stdout}");

    // What the client did, as the server recorded it.
    let audit = app.state.services.store.audit(&app.project_id("acme").await).await.unwrap();
    let count =
        |action: &str, outcome: &str| audit.iter().filter(|a| a.action == action && a.outcome == outcome).count();
    assert_eq!(count("signout", "ok"), 1, "{audit:#?}");
    assert_eq!(count("signin", "ok"), 1, "{audit:#?}");
    assert_eq!(count("signin", "denied:invalid_credentials"), 1, "{audit:#?}");
    assert_eq!(count("refresh", "denied:refresh_token_reused"), 0, "the client never presented a used token");
}
