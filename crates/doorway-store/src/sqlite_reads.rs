//! Reads outside a transaction on SQLite, run on the calling task's own thread.
//!
//! sqlx runs each SQLite connection on a thread of its own: every statement is a hop there and
//! back (two thread wake-ups, about 55 µs on a small VM) and every connection handed back to
//! its pool is one more (sqlx pings it). A point read costs SQLite a few microseconds, so the
//! hops were most of a session check's CPU. Here a read borrows one of a few connections of
//! its own (rusqlite, the same bundled SQLite as sqlx's) and runs where it is called: WAL
//! readers never wait for the writer, so the call is as short as the read. Transactions stay
//! on sqlx's single writer connection.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use doorway_core::store::{Outage, StoreError, StoreResult};
use rusqlite::types::{FromSql, ToSqlOutput};
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::errors::sqlite_read_error;
use crate::sql::deferred::Value;

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

/// Opens read connections like the writer's (busy timeout), and refuses writes on them.
fn open_reader(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "query_only", true)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteReaders {
    /// `count` connections to the database file at `path`, which the writer has created and
    /// migrated already.
    pub(crate) fn open(path: &Path, count: u32, wait: Duration) -> rusqlite::Result<Self> {
        let free = (0..count.max(1)).map(|_| open_reader(path)).collect::<rusqlite::Result<Vec<_>>>()?;
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
    pub(crate) async fn read<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let _permit = match tokio::time::timeout(self.wait, self.slots.acquire()).await {
            Ok(Ok(permit)) => permit,
            _ => return Err(StoreError::unavailable(Outage::Unreachable, NoReader(self.wait))),
        };
        let lent = Lent { readers: self, conn: self.free.lock().unwrap_or_else(|e| e.into_inner()).pop() };
        let conn = lent.conn.as_ref().ok_or_else(|| StoreError::unexpected(NoReader(self.wait)))?;
        read(conn).map_err(sqlite_read_error)
    }

    /// At most one row of `sql` with `values` bound to its `$n` placeholders.
    pub(crate) async fn optional<R: FromSqlite>(&self, sql: &str, values: &[Value]) -> StoreResult<Option<R>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            bind(&mut stmt, values)?;
            let mut rows = stmt.raw_query();
            rows.next()?.map(R::from_sqlite).transpose()
        })
        .await
    }

    /// Every row of `sql` with `values` bound to its `$n` placeholders.
    pub(crate) async fn all<R: FromSqlite>(&self, sql: &str, values: &[Value]) -> StoreResult<Vec<R>> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            bind(&mut stmt, values)?;
            let mut rows = stmt.raw_query();
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(R::from_sqlite(row)?);
            }
            Ok(out)
        })
        .await
    }
}

#[derive(Debug, thiserror::Error)]
#[error("no SQLite read connection was free within {0:?}")]
struct NoReader(Duration);

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

/// Binds `$n` to `values[n - 1]`, as sqlx does: a placeholder may appear more than once and
/// out of order, so SQLite's own parameter numbering is not the values' order.
fn bind(stmt: &mut rusqlite::Statement<'_>, values: &[Value]) -> rusqlite::Result<()> {
    for index in 1..=stmt.parameter_count() {
        let n = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=values.len()).contains(n))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, values.len()))?;
        stmt.raw_bind_parameter(index, &values[n - 1])?;
    }
    Ok(())
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Value::Text(t) => t.to_sql(),
            Value::Int(i) => i.to_sql(),
        }
    }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[tokio::test]
    async fn placeholders_bind_by_number_not_by_position() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Connection::open(&path).unwrap().execute_batch("PRAGMA journal_mode = WAL").unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let readers = SqliteReaders::open(&path, 1, Duration::from_secs(1)).unwrap();
        let wrote = readers.read(|c| c.execute("INSERT INTO t VALUES (1)", [])).await;
        assert!(wrote.is_err());
    }
}
