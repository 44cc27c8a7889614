//! Webhook sender: signed POSTs (Standard Webhooks headers, `webhook-id` = delivery id).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use doorway_core::Store;
use doorway_core::webhooks::{Delivery, DeliveryKind, WebhookEndpoint};

use crate::workers::delivery::{SendFailure, Sender};

/// Response bodies are read up to this size, then dropped.
const MAX_RESPONSE_BYTES: usize = 16 * 1024;

pub struct WebhookSender {
    client: reqwest::Client,
    store: Arc<dyn Store>,
    /// Project endpoints, re-read every few seconds so secrets and URLs can change.
    endpoints: Mutex<HashMap<String, (Instant, Vec<WebhookEndpoint>)>>,
}

impl WebhookSender {
    #[allow(
        clippy::expect_used,
        reason = "start-up: a client built from static settings only fails if TLS cannot initialise"
    )]
    pub fn new(store: Arc<dyn Store>, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .user_agent(concat!("Doorway-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Self { client, store, endpoints: Mutex::default() }
    }

    async fn endpoint(&self, d: &Delivery) -> Result<Option<WebhookEndpoint>, String> {
        let cached = {
            let cache = self.endpoints.lock().unwrap_or_else(PoisonError::into_inner);
            cache.get(&d.project_id).filter(|(at, _)| at.elapsed() < Duration::from_secs(5)).map(|(_, e)| e.clone())
        };
        let endpoints = match cached {
            Some(e) => e,
            None => {
                let endpoints = match self.store.project_by_id(&d.project_id).await.map_err(|e| e.to_string())? {
                    Some(p) => p.settings.webhooks,
                    None => Vec::new(),
                };
                let mut cache = self.endpoints.lock().unwrap_or_else(PoisonError::into_inner);
                cache.insert(d.project_id.clone(), (Instant::now(), endpoints.clone()));
                endpoints
            }
        };
        Ok(endpoints.into_iter().find(|e| e.url == d.target))
    }
}

#[async_trait]
impl Sender for WebhookSender {
    fn kind(&self) -> DeliveryKind {
        DeliveryKind::Webhook
    }

    async fn send(&self, d: &Delivery) -> Result<Option<u16>, SendFailure> {
        let failure = |status_code, error: String, permanent| SendFailure { status_code, error, permanent };
        let endpoint = match self.endpoint(d).await {
            Ok(Some(e)) => e,
            Ok(None) => {
                return Err(failure(None, "the endpoint is no longer configured for this project".into(), true));
            }
            Err(e) => return Err(failure(None, format!("cannot read the endpoint: {e}"), false)),
        };
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = standardwebhooks::Webhook::new(&endpoint.secret)
            .and_then(|w| w.sign(&d.id, timestamp, d.body.as_bytes()))
            .map_err(|e| failure(None, format!("cannot sign: {e}"), true))?;
        let mut response = self
            .client
            .post(&d.target)
            .header("content-type", "application/json")
            .header("webhook-id", &d.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(d.body.clone())
            .send()
            .await
            .map_err(|e| failure(None, e.without_url().to_string(), false))?;
        let status = response.status().as_u16();
        // Read (and drop) a bounded amount so the connection can be reused.
        let mut read = 0;
        while let Ok(Some(chunk)) = response.chunk().await {
            read += chunk.len();
            if read > MAX_RESPONSE_BYTES {
                break;
            }
        }
        if (200..300).contains(&status) {
            Ok(Some(status))
        } else {
            Err(failure(Some(status), format!("HTTP {status}"), false))
        }
    }
}
