//! What a change leaves behind in its own transaction: outbox messages (delivered later by
//! workers) and audit entries.

use serde_json::Value;

use crate::clock::Timestamp;

/// An event to deliver (`user.created`, `session.created`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: String,
    pub project_id: String,
    pub topic: String,
    pub payload: Value,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: String,
    pub project_id: String,
    pub at: Timestamp,
    /// e.g. `signup`, `signin`, `refresh.reuse`.
    pub action: String,
    /// `ok`, or `denied:<reason>`.
    pub outcome: String,
    /// e.g. `password`, `oauth:github`.
    pub method: Option<String>,
    pub user_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub detail: Value,
}

/// Who is asking: recorded in audit entries and sessions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
