//! Doorway's storage: the [`doorway_core::Store`] port on SQLite and PostgreSQL.
//!
//! Both backends run the same SQL text (written once, in `sql_store`); only the migrations
//! differ per dialect, with the same numbers.

mod errors;
mod rows;
mod sql_store;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use doorway_core::Store;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use sql_store::{PgStore, SqliteStore};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("database_url must start with sqlite:// or postgres:// (got '{0}')")]
    UnknownScheme(String),
    #[error("cannot open the database: {0}")]
    Open(#[source] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
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

/// Opens the database (creating an SQLite file if needed) and applies pending migrations.
pub async fn connect_and_migrate(database_url: &str) -> Result<Arc<dyn Store>, ConnectError> {
    match backend_of(database_url)? {
        "sqlite" => {
            let options = SqliteConnectOptions::from_str(database_url)
                .map_err(ConnectError::Open)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            let pool =
                SqlitePoolOptions::new().max_connections(8).connect_with(options).await.map_err(ConnectError::Open)?;
            SQLITE_MIGRATIONS.run(&pool).await.map_err(ConnectError::Migrate)?;
            Ok(Arc::new(SqliteStore::new(pool)))
        }
        _ => {
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect(database_url)
                .await
                .map_err(ConnectError::Open)?;
            POSTGRES_MIGRATIONS.run(&pool).await.map_err(ConnectError::Migrate)?;
            Ok(Arc::new(PgStore::new(pool)))
        }
    }
}

#[cfg(feature = "test-support")]
pub mod test_support;
