//! The store port on SQLite and PostgreSQL: one implementation per aggregate (one file each,
//! mirroring `doorway_core::store`), each expanded once per engine by [`for_both_engines!`].
//!
//! The SQL is the same text on SQLite and PostgreSQL (`$n` placeholders, Unix-ms times, TEXT
//! json); the expansion only swaps the driver types and the few engine-specific bits passed to
//! it here: how a transaction begins, the delivery claim, the row-lock suffix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use doorway_core::store::{Outage, Store, StoreError, StoreResult, StoreTx};

use crate::ConnectError;
use crate::errors::store_error;
use crate::key_sealing::{self, MasterKey};
use crate::sqlite_reads::{FromSqlite, SqliteReaders};
use deferred::Value;

/// Runs a statement with its binds, in order; returns the driver's result (`rows_affected`).
macro_rules! exec {
    ($conn:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        sqlx::query($sql)$(.bind($bind))*.execute($conn).await.map_err($crate::errors::store_error)
    };
}

/// Reads at most one `$row` with these binds (in a transaction).
macro_rules! fetch_optional {
    ($row:ty, $conn:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        sqlx::query_as::<_, $row>($sql)$(.bind($bind))*.fetch_optional($conn).await.map_err($crate::errors::store_error)
    };
}

/// Reads every `$row` with these binds (in a transaction).
macro_rules! fetch_all {
    ($row:ty, $conn:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        sqlx::query_as::<_, $row>($sql)$(.bind($bind))*.fetch_all($conn).await.map_err($crate::errors::store_error)
    };
}

/// Reads at most one `$row` outside a transaction, on the store's read connections.
macro_rules! read_optional {
    ($store:expr, $row:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        $store.read_optional::<$row>($sql, vec![$($crate::sql::deferred::Value::from($bind)),*]).await
    };
}

/// Reads every `$row` outside a transaction, on the store's read connections.
macro_rules! read_all {
    ($store:expr, $row:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        $store.read_all::<$row>($sql, vec![$($crate::sql::deferred::Value::from($bind)),*]).await
    };
}

/// Expands an aggregate's implementation macro for each engine, with its arguments:
/// `(store, tx, driver, backend name, begin statement, delivery claim SQL, row-lock suffix)`.
///
/// SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so concurrent writers wait
/// (busy_timeout) instead of failing when a read lock cannot be upgraded; a row lock only
/// means something on PostgreSQL, as SQLite transactions already hold the write lock.
macro_rules! for_both_engines {
    ($aggregate:ident) => {
        $aggregate!(SqliteStore, SqliteTx, sqlx::Sqlite, "sqlite", "BEGIN IMMEDIATE", $crate::sql::CLAIM_SQLITE, "");
        $aggregate!(PgStore, PgTx, sqlx::Postgres, "postgres", "BEGIN", $crate::sql::CLAIM_POSTGRES, " FOR UPDATE");
    };
}

mod accounts;
mod audit;
mod bot_checks;
pub(crate) mod deferred;
mod oauth;
mod outbox;
mod passkeys;
mod projects;
mod rate_limits;
mod sessions;
mod verification;

/// Claiming due deliveries, except those to the targets in `$5` (a JSON array of strings).
/// On PostgreSQL several instances claim at once, so rows another worker is claiming are
/// skipped; SQLite has a single writer and no `SKIP LOCKED`.
macro_rules! claim_sql {
    ($skipped:literal, $lock:literal) => {
        concat!(
            "UPDATE deliveries SET claimed_until = $1, attempts = attempts + 1
             WHERE id IN (SELECT id FROM deliveries
                 WHERE status = 'pending' AND kind = $2 AND next_attempt_at <= $3
                   AND (claimed_until IS NULL OR claimed_until < $3)
                   AND target NOT IN (",
            $skipped,
            ")
                 ORDER BY next_attempt_at, id LIMIT $4 ",
            $lock,
            ") RETURNING *"
        )
    };
}

const CLAIM_SQLITE: &str = claim_sql!("SELECT value FROM json_each($5)", "");
const CLAIM_POSTGRES: &str = claim_sql!("SELECT json_array_elements_text($5::json)", "FOR UPDATE SKIP LOCKED");

/// The store and transaction types of one engine, and what is not an aggregate's: opening,
/// pinging, beginning and committing, and sealing signing keys at start-up.
macro_rules! engine {
    ($store:ident, $tx:ident, $db:ty, $reads:ty, $backend:literal, $begin:literal) => {
        #[derive(Clone)]
        pub struct $store {
            /// Reads outside a transaction.
            reads: $reads,
            /// Transactions and every other write. On SQLite a pool of one connection: writers
            /// queue for it in order (bounded by the acquire timeout) instead of contending for
            /// the file's write lock, whose busy handler sleeps and gives the near-second tail.
            writer: sqlx::Pool<$db>,
            /// Seals private signing keys at rest when set.
            master: Option<Arc<MasterKey>>,
            /// Transactions revoking sessions committed by this process.
            revocations: Arc<AtomicU64>,
        }

        impl $store {
            /// Reads on `reads`, transactions and writes on `writer`.
            pub fn with_writer(reads: $reads, writer: sqlx::Pool<$db>) -> Self {
                Self { reads, writer, master: None, revocations: Arc::default() }
            }

            pub fn with_master_key(self, master: Option<MasterKey>) -> Self {
                Self { master: master.map(Arc::new), ..self }
            }

            /// Brings every stored signing key to the form the master key asks for, in one
            /// transaction: with a master key, plain secrets are sealed (returns how many) and
            /// sealed ones must open; without one, any sealed secret is an error.
            pub async fn protect_signing_keys(&self) -> Result<usize, ConnectError> {
                let mut tx = self.writer.begin_with($begin).await.map_err(ConnectError::Open)?;
                let rows: Vec<(String, Vec<u8>, String)> =
                    sqlx::query_as("SELECT kid, secret, secret_format FROM signing_keys ORDER BY kid")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(ConnectError::Open)?;
                let master = self.master.as_deref();
                let mut sealed = 0;
                for (kid, stored, format) in rows {
                    let secret = key_sealing::from_stored(master, &kid, &stored, &format)?;
                    if format == key_sealing::PLAIN && let Some(master) = master {
                        let (stored, format) = key_sealing::to_stored(Some(master), &kid, &secret);
                        // Another instance starting at the same time may have sealed it already.
                        let done = sqlx::query(
                            "UPDATE signing_keys SET secret = $2, secret_format = $3 WHERE kid = $1 AND secret_format = $4",
                        )
                        .bind(&kid)
                        .bind(stored)
                        .bind(format)
                        .bind(key_sealing::PLAIN)
                        .execute(&mut *tx)
                        .await
                        .map_err(ConnectError::Open)?;
                        sealed += done.rows_affected() as usize;
                    }
                }
                tx.commit().await.map_err(ConnectError::Open)?;
                Ok(sealed)
            }
        }

        pub struct $tx {
            tx: sqlx::Transaction<'static, $db>,
            master: Option<Arc<MasterKey>>,
            revocations: Arc<AtomicU64>,
            /// Whether this transaction revokes sessions (counted once it commits).
            revokes: bool,
            /// Inserts not sent yet (see `deferred`).
            #[allow(dead_code, reason = "PostgreSQL sends each insert at once and never batches")]
            batch: deferred::Batch,
        }

        impl $tx {
            /// The transaction's connection, once every deferred insert has been sent.
            async fn flushed(&mut self) -> StoreResult<&mut <$db as sqlx::Database>::Connection> {
                self.flush().await?;
                Ok(&mut *self.tx)
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> StoreResult<()> {
                let _: Option<(i32,)> = read_optional!(self, (i32,), "SELECT 1")?;
                self.check_headroom()
            }

            async fn begin(&self) -> StoreResult<Box<dyn StoreTx>> {
                let tx = self.writer.begin_with($begin).await.map_err(store_error)?;
                Ok(Box::new($tx {
                    tx,
                    master: self.master.clone(),
                    revocations: self.revocations.clone(),
                    revokes: false,
                    batch: deferred::Batch::default(),
                }))
            }

            fn session_revocations(&self) -> u64 {
                self.revocations.load(Ordering::Acquire)
            }
        }

        #[async_trait]
        impl StoreTx for $tx {
            async fn commit(mut self: Box<Self>) -> StoreResult<()> {
                self.flush().await?;
                self.tx.commit().await.map_err(store_error)?;
                // After the commit: a check that read the session before it must not be reused.
                if self.revokes {
                    self.revocations.fetch_add(1, Ordering::AcqRel);
                }
                Ok(())
            }
        }
    };
}

engine!(SqliteStore, SqliteTx, sqlx::Sqlite, Arc<SqliteReaders>, "sqlite", "BEGIN IMMEDIATE");
engine!(PgStore, PgTx, sqlx::Postgres, sqlx::PgPool, "postgres", "BEGIN");

impl SqliteStore {
    async fn read_optional<R: FromSqlite>(&self, sql: &str, values: Vec<Value>) -> StoreResult<Option<R>> {
        self.reads.optional(sql, &values).await
    }

    async fn read_all<R: FromSqlite>(&self, sql: &str, values: Vec<Value>) -> StoreResult<Vec<R>> {
        self.reads.all(sql, &values).await
    }
}

impl PgStore {
    /// One pool for reads and writes alike.
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self::with_writer(pool.clone(), pool)
    }

    async fn read_optional<R>(&self, sql: &'static str, values: Vec<Value>) -> StoreResult<Option<R>>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        deferred::bind_values!(sqlx::query_as::<_, R>(sql), values)
            .fetch_optional(&self.reads)
            .await
            .map_err(store_error)
    }

    async fn read_all<R>(&self, sql: &'static str, values: Vec<Value>) -> StoreResult<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
    {
        deferred::bind_values!(sqlx::query_as::<_, R>(sql), values).fetch_all(&self.reads).await.map_err(store_error)
    }
}

impl SqliteTx {
    async fn defer(&mut self, sql: &'static str, values: Vec<deferred::Value>) -> StoreResult<()> {
        self.batch.push(sql, values);
        if self.batch.len() >= deferred::Batch::MAX_VALUES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> StoreResult<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let (sql, values) = self.batch.take();
        deferred::bind_values!(sqlx::query(sqlx::AssertSqlSafe(sql)), values)
            .execute(&mut *self.tx)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

impl PgTx {
    async fn defer(&mut self, sql: &'static str, values: Vec<deferred::Value>) -> StoreResult<()> {
        deferred::bind_values!(sqlx::query(sql), values).execute(&mut *self.tx).await.map_err(store_error)?;
        Ok(())
    }

    async fn flush(&mut self) -> StoreResult<()> {
        Ok(())
    }
}

/// Below this much free space on the database's filesystem, SQLite is reported full: a
/// sign-up appends a few pages to the WAL, and a checkpoint needs room too.
const SQLITE_MIN_FREE_BYTES: u64 = 1024 * 1024;

impl SqliteStore {
    /// The database file's filesystem has room to write (an in-memory database always has).
    fn check_headroom(&self) -> StoreResult<()> {
        let file = self.reads.path();
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        if file.as_os_str() == ":memory:" || !file.exists() {
            return Ok(());
        }
        let stats = rustix::fs::statvfs(dir)
            .map_err(|e| StoreError::unavailable(Outage::Unreachable, std::io::Error::from(e)))?;
        let free = stats.f_bavail.saturating_mul(stats.f_frsize);
        if free < SQLITE_MIN_FREE_BYTES {
            #[derive(Debug, thiserror::Error)]
            #[error("{free} bytes free on the database's filesystem ({dir})")]
            struct LowSpace {
                free: u64,
                dir: String,
            }
            return Err(StoreError::unavailable(Outage::Full, LowSpace { free, dir: dir.display().to_string() }));
        }
        Ok(())
    }
}

impl PgStore {
    /// PostgreSQL reports a full disk itself (SQLSTATE 53100), when a write fails.
    fn check_headroom(&self) -> StoreResult<()> {
        Ok(())
    }
}
