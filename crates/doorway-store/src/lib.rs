//! Doorway's storage: the [`doorway_core::Store`] port on SQLite and PostgreSQL.
//!
//! Both backends run the same SQL text (written once per aggregate, in `sql/`); only the migrations
//! differ per dialect, with the same numbers.

mod errors;
mod key_sealing;
mod postgres;
mod rows;
mod sql;
mod sqlite;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use doorway_core::Store;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use key_sealing::{KeyAtRestError, MasterKey, MasterKeyError};
pub use sql::{PgStore, SqliteStore};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("database_url must start with sqlite:// or postgres:// (got '{0}')")]
    UnknownScheme(String),
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("cannot open the database: {0}")]
    OpenSqlite(#[source] rusqlite::Error),
    #[error(
        "an in-memory SQLite database is not supported (each connection would see its own): use a file, e.g. sqlite://doorway.db"
    )]
    InMemory,
    #[error("cannot open the database: {0}")]
    Store(#[from] doorway_core::StoreError),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("after migrating, rows of table {0} point at rows that do not exist")]
    ForeignKeys(String),
    #[error(transparent)]
    Keys(#[from] KeyAtRestError),
}

/// A store whose signing keys were checked against the master key at opening.
pub struct Opened {
    pub store: Arc<dyn Store>,
    /// Plain signing keys sealed with the master key just now.
    pub keys_sealed: usize,
}

/// Which engine a URL names, without connecting.
pub fn backend_of(database_url: &str) -> Result<&'static str, ConnectError> {
    if database_url.starts_with("sqlite:") {
        Ok("sqlite")
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        Ok("postgres")
    } else {
        Err(ConnectError::UnknownScheme(database_url.to_owned()))
    }
}

/// How the connection pool behaves under faults.
#[derive(Debug, Clone, Copy)]
pub struct PoolTuning {
    /// How long an operation waits for a connection (on PostgreSQL, including connecting)
    /// before it fails as `StoreError::Unavailable`: the bound on a request's wait when the
    /// database is down or saturated.
    pub acquire_timeout: Duration,
    /// PostgreSQL connections per instance (`database.max_connections`).
    pub postgres_connections: u32,
    /// SQLite read connections, beside its single writer.
    pub sqlite_readers: u32,
}

impl Default for PoolTuning {
    fn default() -> Self {
        Self { acquire_timeout: Duration::from_secs(2), postgres_connections: 16, sqlite_readers: 8 }
    }
}

/// Opens the database (creating an SQLite file if needed) and applies pending migrations.
/// The store has no master key: for work that never reads private signing keys.
pub async fn connect_and_migrate(database_url: &str) -> Result<Arc<dyn Store>, ConnectError> {
    Ok(match connect(database_url, PoolTuning::default()).await? {
        Pools::Sqlite { reads, writer } => Arc::new(SqliteStore::with_writer(reads, writer)),
        Pools::Postgres(pool) => Arc::new(PgStore::new(pool)),
    })
}

/// Opens and migrates, then makes the stored signing keys match `master_key`: with one,
/// plain keys are sealed (in one transaction) and every sealed key must open; without one,
/// any sealed key fails the opening, naming its kid.
pub async fn connect_with_master_key(
    database_url: &str,
    master_key: Option<MasterKey>,
    tuning: PoolTuning,
) -> Result<Opened, ConnectError> {
    Ok(match connect(database_url, tuning).await? {
        Pools::Sqlite { reads, writer } => {
            let store = SqliteStore::with_writer(reads, writer).with_master_key(master_key);
            Opened { keys_sealed: store.protect_signing_keys().await?, store: Arc::new(store) }
        }
        Pools::Postgres(pool) => {
            let store = PgStore::new(pool).with_master_key(master_key);
            Opened { keys_sealed: store.protect_signing_keys().await?, store: Arc::new(store) }
        }
    })
}

enum Pools {
    Sqlite { reads: Arc<sqlite::SqliteReaders>, writer: sqlite::SqliteWriter },
    Postgres(sqlx::PgPool),
}

/// A PostgreSQL connection whose transaction could not be rolled back (the ROLLBACK sqlx
/// queues for a dropped transaction failed, so it still counts one open transaction) must not
/// go back to the pool: the next `BEGIN` on it would
/// fail with "attempted to call begin_with at non-zero transaction depth", for good. Only a
/// connection that still counts a transaction is pinged, which waits for the ROLLBACK queued
/// when its transaction was dropped; every other release costs no round trip.
fn discard_if_in_transaction<DB: sqlx::Database>(
    conn: &mut DB::Connection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    use sqlx::Connection;
    Box::pin(async move {
        if !conn.is_in_transaction() {
            return Ok(true);
        }
        conn.ping().await?;
        if conn.is_in_transaction() {
            tracing::warn!("discarding a database connection left inside a failed transaction");
            return Ok(false);
        }
        Ok(true)
    })
}

/// How long a PostgreSQL connection may sit idle before it is pinged on its way out of the
/// pool. sqlx pings every connection it hands out by default: a round trip on each acquire,
/// which under load (connections idle for microseconds) buys nothing; a connection that waited
/// longer may have been cut by a restart or a proxy, so that one is still checked.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

fn ping_if_idle<DB: sqlx::Database>(
    conn: &mut DB::Connection,
    meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    use sqlx::Connection;
    Box::pin(async move {
        if meta.idle_for >= PING_IF_IDLE_FOR {
            conn.ping().await?;
        }
        Ok(true)
    })
}

async fn connect(database_url: &str, tuning: PoolTuning) -> Result<Pools, ConnectError> {
    match backend_of(database_url)? {
        "sqlite" => {
            let options = SqliteConnectOptions::from_str(database_url)
                .map_err(ConnectError::Open)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            // sqlx creates the file, turns on WAL and migrates, on a connection closed after it;
            // the store then runs on its own connections, inline (see `sqlite`).
            let file = options.get_filename();
            if file.as_os_str().is_empty() || database_url.contains(":memory:") || database_url.contains("mode=memory")
            {
                return Err(ConnectError::InMemory);
            }
            let migrator = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .map_err(ConnectError::Open)?;
            let mut conn = migrator.acquire().await.map_err(ConnectError::Open)?;
            migrate_sqlite(&mut conn).await?;
            drop(conn);
            migrator.close().await;
            let writer = sqlite::SqliteWriter::open(file, tuning.acquire_timeout).map_err(ConnectError::OpenSqlite)?;
            let reads = sqlite::SqliteReaders::open(file, tuning.sqlite_readers, tuning.acquire_timeout)
                .map_err(ConnectError::OpenSqlite)?;
            Ok(Pools::Sqlite { reads: Arc::new(reads), writer })
        }
        _ => {
            let pool = PgPoolOptions::new()
                .max_connections(tuning.postgres_connections)
                .acquire_timeout(tuning.acquire_timeout)
                .test_before_acquire(false)
                .before_acquire(ping_if_idle::<sqlx::Postgres>)
                .after_release(discard_if_in_transaction::<sqlx::Postgres>)
                .connect_lazy(database_url)
                .map_err(ConnectError::Open)?;
            first_connection(&pool).await?;
            POSTGRES_MIGRATIONS.run(&pool).await.map_err(ConnectError::Migrate)?;
            Ok(Pools::Postgres(pool))
        }
    }
}

/// How long opening waits for PostgreSQL to accept a first connection: longer than a request
/// waits, since a database starting beside the server, or a host busy enough that connecting
/// takes seconds, is no reason to give up at start.
const POSTGRES_STARTUP_WAIT: Duration = Duration::from_secs(15);

/// Connects once, retrying while PostgreSQL is unreachable or slow to answer; a refusal
/// (authentication, a database that does not exist) fails at once.
async fn first_connection(pool: &sqlx::PgPool) -> Result<(), ConnectError> {
    let deadline = std::time::Instant::now() + POSTGRES_STARTUP_WAIT;
    let mut warned = false;
    loop {
        match pool.acquire().await {
            Ok(_) => return Ok(()),
            Err(e @ (sqlx::Error::PoolTimedOut | sqlx::Error::Io(_))) if std::time::Instant::now() < deadline => {
                if !warned {
                    tracing::warn!(error = %e, "waiting for PostgreSQL to accept connections");
                    warned = true;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(ConnectError::Open(e)),
        }
    }
}

/// Applies SQLite's pending migrations with foreign keys off, as SQLite requires for a table
/// rebuild (dropping a parent table would otherwise cascade into its children), then checks
/// every foreign key and turns them back on. The pragma is a no-op inside a transaction, so it
/// is set around the migrator, on the connection it uses.
async fn migrate_sqlite(conn: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>) -> Result<(), ConnectError> {
    use sqlx::Executor;
    conn.execute("PRAGMA foreign_keys = OFF").await.map_err(ConnectError::Open)?;
    let migrated = SQLITE_MIGRATIONS.run(&mut **conn).await.map_err(ConnectError::Migrate);
    let restored = conn.execute("PRAGMA foreign_keys = ON").await.map_err(ConnectError::Open);
    migrated?;
    restored?;
    let broken: Vec<(String,)> = sqlx::query_as("SELECT \"table\" FROM pragma_foreign_key_check")
        .fetch_all(&mut **conn)
        .await
        .map_err(ConnectError::Open)?;
    if let Some((table,)) = broken.first() {
        return Err(ConnectError::ForeignKeys(table.clone()));
    }
    Ok(())
}

#[cfg(feature = "test-support")]
pub mod test_support;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

    use std::str::FromStr;

    use sqlx::Executor;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    #[tokio::test]
    async fn an_in_memory_sqlite_is_refused_with_a_reason() {
        for url in ["sqlite::memory:", "sqlite://:memory:", "sqlite://file.db?mode=memory"] {
            let refused = super::connect_and_migrate(url).await.err();
            assert!(matches!(refused, Some(super::ConnectError::InMemory)), "{url}: {refused:?}");
        }
    }

    /// Migration 0012 rebuilds `users` (SQLite cannot drop NOT NULL): the rows that hang off a
    /// user survive it, the sequence does not go back, and foreign keys are enforced again.
    #[tokio::test]
    async fn rebuilding_users_keeps_what_hangs_off_them() {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").unwrap().foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        let before = sqlx::migrate::Migrator::with_migrations(
            super::SQLITE_MIGRATIONS.iter().filter(|m| m.version < 12).cloned().collect(),
        );
        before.run(&pool).await.unwrap();
        for sql in [
            "INSERT INTO projects (id, slug, name, settings, created_at, updated_at) VALUES ('prj_1', 'p', 'P', '{}', 1, 1)",
            "INSERT INTO users (id, project_id, email, created_at, updated_at) VALUES ('usr_1', 'prj_1', 'a@example.com', 1, 1)",
            "INSERT INTO users (id, project_id, email, created_at, updated_at) VALUES ('usr_2', 'prj_1', 'b@example.com', 1, 1)",
            "DELETE FROM users WHERE id = 'usr_2'",
            "INSERT INTO password_credentials (user_id, phc, created_at, updated_at) VALUES ('usr_1', 'phc', 1, 1)",
            "INSERT INTO sessions (id, project_id, user_id, amr, created_at, expires_at) VALUES ('ses_1', 'prj_1', 'usr_1', 'pwd', 1, 9)",
        ] {
            pool.execute(sql).await.unwrap();
        }

        let mut conn = pool.acquire().await.unwrap();
        super::migrate_sqlite(&mut conn).await.unwrap();
        drop(conn);

        let count = |table: &str| format!("SELECT COUNT(*) FROM {table}");
        for table in ["users", "password_credentials", "sessions"] {
            let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(count(table))).fetch_one(&pool).await.unwrap();
            assert_eq!(n, 1, "{table}");
        }
        pool.execute("INSERT INTO users (id, project_id, created_at, updated_at) VALUES ('usr_3', 'prj_1', 2, 2)")
            .await
            .unwrap();
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM users WHERE id = 'usr_3'").fetch_one(&pool).await.unwrap();
        assert_eq!(seq, 3, "a deleted user's seq is not handed out again");
        let orphan = pool
            .execute("INSERT INTO sessions (id, project_id, user_id, amr, created_at, expires_at) VALUES ('ses_2', 'prj_1', 'usr_9', 'pwd', 1, 9)")
            .await;
        assert!(orphan.is_err(), "foreign keys are on again");
        pool.execute("DELETE FROM users WHERE id = 'usr_1'").await.unwrap();
        let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions").fetch_one(&pool).await.unwrap();
        assert_eq!(sessions, 0, "children still cascade from the rebuilt table");
    }
}
