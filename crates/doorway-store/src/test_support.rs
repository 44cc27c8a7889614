//! Fresh databases for tests: a temp-file SQLite, a new database on the PostgreSQL that
//! `scripts/test.sh` started (`TEST_POSTGRES_URL`), or a store on an in-memory SQLite.
#![allow(clippy::expect_used, reason = "test fixtures fail loudly at set-up")]

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Keeps a temporary SQLite directory alive as long as the database is used.
pub struct FreshDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn fresh_database(backend: Backend) -> FreshDatabase {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("doorway.db").display());
            FreshDatabase { url, _dir: Some(dir) }
        }
        Backend::Postgres => {
            let base = std::env::var("TEST_POSTGRES_URL")
                .expect("TEST_POSTGRES_URL is not set: run the suite with scripts/test.sh, which starts PostgreSQL");
            let name = format!("doorway_{}", uuid::Uuid::now_v7().simple());
            let mut conn =
                <sqlx::PgConnection as sqlx::Connection>::connect(&base).await.expect("connect to the test PostgreSQL");
            sqlx::Executor::execute(&mut conn, sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .await
                .expect("create a test database");
            let mut url = url::Url::parse(&base).expect("TEST_POSTGRES_URL is a URL");
            url.set_path(&name);
            FreshDatabase { url: url.to_string(), _dir: None }
        }
    }
}

/// Signing-key rows exactly as stored (kid, secret, secret_format), oldest first, read
/// straight from the table, bypassing the store.
pub async fn stored_signing_keys(database_url: &str) -> Vec<(String, Vec<u8>, String)> {
    const SQL: &str = "SELECT kid, secret, secret_format FROM signing_keys ORDER BY created_at, kid";
    if database_url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(database_url).await.expect("open the test SQLite");
        sqlx::query_as(SQL).fetch_all(&pool).await.expect("read signing_keys")
    } else {
        let pool = sqlx::PgPool::connect(database_url).await.expect("connect to the test PostgreSQL");
        sqlx::query_as(SQL).fetch_all(&pool).await.expect("read signing_keys")
    }
}

/// A fresh, migrated SQLite database in memory, for fast tests of flows against the real SQL:
/// no file, no server, gone when the last clone of the store is dropped.
///
/// It has one connection, so it behaves like a single SQLite writer: a test must not read
/// through the store while it holds an open transaction of it (the read would wait for the
/// connection and fail after a few seconds).
pub async fn memory_store() -> std::sync::Arc<dyn doorway_core::Store> {
    std::sync::Arc::new(memory_sqlite().await)
}

/// [`memory_store`], as its concrete type (for [`crate::SqliteStore::pool`]).
pub async fn memory_sqlite() -> crate::SqliteStore {
    use std::str::FromStr;
    use std::time::Duration;

    let options = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite::memory:")
        .expect("an in-memory SQLite URL")
        .foreign_keys(true);
    // The database lives as long as a connection to it: keep exactly one, forever.
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .expect("open an in-memory SQLite");
    let mut conn = pool.acquire().await.expect("the in-memory SQLite's connection");
    crate::migrate_sqlite(&mut conn).await.expect("migrate the in-memory SQLite");
    drop(conn);
    crate::SqliteStore::new(pool)
}
