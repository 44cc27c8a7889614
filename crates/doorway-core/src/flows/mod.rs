//! One module per flow. Each owns its errors; contracts map them to their wire formats.

pub mod account;
pub(crate) mod account_linking;
pub(crate) mod account_securing;
pub mod bot_check;
pub mod email_code_sign_in;
pub mod email_signup;
pub mod external_signup;
pub mod oauth_signup;
pub mod passkey;
pub mod password_change;
pub mod password_recovery;
pub mod password_signup;
pub mod profile;
pub mod session;
pub mod sign_in;
pub mod verification;

use serde_json::json;

use crate::clock::Timestamp;
use crate::events::{AuditEntry, ClientInfo, OutboxMessage};
use crate::ids::new_id;
use crate::project::ProjectContext;
use crate::session::Session;
use crate::store::{Store, StoreTx};
use crate::user::User;
use crate::webhooks::{Delivery, DeliveryKind, DeliveryStatus};

/// Records how a flow ended on its span (`outcome`: `ok`, or the error's variant name).
pub(crate) fn record_outcome<T, E: std::fmt::Debug>(result: Result<T, E>) -> Result<T, E> {
    let span = tracing::Span::current();
    if !span.is_disabled() {
        match &result {
            Ok(_) => {
                span.record("outcome", "ok");
            }
            Err(e) => {
                span.record("outcome", variant_name(&format!("{e:?}")));
            }
        }
    }
    result
}

/// `Busy { retry_after_secs: 1 }` → `Busy`: an error's variant, without its payload.
fn variant_name(debug: &str) -> &str {
    let end = debug.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(debug.len());
    &debug[..end]
}

/// The user as events describe it (never secure metadata).
pub(crate) fn user_event(user: &User) -> serde_json::Value {
    json!({
        "id": user.id,
        "email": user.email.as_ref().map(crate::email::EmailAddress::as_str),
        "name": user.name,
        "emailVerified": user.email_verified,
        "createdAt": user.created_at.to_rfc3339(),
    })
}

/// Records an event and one delivery per subscribed webhook, in the caller's transaction.
pub(crate) async fn emit(
    tx: &mut dyn StoreTx,
    ctx: &ProjectContext,
    topic: &str,
    data: serde_json::Value,
    now: Timestamp,
) -> Result<(), crate::StoreError> {
    let event = OutboxMessage {
        id: new_id("evt"),
        project_id: ctx.project.id.clone(),
        topic: topic.to_owned(),
        payload: data,
        created_at: now,
    };
    let subscribed: Vec<_> = ctx.project.settings.webhooks.iter().filter(|w| w.wants(topic)).collect();
    if !subscribed.is_empty() {
        let body = json!({ "type": topic, "timestamp": now.to_rfc3339(), "data": event.payload }).to_string();
        for endpoint in subscribed {
            tx.insert_delivery(&Delivery {
                id: new_id("msg"),
                project_id: event.project_id.clone(),
                event_id: event.id.clone(),
                kind: DeliveryKind::Webhook,
                target: endpoint.url.clone(),
                body: body.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: now,
                claimed_until: None,
                last_error: None,
                created_at: now,
                delivered_at: None,
            })
            .await?;
        }
    }
    tx.insert_outbox(&event).await
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

/// Counts one attempt against `rule` for `subject` (an IP or an address) in this project.
/// If the limiter itself fails, the attempt is let through: limits protect, they must not
/// take sign-up down with them.
pub(crate) async fn enforce_rate_limit(
    svc: &crate::services::Services,
    audit: &Audit<'_>,
    rule_name: &str,
    rule: crate::rate_limit::Rule,
    subject: Option<&str>,
) -> Result<(), crate::rate_limit::RateLimited> {
    let (true, Some(subject)) = (audit.ctx.project.settings.rate_limits.enabled, subject) else {
        return Ok(());
    };
    let key = format!("{}:{rule_name}:{subject}", audit.ctx.project.id);
    let now = svc.clock.now();
    match svc.rate_limiter.hit(&key, rule, now).await {
        Ok(d) if d.allowed => Ok(()),
        Ok(d) => {
            audit.record_refusal(svc.store.as_ref(), "rate_limited", None, now).await;
            Err(crate::rate_limit::RateLimited { limit: d.limit, retry_after_secs: d.reset_secs })
        }
        Err(e) => {
            tracing::warn!(error = %e, rule = rule_name, "rate limiter failed; letting the attempt through");
            Ok(())
        }
    }
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

/// Records an administrative action (admin API or CLI) in the project's audit log.
pub async fn record_admin_action(
    store: &dyn Store,
    now: Timestamp,
    project_id: &str,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), crate::StoreError> {
    let entry = AuditEntry {
        id: new_id("aud"),
        project_id: project_id.to_owned(),
        at: now,
        action: action.to_owned(),
        outcome: "ok".to_owned(),
        method: Some("admin".to_owned()),
        user_id: None,
        ip: None,
        user_agent: None,
        detail,
    };
    let mut tx = store.begin().await?;
    tx.insert_audit(&entry).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    #[test]
    fn outcomes_name_the_error_variant_only() {
        use super::variant_name;
        assert_eq!(variant_name("EmailTaken"), "EmailTaken");
        assert_eq!(variant_name("Busy { retry_after_secs: 1 }"), "Busy");
        assert_eq!(variant_name("Unexpected(Unexpected { context: None, source: .. })"), "Unexpected");
    }
}
