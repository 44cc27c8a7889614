//! Fixed-window rate limits. One implementation keeps buckets in memory (one process, SQLite);
//! the other in the database (many instances on PostgreSQL share one count).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::store::{Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub limit: u32,
    pub window_secs: u32,
}

impl Rule {
    pub const fn per_hour(limit: u32) -> Self {
        Self { limit, window_secs: 3600 }
    }
}

/// Per-project limits; the defaults are seed 002's ("5 attempts per IP per hour" …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub enabled: bool,
    /// Email + password sign-ups, per client IP.
    pub password_signup: Rule,
    /// OAuth sign-up starts, per client IP.
    pub oauth_signup: Rule,
    /// Email-only sign-ups (Storyden), per client IP.
    pub email_signup: Rule,
    /// Verification and one-time-code mails, per address.
    pub verification_email: Rule,
    /// Password sign-in attempts, per client IP.
    pub sign_in: Rule,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            password_signup: Rule::per_hour(5),
            oauth_signup: Rule::per_hour(20),
            email_signup: Rule::per_hour(10),
            verification_email: Rule::per_hour(3),
            sign_in: Rule { limit: 30, window_secs: 900 },
        }
    }
}

impl RateLimits {
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let rules = [
            ("rate_limits.password_signup", self.password_signup),
            ("rate_limits.oauth_signup", self.oauth_signup),
            ("rate_limits.email_signup", self.email_signup),
            ("rate_limits.verification_email", self.verification_email),
            ("rate_limits.sign_in", self.sign_in),
        ];
        rules
            .into_iter()
            .filter(|(_, r)| r.limit == 0 || r.window_secs == 0)
            .map(|(k, _)| (k, "limit and window_secs must both be at least 1".to_owned()))
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_secs: u64,
}

fn decide(rule: Rule, hits: i64, window_start: i64, now: Timestamp) -> Decision {
    let window_end = window_start + i64::from(rule.window_secs) * 1000;
    let reset_ms = (window_end - now.millis()).max(0);
    Decision {
        allowed: hits <= i64::from(rule.limit),
        limit: rule.limit,
        remaining: u32::try_from(i64::from(rule.limit) - hits).unwrap_or(0),
        reset_secs: (reset_ms as u64).div_ceil(1000).max(1),
    }
}

pub fn window_start(rule: Rule, now: Timestamp) -> i64 {
    let window = i64::from(rule.window_secs) * 1000;
    now.millis() - now.millis().rem_euclid(window)
}

#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one hit against `key` and says whether it is within the rule.
    async fn hit(&self, key: &str, rule: Rule, now: Timestamp) -> Result<Decision, StoreError>;
}

#[derive(Default)]
pub struct MemoryRateLimiter {
    buckets: Mutex<HashMap<String, (i64, i64)>>,
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, rule: Rule, now: Timestamp) -> Result<Decision, StoreError> {
        let start = window_start(rule, now);
        let mut buckets = self.buckets.lock().expect("rate-limit lock");
        if buckets.len() > 100_000 {
            // Bound memory: forget buckets whose window has passed.
            buckets.retain(|_, (s, _)| *s >= start);
        }
        let bucket = buckets.entry(key.to_owned()).or_insert((start, 0));
        if bucket.0 != start {
            *bucket = (start, 0);
        }
        bucket.1 += 1;
        Ok(decide(rule, bucket.1, start, now))
    }
}

/// Buckets in the database: one atomic upsert per hit, shared by every instance.
pub struct StoreRateLimiter {
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl RateLimiter for StoreRateLimiter {
    async fn hit(&self, key: &str, rule: Rule, now: Timestamp) -> Result<Decision, StoreError> {
        let start = window_start(rule, now);
        let hits = self.store.rate_limit_hit(key, start).await?;
        Ok(decide(rule, hits, start, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn allows_the_limit_then_refuses_until_the_window_turns() {
        let limiter = MemoryRateLimiter::default();
        let rule = Rule { limit: 2, window_secs: 60 };
        let t = Timestamp::from_millis(120_000);
        assert!(limiter.hit("k", rule, t).await.unwrap().allowed);
        let second = limiter.hit("k", rule, t).await.unwrap();
        assert!(second.allowed && second.remaining == 0);
        let third = limiter.hit("k", rule, t.plus_seconds(10)).await.unwrap();
        assert!(!third.allowed);
        assert_eq!(third.reset_secs, 50);
        assert!(limiter.hit("other", rule, t).await.unwrap().allowed, "keys are separate");
        assert!(limiter.hit("k", rule, t.plus_seconds(60)).await.unwrap().allowed, "new window");
    }
}

/// A refusal: retry after `retry_after_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub limit: u32,
    pub retry_after_secs: u64,
}
