//! Inserts whose outcome nothing in the transaction waits for (events, audit rows, sessions,
//! refresh tokens, mails, the rows of a new organization), sent together.
//!
//! On SQLite every statement is a hop to the connection's worker thread and back; the single
//! writer serialises those hops, so they, not SQLite, bound a write flow. A transaction keeps
//! such inserts in one multi-statement batch (placeholders renumbered into one argument list)
//! and sends it as one hop before its next statement or its commit: an email sign-up's
//! transaction goes from eleven hops to five. On PostgreSQL a batch with binds is not one
//! message, so there each insert runs at once, as before.
//!
//! Only rows with fresh random keys are deferred: their failure (a full disk, a broken foreign
//! key) is an outage or a bug whichever statement reports it, never a conflict a flow decides on.

use std::fmt::Write;

/// One bound value; NULLs keep their type, which PostgreSQL needs.
pub(crate) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(Some(v.to_owned()))
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(Some(v.clone()))
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}
impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}
impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Self {
        Value::Text(v.clone())
    }
}
impl From<Option<&str>> for Value {
    fn from(v: Option<&str>) -> Self {
        Value::Text(v.map(str::to_owned))
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}
impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

/// Binds `values` in order to a query of either engine.
macro_rules! bind_values {
    ($query:expr, $values:expr) => {{
        let mut q = $query;
        for v in $values {
            q = match v {
                $crate::sql::deferred::Value::Text(t) => q.bind(t),
                $crate::sql::deferred::Value::Int(i) => q.bind(i),
            };
        }
        q
    }};
}
pub(crate) use bind_values;

/// Defers an insert on the transaction `$tx` (see the module comment).
macro_rules! defer {
    ($tx:expr, $sql:expr $(, $bind:expr)* $(,)?) => {
        $tx.defer($sql, vec![$($crate::sql::deferred::Value::from($bind)),*]).await
    };
}
pub(crate) use defer;

/// The batch waiting on one SQLite transaction.
#[derive(Default)]
pub(crate) struct Batch {
    sql: String,
    values: Vec<Value>,
}

impl Batch {
    /// Past this many values the batch is sent before it grows further (SQLite allows 32,766).
    pub(crate) const MAX_VALUES: usize = 512;

    pub(crate) fn push(&mut self, sql: &str, values: Vec<Value>) {
        renumber(sql, self.values.len(), &mut self.sql);
        self.sql.push_str(";\n");
        self.values.extend(values);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sql.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    pub(crate) fn take(&mut self) -> (String, Vec<Value>) {
        (std::mem::take(&mut self.sql), std::mem::take(&mut self.values))
    }
}

/// Appends `sql` to `out` with every `$n` placeholder moved to `$(n + offset)`. The store's SQL
/// has no `$` inside string literals.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(n) => {
                let _ = write!(out, "${}", n + offset);
            }
            Err(_) => out.push('$'),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn placeholders_move_past_the_values_already_batched() {
        let mut b = Batch::default();
        b.push("INSERT INTO a (x, y) VALUES ($1, $2)", vec![Value::from(1i64), Value::from("é")]);
        b.push("INSERT INTO b (x, y, z) VALUES ($1, $2, $2)", vec![Value::from(2i64), Value::from(None::<i64>)]);
        assert_eq!(b.len(), 4);
        let (sql, values) = b.take();
        assert_eq!(sql, "INSERT INTO a (x, y) VALUES ($1, $2);\nINSERT INTO b (x, y, z) VALUES ($3, $4, $4);\n");
        assert_eq!(values.len(), 4);
        assert!(b.is_empty());
    }

    #[test]
    fn a_dollar_without_digits_is_kept() {
        let mut out = String::new();
        renumber("SELECT '$' || $1, $", 10, &mut out);
        assert_eq!(out, "SELECT '$' || $11, $");
    }

    /// The batch runs as one multi-statement query on SQLite, each statement with its own binds.
    #[tokio::test]
    async fn sqlite_runs_a_batch_as_one_query() {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE t (a TEXT, b INTEGER)").execute(&mut conn).await.unwrap();
        let mut b = Batch::default();
        b.push("INSERT INTO t (a, b) VALUES ($1, $2)", vec![Value::from("x"), Value::from(1i64)]);
        b.push("INSERT INTO t (a, b) VALUES ($2, $1)", vec![Value::from(2i64), Value::from("y")]);
        b.push("INSERT INTO t (a, b) VALUES ($1, $2)", vec![Value::from(None::<String>), Value::from(None::<i64>)]);
        let (sql, values) = b.take();
        let done = bind_values!(sqlx::query(sqlx::AssertSqlSafe(sql)), values).execute(&mut conn).await.unwrap();
        assert_eq!(done.rows_affected(), 3);
        let rows: Vec<(Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT a, b FROM t ORDER BY rowid").fetch_all(&mut conn).await.unwrap();
        assert_eq!(rows, vec![(Some("x".into()), Some(1)), (Some("y".into()), Some(2)), (None, None)]);
    }
}
