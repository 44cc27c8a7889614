//! Core flows against a scratch SQLite store: the real SQL, no server. Flows
//! live in doorway-core, which cannot depend on this crate, so their store-backed tests live
//! here.

use doorway_core::projects::{NewProject, ProjectError, create_project, rotate_keys, rotation_overlap_secs};
use doorway_core::rate_limit::{RateLimiter, Rule, StoreRateLimiter};
use doorway_core::{ManualClock, ProjectSettings, ProjectSlug, Timestamp};
use doorway_store::test_support::scratch_store;

fn acme() -> NewProject {
    NewProject { slug: ProjectSlug::parse("acme").unwrap(), name: "Acme".into(), settings: ProjectSettings::default() }
}

#[tokio::test]
async fn a_created_project_signs_with_its_first_key_and_its_slug_stays_unique() {
    let store = scratch_store().await;
    let clock = ManualClock::starting_at(Timestamp::from_millis(1_000_000));
    let project = create_project(&*store, &clock, acme()).await.unwrap();

    assert_eq!(store.project_by_slug(&project.slug).await.unwrap(), Some(project.clone()));
    assert_eq!(store.project_by_id(&project.id).await.unwrap(), Some(project.clone()));
    let keys = store.project_keys(&project.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].retires_at, None);
    assert!(matches!(create_project(&*store, &clock, acme()).await, Err(ProjectError::Exists(_))));
}

#[tokio::test]
async fn rotation_retires_the_old_key_after_the_overlap_and_purges_it_later() {
    let store = scratch_store().await;
    let clock = ManualClock::starting_at(Timestamp::from_millis(1_000_000));
    let project = create_project(&*store, &clock, acme()).await.unwrap();
    let first = store.project_keys(&project.id).await.unwrap().remove(0);

    clock.advance_seconds(10);
    let rotation = rotate_keys(&*store, &clock, &project).await.unwrap();
    let overlap = rotation_overlap_secs(&project.settings);
    assert_eq!(rotation.previous_retire_at, Timestamp::from_millis(1_010_000).plus_seconds(overlap));
    let keys = store.project_keys(&project.id).await.unwrap();
    let order: Vec<(&str, Option<Timestamp>)> = keys.iter().map(|k| (k.kid.as_str(), k.retires_at)).collect();
    assert_eq!(order, [(rotation.kid.as_str(), None), (first.kid.as_str(), Some(rotation.previous_retire_at))]);

    // The next rotation after the overlap deletes the first key.
    clock.advance_seconds(overlap);
    let again = rotate_keys(&*store, &clock, &project).await.unwrap();
    let kids: Vec<String> = store.project_keys(&project.id).await.unwrap().into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, [again.kid, rotation.kid]);
}

#[tokio::test]
async fn the_store_rate_limiter_refuses_past_the_rule() {
    let limiter = StoreRateLimiter { store: scratch_store().await };
    let rule = Rule::per_hour(2);
    let now = Timestamp::from_millis(36_000_000);
    assert!(limiter.hit("signup:192.0.2.1", rule, now).await.unwrap().allowed);
    assert!(limiter.hit("signup:192.0.2.1", rule, now).await.unwrap().allowed);
    let refused = limiter.hit("signup:192.0.2.1", rule, now).await.unwrap();
    assert_eq!((refused.allowed, refused.reset_secs), (false, 1_800));
    assert!(limiter.hit("signup:192.0.2.2", rule, now).await.unwrap().allowed, "keys are separate");
}
