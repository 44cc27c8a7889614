//! The audit log: written with the change it records, read newest first in pages.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Timestamp;
use crate::events::AuditEntry;

/// Which audit rows to read, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only rows older than this id (ids sort by time): the next page.
    pub before_id: Option<String>,
    pub limit: u32,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Every audit row of the project, oldest first.
    async fn audit(&self, project_id: &str) -> StoreResult<Vec<AuditEntry>>;
    async fn audit_page(&self, project_id: &str, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;
}

#[async_trait]
pub trait AuditTx: Send {
    async fn insert_audit(&mut self, entry: &AuditEntry) -> StoreResult<()>;
}
