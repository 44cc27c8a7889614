//! Projects and their signing keys.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a test's panic is its failure")]

use doorway_core::keys::ProjectKey;
use doorway_core::{ProjectSlug, StoreError, Timestamp};

use crate::{Engine, open, project};

on_every_engine!(
    projects_round_trip,
    duplicate_slug_is_a_named_conflict,
    uncommitted_writes_vanish,
    keys_round_trip_newest_first,
    retired_keys_sort_after_the_signing_key_and_are_purged,
    migrating_twice_is_harmless,
);

async fn projects_round_trip(engine: Engine) {
    let (_db, store) = open(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_project(&project("beta", 2)).await.unwrap();
    tx.insert_project(&project("acme", 1)).await.unwrap();
    assert_eq!(tx.project_by_slug(&ProjectSlug::parse("acme").unwrap()).await.unwrap(), Some(project("acme", 1)));
    tx.commit().await.unwrap();

    assert_eq!(store.list_projects().await.unwrap(), vec![project("acme", 1), project("beta", 2)]);
    let mut changed = project("acme", 1);
    changed.name = "Acme Corp".into();
    changed.updated_at = Timestamp::from_millis(9);
    let mut tx = store.begin().await.unwrap();
    tx.update_project(&changed).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.project_by_slug(&changed.slug).await.unwrap(), Some(changed));
    assert_eq!(store.project_by_slug(&ProjectSlug::parse("ghost").unwrap()).await.unwrap(), None);
}

async fn duplicate_slug_is_a_named_conflict(engine: Engine) {
    let (_db, store) = open(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_project(&project("acme", 1)).await.unwrap();
    tx.commit().await.unwrap();
    let mut again = project("acme", 1);
    again.id = "prj_other".into();
    let mut tx = store.begin().await.unwrap();
    match tx.insert_project(&again).await {
        Err(StoreError::Conflict { key }) => assert_eq!(key, doorway_core::UniqueKey::ProjectSlug),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn uncommitted_writes_vanish(engine: Engine) {
    let (_db, store) = open(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_project(&project("acme", 1)).await.unwrap();
    tx.insert_project_key("prj_acme", &ProjectKey::generate(Timestamp::from_millis(1))).await.unwrap();
    drop(tx);
    assert!(store.list_projects().await.unwrap().is_empty());
    assert!(store.project_keys("prj_acme").await.unwrap().is_empty());
}

async fn keys_round_trip_newest_first(engine: Engine) {
    let (_db, store) = open(engine).await;
    let old = ProjectKey::generate(Timestamp::from_millis(1));
    let new = ProjectKey::generate(Timestamp::from_millis(2));
    let mut tx = store.begin().await.unwrap();
    tx.insert_project(&project("acme", 1)).await.unwrap();
    tx.insert_project_key("prj_acme", &old).await.unwrap();
    tx.insert_project_key("prj_acme", &new).await.unwrap();
    tx.commit().await.unwrap();
    let keys = store.project_keys("prj_acme").await.unwrap();
    assert_eq!(keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), [new.kid.as_str(), old.kid.as_str()]);
    assert_eq!(keys[0].secret_bytes(), new.secret_bytes());
    assert_eq!(keys[1].public_bytes(), old.public_bytes());
}

async fn retired_keys_sort_after_the_signing_key_and_are_purged(engine: Engine) {
    let (_db, store) = open(engine).await;
    let (first, second, third) = (
        ProjectKey::generate(Timestamp::from_millis(1)),
        ProjectKey::generate(Timestamp::from_millis(1)),
        ProjectKey::generate(Timestamp::from_millis(1)),
    );
    let mut tx = store.begin().await.unwrap();
    tx.insert_project(&project("acme", 1)).await.unwrap();
    tx.insert_project_key("prj_acme", &first).await.unwrap();
    tx.retire_project_keys("prj_acme", Timestamp::from_millis(100)).await.unwrap();
    tx.insert_project_key("prj_acme", &second).await.unwrap();
    tx.retire_project_keys("prj_acme", Timestamp::from_millis(200)).await.unwrap();
    tx.insert_project_key("prj_acme", &third).await.unwrap();
    tx.commit().await.unwrap();
    // Same creation time: the order still follows the rotations, and a retirement never moves later.
    let keys = store.project_keys("prj_acme").await.unwrap();
    let order: Vec<(&str, Option<i64>)> =
        keys.iter().map(|k| (k.kid.as_str(), k.retires_at.map(|t| t.millis()))).collect();
    assert_eq!(order, [(third.kid.as_str(), None), (second.kid.as_str(), Some(200)), (first.kid.as_str(), Some(100))]);

    assert_eq!(store.purge_retired_keys(Timestamp::from_millis(99)).await.unwrap(), 0);
    assert_eq!(store.purge_retired_keys(Timestamp::from_millis(100)).await.unwrap(), 1);
    let left: Vec<String> = store.project_keys("prj_acme").await.unwrap().into_iter().map(|k| k.kid).collect();
    assert_eq!(left, [third.kid.clone(), second.kid.clone()]);
}

async fn migrating_twice_is_harmless(engine: Engine) {
    let (db, store) = open(engine).await;
    store.ping().await.unwrap();
    if let Some(db) = db {
        let again = doorway_store::connect_and_migrate(&db.url).await.unwrap();
        again.ping().await.unwrap();
    }
}
