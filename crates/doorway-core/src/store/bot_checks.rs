//! Spent bot-check solutions, shared by every instance.

use async_trait::async_trait;

use super::StoreResult;
use crate::clock::Timestamp;

#[async_trait]
pub trait BotCheckStore: Send + Sync {
    /// Records a solution's challenge as spent, atomically across instances: true the first
    /// time, false when it was already spent (a replay).
    async fn spend_bot_challenge(&self, project_id: &str, challenge: &str, expires_at: Timestamp) -> StoreResult<bool>;
    /// Forgets challenges that expired before `before`: they are refused by their expiry.
    async fn purge_spent_bot_challenges(&self, before: Timestamp) -> StoreResult<u64>;
}
