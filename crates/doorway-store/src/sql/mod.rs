//! The store port on SQLite and PostgreSQL: one implementation per aggregate (one file each,
//! mirroring `doorway_core::store`), each expanded once per engine by [`for_both_engines!`].
//!
//! The SQL is the same text on SQLite and PostgreSQL (`$n` placeholders, Unix-ms times, TEXT
//! json); binds are gathered as [`Value`]s and each engine runs them with its own driver (sqlx
//! on PostgreSQL, rusqlite inline on SQLite, see `crate::sqlite`). The expansion only swaps the
//! types and the few engine-specific bits passed to it here: the delivery claim, the row-lock
//! suffix.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use doorway_core::store::{Outage, Store, StoreError, StoreResult, StoreTx};

use crate::ConnectError;
use crate::errors::store_error;
use crate::key_sealing::{self, MasterKey};
use crate::postgres::PgTxConn;
use crate::sqlite::{self, FromSqlite, SqliteReaders, SqliteTxConn, SqliteWriter};
use values::Value;

/// Runs a statement on `$on` (a transaction, or a store's writer outside one) with its binds;
/// returns how many rows it changed.
macro_rules! exec {
    ($on:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        $on.exec($sql, vec![$($crate::sql::values::Value::from($bind)),*]).await
    };
}

/// A write on the transaction `$on` whose outcome the flow does not wait for (an insert, or an
/// update whose row count nobody reads): on PostgreSQL it is sent with the next statement (see
/// `crate::postgres`), so a clash is reported there as unexpected. Never for a write whose
/// conflict a flow answers.
macro_rules! defer {
    ($on:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        $on.defer($sql, vec![$($crate::sql::values::Value::from($bind)),*]).await
    };
}

/// Independent writes on the store `$on` (none reads what another writes), atomically, outside
/// any transaction: one statement, so one round trip, on PostgreSQL; a transaction on SQLite.
/// Each write is `(sql, binds…)`.
macro_rules! exec_together {
    ($on:expr, $(($sql:expr $(, $bind:expr)* $(,)?)),+ $(,)?) => {
        $on.exec_together(vec![$(($sql, vec![$($crate::sql::values::Value::from($bind)),*])),+]).await
    };
}

/// At most one `$row` from a statement on `$on` (a transaction, or a store's writer).
macro_rules! fetch_optional {
    ($row:ty, $on:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        $on.optional::<$row>($sql, vec![$($crate::sql::values::Value::from($bind)),*]).await
    };
}

/// Exactly one `$row` (a write's `RETURNING`) from a statement on `$on`.
macro_rules! fetch_one {
    ($row:ty, $on:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        fetch_optional!($row, $on, $sql $(, $bind)*)
            .and_then(|row| row.ok_or_else(|| $crate::errors::corrupt("a statement returned no row")))
    };
}

/// Every `$row` from a statement on `$on` (a transaction, or a store's writer).
macro_rules! fetch_all {
    ($row:ty, $on:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        $on.all::<$row>($sql, vec![$($crate::sql::values::Value::from($bind)),*]).await
    };
}

/// Reads at most one `$row` outside a transaction, on the store's read connections.
macro_rules! read_optional {
    ($store:expr, $row:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        $store.read_optional::<$row>($sql, vec![$($crate::sql::values::Value::from($bind)),*]).await
    };
}

/// Reads every `$row` outside a transaction, on the store's read connections.
macro_rules! read_all {
    ($store:expr, $row:ty, $sql:expr $(, $bind:expr)* $(,)?) => {
        $store.read_all::<$row>($sql, vec![$($crate::sql::values::Value::from($bind)),*]).await
    };
}

/// Expands an aggregate's implementation macro for each engine, with its arguments:
/// `(store, tx, backend name, delivery claim SQL, row-lock suffix)`. A row lock only means
/// something on PostgreSQL: SQLite transactions hold the write lock from their `BEGIN
/// IMMEDIATE`.
macro_rules! for_both_engines {
    ($aggregate:ident) => {
        $aggregate!(SqliteStore, SqliteTx, "sqlite", $crate::sql::CLAIM_SQLITE, "");
        $aggregate!(PgStore, PgTx, "postgres", $crate::sql::CLAIM_POSTGRES, " FOR UPDATE");
    };
}

mod accounts;
mod audit;
mod bot_checks;
mod oauth;
mod outbox;
mod passkeys;
mod projects;
mod rate_limits;
mod sessions;
pub(crate) mod values;
mod verification;

/// Claiming due deliveries, except those to the targets in `$5` (a JSON array of strings).
/// A claimed row is next due when its lease ends, so rows in flight leave the due range of the
/// index (the claim does not read them again). On PostgreSQL several instances claim at once,
/// so rows another worker is claiming are skipped; SQLite has a single writer and no `SKIP LOCKED`.
macro_rules! claim_sql {
    ($skipped:literal, $lock:literal) => {
        concat!(
            "UPDATE deliveries SET claimed_until = $1, next_attempt_at = $1, attempts = attempts + 1
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

/// The store and transaction types of one engine, and what is not an aggregate's: beginning
/// and committing, pinging, and sealing signing keys at start-up.
macro_rules! engine {
    ($store:ident, $tx:ident, $reads:ty, $writer:ty, $conn:ty, $backend:literal) => {
        #[derive(Clone)]
        pub struct $store {
            /// Reads outside a transaction.
            reads: $reads,
            /// Transactions and every other write.
            writer: $writer,
            /// Seals private signing keys at rest when set.
            master: Option<Arc<MasterKey>>,
            /// Transactions revoking sessions committed by this process.
            revocations: Arc<AtomicU64>,
        }

        impl $store {
            /// Reads on `reads`, transactions and writes on `writer`.
            pub fn with_writer(reads: $reads, writer: $writer) -> Self {
                Self { reads, writer, master: None, revocations: Arc::default() }
            }

            pub fn with_master_key(self, master: Option<MasterKey>) -> Self {
                Self { master: master.map(Arc::new), ..self }
            }

            /// Brings every stored signing key to the form the master key asks for, in one
            /// transaction: with a master key, plain secrets are sealed (returns how many) and
            /// sealed ones must open; without one, any sealed secret is an error.
            pub async fn protect_signing_keys(&self) -> Result<usize, ConnectError> {
                let mut tx = self.begin_tx().await?;
                let rows = fetch_all!(
                    (String, Vec<u8>, String),
                    tx,
                    "SELECT kid, secret, secret_format FROM signing_keys ORDER BY kid"
                )?;
                let master = self.master.as_deref();
                let mut sealed = 0;
                for (kid, stored, format) in rows {
                    let secret = key_sealing::from_stored(master, &kid, &stored, &format)?;
                    if format == key_sealing::PLAIN && let Some(master) = master {
                        let (stored, format) = key_sealing::to_stored(Some(master), &kid, &secret);
                        // Another instance starting at the same time may have sealed it already.
                        sealed += exec!(
                            tx,
                            "UPDATE signing_keys SET secret = $2, secret_format = $3 WHERE kid = $1 AND secret_format = $4",
                            &kid,
                            stored,
                            format,
                            key_sealing::PLAIN,
                        )? as usize;
                    }
                }
                tx.finish().await?;
                Ok(sealed)
            }
        }

        pub struct $tx {
            conn: $conn,
            master: Option<Arc<MasterKey>>,
            revocations: Arc<AtomicU64>,
            /// Whether this transaction revokes sessions (counted once it commits).
            revokes: bool,
        }

        impl $tx {
            fn new(store: &$store, conn: $conn) -> Self {
                Self { conn, master: store.master.clone(), revocations: store.revocations.clone(), revokes: false }
            }

            async fn finish(self) -> StoreResult<()> {
                let (revokes, revocations) = (self.revokes, self.revocations);
                Self::commit_conn(self.conn).await?;
                // After the commit: a check that read the session before it must not be reused.
                if revokes {
                    revocations.fetch_add(1, Ordering::AcqRel);
                }
                Ok(())
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
                Ok(Box::new(self.begin_tx().await?))
            }

            fn session_revocations(&self) -> u64 {
                self.revocations.load(Ordering::Acquire)
            }
        }

        #[async_trait]
        impl StoreTx for $tx {
            async fn commit(self: Box<Self>) -> StoreResult<()> {
                (*self).finish().await
            }
        }
    };
}

engine!(SqliteStore, SqliteTx, Arc<SqliteReaders>, SqliteWriter, SqliteTxConn, "sqlite");
engine!(PgStore, PgTx, sqlx::PgPool, sqlx::PgPool, PgTxConn, "postgres");

// Every statement runs inline (see `crate::sqlite`): these are `async` only to share the
// aggregates' code with PostgreSQL.
impl SqliteStore {
    async fn begin_tx(&self) -> StoreResult<SqliteTx> {
        Ok(SqliteTx::new(self, SqliteTxConn::begin(&self.writer).await?))
    }

    async fn read_optional<R: FromSqlite>(&self, sql: &str, values: Vec<Value>) -> StoreResult<Option<R>> {
        self.reads.optional(sql, &values).await
    }

    async fn read_all<R: FromSqlite>(&self, sql: &str, values: Vec<Value>) -> StoreResult<Vec<R>> {
        self.reads.all(sql, &values).await
    }

    /// A write on its own (no transaction), on the writer.
    async fn exec(&self, sql: &str, values: Vec<Value>) -> StoreResult<u64> {
        sqlite::exec(&*self.writer.hold().await?, sql, &values)
    }

    async fn optional<R: FromSqlite>(&self, sql: &str, values: Vec<Value>) -> StoreResult<Option<R>> {
        sqlite::optional(&*self.writer.hold().await?, sql, &values)
    }

    /// In a transaction of its own, which joins the open group (a write on the held writer
    /// would commit the group first).
    async fn all<R: FromSqlite>(&self, sql: &str, values: Vec<Value>) -> StoreResult<Vec<R>> {
        let mut tx = self.begin_tx().await?;
        let rows = tx.all(sql, values).await?;
        tx.finish().await?;
        Ok(rows)
    }

    async fn exec_together(&self, writes: Vec<(&'static str, Vec<Value>)>) -> StoreResult<()> {
        let mut tx = self.begin_tx().await?;
        for (sql, values) in writes {
            tx.exec(sql, values).await?;
        }
        tx.finish().await
    }
}

impl SqliteTx {
    async fn exec(&mut self, sql: &str, values: Vec<Value>) -> StoreResult<u64> {
        sqlite::exec(self.conn.conn()?, sql, &values)
    }

    /// Inline like every SQLite statement (nothing to save by waiting), its errors reported as
    /// PostgreSQL reports them.
    async fn defer(&mut self, sql: &str, values: Vec<Value>) -> StoreResult<()> {
        sqlite::exec(self.conn.conn()?, sql, &values).map(drop).map_err(crate::errors::deferred_error)
    }

    async fn optional<R: FromSqlite>(&mut self, sql: &str, values: Vec<Value>) -> StoreResult<Option<R>> {
        sqlite::optional(self.conn.conn()?, sql, &values)
    }

    async fn all<R: FromSqlite>(&mut self, sql: &str, values: Vec<Value>) -> StoreResult<Vec<R>> {
        sqlite::all(self.conn.conn()?, sql, &values)
    }

    async fn commit_conn(conn: SqliteTxConn) -> StoreResult<()> {
        conn.commit().await
    }
}

/// A row type sqlx reads from PostgreSQL.
trait PgRow: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin {}
impl<R: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin> PgRow for R {}

impl PgStore {
    /// One pool for reads and writes alike.
    pub fn new(pool: sqlx::PgPool) -> Self {
        Self::with_writer(pool.clone(), pool)
    }

    async fn begin_tx(&self) -> StoreResult<PgTx> {
        Ok(PgTx::new(self, PgTxConn::new(self.writer.begin().await.map_err(store_error)?)))
    }

    async fn read_optional<R: PgRow>(&self, sql: &'static str, values: Vec<Value>) -> StoreResult<Option<R>> {
        values::bind_values!(sqlx::query_as::<_, R>(sql), values).fetch_optional(&self.reads).await.map_err(store_error)
    }

    async fn read_all<R: PgRow>(&self, sql: &'static str, values: Vec<Value>) -> StoreResult<Vec<R>> {
        values::bind_values!(sqlx::query_as::<_, R>(sql), values).fetch_all(&self.reads).await.map_err(store_error)
    }

    /// A write on its own (no transaction).
    async fn exec(&self, sql: &'static str, values: Vec<Value>) -> StoreResult<u64> {
        let done = values::bind_values!(sqlx::query(sql), values).execute(&self.writer).await.map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn optional<R: PgRow>(&self, sql: &'static str, values: Vec<Value>) -> StoreResult<Option<R>> {
        values::bind_values!(sqlx::query_as::<_, R>(sql), values)
            .fetch_optional(&self.writer)
            .await
            .map_err(store_error)
    }

    async fn all<R: PgRow>(&self, sql: &'static str, values: Vec<Value>) -> StoreResult<Vec<R>> {
        values::bind_values!(sqlx::query_as::<_, R>(sql), values).fetch_all(&self.writer).await.map_err(store_error)
    }

    /// One statement is atomic on its own: no `BEGIN`/`COMMIT` round trips.
    async fn exec_together(&self, writes: Vec<(&'static str, Vec<Value>)>) -> StoreResult<()> {
        let (sql, values) = crate::postgres::combined(writes);
        // Only the store's own constant statements, joined: no input in the text.
        values::bind_values!(sqlx::query(sqlx::AssertSqlSafe(sql)), values)
            .execute(&self.writer)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

impl PgTx {
    async fn exec(&mut self, sql: &'static str, values: Vec<Value>) -> StoreResult<u64> {
        let conn = self.conn.conn().await?;
        let done = values::bind_values!(sqlx::query(sql), values).execute(&mut **conn).await.map_err(store_error)?;
        Ok(done.rows_affected())
    }

    async fn defer(&mut self, sql: &'static str, values: Vec<Value>) -> StoreResult<()> {
        self.conn.defer(sql, values).await
    }

    async fn optional<R: PgRow>(&mut self, sql: &'static str, values: Vec<Value>) -> StoreResult<Option<R>> {
        let conn = self.conn.conn().await?;
        values::bind_values!(sqlx::query_as::<_, R>(sql), values).fetch_optional(&mut **conn).await.map_err(store_error)
    }

    async fn all<R: PgRow>(&mut self, sql: &'static str, values: Vec<Value>) -> StoreResult<Vec<R>> {
        let conn = self.conn.conn().await?;
        values::bind_values!(sqlx::query_as::<_, R>(sql), values).fetch_all(&mut **conn).await.map_err(store_error)
    }

    async fn commit_conn(conn: PgTxConn) -> StoreResult<()> {
        conn.commit().await
    }
}

/// Below this much free space on the database's filesystem, SQLite is reported full: a
/// sign-up appends a few pages to the WAL, and a checkpoint needs room too.
const SQLITE_MIN_FREE_BYTES: u64 = 1024 * 1024;

impl SqliteStore {
    /// The database file's filesystem has room to write.
    fn check_headroom(&self) -> StoreResult<()> {
        let file = self.reads.path();
        let dir = match file.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => std::path::Path::new("."),
        };
        if !file.exists() {
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
