//! One module per flow. Each owns its errors; contracts map them to their wire formats.

pub mod password_signup;
pub mod session;
pub mod sign_in;

use serde_json::json;

use crate::clock::Timestamp;
use crate::events::{AuditEntry, ClientInfo, OutboxMessage};
use crate::ids::new_id;
use crate::project::ProjectContext;
use crate::session::Session;
use crate::store::{Store, StoreTx};
use crate::user::User;

/// The user as events describe it (never secure metadata).
pub(crate) fn user_event(user: &User) -> serde_json::Value {
    json!({
        "id": user.id,
        "email": user.email.as_str(),
        "name": user.name,
        "emailVerified": user.email_verified,
        "createdAt": user.created_at.to_rfc3339(),
    })
}

pub(crate) fn outbox(ctx: &ProjectContext, topic: &str, data: serde_json::Value, now: Timestamp) -> OutboxMessage {
    OutboxMessage {
        id: new_id("evt"),
        project_id: ctx.project.id.clone(),
        topic: topic.to_owned(),
        payload: data,
        created_at: now,
    }
}

pub(crate) fn session_event(session: &Session) -> serde_json::Value {
    json!({
        "id": session.id,
        "userId": session.user_id,
        "amr": session.amr,
        "createdAt": session.created_at.to_rfc3339(),
        "expiresAt": session.expires_at.to_rfc3339(),
    })
}

pub(crate) struct Audit<'a> {
    pub ctx: &'a ProjectContext,
    pub action: &'a str,
    pub method: Option<&'a str>,
    pub client: &'a ClientInfo,
}

impl Audit<'_> {
    pub fn entry(&self, outcome: &str, user_id: Option<&str>, now: Timestamp) -> AuditEntry {
        AuditEntry {
            id: new_id("aud"),
            project_id: self.ctx.project.id.clone(),
            at: now,
            action: self.action.to_owned(),
            outcome: outcome.to_owned(),
            method: self.method.map(str::to_owned),
            user_id: user_id.map(str::to_owned),
            ip: self.client.ip.clone(),
            user_agent: self.client.user_agent.clone(),
            detail: serde_json::Value::Null,
        }
    }

    pub async fn record_in(
        &self,
        tx: &mut dyn StoreTx,
        outcome: &str,
        user_id: Option<&str>,
        now: Timestamp,
    ) -> Result<(), crate::StoreError> {
        tx.insert_audit(&self.entry(outcome, user_id, now)).await
    }

    /// For refusals: the change itself was rolled back, so the reason gets its own transaction.
    /// Losing it must not turn a clean refusal into a failure, so errors are only logged.
    pub async fn record_refusal(&self, store: &dyn Store, reason: &str, user_id: Option<&str>, now: Timestamp) {
        let outcome = format!("denied:{reason}");
        let result = async {
            let mut tx = store.begin().await?;
            self.record_in(tx.as_mut(), &outcome, user_id, now).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, action = self.action, "could not write the audit entry of a refusal");
        }
    }
}
