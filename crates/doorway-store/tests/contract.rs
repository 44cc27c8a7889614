//! The store contract: every engine behaves the same through the port.

use doorway_core::keys::ProjectKey;
use doorway_core::{Project, ProjectSettings, ProjectSlug, Store, StoreError, Timestamp};
use doorway_store::test_support::{Backend, FreshDatabase, fresh_database};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test]
            async fn sqlite() { super::$name(super::Backend::Sqlite).await }
            #[tokio::test]
            async fn postgres() { super::$name(super::Backend::Postgres).await }
        })*
    };
}

on_both_backends!(
    projects_round_trip,
    duplicate_slug_is_a_named_conflict,
    uncommitted_writes_vanish,
    keys_round_trip_newest_first,
    retired_keys_sort_after_the_signing_key_and_are_purged,
    migrating_twice_is_harmless,
    rate_limit_hits_follow_gcra_and_are_atomic,
);

async fn open(backend: Backend) -> (FreshDatabase, std::sync::Arc<dyn Store>) {
    let db = fresh_database(backend).await;
    let store = doorway_store::connect_and_migrate(&db.url).await.unwrap();
    (db, store)
}

fn project(slug: &str, at: i64) -> Project {
    Project {
        id: format!("prj_{slug}"),
        slug: ProjectSlug::parse(slug).unwrap(),
        name: slug.to_uppercase(),
        settings: ProjectSettings { access_token_ttl_secs: 120, ..Default::default() },
        created_at: Timestamp::from_millis(at),
        updated_at: Timestamp::from_millis(at),
    }
}

async fn projects_round_trip(backend: Backend) {
    let (_db, store) = open(backend).await;
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

async fn duplicate_slug_is_a_named_conflict(backend: Backend) {
    let (_db, store) = open(backend).await;
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

async fn uncommitted_writes_vanish(backend: Backend) {
    let (_db, store) = open(backend).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_project(&project("acme", 1)).await.unwrap();
    tx.insert_project_key("prj_acme", &ProjectKey::generate(Timestamp::from_millis(1))).await.unwrap();
    drop(tx);
    assert!(store.list_projects().await.unwrap().is_empty());
    assert!(store.project_keys("prj_acme").await.unwrap().is_empty());
}

async fn keys_round_trip_newest_first(backend: Backend) {
    let (_db, store) = open(backend).await;
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

async fn retired_keys_sort_after_the_signing_key_and_are_purged(backend: Backend) {
    let (_db, store) = open(backend).await;
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

async fn migrating_twice_is_harmless(backend: Backend) {
    let (db, store) = open(backend).await;
    store.ping().await.unwrap();
    let again = doorway_store::connect_and_migrate(&db.url).await.unwrap();
    again.ping().await.unwrap();
}

/// The store's one-statement GCRA agrees with the core's, and concurrent hits never let more
/// than the limit through.
async fn rate_limit_hits_follow_gcra_and_are_atomic(backend: Backend) {
    use doorway_core::rate_limit::{Gcra, Rule};
    let (_db, store) = open(backend).await;
    let gcra = Gcra::of(Rule::per_hour(5));
    let t = Timestamp::from_millis(36_000_000);
    let mut core_tat = None;
    for i in 0..7 {
        let now = t.plus_seconds(i * 60);
        let expected = gcra.next_tat(core_tat, now);
        let (allowed, tat) = store.rate_limit_hit("k", now, gcra).await.unwrap();
        assert_eq!(allowed, expected.is_some(), "hit {i}");
        assert_eq!(tat, expected.or(core_tat).unwrap(), "hit {i}");
        core_tat = expected.or(core_tat);
    }
    // Refused hits cost nothing: one interval after the burst began, one more goes through.
    assert!(!store.rate_limit_hit("k", t.plus_seconds(719), gcra).await.unwrap().0);
    assert!(store.rate_limit_hit("k", t.plus_seconds(720), gcra).await.unwrap().0);

    let hits = (0..20).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.rate_limit_hit("burst", t, gcra).await.unwrap().0 })
    });
    let mut allowed = 0;
    for hit in hits {
        allowed += usize::from(hit.await.unwrap());
    }
    assert_eq!(allowed, 5);
    assert_eq!(store.purge_rate_limits(t.plus_seconds(3601).millis()).await.unwrap(), 1, "only the idle key");
}
