//! The outbox worker, one per delivery kind: claims due rows with a lease (so several
//! instances share the work and a crashed worker's rows come back), hands each to its sender,
//! logs every attempt, and retries with backoff until delivered or dead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use doorway_core::webhooks::{AttemptOutcome, Delivery, DeliveryAttempt, DeliveryKind, next_attempt_at};
use doorway_core::{Clock, Store};
use tokio::sync::watch;

use crate::settings::DeliverySettings;

const BATCH: u32 = 16;

/// Why an attempt failed; `permanent` failures are not retried.
pub struct SendFailure {
    pub status_code: Option<u16>,
    pub error: String,
    pub permanent: bool,
}

#[async_trait]
pub trait Sender: Send + Sync + 'static {
    fn kind(&self) -> DeliveryKind;
    /// Sends one delivery; on success, the status code if the protocol has one.
    async fn send(&self, delivery: &Delivery) -> Result<Option<u16>, SendFailure>;
}

pub struct DeliveryWorker<S> {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub settings: DeliverySettings,
    pub sender: S,
}

impl<S: Sender> DeliveryWorker<S> {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let kind = self.sender.kind();
        while !*stop.borrow() {
            let now = self.clock.now();
            let lease_until = now.plus_seconds(self.settings.lease_secs as i64);
            let claimed = match self.store.claim_deliveries(kind, now, lease_until, BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, kind = kind.as_str(), "cannot claim deliveries");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(self.settings.poll_interval_ms)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            futures_util::future::join_all(claimed.into_iter().map(|d| self.attempt(d))).await;
        }
    }

    async fn attempt(&self, d: Delivery) {
        let kind = self.sender.kind().as_str();
        let started = Instant::now();
        let at = self.clock.now();
        let result = self.sender.send(&d).await;
        let latency_ms = started.elapsed().as_millis() as i64;
        let outcome = match &result {
            Ok(_) => AttemptOutcome::Delivered,
            Err(f) if f.permanent || d.attempts >= self.settings.max_attempts => AttemptOutcome::Dead,
            Err(_) => {
                AttemptOutcome::RetryAt(next_attempt_at(at, d.attempts, self.settings.retry_base_ms, rand::random()))
            }
        };
        let (status_code, error) = match result {
            Ok(code) => (code.map(i64::from), None),
            Err(f) => (f.status_code.map(i64::from), Some(f.error)),
        };
        let label = match outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RetryAt(_) => "retry",
            AttemptOutcome::Dead => "dead",
        };
        if let Some(error) = &error {
            tracing::warn!(kind, delivery = %d.id, attempt = d.attempts, outcome = label, %error, "delivery attempt failed");
        }
        metrics::counter!("doorway_delivery_attempts_total", "kind" => kind, "outcome" => label).increment(1);
        metrics::histogram!("doorway_outbox_lag_seconds", "kind" => kind)
            .record((at.millis() - d.created_at.millis()) as f64 / 1000.0);
        let attempt =
            DeliveryAttempt { delivery_id: d.id.clone(), attempt: d.attempts, at, status_code, latency_ms, error };
        if let Err(e) = self.store.finish_attempt(&attempt, outcome, attempt.error.as_deref()).await {
            tracing::warn!(error = %e, delivery = %d.id, "cannot record a delivery attempt; it is retried when its lease expires");
        }
    }
}
