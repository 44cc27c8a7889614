//! SQLite as the server runs it (crates/doorway-store/src/sqlite.rs): rusqlite connections,
//! statements run on the calling task's thread; reads on connections lent one per read,
//! transactions on one writer connection that writers queue for, committed in groups.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rusqlite::types::ToSqlOutput;
use rusqlite::{Connection, OpenFlags, ToSql};

use crate::statements::{Bind, Step};

/// The server's connection settings.
fn open(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.set_prepared_statement_cache_capacity(256);
    // Experiments with other settings (e.g. "PRAGMA wal_autocheckpoint = 0").
    if let Ok(pragmas) = std::env::var("BENCH_SQLITE_PRAGMAS") {
        conn.execute_batch(&pragmas)?;
    }
    Ok(conn)
}

pub struct Readers {
    free: Mutex<Vec<Connection>>,
    slots: tokio::sync::Semaphore,
}

impl Readers {
    /// `count` connections with the server's settings (busy timeout, query only).
    pub fn open(path: &Path, count: usize) -> rusqlite::Result<Self> {
        let open = || -> rusqlite::Result<Connection> {
            let flags =
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
            let conn = Connection::open_with_flags(path, flags)?;
            conn.busy_timeout(Duration::from_secs(10))?;
            conn.pragma_update(None, "query_only", true)?;
            conn.set_prepared_statement_cache_capacity(64);
            Ok(conn)
        };
        let free = (0..count.max(1)).map(|_| open()).collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Self { slots: tokio::sync::Semaphore::new(free.len()), free: Mutex::new(free) })
    }

    /// Runs `sql` with `binds` on `$n` and reads every row; returns how many.
    pub async fn run(&self, sql: &str, binds: &[Bind]) -> rusqlite::Result<usize> {
        let _permit = self.slots.acquire().await.map_err(|_| rusqlite::Error::InvalidQuery)?;
        let conn = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop().ok_or(rusqlite::Error::InvalidQuery)?;
        let rows = run(&conn, sql, binds);
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        rows
    }
}

/// The one writer connection, and the server's group commit: a flow that finishes while others
/// wait for the writer leaves the transaction open for them (up to 32 flows per COMMIT) and
/// returns once the group has committed.
pub struct Writer {
    conn: tokio::sync::Mutex<WriterConn>,
    queued: AtomicUsize,
}

struct WriterConn {
    conn: Connection,
    group: Option<Arc<Group>>,
}

#[derive(Default)]
struct Group {
    flows: AtomicUsize,
    outcome: OnceLock<Result<(), String>>,
    committed: tokio::sync::Notify,
}

impl WriterConn {
    fn end_group(&mut self) {
        let Some(group) = self.group.take() else { return };
        let outcome = if self.conn.is_autocommit() {
            Err("rolled back by SQLite".to_owned())
        } else {
            self.conn.execute_batch("COMMIT").map_err(|e| {
                let _ = self.conn.execute_batch("ROLLBACK");
                e.to_string()
            })
        };
        let _ = group.outcome.set(outcome);
        group.committed.notify_waiters();
    }
}

impl Writer {
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        // The server's settings (crates/doorway-store/src/sqlite.rs `SqliteWriter::open`): the
        // writer's own checkpoints every 10,000 pages, a thread's PASSIVE ones every 50 ms
        // beside it, savepoint journals in memory.
        let conn = open(path)?;
        conn.pragma_update(None, "wal_autocheckpoint", 10_000)?;
        conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let checkpoints = open(path)?;
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(50));
                let _ = checkpoints.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
            }
        });
        Ok(Self { conn: tokio::sync::Mutex::new(WriterConn { conn, group: None }), queued: AtomicUsize::new(0) })
    }

    async fn lock(&self) -> tokio::sync::MutexGuard<'_, WriterConn> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        let held = self.conn.lock().await;
        self.queued.fetch_sub(1, Ordering::AcqRel);
        held
    }

    /// Runs `steps` in a savepoint of the writer's grouped transaction; on an error, rolls the
    /// savepoint back and returns the failing statement. Returns once the group has committed.
    pub async fn transaction(&self, steps: &[Step]) -> Result<(), (&'static str, String)> {
        let group = {
            let mut w = self.lock().await;
            if w.group.is_none() || w.conn.is_autocommit() {
                w.end_group();
                w.conn.execute_batch("BEGIN IMMEDIATE").map_err(|e| ("BEGIN", e.to_string()))?;
                w.group = Some(Arc::default());
            }
            let group = w.group.clone().unwrap_or_default();
            w.conn.execute_batch("SAVEPOINT flow").map_err(|e| ("SAVEPOINT", e.to_string()))?;
            for s in steps {
                if let Err(e) = run(&w.conn, s.sql.sqlite, &s.binds) {
                    let _ = w.conn.execute_batch("ROLLBACK TO flow; RELEASE flow");
                    if self.queued.load(Ordering::Acquire) == 0 {
                        w.end_group();
                    }
                    return Err((s.sql.sqlite, e.to_string()));
                }
            }
            w.conn.execute_batch("RELEASE flow").map_err(|e| ("RELEASE", e.to_string()))?;
            let flows = group.flows.fetch_add(1, Ordering::AcqRel) + 1;
            if self.queued.load(Ordering::Acquire) == 0 || flows >= 32 {
                w.end_group();
            }
            group
        };
        loop {
            let notified = group.committed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(outcome) = group.outcome.get() {
                return outcome.clone().map_err(|e| ("COMMIT", e));
            }
            if tokio::time::timeout(Duration::from_millis(20), notified).await.is_err() {
                let mut w = self.lock().await;
                if w.group.as_ref().is_some_and(|g| Arc::ptr_eq(g, &group)) {
                    w.end_group();
                }
            }
        }
    }

    /// The writer, with no group open.
    async fn idle(&self) -> tokio::sync::MutexGuard<'_, WriterConn> {
        let mut w = self.lock().await;
        w.end_group();
        w
    }

    /// Runs `sql` (one or more statements, no binds) outside a transaction.
    pub async fn batch(&self, sql: &str) -> rusqlite::Result<()> {
        self.idle().await.conn.execute_batch(sql)
    }

    /// The first column of the first row of `sql`.
    pub async fn scalar(&self, sql: &str) -> rusqlite::Result<i64> {
        self.idle().await.conn.query_row(sql, [], |r| r.get(0))
    }

    pub async fn text(&self, sql: &str) -> rusqlite::Result<String> {
        self.idle().await.conn.query_row(sql, [], |r| r.get(0))
    }
}

/// Runs `sql` with `binds` on `$n` (as the server binds) and reads every row; returns how many.
fn run(conn: &Connection, sql: &str, binds: &[Bind]) -> rusqlite::Result<usize> {
    let mut stmt = conn.prepare_cached(sql)?;
    for index in 1..=stmt.parameter_count() {
        let n = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| (1..=binds.len()).contains(n))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, binds.len()))?;
        stmt.raw_bind_parameter(index, &binds[n - 1])?;
    }
    let mut rows = stmt.raw_query();
    let mut count = 0;
    while let Some(row) = rows.next()? {
        // Read every column, as the server decodes every field.
        for i in 0..row.as_ref().column_count() {
            let _ = row.get_ref(i)?;
        }
        count += 1;
    }
    Ok(count)
}

impl ToSql for Bind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Bind::Text(v) => v.to_sql(),
            Bind::OptText(v) => v.to_sql(),
            Bind::Int(v) => v.to_sql(),
            Bind::OptInt(v) => v.to_sql(),
            Bind::Bool(v) => v.to_sql(),
            Bind::OptFloat(v) => v.to_sql(),
        }
    }
}
