//! Event webhooks: endpoints per project, and the delivery rows the outbox fans out to.
//!
//! Each event is written with one delivery per subscribed endpoint, in the transaction of the
//! change; workers send them later (retries with backoff), so nothing is lost to a crash.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    pub url: String,
    /// Standard Webhooks secret, `whsec_<base64>`.
    pub secret: String,
    /// Event types to send (`user.created`, …); empty or `*` means all.
    #[serde(default)]
    pub events: Vec<String>,
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint").field("url", &self.url).field("events", &self.events).finish_non_exhaustive()
    }
}

impl WebhookEndpoint {
    pub fn wants(&self, topic: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == "*" || e == topic)
    }

    pub fn problems(&self, index: usize) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let lower = self.url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            out.push(("webhooks", format!("[{index}].url must be an absolute http(s) URL")));
        }
        let key = self.secret.strip_prefix("whsec_").map(|b| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(b)
        });
        if !matches!(key, Some(Ok(ref k)) if !k.is_empty()) {
            out.push(("webhooks", format!("[{index}].secret must be whsec_ followed by base64")));
        }
        out
    }

    pub fn redacted(&self) -> Self {
        Self { secret: "whsec_***".to_owned(), ..self.clone() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    Webhook,
    Mail,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Mail => "mail",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
    /// Never sent: a code mail for an address without an account (or with nothing to
    /// verify). Written anyway so that answering takes the same work either way.
    Suppressed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Suppressed => "suppressed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(Self::Pending),
            "delivered" => Some(Self::Delivered),
            "dead" => Some(Self::Dead),
            "suppressed" => Some(Self::Suppressed),
            _ => None,
        }
    }
}

/// One message to one target. Its id is the `webhook-id`, the same on every retry.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub project_id: String,
    pub event_id: String,
    pub kind: DeliveryKind,
    /// URL (webhook) or address (mail).
    pub target: String,
    /// Exactly what is sent, so every retry carries the same bytes.
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    /// When it is next due: while claimed, the end of the lease (an attempt whose outcome was
    /// never recorded is retried then); once delivered or dead, the last attempt's time.
    pub next_attempt_at: Timestamp,
    pub claimed_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    pub delivery_id: String,
    pub attempt: i64,
    pub at: Timestamp,
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
}

/// What a finished attempt means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    RetryAt(Timestamp),
    Dead,
}

/// Exponential backoff with ±20 % jitter: base, 6×base, 36×base …, capped at six hours.
pub fn next_attempt_at(now: Timestamp, attempts_so_far: i64, base_ms: u64, jitter: f64) -> Timestamp {
    let exponent = u32::try_from(attempts_so_far.saturating_sub(1).clamp(0, 10)).unwrap_or(10);
    let delay = (base_ms as f64) * 6f64.powi(exponent as i32);
    let capped = delay.min(6.0 * 3600.0 * 1000.0);
    let jittered = capped * (0.8 + 0.4 * jitter.clamp(0.0, 1.0));
    Timestamp::from_millis(now.millis() + jittered as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let now = Timestamp::from_millis(0);
        assert_eq!(next_attempt_at(now, 1, 5000, 0.5).millis(), 5000);
        assert_eq!(next_attempt_at(now, 2, 5000, 0.5).millis(), 30_000);
        assert_eq!(next_attempt_at(now, 3, 5000, 0.5).millis(), 180_000);
        assert_eq!(next_attempt_at(now, 30, 5000, 0.5).millis(), 6 * 3600 * 1000);
        assert_eq!(next_attempt_at(now, 1, 5000, 0.0).millis(), 4000);
        assert_eq!(next_attempt_at(now, 1, 5000, 1.0).millis(), 6000);
    }

    #[test]
    fn endpoints_filter_events() {
        let all = WebhookEndpoint { url: "http://x".into(), secret: "whsec_eA==".into(), events: vec![] };
        assert!(all.wants("user.created"));
        let some = WebhookEndpoint { events: vec!["session.created".into()], ..all.clone() };
        assert!(!some.wants("user.created") && some.wants("session.created"));
        assert!(!format!("{all:?}").contains("whsec"));
    }
}
