//! The outbox and the deliveries fanned out from it, with their attempts.

use async_trait::async_trait;
use doorway_core::Timestamp;
use doorway_core::events::OutboxMessage;
use doorway_core::store::{OutboxStore, OutboxTx, StoreResult};
use doorway_core::webhooks::{AttemptOutcome, Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus};

use super::{PgStore, PgTx, SqliteStore, SqliteTx};
use crate::rows::{AttemptRow, DeliveryRow, OutboxRow, json_text};

macro_rules! outbox {
    ($store:ident, $tx:ident, $backend:literal, $claim:expr, $row_lock:literal) => {
        #[async_trait]
        impl OutboxStore for $store {
            async fn outbox(&self, project_id: &str) -> StoreResult<Vec<OutboxMessage>> {
                read_all!(
                    self,
                    OutboxRow,
                    "SELECT * FROM outbox WHERE project_id = $1 ORDER BY created_at, id",
                    project_id
                )?
                .into_iter()
                .map(OutboxMessage::try_from)
                .collect()
            }

            async fn claim_deliveries_except(
                &self,
                kind: DeliveryKind,
                now: Timestamp,
                lease_until: Timestamp,
                limit: u32,
                skip_targets: &[String],
            ) -> StoreResult<Vec<Delivery>> {
                let skip = serde_json::Value::from(skip_targets).to_string();
                // One statement, atomic on its own.
                let rows = fetch_all!(
                    DeliveryRow,
                    self,
                    $claim,
                    lease_until.millis(),
                    kind.as_str(),
                    now.millis(),
                    i64::from(limit),
                    skip,
                )?;
                rows.into_iter().map(Delivery::try_from).collect()
            }

            async fn release_delivery(&self, delivery_id: &str, now: Timestamp) -> StoreResult<()> {
                exec!(
                    self,
                    "UPDATE deliveries SET claimed_until = NULL, next_attempt_at = $2, attempts = attempts - 1
                     WHERE id = $1 AND status = 'pending' AND claimed_until IS NOT NULL",
                    delivery_id,
                    now.millis(),
                )?;
                Ok(())
            }

            async fn finish_attempt(
                &self,
                a: &DeliveryAttempt,
                outcome: AttemptOutcome,
                error: Option<&str>,
            ) -> StoreResult<()> {
                let (status, next, delivered_at) = match outcome {
                    AttemptOutcome::Delivered => (DeliveryStatus::Delivered, a.at, Some(a.at.millis())),
                    AttemptOutcome::RetryAt(t) => (DeliveryStatus::Pending, t, None),
                    AttemptOutcome::Dead => (DeliveryStatus::Dead, a.at, None),
                };
                exec_together!(
                    self,
                    (
                        "UPDATE deliveries SET status = $2, next_attempt_at = $3,
                             delivered_at = $4, last_error = $5, claimed_until = NULL
                         WHERE id = $1",
                        &a.delivery_id,
                        status.as_str(),
                        next.millis(),
                        delivered_at,
                        error,
                    ),
                    (
                        "INSERT INTO delivery_attempts (delivery_id, attempt, at, status_code, latency_ms, error)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                        &a.delivery_id,
                        a.attempt,
                        a.at.millis(),
                        a.status_code,
                        a.latency_ms,
                        &a.error,
                    ),
                )
            }

            async fn deliveries(
                &self,
                project_id: &str,
                kind: DeliveryKind,
                status: Option<DeliveryStatus>,
                limit: u32,
            ) -> StoreResult<Vec<Delivery>> {
                read_all!(
                    self,
                    DeliveryRow,
                    "SELECT * FROM deliveries WHERE project_id = $1 AND kind = $2 AND ($3 IS NULL OR status = $3)
                     ORDER BY created_at DESC, id DESC LIMIT $4",
                    project_id,
                    kind.as_str(),
                    status.map(DeliveryStatus::as_str),
                    i64::from(limit),
                )?
                .into_iter()
                .map(Delivery::try_from)
                .collect()
            }

            async fn delivery_attempts(&self, delivery_id: &str) -> StoreResult<Vec<DeliveryAttempt>> {
                Ok(read_all!(
                    self,
                    AttemptRow,
                    "SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt",
                    delivery_id,
                )?
                .into_iter()
                .map(Into::into)
                .collect())
            }

            async fn replay_delivery(&self, project_id: &str, delivery_id: &str, now: Timestamp) -> StoreResult<bool> {
                let done = exec!(
                    self,
                    "UPDATE deliveries SET status = 'pending', next_attempt_at = $3, claimed_until = NULL
                     WHERE project_id = $1 AND id = $2 AND status <> 'suppressed'",
                    project_id,
                    delivery_id,
                    now.millis(),
                )?;
                Ok(done == 1)
            }
        }

        #[async_trait]
        impl OutboxTx for $tx {
            async fn insert_outbox(&mut self, m: &OutboxMessage) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO outbox (id, project_id, topic, payload, created_at) VALUES ($1, $2, $3, $4, $5)",
                    &m.id,
                    &m.project_id,
                    &m.topic,
                    json_text(&m.payload),
                    m.created_at.millis(),
                )?;
                Ok(())
            }

            async fn insert_delivery(&mut self, d: &Delivery) -> StoreResult<()> {
                defer!(
                    self,
                    "INSERT INTO deliveries (id, project_id, event_id, kind, target, body, status, attempts,
                         next_attempt_at, claimed_until, last_error, created_at, delivered_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    &d.id,
                    &d.project_id,
                    &d.event_id,
                    d.kind.as_str(),
                    &d.target,
                    &d.body,
                    d.status.as_str(),
                    d.attempts,
                    d.next_attempt_at.millis(),
                    d.claimed_until.map(|t| t.millis()),
                    &d.last_error,
                    d.created_at.millis(),
                    d.delivered_at.map(|t| t.millis()),
                )?;
                Ok(())
            }
        }
    };
}

for_both_engines!(outbox);
