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
//! Transactions that finish while others are queued share one `COMMIT` ([`SqliteTxConn`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
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

/// Flows committed together at most, when writers are queued (see [`SqliteTxConn`]).
const GROUP_COMMIT_FLOWS: usize = 32;
/// How long a flow waits for its group's commit before committing the group itself: only a
/// safety net (the writer that would have committed it gave up its place in the queue).
const GROUP_COMMIT_PATIENCE: Duration = Duration::from_millis(20);

/// The one connection that writes.
#[derive(Clone)]
pub struct SqliteWriter {
    conn: Arc<tokio::sync::Mutex<WriterConn>>,
    /// Callers waiting for the writer: while there are some, a finished flow leaves its group
    /// open for them instead of committing.
    queued: Arc<AtomicUsize>,
    wait: Duration,
}

/// The writer connection, and the group of flows its open transaction holds.
pub(crate) struct WriterConn {
    conn: Connection,
    group: Option<Arc<Group>>,
}

/// Flows sharing one `BEGIN IMMEDIATE` … `COMMIT`, each in a savepoint of its own. Each
/// learns the commit's outcome from here before it reports success.
#[derive(Default)]
struct Group {
    flows: std::sync::atomic::AtomicUsize,
    outcome: OnceLock<Result<(), GroupFailure>>,
    committed: tokio::sync::Notify,
}

/// Why a group's transaction did not commit, for each of its flows.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the transaction this write was grouped in did not commit: {message}")]
struct GroupFailure {
    outage: Option<Outage>,
    message: String,
}

impl GroupFailure {
    fn from_sqlite(e: &rusqlite::Error) -> Self {
        let outage = e.sqlite_error().and_then(|f| crate::errors::sqlite_outage(f.extended_code));
        Self { outage, message: e.to_string() }
    }

    fn store_error(&self) -> StoreError {
        match self.outage {
            Some(outage) => StoreError::unavailable(outage, self.clone()),
            None => StoreError::unexpected(self.clone()),
        }
    }
}

/// The writer, held by one caller (a transaction or a single write).
pub(crate) type HeldWriter = tokio::sync::OwnedMutexGuard<WriterConn>;

impl std::ops::Deref for WriterConn {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl WriterConn {
    /// Commits the open group, if any, and tells its flows.
    fn end_group(&mut self) {
        let Some(group) = self.group.take() else { return };
        let outcome = if self.conn.is_autocommit() {
            // SQLite rolled the transaction back by itself (a full disk, an I/O error).
            Err(GroupFailure { outage: Some(Outage::Unreachable), message: "rolled back by SQLite".into() })
        } else if group.flows.load(Ordering::Acquire) == 0 {
            self.conn.execute_batch("ROLLBACK").map_err(|e| GroupFailure::from_sqlite(&e))
        } else {
            self.conn.execute_batch("COMMIT").map_err(|e| {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                GroupFailure::from_sqlite(&e)
            })
        };
        if let Err(e) = &outcome {
            tracing::warn!(error = %e, "a grouped SQLite transaction did not commit");
        }
        let _ = group.outcome.set(outcome);
        group.committed.notify_waiters();
    }

    /// The open group, or a new one (`BEGIN IMMEDIATE`).
    fn group(&mut self) -> StoreResult<Arc<Group>> {
        if let Some(group) = &self.group
            && !self.conn.is_autocommit()
        {
            return Ok(group.clone());
        }
        self.end_group();
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK").map_err(sqlite_error)?;
        }
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(sqlite_error)?;
        Ok(self.group.insert(Arc::default()).clone())
    }
}

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
        // Each grouped flow's savepoint journals the pages it changes; on disk that was a third
        // of a sign-up's cost.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let writer = Self {
            conn: Arc::new(tokio::sync::Mutex::new(WriterConn { conn, group: None })),
            queued: Arc::default(),
            wait,
        };
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

    /// The writer connection, once the callers queued before this one are done (at most `wait`).
    async fn lock(&self) -> StoreResult<HeldWriter> {
        struct Queued<'a>(&'a AtomicUsize);
        impl Drop for Queued<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.queued.fetch_add(1, Ordering::AcqRel);
        let _queued = Queued(&self.queued);
        tokio::time::timeout(self.wait, self.conn.clone().lock_owned())
            .await
            .map_err(|_| StoreError::unavailable(Outage::Unreachable, Busy(self.wait)))
    }

    /// The writer for a write outside any transaction: an open group commits first, so the
    /// write is durable when it returns.
    pub(crate) async fn hold(&self) -> StoreResult<HeldWriter> {
        let mut held = self.lock().await?;
        held.end_group();
        if !held.conn.is_autocommit() {
            held.conn.execute_batch("ROLLBACK").map_err(sqlite_error)?;
        }
        Ok(held)
    }

    fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}

/// A flow's transaction on the writer, grouped: flows that find other writers queued share one
/// `BEGIN IMMEDIATE` … `COMMIT`, each in a savepoint of its own, and the last one (or the
/// 32nd) commits for all. A sign-up's commit writes its pages to the WAL; grouped flows share
/// pages (the tables' and indexes' last pages), so a group commits far fewer than its flows
/// would one by one. `commit` returns only once the group has committed. Dropped without
/// `commit`, the flow's changes roll back at once and the group goes on.
pub(crate) struct SqliteTxConn {
    writer: SqliteWriter,
    held: Option<HeldWriter>,
    group: Arc<Group>,
}

impl SqliteTxConn {
    pub(crate) async fn begin(writer: &SqliteWriter) -> StoreResult<Self> {
        let mut held = writer.lock().await?;
        let group = held.group()?;
        held.conn.execute_batch("SAVEPOINT flow").map_err(sqlite_error)?;
        Ok(Self { writer: writer.clone(), held: Some(held), group })
    }

    pub(crate) fn conn(&self) -> StoreResult<&Connection> {
        let held = self.held.as_deref().ok_or_else(|| StoreError::unexpected(Finished))?;
        // SQLite ends a transaction by itself on some errors; the statements must not go on
        // outside it.
        if held.conn.is_autocommit() {
            return Err(StoreError::unavailable(Outage::Unreachable, RolledBack));
        }
        Ok(&held.conn)
    }

    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        let mut held = self.held.take().ok_or_else(|| StoreError::unexpected(Finished))?;
        if let Err(e) = held.conn.execute_batch("RELEASE flow") {
            self.held = Some(held);
            return Err(sqlite_error(e));
        }
        self.group.flows.fetch_add(1, Ordering::AcqRel);
        if self.writer.queued() == 0 || self.group.flows.load(Ordering::Acquire) >= GROUP_COMMIT_FLOWS {
            held.end_group();
        }
        drop(held);
        committed(&self.writer.conn, &self.group).await
    }
}

/// Waits for `group`'s outcome; commits the group itself if nobody did in time.
async fn committed(writer: &Arc<tokio::sync::Mutex<WriterConn>>, group: &Group) -> StoreResult<()> {
    loop {
        let notified = group.committed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(outcome) = group.outcome.get() {
            return outcome.clone().map_err(|e| e.store_error());
        }
        if tokio::time::timeout(GROUP_COMMIT_PATIENCE, notified).await.is_err() {
            // No timeout on this wait: the flow's changes are in the group, so its answer must
            // be the group's outcome.
            let mut held = writer.clone().lock_owned().await;
            if held.group.as_ref().is_some_and(|g| std::ptr::eq(&**g, group)) {
                held.end_group();
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the transaction has already committed")]
struct Finished;

#[derive(Debug, thiserror::Error)]
#[error("SQLite rolled the transaction back")]
struct RolledBack;

impl Drop for SqliteTxConn {
    fn drop(&mut self) {
        let Some(mut held) = self.held.take() else { return };
        // SQLite may have rolled back by itself (a full disk, an I/O error): then the group is
        // gone too, and `end_group` tells its flows.
        if !held.conn.is_autocommit()
            && let Err(e) = held.conn.execute_batch("ROLLBACK TO flow; RELEASE flow")
        {
            tracing::warn!(error = %e, "rolling back an SQLite savepoint failed; rolling back its group");
            let _ = held.conn.execute_batch("ROLLBACK");
        }
        // An empty group ends here too: no flow waits on it, and it would hold the file's write
        // lock until the next writer came.
        if held.conn.is_autocommit() || self.writer.queued() == 0 || self.group.flows.load(Ordering::Acquire) == 0 {
            held.end_group();
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
        let columns = Columns::of(&stmt);
        let mut rows = stmt.raw_query();
        let first = rows.next()?.map(|row| R::from_sqlite(row, &columns)).transpose()?;
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
        let columns = Columns::of(&stmt);
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(R::from_sqlite(row, &columns)?);
        }
        Ok(out)
    };
    run().map_err(sqlite_error)
}

/// A statement's column names, read once per statement: rusqlite's lookup by name asks SQLite
/// for every column's name on every field of every row.
pub(crate) struct Columns(Vec<String>);

impl Columns {
    fn of(stmt: &rusqlite::Statement<'_>) -> Self {
        Self(stmt.column_names().into_iter().map(str::to_owned).collect())
    }

    /// The index of column `name` (as rusqlite finds it: the first, ASCII case ignored).
    pub(crate) fn index(&self, name: &str) -> rusqlite::Result<usize> {
        self.0
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| rusqlite::Error::InvalidColumnName(name.to_owned()))
    }
}

/// A row type read from SQLite by column name, like its `sqlx::FromRow`.
pub(crate) trait FromSqlite: Sized {
    fn from_sqlite(row: &rusqlite::Row<'_>, columns: &Columns) -> rusqlite::Result<Self>;
}

impl<A: FromSql> FromSqlite for (A,) {
    fn from_sqlite(row: &rusqlite::Row<'_>, _: &Columns) -> rusqlite::Result<Self> {
        Ok((row.get(0)?,))
    }
}

impl<A: FromSql, B: FromSql> FromSqlite for (A, B) {
    fn from_sqlite(row: &rusqlite::Row<'_>, _: &Columns) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

impl<A: FromSql, B: FromSql, C: FromSql> FromSqlite for (A, B, C) {
    fn from_sqlite(row: &rusqlite::Row<'_>, _: &Columns) -> rusqlite::Result<Self> {
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
        tx.commit().await.unwrap();
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

    async fn insert(writer: &SqliteWriter, a: &str) -> SqliteTxConn {
        let tx = SqliteTxConn::begin(writer).await.unwrap();
        exec(tx.conn().unwrap(), "INSERT INTO t (a) VALUES ($1)", &[Value::from(a)]).unwrap();
        tx
    }

    async fn rows(path: &Path) -> Vec<String> {
        let readers = SqliteReaders::open(path, 1, Duration::from_secs(1)).unwrap();
        let rows: Vec<(String,)> = readers.all("SELECT a FROM t ORDER BY a", &[]).await.unwrap();
        rows.into_iter().map(|r| r.0).collect()
    }

    async fn wait_until_queued(writer: &SqliteWriter, n: usize) {
        while writer.queued() < n {
            tokio::task::yield_now().await;
        }
    }

    /// A flow inserting `a`, started once the caller holds the writer: returns when it waits
    /// for the writer.
    async fn queued_insert(writer: &SqliteWriter, a: &'static str) -> tokio::task::JoinHandle<SqliteTxConn> {
        let waiting = writer.queued() + 1;
        let flow = tokio::spawn({
            let writer = writer.clone();
            async move { insert(&writer, a).await }
        });
        wait_until_queued(writer, waiting).await;
        flow
    }

    /// A flow that finishes while another waits for the writer joins its group: its commit
    /// returns once the group has committed, not before, and both are kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flow_with_others_queued_commits_with_them() {
        let (_dir, path) = scratch();
        let writer = SqliteWriter::open(&path, Duration::from_secs(5)).unwrap();
        let first = insert(&writer, "a").await;
        let second = queued_insert(&writer, "b").await;
        let first = tokio::spawn(first.commit());
        let second = second.await.unwrap();
        assert!(!first.is_finished(), "the first flow reported its commit before its group committed");
        assert!(rows(&path).await.is_empty(), "nothing is visible before the group commits");
        second.commit().await.unwrap();
        first.await.unwrap().unwrap();
        assert_eq!(rows(&path).await, ["a", "b"]);
    }

    /// A dropped flow rolls back alone: the group's other flows are kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_flow_leaves_its_group_intact() {
        let (_dir, path) = scratch();
        let writer = SqliteWriter::open(&path, Duration::from_secs(5)).unwrap();
        let first = insert(&writer, "a").await;
        let second = queued_insert(&writer, "b").await;
        let first = tokio::spawn(first.commit());
        drop(second.await.unwrap());
        first.await.unwrap().unwrap();
        assert_eq!(rows(&path).await, ["a"]);
    }

    /// A flow dropped alone in its group ends it, even with a writer queued: if that writer
    /// gives up (its request is cancelled), nothing is left holding the file's write lock.
    #[tokio::test(flavor = "current_thread")]
    async fn an_empty_group_does_not_outlive_its_flow() {
        let (_dir, path) = scratch();
        let writer = SqliteWriter::open(&path, Duration::from_secs(5)).unwrap();
        let only = insert(&writer, "a").await;
        let queued = queued_insert(&writer, "b").await;
        drop(only);
        queued.abort();
        assert!(queued.await.is_err(), "the queued flow was cancelled");
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE; ROLLBACK").unwrap();
        assert!(rows(&path).await.is_empty());
    }

    /// When a group's COMMIT fails, every flow in it hears so, and nothing of it is kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_group_commit_fails_every_flow_in_it() {
        let (_dir, path) = scratch();
        Connection::open(&path)
            .unwrap()
            .execute_batch(
                "CREATE TABLE parent (id TEXT PRIMARY KEY);
                 CREATE TABLE child (p TEXT REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)",
            )
            .unwrap();
        let writer = SqliteWriter::open(&path, Duration::from_secs(5)).unwrap();
        let first = insert(&writer, "a").await;
        let second = tokio::spawn({
            let writer = writer.clone();
            async move {
                let tx = SqliteTxConn::begin(&writer).await.unwrap();
                // Only checked at COMMIT: the whole group's commit fails.
                exec(tx.conn().unwrap(), "INSERT INTO child (p) VALUES ('missing')", &[]).unwrap();
                tx
            }
        });
        wait_until_queued(&writer, 1).await;
        let first = tokio::spawn(first.commit());
        let second = second.await.unwrap().commit().await;
        assert!(second.is_err());
        assert!(first.await.unwrap().is_err(), "the first flow was told it committed");
        assert!(rows(&path).await.is_empty());
        // The writer goes on.
        insert(&writer, "c").await.commit().await.unwrap();
        assert_eq!(rows(&path).await, ["c"]);
    }

    /// A write outside a transaction commits the open group first: it is durable on return.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_single_write_commits_the_open_group_first() {
        let (_dir, path) = scratch();
        let writer = SqliteWriter::open(&path, Duration::from_secs(5)).unwrap();
        let first = insert(&writer, "a").await;
        let single = tokio::spawn({
            let writer = writer.clone();
            async move { exec(&writer.hold().await.unwrap(), "INSERT INTO t (a) VALUES ('s')", &[]).unwrap() }
        });
        wait_until_queued(&writer, 1).await;
        first.commit().await.unwrap();
        single.await.unwrap();
        assert_eq!(rows(&path).await, ["a", "s"]);
    }
}
