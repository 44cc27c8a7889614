//! Fresh databases for tests: a temp-file SQLite, a new database on the PostgreSQL that
//! `scripts/test.sh` started (`TEST_POSTGRES_URL`), or a scratch SQLite store.
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

/// A fresh, migrated SQLite store on a file in a temporary directory, removed when the last
/// clone of the store is dropped: for tests of flows against the real SQL without a server.
pub async fn scratch_store() -> std::sync::Arc<dyn doorway_core::Store> {
    std::sync::Arc::new(scratch_sqlite().await)
}

/// [`scratch_store`], as its concrete type.
pub async fn scratch_sqlite() -> crate::SqliteStore {
    use std::sync::Arc;

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("doorway.db");
    let url = format!("sqlite://{}", path.display());
    let crate::Pools::Sqlite { reads, writer } =
        crate::connect(&url, crate::PoolTuning::default()).await.expect("open a scratch SQLite")
    else {
        unreachable!("a sqlite:// URL opens SQLite")
    };
    let reads = Arc::into_inner(reads).expect("the only handle").owning(Arc::new(dir));
    crate::SqliteStore::with_writer(Arc::new(reads), writer)
}
