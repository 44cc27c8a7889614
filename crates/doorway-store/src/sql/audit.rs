//! The audit log.

use async_trait::async_trait;
use doorway_core::events::AuditEntry;
use doorway_core::store::{AuditFilter, AuditStore, AuditTx, StoreResult};

use super::{PgStore, PgTx, SqliteStore, SqliteTx};
use crate::rows::{AuditRow, json_text};

macro_rules! audit {
    ($store:ident, $tx:ident, $backend:literal, $claim:expr, $row_lock:literal) => {
        #[async_trait]
        impl AuditStore for $store {
            async fn audit(&self, project_id: &str) -> StoreResult<Vec<AuditEntry>> {
                Ok(read_all!(self, AuditRow, "SELECT * FROM audit_log WHERE project_id = $1 ORDER BY at, id", project_id)?
                    .into_iter()
                    .map(Into::into)
                    .collect())
            }

            async fn audit_page(&self, project_id: &str, f: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
                Ok(read_all!(
                    self,
                    AuditRow,
                    "SELECT * FROM audit_log WHERE project_id = $1
                       AND ($2 IS NULL OR user_id = $2)
                       AND ($3 IS NULL OR action = $3)
                       AND ($4 IS NULL OR outcome = $4)
                       AND ($5 IS NULL OR at >= $5)
                       AND ($6 IS NULL OR at < $6)
                       AND ($7 IS NULL OR id < $7)
                     ORDER BY id DESC LIMIT $8",
                    project_id,
                    &f.user_id,
                    &f.action,
                    &f.outcome,
                    f.since.map(|t| t.millis()),
                    f.until.map(|t| t.millis()),
                    &f.before_id,
                    i64::from(f.limit),
                )?
                .into_iter()
                .map(Into::into)
                .collect())
            }
        }

        #[async_trait]
        impl AuditTx for $tx {
            async fn insert_audit(&mut self, a: &AuditEntry) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO audit_log (id, project_id, at, action, outcome, method, user_id, ip, user_agent, detail)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                    &a.id,
                    &a.project_id,
                    a.at.millis(),
                    &a.action,
                    &a.outcome,
                    &a.method,
                    &a.user_id,
                    &a.ip,
                    &a.user_agent,
                    (!a.detail.is_null()).then(|| json_text(&a.detail)),
                )?;
                Ok(())
            }
        }
    };
}

for_both_engines!(audit);
