//! Passkeys: one credential id per project, per-user lists and removal; ceremonies taken once,
//! by their kind, never after they expire.

use doorway_core::store::{PasskeyCeremony, StoredPasskey};
use doorway_core::{StoreError, UniqueKey};

use crate::{Engine, insert_user, open_with_project, t, user};

on_every_engine!(
    passkeys_are_listed_per_user_and_found_by_credential,
    a_credential_id_is_registered_once_per_project,
    a_use_updates_the_credential_and_counter,
    passkeys_are_removed_by_their_owner_only,
    ceremony_is_taken_once_by_kind_before_expiry,
    expired_ceremonies_are_purged
);

fn passkey(id: &str, user_id: &str, credential_id: &str, at: i64) -> StoredPasskey {
    StoredPasskey {
        id: id.into(),
        project_id: "prj_acme".into(),
        user_id: user_id.into(),
        credential_id: credential_id.into(),
        user_handle: "0190e4b2-8a2c-4e55-9d0e-4c1c1c1c1c1c".into(),
        name: format!("Key {id}"),
        passkey: serde_json::json!({"cred": {"counter": 0}}),
        counter: 0,
        created_at: t(at),
        last_used_at: None,
    }
}

fn ceremony(id: &str, kind: &str, hash: &str, expires_at: i64) -> PasskeyCeremony {
    PasskeyCeremony {
        id: id.into(),
        project_id: "prj_acme".into(),
        kind: kind.into(),
        binding_hash: hash.into(),
        user_id: None,
        state: serde_json::json!({"rs": {"challenge": "abc"}}),
        created_at: t(100),
        expires_at: t(expires_at),
    }
}

async fn passkeys_are_listed_per_user_and_found_by_credential(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert_user(store.as_ref(), user("usr_a", "a@example.com")).await;
    insert_user(store.as_ref(), user("usr_b", "b@example.com")).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_passkey(&passkey("pk_2", "usr_a", "cred-2", 200)).await.unwrap();
    tx.insert_passkey(&passkey("pk_1", "usr_a", "cred-1", 100)).await.unwrap();
    tx.insert_passkey(&passkey("pk_3", "usr_b", "cred-3", 300)).await.unwrap();
    tx.commit().await.unwrap();

    let ids: Vec<String> = store.passkeys_of_user("usr_a").await.unwrap().into_iter().map(|p| p.id).collect();
    assert_eq!(ids, ["pk_1", "pk_2"], "oldest first, only the user's");
    assert_eq!(
        store.passkey_by_credential("prj_acme", "cred-3").await.unwrap(),
        Some(passkey("pk_3", "usr_b", "cred-3", 300))
    );
    assert_eq!(store.passkey_by_credential("prj_other", "cred-3").await.unwrap(), None, "another project's");
    assert_eq!(store.passkey_by_credential("prj_acme", "cred-x").await.unwrap(), None);
}

async fn a_credential_id_is_registered_once_per_project(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert_user(store.as_ref(), user("usr_a", "a@example.com")).await;
    insert_user(store.as_ref(), user("usr_b", "b@example.com")).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_passkey(&passkey("pk_1", "usr_a", "cred-1", 100)).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    match tx.insert_passkey(&passkey("pk_2", "usr_b", "cred-1", 200)).await {
        Err(StoreError::Conflict { key }) => assert_eq!(key, UniqueKey::PasskeyCredential),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn a_use_updates_the_credential_and_counter(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert_user(store.as_ref(), user("usr_a", "a@example.com")).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_passkey(&passkey("pk_1", "usr_a", "cred-1", 100)).await.unwrap();
    let updated = serde_json::json!({"cred": {"counter": 7}});
    tx.record_passkey_use("pk_1", &updated, 7, t(500)).await.unwrap();
    tx.commit().await.unwrap();
    let stored = store.passkey_by_credential("prj_acme", "cred-1").await.unwrap().unwrap();
    assert_eq!((stored.passkey, stored.counter, stored.last_used_at), (updated, 7, Some(t(500))));
}

async fn passkeys_are_removed_by_their_owner_only(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    insert_user(store.as_ref(), user("usr_a", "a@example.com")).await;
    insert_user(store.as_ref(), user("usr_b", "b@example.com")).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_passkey(&passkey("pk_1", "usr_a", "cred-1", 100)).await.unwrap();
    tx.insert_passkey(&passkey("pk_2", "usr_a", "cred-2", 200)).await.unwrap();
    tx.insert_passkey(&passkey("pk_3", "usr_b", "cred-3", 300)).await.unwrap();
    assert!(!tx.delete_passkey("usr_b", "pk_1").await.unwrap(), "not usr_b's");
    assert!(tx.delete_passkey("usr_a", "pk_1").await.unwrap());
    assert!(!tx.delete_passkey("usr_a", "pk_1").await.unwrap(), "already gone");
    assert_eq!(tx.delete_user_passkeys("usr_a").await.unwrap(), 1);
    tx.commit().await.unwrap();
    assert!(store.passkeys_of_user("usr_a").await.unwrap().is_empty());
    assert_eq!(store.passkeys_of_user("usr_b").await.unwrap().len(), 1);
}

async fn ceremony_is_taken_once_by_kind_before_expiry(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_passkey_ceremony(&ceremony("pkc_1", "signin", "hash-1", 1_000)).await.unwrap();
    tx.insert_passkey_ceremony(&ceremony("pkc_2", "signup", "hash-2", 1_000)).await.unwrap();
    tx.insert_passkey_ceremony(&ceremony("pkc_3", "signin", "hash-3", 1_000)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.take_passkey_ceremony("prj_other", "hash-1", "signin", t(500)).await.unwrap(), None, "project");
    let taken = tx.take_passkey_ceremony("prj_acme", "hash-1", "signin", t(500)).await.unwrap();
    assert_eq!(taken, Some(ceremony("pkc_1", "signin", "hash-1", 1_000)));
    assert_eq!(tx.take_passkey_ceremony("prj_acme", "hash-1", "signin", t(500)).await.unwrap(), None, "taken");
    // A binding presented for the wrong kind, or too late, is used up all the same.
    assert_eq!(tx.take_passkey_ceremony("prj_acme", "hash-2", "signin", t(500)).await.unwrap(), None, "kind");
    assert_eq!(tx.take_passkey_ceremony("prj_acme", "hash-2", "signup", t(500)).await.unwrap(), None, "used up");
    assert_eq!(tx.take_passkey_ceremony("prj_acme", "hash-3", "signin", t(1_000)).await.unwrap(), None, "expired");
    assert_eq!(tx.take_passkey_ceremony("prj_acme", "hash-3", "signin", t(500)).await.unwrap(), None, "used up");
}

async fn expired_ceremonies_are_purged(engine: Engine) {
    let (_db, store) = open_with_project(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_passkey_ceremony(&ceremony("pkc_old", "signin", "hash-old", 1_000)).await.unwrap();
    tx.insert_passkey_ceremony(&ceremony("pkc_new", "signin", "hash-new", 5_000)).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.purge_passkey_ceremonies(t(2_000)).await.unwrap(), 1);
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.take_passkey_ceremony("prj_acme", "hash-old", "signin", t(500)).await.unwrap(), None, "purged");
    assert!(tx.take_passkey_ceremony("prj_acme", "hash-new", "signin", t(500)).await.unwrap().is_some());
}
