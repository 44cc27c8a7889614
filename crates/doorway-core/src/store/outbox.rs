//! The outbox (events written with the change that caused them) and the deliveries fanned out
//! from it (webhooks, mails), with their attempts.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Timestamp;
use crate::events::OutboxMessage;
use crate::webhooks::{AttemptOutcome, Delivery, DeliveryAttempt, DeliveryKind, DeliveryStatus};

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Outbox messages of a project, oldest first (for inspection; workers claim separately).
    async fn outbox(&self, project_id: &str) -> StoreResult<Vec<OutboxMessage>>;
    /// Takes up to `limit` due deliveries of `kind` for this worker until `lease_until`
    /// (counting the attempt); rows another worker holds are skipped, expired leases reclaimed.
    async fn claim_deliveries(
        &self,
        kind: DeliveryKind,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>> {
        self.claim_deliveries_except(kind, now, lease_until, limit, &[]).await
    }
    /// [`Self::claim_deliveries`], leaving out deliveries to `skip_targets` (endpoints the
    /// worker will not call now: busy, or their circuit open).
    async fn claim_deliveries_except(
        &self,
        kind: DeliveryKind,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
        skip_targets: &[String],
    ) -> StoreResult<Vec<Delivery>>;
    /// Gives a claimed delivery back unattempted: it is due again `now` and the claim's attempt
    /// is not counted (the worker claimed more for one endpoint than it will call at once).
    async fn release_delivery(&self, delivery_id: &str, now: Timestamp) -> StoreResult<()>;
    /// Logs the attempt and moves the delivery on, in one transaction.
    async fn finish_attempt(
        &self,
        attempt: &DeliveryAttempt,
        outcome: AttemptOutcome,
        error: Option<&str>,
    ) -> StoreResult<()>;
    async fn deliveries(
        &self,
        project_id: &str,
        kind: DeliveryKind,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    async fn delivery_attempts(&self, delivery_id: &str) -> StoreResult<Vec<DeliveryAttempt>>;
    /// Makes a delivery due again now, whatever its status except suppressed; false if there is
    /// no such delivery.
    async fn replay_delivery(&self, project_id: &str, delivery_id: &str, now: Timestamp) -> StoreResult<bool>;
}

#[async_trait]
pub trait OutboxTx: Send {
    async fn insert_outbox(&mut self, message: &OutboxMessage) -> StoreResult<()>;
    async fn insert_delivery(&mut self, delivery: &Delivery) -> StoreResult<()>;
}
