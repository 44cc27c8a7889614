//! GCRA rate-limit state, shared by every instance.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Timestamp;
use crate::rate_limit::Gcra;

#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// One GCRA hit against `key` at `now`, atomic across instances: moves the key's TAT on
    /// when the hit is allowed. Returns whether it was, and the TAT (new if allowed, else
    /// unchanged).
    async fn rate_limit_hit(&self, key: &str, now: Timestamp, gcra: Gcra) -> StoreResult<(bool, i64)>;
    /// Drops keys whose TAT is before `before` (their budget is full: as good as absent).
    async fn purge_rate_limits(&self, before: i64) -> StoreResult<u64>;
}
