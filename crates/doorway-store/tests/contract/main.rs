//! The store contract, one suite per aggregate (the persister-test pattern): every engine
//! behaves the same through the port. Each test runs on a SQLite file and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::sync::Arc;

use doorway_core::email::EmailAddress;
use doorway_core::user::User;
use doorway_core::{Project, ProjectSettings, ProjectSlug, Store, StoreError, Timestamp};
use doorway_store::test_support::{Backend, FreshDatabase, fresh_database};

/// Runs each named `async fn(Engine)` once per engine, as `<name>::{sqlite, postgres}`.
macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {
        $(mod $name {
            #[tokio::test]
            async fn sqlite() { super::$name($crate::Engine::Sqlite).await }
            #[tokio::test]
            async fn postgres() { super::$name($crate::Engine::Postgres).await }
        })*
    };
}

mod accounts;
mod audit;
mod bot_checks;
mod flows;
mod oauth;
mod outbox;
mod passkeys;
mod projects;
mod rate_limits;
mod sessions;
mod verification;

#[derive(Debug, Clone, Copy)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A migrated, empty store; the database (when it is a file or a server database) lives as long
/// as the first element.
pub async fn open(engine: Engine) -> (Option<FreshDatabase>, Arc<dyn Store>) {
    let backend = match engine {
        Engine::Sqlite => Backend::Sqlite,
        Engine::Postgres => Backend::Postgres,
    };
    let db = fresh_database(backend).await;
    let store = doorway_store::connect_and_migrate(&db.url).await.unwrap();
    (Some(db), store)
}

pub fn t(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

pub fn project(slug: &str, at: i64) -> Project {
    Project {
        id: format!("prj_{slug}"),
        slug: ProjectSlug::parse(slug).unwrap(),
        name: slug.to_uppercase(),
        settings: ProjectSettings { access_token_ttl_secs: 120, ..Default::default() },
        created_at: t(at),
        updated_at: t(at),
    }
}

/// A store holding project `acme` (`prj_acme`).
pub async fn open_with_project(engine: Engine) -> (Option<FreshDatabase>, Arc<dyn Store>) {
    let (db, store) = open(engine).await;
    let mut tx = store.begin().await.unwrap();
    tx.insert_project(&project("acme", 1)).await.unwrap();
    tx.commit().await.unwrap();
    (db, store)
}

/// A user of `prj_acme` (`seq` is whatever the store assigns).
pub fn user(id: &str, email: &str) -> User {
    User {
        seq: 0,
        id: id.into(),
        project_id: "prj_acme".into(),
        email: Some(EmailAddress::parse(email).unwrap()),
        email_verified: false,
        name: Some(format!("Name of {id}")),
        username: None,
        avatar_url: None,
        bio: None,
        location: None,
        birthdate: None,
        metadata: serde_json::json!({"plan": "free"}),
        secure_metadata: serde_json::json!({}),
        reputation: 0,
        custom_fields: serde_json::json!({}),
        created_at: t(10),
        updated_at: t(10),
    }
}

/// Stores the user in its own transaction and returns it as stored (with its `seq`).
pub async fn insert_user(store: &dyn Store, mut user: User) -> User {
    let mut tx = store.begin().await.unwrap();
    user.seq = tx.insert_user(&user).await.unwrap();
    tx.commit().await.unwrap();
    user
}

/// The write was refused by a unique constraint.
#[track_caller]
pub fn assert_conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Conflict { .. }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
}
