//! Sends webhook deliveries from the outbox: claims due rows (a lease, so several instances
//! share the work and a crashed worker's rows come back), signs each with Standard Webhooks
//! headers, logs every attempt, and retries with backoff until delivered or dead.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use doorway_core::webhooks::{
    AttemptOutcome, Delivery, DeliveryAttempt, DeliveryKind, WebhookEndpoint, next_attempt_at,
};
use doorway_core::{Clock, Store};
use tokio::sync::watch;

use crate::settings::DeliverySettings;

const BATCH: u32 = 16;
/// Response bodies are read up to this size, then dropped.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;

pub struct WebhookWorker {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    pub settings: DeliverySettings,
}

impl WebhookWorker {
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_millis(self.settings.timeout_ms))
            .user_agent(concat!("Doorway-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        let mut last_purge = Instant::now();
        let mut endpoints = EndpointCache::default();
        while !*stop.borrow() {
            let now = self.clock.now();
            let lease_until = now.plus_seconds(self.settings.lease_secs as i64);
            let claimed = match self.store.claim_deliveries(DeliveryKind::Webhook, now, lease_until, BATCH).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim webhook deliveries");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                if last_purge.elapsed() > Duration::from_secs(60) {
                    last_purge = Instant::now();
                    let day_ago = now.plus_seconds(-86_400).millis();
                    if let Err(e) = self.store.purge_rate_limits(day_ago).await {
                        tracing::warn!(error = %e, "cannot purge old rate-limit buckets");
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(self.settings.poll_interval_ms)) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            metrics::gauge!("doorway_webhook_batch_size").set(claimed.len() as f64);
            let mut sends = Vec::with_capacity(claimed.len());
            for delivery in claimed {
                let endpoint = endpoints.find(self.store.as_ref(), &delivery).await;
                sends.push(self.attempt(&client, delivery, endpoint));
            }
            futures_util::future::join_all(sends).await;
        }
    }

    async fn attempt(&self, client: &reqwest::Client, d: Delivery, endpoint: Option<WebhookEndpoint>) {
        let started = Instant::now();
        let at = self.clock.now();
        let result = match &endpoint {
            Some(endpoint) => send(client, &d, endpoint).await,
            None => Err((None, "the endpoint is no longer configured for this project".to_owned())),
        };
        let latency_ms = started.elapsed().as_millis() as i64;
        let (status_code, error) = match &result {
            Ok(code) => (Some(i64::from(*code)), None),
            Err((code, e)) => (code.map(i64::from), Some(e.clone())),
        };
        let outcome = match (&result, &endpoint) {
            (Ok(_), _) => AttemptOutcome::Delivered,
            (Err(_), None) => AttemptOutcome::Dead,
            (Err(_), Some(_)) if d.attempts >= self.settings.max_attempts => AttemptOutcome::Dead,
            (Err(_), Some(_)) => {
                AttemptOutcome::RetryAt(next_attempt_at(at, d.attempts, self.settings.retry_base_ms, rand::random()))
            }
        };
        let label = match outcome {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::RetryAt(_) => "retry",
            AttemptOutcome::Dead => "dead",
        };
        metrics::counter!("doorway_webhook_attempts_total", "outcome" => label).increment(1);
        metrics::histogram!("doorway_webhook_lag_seconds")
            .record((at.millis() - d.created_at.millis()) as f64 / 1000.0);
        let attempt =
            DeliveryAttempt { delivery_id: d.id.clone(), attempt: d.attempts, at, status_code, latency_ms, error };
        if let Err(e) = self.store.finish_attempt(&attempt, outcome, attempt.error.as_deref()).await {
            tracing::warn!(error = %e, delivery = %d.id, "cannot record a webhook attempt; the lease will expire and it is retried");
        }
    }
}

/// One signed POST; the status code on a 2xx, else the code (if any) and a short reason.
async fn send(
    client: &reqwest::Client,
    d: &Delivery,
    endpoint: &WebhookEndpoint,
) -> Result<u16, (Option<u16>, String)> {
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = standardwebhooks::Webhook::new(&endpoint.secret)
        .and_then(|w| w.sign(&d.id, timestamp, d.body.as_bytes()))
        .map_err(|e| (None, format!("cannot sign: {e}")))?;
    let response = client
        .post(&d.target)
        .header("content-type", "application/json")
        .header("webhook-id", &d.id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.body.clone())
        .send()
        .await
        .map_err(|e| (None, e.without_url().to_string()))?;
    let status = response.status().as_u16();
    // Read (and drop) a bounded amount so the connection can be reused.
    let mut response = response;
    let mut read = 0;
    while let Ok(Some(chunk)) = response.chunk().await {
        read += chunk.len();
        if read > MAX_RESPONSE_BYTES {
            break;
        }
    }
    if (200..300).contains(&status) { Ok(status) } else { Err((Some(status), format!("HTTP {status}"))) }
}

/// Project webhook settings, re-read every few seconds so secrets and URLs can change.
#[derive(Default)]
struct EndpointCache {
    projects: HashMap<String, (Instant, Vec<WebhookEndpoint>)>,
}

impl EndpointCache {
    async fn find(&mut self, store: &dyn Store, d: &Delivery) -> Option<WebhookEndpoint> {
        let fresh = self.projects.get(&d.project_id).is_some_and(|(at, _)| at.elapsed() < Duration::from_secs(5));
        if !fresh {
            let endpoints = match store.project_by_id(&d.project_id).await {
                Ok(Some(p)) => p.settings.webhooks,
                Ok(None) => Vec::new(),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read webhook endpoints");
                    return None;
                }
            };
            self.projects.insert(d.project_id.clone(), (Instant::now(), endpoints));
        }
        self.projects.get(&d.project_id)?.1.iter().find(|e| e.url == d.target).cloned()
    }
}
