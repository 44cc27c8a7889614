//! OAuth state and pending external round trips: taken once, never after they expire.

use doorway_core::store::{OAuthState, PendingExternal};

use crate::{Engine, open_with_project, t};

on_every_engine!(
    oauth_state_is_taken_once,
    expired_oauth_state_is_not_taken,
    pending_external_is_taken_once_by_its_kind,
    expired_round_trips_are_purged
);

fn state(id: &str, expires_at: i64) -> OAuthState {
    OAuthState {
        id: id.into(),
        project_id: "prj_acme".into(),
        state_hash: format!("hash-{id}"),
        provider: "github".into(),
        nonce: "nonce".into(),
        pkce_verifier: "verifier".into(),
        redirect_uri: "https://app.example/done".into(),
        callback_url: "https://auth.example/callback".into(),
        purpose: "native".into(),
        created_at: t(100),
        expires_at: t(expires_at),
    }
}

async fn oauth_state_is_taken_once(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_oauth_state(&state("ost_1", 1_000)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.take_oauth_state("prj_other", "hash-ost_1", t(500)).await.unwrap(), None, "another project's");
    assert_eq!(tx.take_oauth_state("prj_acme", "hash-ost_1", t(500)).await.unwrap(), Some(state("ost_1", 1_000)));
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.take_oauth_state("prj_acme", "hash-ost_1", t(600)).await.unwrap(), None, "already taken");
}

async fn expired_oauth_state_is_not_taken(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_oauth_state(&state("ost_1", 1_000)).await.unwrap();
    assert_eq!(tx.take_oauth_state("prj_acme", "hash-ost_1", t(1_000)).await.unwrap(), None, "expires at 1000");
    assert_eq!(tx.take_oauth_state("prj_acme", "hash-ost_unknown", t(500)).await.unwrap(), None);
    assert_eq!(tx.take_oauth_state("prj_acme", "hash-ost_1", t(999)).await.unwrap(), Some(state("ost_1", 1_000)));
}

async fn pending_external_is_taken_once_by_its_kind(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let pending = PendingExternal {
        id: "pnd_1".into(),
        project_id: "prj_acme".into(),
        kind: "signup".into(),
        profile: serde_json::json!({"email": "ada@example.com", "name": "Ada"}),
        created_at: t(100),
        expires_at: t(1_000),
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_pending_external(&pending).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.take_pending_external("prj_acme", "pnd_1", "signin", t(500)).await.unwrap(), None, "other kind");
    assert_eq!(tx.take_pending_external("prj_acme", "pnd_1", "signup", t(1_000)).await.unwrap(), None, "expired");
    assert_eq!(tx.take_pending_external("prj_acme", "pnd_1", "signup", t(500)).await.unwrap(), Some(pending));
    assert_eq!(tx.take_pending_external("prj_acme", "pnd_1", "signup", t(500)).await.unwrap(), None, "taken");
}

async fn expired_round_trips_are_purged(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_oauth_state(&state("ost_old", 1_000)).await.unwrap();
    tx.insert_oauth_state(&state("ost_new", 5_000)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.purge_round_trips(t(2_000)).await.unwrap(), 1);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.take_oauth_state("prj_acme", "hash-ost_old", t(500)).await.unwrap(), None, "purged");
    assert!(tx.take_oauth_state("prj_acme", "hash-ost_new", t(500)).await.unwrap().is_some());
}
