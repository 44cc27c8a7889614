//! Spent bot-check solutions: one insert that refuses a second copy.

use async_trait::async_trait;
use doorway_core::Timestamp;
use doorway_core::store::{BotCheckStore, StoreResult};

use super::{PgStore, SqliteStore};

macro_rules! bot_checks {
    ($store:ident, $tx:ident, $backend:literal, $claim:expr, $row_lock:literal) => {
        #[async_trait]
        impl BotCheckStore for $store {
            async fn spend_bot_challenge(
                &self,
                project_id: &str,
                challenge: &str,
                expires_at: Timestamp,
            ) -> StoreResult<bool> {
                let done = exec!(
                    self,
                    "INSERT INTO spent_bot_challenges (challenge, project_id, expires_at) VALUES ($1, $2, $3)
                     ON CONFLICT (challenge) DO NOTHING",
                    challenge,
                    project_id,
                    expires_at.millis(),
                )?;
                Ok(done == 1)
            }

            async fn purge_spent_bot_challenges(&self, before: Timestamp) -> StoreResult<u64> {
                exec!(self, "DELETE FROM spent_bot_challenges WHERE expires_at < $1", before.millis())
            }
        }
    };
}

for_both_engines!(bot_checks);
