//! Signed JSON calls to project hooks (Standard Webhooks headers), over reqwest.

use std::time::Duration;

use async_trait::async_trait;
use doorway_core::hooks::{HookCaller, HookFailure, PreSignupHook};
use serde_json::Value;

/// Answers larger than this are not read.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

pub struct HttpHookCaller {
    client: reqwest::Client,
}

impl HttpHookCaller {
    #[allow(
        clippy::expect_used,
        reason = "start-up: a client built from static settings only fails if TLS cannot initialise"
    )]
    pub fn new() -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("Doorway/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings");
        Self { client }
    }
}

#[async_trait]
impl HookCaller for HttpHookCaller {
    async fn call(&self, hook: &PreSignupHook, payload: &Value) -> Result<Value, HookFailure> {
        #[allow(clippy::expect_used, reason = "a serde_json::Value always serialises")]
        let body = serde_json::to_vec(payload).expect("JSON values serialise");
        let id = doorway_core::ids::new_id("msg");
        let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
        let signature = standardwebhooks::Webhook::new(&hook.secret)
            .and_then(|w| w.sign(&id, timestamp, &body))
            .map_err(|e| HookFailure::Unreachable(format!("cannot sign: {e}")))?;
        let send = async {
            let response = self
                .client
                .post(&hook.url)
                .header("content-type", "application/json")
                .header("webhook-id", &id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await
                .map_err(|e| HookFailure::Unreachable(e.without_url().to_string()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(HookFailure::Status(status.as_u16()));
            }
            let mut answer = Vec::new();
            let mut response = response;
            while let Some(chunk) = response.chunk().await.map_err(|_| HookFailure::InvalidResponse)? {
                answer.extend_from_slice(&chunk);
                if answer.len() > MAX_ANSWER_BYTES {
                    return Err(HookFailure::InvalidResponse);
                }
            }
            serde_json::from_slice(&answer).map_err(|_| HookFailure::InvalidResponse)
        };
        // The timeout covers the whole exchange, body included.
        tokio::time::timeout(Duration::from_millis(hook.timeout_ms), send).await.map_err(|_| HookFailure::Timeout)?
    }
}
