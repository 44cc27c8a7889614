//! A PostgreSQL transaction that sends its deferred writes together.
//!
//! Each statement is a round trip to PostgreSQL, and on a busy host every round trip is a
//! wake-up of the server's runtime and of a database backend. Most writes of a flow are
//! inserts whose only failure is a bug or an outage (an audit row, an outbox message, a session
//! with a fresh id), so nothing in the flow waits for them: they are queued and sent as one
//! statement (`WITH w0 AS (INSERT ...), w1 AS (INSERT ...) INSERT ...`) before the next
//! statement that is not deferred, or before `COMMIT`. A password sign-up makes 4 round trips
//! instead of 10. Inserts whose conflict a flow answers (a user's email, a passkey, a linked
//! identity) are never deferred: their error must come from their own call. Updates may be
//! deferred too when their caller needs no row count; an update never joins a statement after
//! an insert or another update of its table.

use doorway_core::store::StoreResult;
use sqlx::{Postgres, Transaction};

use crate::errors::{deferred_error, store_error};
use crate::sql::values::{Value, bind_values};

pub(crate) struct PgTxConn {
    tx: Transaction<'static, Postgres>,
    deferred: Vec<(&'static str, Vec<Value>)>,
}

impl PgTxConn {
    pub(crate) fn new(tx: Transaction<'static, Postgres>) -> Self {
        Self { tx, deferred: Vec::new() }
    }

    /// Queues a write whose outcome nobody waits for; it is sent with the next statement.
    pub(crate) async fn defer(&mut self, sql: &'static str, values: Vec<Value>) -> StoreResult<()> {
        debug_assert!(!sql.trim_start().starts_with("WITH"), "a WITH query cannot nest in another");
        // The writes of one statement all see the database as it was before it: an update must
        // not share one with an insert before it (whose row it could not see) or with another
        // update of its table (the same row twice is not supported). Those go first.
        if let Some(table) = updated_table(sql)
            && self.deferred.iter().any(|(queued, _)| updated_table(queued).is_none_or(|t| t == table))
        {
            self.conn().await?;
        }
        self.deferred.push((sql, values));
        Ok(())
    }

    /// The transaction, with every deferred write sent.
    pub(crate) async fn conn(&mut self) -> StoreResult<&mut Transaction<'static, Postgres>> {
        if !self.deferred.is_empty() {
            let deferred = std::mem::take(&mut self.deferred);
            let (sql, values) = combined(deferred);
            // Only the store's own constant statements, joined: no input in the text.
            bind_values!(sqlx::query(sqlx::AssertSqlSafe(sql)), values)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| deferred_error(store_error(e)))?;
        }
        Ok(&mut self.tx)
    }

    pub(crate) async fn commit(mut self) -> StoreResult<()> {
        self.conn().await?;
        self.tx.commit().await.map_err(store_error)
    }
}

/// The table an `UPDATE` statement writes; `None` for any other statement.
fn updated_table(sql: &str) -> Option<&str> {
    sql.trim_start().strip_prefix("UPDATE ")?.split_whitespace().next()
}

/// One statement for `writes`: each but the last in its own `WITH` query, placeholders
/// renumbered after the binds before them. PostgreSQL runs every data-modifying `WITH` query
/// exactly once, and checks foreign keys at the end of the whole statement.
pub(crate) fn combined(mut writes: Vec<(&'static str, Vec<Value>)>) -> (String, Vec<Value>) {
    if writes.len() == 1 {
        let (sql, values) = writes.pop().unwrap_or_default();
        return (sql.to_owned(), values);
    }
    let last = writes.len() - 1;
    let mut sql = String::with_capacity(writes.iter().map(|(s, _)| s.len() + 16).sum());
    let mut values = Vec::with_capacity(writes.iter().map(|(_, v)| v.len()).sum());
    for (i, (statement, binds)) in writes.into_iter().enumerate() {
        sql.push_str(match i {
            0 => "WITH ",
            _ if i == last => ") ",
            _ => "), ",
        });
        if i != last {
            sql.push_str(&format!("w{i} AS ("));
        }
        renumbered(statement, values.len(), &mut sql);
        values.extend(binds);
    }
    (sql, values)
}

/// `statement` with every `$n` placeholder raised by `offset`, appended to `out`. The statements
/// are the store's own constants: no `$` appears in them but in placeholders.
fn renumbered(statement: &str, offset: usize, out: &mut String) {
    let mut rest = statement;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(Some(s.to_owned()))
    }

    #[test]
    fn placeholders_are_raised_past_the_binds_before_them() {
        let mut out = String::new();
        renumbered("INSERT INTO t (a, b, c) VALUES ($1, $2, $1) -- $10", 7, &mut out);
        assert_eq!(out, "INSERT INTO t (a, b, c) VALUES ($8, $9, $8) -- $17");
    }

    #[test]
    fn updates_are_told_from_inserts_by_their_table() {
        assert_eq!(updated_table("UPDATE sessions SET revoked_at = $2 WHERE id = $1"), Some("sessions"));
        assert_eq!(updated_table("\n  UPDATE refresh_tokens SET x = 1"), Some("refresh_tokens"));
        assert_eq!(updated_table("INSERT INTO audit_log (id) VALUES ($1)"), None);
    }

    #[test]
    fn one_write_is_sent_as_it_is() {
        let (sql, values) = combined(vec![("INSERT INTO a VALUES ($1)", vec![text("x")])]);
        assert_eq!(sql, "INSERT INTO a VALUES ($1)");
        assert_eq!(values.len(), 1);
    }

    #[test]
    fn several_writes_become_one_statement() {
        let (sql, values) = combined(vec![
            ("INSERT INTO a VALUES ($1, $2)", vec![text("1"), text("2")]),
            ("INSERT INTO b VALUES ($1)", vec![text("3")]),
            ("INSERT INTO c VALUES ($1, $2)", vec![text("4"), text("5")]),
        ]);
        assert_eq!(
            sql,
            "WITH w0 AS (INSERT INTO a VALUES ($1, $2)), w1 AS (INSERT INTO b VALUES ($3)) INSERT INTO c VALUES ($4, $5)"
        );
        let binds: Vec<_> = values
            .iter()
            .map(|v| match v {
                Value::Text(Some(s)) => s.as_str(),
                _ => "?",
            })
            .collect();
        assert_eq!(binds, ["1", "2", "3", "4", "5"]);
    }
}
