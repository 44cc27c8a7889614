//! SQLite, run on the calling task's own thread.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement is a hop there and
//! back (two thread wake-ups, about 55 µs on a small VM) and every connection handed back to
//! its pool one more (sqlx pings it). A statement costs SQLite a few microseconds, so the hops
//! were most of a session check's CPU and bounded every write flow: one writer's transactions
//! ran hop after hop. Here statements run where they are called, on rusqlite connections (the
//! same bundled SQLite as sqlx's, which still runs the migrations): reads on a few connections
//! lent one per read (WAL readers never wait for the writer), transactions and other writes on
//! the one writer connection, which writers queue for in order (bounded by `wait`) instead of
//! contending for the file's write lock, whose busy handler sleeps and gives a near-second tail.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use doorway_core::store::{Outage, StoreError, StoreResult};
use rusqlite::types::FromSql;
use rusqlite::{Connection, OpenFlags};

use crate::errors::sqlite_error;
use crate::sql::values::Value;

/// Statements kept prepared per connection: more than the store has.
const PREPARED_STATEMENTS: usize = 256;

/// WAL pages after which a commit checkpoints on the writer itself (SQLite's default is 1,000).
/// The checkpointer thread copies pages to the database file every [`CHECKPOINT_EVERY`] beside
/// the writer, so the writer's own checkpoint finds little left to copy; it stays the one that
/// lets the WAL start over, which bounds it (about 40 MB).
const WRITER_CHECKPOINT_PAGES: i64 = 10_000;
const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);
/// A WAL file longer than this is cut back when it starts over.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Opens a connection with the settings every connection of the store shares.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(PREPARED_STATEMENTS);
    Ok(conn)
}

#[derive(Debug, thiserror::Error)]
#[error("no SQLite connection was free within {0:?}")]
struct Busy(Duration);

/// Connections to one SQLite database for reads, lent one per read.
pub struct SqliteReaders {
    /// Idle connections; a permit of `slots` is a claim on one of them.
    free: Mutex<Vec<Connection>>,
    slots: tokio::sync::Semaphore,
    /// How long a read waits for a connection before the database counts as unavailable.
    wait: Duration,
    path: PathBuf,
    /// Whatever must outlive the file (a test's temporary directory).
    _owner: Option<Arc<dyn Send + Sync>>,
}

impl SqliteReaders {
    /// `count` read-only connections to the database file at `path`, which exists (migrated).
    pub(crate) fn open(path: &Path, count: u32, wait: Duration) -> rusqlite::Result<Self> {
        let reader = || -> rusqlite::Result<Connection> {
            let conn = open(path)?;
            conn.pragma_update(None, "query_only", true)?;
            Ok(conn)
        };
        let free = (0..count.max(1)).map(|_| reader()).collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self {
            slots: tokio::sync::Semaphore::new(free.len()),
            free: Mutex::new(free),
            wait,
            path: path.to_owned(),
            _owner: None,
        })
    }

    #[cfg(feature = "test-support")]
    pub(crate) fn owning(self, owner: Arc<dyn Send + Sync>) -> Self {
        Self { _owner: Some(owner), ..self }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `read` on a lent connection, once one is free (at most `wait`).
    async fn read<T>(&self, read: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let _permit = match tokio::time::timeout(self.wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(StoreError::unavailable(Outage::Unreachable, Busy(self.wait))),
        };
        let lent = Lent { readers: self, conn: self.free.lock().unwrap_or_else(|e| e.into_inner()).pop() };
        read(lent.conn.as_ref().ok_or_else(|| StoreError::unexpected(Busy(self.wait)))?)
    }

    pub(crate) async fn optional<R: FromSqlite>(&self, sql: &str, values: &[Value]) -> StoreResult<Option<R>> {
        self.read(|conn| optional(conn, sql, values)).await
    }

    pub(crate) async fn all<R: FromSqlite>(&self, sql: &str, values: &[Value]) -> StoreResult<Vec<R>> {
        self.read(|conn| all(conn, sql, values)).await
    }
}

/// A connection out of the free list, put back however the read ends.
struct Lent<'a> {
    readers: &'a SqliteReaders,
    conn: Option<Connection>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.readers.free.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        }
    }
}

/// The one connection that writes.
#[derive(Clone)]
pub struct SqliteWriter {
    conn: Arc<tokio::sync::Mutex<Connection>>,
    wait: Duration,
}

/// The writer, held by one caller (a transaction or a single write).
pub(crate) type HeldWriter = tokio::sync::OwnedMutexGuard<Connection>;

impl SqliteWriter {
    /// The writer, and a thread checkpointing beside it for as long as the writer lives.
    pub(crate) fn open(path: &Path, wait: Duration) -> rusqlite::Result<Self> {
        let conn = open(path)?;
        // Only another process (a `doorway` command run beside the server) can hold the write
        // lock: the writer waits for it as long as a request waits for the writer, on the
        // thread that runs it, then answers 503.
        conn.busy_timeout(wait)?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        let writer = Self { conn: Arc::new(tokio::sync::Mutex::new(conn)), wait };
        let checkpoints = open(path)?;
        let alive = Arc::downgrade(&writer.conn);
        // Copying WAL pages into the database file (and syncing it) is most of a commit's cost
        // when the writer does it; here it overlaps the next transactions. PASSIVE never waits
        // for the writer or a reader.
        let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
            while alive.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(e) = checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::debug!(error = %e, "background checkpoint failed; the writer checkpoints instead");
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no checkpoint thread; the writer checkpoints by itself");
        }
        Ok(writer)
    }

    /// The writer, once the writes queued before this one are done (at most `wait`).
    pub(crate) async fn hold(&self) -> StoreResult<HeldWriter> {
        let held = tokio::time::timeout(self.wait, self.conn.clone().lock_owned())
            .await
            .map_err(|_| StoreError::unavailable(Outage::Unreachable, Busy(self.wait)))?;
        // A transaction whose ROLLBACK failed (see `SqliteTxConn::drop`) is not inherited.
        if !held.is_autocommit() {
            held.execute_batch("ROLLBACK").map_err(sqlite_error)?;
        }
        Ok(held)
    }
}

/// A transaction on the writer: `BEGIN IMMEDIATE` takes the write lock up front; dropped
/// without `commit`, it rolls back at once.
pub(crate) struct SqliteTxConn {
    conn: Option<HeldWriter>,
}

impl SqliteTxConn {
    pub(crate) async fn begin(writer: &SqliteWriter) -> StoreResult<Self> {
        let conn = writer.hold().await?;
        conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_error)?;
        Ok(Self { conn: Some(conn) })
    }

    pub(crate) fn conn(&self) -> StoreResult<&Connection> {
        self.conn.as_deref().ok_or_else(|| StoreError::unexpected(Finished))
    }

    pub(crate) fn commit(mut self) -> StoreResult<()> {
        self.conn()?.execute_batch("COMMIT").map_err(sqlite_error)?;
        self.conn = None;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the transaction has already committed")]
struct Finished;

impl Drop for SqliteTxConn {
    fn drop(&mut self) {
        // SQLite may have rolled back by itself (a full disk, an I/O error): then there is no
        // transaction left, and nothing to do.
        if let Some(conn) = self.conn.take()
            && !conn.is_autocommit()
            && let Err(e) = conn.execute_batch("ROLLBACK")
        {
            tracing::warn!(error = %e, "rolling back an SQLite transaction failed; the next writer retries");
        }
    }
}

/// Prepares `sql` (cached) and binds `$n` to `values[n - 1]`, as sqlx does: a placeholder may
/// appear more than once and out of order, so SQLite's own numbering is not the values' order.
fn prepared<'c>(conn: &'c Connection, sql: &str, values: &[Value]) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    for index in 1..=stmt.parameter_count() {
        let n = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=values.len()).contains(n))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, values.len()))?;
        stmt.raw_bind_parameter(index, &values[n - 1])?;
    }
    Ok(stmt)
}

/// Runs a statement that returns no rows; returns how many rows it changed.
pub(crate) fn exec(conn: &Connection, sql: &str, values: &[Value]) -> StoreResult<u64> {
    let changed = prepared(conn, sql, values).and_then(|mut stmt| stmt.raw_execute()).map_err(sqlite_error)?;
    Ok(changed as u64)
}

/// At most one row (a statement's first).
pub(crate) fn optional<R: FromSqlite>(conn: &Connection, sql: &str, values: &[Value]) -> StoreResult<Option<R>> {
    let run = || {
        let mut stmt = prepared(conn, sql, values)?;
        let mut rows = stmt.raw_query();
        let first = rows.next()?.map(R::from_sqlite).transpose()?;
        // Step to the end, so a write with RETURNING is done with every row.
        while rows.next()?.is_some() {}
        Ok(first)
    };
    run().map_err(sqlite_error)
}

/// Every row.
pub(crate) fn all<R: FromSqlite>(conn: &Connection, sql: &str, values: &[Value]) -> StoreResult<Vec<R>> {
    let run = || {
        let mut stmt = prepared(conn, sql, values)?;
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(R::from_sqlite(row)?);
        }
        Ok(out)
    };
    run().map_err(sqlite_error)
}

/// A row type read from SQLite by column name, like its `sqlx::FromRow`.
pub(crate) trait FromSqlite: Sized {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

impl<A: FromSql> FromSqlite for (A,) {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?,))
    }
}

impl<A: FromSql, B: FromSql> FromSqlite for (A, B) {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

impl<A: FromSql, B: FromSql, C: FromSql> FromSqlite for (A, B, C) {
    fn from_sqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn scratch() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (a TEXT, b INTEGER)")
            .unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn placeholders_bind_by_number_not_by_position() {
        let (_dir, path) = scratch();
        let readers = SqliteReaders::open(&path, 2, Duration::from_secs(1)).unwrap();
        let row: Option<(String,)> = readers
            .optional("SELECT $2 || '-' || $1 || '-' || $2", &[Value::from("a"), Value::from("b")])
            .await
            .unwrap();
        assert_eq!(row.unwrap().0, "b-a-b");
        let nulls: Vec<(Option<i64>,)> =
            readers.all("SELECT $1 UNION ALL SELECT 7", &[Value::Int(None)]).await.unwrap();
        assert_eq!(nulls.iter().map(|r| r.0).collect::<Vec<_>>(), vec![None, Some(7)]);
        let missing = readers.optional::<(i64,)>("SELECT $2", &[Value::from(1_i64)]).await;
        assert!(matches!(missing, Err(StoreError::Unexpected(_))), "{missing:?}");
    }

    #[tokio::test]
    async fn reads_refuse_to_write() {
        let (_dir, path) = scratch();
        let readers = SqliteReaders::open(&path, 1, Duration::from_secs(1)).unwrap();
        let wrote = readers.read(|c| exec(c, "INSERT INTO t (b) VALUES (1)", &[])).await;
        assert!(wrote.is_err());
    }

    /// A transaction dropped without commit leaves nothing, and the writer takes the next one.
    #[tokio::test]
    async fn an_unfinished_transaction_rolls_back() {
        let (_dir, path) = scratch();
        let writer = SqliteWriter::open(&path, Duration::from_secs(1)).unwrap();
        let tx = SqliteTxConn::begin(&writer).await.unwrap();
        exec(tx.conn().unwrap(), "INSERT INTO t (a, b) VALUES ($1, $2)", &[Value::from("x"), Value::from(1_i64)])
            .unwrap();
        drop(tx);
        let tx = SqliteTxConn::begin(&writer).await.unwrap();
        let n =
            exec(tx.conn().unwrap(), "INSERT INTO t (a, b) VALUES ($2, $1)", &[Value::from(2_i64), Value::from("y")]);
        assert_eq!(n.unwrap(), 1);
        tx.commit().unwrap();
        let readers = SqliteReaders::open(&path, 1, Duration::from_secs(1)).unwrap();
        let rows: Vec<(String, i64)> = readers.all("SELECT a, b FROM t", &[]).await.unwrap();
        assert_eq!(rows, vec![("y".to_owned(), 2)]);
    }

    /// Another process holding the write lock makes the writer wait `wait`, not SQLite's
    /// usual 10 s, then the database counts as unavailable.
    #[tokio::test]
    async fn a_lock_held_elsewhere_is_waited_for_as_long_as_the_writer() {
        let (_dir, path) = scratch();
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let writer = SqliteWriter::open(&path, Duration::from_millis(100)).unwrap();
        let started = std::time::Instant::now();
        let refused = SqliteTxConn::begin(&writer).await;
        assert!(matches!(refused, Err(StoreError::Unavailable { .. })), "{:?}", refused.err());
        assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
        other.execute_batch("COMMIT").unwrap();
        assert!(SqliteTxConn::begin(&writer).await.is_ok());
    }

    /// Writers queue for the one connection; past `wait` the database counts as unavailable.
    #[tokio::test]
    async fn a_writer_waits_its_turn_then_gives_up() {
        let (_dir, path) = scratch();
        let writer = SqliteWriter::open(&path, Duration::from_millis(50)).unwrap();
        let held = SqliteTxConn::begin(&writer).await.unwrap();
        let second = SqliteTxConn::begin(&writer).await;
        assert!(matches!(second, Err(StoreError::Unavailable { .. })));
        drop(held);
        assert!(SqliteTxConn::begin(&writer).await.is_ok());
    }
}
